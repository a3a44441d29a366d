//! The verified-token cache through the verifier: a remembered token is
//! answered exactly as a full check would answer it at that moment, never
//! past its `exp`, never once its key left the issuer's set, and only for
//! the very token and verifier that proved it; the bounds hold while many
//! more tokens than fit keep verifying.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use serde_json::json;
use shared::jwks_cache::{FetchOutcome, JwksCache, JwksConfig, JwksSource};
use shared::verifier::{TokenCacheConfig, TokenRejection, Verifier, VerifierConfig};

use crate::support::{AUDIENCE, FakeIssuer, ISSUER, NOW, TestKey, claims};

static KEY: LazyLock<TestKey> = LazyLock::new(TestKey::generate);
static OTHER_KEY: LazyLock<TestKey> = LazyLock::new(TestKey::generate);

fn fixed_keys() -> JwksCache {
    JwksCache::fixed(&TestKey::set(&[&KEY])).unwrap()
}

fn verifier_with(config: VerifierConfig, keys: JwksCache) -> Verifier {
    Verifier::new(config, keys)
}

fn verifier() -> Verifier {
    verifier_with(VerifierConfig::new(ISSUER, AUDIENCE), fixed_keys())
}

fn uncached() -> Verifier {
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.cache = TokenCacheConfig::DISABLED;
    verifier_with(config, fixed_keys())
}

fn entries(verifier: &Verifier) -> u64 {
    verifier.token_cache_usage().unwrap().entries
}

#[tokio::test]
async fn a_verified_token_is_remembered_and_answered_the_same() {
    let verifier = verifier();
    let token = KEY.sign(&claims());
    let first = verifier.verify(&token, NOW).await.unwrap();
    assert_eq!(entries(&verifier), 1);
    let second = verifier.verify(&token, NOW + 10).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(entries(&verifier), 1);
    assert_eq!(uncached().token_cache_usage(), None);
}

#[tokio::test]
async fn an_expired_token_is_refused_even_when_cached() {
    let verifier = verifier();
    let token = KEY.sign(&claims());
    let exp = NOW + 900;
    verifier.verify(&token, NOW).await.unwrap();
    verifier.verify(&token, exp - 1).await.unwrap();
    assert_eq!(entries(&verifier), 1);
    // Past exp and the leeway: refused, as without a cache.
    assert_eq!(
        verifier.verify(&token, exp + 60).await.err(),
        Some(TokenRejection::Expired)
    );
    assert_eq!(entries(&verifier), 0);

    // Without leeway, exp itself is the end.
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.leeway_secs = 0;
    let strict = verifier_with(config, fixed_keys());
    strict.verify(&token, NOW).await.unwrap();
    assert_eq!(
        strict.verify(&token, exp).await.err(),
        Some(TokenRejection::Expired)
    );
    assert_eq!(entries(&strict), 0);
}

#[tokio::test]
async fn the_leeway_never_stretches_an_entry_past_exp() {
    let verifier = verifier();
    let token = KEY.sign(&claims());
    let exp = NOW + 900;
    verifier.verify(&token, NOW).await.unwrap();
    // Within the leeway the full check still accepts, as it does without a
    // cache; but the entry ended at exp and the token is not cached again.
    for now in [exp, exp + 30, exp + 59] {
        assert_eq!(
            verifier.verify(&token, now).await,
            uncached().verify(&token, now).await,
            "at exp+{}",
            now - exp
        );
        assert!(verifier.verify(&token, now).await.is_ok());
        assert_eq!(entries(&verifier), 0, "at exp+{}", now - exp);
    }
    // A token first seen within the leeway is not cached either.
    let mut late = claims();
    late["exp"] = json!(NOW - 10);
    assert!(verifier.verify(&KEY.sign(&late), NOW).await.is_ok());
    assert_eq!(entries(&verifier), 0);
}

#[tokio::test]
async fn the_time_claims_are_checked_again_on_every_hit() {
    let verifier = verifier();
    let token = KEY.sign(&claims());
    verifier.verify(&token, NOW).await.unwrap();
    // A clock set back before nbf and iat (past the leeway) refuses it.
    for now in [NOW - 61, NOW - 3600] {
        assert_eq!(
            verifier.verify(&token, now).await.err(),
            uncached().verify(&token, now).await.err(),
        );
        assert_eq!(
            verifier.verify(&token, now).await.err(),
            Some(TokenRejection::NotYetValid)
        );
    }
    verifier.verify(&token, NOW).await.unwrap();
}

#[tokio::test]
async fn a_cached_answer_serves_only_its_exact_token_and_verifier() {
    let keys = fixed_keys();
    let ours = verifier_with(VerifierConfig::new(ISSUER, AUDIENCE), keys.clone());
    let token = KEY.sign(&claims());
    ours.verify(&token, NOW).await.unwrap();

    // Another verifier with another audience or issuer has its own cache
    // and refuses what ours accepted.
    let other_audience = verifier_with(VerifierConfig::new(ISSUER, "another-api"), keys.clone());
    assert_eq!(
        other_audience.verify(&token, NOW).await.err(),
        Some(TokenRejection::WrongAudience)
    );
    let other_issuer = verifier_with(VerifierConfig::new("https://evil.test", AUDIENCE), keys);
    assert_eq!(
        other_issuer.verify(&token, NOW).await.err(),
        Some(TokenRejection::WrongIssuer)
    );

    // The cached token's signature on other claims is another key: checked
    // in full, and refused.
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let (header, _) = signed.split_once('.').unwrap();
    let mut admin = claims();
    admin["scope"] = json!("profiles:read");
    let forged_payload = crate::support::signing_input(&KEY.header(), &admin);
    let (_, payload) = forged_payload.split_once('.').unwrap();
    let forged = format!("{header}.{payload}.{signature}");
    assert_eq!(
        ours.verify(&forged, NOW).await.err(),
        Some(TokenRejection::BadSignature)
    );
    // One byte more or less is another token too.
    assert_eq!(
        ours.verify(&format!("{token}A"), NOW).await.err(),
        Some(TokenRejection::BadSignature)
    );
    assert_eq!(entries(&ours), 1);
}

