//! The end-to-end harness: starts the real `auth-server` and
//! `resource-server` binaries on free loopback ports, each with its own
//! temporary folder, database and key folder, waits until they are ready,
//! and kills them (by PID, only the processes it started) when dropped.
//!
//! By what it starts: [`service`] (one binary, its port and database),
//! [`auth_server`] (the auth-server with its keys), [`stack`] (both
//! services wired together), [`cluster`] (several auth-servers on one
//! PostgreSQL); [`tokens`] reads and forges tokens for the tests.
//!
//! The binaries are the ones cargo built in the workspace target folder
//! (`CARGO_TARGET_DIR` or `<workspace>/target`, debug profile). `cargo test
//! --workspace` builds them because each of their packages has integration
//! tests; `cargo build --workspace --bins` does it explicitly.
//!
//! With `TEST_DATABASE_URL=postgres://…` set, every service of every test
//! gets a fresh PostgreSQL database (`t_<uuid>`), dropped afterwards;
//! otherwise a SQLite file in its temporary folder. `TEST_LOG=1` passes the
//! services' logs through to the test's standard error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod auth_server;
pub mod cluster;
pub mod service;
pub mod stack;
pub mod tokens;

pub use auth_server::AuthServer;
pub use service::{Service, TestDatabase, binary, free_port, passthrough_env, target_dir};
pub use stack::{Stack, StackOptions, User, spawn_stack, spawn_stack_with, unescape_html};
pub use tokens::{ForgingKey, claims_of, header_of, now, part_of, sign_hs256, signing_input};

pub const PASSWORD: &str = "violet-harbor-quantum-91x";
pub const AUDIENCE: &str = "profile-api";
