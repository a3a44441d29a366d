//! `auth-server registration-tokens create`: an initial access token for
//! dynamic client registration (RFC 7591 §3), printed once (only its digest
//! is stored). The admin API's `POST /admin/v1/registration-tokens` makes
//! them by the same function ([`crate::admin::create_registration_token`]).

use clap::Subcommand;
use rocket::figment::Figment;
use shared::clock::{Clock, SystemClock};

use super::CliError;
use crate::admin::{self, Actor};
use crate::config::AppConfig;
use crate::errors::ApiError;
use crate::store::db::Db;

#[derive(Debug, Subcommand)]
pub enum RegistrationTokensCommand {
    /// Make an initial access token for `POST /oauth/register`.
    Create {
        /// Seconds it lives (60 to 31536000; default 86400).
        #[arg(long, value_name = "S")]
        expires_in: Option<i64>,
        /// Registrations it allows (1 to 1000000; default 1).
        #[arg(long, value_name = "N")]
        max_uses: Option<i64>,
        /// Print one JSON object: `initial_access_token`, `expires_at`, `max_uses`.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: RegistrationTokensCommand, figment: &Figment) -> Result<(), CliError> {
    let RegistrationTokensCommand::Create {
        expires_in,
        max_uses,
        json,
    } = command;
    let config = AppConfig::from_figment(figment).map_err(|e| CliError(e.to_string()))?;
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| CliError(format!("DATABASE_URL: {e}")))?;
    let token = admin::create_registration_token(
        &db,
        expires_in,
        max_uses,
        &Actor::CommandLine,
        SystemClock.now(),
    )
    .await
    .map_err(|e| match e {
        ApiError::Validation(errors) => CliError(
            errors
                .iter()
                .map(|e| format!("--{} {}", e.field.replace('_', "-"), e.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => CliError(format!("cannot make the token: {other}")),
    })?;
    if json {
        println!("{}", token.describe());
    } else {
        println!("initial_access_token: {}", token.token);
        println!("expires_at: {}", shared::clock::rfc3339(token.expires_at));
        println!("max_uses: {}", token.max_uses);
    }
    Ok(())
}
