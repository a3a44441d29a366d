//! The admin API (API.md, "Admin API"): only a token of this issuer with
//! the `admin` scope opens it; clients, keys and events through it, with the
//! command line's checks and events; problem+json errors; sealed cursors.

use serde_json::{Value, json};
use shared::scope::ScopeSet;
use sqlx::Row;

use crate::helpers::{TestApp, spawn_app};
use crate::oauth_support::{RegisteredClient, post_revoke, service};

const BIN: &str = env!("CARGO_BIN_EXE_auth-server");
const PROBLEM_JSON: &str = "application/problem+json";

pub(crate) async fn cli_json(app: &TestApp, args: &[&str]) -> Value {
    let output = tokio::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("KEYS_DIR", &app.keys_dir)
        .env("RUST_LOG", "off")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A client registered from the command line with `admin`.
pub(crate) async fn operator(app: &TestApp) -> RegisteredClient {
    let created = cli_json(
        app,
        &[
            "clients",
            "create",
            "--name",
            "Deploy pipeline",
            "--grant",
            "client_credentials",
            "--scope",
            "admin",
            "--json",
        ],
    )
    .await;
    RegisteredClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"].as_str().map(str::to_owned),
    }
}

pub(crate) async fn client_token(app: &TestApp, client: &RegisteredClient) -> String {
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("Authorization", client.basic())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn admin_token(app: &TestApp) -> (RegisteredClient, String) {
    let ops = operator(app).await;
    let token = client_token(app, &ops).await;
    (ops, token)
}

pub(crate) async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    request.send().await.unwrap()
}

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    call(app, reqwest::Method::GET, path, Some(token), None).await
}

/// A problem+json answer with `status`; its body.
pub(crate) async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], PROBLEM_JSON);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    body
}

async fn client_count(app: &TestApp) -> i64 {
    sqlx::query("select count(*) as n from clients")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("n")
}

