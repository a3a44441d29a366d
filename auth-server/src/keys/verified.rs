//! Access tokens of ours already verified, so that a token presented again
//! (the admin API's caller, token exchange's subject, introspection of a
//! busy token) costs a SHA-256 and a lookup instead of an RSA verification
//! and a parse.
//!
//! Why an entry is never used after its key stopped verifying:
//! - An entry holds the key that verified it, and a hit counts only while
//!   that very key (the same `Arc`; a reload reuses the keys it keeps) is
//!   still published in the current ring: a key revoked or removed stops
//!   verifying its tokens with the ring that no longer holds it.
//! - Every reload of the ring drops every entry besides, so memory does
//!   not hold the keys of a ring gone by.
//!
//! What is cached is the signature's and the issuer's verdict only, which
//! does not depend on time: callers still check `exp` and `nbf` against
//! their clock on every use. Entries are keyed by the token's SHA-256 (the
//! token itself is not kept), bounded in number, and dropped once the token
//! has expired. Only tokens that verified are remembered, so made-up tokens
//! cannot fill the cache.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use shared::claims::AccessTokenClaims;

use super::ring::KeyRing;
use super::signing_key::SigningKey;

/// Most tokens remembered.
const MAX_ENTRIES: u64 = 10_000;
/// An upper bound on any entry's life; expiry (`exp`) usually comes first.
const TIME_TO_LIVE: Duration = Duration::from_secs(3600);

/// An access token we signed, verified: its claims and the other members
/// of its payload (`act`, `cnf`) that token exchange reads.
#[derive(Debug)]
pub struct VerifiedToken {
    pub claims: AccessTokenClaims,
    pub members: Map<String, Value>,
    /// The key whose signature was checked.
    pub key: Arc<SigningKey>,
}

/// The SHA-256 of a token: what an entry is found by.
pub type TokenDigest = [u8; 32];

pub fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

pub struct VerifiedTokens {
    entries: Cache<TokenDigest, Arc<VerifiedToken>>,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        VerifiedTokens {
            entries: Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(TIME_TO_LIVE)
                .build(),
        }
    }
}

impl VerifiedTokens {
    /// The token of `digest`, if it was verified by a key `ring` still
    /// publishes.
    pub fn get(
        &self,
        digest: &TokenDigest,
        ring: &KeyRing,
        now: i64,
    ) -> Option<Arc<VerifiedToken>> {
        let found = self.entries.get(digest)?;
        if !ring.keys.iter().any(|key| Arc::ptr_eq(key, &found.key)) {
            self.entries.invalidate(digest);
            return None;
        }
        if found.claims.exp <= now {
            // Still ours (the verdict holds whatever the time), but no
            // longer worth its place.
            self.entries.invalidate(digest);
        }
        Some(found)
    }

    /// Remembers a token that verified, unless it has expired.
    pub fn insert(&self, digest: TokenDigest, token: Arc<VerifiedToken>, now: i64) {
        if token.claims.exp > now {
            self.entries.insert(digest, token);
        }
    }

    /// Drops every entry (the ring changed).
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }
}
