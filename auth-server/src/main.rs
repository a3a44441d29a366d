//! The `auth-server` binary: parse the command line, set up logging, run.

use std::process::ExitCode;

use auth_server::cli::CliError;
use auth_server::cli::command::{Cli, Command};
use clap::Parser;

#[rocket::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    auth_server::telemetry::init();
    let figment = auth_server::config::figment();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(figment).await,
        Command::Clients(command) => {
            auth_server::cli::clients_command::run(command, &figment).await
        }
        Command::Users(command) => auth_server::cli::users_command::run(command, &figment).await,
        Command::Keys(command) => auth_server::cli::keys_command::run(command, &figment).await,
        Command::Events(command) => auth_server::cli::events_command::run(command, &figment).await,
        Command::RegistrationTokens(command) => {
            auth_server::cli::registration_tokens_command::run(command, &figment).await
        }
    };
    platform::boot::exit("auth-server", result)
}

async fn serve(figment: rocket::figment::Figment) -> Result<(), CliError> {
    let rocket = auth_server::build(figment).await?;
    platform::boot::launch(rocket).await.map_err(CliError)
}
