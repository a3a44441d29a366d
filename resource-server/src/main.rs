//! The resource-server binary: parses the command line, installs logging,
//! and boots the service as the library builds it (`platform::boot`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Profile API that trusts only the issuer's published keys"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
}

#[rocket::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    resource_server::telemetry::init();
    let figment = resource_server::figment();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(figment).await,
    };
    platform::boot::exit("resource-server", result)
}

async fn serve(figment: rocket::figment::Figment) -> Result<(), String> {
    let rocket = resource_server::build(figment)
        .await
        .map_err(|e| e.to_string())?;
    platform::boot::launch(rocket).await
}
