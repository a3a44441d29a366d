//! Bearer authentication for this service: builds the JWKS cache and the
//! verifier from the settings (or takes injected ones in tests), starts
//! the background refresher, and manages the `BearerAuth` state that the
//! `shared` guard reads.

use std::sync::Arc;

use rocket::fairing::AdHoc;
use shared::clock::Clock;
use shared::guard::BearerAuth;
use shared::jwks_cache::{JwksCache, JwksConfig, JwksSource};
use shared::verifier::{Verifier, VerifierConfig};

use crate::config::AppConfig;
use crate::startup;

/// The cache, managed so that `/ready` can ask how fresh it is.
#[derive(Debug, Clone)]
pub struct Keys(pub JwksCache);

/// What tests may replace.
#[derive(Clone)]
pub struct AuthDeps {
    /// A fixed key set instead of fetching from the issuer.
    pub keys: Option<JwksCache>,
    pub clock: Arc<dyn Clock>,
}

pub fn stage(deps: AuthDeps) -> AdHoc {
    AdHoc::try_on_ignite("bearer authentication", |rocket| async move {
        let Some(config) = rocket.state::<AppConfig>().cloned() else {
            return Err(rocket);
        };
        // Rocket runs every ignite fairing even after one failed: without a
        // database there is no start-up, so start no JWKS fetches that would
        // log after the one line that names the bad setting.
        if rocket.state::<crate::db::Db>().is_none() {
            return Err(rocket);
        }
        let cache = match deps.keys {
            Some(cache) => cache,
            None => {
                let source = match &config.jwks_url {
                    Some(url) => JwksSource::Url(url.clone()),
                    None => JwksSource::Discover {
                        issuer: config.issuer.clone(),
                    },
                };
                match JwksCache::new(JwksConfig::new(source)) {
                    Ok(cache) => cache,
                    Err(e) => {
                        startup::fail(format!("JWKS_URL: {e}"));
                        return Err(rocket);
                    }
                }
            }
        };
        // Fetches at once and then ahead of every expiry; /ready stays 503
        // until the first fetch succeeds. It stops when the cache is dropped.
        cache.spawn_refresher();
        let verifier = Arc::new(Verifier::new(
            VerifierConfig::new(config.issuer.clone(), config.audience.clone()),
            cache.clone(),
        ));
        let realm = config.audience.clone();
        Ok(rocket
            .manage(Keys(cache))
            .manage(BearerAuth::new(verifier, deps.clock, realm)))
    })
}
