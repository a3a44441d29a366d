//! In-process tests of the resource-server through Rocket's local client,
//! with a key set of our own injected into the verifier and time stopped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth_errors;
mod client_address;
mod dpop;
mod health;
mod helpers;
mod key_metrics;
mod profiles;
mod startup;
