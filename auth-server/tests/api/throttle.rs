//! Failed-login throttling in the database (per address, per account at an
//! address, per account) and the client address it counts by: the TCP peer,
//! or what a `TRUSTED_PROXIES` proxy says.

use std::net::IpAddr;

use auth_server::store::throttle::{self, Attempt, LoginThrottle};
use futures::StreamExt;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, launch, spawn_app, spawn_app_with, test_figment};
use crate::oauth_support::*;

pub(crate) const WRONG: &str = "wrong-wrong-wrong-1";

/// Ten years from now.
pub(crate) fn future() -> i64 {
    shared::clock::unix_now() + 10 * 365 * 86_400
}

/// A server that believes forwarding headers from 127.0.0.1 and 10/8.
pub(crate) async fn behind_proxies() -> TestApp {
    spawn_app_with(|f| f.merge(("trusted_proxies", "127.0.0.1/32, 10.0.0.0/8"))).await
}

/// A password-grant request with extra headers, from `client`.
pub(crate) async fn login_with(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client.post(app.url("/oauth/token")).form(&[
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
    ]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// Through the trusted proxy at 127.0.0.1, for the client at `address`.
pub(crate) async fn login_from(
    app: &TestApp,
    address: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    login_with(
        app,
        &app.client,
        username,
        password,
        &[("X-Forwarded-For", address)],
    )
    .await
}

pub(crate) async fn assert_refused(response: reqwest::Response) {
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap())
        .unwrap_or(0);
    let body = assert_oauth_error(response, 429, "temporarily_unavailable").await;
    assert!((1..=900).contains(&retry_after), "{retry_after} {body}");
}

pub(crate) async fn assert_failed(response: reqwest::Response) {
    assert_oauth_error(response, 400, "invalid_grant").await;
}

pub(crate) async fn assert_issued(response: reqwest::Response) {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert!(body["access_token"].is_string(), "{body}");
}

/// A client whose connections come from `address` (any 127/8 address is
/// loopback on Linux), to be a second machine.
pub(crate) fn client_at(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn spoofed_forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let app = spawn_app().await;
    // 600 attempts, each claiming a new address in every header a proxy
    // might set: only the first 30 are tried, the rest are refused without
    // touching a password hash.
    for i in 0..600u32 {
        let claimed = format!("198.51.{}.{}", i / 256, i % 256);
        let forwarded = format!("for={claimed}");
        let response = login_with(
            &app,
            &app.client,
            &format!("nobody{i}@example.com"),
            WRONG,
            &[
                ("X-Real-IP", claimed.as_str()),
                ("X-Forwarded-For", claimed.as_str()),
                ("Forwarded", forwarded.as_str()),
            ],
        )
        .await;
        if i < 30 {
            assert_failed(response).await;
        } else {
            assert_refused(response).await;
        }
    }
}

#[tokio::test]
async fn failures_claiming_a_victims_address_do_not_lock_the_victim_out() {
    for trusted in ["", "127.0.0.1/32"] {
        let app = spawn_app_with(|f| f.merge(("trusted_proxies", trusted))).await;
        app.signup("victim@example.com").await;
        let attacker = client_at("127.0.0.3");
        let victim_address = "127.0.0.2";
        let spoof = [
            ("X-Real-IP", victim_address),
            ("X-Forwarded-For", victim_address),
            ("Forwarded", "for=127.0.0.2"),
        ];
        // Four on the victim's account, the rest sprayed: 31 in all.
        for i in 0..31 {
            let username = if i < 4 {
                "victim@example.com".to_owned()
            } else {
                format!("other{i}@example.com")
            };
            let response = login_with(&app, &attacker, &username, WRONG, &spoof).await;
            if i < 30 {
                assert_failed(response).await;
            } else {
                assert_refused(response).await;
            }
        }
        let victim = client_at(victim_address);
        let response = login_with(&app, &victim, "victim@example.com", PASSWORD, &[]).await;
        assert_issued(response).await;
        // The attacker's own address is what got locked.
        let response = login_with(&app, &attacker, "victim@example.com", PASSWORD, &[]).await;
        assert_refused(response).await;
    }
}

#[tokio::test]
async fn a_trusted_proxy_is_believed_up_to_the_rightmost_untrusted_hop() {
    let app = behind_proxies().await;
    app.signup("ada@example.com").await;
    // 30 failures from 203.0.113.7, each with a forged hop on the left.
    for i in 0..30 {
        let xff = format!("192.0.2.{i}, 203.0.113.7");
        let response = login_from(&app, &xff, &format!("n{i}@example.com"), WRONG).await;
        assert_failed(response).await;
    }
    // The same client, however the chain reads, is refused, even with the
    // right password of an account that never failed.
    let locked: &[&[(&str, &str)]] = &[
        &[("X-Forwarded-For", "203.0.113.7")],
        &[("X-Forwarded-For", "198.51.100.1, 203.0.113.7")],
        &[("X-Forwarded-For", "203.0.113.7, 10.1.2.3, 10.9.9.9")],
        &[
            ("X-Forwarded-For", "198.51.100.1, 203.0.113.7"),
            ("X-Forwarded-For", "10.1.2.3"),
        ],
        &[("X-Forwarded-For", "203.0.113.7:4711")],
        &[("X-Forwarded-For", "::ffff:203.0.113.7")],
        // Forwarded is not read (CLIENT_ADDRESS_HEADER, client_address.rs).
        &[
            ("X-Forwarded-For", "203.0.113.7"),
            ("Forwarded", "for=198.51.100.9"),
        ],
        // Rocket's X-Real-IP is never believed, from anyone.
        &[
            ("X-Forwarded-For", "203.0.113.7"),
            ("X-Real-IP", "198.51.100.9"),
        ],
    ];
    for headers in locked {
        let response = login_with(&app, &app.client, "ada@example.com", PASSWORD, headers).await;
        assert_eq!(response.status(), 429, "{headers:?}");
        assert_refused(response).await;
    }
    // Other clients behind the same proxies are not.
    let free: &[&[(&str, &str)]] = &[
        &[("X-Forwarded-For", "203.0.113.8")],
        &[("X-Forwarded-For", "203.0.113.7, 203.0.113.9")],
        &[("X-Forwarded-For", "[2001:db8:cafe::17]:4711")],
    ];
    for headers in free {
        let response = login_with(&app, &app.client, "ada@example.com", PASSWORD, headers).await;
        assert_eq!(response.status(), 200, "{headers:?}");
        assert_issued(response).await;
    }
    // Malformed values from the trusted proxy fall back to the peer.
    let response = login_with(
        &app,
        &app.client,
        "ada@example.com",
        PASSWORD,
        &[("X-Forwarded-For", "203.0.113.7, garbage")],
    )
    .await;
    assert_issued(response).await;

    // IPv6 counts by /64: an address with a port locks its neighbours, not
    // the next /64.
    for i in 0..30 {
        let forwarded = format!("[2001:db8:beef:1::{i:x}]:443");
        let response = login_with(
            &app,
            &app.client,
            &format!("v6-{i}@example.com"),
            WRONG,
            &[("X-Forwarded-For", forwarded.as_str())],
        )
        .await;
        assert_failed(response).await;
    }
    let response = login_from(&app, "2001:db8:beef:1::ffff", "ada@example.com", PASSWORD).await;
    assert_refused(response).await;
    let response = login_from(&app, "2001:db8:beef:2::1", "ada@example.com", PASSWORD).await;
    assert_issued(response).await;
}

#[tokio::test]
async fn an_account_at_one_address_is_locked_after_five_failures() {
    let app = behind_proxies().await;
    app.signup("ada@example.com").await;
    app.signup("grace@example.com").await;
    for _ in 0..5 {
        assert_failed(login_from(&app, "203.0.113.10", "ada@example.com", WRONG).await).await;
    }
    // The sixth attempt is refused, right password or not, and after a
    // success elsewhere still.
    assert_refused(login_from(&app, "203.0.113.10", "ada@example.com", PASSWORD).await).await;
    assert_issued(login_from(&app, "203.0.113.11", "ada@example.com", PASSWORD).await).await;
    assert_refused(login_from(&app, "203.0.113.10", "ADA@example.com ", PASSWORD).await).await;
    // The address itself has 5 of its 30.
    assert_issued(login_from(&app, "203.0.113.10", "grace@example.com", PASSWORD).await).await;
}

#[tokio::test]
async fn an_account_is_locked_everywhere_only_after_a_hundred_consecutive_failures() {
    let app = behind_proxies().await;
    app.signup("ada@example.com").await;
    // Four failures per address, so no address or account-at-address locks.
    let fail = |from: u32, count: u32| {
        futures::stream::iter(from..from + count)
            .map(|i| {
                let app = &app;
                async move {
                    let address = format!("198.18.{}.{}", i / 4 / 256, i / 4 % 256);
                    login_from(app, &address, "ada@example.com", WRONG).await
                }
            })
            .buffer_unordered(4)
            .for_each(|response| async move { assert_failed(response).await })
    };
    fail(0, 99).await;
    // 99 consecutive failures: the owner, from an address that has not
    // failed, still gets in, and that success starts the count again (were
    // it not reset, the next round would be refused from its second try).
    assert_issued(login_from(&app, "203.0.113.20", "ada@example.com", PASSWORD).await).await;
    fail(1000, 100).await;
    for address in ["203.0.113.22", "2001:db8::1"] {
        let response = login_from(&app, address, "ada@example.com", PASSWORD).await;
        assert_refused(response).await;
    }
}

#[tokio::test]
async fn concurrent_failures_on_one_key_count_exactly_on_two_instances() {
    let app = spawn_app().await;
    // The second instance reads the first one's key-encryption key.
    let other = launch(test_figment(&app.database_url, &app.keys_dir)).await;
    let dbs = [app.db.clone(), other.2.clone()];
    let throttle = LoginThrottle::default();
    for trial in 0..40u32 {
        let n = 2 + trial % 15;
        let attempt = Attempt::new(
            &format!("race{trial}@example.com"),
            Some(IpAddr::from([203, 0, 113, (trial % 250) as u8])),
        );
        // In the future, where the server's own pruner leaves the rows be.
        let now = future() + i64::from(trial) * 100_000;
        let runs = (0..n).map(|i| {
            let (db, throttle, attempt) = (&dbs[(i % 2) as usize], &throttle, &attempt);
            async move { throttle.record_failure(db, attempt, now).await }
        });
        for result in futures::future::join_all(runs).await {
            result.unwrap();
        }
        for key in [&attempt.address, &attempt.account_address, &attempt.account] {
            let count = throttle::failures(&app.db, key).await.unwrap();
            assert_eq!(count, Some(i64::from(n)), "trial {trial}");
        }
        // The lock is the one the highest count earned, never shortened by
        // a lower count written later.
        let wait = throttle.check(&dbs[1], &attempt, now).await.unwrap();
        let expected = throttle.lock_for(i64::from(n), 5).map(|s| s as u64);
        assert_eq!(wait, expected, "trial {trial}");
    }
    other.1.notify();
}

#[tokio::test]
async fn two_instances_on_one_database_share_the_counts() {
    let app = behind_proxies().await;
    app.signup("ada@example.com").await;
    // The second instance reads the first one's key-encryption key.
    let other = launch(
        test_figment(&app.database_url, &app.keys_dir).merge(("trusted_proxies", "127.0.0.1/32")),
    )
    .await;
    let at = |i: u32| {
        if i.is_multiple_of(2) {
            app.address.clone()
        } else {
            other.0.clone()
        }
    };
    let post = |base: String, address: String, username: String, password: &'static str| {
        let client = app.client.clone();
        async move {
            client
                .post(format!("{base}/oauth/token"))
                .header("X-Forwarded-For", address)
                .form(&[
                    ("grant_type", "password"),
                    ("username", username.as_str()),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // Five concurrent failures on one account, spread over both.
    let failures = (0..5).map(|i| {
        post(
            at(i),
            "203.0.113.30".into(),
            "ada@example.com".into(),
            WRONG,
        )
    });
    for response in futures::future::join_all(failures).await {
        assert_failed(response).await;
    }
    for i in 0..2 {
        let response = post(
            at(i),
            "203.0.113.30".into(),
            "ada@example.com".into(),
            PASSWORD,
        )
        .await;
        assert_refused(response).await;
    }
    // Thirty from one address over both, four at a time.
    futures::stream::iter(0..30)
        .map(|i| {
            post(
                at(i),
                "203.0.113.31".into(),
                format!("n{i}@example.com"),
                WRONG,
            )
        })
        .buffer_unordered(4)
        .for_each(|response| async move { assert_failed(response).await })
        .await;
    for i in 0..2 {
        let response = post(
            at(i),
            "203.0.113.31".into(),
            "ada@example.com".into(),
            PASSWORD,
        )
        .await;
        assert_refused(response).await;
    }
    other.1.notify();
}

#[tokio::test]
async fn usernames_over_320_characters_are_refused_before_any_work() {
    let app = spawn_app().await;
    let long = format!("{}@example.com", "a".repeat(321 - 12));
    assert_eq!(long.chars().count(), 321);
    for _ in 0..40 {
        let response = app
            .post_token(&[
                ("grant_type", "password"),
                ("username", long.as_str()),
                ("password", WRONG),
            ])
            .await;
        let body = assert_oauth_error(response, 400, "invalid_request").await;
        assert!(body["error_description"].as_str().unwrap().contains("320"));
        let response = app
            .post_login(&[("username", long.as_str()), ("password", WRONG)])
            .await;
        assert_oauth_error(response, 400, "invalid_request").await;
    }
    // Nothing was counted.
    let attempt = Attempt::new(&long, Some(IpAddr::from([127, 0, 0, 1])));
    assert_eq!(
        throttle::failures(&app.db, &attempt.address).await.unwrap(),
        None
    );
    // 320 characters is an ordinary (failed) login.
    let fits = format!("{}@example.com", "a".repeat(320 - 12));
    let response = app
        .post_login(&[("username", fits.as_str()), ("password", WRONG)])
        .await;
    assert_failed(response).await;

    // The authorization page's sign-in form says so inline.
    let client = public_app(&app).await;
    let query = pkce_query(&client.id);
    let (mut browser, page) = Browser::open(&app, &as_refs(&query)).await;
    let page = page.text().await.unwrap();
    let response = browser
        .submit(
            &page,
            &[
                ("action", "login"),
                ("username", long.as_str()),
                ("password", WRONG),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("too long"), "{html}");
    assert!(hidden(&html, "csrf").is_some(), "the form is shown again");
}

#[tokio::test]
async fn the_authorization_page_shares_the_throttle() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    for _ in 0..5 {
        assert_failed(
            app.post_login(&[("username", "ada@example.com"), ("password", WRONG)])
                .await,
        )
        .await;
    }
    let client = public_app(&app).await;
    let query = pkce_query(&client.id);
    let (mut browser, page) = Browser::open(&app, &as_refs(&query)).await;
    let page = page.text().await.unwrap();
    let response = browser
        .submit(
            &page,
            &[
                ("action", "login"),
                ("username", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1, "Retry-After: {wait}");
    let html = response.text().await.unwrap();
    assert!(html.contains("Too many failed attempts"), "{html}");
}

#[tokio::test]
async fn expired_counts_are_pruned() {
    let app = spawn_app().await;
    let throttle = LoginThrottle::default();
    let attempt = Attempt::new("old@example.com", Some(IpAddr::from([203, 0, 113, 40])));
    let then = future();
    for _ in 0..6 {
        throttle
            .record_failure(&app.db, &attempt, then)
            .await
            .unwrap();
    }
    let deleted = auth_server::store::prune::prune(&app.db, then + 60)
        .await
        .unwrap();
    assert_eq!(deleted, 0, "locked and within the window");
    assert_eq!(
        throttle::failures(&app.db, &attempt.account).await.unwrap(),
        Some(6)
    );
    // Address keys live 15 min past the last lock; the account a day.
    auth_server::store::prune::prune(&app.db, then + 3600)
        .await
        .unwrap();
    assert_eq!(
        throttle::failures(&app.db, &attempt.address).await.unwrap(),
        None
    );
    assert_eq!(
        throttle::failures(&app.db, &attempt.account_address)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        throttle::failures(&app.db, &attempt.account).await.unwrap(),
        Some(6)
    );
    auth_server::store::prune::prune(&app.db, then + 2 * 86_400)
        .await
        .unwrap();
    assert_eq!(
        throttle::failures(&app.db, &attempt.account).await.unwrap(),
        None
    );
}
