//! The verified-token cache: a token proven once is not proven again on
//! every request of its lifetime (Envoy's `jwt_authn` does the same), so
//! the RSA signature check leaves the hot path.
//!
//! What keeps it safe:
//! - The key is the SHA-256 of the token's exact bytes, so an entry can only
//!   be found by presenting the very token that was verified: a token with
//!   another audience, issuer, signature or any other byte is another key.
//!   One cache belongs to one [`Verifier`](super::Verifier), whose issuer and
//!   audience never change, so a cached answer is the answer that verifier
//!   gave. Tokens themselves are never stored, and every entry is the same
//!   small size whatever the token's length.
//! - Each entry expires at its token's `exp` (moka's per-entry expiry, to
//!   the second), and every hit checks `now < exp` with the verifier's own
//!   clock, so neither the leeway nor a late eviction stretches it. The time
//!   claims are checked again on every hit, so a hit answers exactly as a
//!   full verification at that moment would.
//! - An entry is only used while its `kid` is still in the served key set:
//!   the JWKS cache tells us which kids left and we drop their entries, and
//!   every hit also asks the key set, which closes the race with a
//!   verification that finished just as its key was removed and covers the
//!   set passing its stale-if-error limit.
//! - Bounded in entries and in bytes: each entry weighs at least
//!   `max_bytes / max_entries`, so a weighted size within `max_bytes` is
//!   also a count within `max_entries`. moka enforces the bound in its
//!   maintenance, which runs at least every few dozen writes.
//! - Only successes are cached: a refusal is recomputed every time, and
//!   unknown kids already have the JWKS cache's bounded negative cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::{TokenCacheConfig, TokenCacheUsage, TokenDigest, VerifiedToken};

/// SHA-256 of the token's bytes ([`super::token_digest`]).
pub(crate) type TokenKey = TokenDigest;

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) verified: Arc<VerifiedToken>,
    /// From the moment of insertion to `exp`, on the verifier's clock.
    lifetime: Duration,
}

/// Expires each entry at its token's `exp`.
struct UntilExp;

impl moka::Expiry<TokenKey, Arc<Entry>> for UntilExp {
    fn expire_after_create(
        &self,
        _key: &TokenKey,
        entry: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.lifetime)
    }
}

#[derive(Clone)]
pub(crate) struct TokenCache {
    entries: Cache<TokenKey, Arc<Entry>>,
}

impl TokenCache {
    /// `None` when the configuration turns the cache off.
    pub(crate) fn new(config: TokenCacheConfig) -> Option<TokenCache> {
        if config.max_entries == 0 || config.max_bytes == 0 {
            return None;
        }
        let floor = weight_floor(config);
        let entries = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(move |_key: &TokenKey, entry: &Arc<Entry>| weight(entry, floor))
            .expire_after(UntilExp)
            .build();
        Some(TokenCache { entries })
    }

    /// The entry for `key` if it is there; its validity is the caller's
    /// to check.
    pub(crate) fn get(&self, key: &TokenKey) -> Option<Arc<Entry>> {
        self.entries.get(key)
    }

    /// Remembers a token verified at `now` until its `exp`; a token already
    /// at or past `exp` (accepted only within the leeway) is not cached.
    pub(crate) fn insert(&self, key: TokenKey, verified: &Arc<VerifiedToken>, now: i64) {
        let Some(left) = verified
            .claims
            .exp
            .checked_sub(now)
            .and_then(|secs| u64::try_from(secs).ok())
            .filter(|secs| *secs > 0)
        else {
            return;
        };
        let entry = Entry {
            verified: Arc::clone(verified),
            lifetime: Duration::from_secs(left),
        };
        self.entries.insert(key, Arc::new(entry));
    }

    pub(crate) fn remove(&self, key: &TokenKey) {
        self.entries.invalidate(key);
    }

    /// Drops every entry proven with one of `kids`. Runs only when the
    /// issuer's set lost keys, so a walk over the (bounded) cache is fine.
    pub(crate) fn forget_kids(&self, kids: &[String]) {
        let gone: Vec<Arc<TokenKey>> = self
            .entries
            .iter()
            .filter(|(_, entry)| kids.contains(&entry.verified.kid))
            .map(|(key, _)| key)
            .collect();
        for key in &gone {
            self.entries.invalidate(key.as_ref());
        }
        tracing::debug!(
            dropped = gone.len(),
            "dropped cached tokens of removed keys"
        );
    }

    pub(crate) fn usage(&self) -> TokenCacheUsage {
        self.entries.run_pending_tasks();
        TokenCacheUsage {
            entries: self.entries.entry_count(),
            weighted_bytes: self.entries.weighted_size(),
        }
    }

    /// Remembers a synthetic entry, for the bound tests: signing 100,000
    /// real tokens would take minutes.
    #[cfg(test)]
    pub(crate) fn insert_entry(&self, key: TokenKey, verified: VerifiedToken, lifetime: Duration) {
        self.entries.insert(
            key,
            Arc::new(Entry {
                verified: Arc::new(verified),
                lifetime,
            }),
        );
    }
}

/// The least weight of an entry, which turns the byte bound into an entry
/// bound as well.
fn weight_floor(config: TokenCacheConfig) -> u32 {
    u32::try_from(config.max_bytes.div_ceil(config.max_entries)).unwrap_or(u32::MAX)
}

