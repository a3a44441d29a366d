//! The client credentials, authorization code and refresh token grants at
//! `POST /oauth/token`, and their refusals (RFC 6749 §5.2).

use auth_server::store::codes;
use serde_json::Value;

use crate::helpers::{PASSWORD, decode_parts, spawn_app, verify_with_jwks};
use crate::oauth_support::*;

#[tokio::test]
async fn client_credentials_with_basic_and_body_authentication() {
    let app = spawn_app().await;
    let client = service(&app).await;
    let secret = client.secret.clone().unwrap();
    let jwks = app.get_jwks().await;

    let basic = post_form(
        &app,
        "/oauth/token",
        Some(&client.basic()),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let body = post_form(
        &app,
        "/oauth/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", &secret),
        ],
    )
    .await;
    for response in [basic, body] {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "profiles:read");
        assert!(
            body.get("refresh_token").is_none(),
            "RFC 6749 §4.4.3: no refresh token"
        );
        let token = body["access_token"].as_str().unwrap();
        let claims = verify_with_jwks(token, &jwks).unwrap();
        assert_eq!(claims["sub"], client.id);
        assert_eq!(claims["client_id"], client.id);
        assert!(claims.get("email").is_none());
    }
}

#[tokio::test]
async fn a_wrong_client_secret_is_401_invalid_client_with_www_authenticate() {
    let app = spawn_app().await;
    let client = service(&app).await;
    let wrong = RegisteredClient {
        id: client.id.clone(),
        secret: Some("not-the-secret".into()),
    };
    for response in [
        post_form(
            &app,
            "/oauth/token",
            Some(&wrong.basic()),
            &[("grant_type", "client_credentials")],
        )
        .await,
        post_form(
            &app,
            "/oauth/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client.id),
                ("client_secret", "nope"),
            ],
        )
        .await,
    ] {
        assert!(response.headers().get("www-authenticate").is_some());
        assert_oauth_error(response, 401, "invalid_client").await;
    }
}

#[tokio::test]
async fn a_grant_the_client_is_not_registered_for_is_unauthorized_client() {
    let app = spawn_app().await;
    let client = register_client(
        &app,
        "Code only",
        &["authorization_code"],
        "profile:read",
        false,
    )
    .await;
    let response = post_form(
        &app,
        "/oauth/token",
        Some(&client.basic()),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_oauth_error(response, 400, "unauthorized_client").await;

    // A public client has no credentials to use this grant with.
    let public = public_app(&app).await;
    let response = post_form(
        &app,
        "/oauth/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &public.id),
        ],
    )
    .await;
    assert_oauth_error(response, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn client_credentials_scope_beyond_registration_is_invalid_scope() {
    let app = spawn_app().await;
    let client = service(&app).await;
    let response = post_form(
        &app,
        "/oauth/token",
        Some(&client.basic()),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "profiles:read profile:write"),
        ],
    )
    .await;
    assert_oauth_error(response, 400, "invalid_scope").await;
}

#[tokio::test]
async fn authorization_code_with_pkce_issues_user_tokens() {
    let app = spawn_app().await;
    let user = app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let code = code_for(&app, &client.id, "ada@example.com").await;

    let response = exchange(&app, &client.id, &code, VERIFIER).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "profile:read");
    assert!(body["refresh_token"].is_string());
    let (header, claims) = decode_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["client_id"], client.id);
    // A third party granted neither `email` nor `profile` learns neither.
    assert!(claims.get("email").is_none(), "{claims}");
    assert!(claims.get("name").is_none(), "{claims}");
    assert_eq!(claims["scope"], "profile:read");
}

