//! The auth-server: an OAuth 2.0 token issuer with users and clients in a
//! database, RS256 JWT access tokens (RFC 9068) and a published JWK Set.
//!
//! It boots as the resource-server does (`platform::boot`): [`build`] reads
//! the settings, [`Services::open`] opens what the requests share, and
//! [`rocket`] assembles the application around them, so the binary, the
//! in-process tests and the end-to-end tests all run the same thing.
//! Each feature is a module with a `stage()`; the list below is what the
//! service does.

pub mod accounts;
pub mod admin;
pub mod cli;
pub mod config;
pub mod errors;
pub mod grant_type;
pub mod grants;
pub mod keys;
pub mod oauth;
pub mod oxide;
pub mod pages;
pub mod password_hash;
pub mod routes;
pub mod store;
pub mod telemetry;

use std::sync::Arc;

use platform::boot::{Background, StartupError};
use rocket::figment::Figment;
use rocket::{Build, Rocket};
use shared::clock::AppClock;

use config::AppConfig;
use keys::KeyStore;
use oauth::jwt::TokenMinter;
use store::clients::Clients;
use store::db::Db;

/// Everything the server shares between requests, opened from settings.
pub struct Services {
    pub config: AppConfig,
    pub db: Db,
    /// The `clients` table and the clients this process remembers.
    pub clients: Clients,
    pub keys: Arc<KeyStore>,
    /// Signs every token, with the ring's signing key.
    pub tokens: Arc<TokenMinter>,
    pub clock: AppClock,
    /// The key-ring and client polls and the pruning; they end when these
    /// services are dropped.
    pub background: Background,
}

impl Services {
    /// Opens the database (migrated) and the key ring, and starts the
    /// background tasks.
    pub async fn open(config: AppConfig) -> Result<Services, StartupError> {
        let db = Db::connect(&config.database_url).await?;
        let keys = Arc::new(KeyStore::open(&config, &db).await?);
        let tokens = Arc::new(TokenMinter::new(
            keys.clone(),
            config.issuer.clone(),
            config.audience.clone(),
            config.access_token_ttl,
        ));
        let clock = AppClock::default();
        let mut background = Background::default();
        background.spawn(keys::store::poll(keys.clone(), config.clone()));
        let clients = Clients::new(db.clone());
        background.spawn(clients.clone().poll());
        background.spawn(store::revocations::poll(db.clone()));
        background.spawn(store::prune::run(db.clone(), clock.clone()));
        background.spawn(store::events::run_writer(db.clone()));
        background.spawn(store::write_batches::run_writer(db.clone()));
        background.spawn(store::events::run_pruner(
            db.clone(),
            clock.clone(),
            config.event_retention,
        ));
        background.spawn(oauth::backchannel_logout::run(
            db.clone(),
            tokens.clone(),
            clock.clone(),
        ));
        Ok(Services {
            config,
            db,
            clients,
            keys,
            tokens,
            clock,
            background,
        })
    }
}

/// Builds the application from settings: checked, database opened and
/// migrated, keys loaded, background tasks started, routes mounted.
pub async fn build(figment: Figment) -> Result<Rocket<Build>, StartupError> {
    platform::boot::build(figment, AppConfig::from_figment, Services::open, rocket).await
}

/// Assembles Rocket around already-opened services.
pub fn rocket(figment: Figment, services: Services) -> Rocket<Build> {
    let slots = password_hash::configure(services.config.password_hash_concurrency);
    if slots != services.config.password_hash_concurrency {
        // Only where one process runs several servers (the tests).
        tracing::warn!(
            slots,
            "PASSWORD_HASH_CONCURRENCY: this process's hashing slots were already set"
        );
    }
    let warnings = services.config.warnings();
    let key_series = keys::metrics::scrape_series(
        services.keys.clone(),
        services.config.key_rotation_interval,
        services.clock.clone(),
    );
    platform::boot::service("auth-server", figment, warnings)
        .manage(key_series)
        .manage(services.config)
        .manage(services.db)
        .manage(services.clients)
        .manage(services.keys)
        .manage(services.tokens)
        .manage(services.clock)
        .manage(oauth::client_keys::ClientKeySets::default())
        .manage(store::users::AccountView::default())
        .manage(services.background)
        .register("/", shared::problem::catchers())
        .attach(routes::health::stage())
        .attach(routes::discovery::stage())
        .attach(routes::signup::stage())
        .attach(routes::oauth_endpoints())
        .attach(routes::admin::stage())
        .attach(routes::cors::stage())
        .attach(routes::openapi::stage())
}
