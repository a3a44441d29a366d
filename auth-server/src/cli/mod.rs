//! The command line: `serve` (the default) and the administration
//! subcommands, which read the same settings as the server and work while
//! it runs. Each exits 0 on success, else prints one line and exits non-zero.

pub mod clients;
pub mod keys;
pub mod users;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "auth-server", version, about = "OAuth 2.0 token issuer")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage OAuth clients.
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Inspect signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

/// A failed command: one line for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

impl From<crate::StartupError> for CliError {
    fn from(error: crate::StartupError) -> Self {
        CliError(error.to_string())
    }
}

impl From<sqlx::Error> for CliError {
    fn from(error: sqlx::Error) -> Self {
        CliError(format!("database error: {error}"))
    }
}
