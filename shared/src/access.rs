//! Access to a protected resource, whatever the web framework: the
//! [`Authenticator`] reads a request's credentials ([`credentials`]), has
//! the [`Verifier`] prove the token, and answers with the verified caller
//! ([`Authenticated`]) or an [`AccessError`] whose HTTP answer
//! [`refusal`] writes.
//!
//! A framework adapter only shows the Authenticator its request through
//! [`RequestHead`] and sends the [`Refusal`] as it is: the Rocket guard
//! (`crate::guard`) and the tower layer (`crate::layer`) hold no decision
//! of their own. What a sender-constrained scheme (RFC 9449) will need of
//! the request, the proof header, the method and the path, comes through
//! the same trait; the check itself is [`dpop`], turned on by
//! [`Authenticator::with_dpop`].

pub mod credentials;
pub mod dpop;
pub mod refusal;

use std::sync::Arc;

use crate::clock::Clock;
use crate::counters::static_counter;
use crate::scope::Scope;
use crate::verifier::{MAX_TOKEN_BYTES, TokenRejection, VerifiedToken, Verifier, token_digest};

pub use credentials::{Credentials, Malformed, Scheme, credentials_from_headers};
pub use dpop::{DPOP_ALGS, DpopCheck, ProofRefusal};
pub use refusal::{AccessError, Challenge, Refusal};

/// What authentication reads of an incoming request; each framework
/// adapter implements it over its own request type.
pub trait RequestHead {
    /// The values of every header named `name` (case-insensitively), in
    /// the order they arrived. A value that is not text is given as an
    /// empty string, never skipped, so that it still counts.
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a;

    /// The request's method, as sent (`GET`).
    fn method(&self) -> &str;

    /// The request's path as sent (percent-encoded, without the query).
    fn path(&self) -> &str;
}

/// Authenticates requests against one issuer and audience: managed once
/// and shared by every request (cheap to share behind an `Arc`).
pub struct Authenticator {
    verifier: Arc<Verifier>,
    clock: Arc<dyn Clock>,
    challenge: Challenge,
    dpop: Option<DpopCheck>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("verifier", &self.verifier)
            .field("challenge", &self.challenge)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Tokens checked by `verifier` at the time `clock` tells; refusals
    /// challenge in `realm`.
    pub fn new(verifier: Arc<Verifier>, clock: Arc<dyn Clock>, realm: &str) -> Authenticator {
        Authenticator {
            verifier,
            clock,
            challenge: Challenge::new(realm),
            dpop: None,
        }
    }

    /// Also reads the DPoP scheme (RFC 9449), with proofs for requests to
    /// `public_url`, the base URL clients call this service by; challenges
    /// then name both schemes. Without it a `DPoP` Authorization counts as
    /// no credentials. Tokens bound to a key are refused as `Bearer`
    /// either way.
    pub fn with_dpop(mut self, public_url: &str) -> Authenticator {
        self.dpop = Some(DpopCheck::new(public_url));
        self.challenge = self.challenge.with_dpop();
        self
    }

    pub fn dpop(&self) -> Option<&DpopCheck> {
        self.dpop.as_ref()
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// The caller of `request`, proven by its access token, or why not.
    /// Counts every outcome (`token_checks_total`) and logs the reason for
    /// a refused token, never the token.
    pub async fn authenticate<R>(&self, request: &R) -> Result<Authenticated, AccessError>
    where
        R: RequestHead + ?Sized,
    {
        let result = match credentials_from_headers(request.header_values("authorization")) {
            Err(error) => Err(error),
            Ok(credentials) => self.verify(credentials, request).await,
        };
        // The accepted path, the hot one, counts through a handle taken
        // once (`crate::counters`).
        match &result {
            Ok(_) => static_counter!("token_checks_total", "outcome" => "accepted").increment(1),
            Err(error) => {
                metrics::counter!("token_checks_total", "outcome" => error.label()).increment(1)
            }
        }
        result
    }

    async fn verify<R>(
        &self,
        credentials: Credentials<'_>,
        request: &R,
    ) -> Result<Authenticated, AccessError>
    where
        R: RequestHead + ?Sized,
    {
        let Credentials { scheme, token } = credentials;
        let dpop = match (scheme, &self.dpop) {
            (Scheme::DPoP, None) => return Err(AccessError::Missing),
            (Scheme::DPoP, Some(dpop)) => Some(dpop),
            _ => None,
        };
        let now = self.clock.now();
        // A proof's `ath` is the token's SHA-256, which is also the token
        // cache's key: hashed once for both. An oversized token is refused
        // by the verifier before any hashing.
        let digest =
            (dpop.is_some() && token.len() <= MAX_TOKEN_BYTES).then(|| token_digest(token));
        let verified = match self
            .verifier
            .verify_digested(token, digest.as_ref(), now)
            .await
        {
            Ok(verified) => verified,
            Err(rejection) => {
                tracing::info!(reason = %rejection, "access token refused");
                return Err(AccessError::InvalidToken(rejection));
            }
        };
        let bound = verified.claims.cnf.as_ref().map(|cnf| cnf.jkt.as_str());
        let refused = match (dpop, bound) {
            (None, None) => None,
            // RFC 9449 §7.2: a bound token is worthless without its proof.
            (None, Some(_)) => Some(TokenRejection::BoundAsBearer),
            (Some(_), None) => Some(TokenRejection::NotBound),
            (Some(dpop), Some(jkt)) => {
                if let Err(refusal) = dpop.check(request, token, digest.as_ref(), jkt, now) {
                    tracing::info!(reason = %refusal, "DPoP proof refused");
                    return Err(AccessError::InvalidProof(refusal));
                }
                None
            }
        };
        if let Some(rejection) = refused {
            tracing::info!(reason = %rejection, "access token refused");
            return Err(AccessError::InvalidToken(rejection));
        }
        Ok(Authenticated(verified))
    }

    /// The answer to a request refused with `error`.
    pub fn refusal(&self, error: &AccessError) -> Refusal {
        self.challenge.refusal(error)
    }
}

/// The caller, proven by a verified access token: the verifier's answer,
/// shared with its token cache, so that a remembered token reaches the
/// route without a copy of its claims. Its fields (`claims`, `scopes`,
/// `kid`) read through to [`VerifiedToken`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated(Arc<VerifiedToken>);

impl std::ops::Deref for Authenticated {
    type Target = VerifiedToken;

    fn deref(&self) -> &VerifiedToken {
        &self.0
    }
}

impl From<VerifiedToken> for Authenticated {
    fn from(verified: VerifiedToken) -> Authenticated {
        Authenticated(Arc::new(verified))
    }
}

impl Authenticated {
    /// The user's id, or the client's id for a client-credentials token.
    pub fn sub(&self) -> &str {
        &self.0.claims.sub
    }

    /// The scope check a route declares in one line:
    /// `auth.require(Scope::ProfileWrite)?;`
    pub fn require(&self, scope: Scope) -> Result<(), AccessError> {
        self.require_any(scope, &[])
    }

    /// Passes when the token has `needed` or any of `alternatives`; the
    /// challenge names `needed`.
    pub fn require_any(&self, needed: Scope, alternatives: &[Scope]) -> Result<(), AccessError> {
        let granted =
            self.scopes.has(needed) || alternatives.iter().any(|scope| self.scopes.has(*scope));
        if granted {
            static_counter!("scope_checks_total", "outcome" => "granted").increment(1);
            Ok(())
        } else {
            static_counter!("scope_checks_total", "outcome" => "insufficient_scope").increment(1);
            Err(AccessError::InsufficientScope(needed))
        }
    }
}
