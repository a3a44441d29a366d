//! The JWKS cache against a fake issuer over real HTTP: discovery,
//! conditional refresh, single-flight refetch with cool-down and negative
//! cache, stale-if-error up to the hard limit, removal of dropped keys,
//! and the bounds on every fetch.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use shared::jwks_cache::{CacheHealth, FetchOutcome, JwksCache, JwksConfig, JwksError, JwksSource};
use shared::verifier::{TokenRejection, Verifier, VerifierConfig};

use crate::support::{AUDIENCE, FakeIssuer, NOW, TestKey, claims};

/// Short cool-downs so that tests need not sleep long.
fn fast_config(source: JwksSource) -> JwksConfig {
    let mut config = JwksConfig::new(source);
    config.refetch_cooldown = Duration::from_millis(400);
    config.negative_ttl = Duration::from_millis(2000);
    config.retry_interval = Duration::from_millis(100);
    config.request_timeout = Duration::from_secs(2);
    config
}

fn verifier_for(issuer: &FakeIssuer, cache: JwksCache) -> Verifier {
    Verifier::new(VerifierConfig::new(issuer.base.clone(), AUDIENCE), cache)
}

fn claims_for(issuer: &FakeIssuer) -> serde_json::Value {
    let mut claims = claims();
    claims["iss"] = json!(issuer.base);
    claims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovers_the_jwks_uri_and_verifies_with_its_keys() {
    let key = TestKey::generate();
    let issuer = FakeIssuer::start(TestKey::set(&[&key]), None).await;
    let cache = JwksCache::new(fast_config(JwksSource::Discover {
        issuer: issuer.base.clone(),
    }))
    .unwrap();
    assert_eq!(cache.health(), CacheHealth::Empty);
    assert_eq!(
        cache.refresh().await.unwrap(),
        FetchOutcome::Updated { keys: 1 }
    );
    assert!(matches!(cache.health(), CacheHealth::Fresh { .. }));
    assert_eq!(cache.kids(), vec![key.kid()]);
    let verifier = verifier_for(&issuer, cache.clone());
    let verified = verifier
        .verify(&key.sign(&claims_for(&issuer)), NOW)
        .await
        .unwrap();
    assert_eq!(verified.kid, key.kid());
    // Discovery happens once; the next fetch is conditional and answered 304.
    assert_eq!(cache.refresh().await.unwrap(), FetchOutcome::NotModified);
    assert_eq!(issuer.state.metadata_hits.load(Ordering::SeqCst), 1);
    assert_eq!(issuer.state.not_modified.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_must_name_our_issuer() {
    let key = TestKey::generate();
    let issuer = FakeIssuer::start(TestKey::set(&[&key]), Some("https://someone-else.test")).await;
    let cache = JwksCache::new(fast_config(JwksSource::Discover {
        issuer: issuer.base.clone(),
    }))
    .unwrap();
    assert!(matches!(
        cache.refresh().await,
        Err(JwksError::IssuerMismatch { .. })
    ));
    assert_eq!(issuer.jwks_hits(), 0);
    assert_eq!(cache.health(), CacheHealth::Empty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_costs_one_fetch_per_cooldown() {
    let key = TestKey::generate();
    let forger = TestKey::generate();
    let issuer = FakeIssuer::start(TestKey::set(&[&key]), None).await;
    let cache = JwksCache::new(fast_config(JwksSource::Url(issuer.jwks_url()))).unwrap();
    cache.refresh().await.unwrap();
    assert_eq!(issuer.jwks_hits(), 1);
    // A slow issuer holds the first refetch open while the flood arrives.
    issuer.state.delay_ms.store(200, Ordering::SeqCst);
    let verifier = Arc::new(verifier_for(&issuer, cache.clone()));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let verifier = verifier.clone();
        let mut header = forger.header();
        header["kid"] = json!(format!("forged-{i}"));
        let token = forger.sign_with_header(&header, &claims_for(&issuer));
        tasks.push(tokio::spawn(
            async move { verifier.verify(&token, NOW).await },
        ));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().err(), Some(TokenRejection::UnknownKey));
    }
    assert_eq!(issuer.jwks_hits(), 2, "one refetch for 200 unknown kids");
    // Still within the cool-down: more unknown kids, no fetch.
    issuer.state.delay_ms.store(0, Ordering::SeqCst);
    let mut header = forger.header();
    header["kid"] = json!("forged-late");
    let token = forger.sign_with_header(&header, &claims_for(&issuer));
    assert!(verifier.verify(&token, NOW).await.is_err());
    assert_eq!(issuer.jwks_hits(), 2);
    // After the cool-down, a new unknown kid may refetch once more, but a
    // kid already found unknown is answered from the negative cache.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(verifier.verify(&token, NOW).await.is_err());
    assert_eq!(issuer.jwks_hits(), 2, "negative cache");
    let fresh = forger.sign(&claims_for(&issuer));
    assert!(verifier.verify(&fresh, NOW).await.is_err());
    assert_eq!(issuer.jwks_hits(), 3);
    // The valid key kept working throughout.
    assert!(
        verifier
            .verify(&key.sign(&claims_for(&issuer)), NOW)
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_kid_is_trusted_after_one_shared_refetch() {
    let old = TestKey::generate();
    let new = TestKey::generate();
    let issuer = FakeIssuer::start(TestKey::set(&[&old]), None).await;
    let cache = JwksCache::new(fast_config(JwksSource::Url(issuer.jwks_url()))).unwrap();
    cache.refresh().await.unwrap();
    issuer.set_keys(TestKey::set(&[&old, &new]));
    issuer.state.delay_ms.store(150, Ordering::SeqCst);
    let verifier = Arc::new(verifier_for(&issuer, cache.clone()));
    let token = new.sign(&claims_for(&issuer));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let verifier = verifier.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(
            async move { verifier.verify(&token, NOW).await },
        ));
    }
    for task in tasks {
        assert_eq!(
            task.await.unwrap().map(|v| v.kid.clone()).ok(),
            Some(new.kid())
        );
    }
    assert_eq!(issuer.jwks_hits(), 2, "20 waiters shared one refetch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_dropped_from_the_set_stops_being_trusted_at_the_next_refresh() {
    let kept = TestKey::generate();
    let dropped = TestKey::generate();
    let issuer = FakeIssuer::start(TestKey::set(&[&kept, &dropped]), None).await;
    let cache = JwksCache::new(fast_config(JwksSource::Url(issuer.jwks_url()))).unwrap();
    cache.refresh().await.unwrap();
    let verifier = verifier_for(&issuer, cache.clone());
    let token = dropped.sign(&claims_for(&issuer));
    assert!(verifier.verify(&token, NOW).await.is_ok());
    issuer.set_keys(TestKey::set(&[&kept]));
    assert_eq!(
        cache.refresh().await.unwrap(),
        FetchOutcome::Updated { keys: 1 }
    );
    assert_eq!(
        verifier.verify(&token, NOW).await.err(),
        Some(TokenRejection::UnknownKey)
    );
    assert!(
        verifier
            .verify(&kept.sign(&claims_for(&issuer)), NOW)
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_serve_while_the_issuer_is_down_until_the_hard_limit() {
    let key = TestKey::generate();
    let issuer = FakeIssuer::start(TestKey::set(&[&key]), None).await;
    let mut config = fast_config(JwksSource::Url(issuer.jwks_url()));
    config.min_ttl = Duration::from_millis(300);
    config.max_ttl = Duration::from_millis(300);
    config.max_stale = Duration::from_millis(900);
    let cache = JwksCache::new(config).unwrap();
    cache.refresh().await.unwrap();
    let verifier = verifier_for(&issuer, cache.clone());
    let token = key.sign(&claims_for(&issuer));
    issuer.set_down(true);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(matches!(
        cache.refresh().await,
        Err(JwksError::Status { status: 503, .. })
    ));
    assert_eq!(cache.failure_count(), 1);
    assert!(matches!(cache.health(), CacheHealth::Stale { .. }));
    assert!(cache.health().is_serving());
    assert!(verifier.verify(&token, NOW).await.is_ok(), "stale-if-error");
    // Bad tokens still fail while stale.
    let mut bad = claims_for(&issuer);
    bad["aud"] = json!("elsewhere");
    assert!(verifier.verify(&key.sign(&bad), NOW).await.is_err());
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(matches!(cache.health(), CacheHealth::Expired { .. }));
    assert!(!cache.health().is_serving());
    assert_eq!(
        verifier.verify(&token, NOW).await.err(),
        Some(TokenRejection::UnknownKey)
    );
    // The issuer comes back: the next fetch restores service.
    issuer.set_down(false);
    cache.refresh().await.unwrap();
    assert!(verifier.verify(&token, NOW).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresher_fetches_ahead_of_expiry_and_retries_after_failure() {
    let old = TestKey::generate();
    let new = TestKey::generate();
    let issuer = FakeIssuer::start(TestKey::set(&[&old]), None).await;
    issuer.state.max_age.store(0, Ordering::SeqCst);
    let mut config = fast_config(JwksSource::Url(issuer.jwks_url()));
    // max-age=0 is clamped up to this floor.
    config.min_ttl = Duration::from_millis(400);
    let cache = JwksCache::new(config).unwrap();
    let refresher = cache.spawn_refresher();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(cache.kids(), vec![old.kid()], "fetched at start");
    assert_eq!(issuer.jwks_hits(), 1, "the floor holds off the next fetch");
    issuer.set_keys(TestKey::set(&[&new]));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cache.kids(), vec![new.kid()], "refreshed ahead of expiry");
    assert!(matches!(cache.health(), CacheHealth::Fresh { .. }));
    refresher.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_are_bounded_in_size_and_time() {
    let key = TestKey::generate();
    let issuer = FakeIssuer::start(TestKey::set(&[&key]), None).await;
    let mut config = fast_config(JwksSource::Url(issuer.jwks_url()));
    config.max_body_bytes = 16 * 1024;
    config.request_timeout = Duration::from_millis(300);
    let cache = JwksCache::new(config).unwrap();
    issuer.state.body_padding.store(64 * 1024, Ordering::SeqCst);
    assert!(matches!(
        cache.refresh().await,
        Err(JwksError::TooLarge { .. })
    ));
    issuer.state.body_padding.store(0, Ordering::SeqCst);
    issuer.state.delay_ms.store(2000, Ordering::SeqCst);
    let started = std::time::Instant::now();
    assert!(matches!(
        cache.refresh().await,
        Err(JwksError::Unreachable { .. })
    ));
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(cache.health(), CacheHealth::Empty);
    // An issuer that is not listening at all.
    let closed = JwksCache::new(fast_config(JwksSource::Url(
        url::Url::parse("http://127.0.0.1:9/jwks").unwrap(),
    )))
    .unwrap();
    assert!(matches!(
        closed.refresh().await,
        Err(JwksError::Unreachable { .. })
    ));
}
