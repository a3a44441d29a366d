//! The one JWS verifier of the workspace: proves an RS256 JWT (RFC 9068
//! access tokens, and the issuer's own id_tokens) with a key from a key
//! source (the resource server's [`JwksCache`], the issuer's own key ring)
//! and checks its claims, following RFC 8725.
//!
//! [`Jws::parse`] makes the checks that need no key, ours and visible here,
//! before anything else is done: oversized tokens are refused before anything
//! is decoded; the compact form must have three non-empty parts; a member
//! named twice in the header (or later the claims), at any depth, is refused
//! (RFC 7515 §4 and RFC 7519 §4 let a verifier either refuse or keep the
//! last; keeping one means two parsers of one token may disagree on which
//! `sub` it carries); the algorithm comes from our configuration and the
//! token's `alg` must equal it; `typ` must name the kind of token expected;
//! the key comes only from our key source, by `kid`, never from `jku`, `x5u`,
//! `x5c` or `jwk` (a token carrying any of them is refused); an unknown
//! `crit` is refused.
//!
//! The signature is then checked by [`jsonwebtoken::decode`], with the
//! key's [`DecodingKey`](jsonwebtoken::DecodingKey) built once when the key
//! set was parsed and a [`Validation`] that pins RS256, `iss`, `aud` and the
//! claims that must be present. Only once the signature is proven are the
//! claims read, by us again: `serde_json` keeps the last of two equal names,
//! so the duplicate check needs its own parse, and so do the exact JSON types
//! RFC 9068 §2.2 requires. Our reading comes first and names the reason for a
//! refusal, as it always has (metrics and logs keep their labels); a token
//! that `jsonwebtoken` refused is refused even when our reading finds no
//! fault, so neither of the two can let a token through on its own.
//!
//! Time is ours too: [`Verifier::verify`] takes `now` as a parameter, so
//! expiry tests need no sleeps and run on a fake clock, and it refuses a
//! token on or after `exp` + leeway (RFC 7519 §4.1.4), and one whose `nbf`
//! or `iat` lies beyond `now` + leeway. `jsonwebtoken` can only read the
//! wall clock and accepts up to the second after `exp` + leeway, so its
//! `exp` and `nbf` checks are off: on a fake clock they would refuse every
//! token of a test whose clock is behind the real one (ours start in 2025)
//! and accept ones our clock has expired, and in production they would only
//! repeat ours a second apart. Introspection and the id_token hint want the
//! claims whatever their expiry and make no time check at all.
//!
//! A token that passed is remembered in a bounded [`token_cache`] until its
//! `exp` or until its key leaves the issuer's set, so that the signature is
//! checked once per token rather than once per request; see that module for
//! why a remembered answer is always the one a full check would give. A hit
//! never reaches `jsonwebtoken`.

pub mod token_cache;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use crate::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims, Audience};
use crate::jwks_cache::{JwksCache, VerifyingKey};
use crate::scope::ScopeSet;
use crate::strict_json;

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

/// Registered header parameters that `jsonwebtoken` reads as strings when it
/// parses the header again. Checked here, so that a header it cannot read is
/// refused before the signature is checked, like every other malformed one,
/// and any JSON error it reports can only be about the claims.
const STRING_HEADERS: [&str; 7] = ["cty", "x5t", "x5t#S256", "url", "nonce", "enc", "zip"];

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
    rules: Arc<ClaimRules>,
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
        let rules = Arc::new(ClaimRules::access_tokens(
            &config.issuer,
            Some(&config.audience),
            config.leeway_secs,
        ));
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
            rules,
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
                self.rules.check(&verified.claims, Some(now))?;
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
        let jws = Jws::parse(token, TokenKind::Access)?;
        let key = self
            .keys
            .key(jws.kid())
            .await
            .ok_or(TokenRejection::UnknownKey)?;
        let (kid, claims) = jws.access_token(&key, &self.rules, Some(now))?;
        let scopes = ScopeSet::parse(&claims.scope);
        Ok(VerifiedToken {
            kid,
            claims,
            scopes,
        })
    }
}

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

/// What a signed token's claims are held to: the issuer, the audience if
/// any, the leeway of the time checks, and the [`Validation`] that
/// `jsonwebtoken` applies with the signature. The [`Verifier`] builds its
/// rules once; they are a few small sets, cheap next to an RSA check, so
/// the issuer builds them where it recognises its own tokens.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    issuer: String,
    /// `None` when any audience will do: the issuer introspects tokens of
    /// every resource it serves (RFC 8707).
    audience: Option<String>,
    leeway_secs: i64,
    validation: Validation,
}

