//! The signing keys: RSA private keys kept in the database (table
//! `signing_keys`), each sealed under the key-encryption key; the key that
//! signs; and the JWK Set that publishes them. Every instance sharing the
//! database and the KEK holds the same ring.
//!
//! From the bottom up:
//! - [`lifecycle`]: where a key is in its walk (`next` → `active` →
//!   `retiring` → `removed`), derived from instants and the clock;
//! - [`rows`]: the `signing_keys` table and the version row every change
//!   bumps first;
//! - [`kek`]: the key-encryption key and its files;
//! - [`signing_key`]: one key, parsed once, ready to sign;
//! - [`ring`]: the keys at one moment and their JWK Set;
//! - [`import`]: the policy for keys that come from files;
//! - [`schedule`]: the rotation policy (first key, rotate, import, revoke);
//! - [`store`]: the live ring of a running server and its poll;
//! - [`verified`]: our access tokens already verified by the live ring.
//!
//! Outside this folder, the names below are the ones to use.

pub mod error;
pub mod import;
pub mod kek;
pub mod lifecycle;
pub mod metrics;
pub mod ring;
pub mod rows;
pub mod schedule;
pub mod signing_key;
pub mod store;
pub mod verified;

pub use error::{KeyError, KeyStoreError};
pub use kek::Kek;
pub use ring::{JwksDocument, KeyRing};
pub use signing_key::SigningKey;
pub use store::KeyStore;
