//! One integration binary for the verifier: token validation against a
//! fixed key set, and the JWKS cache against a fake issuer over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cache;
mod support;
mod tokens;
