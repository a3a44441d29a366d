//! `GET`/`POST /oauth/authorize`: the login and consent pages and where
//! their errors go (RFC 6749 §4.1.2.1).

use crate::helpers::{PASSWORD, spawn_app};
use crate::oauth_support::*;

#[tokio::test]
async fn the_login_page_is_plain_html_with_a_csrf_token() {
    let app = spawn_app().await;
    let client = public_app(&app).await;
    let query = pkce_query(&client.id);
    let (browser, page) = Browser::open(&app, &as_refs(&query)).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let set_cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script"));
    assert_eq!(
        Some(
            browser
                .cookie
                .trim_start_matches("authorize_csrf=")
                .to_owned()
        ),
        hidden(&html, "csrf")
    );
}

#[tokio::test]
async fn an_unregistered_redirect_uri_is_never_redirected_to() {
    let app = spawn_app().await;
    let client = public_app(&app).await;
    for redirect in [
        "https://evil.example/callback",
        "https://app.example/callback/",
        "https://app.example/callback?x=1",
    ] {
        let mut query = pkce_query(&client.id);
        query[2].1 = redirect.to_owned();
        let (_, page) = Browser::open(&app, &as_refs(&query)).await;
        assert_eq!(page.status(), 400, "{redirect}");
        assert!(page.headers().get("location").is_none());
    }
    // An unknown client is not redirected either.
    let mut query = pkce_query("no-such-client");
    query[2].1 = REDIRECT_URI.to_owned();
    let (_, page) = Browser::open(&app, &as_refs(&query)).await;
    assert_eq!(page.status(), 400);
    assert!(page.headers().get("location").is_none());
}

#[tokio::test]
async fn errors_after_a_good_redirect_uri_go_back_to_the_client() {
    let app = spawn_app().await;
    let client = public_app(&app).await;
    let cases: [(&str, Option<&str>, &str); 6] = [
        ("code_challenge_method", Some("plain"), "invalid_request"),
        ("code_challenge", None, "invalid_request"),
        ("response_type", Some("token"), "unsupported_response_type"),
        ("response_type", None, "invalid_request"),
        ("scope", Some("profiles:read"), "invalid_scope"),
        ("scope", Some("nonsense"), "invalid_scope"),
    ];
    for (name, value, error) in cases {
        let query: Vec<(&'static str, String)> = pkce_query(&client.id)
            .into_iter()
            .filter_map(|(k, v)| {
                if k != name {
                    Some((k, v))
                } else {
                    value.map(|value| (k, value.to_owned()))
                }
            })
            .collect();
        let (_, response) = Browser::open(&app, &as_refs(&query)).await;
        assert_eq!(response.status(), 303, "{name}={value:?}");
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(REDIRECT_URI), "{location}");
        assert_eq!(
            location_param(&response, "error").as_deref(),
            Some(error),
            "{name}={value:?}"
        );
        assert_eq!(
            location_param(&response, "state").as_deref(),
            Some("xyz-123")
        );
        let description = location_param(&response, "error_description");
        assert!(
            description.as_deref().is_some_and(|d| !d.is_empty()),
            "{name}={value:?}: {location}"
        );
        assert!(location_param(&response, "code").is_none());
    }
}

#[tokio::test]
async fn a_client_not_registered_for_the_code_grant_is_told_so() {
    let app = spawn_app().await;
    let client = register_client(
        &app,
        "Service",
        &["client_credentials"],
        "profile:read",
        false,
    )
    .await;
    let query = pkce_query(&client.id);
    let (_, response) = Browser::open(&app, &as_refs(&query)).await;
    assert_eq!(
        location_param(&response, "error").as_deref(),
        Some("unauthorized_client")
    );
}

#[tokio::test]
async fn a_form_without_the_csrf_cookie_is_refused() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let query = pkce_query(&client.id);
    let (mut browser, page) = Browser::open(&app, &as_refs(&query)).await;
    let page = page.text().await.unwrap();
    browser.cookie = "authorize_csrf=forged".into();
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
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn a_wrong_password_shows_the_login_page_again() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
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
                ("password", "wrong-password-123456"),
            ],
        )
        .await;
    assert_eq!(response.status(), 401);
    let html = response.text().await.unwrap();
    assert!(html.contains("incorrect"));
    assert!(hidden(&html, "ticket").is_none());
}

#[tokio::test]
async fn denying_sends_access_denied_with_the_state() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let query = pkce_query(&client.id);
    let (mut browser, page) = Browser::open(&app, &as_refs(&query)).await;
    let page = page.text().await.unwrap();
    let consent = browser
        .submit(
            &page,
            &[
                ("action", "login"),
                ("username", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    let response = browser.submit(&consent, &[("action", "deny")]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location_param(&response, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        location_param(&response, "error_description").as_deref(),
        Some("The user denied the request.")
    );
    assert_eq!(
        location_param(&response, "state").as_deref(),
        Some("xyz-123")
    );
    assert!(location_param(&response, "code").is_none());
}

#[tokio::test]
async fn a_consent_ticket_is_single_use() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let query = pkce_query(&client.id);
    let (mut browser, page) = Browser::open(&app, &as_refs(&query)).await;
    let page = page.text().await.unwrap();
    let consent = browser
        .submit(
            &page,
            &[
                ("action", "login"),
                ("username", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        browser
            .submit(&consent, &[("action", "allow")])
            .await
            .status(),
        303
    );
    let again = browser.submit(&consent, &[("action", "allow")]).await;
    assert_eq!(again.status(), 400);
    assert!(again.headers().get("location").is_none());
}

#[tokio::test]
async fn page_output_is_escaped() {
    let app = spawn_app().await;
    let client = register_client(
        &app,
        "<script>alert(1)</script>",
        &["authorization_code"],
        "profile:read",
        true,
    )
    .await;
    let mut query = pkce_query(&client.id);
    query[4].1 = "\"><img src=x onerror=alert(1)>".to_owned();
    let (_, page) = Browser::open(&app, &as_refs(&query)).await;
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>alert"));
    // Named or numeric character references, either is escaped.
    assert!(html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"));
    assert!(!html.contains("<img"));
}

/// Signing in (`POST /oauth/authorize` with credentials) while the database
/// is unreachable: `503` with `Retry-After` at once, as an HTML page with
/// the page's security headers, never a `500`. (The queue-full `503` of the
/// same form is provoked in the e2e abuse tests, against its own process:
/// the hashing queue is process-wide.)
#[tokio::test]
async fn signing_in_while_the_database_is_down_answers_503_with_retry_after() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let query = pkce_query(&client.id);
    let (mut browser, page) = Browser::open(&app, &as_refs(&query)).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();

    app.db.pool.close().await;
    for attempt in 0..2 {
        let started = std::time::Instant::now();
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
        assert_eq!(response.status(), 503, "attempt {attempt}");
        assert!(started.elapsed() < std::time::Duration::from_millis(1500));
        let retry: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=10).contains(&retry), "Retry-After {retry}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["referrer-policy"], "no-referrer");
        let html = response.text().await.unwrap();
        assert!(!html.to_lowercase().contains("pool"), "{html}");
    }
}
