//! The resource-server binary: parses the command line, installs logging,
//! checks the settings and launches the service built by the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rocket::error::ErrorKind;
use rocket::fairing::AdHoc;

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    resource_server::telemetry::init();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
    }
}

fn serve() -> ExitCode {
    let figment = resource_server::figment();
    // Checked here because Rocket panics on a configuration it cannot read.
    if let Err(error) = rocket::Config::try_from(&figment) {
        let name = error
            .path
            .first()
            .map(|key| format!("ROCKET_{}", key.to_ascii_uppercase()))
            .unwrap_or_else(|| "ROCKET_CONFIG".into());
        return fail(&format!("{name}: {}", error.kind));
    }
    if let Err(message) = resource_server::AppConfig::from_figment(&figment) {
        return fail(&message);
    }
    rocket::execute(async move {
        let rocket =
            resource_server::rocket(figment).attach(AdHoc::on_liftoff("announce", |rocket| {
                Box::pin(async move {
                    let config = rocket.config();
                    println!(
                        "resource-server listening on http://{}:{}",
                        config.address, config.port
                    );
                })
            }));
        match rocket.launch().await {
            Ok(_) => ExitCode::SUCCESS,
            Err(error) => match error.kind() {
                ErrorKind::FailedFairings(_) => {
                    let failures = resource_server::startup::take_failures();
                    match failures.first() {
                        Some(first) => fail(first),
                        None => fail("start-up failed"),
                    }
                }
                ErrorKind::Bind(e) => {
                    fail(&format!("ROCKET_ADDRESS/ROCKET_PORT: cannot listen: {e}"))
                }
                other => fail(&format!("cannot start: {other}")),
            },
        }
    })
}

fn fail(message: &str) -> ExitCode {
    eprintln!("resource-server: {message}");
    ExitCode::FAILURE
}
