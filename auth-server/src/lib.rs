//! The auth-server: an OAuth 2.0 token issuer with users and clients in a
//! database, RS256 JWT access tokens (RFC 9068) and a published JWK Set.
//!
//! [`build`] assembles the whole application from settings, so the binary,
//! the in-process tests and the end-to-end tests all run the same thing.
//! Each feature is a module with a `stage()`; the list below is what the
//! service does.

pub mod body;
pub mod cli;
pub mod client_cache;
pub mod clients;
pub mod config;
pub mod cors;
pub mod db;
pub mod discovery;
pub mod error;
pub mod health;
pub mod keys;
pub mod oauth;
pub mod openapi;
pub mod pages;
pub mod password;
pub mod prune;
pub mod telemetry;
pub mod token;
pub mod users;

use std::sync::Arc;

use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::{Build, Rocket};
use shared::clock::{Clock, SystemClock};

use config::{AppConfig, ConfigError};
use db::{Db, DbSetupError};
use keys::{KeyStore, KeyStoreError};
use token::TokenIssuer;

/// The clock the request handlers read; tests may pin it.
#[derive(Clone)]
pub struct AppClock(pub Arc<dyn Clock>);

impl Default for AppClock {
    fn default() -> Self {
        AppClock(Arc::new(SystemClock))
    }
}

/// Why the server cannot start; each names the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("DATABASE_URL: {0}")]
    Database(#[from] DbSetupError),
    /// Already names its setting (`KEYS_DIR`, `KEY_ENCRYPTION_KEY`, …).
    #[error("{0}")]
    Keys(#[from] KeyStoreError),
}

/// Everything the server shares between requests, opened from settings.
pub struct Services {
    pub config: AppConfig,
    pub db: Db,
    pub keys: Arc<KeyStore>,
}

impl Services {
    pub async fn open(figment: &Figment) -> Result<Services, StartupError> {
        let config = AppConfig::from_figment(figment)?;
        let db = Db::connect(&config.database_url).await?;
        let keys = KeyStore::open(&config, &db).await?;
        Ok(Services {
            config,
            db,
            keys: Arc::new(keys),
        })
    }
}

/// Builds the application: settings, database (migrated), keys, routes.
pub async fn build(figment: Figment) -> Result<Rocket<Build>, StartupError> {
    let services = Services::open(&figment).await?;
    Ok(rocket(figment, services))
}

/// Assembles Rocket around already-opened services.
pub fn rocket(figment: Figment, services: Services) -> Rocket<Build> {
    let Services { config, db, keys } = services;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let issuer = Arc::new(TokenIssuer::new(
        keys.clone(),
        config.issuer.clone(),
        config.audience.clone(),
        config.access_token_ttl,
    ));
    password::warm_up();
    rocket::custom(figment)
        .manage(config)
        .manage(db)
        .manage(keys)
        .manage(issuer)
        .manage(AppClock::default())
        .register("/", shared::problem::catchers())
        .attach(health::stage())
        .attach(discovery::stage())
        .attach(users::stage())
        .attach(oauth::stage())
        .attach(cors::stage())
        .attach(openapi::stage())
        .attach(shared::observe::stage("auth-server"))
        .attach(prune::stage())
        .attach(keys::schedule::stage())
        .attach(AdHoc::on_liftoff("announce", |rocket| {
            Box::pin(async move {
                let config = rocket.config();
                // The one line on stdout: scripts and tests read the port from it.
                println!(
                    "auth-server listening on http://{}:{}",
                    config.address, config.port
                );
            })
        }))
}
