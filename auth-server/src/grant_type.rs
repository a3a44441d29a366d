//! The grant types of the token endpoint (RFC 6749 §4 and §6): the one list
//! that the endpoint dispatches on, clients are registered with, discovery
//! publishes and the metrics label.

use std::fmt;

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum GrantType {
    Password,
    ClientCredentials,
    AuthorizationCode,
    RefreshToken,
    /// RFC 8693; `--grant token-exchange` on the command line.
    #[value(name = "token-exchange")]
    TokenExchange,
    /// RFC 8628; `--grant device_code` on the command line.
    DeviceCode,
}

impl GrantType {
    /// Every grant the token endpoint supports, in discovery's order.
    pub const ALL: [GrantType; 6] = [
        GrantType::Password,
        GrantType::ClientCredentials,
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::TokenExchange,
        GrantType::DeviceCode,
    ];

    /// The `grant_type` value on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            GrantType::Password => "password",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    /// The grant a `grant_type` value names; `None` for any other string,
    /// compared exactly (RFC 6749 values are case-sensitive).
    pub fn parse(value: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == value)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for GrantType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn wire_names_round_trip_and_match_the_command_line() {
        for grant in GrantType::ALL {
            assert_eq!(GrantType::parse(grant.as_str()), Some(grant));
            let cli = grant.to_possible_value().map(|v| v.get_name().to_owned());
            // A URN is no name to type: those grants have a short one.
            let expected = match grant {
                GrantType::TokenExchange => "token-exchange",
                GrantType::DeviceCode => "device_code",
                _ => grant.as_str(),
            };
            assert_eq!(cli.as_deref(), Some(expected));
        }
        assert_eq!(GrantType::parse("Password"), None);
        assert_eq!(GrantType::parse("implicit"), None);
        assert_eq!(GrantType::value_variants().len(), GrantType::ALL.len());
    }
}
