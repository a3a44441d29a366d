//! Reading the credentials of a request from its `Authorization` headers
//! (RFC 6750 §2.1): which scheme, which token, or why the header cannot be
//! used. Only the header is read; a token in a form body or the query
//! string is never looked for.

use super::AccessError;
use crate::verifier::TokenRejection;

/// The authentication schemes a resource server reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// RFC 6750: whoever holds the token may use it.
    Bearer,
    /// RFC 9449: the token counts only with a proof of the key it is bound
    /// to, in the request's `DPoP` header.
    DPoP,
}

impl Scheme {
    /// The scheme's name as challenges and headers write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer",
            Scheme::DPoP => "DPoP",
        }
    }

    fn named(name: &str) -> Option<Scheme> {
        if name.eq_ignore_ascii_case("bearer") {
            Some(Scheme::Bearer)
        } else if name.eq_ignore_ascii_case("dpop") {
            Some(Scheme::DPoP)
        } else {
            None
        }
    }
}

/// A token and the scheme it came under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'h> {
    pub scheme: Scheme,
    pub token: &'h str,
}

/// Ways an `Authorization` header can be malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// A scheme with nothing after it.
    EmptyToken,
    /// More than one `Authorization` header.
    RepeatedHeader,
}

/// Finds the credentials among the values of every `Authorization` header
/// of a request. The scheme name is case-insensitive (RFC 9110 §11.1); a
/// scheme we do not read counts as no credentials at all (RFC 6750 §3.1).
pub fn credentials_from_headers<'h>(
    mut authorization: impl Iterator<Item = &'h str>,
) -> Result<Credentials<'h>, AccessError> {
    let Some(value) = authorization.next() else {
        return Err(AccessError::Missing);
    };
    if authorization.next().is_some() {
        return Err(AccessError::InvalidRequest(Malformed::RepeatedHeader));
    }
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let (name, rest) = match value.find([' ', '\t']) {
        Some(at) => (&value[..at], &value[at..]),
        None => (value, ""),
    };
    let Some(scheme) = Scheme::named(name) else {
        return Err(AccessError::Missing);
    };
    let token = rest.trim_matches(|c| c == ' ' || c == '\t');
    if token.is_empty() {
        return Err(AccessError::InvalidRequest(Malformed::EmptyToken));
    }
    // A token with characters outside `b64token` is a bad token, not a
    // malformed request: the contract lists format errors under 401.
    if !is_b64token(token) {
        return Err(AccessError::InvalidToken(TokenRejection::Malformed));
    }
    Ok(Credentials { scheme, token })
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    // A table lookup per byte: this runs over every token of every request.
    // No early exit: a good token is read to its end anyway, and without a
    // branch per byte the loop unrolls (callgrind: `all` cost some 5,000
    // instructions for a 900-byte token, most of the guard's own work).
    !body.is_empty()
        && body
            .bytes()
            .fold(true, |good, b| good & B64TOKEN[usize::from(b)])
}

/// The characters of RFC 6750's `b64token`, before its trailing `=`s.
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Result<&str, AccessError> {
        credentials_from_headers(std::iter::once(value)).map(|c| c.token)
    }

    #[test]
    fn reads_the_token_whatever_the_scheme_case() {
        assert_eq!(one("Bearer abc.def.ghi"), Ok("abc.def.ghi"));
        assert_eq!(one("bearer abc"), Ok("abc"));
        assert_eq!(one("BEARER  abc=="), Ok("abc=="));
        assert_eq!(
            credentials_from_headers(std::iter::once("Bearer t")).map(|c| c.scheme),
            Ok(Scheme::Bearer)
        );
        assert_eq!(
            credentials_from_headers(std::iter::once("dpop t")).map(|c| c.scheme),
            Ok(Scheme::DPoP)
        );
    }

    #[test]
    fn tells_missing_from_malformed() {
        assert_eq!(
            credentials_from_headers(std::iter::empty()),
            Err(AccessError::Missing)
        );
        assert_eq!(one("Basic dXNlcjpwYXNz"), Err(AccessError::Missing));
        assert_eq!(one("Bearerabc"), Err(AccessError::Missing));
        assert_eq!(
            one("Bearer"),
            Err(AccessError::InvalidRequest(Malformed::EmptyToken))
        );
        assert_eq!(
            one("Bearer   "),
            Err(AccessError::InvalidRequest(Malformed::EmptyToken))
        );
        assert_eq!(
            one("Bearer a b"),
            Err(AccessError::InvalidToken(TokenRejection::Malformed))
        );
        assert_eq!(
            credentials_from_headers(["Bearer a", "Bearer b"].into_iter()),
            Err(AccessError::InvalidRequest(Malformed::RepeatedHeader))
        );
    }
}
