//! One integration binary for the verifier: token validation against a
//! fixed key set, the verified-token cache, the JWKS cache against a fake
//! issuer over real HTTP and through a fetcher of its own, and the Rocket
//! and tower adapters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(all(feature = "rocket", feature = "tower"))]
mod adapters;
mod cache;
mod fetcher;
mod properties;
mod support;
mod token_cache;
mod tokens;
