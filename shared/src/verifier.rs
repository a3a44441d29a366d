//! The one JWS verifier of the workspace: proves an RS256 JWT (RFC 9068
//! access tokens, and the issuer's own id_tokens) with a key from a key
//! source (the resource server's [`JwksCache`], the issuer's own key ring)
//! and checks its claims, following RFC 8725. [`Verifier::verify`] is the
//! whole of it for a resource server; the steps live beside it:
//!
//! - [`jws`]: the checks that need no key, ours and visible, before anything
//!   else is done. Oversized tokens are refused before anything is decoded;
//!   the compact form must have three non-empty parts; a member named twice
//!   in the header (or later the claims), at any depth, is refused (RFC 7515
//!   §4 and RFC 7519 §4 let a verifier either refuse or keep the last;
//!   keeping one means two parsers of one token may disagree on which `sub`
//!   it carries); the algorithm comes from our configuration and the token's
//!   `alg` must equal it; `typ` must name the kind of token expected; the key
//!   comes only from our key source, by `kid`, never from `jku`, `x5u`, `x5c`
//!   or `jwk` (a token carrying any of them is refused); an unknown `crit` is
//!   refused. Then the signature, checked by [`jsonwebtoken::decode`] with
//!   the key's `DecodingKey` built once when the key set was parsed.
//! - [`rules`]: what the claims are held to. `jsonwebtoken`'s `Validation`
//!   pins RS256, `iss`, `aud` and the claims that must be present; once the
//!   signature is proven we read the claims again ourselves, because
//!   `serde_json` keeps the last of two equal names (the duplicate check
//!   needs its own parse) and RFC 9068 §2.2 requires exact JSON types. Our
//!   reading comes first and names the reason for a refusal; a token that
//!   `jsonwebtoken` refused is refused even when our reading finds no fault,
//!   so neither of the two can let a token through on its own.
//! - [`rejection`]: the reasons, with the labels metrics and logs use.
//!
//! Time is ours: [`Verifier::verify`] takes `now` as a parameter, so expiry
//! tests need no sleeps and run on a fake clock, and it refuses a token on
//! or after `exp` + leeway (RFC 7519 §4.1.4), and one whose `nbf` or `iat`
//! lies beyond `now` + leeway. `jsonwebtoken` can only read the wall clock
//! and accepts up to the second after `exp` + leeway, so its `exp` and `nbf`
//! checks are off: on a fake clock they would refuse every token of a test
//! whose clock is behind the real one (ours start in 2025) and accept ones
//! our clock has expired, and in production they would only repeat ours a
//! second apart. Introspection and the id_token hint want the claims
//! whatever their expiry and make no time check at all.
//!
//! With the `token-cache` feature, a token that passed is remembered in a
//! bounded [`token_cache`] until its `exp` or until its key leaves the
//! issuer's set, so that the signature is checked once per token rather
//! than once per request; see that module for why a remembered answer is
//! always the one a full check would give. A hit never reaches
//! `jsonwebtoken`.

pub mod jws;
pub mod rejection;
pub mod rules;
#[cfg(feature = "token-cache")]
pub mod token_cache;

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::claims::AccessTokenClaims;
use crate::counters::static_counter;
use crate::jwks_cache::JwksCache;
use crate::scope::ScopeSet;

pub use jws::{Jws, TokenKind, is_access_token_typ};
pub use rejection::TokenRejection;
pub use rules::ClaimRules;
#[cfg(feature = "token-cache")]
use token_cache::TokenCache;

/// Tokens longer than this are refused unread; ours are well under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// RFC 8725 §3.1: the one algorithm we accept, from configuration.
pub const ALGORITHM: &str = "RS256";

/// The most clock skew we tolerate on `exp`, `nbf` and `iat`.
pub const MAX_LEEWAY_SECS: i64 = 60;

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

/// Bounds of the verified-token cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheConfig {
    /// Most tokens remembered; 0 turns the cache off.
    pub max_entries: u64,
    /// Most bytes the remembered claims may take, as the weigher counts them.
    pub max_bytes: u64,
}

impl TokenCacheConfig {
    /// No cache: every request pays a full verification.
    pub const DISABLED: TokenCacheConfig = TokenCacheConfig {
        max_entries: 0,
        max_bytes: 0,
    };
}

