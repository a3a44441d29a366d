//! The JWKS cache with a fetcher of its own instead of reqwest: keys are
//! discovered and revalidated through it, and the cache's bounds (time,
//! size, one fetch for a flood of unknown kids, then a cool-down) hold
//! whatever the fetcher does.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use shared::jwk::JwkSet;
use shared::jwks_cache::{
    CacheHealth, FetchFuture, FetchOutcome, FetchRequest, FetchedDocument, JwksCache, JwksConfig,
    JwksError, JwksFetcher, JwksSource,
};
use shared::verifier::{TokenRejection, Verifier, VerifierConfig};

use crate::support::{AUDIENCE, ISSUER, NOW, TestKey, claims};

/// An issuer in memory: its metadata document and its JWK Set, and what
/// it was asked.
struct MemoryIssuer {
    keys: Mutex<JwkSet>,
    /// Answer after this long; the cache's own time limit cuts it short.
    delay: Mutex<Duration>,
    /// Bytes of padding added to the set, sent whatever the request's cap.
    padding: AtomicUsize,
    /// Never answers at all.
    hang: AtomicBool,
    asked: Mutex<Vec<(String, Option<String>)>>,
}

impl MemoryIssuer {
    fn new(keys: JwkSet) -> Arc<MemoryIssuer> {
        Arc::new(MemoryIssuer {
            keys: Mutex::new(keys),
            delay: Mutex::new(Duration::ZERO),
            padding: AtomicUsize::new(0),
            hang: AtomicBool::new(false),
            asked: Mutex::new(Vec::new()),
        })
    }

    fn jwks_gets(&self) -> usize {
        let asked = self.asked.lock().unwrap();
        asked
            .iter()
            .filter(|(url, _)| url.ends_with("/jwks"))
            .count()
    }

    fn document(&self, request: &FetchRequest<'_>) -> FetchedDocument {
        let ok = |body: String, etag: Option<String>| FetchedDocument {
            status: 200,
            cache_control: Some("public, max-age=300".into()),
            etag,
            body: body.into_bytes(),
        };
        match request.url.path() {
            "/.well-known/oauth-authorization-server" => ok(
                json!({"issuer": ISSUER, "jwks_uri": format!("{ISSUER}/jwks")}).to_string(),
                None,
            ),
            "/jwks" => {
                let mut set = serde_json::to_value(&*self.keys.lock().unwrap()).unwrap();
                let padding = self.padding.load(Ordering::SeqCst);
                if padding > 0 {
                    set["padding"] = json!("x".repeat(padding));
                }
                let body = set.to_string();
                let etag = format!("\"{}\"", body.len());
                if request.if_none_match == Some(etag.as_str()) {
                    return FetchedDocument {
                        status: 304,
                        cache_control: Some("max-age=300".into()),
                        etag: Some(etag),
                        body: Vec::new(),
                    };
                }
                ok(body, Some(etag))
            }
            _ => FetchedDocument {
                status: 404,
                cache_control: None,
                etag: None,
                body: Vec::new(),
            },
        }
    }
}

/// The fetcher the cache is given: it asks the in-memory issuer.
struct MemoryFetcher(Arc<MemoryIssuer>);

impl JwksFetcher for MemoryFetcher {
    fn get<'a>(&'a self, request: FetchRequest<'a>) -> FetchFuture<'a> {
        Box::pin(async move {
            let issuer = &self.0;
            issuer.asked.lock().unwrap().push((
                request.url.to_string(),
                request.if_none_match.map(str::to_owned),
            ));
            if issuer.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            let delay = *issuer.delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            Ok(issuer.document(&request))
        })
    }
}

fn cache_for(issuer: &Arc<MemoryIssuer>, source: JwksSource) -> JwksCache {
    let mut config = JwksConfig::new(source);
    config.refetch_cooldown = Duration::from_millis(400);
    config.request_timeout = Duration::from_millis(300);
    config.max_body_bytes = 16 * 1024;
    JwksCache::with_fetcher(config, Arc::new(MemoryFetcher(issuer.clone())))
}

