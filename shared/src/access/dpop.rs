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
//! Seen `jti`s live in memory, bounded in count and kept for the span in
//! which their proof could still pass; a resource server keeps no shared
//! state, so a proof replayed at another instance is that instance's first
//! sight of it, which RFC 9449 §11.1 accepts for a server without one.

use std::time::Duration;

use moka::sync::Cache;
use sha2::{Digest, Sha256};

use super::RequestHead;
use crate::dpop::{PROOF_WINDOW_SECS, ProofError, ProofRequest, check_proof_digested};

/// The algorithms a resource server takes proofs in, as challenges name
/// them.
pub const DPOP_ALGS: &str = "ES256 PS256 RS256 EdDSA";

/// At most this many `jti`s are remembered: about 1,600 proofs a second
/// for the whole window, in some 20 MiB.
const MAX_SEEN_JTIS: u64 = 200_000;

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
    seen: Cache<[u8; 32], ()>,
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
            // A proof passes while its iat is within the window of now,
            // either way: its jti must outlive both halves.
            seen: Cache::builder()
                .max_capacity(MAX_SEEN_JTIS)
                .time_to_live(Duration::from_secs(2 * PROOF_WINDOW_SECS.unsigned_abs()))
                .build(),
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
        // another's. `or_insert_with` is moka's coalescing insert: of any
        // number of requests racing with one proof exactly one evaluates it
        // and finds the entry fresh. (`or_insert` is a get, then an insert:
        // two racing requests could both find it fresh, and did, in 1 of 20
        // trials of the e2e race.)
        let mut hasher = Sha256::new();
        hasher.update(verified.jkt.as_bytes());
        hasher.update([0]);
        hasher.update(verified.jti.as_bytes());
        let key: [u8; 32] = hasher.finalize().into();
        if !self.seen.entry(key).or_insert_with(|| ()).is_fresh() {
            return Err(ProofRefusal::Replayed);
        }
        Ok(())
    }
}
