//! The wire contract shared by the token issuer and every service that trusts
//! its tokens: access-token claims (RFC 9068), scopes, JWK types (RFC 7517,
//! RFC 7638 thumbprints), well-known paths and error bodies.
//!
//! Nothing here depends on a web framework or a database unless the `rocket`
//! feature is on, so any Rust service can adopt the crate.

pub mod claims;
pub mod client_addr;
pub mod clock;
pub mod jwk;
pub mod oauth;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod scope;

pub use claims::{AccessTokenClaims, Audience};
pub use clock::{Clock, SystemClock};
pub use jwk::{Jwk, JwkSet};
pub use scope::{Scope, ScopeSet};
pub mod bearer;
#[cfg(feature = "rocket")]
pub mod guard;
pub mod jwks_cache;
#[cfg(feature = "rocket")]
pub mod observe;
pub mod verifier;
