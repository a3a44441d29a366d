//! RFC 6750 outcomes of a bearer-protected request, independent of any web
//! framework: reading the `Authorization` header, and the one-to-one
//! mapping of each failure onto a status code and a `WWW-Authenticate`
//! challenge, so that a service cannot send one without the other.
//!
//! `error_description` is fixed text chosen here; nothing a client sent is
//! ever echoed back.

use crate::scope::Scope;
use crate::verifier::TokenRejection;

/// A request that does not get through, in RFC 6750 §3 terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    /// No credentials, or another scheme: `401` with a bare challenge
    /// (RFC 6750 §3.1: no error code when no token was sent).
    Missing,
    /// `400 invalid_request`: a malformed `Authorization`.
    InvalidRequest(Malformed),
    /// `401 invalid_token`: the token was refused; the reason is for logs.
    InvalidToken(TokenRejection),
    /// `403 insufficient_scope`, naming the scope the request needs.
    InsufficientScope(Scope),
}

/// Ways an `Authorization` header can be malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// `Bearer` with nothing after it.
    EmptyToken,
    /// More than one `Authorization` header.
    RepeatedHeader,
}

impl BearerError {
    pub fn status(&self) -> u16 {
        match self {
            BearerError::Missing | BearerError::InvalidToken(_) => 401,
            BearerError::InvalidRequest(_) => 400,
            BearerError::InsufficientScope(_) => 403,
        }
    }

    /// The RFC 6750 §3.1 error code, absent for [`BearerError::Missing`].
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            BearerError::Missing => None,
            BearerError::InvalidRequest(_) => Some("invalid_request"),
            BearerError::InvalidToken(_) => Some("invalid_token"),
            BearerError::InsufficientScope(_) => Some("insufficient_scope"),
        }
    }

    /// Fixed human-readable text; never derived from the request.
    pub fn description(&self) -> &'static str {
        match self {
            BearerError::Missing => "This resource needs a bearer access token.",
            BearerError::InvalidRequest(Malformed::EmptyToken) => {
                "The Authorization header names the Bearer scheme but carries no token."
            }
            BearerError::InvalidRequest(Malformed::RepeatedHeader) => {
                "The request carries more than one Authorization header."
            }
            BearerError::InvalidToken(TokenRejection::Expired) => "The access token expired.",
            BearerError::InvalidToken(_) => "The access token is invalid.",
            BearerError::InsufficientScope(_) => {
                "The access token does not grant the scope this request needs."
            }
        }
    }

    /// A stable label for metrics.
    pub fn label(&self) -> &'static str {
        self.error_code().unwrap_or("missing")
    }

    /// The `WWW-Authenticate` value for this outcome.
    pub fn www_authenticate(&self, realm: &str) -> String {
        let mut value = format!("Bearer realm=\"{}\"", quoted_string_safe(realm));
        if let Some(code) = self.error_code() {
            value.push_str(&format!(
                ", error=\"{code}\", error_description=\"{}\"",
                self.description()
            ));
        }
        if let BearerError::InsufficientScope(scope) = self {
            value.push_str(&format!(", scope=\"{scope}\""));
        }
        value
    }
}

/// Finds the bearer token among the values of every `Authorization`
/// header of a request (RFC 6750 §2.1). The scheme name is
/// case-insensitive (RFC 9110 §11.1).
pub fn token_from_headers<'h>(
    mut authorization: impl Iterator<Item = &'h str>,
) -> Result<&'h str, BearerError> {
    let Some(value) = authorization.next() else {
        return Err(BearerError::Missing);
    };
    if authorization.next().is_some() {
        return Err(BearerError::InvalidRequest(Malformed::RepeatedHeader));
    }
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let (scheme, rest) = match value.find([' ', '\t']) {
        Some(at) => (&value[..at], &value[at..]),
        None => (value, ""),
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::Missing);
    }
    let token = rest.trim_matches(|c| c == ' ' || c == '\t');
    if token.is_empty() {
        return Err(BearerError::InvalidRequest(Malformed::EmptyToken));
    }
    // A token with characters outside `b64token` is a bad token, not a
    // malformed request: the contract lists format errors under 401.
    if !is_b64token(token) {
        return Err(BearerError::InvalidToken(TokenRejection::Malformed));
    }
    Ok(token)
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Keeps a configured realm from breaking out of its quoted string.
fn quoted_string_safe(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Result<&str, BearerError> {
        token_from_headers(std::iter::once(value))
    }

    #[test]
    fn reads_the_token_whatever_the_scheme_case() {
        assert_eq!(one("Bearer abc.def.ghi"), Ok("abc.def.ghi"));
        assert_eq!(one("bearer abc"), Ok("abc"));
        assert_eq!(one("BEARER  abc=="), Ok("abc=="));
    }

    #[test]
    fn tells_missing_from_malformed() {
        assert_eq!(
            token_from_headers(std::iter::empty()),
            Err(BearerError::Missing)
        );
        assert_eq!(one("Basic dXNlcjpwYXNz"), Err(BearerError::Missing));
        assert_eq!(one("Bearerabc"), Err(BearerError::Missing));
        assert_eq!(
            one("Bearer"),
            Err(BearerError::InvalidRequest(Malformed::EmptyToken))
        );
        assert_eq!(
            one("Bearer   "),
            Err(BearerError::InvalidRequest(Malformed::EmptyToken))
        );
        assert_eq!(
            one("Bearer a b"),
            Err(BearerError::InvalidToken(TokenRejection::Malformed))
        );
        assert_eq!(
            token_from_headers(["Bearer a", "Bearer b"].into_iter()),
            Err(BearerError::InvalidRequest(Malformed::RepeatedHeader))
        );
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        assert_eq!(
            BearerError::Missing.www_authenticate("profile-api"),
            r#"Bearer realm="profile-api""#
        );
        assert_eq!(
            BearerError::InvalidToken(TokenRejection::BadSignature).www_authenticate("r"),
            r#"Bearer realm="r", error="invalid_token", error_description="The access token is invalid.""#
        );
        let scope = BearerError::InsufficientScope(Scope::ProfilesRead);
        assert_eq!(scope.status(), 403);
        assert!(
            scope
                .www_authenticate("r")
                .ends_with(r#"error="insufficient_scope", error_description="The access token does not grant the scope this request needs.", scope="profiles:read""#)
        );
        assert_eq!(
            BearerError::Missing.www_authenticate("a\"b\\c"),
            r#"Bearer realm="abc""#
        );
    }
}
