//! OpenID Connect sign-in sessions: a session skips the password,
//! remembered consent skips the page, and `prompt` and `max_age` say when
//! neither may be skipped.

use crate::helpers::{PASSWORD, spawn_app, spawn_app_with};
use crate::oauth_support::*;
use crate::oidc::*;

#[tokio::test]
async fn a_session_skips_the_password_and_remembered_consent_skips_the_page() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let query = query_with(&client.id, &[("scope", "openid profile:read")]);
    let (mut browser, page) = Browser::open(&app, &as_refs(&query)).await;
    let page = page.text().await.unwrap();
    let consent = browser
        .submit(
            &page,
            &[
                ("action", "login"),
                ("username", EMAIL),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(consent.status(), 200);
    let header = set_cookie(&consent, "auth_session").expect("a session cookie");
    assert!(header.contains("HttpOnly"), "{header}");
    assert!(header.contains("SameSite=Lax"), "{header}");
    assert!(header.contains("Path=/oauth"), "{header}");
    assert!(header.contains("Max-Age=28800"), "{header}");
    assert!(!header.contains("Secure"), "the issuer is http: {header}");
    let session = header.split(';').next().unwrap().to_owned();
    // Stored hashed: the cookie's value is nowhere in the database.
    let value = session.trim_start_matches("auth_session=");
    let stored: Vec<String> = sqlx::query_scalar("select session_hash from sign_in_sessions")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], value);

    // Before consent, the session shows the consent page, not the password.
    let page = authorize_with_cookie(&app, &query, &session).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(hidden(&html, "ticket").is_some(), "the consent page");
    assert!(!html.contains("type=\"password\""));

    let consent = consent.text().await.unwrap();
    let redirect = browser.submit(&consent, &[("action", "allow")]).await;
    assert_eq!(redirect.status(), 303);
    assert!(location_param(&redirect, "code").is_some());

    // Signed in and consented: a code at once, with and without prompt=none.
    for extra in [vec![], vec![("prompt", "none")]] {
        let mut q = query.clone();
        for (k, v) in &extra {
            q.push((k, (*v).to_owned()));
        }
        let response = authorize_with_cookie(&app, &q, &session).await;
        assert_eq!(response.status(), 303, "{extra:?}");
        assert!(location_param(&response, "code").is_some());
        assert_eq!(
            location_param(&response, "state").as_deref(),
            Some("xyz-123")
        );
    }
    // A scope not yet allowed: consent_required with prompt=none.
    let wider = query_with(
        &client.id,
        &[
            ("scope", "openid profile:read profile:write"),
            ("prompt", "none"),
        ],
    );
    let response = authorize_with_cookie(&app, &wider, &session).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location_param(&response, "error").as_deref(),
        Some("consent_required")
    );
    assert_eq!(
        location_param(&response, "state").as_deref(),
        Some("xyz-123")
    );
    // prompt=consent shows the page even though consent was given.
    let again = query_with(
        &client.id,
        &[("scope", "openid profile:read"), ("prompt", "consent")],
    );
    let response = authorize_with_cookie(&app, &again, &session).await;
    assert_eq!(response.status(), 200);

    // prompt=login and an exceeded max_age ask for the password again.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for extra in [("prompt", "login"), ("max_age", "0")] {
        let q = query_with(&client.id, &[("scope", "openid profile:read"), extra]);
        let response = authorize_with_cookie(&app, &q, &session).await;
        assert_eq!(response.status(), 200, "{extra:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains("type=\"password\""), "{extra:?}");
    }
    let q = query_with(
        &client.id,
        &[("scope", "openid profile:read"), ("max_age", "3600")],
    );
    let response = authorize_with_cookie(&app, &q, &session).await;
    assert_eq!(response.status(), 303);
    assert!(location_param(&response, "code").is_some());
}

#[tokio::test]
async fn prompt_none_without_a_usable_session_is_login_required() {
    let app = spawn_app_with(|f| f.merge(("session_ttl", 600))).await;
    let user = app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let none = query_with(&client.id, &[("scope", "openid"), ("prompt", "none")]);
    let login_required = |response: &reqwest::Response| {
        assert_eq!(response.status(), 303);
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(REDIRECT_URI), "{location}");
        assert_eq!(
            location_param(response, "error").as_deref(),
            Some("login_required")
        );
        assert_eq!(
            location_param(response, "state").as_deref(),
            Some("xyz-123")
        );
    };
    login_required(&authorize_with_cookie(&app, &none, "").await);

    let (session, redirect) = sign_in(&app, &query_with(&client.id, &[("scope", "openid")])).await;
    assert_eq!(redirect.status(), 303);
    let ok = authorize_with_cookie(&app, &none, &session).await;
    assert!(location_param(&ok, "code").is_some(), "the session works");

    // Tampered: one character changed, or garbage.
    let mut tampered = session.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    login_required(&authorize_with_cookie(&app, &none, &tampered).await);
    login_required(&authorize_with_cookie(&app, &none, "auth_session=%00%ff").await);
    let page = authorize_with_cookie(&app, &query_with(&client.id, &[]), &tampered).await;
    assert_eq!(page.status(), 200, "the login page");

    // SESSION_TTL is the session's lifetime; once past it, no session.
    let (auth_time, expires_at): (i64, i64) =
        sqlx::query_as("select auth_time, expires_at from sign_in_sessions")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(expires_at - auth_time, 600);
    sqlx::query("update sign_in_sessions set expires_at = $1")
        .bind(shared::clock::unix_now())
        .execute(&app.db.pool)
        .await
        .unwrap();
    login_required(&authorize_with_cookie(&app, &none, &session).await);

    // A deleted user's session is no session.
    let (session, _) = sign_in(&app, &query_with(&client.id, &[("scope", "openid")])).await;
    login_required(&authorize_with_cookie(&app, &none, "").await);
    let ok = authorize_with_cookie(&app, &none, &session).await;
    assert!(location_param(&ok, "code").is_some());
    sqlx::query("delete from users where id = $1")
        .bind(user["id"].as_str().unwrap())
        .execute(&app.db.pool)
        .await
        .unwrap();
    login_required(&authorize_with_cookie(&app, &none, &session).await);
}

