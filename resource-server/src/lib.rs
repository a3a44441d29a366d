//! The resource-server: an independent profile API that trusts only the
//! tokens its issuer's published keys prove.
//!
//! It boots as the auth-server does (`platform::boot`): [`build`] reads the
//! settings, [`Services::open`] opens what the requests share, and
//! [`rocket`] builds the service around them, so the binary, in-process
//! tests and end-to-end tests run the same thing. Each feature is one
//! module with a `stage()`.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod health;
pub mod openapi;
pub mod profile_cache;
pub mod profiles;
pub mod telemetry;

use platform::boot::{Background, StartupError};
use rocket::figment::Figment;
use rocket::{Build, Rocket};
use shared::access::Authenticator;
use shared::clock::AppClock;

use auth::{AuthDeps, Keys};
pub use config::{AppConfig, figment};
use db::Db;

/// Everything the server shares between requests, opened from settings.
pub struct Services {
    pub config: AppConfig,
    pub db: Db,
    pub keys: Keys,
    pub auth: Authenticator,
    /// The clock the routes read, managed so tests can stop time.
    pub clock: AppClock,
    /// The JWKS refresher; it ends when these services are dropped.
    pub background: Background,
}

impl Services {
    /// The services as production runs them: keys fetched from the issuer,
    /// wall-clock time.
    pub async fn open(config: AppConfig) -> Result<Services, StartupError> {
        Services::open_with(config, AuthDeps::default()).await
    }

    /// The services with the key set and clock chosen by the caller (tests).
    pub async fn open_with(config: AppConfig, deps: AuthDeps) -> Result<Services, StartupError> {
        let db = Db::connect(&config.database_url).await?;
        // The metrics recorder first, so that it counts the refresher's
        // first fetch.
        let _ = platform::observe::prometheus();
        let mut background = Background::default();
        let clock = AppClock(deps.clock.clone());
        let (keys, auth) = auth::open(&config, deps, &mut background)?;
        Ok(Services {
            config,
            db,
            keys,
            auth,
            clock,
            background,
        })
    }
}

/// Builds the service from settings: checked, database opened and
/// migrated, key refresher started, routes mounted.
pub async fn build(figment: Figment) -> Result<Rocket<Build>, StartupError> {
    platform::boot::build(figment, AppConfig::from_figment, Services::open, rocket).await
}

/// Assembles Rocket around already-opened services.
pub fn rocket(figment: Figment, services: Services) -> Rocket<Build> {
    let config = services.config;
    let trusted = config.trusted_proxies.clone();
    // The JWK Set's age as of the scrape: `health` sets the gauge.
    let keys = services.keys.clone();
    let jwks_age = platform::observe::ScrapeSeries(std::sync::Arc::new(move || {
        keys.0.health();
        String::new()
    }));
    platform::boot::service("resource-server", figment, config.warnings())
        .manage(trusted)
        .manage(jwks_age)
        .manage(config)
        .manage(services.db)
        .manage(services.keys)
        .manage(services.auth)
        .manage(services.clock)
        .manage(services.background)
        .register("/", shared::problem::catchers())
        .register("/", shared::guard::catchers())
        .attach(health::stage())
        .attach(profiles::stage())
        .attach(openapi::stage())
}
