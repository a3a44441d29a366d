//! Access-token authentication for this service: builds the JWKS cache and
//! the verifier from the settings (or takes injected ones in tests), starts
//! the background refresher, and gives the [`Authenticator`] that the
//! `shared` Rocket guard reads from managed state.

use std::sync::Arc;

use platform::boot::Background;
use platform::settings::SettingError;
use shared::access::Authenticator;
use shared::clock::{Clock, SystemClock};
use shared::jwks_cache::{JwksCache, JwksConfig, JwksSource};
use shared::verifier::{Verifier, VerifierConfig};

use crate::config::AppConfig;

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

impl Default for AuthDeps {
    /// Production: keys fetched from the issuer, wall-clock time.
    fn default() -> Self {
        AuthDeps {
            keys: None,
            clock: Arc::new(SystemClock),
        }
    }
}

/// The key cache and the authenticator; the refresher runs in `background`.
pub fn open(
    config: &AppConfig,
    deps: AuthDeps,
    background: &mut Background,
) -> Result<(Keys, Authenticator), SettingError> {
    let cache = match deps.keys {
        Some(cache) => cache,
        None => {
            let source = match &config.jwks_url {
                Some(url) => JwksSource::Url(url.clone()),
                None => JwksSource::Discover {
                    issuer: config.issuer.clone(),
                },
            };
            JwksCache::new(JwksConfig::new(source))
                .map_err(|e| SettingError::new("JWKS_URL", e.to_string()))?
        }
    };
    // Fetches at once and then ahead of every expiry; /ready stays 503
    // until the first fetch succeeds.
    background.adopt(cache.spawn_refresher());
    let verifier = Arc::new(Verifier::new(
        VerifierConfig::new(config.issuer.clone(), config.audience.clone()),
        cache.clone(),
    ));
    let auth =
        Authenticator::new(verifier, deps.clock, &config.audience).with_dpop(&config.public_url);
    Ok((Keys(cache), auth))
}