fn discover() -> JwksSource {
    JwksSource::Discover {
        issuer: ISSUER.into(),
    }
}

#[tokio::test]
async fn keys_are_discovered_fetched_and_revalidated_through_the_fetcher() {
    let key = TestKey::generate();
    let issuer = MemoryIssuer::new(TestKey::set(&[&key]));
    let cache = cache_for(&issuer, discover());
    assert_eq!(
        cache.refresh().await.unwrap(),
        FetchOutcome::Updated { keys: 1 }
    );
    assert_eq!(cache.kids(), vec![key.kid()]);
    let verifier = Verifier::new(VerifierConfig::new(ISSUER, AUDIENCE), cache.clone());
    assert!(verifier.verify(&key.sign(&claims()), NOW).await.is_ok());
    // The set's ETag goes back as If-None-Match, and a 304 renews it.
    assert_eq!(cache.refresh().await.unwrap(), FetchOutcome::NotModified);
    let asked = issuer.asked.lock().unwrap().clone();
    let urls: Vec<&str> = asked.iter().map(|(url, _)| url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://issuer.test/.well-known/oauth-authorization-server",
            "https://issuer.test/jwks",
            "https://issuer.test/jwks",
        ]
    );
    assert_eq!(asked[1].1, None);
    assert!(asked[2].1.is_some(), "revalidated with If-None-Match");
}

#[tokio::test]
async fn a_fetcher_that_never_answers_is_cut_off_by_the_cache() {
    let key = TestKey::generate();
    let issuer = MemoryIssuer::new(TestKey::set(&[&key]));
    issuer.hang.store(true, Ordering::SeqCst);
    let cache = cache_for(&issuer, JwksSource::Url(jwks_url()));
    let started = std::time::Instant::now();
    match cache.refresh().await {
        Err(JwksError::Unreachable { reason, .. }) => assert_eq!(reason, "timed out"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(cache.health(), CacheHealth::Empty);
    assert_eq!(cache.failure_count(), 1);
}

#[tokio::test]
async fn a_fetcher_that_ignores_the_cap_is_refused_by_the_cache() {
    let key = TestKey::generate();
    let issuer = MemoryIssuer::new(TestKey::set(&[&key]));
    issuer.padding.store(64 * 1024, Ordering::SeqCst);
    let cache = cache_for(&issuer, JwksSource::Url(jwks_url()));
    assert!(matches!(
        cache.refresh().await,
        Err(JwksError::TooLarge { limit: 16384, .. })
    ));
    assert!(cache.kids().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_costs_the_fetcher_one_call() {
    let key = TestKey::generate();
    let forger = TestKey::generate();
    let issuer = MemoryIssuer::new(TestKey::set(&[&key]));
    let cache = cache_for(&issuer, JwksSource::Url(jwks_url()));
    cache.refresh().await.unwrap();
    assert_eq!(issuer.jwks_gets(), 1);
    // A slow answer holds the one refetch open while the flood arrives.
    *issuer.delay.lock().unwrap() = Duration::from_millis(150);
    let verifier = Arc::new(Verifier::new(VerifierConfig::new(ISSUER, AUDIENCE), cache));
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let verifier = verifier.clone();
            let mut header = forger.header();
            header["kid"] = json!(format!("forged-{i}"));
            let token = forger.sign_with_header(&header, &claims());
            tokio::spawn(async move { verifier.verify(&token, NOW).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().err(), Some(TokenRejection::UnknownKey));
    }
    assert_eq!(issuer.jwks_gets(), 2, "one refetch for 100 unknown kids");
    // Within the cool-down another unknown kid costs nothing.
    assert!(verifier.verify(&forger.sign(&claims()), NOW).await.is_err());
    assert_eq!(issuer.jwks_gets(), 2);
    assert!(verifier.verify(&key.sign(&claims()), NOW).await.is_ok());
}

fn jwks_url() -> url::Url {
    url::Url::parse(&format!("{ISSUER}/jwks")).unwrap()
}
