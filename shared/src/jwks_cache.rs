//! `JwksCache`: the issuer's published signing keys, parsed once and kept by
//! `kid`, so that verifying a token never fetches or parses a key on the
//! request path unless the token names a key we have not seen.
//!
//! The cache is what stands between a flood of forged tokens and the issuer,
//! so every refetch is bounded:
//! - lifetime from the issuer's `Cache-Control: max-age`, clamped to a floor
//!   and a ceiling, refreshed in the background ahead of expiry with
//!   `If-None-Match`;
//! - an unknown `kid` triggers one refetch, shared by every request waiting
//!   on it (single flight), at most once per cool-down, and the kid is then
//!   remembered as unknown for a while (negative cache);
//! - when the issuer cannot be reached the cached keys keep serving
//!   (stale-if-error) up to a hard limit, after which nothing verifies and
//!   readiness turns false;
//! - every fetch is bounded in time and size, whichever fetcher runs it;
//! - a key that disappears from the issuer's set is dropped at the next
//!   successful refresh, and whoever registered with
//!   [`JwksCache::on_keys_removed`] (the verifier's token cache) is told
//!   which kids left, so nothing it proved with them outlives them.
//!
//! This file is that state machine. The GETs it makes go through a
//! [`JwksFetcher`] ([`fetch`]: the trait, the bounds around every GET,
//! discovery), reqwest's by default ([`ReqwestFetcher`], feature
//! `reqwest`), and the keys it holds are parsed by [`key`].
//!
//! Monotonic time (`tokio::time::Instant`) drives the cache; token validity
//! uses the wall clock passed to the verifier.

pub mod fetch;
pub mod key;
#[cfg(feature = "reqwest")]
mod reqwest_fetcher;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use crate::jwk::JwkSet;

pub use fetch::{
    FetchFailure, FetchFuture, FetchRequest, FetchedDocument, JwksFetcher, max_age, metadata_url,
};
pub use key::{CLIENT_ALGORITHMS, KeyPurpose, VerifyingKey, parse_key_set, parse_key_set_for};
#[cfg(feature = "reqwest")]
pub use reqwest_fetcher::ReqwestFetcher;

/// Where the key set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// Read `jwks_uri` from the issuer's RFC 8414 metadata document.
    Discover { issuer: String },
    /// Use this URL and skip discovery (`JWKS_URL`).
    Url(Url),
}

/// Tuning of the cache. The defaults suit production; tests shorten the
/// cool-downs so that they do not have to sleep long.
#[derive(Debug, Clone)]
pub struct JwksConfig {
    pub source: JwksSource,
    /// Shortest lifetime we give a fetched set, whatever the issuer says,
    /// so a `max-age=0` cannot turn every request into a fetch.
    pub min_ttl: Duration,
    /// Longest lifetime, so a removed key is not trusted for days.
    pub max_ttl: Duration,
    /// Lifetime when the issuer sends no `max-age`.
    pub default_ttl: Duration,
    /// Least time between two refetches triggered by unknown `kid`s.
    pub refetch_cooldown: Duration,
    /// How long a `kid` that a refetch did not find is answered from memory.
    pub negative_ttl: Duration,
    /// Bound on remembered unknown kids, so random kids cannot fill memory.
    pub negative_capacity: usize,
    /// How long past its lifetime a set keeps serving while the issuer is
    /// unreachable (stale-if-error); past this nothing verifies.
    pub max_stale: Duration,
    /// Wait before retrying a failed background fetch.
    pub retry_interval: Duration,
    pub connect_timeout: Duration,
    /// Bound on a whole fetch: connect, headers and body.
    pub request_timeout: Duration,
    /// Bodies larger than this are refused; a JWKS is a few KiB.
    pub max_body_bytes: usize,
    /// Which keys of the set are kept, and what they may verify.
    pub purpose: KeyPurpose,
    /// The URL came from a stranger (a self-registered client): fetch it
    /// only from public addresses ([`ReqwestFetcher::public_addresses_only`]).
    pub public_addresses_only: bool,
}

impl JwksConfig {
    pub fn new(source: JwksSource) -> JwksConfig {
        JwksConfig {
            source,
            min_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(3600),
            default_ttl: Duration::from_secs(300),
            refetch_cooldown: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(60),
            negative_capacity: 4096,
            max_stale: Duration::from_secs(3600),
            retry_interval: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_body_bytes: 64 * 1024,
            purpose: KeyPurpose::IssuerTokens,
            public_addresses_only: false,
        }
    }
}

