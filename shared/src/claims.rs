//! Claims of an RS256 JWT access token, as RFC 9068 §2.2 lays them out.

use serde::{Deserialize, Serialize};

/// The `typ` header value of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// `aud` may be one string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(a) => a == wanted,
            Audience::Many(all) => all.iter().any(|a| a == wanted),
        }
    }
}

/// Every claim our issuer puts in an access token. The verifier requires the
/// RFC 9068 ones to be present with the right JSON type; `email` and `name`
/// are only in tokens issued to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The user's id for user tokens, the client id for client-credentials tokens.
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    /// Space-separated scope tokens (RFC 6749 §3.3); may be empty.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The key a sender-constrained token is bound to (RFC 7800, RFC 9449
    /// §6): such a token is accepted only with a proof of that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// RFC 7800 §3.1 confirmation, as RFC 9449 §6.1 fills it for DPoP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The base64url RFC 7638 SHA-256 thumbprint of the DPoP key.
    pub jkt: String,
}