/// Bytes an entry holds: the key, the entry and its strings, and about what
/// moka keeps beside each entry (its node, timer and frequency records).
fn weight(entry: &Entry, floor: u32) -> u32 {
    const MOKA_OVERHEAD: usize = 160;
    let verified = &entry.verified;
    let claims = &verified.claims;
    let audience = match &claims.aud {
        crate::claims::Audience::One(one) => one.len(),
        crate::claims::Audience::Many(all) => all
            .iter()
            .map(|a| a.len() + std::mem::size_of::<String>())
            .sum(),
    };
    let strings = verified.kid.len()
        + claims.iss.len()
        + claims.sub.len()
        + audience
        + claims.jti.len()
        + claims.client_id.len()
        + claims.scope.len()
        + claims.email.as_ref().map_or(0, String::len)
        + claims.name.as_ref().map_or(0, String::len)
        + claims.cnf.as_ref().map_or(0, |cnf| cnf.jkt.len())
        // A BTreeSet node holds up to 11 of them; count a share of it.
        + verified
            .scopes
            .iter()
            .map(|scope| scope.len() + 2 * std::mem::size_of::<String>())
            .sum::<usize>();
    let bytes = std::mem::size_of::<TokenKey>()
        + std::mem::size_of::<Entry>()
        + std::mem::size_of::<VerifiedToken>()
        + 4 * std::mem::size_of::<usize>() // two Arcs' counts
        + strings
        + MOKA_OVERHEAD;
    u32::try_from(bytes).unwrap_or(u32::MAX).max(floor)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::claims::{AccessTokenClaims, Audience};
    use crate::scope::ScopeSet;

    fn verified(n: u64) -> VerifiedToken {
        let scope = "profile:read profile:write".to_owned();
        VerifiedToken {
            kid: "kid-1".into(),
            scopes: ScopeSet::parse(&scope),
            claims: AccessTokenClaims {
                iss: "https://issuer.test".into(),
                sub: format!("user-{n}"),
                aud: Audience::One("profile-api".into()),
                exp: 2_000_000_000,
                iat: 1_750_000_000,
                nbf: 1_750_000_000,
                jti: format!("jti-{n:032}"),
                client_id: "first-party".into(),
                scope,
                email: Some(format!("user-{n}@example.com")),
                name: Some("A user".into()),
                cnf: None,
            },
        }
    }

    fn key(n: u64) -> TokenKey {
        crate::verifier::token_digest(&format!("token-{n}"))
    }

    #[test]
    fn bounds_hold_under_100_000_distinct_tokens() {
        let config = TokenCacheConfig {
            max_entries: 1_000,
            max_bytes: 1024 * 1024,
        };
        let cache = TokenCache::new(config).unwrap();
        let lifetime = Duration::from_secs(900);
        for n in 0..100_000 {
            cache.insert_entry(key(n), verified(n), lifetime);
            if n % 1_000 == 999 {
                let usage = cache.usage();
                assert!(usage.entries <= config.max_entries, "{usage:?} after {n}");
                assert!(
                    usage.weighted_bytes <= config.max_bytes,
                    "{usage:?} after {n}"
                );
            }
        }
        let usage = cache.usage();
        assert!(usage.entries <= config.max_entries, "{usage:?}");
        assert!(usage.weighted_bytes <= config.max_bytes, "{usage:?}");
        // Full, not emptied: the bound evicts, it does not refuse to cache.
        assert!(usage.entries >= config.max_entries / 2, "{usage:?}");
    }

    #[test]
    fn the_byte_bound_bites_when_entries_are_large() {
        // 200 entries of about 1 KiB in 64 KiB: the bytes bind first.
        let config = TokenCacheConfig {
            max_entries: 10_000,
            max_bytes: 64 * 1024,
        };
        let cache = TokenCache::new(config).unwrap();
        for n in 0..200 {
            let mut big = verified(n);
            big.claims.name = Some("n".repeat(900));
            cache.insert_entry(key(n), big, Duration::from_secs(900));
        }
        let usage = cache.usage();
        assert!(usage.weighted_bytes <= config.max_bytes, "{usage:?}");
        assert!(usage.entries < 64, "{usage:?}");
    }

    #[test]
    fn an_entry_weighs_at_least_what_its_claims_hold() {
        let entry = Entry {
            verified: Arc::new(verified(7)),
            lifetime: Duration::from_secs(1),
        };
        let claims = &entry.verified.claims;
        let held = claims.sub.len() + claims.jti.len() + claims.scope.len() + claims.iss.len();
        assert!(weight(&entry, 0) as usize > held + std::mem::size_of::<Entry>());
        assert_eq!(weight(&entry, 100_000), 100_000);
    }

    #[test]
    fn forgetting_a_kid_drops_only_its_entries() {
        let cache = TokenCache::new(TokenCacheConfig::default()).unwrap();
        for n in 0..10 {
            let mut token = verified(n);
            token.kid = if n % 2 == 0 { "old" } else { "new" }.into();
            cache.insert_entry(key(n), token, Duration::from_secs(900));
        }
        cache.forget_kids(&["old".to_owned()]);
        for n in 0..10 {
            assert_eq!(cache.get(&key(n)).is_some(), n % 2 == 1, "token {n}");
        }
        assert_eq!(cache.usage().entries, 5);
    }

    #[test]
    fn tokens_at_or_past_exp_are_not_cached() {
        let cache = TokenCache::new(TokenCacheConfig::default()).unwrap();
        let token = Arc::new(verified(1));
        let exp = token.claims.exp;
        cache.insert(key(1), &token, exp);
        cache.insert(key(2), &token, exp + 30);
        cache.insert(key(3), &token, exp - 1);
        assert!(cache.get(&key(1)).is_none());
        assert!(cache.get(&key(2)).is_none());
        assert!(cache.get(&key(3)).is_some());
    }

    #[test]
    fn a_zero_bound_turns_the_cache_off() {
        assert!(TokenCache::new(TokenCacheConfig::DISABLED).is_none());
    }
}