impl ClaimRules {
    /// Rules for access tokens of `issuer` for `audience`, or for any
    /// audience. `leeway_secs` is clamped to [`MAX_LEEWAY_SECS`].
    pub fn access_tokens(issuer: &str, audience: Option<&str>, leeway_secs: i64) -> ClaimRules {
        ClaimRules::new(issuer, audience, leeway_secs, &["iss", "sub", "aud", "exp"])
    }

    /// Rules for the id_tokens `issuer` signs: whatever their audience (the
    /// caller reads the client from it), with `iss`, `sub` and `aud`.
    pub fn id_tokens(issuer: &str) -> ClaimRules {
        ClaimRules::new(issuer, None, MAX_LEEWAY_SECS, &["iss", "sub", "aud"])
    }

    fn new(
        issuer: &str,
        audience: Option<&str>,
        leeway_secs: i64,
        required: &[&str],
    ) -> ClaimRules {
        let leeway_secs = leeway_secs.clamp(0, MAX_LEEWAY_SECS);
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(required);
        validation.set_issuer(&[issuer]);
        match audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        // Time is checked by us with the caller's clock; see the module doc.
        // The leeway is ours all the same, should these ever be turned on.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = leeway_secs.unsigned_abs();
        ClaimRules {
            issuer: issuer.to_owned(),
            audience: audience.map(str::to_owned),
            leeway_secs,
            validation,
        }
    }

    /// `iss`, `aud` when one is pinned, and with `now` the time claims, in
    /// that order: the first fault found names the refusal.
    fn check(&self, claims: &AccessTokenClaims, now: Option<i64>) -> Result<(), TokenRejection> {
        if claims.iss != self.issuer {
            return Err(TokenRejection::WrongIssuer);
        }
        if let Some(audience) = &self.audience
            && !claims.aud.contains(audience)
        {
            return Err(TokenRejection::WrongAudience);
        }
        let Some(now) = now else {
            return Ok(());
        };
        let leeway = self.leeway_secs;
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

    /// `jsonwebtoken` checks the signature and its [`Validation`]; then, the
    /// signature proven, `read` checks the strictly parsed claims and names
    /// the first fault as we always have. A refusal by either is final.
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

/// True for the errors `jsonwebtoken::decode` reports only after the
/// signature verified: those about the claims. Our header checks leave it no
/// JSON error to find in the header (see [`STRING_HEADERS`]), so a JSON
/// error is the claims'.
fn is_about_claims(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Json(_)
            | ErrorKind::MissingRequiredClaim(_)
            | ErrorKind::InvalidClaimFormat(_)
            | ErrorKind::InvalidIssuer
            | ErrorKind::InvalidAudience
            | ErrorKind::ExpiredSignature
            | ErrorKind::ImmatureSignature
    )
}

/// Our reason for a refusal by `jsonwebtoken`. Those about the claims are
/// reached only when our own reading found nothing wrong, which our checks
/// make impossible for all but the time claims it does not check; they are
/// mapped all the same, so that a disagreement still refuses.
fn rejection_of(kind: &ErrorKind) -> TokenRejection {
    match kind {
        ErrorKind::InvalidSignature => TokenRejection::BadSignature,
        // The key is unusable for RS256 (e.g. under 2048 bits): nothing it
        // signed can be proven, as before.
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => TokenRejection::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => TokenRejection::WrongAlgorithm,
        ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
        ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
        ErrorKind::ExpiredSignature => TokenRejection::Expired,
        ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
        ErrorKind::MissingRequiredClaim(name) => TokenRejection::MissingClaim(spec_claim(name)),
        ErrorKind::InvalidClaimFormat(name) => TokenRejection::ClaimType(spec_claim(name)),
        // Base64, a token that is not three parts, JSON, and what a later
        // version may add.
        _ => TokenRejection::Malformed,
    }
}

/// The `'static` name of a claim `jsonwebtoken` names (it names no other:
/// only these can be required or checked).
fn spec_claim(name: &str) -> &'static str {
    match name {
        "exp" => "exp",
        "nbf" => "nbf",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "claim",
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

    /// The mapping of `jsonwebtoken`'s refusals, and that a refusal by the
    /// library stands even where our own reading of the claims finds
    /// nothing wrong, with a real key and real signatures.
    mod with_jsonwebtoken {
        #![allow(clippy::unwrap_used, clippy::expect_used)]

        use std::sync::LazyLock;

        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::{KeyPair as _, RsaPublicKeyComponents};
        use base64::engine::general_purpose::STANDARD;
        use jsonwebtoken::EncodingKey;
        use serde_json::json;

        use super::*;
        use crate::jwk::Jwk;

        const ISSUER: &str = "https://issuer.test";
        const AUDIENCE: &str = "profile-api";
        /// Long before the wall clock of any run: `jsonwebtoken`'s own
        /// expiry check, were it on, would refuse every token here.
        const NOW: i64 = 1_750_000_000;

        struct Key {
            encoding: EncodingKey,
            verifying: VerifyingKey,
        }

        static KEY: LazyLock<Key> = LazyLock::new(|| {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .expect("generate");
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                STANDARD.encode(pair.as_der().expect("pkcs8").as_ref())
            );
            let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
            let jwk = Jwk::rsa_signing_key(&public.n, &public.e);
            Key {
                encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).expect("pem"),
                verifying: VerifyingKey::from_jwk(&jwk).expect("jwk"),
            }
        });

