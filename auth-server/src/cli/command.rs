//! The command line as clap parses it: `serve` (the default) and the
//! administration subcommands, each defined by its own module.

use clap::{Parser, Subcommand};

use super::{
    clients_command, events_command, keys_command, registration_tokens_command, users_command,
};

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
    Clients(clients_command::ClientsCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(users_command::UsersCommand),
    /// Inspect signing keys.
    #[command(subcommand)]
    Keys(keys_command::KeysCommand),
    /// Read the audit trail.
    #[command(subcommand)]
    Events(events_command::EventsCommand),
    /// Initial access tokens for dynamic client registration (RFC 7591).
    #[command(subcommand)]
    RegistrationTokens(registration_tokens_command::RegistrationTokensCommand),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_grant_is_refused_by_the_command_line() {
        let parse = |grant: &str| {
            Cli::try_parse_from([
                "auth-server",
                "clients",
                "create",
                "--name",
                "app",
                "--grant",
                grant,
            ])
        };
        assert!(parse("client_credentials").is_ok());
        let error = parse("implicit")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("invalid value 'implicit'"), "{error}");
        assert!(error.contains("authorization_code"), "{error}");
    }
}
