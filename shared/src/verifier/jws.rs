//! A compact JWS from its first byte to its proven claims: the checks that
//! need no key ([`Jws::parse`]), then the signature by `jsonwebtoken` with
//! the key our key source holds for the token's `kid`, and only then the
//! claims, read strictly and held to [`ClaimRules`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use super::rejection::{is_about_claims, rejection_of};
use super::rules::{ClaimRules, claims_from, string};
use super::{ALGORITHM, MAX_TOKEN_BYTES, TokenRejection};
use crate::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims};
use crate::jwks_cache::VerifyingKey;
use crate::strict_json;

/// Header parameters whose purpose is to tell us where to find the key;
/// following them would let the token choose its own verifier.
const KEY_LOCATING_HEADERS: [&str; 4] = ["jku", "x5u", "x5c", "jwk"];

/// Registered header parameters that `jsonwebtoken` reads as strings when it
/// parses the header again. Checked here, so that a header it cannot read is
/// refused before the signature is checked, like every other malformed one,
/// and any JSON error it reports can only be about the claims.
const STRING_HEADERS: [&str; 7] = ["cty", "x5t", "x5t#S256", "url", "nonce", "enc", "zip"];

/// Which kind of JWT a check expects, told apart by the header's `typ`, so
/// that neither kind of token can pass for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token (RFC 9068 §2.1): `at+jwt`, or `application/at+jwt`,
    /// case-insensitively.
    Access,
    /// An OpenID Connect id_token as our issuer signs it: `typ` `JWT`.
    Id,
}

impl TokenKind {
    fn accepts(self, typ: &str) -> bool {
        match self {
            TokenKind::Access => is_access_token_typ(typ),
            TokenKind::Id => typ == "JWT",
        }
    }
}

/// A compact JWS whose header passed every check that needs no key; its
/// signature is not checked yet, and its claims are not read.
pub struct Jws<'t> {
    token: &'t str,
    payload: &'t str,
    kid: String,
}

/// The kid only: a token is a credential and stays out of logs.
impl std::fmt::Debug for Jws<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jws")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl<'t> Jws<'t> {
    /// The checks before any key is looked up: size, compact form, a header
    /// without repeated members, `alg` RS256, `typ` of `kind`, no
    /// key-locating header, no `crit`, a `kid`.
    pub fn parse(token: &'t str, kind: TokenKind) -> Result<Jws<'t>, TokenRejection> {
        let parts = split_compact(token)?;
        let header = decode_json_object(parts.header)?;
        let kid = check_header(&header, kind)?.to_owned();
        Ok(Jws {
            token,
            payload: parts.payload,
            kid,
        })
    }

    /// The key the token says signed it, to look up in our own key source.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The kid and claims of an access token signed by `key`, held to
    /// `rules`; with `now`, to its time claims too, else whatever its expiry.
    pub fn access_token(
        self,
        key: &VerifyingKey,
        rules: &ClaimRules,
        now: Option<i64>,
    ) -> Result<(String, AccessTokenClaims), TokenRejection> {
        let claims = self.verify_with(key, rules, |payload| {
            let claims = claims_from(&payload)?;
            rules.check(&claims, now)?;
            Ok(claims)
        })?;
        Ok((self.kid, claims))
    }

    /// The claims of any token signed by `key` whose `iss` is the string
    /// `rules` names; no time check. For id_tokens, whose claims are not
    /// an access token's.
    pub fn claims(
        self,
        key: &VerifyingKey,
        rules: &ClaimRules,
    ) -> Result<Map<String, Value>, TokenRejection> {
        self.verify_with(key, rules, |payload| {
            let issuer = string(&payload, "iss")?;
            if issuer != rules.issuer {
                return Err(TokenRejection::WrongIssuer);
            }
            Ok(payload)
        })
    }

    /// `jsonwebtoken` checks the signature and its `Validation`; then, the
    /// signature proven, `read` checks the strictly parsed claims and names
    /// the first fault, so that logs and metrics name the reason we
    /// checked first. A refusal by either is final.
    fn verify_with<T>(
        &self,
        key: &VerifyingKey,
        rules: &ClaimRules,
        read: impl FnOnce(Map<String, Value>) -> Result<T, TokenRejection>,
    ) -> Result<T, TokenRejection> {
        // `IgnoredAny`: the claims `jsonwebtoken` would return are parsed
        // by serde_json, which keeps the last of two equal names; ours come
        // from `decode_json_object`.
        let verdict =
            jsonwebtoken::decode::<IgnoredAny>(self.token, key.decoding_key(), &rules.validation)
                .map(drop)
                .map_err(|error| error.into_kind());
        if let Err(kind) = &verdict
            && !is_about_claims(kind)
        {
            return Err(rejection_of(kind));
        }
        // Only now, with the signature proven, do we read the claims.
        let payload = decode_json_object(self.payload)?;
        let claims = read(payload)?;
        verdict.map_err(|kind| rejection_of(&kind))?;
        Ok(claims)
    }
}

struct CompactParts<'t> {
    header: &'t str,
    payload: &'t str,
}

/// Three non-empty parts; the signature is decoded by `jsonwebtoken`.
fn split_compact(token: &str) -> Result<CompactParts<'_>, TokenRejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenRejection::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRejection::Malformed);
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(TokenRejection::Malformed);
    }
    Ok(CompactParts { header, payload })
}

/// A base64url JSON object whose member names are unique at every depth.
/// Only the full check decodes anything, so a cache hit never pays this.
fn decode_json_object(part: &str) -> Result<Map<String, Value>, TokenRejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenRejection::Malformed)?;
    strict_json::object_from_slice(&bytes).map_err(|error| match error {
        strict_json::Error::Duplicate => TokenRejection::DuplicateMember,
        strict_json::Error::Invalid => TokenRejection::Malformed,
    })
}

/// Checks the JOSE header and returns the `kid`.
fn check_header(header: &Map<String, Value>, kind: TokenKind) -> Result<&str, TokenRejection> {
    // RFC 8725 §3.1: compare against our one algorithm; `none`, `HS256` and
    // anything else are refused whatever key they would pair with.
    if header.get("alg").and_then(Value::as_str) != Some(ALGORITHM) {
        return Err(TokenRejection::WrongAlgorithm);
    }
    if !header
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(|typ| kind.accepts(typ))
    {
        return Err(TokenRejection::WrongType);
    }
    if KEY_LOCATING_HEADERS
        .iter()
        .any(|name| header.contains_key(*name))
    {
        return Err(TokenRejection::KeyLocatingHeader);
    }
    // RFC 7515 §4.1.11: we implement no extensions, so any `crit` (even an
    // empty one, which is itself invalid) means we must refuse.
    if header.contains_key("crit") {
        return Err(TokenRejection::UnknownCritical);
    }
    if STRING_HEADERS
        .iter()
        .filter_map(|name| header.get(*name))
        .any(|value| !(value.is_string() || value.is_null()))
    {
        return Err(TokenRejection::Malformed);
    }
    match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => Ok(kid),
        Some(_) => Err(TokenRejection::Malformed),
        None => Err(TokenRejection::MissingKid),
    }
}

/// RFC 9068 §4: `at+jwt`, or `application/at+jwt`, case-insensitively.
pub fn is_access_token_typ(typ: &str) -> bool {
    let lower = typ.to_ascii_lowercase();
    let bare = lower.strip_prefix("application/").unwrap_or(&lower);
    bare == ACCESS_TOKEN_TYP
}

#[cfg(test)]
mod tests;