#[tokio::test]
async fn contradictory_prompts_bad_max_age_and_long_nonces_are_invalid_requests() {
    let app = spawn_app().await;
    let client = oidc_client(&app).await;
    let long_nonce = "n".repeat(513);
    for extra in [
        ("prompt", "none login"),
        ("prompt", "consent none"),
        ("max_age", "-1"),
        ("max_age", "soon"),
        ("nonce", long_nonce.as_str()),
    ] {
        let query = query_with(&client.id, &[("scope", "openid"), extra]);
        let (_, response) = Browser::open(&app, &as_refs(&query)).await;
        assert_eq!(response.status(), 303, "{extra:?}");
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(REDIRECT_URI));
        assert_eq!(
            location_param(&response, "error").as_deref(),
            Some("invalid_request"),
            "{extra:?}"
        );
        assert_eq!(
            location_param(&response, "state").as_deref(),
            Some("xyz-123")
        );
        assert!(location_param(&response, "code").is_none());
    }
    // A nonce of 512 characters is fine.
    let query = query_with(
        &client.id,
        &[("scope", "openid"), ("nonce", &long_nonce[..512])],
    );
    let (_, response) = Browser::open(&app, &as_refs(&query)).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn consent_given_in_two_tabs_at_once_is_remembered_once_and_both_get_codes() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    for round in 0..30 {
        let client = oidc_client(&app).await;
        let query = query_with(&client.id, &[("scope", "openid email profile:read")]);
        // Two tabs, each signed in up to its consent page.
        let mut tabs = Vec::new();
        for _ in 0..2 {
            let (mut browser, page) = Browser::open(&app, &as_refs(&query)).await;
            let page = page.text().await.unwrap();
            let consent = browser
                .submit(
                    &page,
                    &[
                        ("action", "login"),
                        ("username", EMAIL),
                        ("password", PASSWORD),
                    ],
                )
                .await;
            assert_eq!(consent.status(), 200, "round {round}");
            let consent = consent.text().await.unwrap();
            tabs.push((browser, consent));
        }
        let [(mut a, page_a), (mut b, page_b)]: [_; 2] = tabs.try_into().ok().unwrap();
        let (ra, rb) = tokio::join!(
            a.submit(&page_a, &[("action", "allow")]),
            b.submit(&page_b, &[("action", "allow")])
        );
        for response in [&ra, &rb] {
            assert_eq!(response.status(), 303, "round {round}");
            assert!(location_param(response, "code").is_some(), "round {round}");
        }
        let rows: i64 = sqlx::query_scalar("select count(*) from consents where client_id = $1")
            .bind(&client.id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        assert_eq!(rows, 3, "one row per scope, round {round}");
    }
}

#[tokio::test]
async fn max_age_zero_asks_for_the_password_even_in_the_second_of_the_sign_in() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let query = query_with(&client.id, &[("scope", "openid profile:read")]);
    let (session, redirect) = sign_in(&app, &query).await;
    assert!(location_param(&redirect, "code").is_some());
    // A sign-in that is not older than 0 seconds: in the same second as
    // the request, made certain here by dating it later.
    sqlx::query("update sign_in_sessions set auth_time = auth_time + 3600")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let fresh = query_with(
        &client.id,
        &[("scope", "openid profile:read"), ("max_age", "3600")],
    );
    let response = authorize_with_cookie(&app, &fresh, &session).await;
    assert!(
        location_param(&response, "code").is_some(),
        "the session works"
    );

    let zero = query_with(
        &client.id,
        &[("scope", "openid profile:read"), ("max_age", "0")],
    );
    let response = authorize_with_cookie(&app, &zero, &session).await;
    assert_eq!(response.status(), 200, "the sign-in page, not a code");
    let html = response.text().await.unwrap();
    assert!(html.contains("type=\"password\""));
    let silent = query_with(
        &client.id,
        &[
            ("scope", "openid profile:read"),
            ("max_age", "0"),
            ("prompt", "none"),
        ],
    );
    let response = authorize_with_cookie(&app, &silent, &session).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location_param(&response, "error").as_deref(),
        Some("login_required")
    );
    assert!(location_param(&response, "code").is_none());

    // Typing the password answers it: a code, with the new auth_time.
    let before = shared::clock::unix_now();
    let (_, redirect) = sign_in(&app, &zero).await;
    let tokens = tokens_for(&app, &client, &redirect).await;
    let claims = verify_id_token(
        tokens["id_token"].as_str().unwrap(),
        &client.id,
        &app.get_jwks().await,
    );
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(
        auth_time >= before && auth_time <= before + 60,
        "{auth_time}"
    );
}
