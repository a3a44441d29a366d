//! The wire contract of the token issuer, and the verifier any Rust service
//! uses to trust its access tokens.
//!
//! - The contract, with no feature needed: access-token claims (RFC 9068),
//!   scopes, JWK types (RFC 7517, RFC 7638 thumbprints), well-known paths,
//!   the OAuth token and error bodies, problem details (RFC 9457), the clock
//!   and the one RFC 3339 formatter, and the strict JSON parsing (no member
//!   named twice) that tokens and request bodies share.
//! - The verifier (feature `verifier`, on by default): [`verifier`] proves a
//!   token with the keys of [`jwks_cache`], and [`access`] turns a request's
//!   `Authorization` header into the verified caller or an RFC 6750 refusal,
//!   whatever the web framework; [`dpop`] checks RFC 9449 proofs.
//! - One adapter per framework, each a thin door onto [`access`]:
//!   [`guard`] for Rocket (feature `rocket`), [`layer`] for axum and any
//!   tower service (feature `tower`).
//!
//! No web framework and no database is in the default build. What the two
//! services of this product share beyond the contract (settings, boot,
//! logging, database) is the `platform` crate; nothing here depends on it.

pub mod claims;
pub mod clock;
pub mod jwk;
pub mod oauth;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod outbound;
pub mod problem;
pub mod routes;
pub mod scope;
pub mod strict_json;

#[cfg(feature = "verifier")]
pub mod access;
#[cfg(feature = "verifier")]
mod counters;
#[cfg(feature = "verifier")]
pub mod dpop;
#[cfg(feature = "rocket")]
pub mod guard;
#[cfg(feature = "verifier")]
pub mod jwks_cache;
#[cfg(feature = "tower")]
pub mod layer;
#[cfg(feature = "verifier")]
pub mod verifier;

pub use claims::{AccessTokenClaims, Audience};
pub use clock::{Clock, SystemClock};
pub use jwk::{Jwk, JwkSet};
pub use scope::{Scope, ScopeSet};