impl Default for TokenCacheConfig {
    /// 65,536 tokens in 32 MiB: entries are about 600 bytes, so either bound
    /// can bite first.
    fn default() -> TokenCacheConfig {
        TokenCacheConfig {
            max_entries: 65_536,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// How much the cache holds, after pending maintenance has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheUsage {
    pub entries: u64,
    /// The weighted size, which is at least the bytes the entries hold.
    pub weighted_bytes: u64,
}

/// The SHA-256 of a token's bytes: the verified-token cache's key, and
/// what a DPoP proof's `ath` encodes.
pub(crate) type TokenDigest = [u8; 32];

pub(crate) fn token_digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
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
    #[cfg(feature = "token-cache")]
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
        Verifier {
            #[cfg(feature = "token-cache")]
            cache: Verifier::token_cache(&config, &keys),
            config,
            rules,
            keys,
        }
    }

    /// The verified-token cache the configuration asks for, told by `keys`
    /// which kids leave the issuer's set.
    #[cfg(feature = "token-cache")]
    fn token_cache(config: &VerifierConfig, keys: &JwksCache) -> Option<Arc<TokenCache>> {
        let cache = Arc::new(TokenCache::new(config.cache)?);
        // Weak, so that a dropped verifier does not keep its cache alive
        // inside the key set; the listener then unregisters itself.
        let weak = Arc::downgrade(&cache);
        keys.on_keys_removed(move |kids| match weak.upgrade() {
            Some(cache) => {
                cache.forget_kids(kids);
                true
            }
            None => false,
        });
        Some(cache)
    }

    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    pub fn keys(&self) -> &JwksCache {
        &self.keys
    }

    /// What the token cache holds, after its pending maintenance; `None`
    /// when it is off (or built without the `token-cache` feature).
    pub fn token_cache_usage(&self) -> Option<TokenCacheUsage> {
        #[cfg(feature = "token-cache")]
        return self.cache.as_ref().map(|cache| cache.usage());
        #[cfg(not(feature = "token-cache"))]
        None
    }

    /// Verifies `token` at time `now` (Unix seconds, from a
    /// [`Clock`](crate::clock::Clock)). May wait for one shared JWKS refetch
    /// when the token names a key we have not seen.
    /// The answer is shared with the token cache: a remembered token costs
    /// no copy of its claims.
    pub async fn verify(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Arc<VerifiedToken>, TokenRejection> {
        self.verify_digested(token, None, now).await
    }

    /// [`Verifier::verify`] for a caller that hashed `token` already
    /// ([`token_digest`], for a DPoP proof's `ath`): the token cache is
    /// keyed by that same digest. `digest` must be that of `token`.
    pub(crate) async fn verify_digested(
        &self,
        token: &str,
        digest: Option<&TokenDigest>,
        now: i64,
    ) -> Result<Arc<VerifiedToken>, TokenRejection> {
        let result = self.verify_inner(token, digest, now).await;
        match &result {
            Ok(_) => static_counter!("token_verifications_total", "result" => "valid").increment(1),
            Err(rejection) => metrics::counter!(
                "token_verifications_total",
                "result" => "rejected",
                "reason" => rejection.label()
            )
            .increment(1),
        }
        result
    }

    async fn verify_inner(
        &self,
        token: &str,
        digest: Option<&TokenDigest>,
        now: i64,
    ) -> Result<Arc<VerifiedToken>, TokenRejection> {
        #[cfg(feature = "token-cache")]
        if let Some(cache) = &self.cache {
            return self.verify_cached(cache, token, digest, now).await;
        }
        let _ = digest;
        self.verify_fully(token, now).await.map(Arc::new)
    }

    /// A remembered answer when there is one that still holds; else every
    /// check, remembered for next time.
    #[cfg(feature = "token-cache")]
    async fn verify_cached(
        &self,
        cache: &TokenCache,
        token: &str,
        digest: Option<&TokenDigest>,
        now: i64,
    ) -> Result<Arc<VerifiedToken>, TokenRejection> {
        // Refused unread, as by the full check, and before any hashing.
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenRejection::TooLong);
        }
        let key = match digest {
            Some(digest) => *digest,
            None => token_digest(token),
        };
        if let Some(entry) = cache.get(&key) {
            let verified = &entry.verified;
            // At exp the entry is done whatever the leeway: the full check
            // below decides, exactly as without a cache, and does not cache.
            if now < verified.claims.exp && self.keys.serves(&verified.kid) {
                static_counter!("token_cache_total", "outcome" => "hit").increment(1);
                self.rules.check(&verified.claims, Some(now))?;
                return Ok(Arc::clone(verified));
            }
            cache.remove(&key);
        }
        static_counter!("token_cache_total", "outcome" => "miss").increment(1);
        let verified = Arc::new(self.verify_fully(token, now).await?);
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
