//! The keys at one moment, as a running server holds them in memory: the
//! published ones (`next`, `active`, `retiring`), the one that signs, and
//! the JWK Set that publishes them, serialized once per change.

use std::collections::HashSet;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use shared::jwk::JwkSet;

use super::lifecycle::{Entry, KeyState, Schedule, signer};
use super::signing_key::SigningKey;

/// The published JWK Set, serialized once per key-set change.
#[derive(Debug, Clone)]
pub struct JwksDocument {
    pub body: Arc<[u8]>,
    /// A strong validator: the quoted hash of the body.
    pub etag: String,
}

impl JwksDocument {
    fn new(set: &JwkSet) -> JwksDocument {
        let body = serde_json::to_vec(set).unwrap_or_default();
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
        JwksDocument {
            body: body.into(),
            etag,
        }
    }
}

/// The keys at one moment: the published ones (`next`, `active`,
/// `retiring`) and the one that signs.
#[derive(Debug)]
pub struct KeyRing {
    pub signing: Arc<SigningKey>,
    /// Published keys, the latest activated first.
    pub keys: Vec<Arc<SigningKey>>,
    pub jwks: JwksDocument,
    /// Since when the signing key signs (Unix seconds).
    pub signing_since: i64,
    /// Whether a `next` key is published and waiting to sign.
    pub rotation_pending: bool,
    /// When a key of this ring changes state next.
    pub next_change: Option<i64>,
    /// The instants of the published keys, for their states at any moment.
    pub entries: Vec<Entry>,
}

impl KeyRing {
    /// The ring at `now` from the keys that could be opened and the
    /// schedule of every key; `None` when no key may sign.
    pub fn new(keys: Vec<Arc<SigningKey>>, schedule: &Schedule, now: i64) -> Option<KeyRing> {
        let present: HashSet<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
        let signer = signer(schedule, &present, now)?;
        let entries: Vec<&Entry> = schedule
            .keys
            .iter()
            .filter(|e| present.contains(e.kid.as_str()))
            .collect();
        let rotation_pending = entries.iter().any(|e| e.state(now) == KeyState::Next);
        let next_change = entries.iter().filter_map(|e| e.next_change(now)).min();
        let mut published: Vec<(i64, Arc<SigningKey>)> = keys
            .iter()
            .filter_map(|key| {
                let entry = entries.iter().find(|e| e.kid == key.kid)?;
                entry
                    .state(now)
                    .is_published()
                    .then(|| (entry.activates_at, key.clone()))
            })
            .collect();
        published.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.kid.cmp(&b.1.kid)));
        let keys: Vec<Arc<SigningKey>> = published.into_iter().map(|(_, k)| k).collect();
        let signing = keys.iter().find(|k| k.kid == signer.kid)?.clone();
        let published_entries = entries
            .iter()
            .filter(|e| keys.iter().any(|k| k.kid == e.kid))
            .map(|e| (*e).clone())
            .collect();
        let set = JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        };
        Some(KeyRing {
            signing,
            jwks: JwksDocument::new(&set),
            keys,
            signing_since: signer.activates_at,
            rotation_pending,
            next_change,
            entries: published_entries,
        })
    }

    /// The key that signs what is issued at `now`. A request reads its clock
    /// before it signs, and the ring may change in between: a token whose
    /// `iat` is a moment before this ring's signing key took over is signed
    /// by the key that signed at that moment (still published, retiring),
    /// so no token is ever signed by a key before its activation.
    pub fn signer_at(&self, now: i64) -> &Arc<SigningKey> {
        if now >= self.signing_since {
            return &self.signing;
        }
        self.entries
            .iter()
            .filter(|e| e.activates_at <= now && e.retires_at.is_none_or(|at| now < at))
            .max_by_key(|e| e.activates_at)
            .and_then(|e| self.keys.iter().find(|k| k.kid == e.kid))
            .unwrap_or(&self.signing)
    }

    /// Whether the server's own schedule (`KEY_ROTATION_INTERVAL`) looks
    /// due in memory: the signing key has signed for `interval` and no
    /// rotation is under way. The database decides
    /// ([`When::Due`](super::schedule::When::Due)).
    pub fn rotation_due(&self, interval: i64, now: i64) -> bool {
        !self.rotation_pending && self.signing_since + interval <= now
    }
}
