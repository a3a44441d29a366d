//! The issuer goes away and comes back with a new key: the resource-server
//! keeps serving from its cache, and trusts the new key after one refetch.

use std::time::Duration;

use e2e::{ForgingKey, claims_of, header_of, now, spawn_stack};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_issuer_down_valid_tokens_pass_and_bad_ones_fail() {
    let mut stack = spawn_stack().await;
    let user = stack.new_user().await;
    assert_eq!(stack.get_profile_me(&user.token).await.status(), 200);
    let issuer_key = stack.issuer_key();
    let mut expired = claims_of(&user.token);
    expired["exp"] = json!(now() - 120);
    let expired = issuer_key.sign(&issuer_key.header(), &expired);
    let unknown = ForgingKey::generate();
    let unknown = unknown.sign(&unknown.header(), &claims_of(&user.token));

    stack.auth.stop();
    assert!(!stack.auth.service.is_running());

    for _ in 0..3 {
        assert_eq!(stack.get_profile_me(&user.token).await.status(), 200);
        assert_eq!(stack.get_profile_me(&expired).await.status(), 401);
        // An unknown kid makes the cache try the issuer, which is down:
        // still a 401, never a 5xx.
        assert_eq!(stack.get_profile_me(&unknown).await.status(), 401);
    }
    let ready = stack
        .http
        .get(stack.resource.url("/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "cached keys are within their lifetime");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_signing_key_is_trusted_after_one_refetch() {
    let mut stack = spawn_stack().await;
    let user = stack.new_user().await;
    assert_eq!(stack.get_profile_me(&user.token).await.status(), 200);
    let old_kid = header_of(&user.token)["kid"].as_str().unwrap().to_owned();

    // A newer key file: the issuer signs with the newest and publishes all.
    let new_key = ForgingKey::generate();
    new_key.write_to(&stack.auth.keys_dir, Duration::from_secs(5));
    stack.auth.restart();

    let fresh = stack.login(&user.email).await;
    assert_eq!(header_of(&fresh)["kid"], new_key.kid.as_str());
    assert_ne!(new_key.kid, old_kid);
    let response = stack.get_profile_me(&fresh).await;
    assert_eq!(response.status(), 200, "new kid accepted after a refetch");
    // The old key is still published, so its tokens still pass.
    assert_eq!(stack.get_profile_me(&user.token).await.status(), 200);
}

/// Sum of every `jwks_fetches_total` series on the resource-server.
async fn jwks_fetches(stack: &e2e::Stack) -> f64 {
    let text = stack
        .http
        .get(stack.resource.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with("jwks_fetches_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_costs_at_most_one_jwks_fetch() {
    let stack = spawn_stack().await;
    let user = stack.new_user().await;
    let before = jwks_fetches(&stack).await;
    assert!(before >= 1.0, "the start-up fetch is counted");
    let forger = ForgingKey::generate();
    let claims = claims_of(&user.token);
    let tokens: Vec<String> = (0..200)
        .map(|i| {
            let mut header = forger.header();
            header["kid"] = json!(format!("forged-{i}-{}", uuid::Uuid::new_v4()));
            forger.sign(&header, &claims)
        })
        .collect();
    let requests = tokens.iter().map(|token| stack.get_profile_me(token));
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.status(), 401);
    }
    let after = jwks_fetches(&stack).await;
    assert!(
        after - before <= 1.0,
        "{} JWKS fetches for 200 unknown kids",
        after - before
    );
    assert_eq!(stack.get_profile_me(&user.token).await.status(), 200);
}
