//! The one mapping of a refused request onto its HTTP answer, whatever the
//! web framework: each [`AccessError`] has its status, its RFC 6750 §3.1
//! error code and its fixed description here, and [`Challenge::refusal`]
//! writes the whole answer (status, `WWW-Authenticate`, problem+json body)
//! that the Rocket guard and the tower layer both send as it is. A service
//! therefore cannot send a status without its challenge, nor two adapters
//! disagree on one.
//!
//! `error_description` is fixed text chosen here; nothing a client sent is
//! ever echoed back. The challenge is built per scheme the server reads
//! ([`Scheme`]), so a second scheme adds its own challenge beside the
//! `Bearer` one (RFC 9449 §7.1) rather than a second mapping.

use super::credentials::{Malformed, Scheme};
use super::dpop::{DPOP_ALGS, ProofRefusal};
use crate::problem::{self, Problem};
use crate::scope::Scope;
use crate::verifier::TokenRejection;

/// A request that does not get through, in RFC 6750 §3 terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessError {
    /// No credentials, or another scheme: `401` with a bare challenge
    /// (RFC 6750 §3.1: no error code when no token was sent).
    Missing,
    /// `400 invalid_request`: a malformed `Authorization`.
    InvalidRequest(Malformed),
    /// `401 invalid_token`: the token was refused; the reason is for logs.
    InvalidToken(TokenRejection),
    /// `403 insufficient_scope`, naming the scope the request needs.
    InsufficientScope(Scope),
    /// `401 invalid_dpop_proof` (RFC 9449 §7.1): a good token under the
    /// DPoP scheme whose proof was refused; the reason is for logs.
    InvalidProof(ProofRefusal),
}

impl AccessError {
    pub fn status(&self) -> u16 {
        match self {
            AccessError::Missing | AccessError::InvalidToken(_) | AccessError::InvalidProof(_) => {
                401
            }
            AccessError::InvalidRequest(_) => 400,
            AccessError::InsufficientScope(_) => 403,
        }
    }

    /// The RFC 6750 §3.1 error code, absent for [`AccessError::Missing`].
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            AccessError::Missing => None,
            AccessError::InvalidRequest(_) => Some("invalid_request"),
            AccessError::InvalidToken(_) => Some("invalid_token"),
            AccessError::InsufficientScope(_) => Some("insufficient_scope"),
            AccessError::InvalidProof(_) => Some("invalid_dpop_proof"),
        }
    }

    /// Fixed human-readable text; never derived from the request.
    pub fn description(&self) -> &'static str {
        match self {
            AccessError::Missing => "This resource needs a bearer access token.",
            AccessError::InvalidRequest(Malformed::EmptyToken) => {
                "The Authorization header names the Bearer scheme but carries no token."
            }
            AccessError::InvalidRequest(Malformed::RepeatedHeader) => {
                "The request carries more than one Authorization header."
            }
            AccessError::InvalidToken(TokenRejection::Expired) => "The access token expired.",
            AccessError::InvalidToken(_) => "The access token is invalid.",
            AccessError::InsufficientScope(_) => {
                "The access token does not grant the scope this request needs."
            }
            AccessError::InvalidProof(_) => "The DPoP proof is invalid.",
        }
    }

    /// A stable label for metrics.
    pub fn label(&self) -> &'static str {
        self.error_code().unwrap_or("missing")
    }
}

/// How a resource server asks a refused client to authenticate: its realm,
/// and the schemes it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    realm: String,
    dpop: bool,
}

impl Challenge {
    /// A challenge in `realm`, with the characters that could break out of
    /// its quoted string dropped.
    pub fn new(realm: &str) -> Challenge {
        Challenge {
            realm: realm
                .chars()
                .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
                .collect(),
            dpop: false,
        }
    }