        fn claims() -> Value {
            json!({
                "iss": ISSUER, "sub": "user-1", "aud": AUDIENCE, "exp": NOW + 900,
                "iat": NOW, "nbf": NOW, "jti": "jti-1", "client_id": "first-party",
                "scope": "profile:read"
            })
        }

        fn header(typ: &str) -> Value {
            json!({"alg": "RS256", "typ": typ, "kid": KEY.verifying.kid()})
        }

        fn sign_with(header: &Value, claims: &Value, algorithm: Algorithm) -> String {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &KEY.encoding, algorithm)
                .expect("sign");
            format!("{input}.{signature}")
        }

        fn sign(claims: &Value) -> String {
            sign_with(&header("at+jwt"), claims, Algorithm::RS256)
        }

        fn with(name: &str, value: Value) -> Value {
            let mut claims = claims();
            claims[name] = value;
            claims
        }

        fn without(name: &str) -> Value {
            let mut claims = claims();
            claims.as_object_mut().map(|c| c.remove(name));
            claims
        }

        fn rules() -> ClaimRules {
            ClaimRules::access_tokens(ISSUER, Some(AUDIENCE), MAX_LEEWAY_SECS)
        }

        fn access(token: &str, now: Option<i64>) -> Result<AccessTokenClaims, TokenRejection> {
            let jws = Jws::parse(token, TokenKind::Access)?;
            jws.access_token(&KEY.verifying, &rules(), now)
                .map(|(_, claims)| claims)
        }

        /// `jsonwebtoken`'s verdict alone: our header checks skipped and
        /// our reading of the claims accepting anything.
        fn library_verdict(token: &str, rules: &ClaimRules) -> Result<(), TokenRejection> {
            let mut parts = token.split('.');
            let jws = Jws {
                token,
                payload: parts.nth(1).unwrap_or_default(),
                kid: KEY.verifying.kid().to_owned(),
            };
            jws.verify_with(&KEY.verifying, rules, |_| Ok(()))
        }

        #[test]
        fn a_valid_token_passes_on_a_clock_far_from_the_wall_clock() {
            let token = sign(&claims());
            assert!(access(&token, Some(NOW)).is_ok());
            // Minted and checked far in the future: nbf and iat lie far
            // beyond the wall clock, which `jsonwebtoken` does not read here.
            let later = 4_000_000_000;
            let token = sign(&json!({
                "iss": ISSUER, "sub": "user-1", "aud": AUDIENCE, "exp": later + 900,
                "iat": later, "nbf": later, "jti": "jti-1", "client_id": "first-party"
            }));
            assert!(access(&token, Some(later)).is_ok());
            assert_eq!(
                access(&token, Some(NOW)).err(),
                Some(TokenRejection::NotYetValid)
            );
        }

        #[test]
        fn expiry_is_refused_on_exp_plus_leeway_by_our_clock() {
            let token = sign(&claims());
            let exp = NOW + 900;
            assert!(access(&token, Some(exp + MAX_LEEWAY_SECS - 1)).is_ok());
            assert_eq!(
                access(&token, Some(exp + MAX_LEEWAY_SECS)).err(),
                Some(TokenRejection::Expired)
            );
            // Without a clock, whatever its expiry (introspection).
            assert!(access(&token, None).is_ok());
            // A negative exp is an expired token, not a missing claim
            // (`jsonwebtoken` reads only unsigned times).
            let token = sign(&with("exp", json!(-5)));
            assert_eq!(
                access(&token, Some(NOW)).err(),
                Some(TokenRejection::Expired)
            );
        }

        #[test]
        fn the_library_refusals_keep_their_reasons() {
            let rules = rules();
            assert_eq!(library_verdict(&sign(&claims()), &rules), Ok(()));
            assert_eq!(
                library_verdict(&sign(&with("iss", json!("https://evil.test"))), &rules),
                Err(TokenRejection::WrongIssuer)
            );
            assert_eq!(
                library_verdict(&sign(&with("aud", json!("other-api"))), &rules),
                Err(TokenRejection::WrongAudience)
            );
            assert_eq!(
                library_verdict(&sign(&with("aud", json!(["a", "b"]))), &rules),
                Err(TokenRejection::WrongAudience)
            );
            for name in ["iss", "sub", "aud", "exp"] {
                assert_eq!(
                    library_verdict(&sign(&without(name)), &rules),
                    Err(TokenRejection::MissingClaim(name)),
                    "{name}"
                );
            }
            // A valid signature, but by another algorithm than the header's
            // RS256, and a header naming that other algorithm.
            let rs384 = sign_with(&header("at+jwt"), &claims(), Algorithm::RS384);
            assert_eq!(
                library_verdict(&rs384, &rules),
                Err(TokenRejection::BadSignature)
            );
            let mut other = header("at+jwt");
            other["alg"] = json!("RS384");
            let rs384 = sign_with(&other, &claims(), Algorithm::RS384);
            assert_eq!(
                library_verdict(&rs384, &rules),
                Err(TokenRejection::WrongAlgorithm)
            );
            assert_eq!(
                access(&rs384, Some(NOW)).err(),
                Some(TokenRejection::WrongAlgorithm)
            );
            let mut ps256 = header("at+jwt");
            ps256["alg"] = json!("PS256");
            let ps256 = sign_with(&ps256, &claims(), Algorithm::PS256);
            assert_eq!(
                library_verdict(&ps256, &rules),
                Err(TokenRejection::WrongAlgorithm)
            );
            // A damaged signature, in base64 and in value.
            let token = sign(&claims());
            assert_eq!(
                library_verdict(&format!("{token}!"), &rules),
                Err(TokenRejection::Malformed)
            );
            let (signed, _) = token.rsplit_once('.').unwrap_or_default();
            assert_eq!(
                library_verdict(&format!("{signed}.AAAA"), &rules),
                Err(TokenRejection::BadSignature)
            );
        }

        #[test]
        fn our_reading_names_the_first_fault_as_before() {
            // Two faults: ours come first, in our order, though the library
            // would name the issuer.
            let mut two_faults = with("iss", json!("https://evil.test"));
            two_faults.as_object_mut().map(|c| c.remove("jti"));
            assert_eq!(
                access(&sign(&two_faults), Some(NOW)).err(),
                Some(TokenRejection::MissingClaim("jti"))
            );
            let array = with("iss", json!(["https://evil.test"]));
            assert_eq!(
                access(&sign(&array), Some(NOW)).err(),
                Some(TokenRejection::ClaimType("iss"))
            );
            // An issuer array naming ours passes the library; not us.
            let array = with("iss", json!([ISSUER]));
            assert_eq!(library_verdict(&sign(&array), &rules()), Ok(()));
            assert_eq!(
                access(&sign(&array), Some(NOW)).err(),
                Some(TokenRejection::ClaimType("iss"))
            );
            // A string exp: our claim type, not the library's missing claim.
            assert_eq!(
                access(&sign(&with("exp", json!("soon"))), Some(NOW)).err(),
                Some(TokenRejection::ClaimType("exp"))
            );
            assert_eq!(
                access(&sign(&with("iss", json!("https://evil.test"))), Some(NOW)).err(),
                Some(TokenRejection::WrongIssuer)
            );
            assert_eq!(
                access(&sign(&with("aud", json!("other-api"))), Some(NOW)).err(),
                Some(TokenRejection::WrongAudience)
            );
            assert_eq!(
                access(&sign(&without("exp")), Some(NOW)).err(),
                Some(TokenRejection::MissingClaim("exp"))
            );
            // A repeated `iss`: the library's serde refuses it as JSON; we
            // say why.
            let text = claims().to_string();
            let repeated = format!("{{\"iss\":\"{ISSUER}\",{}", &text[1..]);
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header("at+jwt").to_string()),
                URL_SAFE_NO_PAD.encode(repeated)
            );
            let signature =
                jsonwebtoken::crypto::sign(input.as_bytes(), &KEY.encoding, Algorithm::RS256)
                    .unwrap_or_default();
            assert_eq!(
                access(&format!("{input}.{signature}"), Some(NOW)).err(),
                Some(TokenRejection::DuplicateMember)
            );
        }

        #[test]
        fn any_audience_and_id_tokens_for_the_issuer_itself() {
            let token = sign(&with("aud", json!("https://other-resource.test")));
            let anywhere = ClaimRules::access_tokens(ISSUER, None, MAX_LEEWAY_SECS);
            let jws = Jws::parse(&token, TokenKind::Access);
            assert!(
                jws.and_then(|jws| jws.access_token(&KEY.verifying, &anywhere, None))
                    .is_ok()
            );
            // An access token is no id_token and the other way round.
            assert_eq!(
                Jws::parse(&token, TokenKind::Id).err(),
                Some(TokenRejection::WrongType)
            );
            let id_token = sign_with(
                &header("JWT"),
                &json!({"iss": ISSUER, "sub": "user-1", "aud": "client-1", "exp": 1}),
                Algorithm::RS256,
            );
            assert_eq!(
                Jws::parse(&id_token, TokenKind::Access).err(),
                Some(TokenRejection::WrongType)
            );
            let read = |token: &str, issuer: &str| {
                Jws::parse(token, TokenKind::Id)
                    .and_then(|jws| jws.claims(&KEY.verifying, &ClaimRules::id_tokens(issuer)))
            };
            let claims = read(&id_token, ISSUER);
            assert_eq!(
                claims.ok().and_then(|c| c.get("aud").cloned()),
                Some(json!("client-1"))
            );
            assert_eq!(
                read(&id_token, "https://evil.test").err(),
                Some(TokenRejection::WrongIssuer)
            );
        }

        #[test]
        fn a_header_the_library_cannot_read_is_malformed_before_the_signature() {
            let mut odd = header("at+jwt");
            odd["cty"] = json!(5);
            let token = sign_with(&odd, &claims(), Algorithm::RS256);
            assert_eq!(
                Jws::parse(&token, TokenKind::Access).err(),
                Some(TokenRejection::Malformed)
            );
            odd["cty"] = json!("at+jwt");
            let token = sign_with(&odd, &claims(), Algorithm::RS256);
            assert!(access(&token, Some(NOW)).is_ok());
        }

        #[test]
        fn every_error_kind_maps_to_a_reason() {
            let cases = [
                (ErrorKind::InvalidSignature, TokenRejection::BadSignature),
                (ErrorKind::InvalidKeyFormat, TokenRejection::BadSignature),
                (ErrorKind::InvalidAlgorithm, TokenRejection::WrongAlgorithm),
                (ErrorKind::InvalidIssuer, TokenRejection::WrongIssuer),
                (ErrorKind::InvalidAudience, TokenRejection::WrongAudience),
                (ErrorKind::ExpiredSignature, TokenRejection::Expired),
                (ErrorKind::ImmatureSignature, TokenRejection::NotYetValid),
                (
                    ErrorKind::MissingRequiredClaim("aud".into()),
                    TokenRejection::MissingClaim("aud"),
                ),
                (
                    ErrorKind::InvalidClaimFormat("nbf".into()),
                    TokenRejection::ClaimType("nbf"),
                ),
                (ErrorKind::InvalidToken, TokenRejection::Malformed),
            ];
            for (kind, rejection) in cases {
                assert_eq!(rejection_of(&kind), rejection, "{kind:?}");
            }
            assert!(is_about_claims(&ErrorKind::InvalidIssuer));
            assert!(!is_about_claims(&ErrorKind::InvalidSignature));
            assert!(!is_about_claims(&ErrorKind::InvalidAlgorithm));
        }
    }
}