#[tokio::test]
async fn a_replayed_code_fails_and_revokes_what_it_issued() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let resource = service(&app).await;
    let code = code_for(&app, &client.id, "ada@example.com").await;

    let first: Value = exchange(&app, &client.id, &code, VERIFIER)
        .await
        .json()
        .await
        .unwrap();
    let access = first["access_token"].as_str().unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();
    assert!(is_active(&app, &resource, access).await);

    assert_oauth_error(
        exchange(&app, &client.id, &code, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;

    // RFC 6749 §4.1.2: the tokens of the first exchange are revoked.
    assert!(!is_active(&app, &resource, access).await);
    let response = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("refresh_token", refresh),
        ])
        .await;
    assert_oauth_error(response, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_wrong_code_verifier_is_invalid_grant_and_burns_the_code() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let code = code_for(&app, &client.id, "ada@example.com").await;
    let wrong = "x".repeat(43);
    assert_oauth_error(
        exchange(&app, &client.id, &code, &wrong).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        exchange(&app, &client.id, &code, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_mismatched_redirect_uri_at_the_exchange_is_invalid_grant() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let code = code_for(&app, &client.id, "ada@example.com").await;
    let response = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client.id),
            ("code", &code),
            ("redirect_uri", "https://app.example/callback/other"),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_oauth_error(response, 400, "invalid_grant").await;
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let app = spawn_app().await;
    let user = app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    // Issued long enough ago to have expired: time is a parameter, no sleep.
    let issued_at = shared::clock::Clock::now(&shared::clock::SystemClock) - codes::CODE_TTL - 1;
    let code = codes::create(
        &app.db,
        codes::NewCode {
            client_id: &client.id,
            user_id: user["id"].as_str().unwrap(),
            redirect_uri: REDIRECT_URI,
            scope: "profile:read",
            code_challenge: Some(&challenge(VERIFIER)),
            nonce: None,
            auth_time: None,
            sid: None,
            resource: None,
            dpop_jkt: None,
            now: issued_at,
        },
    )
    .await
    .unwrap();
    assert_oauth_error(
        exchange(&app, &client.id, &code, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_code_cannot_be_exchanged_by_another_client() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let other = public_app(&app).await;
    let code = code_for(&app, &client.id, "ada@example.com").await;
    assert_oauth_error(
        exchange(&app, &other.id, &code, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
}

async fn password_tokens(app: &crate::helpers::TestApp) -> Value {
    let response = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn refresh(
    app: &crate::helpers::TestApp,
    token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", "first-party"),
        ("refresh_token", token),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    app.post_token(&form).await
}

#[tokio::test]
async fn refresh_rotates_and_reuse_kills_the_family() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let first = password_tokens(&app).await;
    let r1 = first["refresh_token"]
        .as_str()
        .expect("the password grant issues a refresh token");

    let second = refresh(&app, r1, None).await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["cache-control"], "no-store");
    let second: Value = second.json().await.unwrap();
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2, "the refresh token rotates");
    assert_eq!(second["scope"], "profile:read profile:write");

    // r1 is dead; presenting it again revokes the family, r2 included.
    assert_oauth_error(refresh(&app, r1, None).await, 400, "invalid_grant").await;
    assert_oauth_error(refresh(&app, r2, None).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn refresh_may_narrow_the_scope_but_not_widen_it() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let first = password_tokens(&app).await;
    let r1 = first["refresh_token"].as_str().unwrap();

    assert_oauth_error(
        refresh(&app, r1, Some("profile:read profiles:read")).await,
        400,
        "invalid_scope",
    )
    .await;

    // The refusal did not spend the token; narrowing works.
    let narrowed = refresh(&app, r1, Some("profile:read")).await;
    assert_eq!(narrowed.status(), 200);
    let narrowed: Value = narrowed.json().await.unwrap();
    assert_eq!(narrowed["scope"], "profile:read");
    // The next refresh may return to the original grant's scope (RFC 6749 §6).
    let r2 = narrowed["refresh_token"].as_str().unwrap();
    let again: Value = refresh(&app, r2, None).await.json().await.unwrap();
    assert_eq!(again["scope"], "profile:read profile:write");
}

#[tokio::test]
async fn a_refresh_token_is_bound_to_its_client() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let first = password_tokens(&app).await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let response = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("refresh_token", r1),
        ])
        .await;
    assert_oauth_error(response, 400, "invalid_grant").await;
    // Still usable by its own client.
    assert_eq!(refresh(&app, r1, None).await.status(), 200);
}

/// Clients are remembered between grants; a change made by another process
/// (the CLI, another instance) reaches this one through the version poll.
#[tokio::test]
async fn a_cached_client_deleted_elsewhere_is_refused_within_two_seconds() {
    use std::time::{Duration, Instant};
    let app = spawn_app().await;
    let client = service(&app).await;
    let basic = client.basic();
    let grant = || {
        post_form(
            &app,
            "/oauth/token",
            Some(&basic),
            &[("grant_type", "client_credentials")],
        )
    };
    // The first version poll runs at liftoff, the next a second later;
    // until one has run, nothing is served from memory.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(grant().await.status(), 200);
    // Remembered: the row removed behind the server's back (no version
    // bump, as no supported path does) still authenticates.
    let elsewhere = auth_server::store::Db::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("delete from clients where id = $1")
        .bind(client.id.as_str())
        .execute(&elsewhere.pool)
        .await
        .unwrap();
    assert_eq!(grant().await.status(), 200, "served from memory");
    // A deletion the supported way bumps the version; this process's cache
    // is not the one that made it.
    auth_server::store::clients::Clients::new(elsewhere)
        .delete(&client.id)
        .await
        .unwrap();
    let deleted = Instant::now();
    loop {
        let response = grant().await;
        if response.status() == 401 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "invalid_client");
            break;
        }
        assert_eq!(response.status(), 200);
        assert!(
            deleted.elapsed() < Duration::from_secs(2),
            "still accepted after 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..5 {
        assert_eq!(grant().await.status(), 401, "stays refused");
    }
}

#[tokio::test]
async fn a_client_deleted_through_this_process_is_refused_at_once() {
    let app = spawn_app().await;
    let client = service(&app).await;
    let basic = client.basic();
    let grant = || {
        post_form(
            &app,
            "/oauth/token",
            Some(&basic),
            &[("grant_type", "client_credentials")],
        )
    };
    assert_eq!(grant().await.status(), 200);
    assert_eq!(grant().await.status(), 200);
    assert!(app.clients.delete(&client.id).await.unwrap());
    assert_eq!(grant().await.status(), 401);
}
