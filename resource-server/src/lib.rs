//! The resource-server: an independent profile API that trusts only the
//! tokens its issuer's published keys prove. `rocket()` builds the whole
//! service, so the binary, in-process tests and end-to-end tests run the
//! same thing; each feature is one module with a `stage()`.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod health;
pub mod openapi;
pub mod profile_cache;
pub mod profiles;
pub mod startup;
pub mod telemetry;

use std::sync::Arc;

use rocket::figment::Figment;
use rocket::{Build, Rocket};
use shared::clock::{Clock, SystemClock};

pub use config::{AppConfig, figment};

/// The clock the routes read, managed so tests can stop time.
#[derive(Clone)]
pub struct AppClock(pub Arc<dyn Clock>);

impl AppClock {
    pub fn now(&self) -> i64 {
        self.0.now()
    }
}

/// The service as it runs in production: keys fetched from the issuer,
/// wall-clock time.
pub fn rocket(figment: Figment) -> Rocket<Build> {
    rocket_with(
        figment,
        auth::AuthDeps {
            keys: None,
            clock: Arc::new(SystemClock),
        },
    )
}

/// The service with its key set and clock chosen by the caller (tests).
pub fn rocket_with(figment: Figment, deps: auth::AuthDeps) -> Rocket<Build> {
    let clock = AppClock(deps.clock.clone());
    rocket::custom(figment)
        .manage(clock)
        .register("/", shared::problem::catchers())
        .register("/", shared::guard::catchers())
        // First, so the metrics recorder exists before the JWKS refresher
        // counts its first fetch.
        .attach(shared::observe::stage("resource-server"))
        .attach(config::stage())
        .attach(db::stage())
        .attach(auth::stage(deps))
        .attach(health::stage())
        .attach(profiles::stage())
        .attach(openapi::stage())
}
