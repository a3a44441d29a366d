//! The auth-server's integration tests: one binary, real HTTP against the
//! real application on a random port, a fresh database per test (SQLite, or
//! PostgreSQL when `TEST_DATABASE_URL` is set).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod authorize;
mod discovery;
mod grants;
mod interop;
mod oauth_support;
mod token_management;
mod health;
mod helpers;
mod keys;
mod observability;
mod signup;
mod token;
