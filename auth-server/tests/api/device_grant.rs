//! The device authorization grant's API (RFC 8628): the codes handed to a
//! device, stored hashed; polling answers `authorization_pending`,
//! `slow_down` (the interval grows by 5 s, in the database),
//! `access_denied` and `expired_token`; approved, the tokens are issued
//! once, however many polls race for them.

use auth_server::store::device_codes::{self, normalise_user_code};
use serde_json::{Value, json};
use shared::clock::unix_now;

use crate::helpers::{ISSUER, TestApp, decode_parts, spawn_app};
use crate::oauth_support::{RegisteredClient, assert_oauth_error, post_form, register_client};

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A public device client (a TV, a command-line tool) that may refresh.
pub async fn device_client(app: &TestApp) -> RegisteredClient {
    register_client(
        app,
        "Living-room TV",
        &[DEVICE_GRANT, "refresh_token"],
        "profile:read profile:write",
        true,
    )
    .await
}

/// `POST /oauth/device_authorization` for a public client: the answer.
pub async fn start(app: &TestApp, client: &RegisteredClient, extra: &[(&str, &str)]) -> Value {
    let mut form = vec![("client_id", client.id.as_str())];
    form.extend_from_slice(extra);
    let response = post_form(app, "/oauth/device_authorization", None, &form).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// One poll of the token endpoint.
pub async fn poll(app: &TestApp, client_id: &str, device_code: &str) -> reqwest::Response {
    post_form(
        app,
        "/oauth/token",
        None,
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", client_id),
            ("device_code", device_code),
        ],
    )
    .await
}

/// As if the last poll were long ago, so the next is not too soon.
async fn wait_an_interval(app: &TestApp) {
    sqlx::query("update device_codes set last_polled_at = last_polled_at - 1000")
        .execute(&app.db.pool)
        .await
        .unwrap();
}

/// Decides on a user code as the page would, for `email`'s account.
pub async fn decide(app: &TestApp, user_code: &str, email: &str, approve: bool) {
    let user = auth_server::store::users::find_by_email(&app.db, email)
        .await
        .unwrap()
        .unwrap();
    let code = normalise_user_code(user_code).unwrap();
    assert!(
        device_codes::decide(&app.db, &code, &user.id, approve, unix_now())
            .await
            .unwrap()
    );
}

/// A request's form, and the status and error it must get.
type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);

async fn stored_codes(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from device_codes")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn device_authorization_hands_out_codes_stored_only_hashed() {
    let app = spawn_app().await;
    let client = device_client(&app).await;
    let body = start(&app, &client, &[("scope", "profile:read")]).await;

    let user_code = body["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9, "{body}");
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code
            .chars()
            .filter(|c| *c != '-')
            .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c))
    );
    assert_eq!(body["verification_uri"], format!("{ISSUER}/oauth/device"));
    assert_eq!(
        body["verification_uri_complete"],
        format!("{ISSUER}/oauth/device?user_code={user_code}")
    );
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["interval"], 5);
    let device_code = body["device_code"].as_str().unwrap();
    assert!(device_code.len() >= 43, "256 bits");

    let (device_hash, user_hash, scope): (String, String, String) =
        sqlx::query_as("select device_code_hash, user_code_hash, scope from device_codes")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_ne!(device_hash, device_code);
    assert!(!user_hash.contains(&user_code.replace('-', "")));
    assert_eq!(scope, "profile:read");
    // Two requests, two different pairs.
    let again = start(&app, &client, &[]).await;
    assert_ne!(again["user_code"], body["user_code"]);
    assert_ne!(again["device_code"], body["device_code"]);
}

#[tokio::test]
async fn bad_device_authorization_requests_store_nothing() {
    let app = spawn_app().await;
    let device = device_client(&app).await;
    let other = register_client(
        &app,
        "Code app",
        &["authorization_code"],
        "profile:read",
        true,
    )
    .await;

    let cases: Vec<Case> = vec![
        (
            vec![("client_id", other.id.as_str())],
            400,
            "unauthorized_client",
        ),
        (vec![("client_id", "nobody")], 401, "invalid_client"),
        (vec![], 401, "invalid_client"),
        (
            vec![
                ("client_id", device.id.as_str()),
                ("scope", "profiles:read"),
            ],
            400,
            "invalid_scope",
        ),
        (
            vec![("client_id", device.id.as_str()), ("resource", "payroll")],
            400,
            "invalid_target",
        ),
    ];
    for (form, status, error) in cases {
        let response = post_form(&app, "/oauth/device_authorization", None, &form).await;
        assert_oauth_error(response, status, error).await;
    }
    assert_eq!(stored_codes(&app).await, 0);
}

