//! `CLIENT_ADDRESS_HEADER`: behind a trusted proxy, exactly one forwarding
//! header names the client (`X-Forwarded-For` by default, or RFC 7239
//! `Forwarded`), and the other is never read. Seen through the login
//! throttle, which refuses a client address after 30 failures.

use crate::helpers::{PASSWORD, TestApp, spawn_app_with};
use crate::oauth_support::assert_oauth_error;

const WRONG: &str = "wrong-wrong-wrong-1";

/// Forwarding headers are believed from 127.0.0.1 (the test's own
/// connections) and 10/8; `header` is `CLIENT_ADDRESS_HEADER`, if set.
async fn behind_proxy(header: Option<&str>) -> TestApp {
    let header = header.map(str::to_owned);
    spawn_app_with(move |f| {
        let f = f.merge(("trusted_proxies", "127.0.0.1/32, 10.0.0.0/8"));
        match header {
            Some(header) => f.merge(("client_address_header", header)),
            None => f,
        }
    })
    .await
}

async fn login(
    app: &TestApp,
    username: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.client.post(app.url("/oauth/token")).form(&[
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
    ]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn assert_failed(response: reqwest::Response) {
    assert_oauth_error(response, 400, "invalid_grant").await;
}

/// Ada's right password, from the client these headers name: `true` if
/// refused (that client address is locked), `false` if issued.
async fn locked(app: &TestApp, headers: &[(&str, &str)]) -> bool {
    let response = login(app, "ada@example.com", PASSWORD, headers).await;
    match response.status().as_u16() {
        429 => {
            assert!(response.headers().get("retry-after").is_some());
            true
        }
        200 => false,
        other => panic!("{headers:?}: {other} {}", response.text().await.unwrap()),
    }
}

#[tokio::test]
async fn by_default_only_x_forwarded_for_names_the_client() {
    let app = behind_proxy(None).await;
    app.signup("ada@example.com").await;
    // 30 failures from 203.0.113.7, each beside a Forwarded the client
    // wrote itself (a proxy that appends to X-Forwarded-For passes it on).
    for i in 0..30 {
        let forwarded = format!("for=198.51.100.{i}");
        let headers = [
            ("X-Forwarded-For", "203.0.113.7"),
            ("Forwarded", forwarded.as_str()),
        ];
        assert_failed(login(&app, &format!("n{i}@example.com"), WRONG, &headers).await).await;
    }
    // 203.0.113.7 is refused, whatever Forwarded says.
    assert!(
        locked(
            &app,
            &[
                ("X-Forwarded-For", "203.0.113.7"),
                ("Forwarded", "for=198.51.100.200"),
            ]
        )
        .await
    );
    // Forwarded is not read: alone, the client is the proxy's peer, and
    // beside X-Forwarded-For the latter decides.
    assert!(!locked(&app, &[("Forwarded", "for=203.0.113.7")]).await);
    assert!(
        !locked(
            &app,
            &[
                ("X-Forwarded-For", "203.0.113.8"),
                ("Forwarded", "for=203.0.113.7"),
            ]
        )
        .await
    );
}

#[tokio::test]
async fn with_forwarded_only_forwarded_names_the_client() {
    let app = behind_proxy(Some("forwarded")).await;
    app.signup("ada@example.com").await;
    // The proxy's Forwarded says 203.0.113.7; the client adds an
    // X-Forwarded-For of its own choosing to every attempt.
    for i in 0..30 {
        let xff = format!("198.51.100.{i}");
        let headers = [
            ("X-Forwarded-For", xff.as_str()),
            ("Forwarded", "for=203.0.113.7"),
        ];
        assert_failed(login(&app, &format!("n{i}@example.com"), WRONG, &headers).await).await;
    }
    // That client is refused however the chain reads.
    let refused: &[&[(&str, &str)]] = &[
        &[("Forwarded", "for=203.0.113.7")],
        &[("Forwarded", "For=\"203.0.113.7:4711\";proto=https")],
        &[(
            "Forwarded",
            "for=198.51.100.1, for=203.0.113.7, for=10.0.0.1",
        )],
        &[
            ("Forwarded", "for=198.51.100.1"),
            ("Forwarded", "for=203.0.113.7;by=10.0.0.2"),
        ],
        &[
            ("X-Forwarded-For", "198.51.100.9"),
            ("Forwarded", "for=203.0.113.7"),
        ],
    ];
    for headers in refused {
        assert!(locked(&app, headers).await, "{headers:?}");
    }
    // X-Forwarded-For is not read: alone, the client is the peer.
    assert!(!locked(&app, &[("X-Forwarded-For", "203.0.113.7")]).await);
    assert!(!locked(&app, &[("Forwarded", "for=\"[2001:db8:cafe::17]:4711\"")]).await);

    // IPv6 counts by /64: a quoted address with a port locks its
    // neighbours, not the next /64.
    for i in 0..30 {
        let forwarded = format!("for=\"[2001:db8:beef:1::{i:x}]:443\"");
        let headers = [("Forwarded", forwarded.as_str())];
        assert_failed(login(&app, &format!("v6-{i}@example.com"), WRONG, &headers).await).await;
    }
    assert!(locked(&app, &[("Forwarded", "for=\"[2001:db8:beef:1::ffff]\"")]).await);
    assert!(!locked(&app, &[("Forwarded", "for=\"[2001:db8:beef:2::1]\"")]).await);
}
