//! The signup limit per client address (10 an hour, counted in the
//! database): the 11th gets `429` problem+json with `Retry-After`, other
//! addresses are not affected, the address is the one `TRUSTED_PROXIES`
//! allows and no other, and concurrent signups never take more than the
//! allowance.

use auth_server::store::throttle::{SignupPolicy, SignupThrottle};
use serde_json::{Value, json};
use shared::clock::{Clock, SystemClock};

use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with};

const ALLOWANCE: usize = 10;

async fn behind_proxy() -> TestApp {
    spawn_app_with(|f| f.merge(("trusted_proxies", "127.0.0.1/32"))).await
}

async fn signup_from(app: &TestApp, address: &str, email: &str) -> reqwest::Response {
    app.client
        .post(app.url("/signup"))
        .header("x-forwarded-for", address)
        .json(&json!({"email": email, "password": PASSWORD, "name": "Ada"}))
        .send()
        .await
        .unwrap()
}

/// A `429` in the contract's shape; returns its `Retry-After`.
async fn assert_limited(response: reqwest::Response) -> u64 {
    assert_eq!(response.status(), 429);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 429);
    assert_eq!(body["title"], "Too Many Requests");
    assert!(body["detail"].is_string());
    retry_after
}

async fn users_named(app: &TestApp, pattern: &str) -> i64 {
    sqlx::query_scalar("select count(*) from users where email like $1")
        .bind(pattern)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn ten_signups_per_address_an_hour_then_429_with_retry_after() {
    let app = behind_proxy().await;
    app.signup("taken@example.com").await;
    // Invalid requests are refused before they count.
    for _ in 0..3 {
        let response = app
            .client
            .post(app.url("/signup"))
            .header("x-forwarded-for", "203.0.113.7")
            .json(&json!({"email": "nope", "password": PASSWORD, "name": "Ada"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422);
    }
    // A taken email does not count (it is answered before the limit).
    for _ in 0..3 {
        assert_eq!(
            signup_from(&app, "203.0.113.7", "taken@example.com")
                .await
                .status(),
            409
        );
    }
    for i in 0..ALLOWANCE {
        let response = signup_from(&app, "203.0.113.7", &format!("a{i}@example.com")).await;
        assert_eq!(response.status(), 201, "signup {i}");
    }
    let retry_after =
        assert_limited(signup_from(&app, "203.0.113.7", "late@example.com").await).await;
    assert!(
        (3500..=3600).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    // Refused: nothing was stored; a taken email is still told as such.
    assert_eq!(users_named(&app, "late@%").await, 0);
    assert_eq!(
        signup_from(&app, "203.0.113.7", "taken@example.com")
            .await
            .status(),
        409
    );
    // Invalid input is still told as such.
    let response = app
        .client
        .post(app.url("/signup"))
        .header("x-forwarded-for", "203.0.113.7")
        .json(&json!({"email": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);

    // Another address, and another host's /64, are not affected; one /64
    // is one host's share.
    assert_eq!(
        signup_from(&app, "203.0.113.8", "other@example.com")
            .await
            .status(),
        201
    );
    for i in 0..ALLOWANCE {
        let address = format!("2001:db8:1:2::{i:x}");
        let response = signup_from(&app, &address, &format!("v6-{i}@example.com")).await;
        assert_eq!(response.status(), 201, "signup {i}");
    }
    assert_limited(signup_from(&app, "2001:db8:1:2:ffff::1", "v6-late@example.com").await).await;
    assert_eq!(
        signup_from(&app, "2001:db8:1:3::1", "v6-other@example.com")
            .await
            .status(),
        201
    );
    // Logins are a different count: the limited address still logs in.
    let response = app
        .client
        .post(app.url("/login"))
        .header("x-forwarded-for", "203.0.113.7")
        .form(&[("username", "a0@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_do_not_buy_more_signups() {
    let app = spawn_app().await;
    for i in 0..ALLOWANCE {
        let spoofed = format!("198.51.100.{i}");
        let response = signup_from(&app, &spoofed, &format!("s{i}@example.com")).await;
        assert_eq!(response.status(), 201, "signup {i}");
    }
    assert_limited(signup_from(&app, "198.51.100.200", "more@example.com").await).await;
    assert_eq!(users_named(&app, "more@%").await, 0);
}

/// More signups from one address at once over HTTP than it may make, in
/// 30 rounds (a new address each): never more accounts than the allowance.
/// A signup shed with `503` (too many hashes waiting) gives its place
/// back, so exactly the allowance is made when none is shed. Few more than
/// the allowance each round: the hashing queue is shared by every test of
/// this binary (the throttle's own race is run hard below, without
/// hashing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_signups_from_one_address_never_exceed_the_allowance() {
    const ROUNDS: usize = 30;
    const AT_ONCE: usize = 12;
    let app = behind_proxy().await;
    for round in 0..ROUNDS {
        let address = format!("192.0.2.{}", round + 1);
        let requests = (0..AT_ONCE).map(|i| {
            let address = address.clone();
            let app = &app;
            async move {
                let response =
                    signup_from(app, &address, &format!("r{round}-{i}@example.com")).await;
                let status = response.status().as_u16();
                if status == 429 {
                    assert_limited(response).await;
                }
                status
            }
        });
        let statuses = futures::future::join_all(requests).await;
        let created = statuses.iter().filter(|s| **s == 201).count();
        let limited = statuses.iter().filter(|s| **s == 429).count();
        let shed = statuses.iter().filter(|s| **s == 503).count();
        assert_eq!(
            created + limited + shed,
            AT_ONCE,
            "round {round}: {statuses:?}"
        );
        assert!(created <= ALLOWANCE, "round {round}: {created} accounts");
        if shed == 0 {
            assert_eq!(created, ALLOWANCE, "round {round}: {statuses:?}");
        }
        assert_eq!(
            users_named(&app, &format!("r{round}-%")).await,
            created as i64,
            "round {round}"
        );
    }
}

/// The throttle's race on its own, as two instances on one database would
/// run it: many places asked for at once through two connection pools,
/// round after round (a new address each), and exactly the allowance given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn places_taken_at_once_through_two_pools_are_exactly_the_allowance() {
    const ROUNDS: usize = 30;
    const AT_ONCE: usize = 24;
    let app = spawn_app().await;
    let second = auth_server::store::Db::connect(&app.database_url)
        .await
        .unwrap();
    let throttle = SignupThrottle::default();
    let allowance = throttle.policy().allowance as usize;
    let now = SystemClock.now();
    for round in 0..ROUNDS {
        let address = Some(format!("192.0.2.{}", 100 + round).parse().unwrap());
        let takes = (0..AT_ONCE).map(|i| {
            let db = if i % 2 == 0 { &app.db } else { &second };
            let throttle = &throttle;
            async move {
                match throttle.take(db, address, now).await {
                    Ok(Ok(_)) => Some(true),
                    Ok(Err(_)) => Some(false),
                    // SQLite's one writer at a time: a caller kept waiting
                    // past the pool or busy timeout takes nothing (the
                    // server answers it 503).
                    Err(e) if platform::db::is_unavailable(&e) => None,
                    Err(e) => panic!("round {round}: {e}"),
                }
            }
        });
        let outcomes = futures::future::join_all(takes).await;
        let given = outcomes.iter().filter(|o| **o == Some(true)).count();
        let timed_out = outcomes.iter().filter(|o| o.is_none()).count();
        assert!(given <= allowance, "round {round}: {given} places given");
        if timed_out == 0 {
            assert_eq!(given, allowance, "round {round}");
        }
    }
}

/// The throttle itself, on the test's database: the window is fixed from
/// the first signup, a refused attempt does not use a place, a place given
/// back is free again, and a new window starts afresh.
#[tokio::test]
async fn places_are_taken_given_back_and_renewed_with_the_window() {
    let app = spawn_app().await;
    let throttle = SignupThrottle::new(SignupPolicy {
        allowance: 3,
        window: 100,
    });
    let address = Some("192.0.2.50".parse().unwrap());
    let now = SystemClock.now();
    let mut places = Vec::new();
    for _ in 0..3 {
        places.push(throttle.take(&app.db, address, now).await.unwrap().unwrap());
    }
    for later in [0, 10, 99] {
        assert_eq!(
            throttle
                .take(&app.db, address, now + later)
                .await
                .unwrap()
                .err(),
            Some(100 - later as u64)
        );
    }
    throttle.give_back(&app.db, &places[0]).await.unwrap();
    let again = throttle.take(&app.db, address, now + 50).await.unwrap();
    assert!(again.is_ok(), "a place given back is free");
    assert!(
        throttle
            .take(&app.db, address, now + 50)
            .await
            .unwrap()
            .is_err()
    );
    // Other addresses have their own count.
    let other = Some("192.0.2.51".parse().unwrap());
    assert!(throttle.take(&app.db, other, now).await.unwrap().is_ok());
    // The window ends 100 s after the first signup, whatever came after.
    let renewed = throttle.take(&app.db, address, now + 100).await.unwrap();
    assert!(renewed.is_ok());
    // A place of the old window given back changes nothing in the new one.
    throttle.give_back(&app.db, &places[1]).await.unwrap();
    assert!(
        throttle
            .take(&app.db, address, now + 101)
            .await
            .unwrap()
            .is_ok()
    );
    assert!(
        throttle
            .take(&app.db, address, now + 101)
            .await
            .unwrap()
            .is_ok()
    );
    assert!(
        throttle
            .take(&app.db, address, now + 101)
            .await
            .unwrap()
            .is_err()
    );
    assert_eq!(throttle.policy().allowance, 3);
}