/// Why a fetch failed. The message is for logs; it never holds a token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JwksError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered with status {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent a body over {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url} sent a malformed document: {reason}")]
    Malformed { url: String, reason: String },
    #[error("the discovery document names issuer {found:?}, not {expected:?}")]
    IssuerMismatch { expected: String, found: String },
}

/// How usable the cached set is, for readiness and the age gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheHealth {
    /// Nothing fetched yet: no token can be verified.
    Empty,
    /// Within the lifetime the issuer gave.
    Fresh { age: Duration },
    /// Past its lifetime but within the stale-if-error limit: still serving.
    Stale { age: Duration },
    /// Past the hard limit: no longer serving.
    Expired { age: Duration },
}

impl CacheHealth {
    pub fn is_serving(self) -> bool {
        matches!(self, CacheHealth::Fresh { .. } | CacheHealth::Stale { .. })
    }

    pub fn age(self) -> Option<Duration> {
        match self {
            CacheHealth::Empty => None,
            CacheHealth::Fresh { age }
            | CacheHealth::Stale { age }
            | CacheHealth::Expired { age } => Some(age),
        }
    }
}

/// What one fetch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// A new set replaced the old one.
    Updated { keys: usize },
    /// `304 Not Modified`: the old set got a new lifetime.
    NotModified,
}

#[derive(Default)]
struct Snapshot {
    keys: HashMap<String, Arc<VerifyingKey>>,
    /// Last time the issuer confirmed the set (200 or 304).
    confirmed_at: Option<Instant>,
    ttl: Duration,
    etag: Option<String>,
    /// Last failed fetch, so the refresher backs off.
    failed_at: Option<Instant>,
}

/// Where fetches go: the fetcher, and the JWK Set's URL once known.
struct Remote {
    fetcher: Arc<dyn JwksFetcher>,
    /// Discovered once, then kept.
    jwks_uri: tokio::sync::Mutex<Option<Url>>,
}

struct Inner {
    config: JwksConfig,
    /// `None` for a fixed set that never fetches.
    remote: Option<Remote>,
    snapshot: RwLock<Snapshot>,
    /// Held for the whole of every fetch: all callers that need a fetch at
    /// the same time wait here and share its result.
    fetch_lock: tokio::sync::Mutex<()>,
    /// When the last unknown-kid refetch finished (cool-down start).
    last_kid_refetch: Mutex<Option<Instant>>,
    negative: Mutex<HashMap<String, Instant>>,
    /// Told the kids that left the set after each refresh that dropped any.
    removal_listeners: Mutex<Vec<RemovalListener>>,
    fetches: AtomicU64,
    failures: AtomicU64,
}

/// Returns false once whatever it serves is gone, and is then forgotten.
type RemovalListener = Box<dyn Fn(&[String]) -> bool + Send + Sync>;

/// The key cache. Cheap to clone; clones share one cache.
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("source", &self.inner.config.source)
            .field("health", &self.health())
            .finish()
    }
}

impl JwksCache {
    /// A cache that fetches from the issuer with reqwest. Nothing is
    /// fetched until [`JwksCache::refresh`] or the refresher runs.
    #[cfg(feature = "reqwest")]
    pub fn new(config: JwksConfig) -> Result<JwksCache, JwksError> {
        let (connect, request) = (config.connect_timeout, config.request_timeout);
        let fetcher = if config.public_addresses_only {
            ReqwestFetcher::public_addresses_only(connect, request)?
        } else {
            ReqwestFetcher::new(connect, request)?
        };
        Ok(JwksCache::with_fetcher(config, Arc::new(fetcher)))
    }

    /// A cache that fetches from the issuer with `fetcher`, bounded by the
    /// same limits as with reqwest. Nothing is fetched until
    /// [`JwksCache::refresh`] or the refresher runs.
    pub fn with_fetcher(config: JwksConfig, fetcher: Arc<dyn JwksFetcher>) -> JwksCache {
        let jwks_uri = match &config.source {
            JwksSource::Url(url) => Some(url.clone()),
            JwksSource::Discover { .. } => None,
        };
        JwksCache::build(
            config,
            Some(Remote {
                fetcher,
                jwks_uri: tokio::sync::Mutex::new(jwks_uri),
            }),
        )
    }

