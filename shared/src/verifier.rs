//! The access-token verifier: proves an RS256 JWT (RFC 9068) with a key from
//! the [`JwksCache`] and checks its claims, following RFC 8725.
//!
//! We parse the compact JWS ourselves rather than hand the token to a JWT
//! library, so that every decision is ours and visible here: the algorithm
//! comes from our configuration and the token's `alg` must equal it; the
//! key comes only from the cache, never from `jku`, `x5u`, `x5c` or `jwk`
//! (a token carrying any of them is refused); an unknown `crit` is refused;
//! a member named twice in the header or the claims, at any depth, is
//! refused (RFC 7515 §4 and RFC 7519 §4 let a verifier either refuse or keep
//! the last; keeping one means two parsers of one token may disagree on
//! which `sub` it carries); oversized tokens are refused before anything is
//! decoded; and time is a parameter, so expiry tests need no sleeps.
//!
//! A token that passed is remembered in a bounded [`token_cache`] until its
//! `exp` or until its key leaves the issuer's set, so that the signature is
//! checked once per token rather than once per request; see that module for
//! why a remembered answer is always the one a full check would give.

mod strict_json;
pub mod token_cache;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims, Audience};
use crate::jwks_cache::JwksCache;
use crate::scope::ScopeSet;

use token_cache::TokenCache;
pub use token_cache::{TokenCacheConfig, TokenCacheUsage};

/// Tokens longer than this are refused unread; ours are well under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// RFC 8725 §3.1: the one algorithm we accept, from configuration.
pub const ALGORITHM: &str = "RS256";

/// The most clock skew we tolerate on `exp`, `nbf` and `iat`.
pub const MAX_LEEWAY_SECS: i64 = 60;

/// Header parameters whose purpose is to tell us where to find the key;
/// following them would let the token choose its own verifier.
const KEY_LOCATING_HEADERS: [&str; 4] = ["jku", "x5u", "x5c", "jwk"];

/// What the verifier trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// The exact `iss` (the issuer's base URL as it signs it).
    pub issuer: String,
    /// The `aud` value that names this resource server.
    pub audience: String,
    /// Clock skew allowed, at most [`MAX_LEEWAY_SECS`].
    pub leeway_secs: i64,
    /// Bounds of the verified-token cache.
    pub cache: TokenCacheConfig,
}

impl VerifierConfig {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> VerifierConfig {
        VerifierConfig {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs: MAX_LEEWAY_SECS,
            cache: TokenCacheConfig::default(),
        }
    }
}

/// Why a token was refused. All of these are `invalid_token` to the client;
/// the reason is for logs and metrics only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("token longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    #[error("not a compact JWS")]
    Malformed,
    #[error("header alg is not {ALGORITHM}")]
    WrongAlgorithm,
    #[error("header typ is not at+jwt")]
    WrongType,
    #[error("header names a key location (jku, x5u, x5c or jwk)")]
    KeyLocatingHeader,
    #[error("header has a crit extension we do not understand")]
    UnknownCritical,
    #[error("a member appears twice in the header or the claims")]
    DuplicateMember,
    #[error("header has no kid")]
    MissingKid,
    #[error("kid is not among the issuer's published keys")]
    UnknownKey,
    #[error("signature does not verify")]
    BadSignature,
    #[error("claim {0} is missing")]
    MissingClaim(&'static str),
    #[error("claim {0} has the wrong JSON type")]
    ClaimType(&'static str),
    #[error("iss is not the trusted issuer")]
    WrongIssuer,
    #[error("aud does not name this service")]
    WrongAudience,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    #[error("token issued in the future (iat)")]
    IssuedInFuture,
}

impl TokenRejection {
    /// A short stable label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            TokenRejection::TooLong => "too_long",
            TokenRejection::Malformed => "malformed",
            TokenRejection::WrongAlgorithm => "wrong_alg",
            TokenRejection::WrongType => "wrong_typ",
            TokenRejection::KeyLocatingHeader => "key_locating_header",
            TokenRejection::UnknownCritical => "unknown_crit",
            TokenRejection::DuplicateMember => "duplicate_member",
            TokenRejection::MissingKid => "missing_kid",
            TokenRejection::UnknownKey => "unknown_kid",
            TokenRejection::BadSignature => "bad_signature",
            TokenRejection::MissingClaim(_) => "missing_claim",
            TokenRejection::ClaimType(_) => "claim_type",
            TokenRejection::WrongIssuer => "wrong_iss",
            TokenRejection::WrongAudience => "wrong_aud",
            TokenRejection::Expired => "expired",
            TokenRejection::NotYetValid => "not_yet_valid",
            TokenRejection::IssuedInFuture => "issued_in_future",
        }
    }
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The key that signed it.
    pub kid: String,
    pub claims: AccessTokenClaims,
    pub scopes: ScopeSet,
}