#[tokio::test]
async fn polling_is_pending_then_slow_down_then_the_tokens_once() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = device_client(&app).await;
    let body = start(&app, &client, &[]).await;
    let device_code = body["device_code"].as_str().unwrap();

    let response = poll(&app, &client.id, device_code).await;
    assert_oauth_error(response, 400, "authorization_pending").await;
    // At once again: too soon, and the interval grows by 5 s, in the database.
    let response = poll(&app, &client.id, device_code).await;
    assert_oauth_error(response, 400, "slow_down").await;
    let interval: i64 = sqlx::query_scalar("select interval_secs from device_codes")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(interval, 10);
    wait_an_interval(&app).await;
    let response = poll(&app, &client.id, device_code).await;
    assert_oauth_error(response, 400, "authorization_pending").await;

    // Another client polling this code learns nothing.
    let thief = register_client(&app, "Thief", &[DEVICE_GRANT], "profile:read", true).await;
    wait_an_interval(&app).await;
    let response = poll(&app, &thief.id, device_code).await;
    assert_oauth_error(response, 400, "invalid_grant").await;

    decide(
        &app,
        body["user_code"].as_str().unwrap(),
        "ada@example.com",
        true,
    )
    .await;
    let response = poll(&app, &client.id, device_code).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "profile:read profile:write");
    assert!(tokens["refresh_token"].is_string());
    let claims = decode_parts(tokens["access_token"].as_str().unwrap()).1;
    assert_eq!(claims["client_id"], client.id.as_str());
    let ada = auth_server::store::users::find_by_email(&app.db, "ada@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claims["sub"], ada.id.as_str());

    // Issued once: a later poll, however late, is invalid_grant.
    wait_an_interval(&app).await;
    let response = poll(&app, &client.id, device_code).await;
    assert_oauth_error(response, 400, "invalid_grant").await;
    let response = poll(&app, &client.id, "not-a-device-code").await;
    assert_oauth_error(response, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_denied_code_is_access_denied_and_an_old_one_expired_token() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = device_client(&app).await;
    let denied = start(&app, &client, &[]).await;
    decide(
        &app,
        denied["user_code"].as_str().unwrap(),
        "ada@example.com",
        false,
    )
    .await;
    let response = poll(&app, &client.id, denied["device_code"].as_str().unwrap()).await;
    assert_oauth_error(response, 400, "access_denied").await;

    let old = start(&app, &client, &[]).await;
    sqlx::query("update device_codes set expires_at = $1 where status = 'pending'")
        .bind(unix_now() - 1)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let response = poll(&app, &client.id, old["device_code"].as_str().unwrap()).await;
    assert_oauth_error(response, 400, "expired_token").await;
    // Too late to approve, too.
    let code = normalise_user_code(old["user_code"].as_str().unwrap()).unwrap();
    assert!(
        !device_codes::decide(&app.db, &code, "someone", true, unix_now())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn concurrent_polls_after_approval_get_the_tokens_exactly_once() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = device_client(&app).await;
    for trial in 0..20 {
        let body = start(&app, &client, &[]).await;
        let device_code = body["device_code"].as_str().unwrap().to_owned();
        decide(
            &app,
            body["user_code"].as_str().unwrap(),
            "ada@example.com",
            true,
        )
        .await;
        let polls = (0..8).map(|_| poll(&app, &client.id, &device_code));
        let answers = futures::future::join_all(polls).await;
        let mut won = 0;
        for answer in answers {
            match answer.status().as_u16() {
                200 => won += 1,
                400 => {
                    let body: Value = answer.json().await.unwrap();
                    assert_eq!(body["error"], "invalid_grant", "trial {trial}: {body}");
                }
                other => panic!("trial {trial}: status {other}"),
            }
        }
        assert_eq!(won, 1, "trial {trial}");
    }
    let families: i64 = sqlx::query_scalar("select count(*) from refresh_families")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(families, 20, "one grant per approval");
}

#[tokio::test]
async fn discovery_lists_the_device_endpoint_and_grant() {
    let app = spawn_app().await;
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["device_authorization_endpoint"],
        format!("{ISSUER}/oauth/device_authorization")
    );
    let grants = metadata["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!(DEVICE_GRANT)), "{metadata}");
}