    /// A set that never changes and never fetches: for tests, benchmarks
    /// and services given their keys out of band. Always fresh.
    pub fn fixed(set: &JwkSet) -> Result<JwksCache, String> {
        let value = serde_json::to_value(set).map_err(|e| e.to_string())?;
        let keys = parse_key_set(&value)?;
        let mut config = JwksConfig::new(JwksSource::Discover {
            issuer: String::new(),
        });
        config.max_ttl = Duration::MAX;
        let cache = JwksCache::build(config, None);
        {
            let mut snapshot = cache.write_snapshot();
            snapshot.keys = keys;
            snapshot.confirmed_at = Some(Instant::now());
            snapshot.ttl = Duration::MAX;
        }
        Ok(cache)
    }

    fn build(config: JwksConfig, remote: Option<Remote>) -> JwksCache {
        JwksCache {
            inner: Arc::new(Inner {
                config,
                remote,
                snapshot: RwLock::new(Snapshot::default()),
                fetch_lock: tokio::sync::Mutex::new(()),
                last_kid_refetch: Mutex::new(None),
                negative: Mutex::new(HashMap::new()),
                removal_listeners: Mutex::new(Vec::new()),
                fetches: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            }),
        }
    }

    pub fn config(&self) -> &JwksConfig {
        &self.inner.config
    }

    /// Fetch attempts so far (successful or not); for tests and diagnostics.
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Failed fetches so far.
    pub fn failure_count(&self) -> u64 {
        self.inner.failures.load(Ordering::Relaxed)
    }

