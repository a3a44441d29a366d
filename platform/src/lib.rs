//! What the two services of this product stand on, apart from what they
//! serve: the settings loader and its checks ([`settings`]), the boot
//! sequence ([`boot`]), logs and metrics ([`observe`]), liveness
//! ([`health`]), the OpenAPI document's routes ([`docs`]), opening the
//! database ([`db`]), the client address behind trusted proxies
//! ([`client_addr`]) and cheap random ids ([`ids`]).
//!
//! This is Rocket and sqlx glue for the auth-server and the
//! resource-server only. The wire contract and the token verifier, which
//! any service may adopt whatever its framework, are the `shared` crate;
//! nothing here is part of it, so adopting the verifier never brings these
//! services' settings, database or logging along.

pub mod boot;
pub mod client_addr;
pub mod db;
pub mod docs;
pub mod health;
pub mod ids;
pub mod observe;
pub mod settings;