#[tokio::test]
async fn no_bad_expired_revoked_or_unprivileged_tokens_open_the_admin_api() {
    let app = spawn_app().await;
    let before = client_count(&app).await;
    let body = r#"{"name": "Sneaky", "scope": "profiles:read"}"#;
    let post = |token: Option<String>| {
        let app = &app;
        async move {
            call(
                app,
                reqwest::Method::POST,
                "/admin/v1/clients",
                token.as_deref(),
                Some(body),
            )
            .await
        }
    };

    let response = post(None).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="admin""#
    );
    problem(response, 401).await;

    let forged = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    let response = post(Some(forged.to_owned())).await;
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
    let body_text = problem(response, 401).await.to_string();
    assert!(!body_text.contains(forged));

    // A real token of ours without `admin`: a service's, and a user's.
    let billing = service(&app).await;
    let service_token = client_token(&app, &billing).await;
    let response = post(Some(service_token)).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="admin", error="insufficient_scope", scope="admin""#
    );
    let refused = problem(response, 403).await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    app.signup("ada@example.com").await;
    let user_token = app.password_token("ada@example.com").await;
    problem(post(Some(user_token)).await, 403).await;

    // An admin token that expired, and one revoked.
    let (ops, token) = admin_token(&app).await;
    let now = shared::clock::unix_now();
    let expired = app
        .issuer
        .sign_access_token(
            auth_server::oauth::jwt::Subject::Client,
            &ops.id,
            &ScopeSet::parse("admin"),
            now - 3_600,
            auth_server::oauth::jwt::new_jti(),
            None,
        )
        .unwrap()
        .token;
    problem(post(Some(expired)).await, 401).await;
    let revoked = post_revoke(&app, Some(&ops.basic()), &[("token", &token)]).await;
    assert_eq!(revoked.status(), 200);
    problem(post(Some(token)).await, 401).await;

    // Two Authorization headers are no token.
    let fresh = client_token(&app, &ops).await;
    let response = app
        .client
        .get(app.url("/admin/v1/clients"))
        .header("authorization", format!("Bearer {fresh}"))
        .header("authorization", format!("Bearer {fresh}"))
        .send()
        .await
        .unwrap();
    problem(response, 401).await;

    // The service's and the operator's clients are the only changes.
    assert_eq!(client_count(&app).await, before + 2);
    // Only the command line registers `admin`: a user grant never gets it.
    let response = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", crate::helpers::PASSWORD),
            ("scope", "admin"),
        ])
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn clients_are_registered_listed_read_and_deleted_with_events() {
    let app = spawn_app().await;
    let (ops, token) = admin_token(&app).await;

    let response = call(
        &app,
        reqwest::Method::POST,
        "/admin/v1/clients",
        Some(&token),
        Some(r#"{"name": "Billing", "grant_types": ["client_credentials"], "scope": "profiles:read"}"#),
    )
    .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["name"], "Billing");
    assert_eq!(created["scope"], "profiles:read");
    assert_eq!(created["public"], false);
    let billing = RegisteredClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"].as_str().map(str::to_owned),
    };
    // The secret works, and is never shown again.
    client_token(&app, &billing).await;
    let path = format!("/admin/v1/clients/{}", billing.id);
    let response = get(&app, &path, &token).await;
    assert_eq!(response.status(), 200);
    let read: Value = response.json().await.unwrap();
    assert_eq!(read["client_id"], billing.id.as_str());
    assert!(read.get("client_secret").is_none());

    // Three more, then every client a page of two at a time.
    for name in ["A", "B", "C"] {
        let body = json!({"name": name}).to_string();
        let response = call(
            &app,
            reqwest::Method::POST,
            "/admin/v1/clients",
            Some(&token),
            Some(&body),
        )
        .await;
        assert_eq!(response.status(), 201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/v1/clients?limit=2&cursor={c}"),
            None => "/admin/v1/clients?limit=2".to_owned(),
        };
        let response = get(&app, &path, &token).await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            assert!(item.get("client_secret").is_none());
            seen.push(item["client_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut stored: Vec<String> = sqlx::query("select id from clients")
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("id"))
        .collect();
    stored.sort();
    assert_eq!(seen, stored);

    // A cursor changed by one character, or one of another list, is refused.
    let first: Value = get(&app, "/admin/v1/clients?limit=1", &token)
        .await
        .json()
        .await
        .unwrap();
    let sealed = first["next_cursor"].as_str().unwrap();
    let mut tampered: Vec<char> = sealed.chars().collect();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    for bad in [tampered.as_str(), "not-a-cursor", &"A".repeat(2000)] {
        let response = get(&app, &format!("/admin/v1/clients?cursor={bad}"), &token).await;
        problem(response, 400).await;
    }
    let events_page: Value = get(&app, "/admin/v1/events?limit=1", &token)
        .await
        .json()
        .await
        .unwrap();
    let other_list = events_page["next_cursor"].as_str().unwrap();
    problem(
        get(
            &app,
            &format!("/admin/v1/clients?cursor={other_list}"),
            &token,
        )
        .await,
        400,
    )
    .await;
    problem(get(&app, "/admin/v1/clients?limit=0", &token).await, 400).await;

    // Deleted: gone, and a second delete finds nothing.
    let response = call(&app, reqwest::Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(response.status(), 204);
    problem(get(&app, &path, &token).await, 404).await;
    let response = call(&app, reqwest::Method::DELETE, &path, Some(&token), None).await;
    problem(response, 404).await;

    // The same events as the command line's, naming the admin client.
    let events: Value = get(&app, "/admin/v1/events?type=client_created", &token)
        .await
        .json()
        .await
        .unwrap();
    let by_api: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["by"] == "admin_api")
        .collect();
    assert_eq!(by_api.len(), 4, "{events:#}");
    assert_eq!(by_api[3]["client_id"], billing.id.as_str());
    assert_eq!(by_api[3]["details"]["admin_client_id"], ops.id.as_str());
    assert_eq!(by_api[3]["client_address"], "127.0.0.1");
    let deleted: Value = get(&app, "/admin/v1/events?type=client_deleted", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(deleted["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_registrations_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (_, token) = admin_token(&app).await;
    let before = client_count(&app).await;
    let post = |body: String| {
        let (app, token) = (&app, token.clone());
        async move {
            call(
                app,
                reqwest::Method::POST,
                "/admin/v1/clients",
                Some(&token),
                Some(&body),
            )
            .await
        }
    };
    let duplicate = r#"{"name": "A", "name": "B"}"#.to_owned();
    problem(post(duplicate).await, 400).await;
    problem(post("[1, 2]".to_owned()).await, 400).await;
    let cases = [
        (json!({"name": "A", "is_admin": true}), "body"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": "A", "scope": "admin"}), "scope"),
        (json!({"name": "A", "scope": "nonsense"}), "scope"),
        (
            json!({"name": "A", "grant_types": ["implicit"]}),
            "grant_types",
        ),
        (
            json!({"name": "A", "grant_types": ["authorization_code"], "redirect_uris": ["javascript:alert(1)"]}),
            "redirect_uris",
        ),
        (
            json!({"name": "A", "grant_types": ["authorization_code"], "redirect_uris": ["http://app.example/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"name": "A", "grant_types": ["password"]}),
            "grant_types",
        ),
    ];
    for (body, field) in cases {
        let refused = problem(post(body.to_string()).await, 422).await;
        assert_eq!(refused["errors"][0]["field"], field, "{body}: {refused}");
    }
    let response = app
        .client
        .post(app.url("/admin/v1/clients"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(r#"{"name": "A"}"#)
        .send()
        .await
        .unwrap();
    problem(response, 415).await;
    assert_eq!(client_count(&app).await, before);
}

#[tokio::test]
async fn keys_are_listed_rotated_and_revoked_and_events_paged() {
    let app = spawn_app().await;
    let (ops, token) = admin_token(&app).await;
    let listed: Value = get(&app, "/admin/v1/keys", &token)
        .await
        .json()
        .await
        .unwrap();
    let keys = listed["items"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["state"], "active");
    let old = keys[0]["kid"].as_str().unwrap().to_owned();

    let response = call(
        &app,
        reqwest::Method::POST,
        "/admin/v1/keys/rotate",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    let rotation: Value = response.json().await.unwrap();
    assert_eq!(rotation["new"]["state"], "next");
    assert_eq!(rotation["retiring"][0]["kid"], old.as_str());
    // Published by this instance at once.
    let jwks = app.get_jwks().await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let again = call(
        &app,
        reqwest::Method::POST,
        "/admin/v1/keys/rotate",
        Some(&token),
        None,
    )
    .await;
    problem(again, 409).await;
    let unknown = call(
        &app,
        reqwest::Method::POST,
        "/admin/v1/keys/nope/revoke",
        Some(&token),
        None,
    )
    .await;
    problem(unknown, 404).await;
    let path = format!("/admin/v1/keys/{old}/revoke");
    let response = call(&app, reqwest::Method::POST, &path, Some(&token), None).await;
    assert_eq!(response.status(), 200);
    let revocation: Value = response.json().await.unwrap();
    assert_eq!(revocation["revoked"]["kid"], old.as_str());
    assert_eq!(revocation["signing"]["kid"], rotation["new"]["kid"]);
    // The token was signed by the revoked key: it is dead with it.
    problem(get(&app, "/admin/v1/keys", &token).await, 401).await;
    let token = client_token(&app, &ops).await;

    // The events of both changes, a page of one at a time, newest first.
    let mut kinds = Vec::new();
    let mut path = "/admin/v1/events?limit=1".to_owned();
    loop {
        let response = get(&app, &path, &token).await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 1);
        kinds.extend(items.iter().map(|e| e["type"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => path = format!("/admin/v1/events?limit=1&cursor={next}"),
            None => break,
        }
    }
    let keys_events: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .filter(|k| k.starts_with("key_"))
        .collect();
    assert_eq!(keys_events, ["key_revoked", "key_rotated"], "{kinds:?}");
    let total: i64 = sqlx::query("select count(*) as n from events")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(kinds.len() as i64, total);
    problem(
        get(&app, "/admin/v1/events?since=yesterday", &token).await,
        400,
    )
    .await;
    let future: Value = get(&app, "/admin/v1/events?since=2999-01-01T00:00:00Z", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(future["items"], json!([]));
    assert_eq!(future["next_cursor"], Value::Null);
}

#[tokio::test]
async fn an_event_written_at_one_instance_is_listed_at_another() {
    let a = spawn_app().await;
    let (address_b, shutdown_b, ..) =
        crate::helpers::launch(crate::helpers::test_figment(&a.database_url, &a.keys_dir)).await;
    let (_, token) = admin_token(&a).await;
    a.signup("ada@example.com").await;
    let wrong = [
        ("grant_type", "password"),
        ("username", "ada@example.com"),
        ("password", "not-the-password-of-anyone-7"),
    ];
    assert_eq!(a.post_token(&wrong).await.status(), 400);
    let mut listed = Value::Null;
    for _ in 0..50 {
        let response = a
            .client
            .get(format!("{address_b}/admin/v1/events?type=login_failed"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        listed = response.json().await.unwrap();
        if !listed["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["details"]["reason"], "wrong_password");
    shutdown_b.notify();
}

#[tokio::test]
async fn dpop_bound_clients_are_registered_by_the_admin_api_and_the_command_line() {
    let app = spawn_app().await;
    let (_, token) = admin_token(&app).await;
    let response = call(
        &app,
        reqwest::Method::POST,
        "/admin/v1/clients",
        Some(&token),
        Some(r#"{"name": "Bound", "grant_types": ["client_credentials"], "scope": "profiles:read", "dpop_bound": true}"#),
    )
    .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["dpop_bound"], true);
    let bound = RegisteredClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"].as_str().map(str::to_owned),
    };
    // Without a proof it gets nothing.
    let response = crate::oauth_support::post_form(
        &app,
        "/oauth/token",
        Some(&bound.basic()),
        &[("grant_type", "client_credentials")],
    )
    .await;
    crate::oauth_support::assert_oauth_error(response, 400, "invalid_dpop_proof").await;

    let created = cli_json(
        &app,
        &[
            "clients",
            "create",
            "--name",
            "Bound CLI",
            "--grant",
            "client_credentials",
            "--scope",
            "profiles:read",
            "--dpop-bound",
            "--json",
        ],
    )
    .await;
    assert_eq!(created["dpop_bound"], true);
    let listed = cli_json(&app, &["clients", "list", "--json"]).await;
    let listed = listed.as_array().unwrap();
    let find =
        |id: &Value| listed.iter().find(|c| c["client_id"] == *id).unwrap()["dpop_bound"].clone();
    assert_eq!(find(&created["client_id"]), true);
    let unbound = listed.iter().find(|c| c["dpop_bound"] == false);
    assert!(unbound.is_some(), "others are not bound");
}

/// The ids of a page of the client list.
async fn listed_ids(app: &TestApp, token: &str) -> Vec<String> {
    let response = get(app, "/admin/v1/clients", token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let page: Value = response.json().await.unwrap();
    assert!(page["next_cursor"].is_null(), "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["client_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_remembered_list_and_revocations_follow_every_change_made_here_at_once() {
    let app = spawn_app().await;
    let (ops, token) = admin_token(&app).await;
    let before = listed_ids(&app, &token).await;
    assert!(before.contains(&ops.id), "{before:?}");
    assert_eq!(listed_ids(&app, &token).await, before);

    // Registered, renamed and deleted through the API: the next list shows it.
    let response = call(
        &app,
        reqwest::Method::POST,
        "/admin/v1/clients",
        Some(&token),
        Some(r#"{"name": "Fresh"}"#),
    )
    .await;
    assert_eq!(response.status(), 201);
    let fresh: Value = response.json().await.unwrap();
    let fresh = fresh["client_id"].as_str().unwrap().to_owned();
    let mut with_fresh = before.clone();
    with_fresh.push(fresh.clone());
    with_fresh.sort();
    assert_eq!(listed_ids(&app, &token).await, with_fresh);
    let path = format!("/admin/v1/clients/{fresh}");
    let response = call(
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(&token),
        Some(r#"{"name": "Renamed"}"#),
    )
    .await;
    assert_eq!(response.status(), 200);
    let page: Value = get(&app, "/admin/v1/clients", &token)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Renamed"), "{names:?}");
    let response = call(&app, reqwest::Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(response.status(), 204);
    assert_eq!(listed_ids(&app, &token).await, before);

    // Registered by another process (the command line): listed within 2 s.
    let other = operator(&app).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(2_500);
    loop {
        if listed_ids(&app, &token).await.contains(&other.id) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a client made elsewhere is listed within 2 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // A token that opened the API, revoked: refused by the very next request.
    let response = post_revoke(&app, Some(&ops.basic()), &[("token", &token)]).await;
    assert_eq!(response.status(), 200);
    problem(get(&app, "/admin/v1/clients", &token).await, 401).await;
    let fresh_token = client_token(&app, &ops).await;
    assert_eq!(
        get(&app, "/admin/v1/clients", &fresh_token).await.status(),
        200
    );
}

/// Deleting an admin client, or taking `admin` from it, ends what its
/// tokens open at once, though they are unexpired and unrevoked.
#[tokio::test]
async fn a_deleted_or_demoted_admin_client_loses_the_api_at_once() {
    let app = spawn_app().await;
    let (first, first_token) = admin_token(&app).await;
    let (second, second_token) = admin_token(&app).await;
    assert_eq!(
        get(&app, "/admin/v1/clients", &first_token).await.status(),
        200
    );
    assert_eq!(
        get(&app, "/admin/v1/clients", &second_token).await.status(),
        200
    );

    let response = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/admin/v1/clients/{}", first.id),
        Some(&second_token),
        Some(r#"{"scope": "profiles:read"}"#),
    )
    .await;
    assert_eq!(response.status(), 200);
    let refused = problem(get(&app, "/admin/v1/clients", &first_token).await, 401).await;
    assert!(
        refused["detail"].as_str().unwrap().contains("invalid"),
        "{refused}"
    );

    let response = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/admin/v1/clients/{}", second.id),
        Some(&second_token),
        None,
    )
    .await;
    assert_eq!(response.status(), 204);
    let response = get(&app, "/admin/v1/clients", &second_token).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"admin\", error=\"invalid_token\""
    );
    problem(response, 401).await;
    // A client made an operator again from the command line opens it again
    // with a new token.
    let (_, third_token) = admin_token(&app).await;
    assert_eq!(
        get(&app, "/admin/v1/clients", &third_token).await.status(),
        200
    );
}
