//! The auth-server's integration tests: one binary, real HTTP against the
//! real application on a random port, a fresh database per test (SQLite, or
//! PostgreSQL when `TEST_DATABASE_URL` is set).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_api;
mod admin_changes;
mod arbitrary_requests;
mod authorize;
mod backchannel_logout;
mod cli;
mod client_address;
mod device_grant;
mod device_pages;
mod discovery;
mod dpop_issuer;
mod empty_grants;
mod events;
mod grants;
mod health;
mod helpers;
mod interop;
mod key_metrics;
mod keys;
mod oauth_support;
mod observability;
mod oidc;
mod oidc_logout;
mod oidc_sessions;
mod outage;
mod page_security;
mod par;
mod primitives;
mod private_key_jwt;
mod redirect_uris;
mod refresh_families;
mod registration;
mod rotation;
mod signup;
mod signup_limit;
mod throttle;
mod throttle_races;
mod token;
mod token_exchange;
mod token_lifetime;
mod token_management;
mod users_admin;
