//! The tables, one module per family of them, each the only code that
//! writes its SQL: the database handle and its migrations (`db`), the
//! secrets every credential is made of and stored as (`secrets`), then
//! `users`, `clients` (with `client_cache`), `codes` (authorization codes
//! and the consent page's login tickets), `device_codes` (RFC 8628), `refresh_families` (refresh
//! tokens, their families and the revoked access tokens), `exchanged_tokens`
//! (what each exchanged token descends from), `revocations` (the
//! remembered revocation answers of the admin API and token exchange), `sessions`
//! (sign-in sessions and remembered consent), `throttle` (failed logins and
//! signups per key), `spent_jtis` (client assertions and DPoP proofs
//! already used), `pushed_requests` (RFC 9126), `events` (the audit trail), `logout_deliveries` (back-channel logout:
//! the sessions' clients and the queue of logout tokens), and `prune`,
//! which deletes what has expired from all of them.
//!
//! Nothing here knows HTTP or OAuth's error format: a store answers rows or
//! a `sqlx::Error`, and the code above decides what that means.

pub mod client_cache;
pub mod clients;
pub mod codes;
pub mod db;
pub mod device_codes;
pub mod event_queue;
pub mod events;
pub mod exchanged_tokens;
pub mod logout_deliveries;
pub mod prune;
pub mod pushed_requests;
pub mod refresh_families;
pub mod registration_tokens;
pub mod revocations;
pub mod secrets;
pub mod sessions;
pub mod spent_jtis;
pub mod throttle;
pub mod users;
pub mod write_batches;
pub mod write_queue;

pub use db::Db;
