//! `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662).

use serde_json::Value;

use crate::helpers::spawn_app;
use crate::oauth_support::*;

async fn user_tokens(app: &crate::helpers::TestApp, client: &RegisteredClient) -> Value {
    let code = code_for(app, &client.id, "ada@example.com").await;
    let response = exchange(app, &client.id, &code, VERIFIER).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn introspection_needs_client_authentication() {
    let app = spawn_app().await;
    let response = post_introspect(&app, None, "anything").await;
    assert!(response.headers().get("www-authenticate").is_some());
    assert_oauth_error(response, 401, "invalid_client").await;

    // A public client cannot authenticate, so it cannot introspect either.
    let public = public_app(&app).await;
    let response = post_form(
        &app,
        "/oauth/introspect",
        None,
        &[("token", "x"), ("client_id", &public.id)],
    )
    .await;
    assert_oauth_error(response, 401, "invalid_client").await;
}

#[tokio::test]
async fn introspection_describes_live_tokens_and_nothing_else() {
    let app = spawn_app().await;
    let user = app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let resource = service(&app).await;
    let tokens = user_tokens(&app, &client).await;
    let access = tokens["access_token"].as_str().unwrap();

    let response = post_introspect(&app, Some(&resource.basic()), access).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], user["id"]);
    assert_eq!(body["client_id"], client.id);
    assert_eq!(body["scope"], "profile:read");
    // The token does not carry the email (a third party without the
    // `email` scope), so neither does its introspection.
    assert!(body.get("username").is_none(), "{body}");
    let first_party = app.password_token("ada@example.com").await;
    let response = post_introspect(&app, Some(&resource.basic()), &first_party).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["username"], "ada@example.com");

    // Garbage and a token of another issuer's key are simply inactive.
    let (h, p) = {
        let mut parts = access.split('.');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };
    let forged = format!("{h}.{p}.c2lnbmF0dXJl");
    for token in ["garbage", forged.as_str()] {
        let response = post_introspect(&app, Some(&resource.basic()), token).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"active": false}));
    }
}

#[tokio::test]
async fn a_live_refresh_token_is_active_whatever_the_hint_and_never_cached() {
    let app = spawn_app().await;
    let user = app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let resource = service(&app).await;
    let tokens = user_tokens(&app, &client).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();

    for hint in [
        None,
        Some("refresh_token"),
        Some("access_token"),
        Some("nonsense"),
    ] {
        let mut form = vec![("token", refresh)];
        form.extend(hint.map(|h| ("token_type_hint", h)));
        let response = post_form(&app, "/oauth/introspect", Some(&resource.basic()), &form).await;
        assert_eq!(response.status(), 200, "hint {hint:?}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["pragma"], "no-cache");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["active"], true, "hint {hint:?}: {body}");
        assert_eq!(body["token_type"], "refresh_token");
        assert_eq!(body["sub"], user["id"]);
        assert_eq!(body["client_id"], client.id);
        assert_eq!(body["scope"], "profile:read");
    }
    // An access token under a refresh-token hint is still found.
    let response = post_form(
        &app,
        "/oauth/introspect",
        Some(&resource.basic()),
        &[("token", access), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "Bearer");

    // Once rotated, the used token is inactive.
    let rotated = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("refresh_token", refresh),
        ])
        .await;
    assert_eq!(rotated.status(), 200);
    let body: Value = post_introspect(&app, Some(&resource.basic()), refresh)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_its_family() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let resource = service(&app).await;
    let tokens = user_tokens(&app, &client).await;
    let r1 = tokens["refresh_token"].as_str().unwrap();
    let rotated: Value = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("refresh_token", r1),
        ])
        .await
        .json()
        .await
        .unwrap();
    let r2 = rotated["refresh_token"].as_str().unwrap();
    let access = rotated["access_token"].as_str().unwrap();

    let response = post_revoke(&app, None, &[("token", r2), ("client_id", &client.id)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");

    let response = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("refresh_token", r2),
        ])
        .await;
    assert_oauth_error(response, 400, "invalid_grant").await;
    assert!(
        !is_active(&app, &resource, access).await,
        "the family's access tokens are revoked too"
    );
}

#[tokio::test]
async fn revoking_an_access_token_makes_it_inactive() {
    let app = spawn_app().await;
    let resource = service(&app).await;
    let body: Value = post_form(
        &app,
        "/oauth/token",
        Some(&resource.basic()),
        &[("grant_type", "client_credentials")],
    )
    .await
    .json()
    .await
    .unwrap();
    let access = body["access_token"].as_str().unwrap();
    assert!(is_active(&app, &resource, access).await);
    let response = post_revoke(
        &app,
        Some(&resource.basic()),
        &[("token", access), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(!is_active(&app, &resource, access).await);
}

#[tokio::test]
async fn revocation_answers_200_for_unknown_and_foreign_tokens() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let other = service(&app).await;
    let response = post_revoke(&app, Some(&other.basic()), &[("token", "no-such-token")]).await;
    assert_eq!(response.status(), 200);

    // Another client's token: 200, and the token lives on.
    let tokens = user_tokens(&app, &client).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        post_revoke(&app, Some(&other.basic()), &[("token", refresh)])
            .await
            .status(),
        200
    );
    let response = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("refresh_token", refresh),
        ])
        .await;
    assert_eq!(response.status(), 200);

    // Revocation still authenticates the caller.
    let wrong = RegisteredClient {
        id: other.id.clone(),
        secret: Some("wrong".into()),
    };
    let response = post_revoke(&app, Some(&wrong.basic()), &[("token", "x")]).await;
    assert_oauth_error(response, 401, "invalid_client").await;
}