    /// The kids currently trusted.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.read_snapshot().keys.keys().cloned().collect();
        kids.sort();
        kids
    }

    pub fn health(&self) -> CacheHealth {
        let health = health_of(&self.read_snapshot(), &self.inner.config, Instant::now());
        if let Some(age) = health.age() {
            metrics::gauge!("jwks_cache_age_seconds").set(age.as_secs_f64());
        }
        health
    }

    /// True when `kid` is in the set and the set is still serving: what a
    /// token proved with that key earlier may still be trusted. Cheaper
    /// than [`JwksCache::cached_key`]: no reference count is touched, so
    /// concurrent requests do not contend on the key.
    pub fn serves(&self, kid: &str) -> bool {
        let snapshot = self.read_snapshot();
        health_of(&snapshot, &self.inner.config, Instant::now()).is_serving()
            && snapshot.keys.contains_key(kid)
    }

    /// Calls `listener` with the kids that left the set, after every
    /// refresh that removed some, until it returns false. It runs on the
    /// task that refreshed, after the new set is in place, so anything that
    /// looks the kid up from then on no longer finds it.
    pub fn on_keys_removed(&self, listener: impl Fn(&[String]) -> bool + Send + Sync + 'static) {
        lock(&self.inner.removal_listeners).push(Box::new(listener));
    }

    fn announce_removed(&self, removed: &[String]) {
        if removed.is_empty() {
            return;
        }
        lock(&self.inner.removal_listeners).retain(|listener| listener(removed));
    }

    /// The key for `kid` if it is cached and the set is still serving.
    /// Never fetches: this is the fast path of every request.
    pub fn cached_key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        let snapshot = self.read_snapshot();
        if !health_of(&snapshot, &self.inner.config, Instant::now()).is_serving() {
            return None;
        }
        snapshot.keys.get(kid).cloned()
    }

    /// Every key of the set while it is serving. Never fetches.
    pub fn cached_keys(&self) -> Vec<Arc<VerifyingKey>> {
        let snapshot = self.read_snapshot();
        if !health_of(&snapshot, &self.inner.config, Instant::now()).is_serving() {
            return Vec::new();
        }
        snapshot.keys.values().cloned().collect()
    }

    /// The keys a signature naming `kid` (or none) may have been made
    /// with. Without a kid, a set that is not serving is fetched under the
    /// same single flight, cool-down and negative cache as an unknown kid
    /// (no key is ever known by the empty kid).
    pub async fn keys_for(&self, kid: Option<&str>) -> Vec<Arc<VerifyingKey>> {
        match kid {
            Some(kid) => self.key(kid).await.into_iter().collect(),
            None => {
                if !self.health().is_serving() {
                    let _ = self.key("").await;
                }
                self.cached_keys()
            }
        }
    }

    /// The key for `kid`, refetching the set once if the kid is unknown,
    /// within the cool-down and negative-cache limits.
    pub async fn key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        if let Some(key) = self.cached_key(kid) {
            return Some(key);
        }
        self.inner.remote.as_ref()?;
        if self.is_known_unknown(kid) {
            metrics::counter!("jwks_unknown_kid_total", "result" => "negative_cache").increment(1);
            return None;
        }
        if self.in_cooldown() {
            self.remember_unknown(kid);
            metrics::counter!("jwks_unknown_kid_total", "result" => "cooldown").increment(1);
            return None;
        }
        // Everyone who gets here while a fetch runs waits for it and then
        // finds either the key or a fresh cool-down: one fetch serves all.
        let _fetching = self.inner.fetch_lock.lock().await;
        if let Some(key) = self.cached_key(kid) {
            return Some(key);
        }
        if self.in_cooldown() {
            self.remember_unknown(kid);
            metrics::counter!("jwks_unknown_kid_total", "result" => "cooldown").increment(1);
            return None;
        }
        metrics::counter!("jwks_unknown_kid_total", "result" => "refetch").increment(1);
        // The outcome is logged and counted inside; either way we look again.
        let _ = self.fetch_locked().await;
        *lock(&self.inner.last_kid_refetch) = Some(Instant::now());
        let key = self.cached_key(kid);
        if key.is_none() {
            self.remember_unknown(kid);
        }
        key
    }

    /// Fetches the set now (waiting for a fetch already running, then
    /// fetching again). Used at start and by the refresher.
    pub async fn refresh(&self) -> Result<FetchOutcome, JwksError> {
        let _fetching = self.inner.fetch_lock.lock().await;
        self.fetch_locked().await
    }

    /// Runs the background refresher until the cache is dropped: fetches at
    /// once, then ahead of every expiry, and after failures every
    /// `retry_interval`. Must be called inside a Tokio runtime.
    pub fn spawn_refresher(&self) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let wait = match weak.upgrade() {
                    Some(inner) => {
                        let cache = JwksCache { inner };
                        if cache.inner.remote.is_none() {
                            return;
                        }
                        let _ = cache.health();
                        cache.next_refresh_in()
                    }
                    None => return,
                };
                // Wake up now and then even when nothing is due, so the age
                // gauge stays current.
                tokio::time::sleep(wait.min(Duration::from_secs(15))).await;
                let Some(inner) = weak.upgrade() else { return };
                let cache = JwksCache { inner };
                if cache.next_refresh_in().is_zero() {
                    let _ = cache.refresh().await;
                }
            }
        })
    }

    /// Time until the refresher should fetch: at three quarters of the
    /// lifetime, or `retry_interval` after a failure.
    fn next_refresh_in(&self) -> Duration {
        let now = Instant::now();
        let snapshot = self.read_snapshot();
        let retry_at = snapshot
            .failed_at
            .map(|failed| failed + self.inner.config.retry_interval);
        let due = match snapshot.confirmed_at {
            None => retry_at.unwrap_or(now),
            Some(confirmed) => {
                let refresh_at = confirmed + snapshot.ttl.mul_f64(0.75);
                match retry_at {
                    Some(retry_at) if snapshot.failed_at > Some(confirmed) => {
                        refresh_at.max(retry_at)
                    }
                    _ => refresh_at,
                }
            }
        };
        due.saturating_duration_since(now)
    }

    fn in_cooldown(&self) -> bool {
        lock(&self.inner.last_kid_refetch)
            .is_some_and(|at| at.elapsed() < self.inner.config.refetch_cooldown)
    }

    fn is_known_unknown(&self, kid: &str) -> bool {
        let negative = lock(&self.inner.negative);
        negative
            .get(kid)
            .is_some_and(|until| Instant::now() < *until)
    }

    fn remember_unknown(&self, kid: &str) {
        let now = Instant::now();
        let mut negative = lock(&self.inner.negative);
        if negative.len() >= self.inner.config.negative_capacity {
            negative.retain(|_, until| now < *until);
        }
        // When full of live entries we stop remembering: the cool-down
        // still keeps the issuer safe, this only saves a lock.
        if negative.len() < self.inner.config.negative_capacity {
            negative.insert(kid.to_owned(), now + self.inner.config.negative_ttl);
        }
    }

    /// One fetch; the caller holds `fetch_lock`.
    async fn fetch_locked(&self) -> Result<FetchOutcome, JwksError> {
        let Some(remote) = self.inner.remote.as_ref() else {
            return Ok(FetchOutcome::NotModified);
        };
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let result = self.fetch_from(remote).await;
        let now = Instant::now();
        match &result {
            Ok(outcome) => {
                let label = match outcome {
                    FetchOutcome::Updated { .. } => "updated",
                    FetchOutcome::NotModified => "not_modified",
                };
                metrics::counter!("jwks_fetches_total", "result" => label).increment(1);
                tracing::debug!(?outcome, "fetched the JWKS");
            }
            Err(error) => {
                self.inner.failures.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("jwks_fetches_total", "result" => "error").increment(1);
                self.write_snapshot().failed_at = Some(now);
                let health = self.health();
                tracing::warn!(%error, ?health, "JWKS fetch failed; cached keys keep serving until the stale limit");
            }
        }
        result
    }

    async fn fetch_from(&self, remote: &Remote) -> Result<FetchOutcome, JwksError> {
        let config = &self.inner.config;
        let fetcher = remote.fetcher.as_ref();
        let jwks_uri = {
            let mut known = remote.jwks_uri.lock().await;
            match (known.as_ref(), &config.source) {
                (Some(url), _) => url.clone(),
                (None, JwksSource::Discover { issuer }) => {
                    let url = fetch::discover(fetcher, issuer, config).await?;
                    *known = Some(url.clone());
                    url
                }
                (None, JwksSource::Url(url)) => url.clone(),
            }
        };
        // Revalidate only a set we hold: a 304 must have something to renew.
        let etag = {
            let snapshot = self.read_snapshot();
            snapshot.etag.clone().filter(|_| !snapshot.keys.is_empty())
        };
        let document = fetch::get(fetcher, &jwks_uri, etag.as_deref(), config).await?;
        let ttl = self.ttl_from(document.cache_control.as_deref());
        let status_error = || JwksError::Status {
            url: jwks_uri.to_string(),
            status: document.status,
        };
        if document.status == 304 {
            let mut snapshot = self.write_snapshot();
            if snapshot.confirmed_at.is_some() {
                snapshot.confirmed_at = Some(Instant::now());
                snapshot.ttl = ttl;
                snapshot.failed_at = None;
                return Ok(FetchOutcome::NotModified);
            }
            // A 304 to a request without If-None-Match is a broken issuer.
            return Err(status_error());
        }
        if document.status != 200 {
            return Err(status_error());
        }
        let malformed = |reason: String| JwksError::Malformed {
            url: jwks_uri.to_string(),
            reason,
        };
        let value: Value =
            serde_json::from_slice(&document.body).map_err(|e| malformed(e.to_string()))?;
        let keys = parse_key_set_for(&value, config.purpose).map_err(malformed)?;
        let count = keys.len();
        let removed: Vec<String> = {
            let mut snapshot = self.write_snapshot();
            let old = std::mem::replace(&mut snapshot.keys, keys);
            snapshot.confirmed_at = Some(Instant::now());
            snapshot.ttl = ttl;
            snapshot.etag = document.etag;
            snapshot.failed_at = None;
            old.into_keys()
                .filter(|kid| !snapshot.keys.contains_key(kid))
                .collect()
        };
        metrics::gauge!("jwks_keys").set(count as f64);
        // Outside the snapshot lock: listeners may look keys up.
        self.announce_removed(&removed);
        Ok(FetchOutcome::Updated { keys: count })
    }

    fn ttl_from(&self, cache_control: Option<&str>) -> Duration {
        let config = &self.inner.config;
        let ttl = cache_control
            .and_then(max_age)
            .unwrap_or(config.default_ttl);
        ttl.clamp(config.min_ttl, config.max_ttl.max(config.min_ttl))
    }

    fn read_snapshot(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.inner
            .snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write_snapshot(&self) -> std::sync::RwLockWriteGuard<'_, Snapshot> {
        self.inner
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn health_of(snapshot: &Snapshot, config: &JwksConfig, now: Instant) -> CacheHealth {
    let Some(confirmed) = snapshot.confirmed_at else {
        return CacheHealth::Empty;
    };
    let age = now.saturating_duration_since(confirmed);
    if age < snapshot.ttl {
        CacheHealth::Fresh { age }
    } else if age < snapshot.ttl.saturating_add(config.max_stale) {
        CacheHealth::Stale { age }
    } else {
        CacheHealth::Expired { age }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
