//! The public keys of `private_key_jwt` clients (RFC 7523): a JWK Set
//! stored at registration is parsed when used; one registered by
//! `jwks_uri` is fetched and kept by shared's [`JwksCache`], the same cache
//! the resource servers trust this issuer's keys with: cached by the
//! set's `Cache-Control` (fetched again when an assertion needs it after
//! that), refetched at most once a minute on an unknown `kid` behind a
//! single flight, every fetch bounded in time (5 s) and size (64 KiB), no
//! redirect followed. Nothing runs in the background: a set is fetched
//! only for an assertion. A self-registered client's set is fetched only
//! from public addresses, whatever its host resolves to at that moment.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use shared::jwks_cache::{
    JwksCache, JwksConfig, JwksSource, KeyPurpose, VerifyingKey, parse_key_set_for,
};

use crate::store::clients::Client;

/// Sets fetched from `jwks_uri`s, kept by URL.
const MAX_REMOTE_SETS: u64 = 1_000;
/// A set nobody used for this long is dropped.
const IDLE: Duration = Duration::from_secs(3600);
/// How long past its lifetime a set still serves: a short hiccup of the
/// client's server fails no assertion, a removed key is not trusted long.
const MAX_STALE: Duration = Duration::from_secs(60);
/// Least time between two refetches of a set for an unknown `kid`.
const REFETCH_COOLDOWN: Duration = Duration::from_secs(60);

/// The remote key sets of this process's clients. Cheap to clone; clones
/// share the sets.
#[derive(Clone)]
pub struct ClientKeySets {
    /// Sets at operators' URLs, fetched from any address.
    remote: moka::sync::Cache<String, JwksCache>,
    /// Sets at strangers' URLs (self-registered clients), fetched only
    /// from public addresses: kept apart, so that an operator's cache of
    /// the same URL is never served to a stranger or the other way round.
    strangers: moka::sync::Cache<String, JwksCache>,
}

impl std::fmt::Debug for ClientKeySets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKeySets")
            .field("remote", &self.remote.entry_count())
            .field("strangers", &self.strangers.entry_count())
            .finish()
    }
}

impl Default for ClientKeySets {
    fn default() -> Self {
        let sets = || {
            moka::sync::Cache::builder()
                .max_capacity(MAX_REMOTE_SETS)
                .time_to_idle(IDLE)
                .build()
        };
        ClientKeySets {
            remote: sets(),
            strangers: sets(),
        }
    }
}

impl ClientKeySets {
    /// The keys of `client` a signature naming `kid` (or none) may have
    /// been made with; empty when there are none (an unreachable or
    /// unusable `jwks_uri` is logged by the cache).
    pub async fn keys(&self, client: &Client, kid: Option<&str>) -> Vec<Arc<VerifyingKey>> {
        if let Some(jwks) = &client.auth.jwks {
            let Ok(set) = serde_json::from_str::<Value>(jwks) else {
                tracing::warn!(client_id = %client.id, "the client's registered JWK Set is not JSON");
                return Vec::new();
            };
            let keys = parse_key_set_for(&set, KeyPurpose::ClientSignatures).unwrap_or_default();
            return match kid {
                Some(kid) => keys.get(kid).cloned().into_iter().collect(),
                None => keys.into_values().collect(),
            };
        }
        let Some(uri) = &client.auth.jwks_uri else {
            return Vec::new();
        };
        let Some(cache) = self.remote_set(uri, client.self_registered) else {
            tracing::warn!(client_id = %client.id, "the client's jwks_uri cannot be fetched");
            return Vec::new();
        };
        let keys = cache.keys_for(kid).await;
        if keys.is_empty() {
            tracing::warn!(client_id = %client.id, health = ?cache.health(),
                "no key of the client's jwks_uri matches its assertion");
        }
        keys
    }

    /// The cache of the set at `uri`; a stranger's (`public_only`) is
    /// fetched only from public addresses.
    fn remote_set(&self, uri: &str, public_only: bool) -> Option<JwksCache> {
        let sets = if public_only {
            &self.strangers
        } else {
            &self.remote
        };
        if let Some(cache) = sets.get(uri) {
            return Some(cache);
        }
        let url = url::Url::parse(uri).ok()?;
        let mut config = JwksConfig::new(JwksSource::Url(url));
        config.purpose = KeyPurpose::ClientSignatures;
        config.refetch_cooldown = REFETCH_COOLDOWN;
        config.max_stale = MAX_STALE;
        config.public_addresses_only = public_only;
        let fresh = JwksCache::new(config).ok()?;
        Some(sets.get_with(uri.to_owned(), || fresh))
    }
}