#[tokio::test]
async fn pruning_deletes_only_dead_credentials() {
    let app = spawn_app().await;
    let user = app.signup("ada@example.com").await;
    let user_id = user["id"].as_str().unwrap();
    let now = 1_900_000_000_i64;
    let (dead, alive) = (now - 10, now + 1000);
    let pool = &app.db.pool;
    for (hash, expires) in [("t-dead", dead), ("t-alive", alive)] {
        sqlx::query("insert into login_tickets (ticket_hash, user_id, client_id, expires_at) values ($1, $2, 'first-party', $3)")
            .bind(hash).bind(user_id).bind(expires).execute(pool).await.unwrap();
    }
    for (jti, expires) in [("j-dead", dead), ("j-alive", alive)] {
        sqlx::query("insert into revoked_access_tokens (jti, expires_at) values ($1, $2)")
            .bind(jti)
            .bind(expires)
            .execute(pool)
            .await
            .unwrap();
    }
    for (hash, expires) in [("r-dead", dead), ("r-alive", alive)] {
        sqlx::query(
            "insert into refresh_tokens (token_hash, family_id, client_id, user_id, scope, expires_at, created_at) \
             values ($1, 'f', 'first-party', $2, '', $3, 0)",
        )
        .bind(hash).bind(user_id).bind(expires).execute(pool).await.unwrap();
    }
    // Codes are remembered a day past expiry, so a late replay still revokes.
    for (hash, expires) in [
        ("c-long-dead", now - 2 * 86_400),
        ("c-recently-expired", now - 3600),
    ] {
        sqlx::query(
            "insert into authorization_codes (code_hash, client_id, user_id, redirect_uri, scope, expires_at, created_at) \
             values ($1, 'first-party', $2, 'https://app.example/cb', '', $3, 0)",
        )
        .bind(hash).bind(user_id).bind(expires).execute(pool).await.unwrap();
    }

    let deleted = auth_server::store::prune::prune(&app.db, now)
        .await
        .unwrap();
    // The four dead rows above, and the signup's place in the signup limit
    // (`login_failures`), whose hour is long over at `now`.
    assert_eq!(deleted, 5);
    for (table, column, kept) in [
        ("login_tickets", "ticket_hash", "t-alive"),
        ("revoked_access_tokens", "jti", "j-alive"),
        ("refresh_tokens", "token_hash", "r-alive"),
        ("authorization_codes", "code_hash", "c-recently-expired"),
    ] {
        let rows: Vec<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select {column} from {table}")))
                .fetch_all(pool)
                .await
                .unwrap();
        assert_eq!(rows, [kept], "{table}");
    }
    assert_eq!(
        auth_server::store::prune::prune(&app.db, now)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn the_built_in_client_refreshes_and_revokes_without_a_client_id() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let first: Value = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", crate::helpers::PASSWORD),
        ])
        .await
        .json()
        .await
        .unwrap();
    let r1 = first["refresh_token"].as_str().unwrap();

    let response = app
        .post_token(&[("grant_type", "refresh_token"), ("refresh_token", r1)])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let rotated: Value = response.json().await.unwrap();
    let r2 = rotated["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    assert_eq!(
        crate::helpers::decode_parts(rotated["access_token"].as_str().unwrap()).1["client_id"],
        "first-party"
    );

    // Revoked without a client_id: the family is dead.
    let response = post_revoke(&app, None, &[("token", r2)]).await;
    assert_eq!(response.status(), 200);
    let response = app
        .post_token(&[("grant_type", "refresh_token"), ("refresh_token", r2)])
        .await;
    assert_oauth_error(response, 400, "invalid_grant").await;

    // Another client's refresh token is not the built-in client's to use.
    let client = public_app(&app).await;
    let tokens = user_tokens(&app, &client).await;
    let foreign = tokens["refresh_token"].as_str().unwrap();
    let response = app
        .post_token(&[("grant_type", "refresh_token"), ("refresh_token", foreign)])
        .await;
    assert_oauth_error(response, 400, "invalid_grant").await;
    // A secret with no id is still an authentication error.
    let response = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", foreign),
            ("client_secret", "guess"),
        ])
        .await;
    assert_eq!(response.status(), 401);
}
