//! The command line: `serve` (the default) and the administration
//! subcommands, which read the same settings as the server and work while
//! it runs. Each exits 0 on success, else prints one line and exits
//! non-zero ([`CliError`]); [`command`] is how clap reads them.

pub mod clients_command;
pub mod command;
pub mod events_command;
pub mod keys_command;
pub mod registration_tokens_command;
pub mod users_command;

/// A failed command: one line for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

impl From<platform::boot::StartupError> for CliError {
    fn from(error: platform::boot::StartupError) -> Self {
        CliError(error.to_string())
    }
}

impl From<sqlx::Error> for CliError {
    fn from(error: sqlx::Error) -> Self {
        CliError(format!("database error: {error}"))
    }
}