/// Verifies access tokens against the issuer's published keys. Clones
/// share one token cache.
#[derive(Clone)]
pub struct Verifier {
    config: VerifierConfig,
    keys: JwksCache,
    cache: Option<Arc<TokenCache>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.config)
            .field("keys", &self.keys)
            .finish()
    }
}

impl Verifier {
    pub fn new(mut config: VerifierConfig, keys: JwksCache) -> Verifier {
        config.leeway_secs = config.leeway_secs.clamp(0, MAX_LEEWAY_SECS);
        let cache = TokenCache::new(config.cache).map(Arc::new);
        if let Some(cache) = &cache {
            // Weak, so that a dropped verifier does not keep its cache alive
            // inside the key set; the listener then unregisters itself.
            let weak = Arc::downgrade(cache);
            keys.on_keys_removed(move |kids| match weak.upgrade() {
                Some(cache) => {
                    cache.forget_kids(kids);
                    true
                }
                None => false,
            });
        }
        Verifier {
            config,
            keys,
            cache,
        }
    }

    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    pub fn keys(&self) -> &JwksCache {
        &self.keys
    }

    /// What the token cache holds, after its pending maintenance; `None`
    /// when it is off.
    pub fn token_cache_usage(&self) -> Option<TokenCacheUsage> {
        self.cache.as_ref().map(|cache| cache.usage())
    }

    /// Verifies `token` at time `now` (Unix seconds, from a
    /// [`Clock`](crate::clock::Clock)). May wait for one shared JWKS refetch
    /// when the token names a key we have not seen.
    pub async fn verify(&self, token: &str, now: i64) -> Result<VerifiedToken, TokenRejection> {
        let result = self.verify_inner(token, now).await;
        match &result {
            Ok(_) => {
                metrics::counter!("token_verifications_total", "result" => "valid").increment(1)
            }
            Err(rejection) => metrics::counter!(
                "token_verifications_total",
                "result" => "rejected",
                "reason" => rejection.label()
            )
            .increment(1),
        }
        result
    }

    async fn verify_inner(&self, token: &str, now: i64) -> Result<VerifiedToken, TokenRejection> {
        let Some(cache) = &self.cache else {
            return self.verify_fully(token, now).await;
        };
        // Refused unread as before, and before any hashing.
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenRejection::TooLong);
        }
        let key = token_cache::key_of(token);
        if let Some(entry) = cache.get(&key) {
            let verified = &entry.verified;
            // At exp the entry is done whatever the leeway: the full check
            // below decides, exactly as without a cache, and does not cache.
            if now < verified.claims.exp && self.keys.serves(&verified.kid) {
                metrics::counter!("token_cache_total", "outcome" => "hit").increment(1);
                self.check_claims(&verified.claims, now)?;
                return Ok(verified.clone());
            }
            cache.remove(&key);
        }
        metrics::counter!("token_cache_total", "outcome" => "miss").increment(1);
        let verified = self.verify_fully(token, now).await?;
        cache.insert(key, &verified, now);
        // The key may have left the set while we verified, after the JWKS
        // cache swept our entries: then this one must not stay either.
        if !self.keys.serves(&verified.kid) {
            cache.remove(&key);
        }
        Ok(verified)
    }

    /// Every check, with the signature: what the cache saves.
    async fn verify_fully(&self, token: &str, now: i64) -> Result<VerifiedToken, TokenRejection> {
        let parts = split_compact(token)?;
        let header = decode_json_object(parts.header)?;
        let kid = check_header(&header)?;
        let key = self.keys.key(kid).await.ok_or(TokenRejection::UnknownKey)?;
        let signature = URL_SAFE_NO_PAD
            .decode(parts.signature)
            .map_err(|_| TokenRejection::Malformed)?;
        if !key.verify(parts.signing_input.as_bytes(), &signature) {
            return Err(TokenRejection::BadSignature);
        }
        // Only now, with the signature proven, do we read the claims.
        let payload = decode_json_object(parts.payload)?;
        let claims = claims_from(&payload)?;
        self.check_claims(&claims, now)?;
        let scopes = ScopeSet::parse(&claims.scope);
        Ok(VerifiedToken {
            kid: kid.to_owned(),
            claims,
            scopes,
        })
    }

    fn check_claims(&self, claims: &AccessTokenClaims, now: i64) -> Result<(), TokenRejection> {
        let leeway = self.config.leeway_secs;
        if claims.iss != self.config.issuer {
            return Err(TokenRejection::WrongIssuer);
        }
        if !claims.aud.contains(&self.config.audience) {
            return Err(TokenRejection::WrongAudience);
        }
        // RFC 7519 §4.1.4: the token must not be accepted on or after exp.
        if now >= claims.exp.saturating_add(leeway) {
            return Err(TokenRejection::Expired);
        }
        if claims.nbf > now.saturating_add(leeway) {
            return Err(TokenRejection::NotYetValid);
        }
        if claims.iat > now.saturating_add(leeway) {
            return Err(TokenRejection::IssuedInFuture);
        }
        Ok(())
    }
}

