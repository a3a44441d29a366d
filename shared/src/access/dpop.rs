//! The DPoP scheme at a resource server (RFC 9449 §7): what a request
//! under `Authorization: DPoP` must show beyond a valid token. Its one
//! `DPoP` header must pass [`check_proof`] for this request's method and
//! URL (the service's public base URL and the request's path) with `ath`
//! the token's hash; the proof's key must be the one the token's `cnf`
//! names; and its `jti` must not have been seen in the window.
//!
//! The verified-token cache may skip the token's signature, but every
//! request's proof goes through all of this.
//!
//! Seen `jti`s live in memory ([`SeenJtis`]), bounded in count and kept
//! for the span in which their proof could still pass; a resource server keeps no shared
//! state, so a proof replayed at another instance is that instance's first
//! sight of it, which RFC 9449 §11.1 accepts for a server without one.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::RequestHead;
use crate::dpop::{PROOF_WINDOW_SECS, ProofError, ProofRequest, check_proof_digested};

/// The algorithms a resource server takes proofs in, as challenges name
/// them.
pub const DPOP_ALGS: &str = "ES256 PS256 RS256 EdDSA";

/// At most this many `jti`s are remembered: about 1,600 proofs a second
/// for the whole window, in some 10 MiB.
const MAX_SEEN_JTIS: usize = 200_000;
/// How long a seen `jti` must be remembered: a proof passes while its
/// `iat` is within the window of now, either way.
const SEEN_FOR: Duration = Duration::from_secs(2 * PROOF_WINDOW_SECS.unsigned_abs());

/// Why a request under the DPoP scheme is refused though its token is
/// good. The text is for logs; it never holds the proof or the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofRefusal {
    #[error("no DPoP header")]
    Missing,
    #[error("more than one DPoP header")]
    Repeated,
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error("the proof's key is not the one the token is bound to")]
    OtherKey,
    #[error("the proof's jti was seen within the window")]
    Replayed,
}

impl ProofRefusal {
    /// A short stable label for logs.
    pub fn label(self) -> &'static str {
        match self {
            ProofRefusal::Missing => "missing",
            ProofRefusal::Repeated => "repeated",
            ProofRefusal::Proof(_) => "proof",
            ProofRefusal::OtherKey => "other_key",
            ProofRefusal::Replayed => "replayed",
        }
    }
}

/// The proof check of one service: the base URL it is called by, and the
/// `jti`s it has seen.
pub struct DpopCheck {
    public_url: String,
    seen: SeenJtis,
}

impl std::fmt::Debug for DpopCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopCheck")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl DpopCheck {
    /// Proofs for requests to `public_url` (the scheme, host, port and any
    /// path prefix clients call this service by) followed by the path.
    pub fn new(public_url: &str) -> DpopCheck {
        DpopCheck {
            public_url: public_url.trim_end_matches('/').to_owned(),
            seen: SeenJtis::new(SEEN_FOR, MAX_SEEN_JTIS),
        }
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Checks the proof of `request`, which came with `token` bound to the
    /// key of thumbprint `jkt`, at time `now`. `digest`, when given, is the
    /// token's SHA-256, already computed for the token cache.
    pub(super) fn check<R>(
        &self,
        request: &R,
        token: &str,
        digest: Option<&[u8; 32]>,
        jkt: &str,
        now: i64,
    ) -> Result<(), ProofRefusal>
    where
        R: RequestHead + ?Sized,
    {
        let mut proofs = request.header_values("dpop");
        let proof = proofs.next().ok_or(ProofRefusal::Missing)?;
        if proofs.next().is_some() {
            return Err(ProofRefusal::Repeated);
        }
        let url = format!("{}{}", self.public_url, request.path());
        let verified = check_proof_digested(
            proof,
            &ProofRequest {
                method: request.method(),
                url: &url,
                access_token: Some(token),
                now,
            },
            digest,
        )?;
        if verified.jkt != jkt {
            return Err(ProofRefusal::OtherKey);
        }
        // Keyed by key and jti, so that one client's jti cannot spend
        // another's.
        let mut hasher = Sha256::new();
        hasher.update(verified.jkt.as_bytes());
        hasher.update([0]);
        hasher.update(verified.jti.as_bytes());
        let key: [u8; 32] = hasher.finalize().into();
        if !self.seen.first_sight(key, Instant::now()) {
            return Err(ProofRefusal::Replayed);
        }
        Ok(())
    }
}

/// The `jti`s seen, in two generations under one lock: a key is seen
/// while it is in either; new keys go to the current one, which becomes
/// the previous one when it is `keep` old or holds half the bound, and the
/// previous one is then dropped whole. So a key is remembered at least
/// `keep` (while fewer than `bound` / 2 arrive in that time, as with any
/// bounded memory) and at most twice that, in at most `bound` keys, for
/// one hash lookup and one insert a proof. The check and the insert are
/// one step under the lock: of requests racing with one proof, exactly one
/// finds it new. (A moka cache did the same with a coalescing insert, at
/// several times the cost a proof.)
struct SeenJtis {
    keep: Duration,
    generation_cap: usize,
    generations: Mutex<Generations>,
}

struct Generations {
    current: HashSet<[u8; 32]>,
    previous: HashSet<[u8; 32]>,
    current_since: Instant,
}

impl SeenJtis {
    fn new(keep: Duration, bound: usize) -> SeenJtis {
        SeenJtis {
            keep,
            generation_cap: (bound / 2).max(1),
            generations: Mutex::new(Generations {
                current: HashSet::new(),
                previous: HashSet::new(),
                current_since: Instant::now(),
            }),
        }
    }

    /// Remembers `key` at `now`; `false` when it was seen already.
    fn first_sight(&self, key: [u8; 32], now: Instant) -> bool {
        // A panic elsewhere while the lock was held leaves two sets that
        // are still sets: carry on with them.
        let mut generations = match self.generations.lock() {
            Ok(held) => held,
            Err(poisoned) => poisoned.into_inner(),
        };
        let g = &mut *generations;
        if g.previous.contains(&key) || g.current.contains(&key) {
            return false;
        }
        if now.saturating_duration_since(g.current_since) >= self.keep
            || g.current.len() >= self.generation_cap
        {
            g.previous = std::mem::take(&mut g.current);
            g.current_since = now;
        }
        g.current.insert(key)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_jti_is_seen_once_for_at_least_its_span_in_bounded_memory() {
        let keep = Duration::from_secs(120);
        let seen = SeenJtis::new(keep, 10);
        let start = Instant::now();
        let key = |n: u8| [n; 32];
        assert!(seen.first_sight(key(1), start));
        assert!(!seen.first_sight(key(1), start), "a replay");
        // One generation later it is still remembered, and then forgotten.
        let later = start + keep;
        assert!(seen.first_sight(key(2), later), "rotates");
        assert!(
            !seen.first_sight(key(1), later),
            "in the previous generation"
        );
        let much_later = later + keep;
        assert!(seen.first_sight(key(3), much_later), "rotates again");
        assert!(seen.first_sight(key(1), much_later), "past its span");
        // Never more than the bound: a full generation rotates early.
        for n in 10..40 {
            assert!(seen.first_sight(key(n), much_later));
            let g = seen.generations.lock().unwrap();
            assert!(g.current.len() + g.previous.len() <= 10);
        }
    }
}
