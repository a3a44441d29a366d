//! One integration binary for the verifier: token validation against a
//! fixed key set, the verified-token cache, and the JWKS cache against a
//! fake issuer over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cache;
mod properties;
mod support;
mod token_cache;
mod tokens;
