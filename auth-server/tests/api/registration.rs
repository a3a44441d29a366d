//! Dynamic client registration (API.md, "Dynamic client registration"):
//! initial access tokens from both doors, `POST /oauth/register` and its
//! refusals (each changing nothing, spending nothing), a use spent once in
//! any race, and RFC 7592 read, replace and delete.

use serde_json::{Value, json};
use sqlx::Row;

use crate::admin_api::{admin_token, call, cli_json};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::oauth_support::RegisteredClient;
use crate::private_key_jwt::{ASSERTION_TYPE, assertion, es256_key};

async fn initial_token(app: &TestApp, max_uses: i64) -> String {
    let (_, admin) = admin_token(app).await;
    let body = json!({ "max_uses": max_uses }).to_string();
    let response = call(
        app,
        reqwest::Method::POST,
        "/admin/v1/registration-tokens",
        Some(&admin),
        Some(&body),
    )
    .await;
    assert_eq!(response.status(), 201);
    let made: Value = response.json().await.unwrap();
    assert_eq!(made["max_uses"], max_uses);
    made["initial_access_token"].as_str().unwrap().to_owned()
}

async fn register(app: &TestApp, token: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/oauth/register"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// An RFC 7591 error answer: `status`, JSON, not cached; its `error`.
async fn refused(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert!(body["error_description"].is_string());
    body["error"].as_str().unwrap().to_owned()
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("n")
}

async fn client_count(app: &TestApp) -> i64 {
    count(app, "select count(*) as n from clients").await
}

fn web_app() -> Value {
    json!({
        "client_name": "Photo printer",
        "redirect_uris": ["https://printer.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "openid profile:read",
        "post_logout_redirect_uris": ["https://printer.example/bye"],
        "backchannel_logout_uri": "https://printer.example/logout"
    })
}

#[tokio::test]
async fn a_client_registers_with_an_initial_token_and_uses_its_secret() {
    let app = spawn_app().await;
    // The command line's token works as the API's does.
    let made = cli_json(
        &app,
        &[
            "registration-tokens",
            "create",
            "--max-uses",
            "2",
            "--expires-in",
            "600",
            "--json",
        ],
    )
    .await;
    assert_eq!(made["max_uses"], 2);
    let token = made["initial_access_token"].as_str().unwrap();
    // Only its digest is stored.
    let stored = count(&app, "select count(*) as n from registration_tokens").await;
    assert_eq!(stored, 1);
    let row = sqlx::query("select token_hash from registration_tokens")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let hash: String = row.get("token_hash");
    assert_ne!(hash, token);

    let response = register(&app, Some(token), &web_app().to_string()).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let client_id = body["client_id"].as_str().unwrap();
    assert_eq!(body["client_name"], "Photo printer");
    assert_eq!(body["redirect_uris"], json!(["https://printer.example/cb"]));
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(body["scope"], "openid profile:read");
    assert_eq!(
        body["backchannel_logout_uri"],
        "https://printer.example/logout"
    );
    assert_eq!(body["client_secret_expires_at"], 0);
    assert!(body["client_id_issued_at"].is_i64());
    assert_eq!(
        body["registration_client_uri"],
        format!("{}/oauth/register/{client_id}", app.config.issuer)
    );
    let secret = body["client_secret"].as_str().unwrap();
    let registration_token = body["registration_access_token"].as_str().unwrap();
    assert!(registration_token.len() >= 43);

    // Stored third-party, hashed, and recorded.
    let row = sqlx::query(
        "select first_party, secret_hash, registration_token_hash from clients where id = $1",
    )
    .bind(client_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let hashed: String = row.get("registration_token_hash");
    assert_ne!(hashed, registration_token);
    let secret_hash: String = row.get("secret_hash");
    assert_ne!(secret_hash, secret);
    let events = sqlx::query("select details from events where type = 'client_registered'")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    let details: String = events[0].get("details");
    assert!(details.contains("registration"), "{details}");
    let all: Vec<String> = sqlx::query("select details from events")
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("details"))
        .collect();
    for text in &all {
        assert!(
            !text.contains(secret) && !text.contains(registration_token) && !text.contains(token)
        );
    }

    // The password grant is refused to it (third-party).
    let client = RegisteredClient {
        id: client_id.to_owned(),
        secret: Some(secret.to_owned()),
    };
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("Authorization", client.basic())
        .form(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", crate::helpers::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "unauthorized_client");

    // A service registers for client credentials and gets a token.
    let service = json!({"client_name": "Indexer", "grant_types": ["client_credentials"], "scope": "profile:read"});
    let response = register(&app, Some(token), &service.to_string()).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["response_types"], json!([]));
    let indexer = RegisteredClient {
        id: body["client_id"].as_str().unwrap().to_owned(),
        secret: body["client_secret"].as_str().map(str::to_owned),
    };
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("Authorization", indexer.basic())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Two uses, both spent.
    let response = register(&app, Some(token), &service.to_string()).await;
    assert_eq!(refused(response, 401).await, "invalid_token");
}

#[tokio::test]
async fn a_public_client_registers_without_a_secret() {
    let app = spawn_app().await;
    let token = initial_token(&app, 1).await;
    let body = json!({
        "client_name": "Phone app",
        "redirect_uris": ["com.example.phone:/cb", "http://127.0.0.1:7000/cb"],
        "token_endpoint_auth_method": "none"
    });
    let response = register(&app, Some(&token), &body.to_string()).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert_eq!(body["grant_types"], json!(["authorization_code"]));
    assert_eq!(body["scope"], "profile:read");
    assert!(body.get("client_secret").is_none());
    assert!(body["registration_access_token"].is_string());
}

/// RFC 7591 §2: metadata the server does not understand is ignored, not
/// refused, and not stored or echoed; none of it makes a client
/// first-party.
#[tokio::test]
async fn unknown_metadata_is_ignored() {
    let app = spawn_app().await;
    let token = initial_token(&app, 1).await;
    let mut body = web_app();
    body["first_party"] = json!(true);
    body["software_statement"] = json!("eyJhbGciOiJub25lIn0.e30.");
    body["logo_uri"] = json!("https://printer.example/logo.png");
    body["x_vendor"] = json!({ "nested": [1, 2, 3] });
    let response = register(&app, Some(&token), &body.to_string()).await;
    assert_eq!(response.status(), 201);
    let stored: Value = response.json().await.unwrap();
    for member in ["first_party", "software_statement", "logo_uri", "x_vendor"] {
        assert!(stored.get(member).is_none(), "{member} echoed: {stored}");
    }
    let client_id = stored["client_id"].as_str().unwrap();
    let first_party: bool = sqlx::query("select first_party from clients where id = $1")
        .bind(client_id)
        .fetch_one(&app.db.pool)
        .await
        .map(|row| {
            row.try_get::<bool, _>("first_party")
                .or_else(|_| row.try_get::<i64, _>("first_party").map(|v| v != 0))
                .unwrap()
        })
        .unwrap();
    assert!(!first_party);
    // A client that is not first-party may not use the password grant.
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, stored["client_secret"].as_str())
        .form(&[
            ("grant_type", "password"),
            ("username", "nobody@example.com"),
            ("password", "whatever-password-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "unauthorized_client", "{error}");
}

#[tokio::test]
async fn bad_metadata_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    // One use: every refusal below must leave it unspent.
    let token = initial_token(&app, 1).await;
    let before = client_count(&app).await;
    let with = |member: &str, value: Value| {
        let mut body = web_app();
        body[member] = value;
        body.to_string()
    };
    let long = "a".repeat(2_001);
    let cases: Vec<(String, &str)> = vec![
        // The third-party limits.
        (with("grant_types", json!(["password"])), "invalid_client_metadata"),
        (with("grant_types", json!(["authorization_code", "password"])), "invalid_client_metadata"),
        (with("scope", json!("profile:read admin")), "invalid_client_metadata"),
        (with("scope", json!("profiles:read")), "invalid_client_metadata"),
        (with("scope", json!("profile:read sudo")), "invalid_client_metadata"),
        (with("grant_types", json!(["implicit"])), "invalid_client_metadata"),
        (with("response_types", json!(["token"])), "invalid_client_metadata"),
        (with("token_endpoint_auth_method", json!("client_secret_jwt")), "invalid_client_metadata"),
        // Wrong types, a member only a replacement may send.
        (with("redirect_uris", json!("https://printer.example/cb")), "invalid_client_metadata"),
        (with("client_id", json!("chosen")), "invalid_client_metadata"),
        // Duplicate members, not JSON, not an object.
        (
            r#"{"client_name": "A", "client_name": "B", "redirect_uris": ["https://a.example/cb"]}"#.to_owned(),
            "invalid_client_metadata",
        ),
        ("{not json".to_owned(), "invalid_client_metadata"),
        ("[]".to_owned(), "invalid_client_metadata"),
        // Bad URIs.
        (with("redirect_uris", json!(["javascript:alert(1)"])), "invalid_redirect_uri"),
        (with("redirect_uris", json!(["http://printer.example/cb"])), "invalid_redirect_uri"),
        (with("redirect_uris", json!(["https://printer.example/cb#frag"])), "invalid_redirect_uri"),
        (with("redirect_uris", json!([])), "invalid_client_metadata"),
        (with("post_logout_redirect_uris", json!(["data:text/html,x"])), "invalid_client_metadata"),
        // Oversized fields.
        (with("client_name", json!("n".repeat(101))), "invalid_client_metadata"),
        (with("redirect_uris", json!([format!("https://a.example/{long}")])), "invalid_client_metadata"),
        (
            with("redirect_uris", json!((0..21).map(|i| format!("https://a.example/{i}")).collect::<Vec<_>>())),
            "invalid_client_metadata",
        ),
        (with("scope", json!("openid ".repeat(200))), "invalid_client_metadata"),
        (with("response_types", json!(vec!["code"; 21])), "invalid_client_metadata"),
        (with("jwks_uri", json!(format!("https://keys.example/{long}"))), "invalid_client_metadata"),
        (with("client_name", json!("tab\there")), "invalid_client_metadata"),
    ];
    for (body, error) in &cases {
        let response = register(&app, Some(&token), body).await;
        assert_eq!(&refused(response, 400).await, error, "{body}");
    }
    // URLs the server would reach must be https to a public host.
    let outbound = [
        "http://printer.example/logout",
        "https://localhost/logout",
        "https://app.localhost/logout",
        "https://127.0.0.1/logout",
        "https://10.0.0.8/logout",
        "https://192.168.0.1/logout",
        "https://172.20.1.1/logout",
        "https://169.254.169.254/latest",
        "https://[::1]/logout",
        "https://[::ffff:127.0.0.1]/logout",
        "https://[::ffff:a9fe:a9fe]/logout",
        "https://[fe80::1]/logout",
        "https://[fc00::1]/logout",
        "https://0.0.0.0/logout",
    ];
    for uri in outbound {
        let response = register(
            &app,
            Some(&token),
            &with("backchannel_logout_uri", json!(uri)),
        )
        .await;
        assert_eq!(
            refused(response, 400).await,
            "invalid_client_metadata",
            "{uri}"
        );
        let body = json!({
            "client_name": "Signer",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": uri,
        });
        let response = register(&app, Some(&token), &body.to_string()).await;
        assert_eq!(
            refused(response, 400).await,
            "invalid_client_metadata",
            "{uri}"
        );
    }
    // Wrong media type and an oversized body: their own statuses.
    let response = app
        .client
        .post(app.url("/oauth/register"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(web_app().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(refused(response, 415).await, "invalid_request");
    let huge = with("client_name", json!("x".repeat(70_000)));
    let response = register(&app, Some(&token), &huge).await;
    assert_eq!(refused(response, 413).await, "invalid_request");

    assert_eq!(client_count(&app).await, before);
    // Nothing was spent: the one use still registers.
    let response = register(&app, Some(&token), &web_app().to_string()).await;
    assert_eq!(response.status(), 201);
    assert_eq!(client_count(&app).await, before + 1);
}

#[tokio::test]
async fn missing_forged_expired_and_used_up_initial_tokens_are_refused() {
    let app = spawn_app().await;
    let before = client_count(&app).await;
    let body = web_app().to_string();

    let response = register(&app, None, &body).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="register""#
    );
    assert_eq!(refused(response, 401).await, "invalid_token");

    let response = register(
        &app,
        Some("forged-token-of-the-right-length-000000000000"),
        &body,
    )
    .await;
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
    assert_eq!(refused(response, 401).await, "invalid_token");

    // Another scheme is no bearer token.
    let token = initial_token(&app, 5).await;
    let response = app
        .client
        .post(app.url("/oauth/register"))
        .header("authorization", format!("Basic {token}"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused(response, 401).await, "invalid_token");

    // Expired.
    sqlx::query("update registration_tokens set expires_at = $1")
        .bind(shared::clock::unix_now() - 1)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let response = register(&app, Some(&token), &body).await;
    assert_eq!(refused(response, 401).await, "invalid_token");

    // Used up.
    let once = initial_token(&app, 1).await;
    assert_eq!(register(&app, Some(&once), &body).await.status(), 201);
    let response = register(&app, Some(&once), &body).await;
    assert_eq!(refused(response, 401).await, "invalid_token");

    // Two operators' clients (one per initial token) and one registration.
    assert_eq!(client_count(&app).await, before + 3);

    // Both doors refuse a token that would never expire or be used.
    let (_, admin) = admin_token(&app).await;
    for bad in [
        r#"{"max_uses": 0}"#,
        r#"{"expires_in": 5}"#,
        r#"{"uses": 3}"#,
    ] {
        let response = call(
            &app,
            reqwest::Method::POST,
            "/admin/v1/registration-tokens",
            Some(&admin),
            Some(bad),
        )
        .await;
        assert_eq!(response.status(), 422, "{bad}");
    }
}

#[tokio::test]
async fn open_registration_needs_no_initial_token() {
    let app = spawn_app_with(|f| f.merge(("open_registration", "on"))).await;
    assert!(app.config.open_registration);
    let response = register(&app, None, &web_app().to_string()).await;
    assert_eq!(response.status(), 201);
    // A token presented is still held to account.
    let response = register(&app, Some("forged"), &web_app().to_string()).await;
    assert_eq!(refused(response, 401).await, "invalid_token");
}

#[tokio::test]
async fn one_use_is_spent_by_exactly_one_of_racing_registrations() {
    let app = spawn_app().await;
    let body = web_app().to_string();
    for trial in 0..20 {
        let token = initial_token(&app, 1).await;
        let before = client_count(&app).await;
        let racers = (0..6).map(|_| register(&app, Some(&token), &body));
        let statuses: Vec<u16> = futures::future::join_all(racers)
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        let created = statuses.iter().filter(|s| **s == 201).count();
        assert_eq!(created, 1, "trial {trial}: {statuses:?}");
        assert!(
            statuses.iter().all(|s| *s == 201 || *s == 401),
            "{statuses:?}"
        );
        assert_eq!(client_count(&app).await, before + 1, "trial {trial}");
    }
}

#[tokio::test]
async fn a_registration_is_read_replaced_and_deleted_with_its_own_token() {
    let app = spawn_app().await;
    let token = initial_token(&app, 2).await;
    let response = register(&app, Some(&token), &web_app().to_string()).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let uri = created["registration_client_uri"].as_str().unwrap();
    let path = uri.strip_prefix(&app.config.issuer).unwrap().to_owned();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let first = created["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another client's token opens nothing of this one.
    let other = register(&app, Some(&token), &web_app().to_string()).await;
    let other: Value = other.json().await.unwrap();
    let other_token = other["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let send = |method: reqwest::Method, bearer: &str, body: Option<String>| {
        let mut request = app
            .client
            .request(method, app.url(&path))
            .bearer_auth(bearer);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        request.send()
    };

    let response = send(reqwest::Method::GET, &first, None).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let read: Value = response.json().await.unwrap();
    assert_eq!(read["client_id"], client_id.as_str());
    assert_eq!(read["client_name"], "Photo printer");
    assert!(read.get("client_secret").is_none());

    for wrong in [other_token.as_str(), "nope", &token] {
        let response = send(reqwest::Method::GET, wrong, None).await.unwrap();
        assert_eq!(refused(response, 401).await, "invalid_token");
    }

    // Replace: the whole metadata, naming the client.
    let mut replacement = web_app();
    replacement["client_id"] = json!(client_id);
    replacement["client_secret"] = json!(secret);
    replacement["client_name"] = json!("Photo printer 2");
    replacement["redirect_uris"] = json!(["https://printer.example/cb2"]);

    // A wrong token, a wrong client_id, a wrong secret, bad metadata: 4xx,
    // and nothing changes.
    let response = send(
        reqwest::Method::PUT,
        &other_token,
        Some(replacement.to_string()),
    )
    .await
    .unwrap();
    assert_eq!(refused(response, 401).await, "invalid_token");
    let mut wrong_id = replacement.clone();
    wrong_id["client_id"] = json!("someone-else");
    let response = send(reqwest::Method::PUT, &first, Some(wrong_id.to_string()))
        .await
        .unwrap();
    assert_eq!(refused(response, 400).await, "invalid_client_metadata");
    let mut wrong_secret = replacement.clone();
    wrong_secret["client_secret"] = json!("guess");
    let response = send(reqwest::Method::PUT, &first, Some(wrong_secret.to_string()))
        .await
        .unwrap();
    assert_eq!(refused(response, 400).await, "invalid_client_metadata");
    let mut admin = replacement.clone();
    admin["scope"] = json!("admin");
    let response = send(reqwest::Method::PUT, &first, Some(admin.to_string()))
        .await
        .unwrap();
    assert_eq!(refused(response, 400).await, "invalid_client_metadata");
    let mut to_public = replacement.clone();
    to_public["token_endpoint_auth_method"] = json!("none");
    let response = send(reqwest::Method::PUT, &first, Some(to_public.to_string()))
        .await
        .unwrap();
    assert_eq!(refused(response, 400).await, "invalid_client_metadata");
    let read: Value = send(reqwest::Method::GET, &first, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["client_name"], "Photo printer");

    let response = send(reqwest::Method::PUT, &first, Some(replacement.to_string()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let replaced: Value = response.json().await.unwrap();
    assert_eq!(replaced["client_name"], "Photo printer 2");
    assert_eq!(
        replaced["redirect_uris"],
        json!(["https://printer.example/cb2"])
    );
    let second = replaced["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second, first);
    // The old token is spent by the rotation.
    let response = send(reqwest::Method::GET, &first, None).await.unwrap();
    assert_eq!(refused(response, 401).await, "invalid_token");
    let read: Value = send(reqwest::Method::GET, &second, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["client_name"], "Photo printer 2");

    // Delete: a wrong token leaves it; its own deletes it.
    let before = client_count(&app).await;
    let response = send(reqwest::Method::DELETE, &first, None).await.unwrap();
    assert_eq!(refused(response, 401).await, "invalid_token");
    assert_eq!(client_count(&app).await, before);
    let response = send(reqwest::Method::DELETE, &second, None).await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(client_count(&app).await, before - 1);
    let response = send(reqwest::Method::GET, &second, None).await.unwrap();
    assert_eq!(refused(response, 401).await, "invalid_token");
    // A client an operator made has no registration to open.
    let (ops, _) = admin_token(&app).await;
    let response = app
        .client
        .get(app.url(&format!("/oauth/register/{}", ops.id)))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(refused(response, 401).await, "invalid_token");
    let kinds: Vec<String> =
        sqlx::query("select type from events where type like 'client_registration%'")
            .fetch_all(&app.db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("type"))
            .collect();
    assert!(
        kinds.contains(&"client_registration_replaced".to_owned()),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"client_registration_deleted".to_owned()),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn discovery_and_the_openapi_document_name_the_registration_endpoint() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let document: Value = app.get(path).await.json().await.unwrap();
        assert_eq!(
            document["registration_endpoint"],
            format!("{}/oauth/register", app.config.issuer)
        );
    }
    let openapi: Value = app.get("/openapi.json").await.json().await.unwrap();
    let paths = &openapi["paths"];
    for path in [
        "/oauth/register",
        "/oauth/register/{client_id}",
        "/admin/v1/users",
        "/admin/v1/users/{id}",
        "/admin/v1/clients/{client_id}/secret",
        "/admin/v1/registration-tokens",
    ] {
        assert!(paths.get(path).is_some(), "{path} missing");
    }
    assert!(
        paths["/admin/v1/clients/{client_id}"]
            .get("patch")
            .is_some()
    );
}

#[tokio::test]
async fn a_key_client_registers_its_jwk_set_and_authenticates_with_it() {
    let app = spawn_app().await;
    let token = initial_token(&app, 1).await;
    let key = es256_key("reg-1");
    let body = json!({
        "client_name": "Signer",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [key.jwk]},
    });
    let response = register(&app, Some(&token), &body.to_string()).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
    assert!(created.get("client_secret").is_none());
    assert_eq!(created["jwks"]["keys"][0]["kid"], "reg-1");
    let client_id = created["client_id"].as_str().unwrap();
    let response = app
        .post_token(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion(&key, client_id)),
        ])
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_command_line_refuses_a_token_out_of_range_with_one_line() {
    let app = spawn_app().await;
    for args in [
        &["registration-tokens", "create", "--max-uses", "0"][..],
        &["registration-tokens", "create", "--expires-in", "10"][..],
    ] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_auth-server"))
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &app.database_url)
            .env("KEYS_DIR", &app.keys_dir)
            .env("RUST_LOG", "off")
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("--max-uses") || stderr.contains("--expires-in"),
            "{stderr}"
        );
    }
    assert_eq!(
        count(&app, "select count(*) as n from registration_tokens").await,
        0
    );
}

#[tokio::test]
async fn of_replacements_racing_with_one_registration_token_exactly_one_wins() {
    let app = spawn_app().await;
    let token = initial_token(&app, 1).await;
    let created: Value = register(&app, Some(&token), &web_app().to_string())
        .await
        .json()
        .await
        .unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let path = format!("/oauth/register/{client_id}");
    let mut current = created["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for trial in 0..20 {
        let racers = (0..4).map(|i| {
            let mut body = web_app();
            body["client_id"] = json!(client_id);
            body["client_name"] = json!(format!("Printer {trial}-{i}"));
            app.client
                .put(app.url(&path))
                .bearer_auth(&current)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
        });
        let answers = futures::future::join_all(racers).await;
        let mut winners = Vec::new();
        for answer in answers {
            let answer = answer.unwrap();
            match answer.status().as_u16() {
                200 => winners.push(answer.json::<Value>().await.unwrap()),
                401 => {}
                other => panic!("trial {trial}: {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "trial {trial}");
        let winner = &winners[0];
        current = winner["registration_access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let read: Value = app
            .client
            .get(app.url(&path))
            .bearer_auth(&current)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(read["client_name"], winner["client_name"], "trial {trial}");
    }
}