struct CompactParts<'t> {
    header: &'t str,
    payload: &'t str,
    signature: &'t str,
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'t str,
}

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
    let signing_input = &token[..header.len() + 1 + payload.len()];
    Ok(CompactParts {
        header,
        payload,
        signature,
        signing_input,
    })
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
fn check_header(header: &Map<String, Value>) -> Result<&str, TokenRejection> {
    // RFC 8725 §3.1: compare against our one algorithm; `none`, `HS256` and
    // anything else are refused whatever key they would pair with.
    if header.get("alg").and_then(Value::as_str) != Some(ALGORITHM) {
        return Err(TokenRejection::WrongAlgorithm);
    }
    if !header
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(is_access_token_typ)
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

/// Reads the claims, requiring every RFC 9068 §2.2 claim with its JSON type.
fn claims_from(payload: &Map<String, Value>) -> Result<AccessTokenClaims, TokenRejection> {
    let iat = integer(payload, "iat")?;
    Ok(AccessTokenClaims {
        iss: string(payload, "iss")?,
        sub: string(payload, "sub")?,
        aud: audience(payload)?,
        exp: integer(payload, "exp")?,
        iat,
        // Not required by RFC 9068; without it the token is valid from iat.
        nbf: optional(payload, "nbf", Value::as_i64)?.unwrap_or(iat),
        jti: string(payload, "jti")?,
        client_id: string(payload, "client_id")?,
        // RFC 9068 §2.2.3: scope is present only when scopes were granted.
        scope: optional(payload, "scope", |v| v.as_str().map(str::to_owned))?.unwrap_or_default(),
        email: optional(payload, "email", |v| v.as_str().map(str::to_owned))?,
        name: optional(payload, "name", |v| v.as_str().map(str::to_owned))?,
    })
}

fn string(payload: &Map<String, Value>, name: &'static str) -> Result<String, TokenRejection> {
    match payload.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(TokenRejection::ClaimType(name)),
        None => Err(TokenRejection::MissingClaim(name)),
    }
}

fn integer(payload: &Map<String, Value>, name: &'static str) -> Result<i64, TokenRejection> {
    match payload.get(name) {
        Some(value) => value.as_i64().ok_or(TokenRejection::ClaimType(name)),
        None => Err(TokenRejection::MissingClaim(name)),
    }
}

fn optional<T>(
    payload: &Map<String, Value>,
    name: &'static str,
    read: impl Fn(&Value) -> Option<T>,
) -> Result<Option<T>, TokenRejection> {
    match payload.get(name) {
        None => Ok(None),
        Some(value) => read(value).map(Some).ok_or(TokenRejection::ClaimType(name)),
    }
}

fn audience(payload: &Map<String, Value>) -> Result<Audience, TokenRejection> {
    const AUD: &str = "aud";
    match payload.get(AUD) {
        Some(Value::String(one)) => Ok(Audience::One(one.clone())),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Audience::Many)
            .ok_or(TokenRejection::ClaimType(AUD)),
        Some(_) => Err(TokenRejection::ClaimType(AUD)),
        None => Err(TokenRejection::MissingClaim(AUD)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_is_compared_case_insensitively_with_optional_prefix() {
        assert!(is_access_token_typ("at+jwt"));
        assert!(is_access_token_typ("AT+JWT"));
        assert!(is_access_token_typ("application/at+jwt"));
        assert!(is_access_token_typ("Application/At+Jwt"));
        assert!(!is_access_token_typ("JWT"));
        assert!(!is_access_token_typ("application/jwt"));
        assert!(!is_access_token_typ("text/at+jwt"));
    }

    #[test]
    fn compact_form_needs_three_non_empty_parts() {
        assert!(split_compact("a.b.c").is_ok());
        assert_eq!(split_compact("a.b").err(), Some(TokenRejection::Malformed));
        assert_eq!(
            split_compact("a.b.c.d").err(),
            Some(TokenRejection::Malformed)
        );
        assert_eq!(split_compact("a..c").err(), Some(TokenRejection::Malformed));
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(split_compact(&long).err(), Some(TokenRejection::TooLong));
    }
}
