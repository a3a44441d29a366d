//! The wire contract shared by the token issuer and every service that trusts
//! its tokens: access-token claims (RFC 9068), scopes, JWK types (RFC 7517,
//! RFC 7638 thumbprints), well-known paths and error bodies, and the strict
//! JSON parsing (no member named twice) that tokens and request bodies share.
//!
//! Nothing here depends on a web framework or a database unless the `rocket`
//! or `database` feature is on, so any Rust service can adopt the crate.
//! With them on, it also holds what the two services of this product share
//! beyond the wire: the settings loader, the boot sequence, the database
//! opening and the liveness route.

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
pub mod strict_json;

pub use claims::{AccessTokenClaims, Audience};
pub use clock::{Clock, SystemClock};
pub use jwk::{Jwk, JwkSet};
pub use scope::{Scope, ScopeSet};
pub mod bearer;
#[cfg(feature = "rocket")]
pub mod boot;
#[cfg(feature = "database")]
pub mod db;
#[cfg(feature = "rocket")]
pub mod guard;
#[cfg(feature = "rocket")]
pub mod health;
pub mod jwks_cache;
#[cfg(feature = "rocket")]
pub mod observe;
#[cfg(feature = "rocket")]
pub mod settings;
pub mod verifier;