/// Short cool-downs so that tests need not sleep long.
fn fast_config(issuer: &FakeIssuer) -> JwksConfig {
    let mut config = JwksConfig::new(JwksSource::Url(issuer.jwks_url()));
    config.refetch_cooldown = Duration::from_millis(50);
    config.negative_ttl = Duration::from_millis(50);
    config.retry_interval = Duration::from_millis(100);
    config.request_timeout = Duration::from_secs(2);
    config
}

fn claims_for(issuer: &FakeIssuer) -> serde_json::Value {
    let mut claims = claims();
    claims["iss"] = json!(issuer.base);
    claims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_tokens_of_a_removed_kid_are_refused() {
    let issuer = FakeIssuer::start(TestKey::set(&[&KEY, &OTHER_KEY]), None).await;
    let keys = JwksCache::new(fast_config(&issuer)).unwrap();
    keys.refresh().await.unwrap();
    let verifier = Verifier::new(
        VerifierConfig::new(issuer.base.clone(), AUDIENCE),
        keys.clone(),
    );
    let revoked = KEY.sign(&claims_for(&issuer));
    let kept = OTHER_KEY.sign(&claims_for(&issuer));
    verifier.verify(&revoked, NOW).await.unwrap();
    verifier.verify(&kept, NOW).await.unwrap();
    assert_eq!(entries(&verifier), 2);

    // `keys revoke`: the issuer stops publishing the kid.
    issuer.set_keys(TestKey::set(&[&OTHER_KEY]));
    // Until our set has been refreshed the token still passes, as it would
    // without a cache.
    verifier.verify(&revoked, NOW).await.unwrap();
    assert_eq!(
        keys.refresh().await.unwrap(),
        FetchOutcome::Updated { keys: 1 }
    );
    // The refresh told the verifier: the entry is gone before any request.
    assert_eq!(entries(&verifier), 1);
    assert_eq!(
        verifier.verify(&revoked, NOW).await.err(),
        Some(TokenRejection::UnknownKey)
    );
    assert_eq!(
        verifier.verify(&kept, NOW).await.unwrap().kid,
        OTHER_KEY.kid()
    );
    assert_eq!(entries(&verifier), 1);

    // A dropped verifier unregisters itself; later removals still work.
    drop(verifier);
    issuer.set_keys(TestKey::set(&[&KEY]));
    keys.refresh().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_removed_while_its_tokens_verify_leaves_no_entry_behind() {
    let issuer = FakeIssuer::start(TestKey::set(&[&KEY, &OTHER_KEY]), None).await;
    let keys = JwksCache::new(fast_config(&issuer)).unwrap();
    let verifier = Arc::new(Verifier::new(
        VerifierConfig::new(issuer.base.clone(), AUDIENCE),
        keys.clone(),
    ));
    for round in 0..20 {
        issuer.set_keys(TestKey::set(&[&KEY, &OTHER_KEY]));
        keys.refresh().await.unwrap();
        // A fresh token each round, so each round starts uncached.
        let mut claims = claims_for(&issuer);
        claims["jti"] = json!(format!("round-{round}"));
        let token = Arc::new(KEY.sign(&claims));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let verifier = verifier.clone();
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..25 {
                    match verifier.verify(&token, NOW).await {
                        Ok(_) | Err(TokenRejection::UnknownKey) => {}
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                    tokio::task::yield_now().await;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(round % 5)).await;
        issuer.set_keys(TestKey::set(&[&OTHER_KEY]));
        keys.refresh().await.unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            verifier.verify(&token, NOW).await.err(),
            Some(TokenRejection::UnknownKey),
            "round {round}"
        );
        assert_eq!(entries(&verifier), 0, "round {round}");
    }
}

#[tokio::test]
async fn many_more_tokens_than_fit_keep_verifying_within_the_bounds() {
    let config = TokenCacheConfig {
        max_entries: 50,
        max_bytes: 1024 * 1024,
    };
    let mut verifier_config = VerifierConfig::new(ISSUER, AUDIENCE);
    verifier_config.cache = config;
    let verifier = verifier_with(verifier_config, fixed_keys());
    let tokens: Vec<String> = (0..300)
        .map(|n| {
            let mut claims = claims();
            claims["jti"] = json!(format!("token-{n}"));
            claims["sub"] = json!(format!("user-{n}"));
            KEY.sign(&claims)
        })
        .collect();
    for round in 0..2 {
        for (n, token) in tokens.iter().enumerate() {
            let verified = verifier.verify(token, NOW).await.unwrap();
            assert_eq!(verified.claims.sub, format!("user-{n}"), "round {round}");
        }
        let usage = verifier.token_cache_usage().unwrap();
        assert!(usage.entries <= config.max_entries, "{usage:?}");
        assert!(usage.weighted_bytes <= config.max_bytes, "{usage:?}");
        assert!(usage.entries > 0, "{usage:?}");
    }
}
