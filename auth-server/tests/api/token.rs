//! The password grant at `POST /oauth/token` and `POST /login`: the RFC
//! 9068 token, scopes, and the refusals in RFC 6749's format.

use serde_json::Value;

use crate::helpers::{ISSUER, PASSWORD, decode_parts, spawn_app, verify_with_jwks};

#[tokio::test]
async fn password_grant_issues_an_rfc_9068_token_on_both_paths() {
    let app = spawn_app().await;
    let user = app.signup("ada@example.com").await;
    let jwks = app.get_jwks().await;

    for response in [
        app.post_token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
        ])
        .await,
        app.post_login(&[("username", "ADA@example.com"), ("password", PASSWORD)])
            .await,
    ] {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["scope"], "profile:read profile:write");
        let token = body["access_token"].as_str().unwrap();

        let (header, claims) = decode_parts(token);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["sub"], user["id"]);
        assert_eq!(claims["aud"], "profile-api");
        assert_eq!(claims["client_id"], "first-party");
        assert_eq!(claims["scope"], "profile:read profile:write");
        assert_eq!(claims["email"], "ada@example.com");
        assert_eq!(claims["name"], "Ada Lovelace");
        let iat = claims["iat"].as_i64().unwrap();
        assert_eq!(claims["nbf"].as_i64().unwrap(), iat);
        assert_eq!(claims["exp"].as_i64().unwrap(), iat + 900);
        assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());

        // The signature verifies with the key taken from the JWKS response.
        let verified = verify_with_jwks(token, &jwks).unwrap();
        assert_eq!(verified["sub"], user["id"]);
    }
}

#[tokio::test]
async fn requested_scope_narrows_the_token() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let response = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
            ("scope", "profile:read"),
        ])
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "profile:read");
    let (_, claims) = decode_parts(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "profile:read");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_indistinguishable() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let wrong = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", "not-the-password-at-all"),
        ])
        .await;
    let unknown = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "nobody@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(unknown.status(), 400);
    assert_eq!(wrong.headers()["cache-control"], "no-store");
    let wrong = wrong.bytes().await.unwrap();
    let unknown = unknown.bytes().await.unwrap();
    assert_eq!(wrong, unknown);
    let body: Value = serde_json::from_slice(&wrong).unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].is_string());
}

#[tokio::test]
async fn missing_username_is_invalid_request() {
    let app = spawn_app().await;
    let response = app
        .post_token(&[("grant_type", "password"), ("password", PASSWORD)])
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        body["error_description"],
        "The username parameter is required."
    );

    let response = app.post_token(&[("username", "a@example.com")]).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn unknown_grant_is_unsupported_grant_type() {
    let app = spawn_app().await;
    let response = app.post_token(&[("grant_type", "urn:example:magic")]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn repeated_parameters_and_non_form_bodies_are_invalid_request() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&username=a%40b.co&username=c%40d.co&password=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let response = app
        .client
        .post(app.url("/oauth/token"))
        .json(&serde_json::json!({"grant_type": "password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn unknown_client_is_invalid_client_with_www_authenticate() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth("no-such-client", Some("secret"))
        .form(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic ")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn repeated_failures_lock_the_account_even_for_the_right_password() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    for _ in 0..5 {
        let response = app
            .post_token(&[
                ("grant_type", "password"),
                ("username", "ada@example.com"),
                ("password", "wrong-wrong-wrong"),
            ])
            .await;
        assert_eq!(response.status(), 400);
    }
    // The sixth attempt from this address is refused, right password or not.
    let response = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // Another account from the same address still logs in.
    app.signup("grace@example.com").await;
    app.password_token("grace@example.com").await;
}