    /// Also names the DPoP scheme (RFC 9449 §7.1).
    pub fn with_dpop(mut self) -> Challenge {
        self.dpop = true;
        self
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The `WWW-Authenticate` value for `error`: the `Bearer` challenge
    /// with the error's parameters, and on a 401 when DPoP is read a
    /// `DPoP` one naming its algorithms, the other way to authenticate (a
    /// 400 or a 403 is not mended by another scheme). A refused proof is
    /// the DPoP scheme's own error, so it is answered by the `DPoP`
    /// challenge alone.
    pub fn www_authenticate(&self, error: &AccessError) -> String {
        if let AccessError::InvalidProof(_) = error {
            return format!(
                "{} error=\"invalid_dpop_proof\", algs=\"{DPOP_ALGS}\"",
                Scheme::DPoP.as_str()
            );
        }
        let mut value = self.challenge(Scheme::Bearer, error);
        if self.dpop && error.status() == 401 {
            value.push_str(&format!(", {} algs=\"{DPOP_ALGS}\"", Scheme::DPoP.as_str()));
        }
        value
    }

    fn challenge(&self, scheme: Scheme, error: &AccessError) -> String {
        let mut value = format!("{} realm=\"{}\"", scheme.as_str(), self.realm);
        if let Some(code) = error.error_code() {
            value.push_str(&format!(
                ", error=\"{code}\", error_description=\"{}\"",
                error.description()
            ));
        }
        if let AccessError::InsufficientScope(scope) = error {
            value.push_str(&format!(", scope=\"{scope}\""));
        }
        value
    }

    /// The whole answer to a request refused with `error`.
    pub fn refusal(&self, error: &AccessError) -> Refusal {
        let status = error.status();
        let body =
            serde_json::to_string(&Problem::new(status, error.description())).unwrap_or_default();
        Refusal {
            status,
            headers: vec![
                ("content-type", problem::CONTENT_TYPE.to_owned()),
                ("www-authenticate", self.www_authenticate(error)),
                ("cache-control", "no-store".to_owned()),
            ],
            body,
        }
    }
}

/// A refused request's answer, for a framework adapter to send as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// Header names in lower case, as HTTP/2 writes them.
    pub headers: Vec<(&'static str, String)>,
    /// A problem+json document (RFC 9457).
    pub body: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc_6750() {
        let challenge = Challenge::new("profile-api");
        assert_eq!(
            challenge.www_authenticate(&AccessError::Missing),
            r#"Bearer realm="profile-api""#
        );
        assert_eq!(
            Challenge::new("r")
                .www_authenticate(&AccessError::InvalidToken(TokenRejection::BadSignature)),
            r#"Bearer realm="r", error="invalid_token", error_description="The access token is invalid.""#
        );
        let scope = AccessError::InsufficientScope(Scope::ProfilesRead);
        assert_eq!(scope.status(), 403);
        assert!(
            Challenge::new("r")
                .www_authenticate(&scope)
                .ends_with(r#"error="insufficient_scope", error_description="The access token does not grant the scope this request needs.", scope="profiles:read""#)
        );
        assert_eq!(
            Challenge::new("a\"b\\c").www_authenticate(&AccessError::Missing),
            r#"Bearer realm="abc""#
        );
    }

    #[test]
    fn with_dpop_challenges_name_both_schemes() {
        let challenge = Challenge::new("profile-api").with_dpop();
        assert_eq!(
            challenge.www_authenticate(&AccessError::Missing),
            r#"Bearer realm="profile-api", DPoP algs="ES256 PS256 RS256 EdDSA""#
        );
        assert_eq!(
            challenge.www_authenticate(&AccessError::InvalidToken(TokenRejection::BoundAsBearer)),
            r#"Bearer realm="profile-api", error="invalid_token", error_description="The access token is invalid.", DPoP algs="ES256 PS256 RS256 EdDSA""#
        );
        assert!(
            !challenge
                .www_authenticate(&AccessError::InsufficientScope(Scope::ProfileRead))
                .contains("DPoP"),
            "a 403 is not mended by another scheme"
        );
        let proof = AccessError::InvalidProof(ProofRefusal::Replayed);
        assert_eq!(proof.status(), 401);
        assert_eq!(
            challenge.www_authenticate(&proof),
            r#"DPoP error="invalid_dpop_proof", algs="ES256 PS256 RS256 EdDSA""#
        );
    }

    #[test]
    fn a_refusal_carries_status_challenge_and_problem_together() {
        let error = AccessError::InvalidRequest(Malformed::RepeatedHeader);
        let refusal = Challenge::new("api").refusal(&error);
        assert_eq!(refusal.status, 400);
        let header = |name: &str| {
            refusal
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("content-type"), Some("application/problem+json"));
        assert_eq!(header("cache-control"), Some("no-store"));
        assert_eq!(
            header("www-authenticate"),
            Some(
                r#"Bearer realm="api", error="invalid_request", error_description="The request carries more than one Authorization header.""#
            )
        );
        let problem: Problem =
            serde_json::from_str(&refusal.body).unwrap_or_else(|_| Problem::new(0, ""));
        assert_eq!(problem, Problem::new(400, error.description()));
    }
}
