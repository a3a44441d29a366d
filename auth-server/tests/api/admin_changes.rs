//! The rest of the admin API (API.md, "Admin API"): users by both doors
//! with the same rules and events, a change of a client's registration, a
//! new secret that stops the old one at once; bad input changes nothing.

use serde_json::{Value, json};
use sqlx::Row;

use crate::admin_api::{admin_token, call, cli_json, client_token, problem};
use crate::helpers::{PASSWORD, TestApp, spawn_app};
use crate::oauth_support::{RegisteredClient, service};

async fn user_count(app: &TestApp) -> i64 {
    sqlx::query("select count(*) as n from users")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("n")
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> reqwest::Response {
    call(app, method, path, Some(token), body).await
}

#[tokio::test]
async fn users_are_created_read_changed_and_deleted_as_the_command_line_does() {
    let app = spawn_app().await;
    let (ops, token) = admin_token(&app).await;
    let body =
        json!({"email": " Ada@Example.com ", "name": "Ada", "password": PASSWORD}).to_string();
    let response = send(
        &app,
        reqwest::Method::POST,
        "/admin/v1/users",
        &token,
        Some(&body),
    )
    .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/admin/v1/users/{id}"));
    assert_eq!(created["email"], "ada@example.com");
    assert_eq!(created["name"], "Ada");
    assert_eq!(created["admin"], false);
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());
    // The account signs in with that password.
    app.password_token("ada@example.com").await;

    // The command line's account, by the same rules.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_auth-server"))
        .args(["users", "create", "--email", "bob@example.com"])
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("KEYS_DIR", &app.keys_dir)
        .env("RUST_LOG", "off")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = output;
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(PASSWORD.as_bytes()).await.unwrap();
    }
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
    let bob: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(bob["name"], "bob");

    let path = format!("/admin/v1/users/{id}");
    let read: Value = send(&app, reqwest::Method::GET, &path, &token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, created);

    let response = send(
        &app,
        reqwest::Method::PATCH,
        &path,
        &token,
        Some(r#"{"admin": true, "name": "Ada L."}"#),
    )
    .await;
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["admin"], true);
    assert_eq!(changed["name"], "Ada L.");
    // A change of rights revoked the account's refresh token family.
    assert_eq!(changed["revoked_refresh_families"], 1);

    // The same change from the command line, back.
    let back = cli_json(&app, &["users", "update", "ada@example.com", "--no-admin"]).await;
    assert_eq!(back["admin"], false);

    let response = send(&app, reqwest::Method::DELETE, &path, &token, None).await;
    assert_eq!(response.status(), 204);
    problem(
        send(&app, reqwest::Method::GET, &path, &token, None).await,
        404,
    )
    .await;
    problem(
        send(&app, reqwest::Method::DELETE, &path, &token, None).await,
        404,
    )
    .await;

    // Each change is an event naming the API's caller; never the password.
    let rows =
        sqlx::query("select type, details from events where type like 'user_%' order by time")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    let kinds: Vec<String> = rows.iter().map(|r| r.get("type")).collect();
    for kind in ["user_created", "user_updated", "user_deleted"] {
        assert!(kinds.iter().any(|k| k == kind), "{kinds:?}");
    }
    let by_api = rows
        .iter()
        .map(|r| r.get::<String, _>("details"))
        .filter(|d| d.contains(&ops.id))
        .count();
    assert_eq!(by_api, 3);
    let all: Vec<String> = sqlx::query("select details from events")
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("details"))
        .collect();
    assert!(all.iter().all(|d| !d.contains(PASSWORD)));
}

#[tokio::test]
async fn bad_user_requests_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (_, token) = admin_token(&app).await;
    app.signup("ada@example.com").await;
    let before = user_count(&app).await;
    let post = |body: &'static str| {
        send(
            &app,
            reqwest::Method::POST,
            "/admin/v1/users",
            &token,
            Some(body),
        )
    };

    let refusal = problem(
        post(r#"{"email": "x@example.com", "password": "short"}"#).await,
        422,
    )
    .await;
    assert_eq!(refusal["errors"][0]["field"], "password");
    let refusal = problem(
        post(r#"{"email": "nope", "password": "violet-harbor-quantum-91x"}"#).await,
        422,
    )
    .await;
    assert_eq!(refusal["errors"][0]["field"], "email");
    problem(post(r#"{"email": "x@example.com", "password": "violet-harbor-quantum-91x", "role": "root"}"#).await, 422).await;
    problem(post(r#"{"email": "x@example.com", "email": "y@example.com", "password": "violet-harbor-quantum-91x"}"#).await, 400).await;
    problem(
        post(r#"{"email": "ada@example.com", "password": "violet-harbor-quantum-91x"}"#).await,
        409,
    )
    .await;
    let big = format!(
        r#"{{"email": "x@example.com", "password": "violet-harbor-quantum-91x", "name": "{}"}}"#,
        "n".repeat(101)
    );
    let response = send(
        &app,
        reqwest::Method::POST,
        "/admin/v1/users",
        &token,
        Some(&big),
    )
    .await;
    problem(response, 422).await;
    assert_eq!(user_count(&app).await, before);

    let ada: Value = send(
        &app,
        reqwest::Method::GET,
        "/admin/v1/users?email=ada@example.com",
        &token,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let id = ada["items"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/admin/v1/users/{id}");
    for body in [
        r#"{}"#,
        r#"{"name": ""}"#,
        r#"{"admin": "yes"}"#,
        r#"{"email": "z@example.com"}"#,
    ] {
        problem(
            send(&app, reqwest::Method::PATCH, &path, &token, Some(body)).await,
            422,
        )
        .await;
    }
    problem(
        send(
            &app,
            reqwest::Method::PATCH,
            &path,
            &token,
            Some(r#"{"admin": true, "admin": false}"#),
        )
        .await,
        400,
    )
    .await;
    problem(
        send(
            &app,
            reqwest::Method::PATCH,
            "/admin/v1/users/nobody",
            &token,
            Some(r#"{"admin": true}"#),
        )
        .await,
        404,
    )
    .await;
    let read: Value = send(&app, reqwest::Method::GET, &path, &token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["admin"], false);
    assert_eq!(read["name"], ada["items"][0]["name"]);

    // Without admin: 403 and nothing done.
    let billing = service(&app).await;
    let plain = client_token(&app, &billing).await;
    problem(
        call(&app, reqwest::Method::DELETE, &path, Some(&plain), None).await,
        403,
    )
    .await;
    problem(
        call(&app, reqwest::Method::GET, "/admin/v1/users", None, None).await,
        401,
    )
    .await;
    assert_eq!(user_count(&app).await, before);
}

#[tokio::test]
async fn users_are_paged_by_a_sealed_cursor() {
    let app = spawn_app().await;
    let (_, token) = admin_token(&app).await;
    for name in ["a", "b", "c"] {
        app.signup(&format!("{name}@example.com")).await;
    }
    let first: Value = send(
        &app,
        reqwest::Method::GET,
        "/admin/v1/users?limit=2",
        &token,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second: Value = send(
        &app,
        reqwest::Method::GET,
        &format!("/admin/v1/users?limit=2&cursor={cursor}"),
        &token,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());
    let mut ids: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);

    // A tampered cursor, or a clients' cursor, is refused.
    let mut tampered = cursor.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for bad in [tampered.as_str(), "not-a-cursor", ""] {
        let response = send(
            &app,
            reqwest::Method::GET,
            &format!("/admin/v1/users?cursor={bad}"),
            &token,
            None,
        )
        .await;
        if bad.is_empty() {
            continue;
        }
        problem(response, 400).await;
    }
    for name in ["x", "y"] {
        let body = json!({"name": name}).to_string();
        send(
            &app,
            reqwest::Method::POST,
            "/admin/v1/clients",
            &token,
            Some(&body),
        )
        .await;
    }
    let clients: Value = send(
        &app,
        reqwest::Method::GET,
        "/admin/v1/clients?limit=1",
        &token,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let other = clients["next_cursor"].as_str().unwrap();
    problem(
        send(
            &app,
            reqwest::Method::GET,
            &format!("/admin/v1/users?cursor={other}"),
            &token,
            None,
        )
        .await,
        400,
    )
    .await;
    let one: Value = send(
        &app,
        reqwest::Method::GET,
        "/admin/v1/users?email=B@example.com",
        &token,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    assert_eq!(one["items"][0]["email"], "b@example.com");
}

#[tokio::test]
async fn a_client_is_changed_with_the_checks_of_a_registration() {
    let app = spawn_app().await;
    let (_, token) = admin_token(&app).await;
    let body = r#"{"name": "Web", "grant_types": ["authorization_code"], "redirect_uris": ["https://web.example/cb"], "scope": "profile:read"}"#;
    let created: Value = send(
        &app,
        reqwest::Method::POST,
        "/admin/v1/clients",
        &token,
        Some(body),
    )
    .await
    .json()
    .await
    .unwrap();
    let path = format!(
        "/admin/v1/clients/{}",
        created["client_id"].as_str().unwrap()
    );

    let change = json!({
        "name": "Web 2",
        "scope": "profile:read openid",
        "redirect_uris": ["https://web.example/cb2"],
        "audiences": ["https://api.example"],
        "post_logout_redirect_uris": ["https://web.example/bye"],
        "backchannel_logout_uri": "https://web.example/logout",
        "grant_types": ["authorization_code", "refresh_token"],
    });
    let response = send(
        &app,
        reqwest::Method::PATCH,
        &path,
        &token,
        Some(&change.to_string()),
    )
    .await;
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["name"], "Web 2");
    assert_eq!(changed["redirect_uris"], json!(["https://web.example/cb2"]));
    assert_eq!(changed["audiences"], json!(["https://api.example"]));
    assert_eq!(
        changed["backchannel_logout_uri"],
        "https://web.example/logout"
    );
    assert_eq!(
        changed["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    let read: Value = send(&app, reqwest::Method::GET, &path, &token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, changed);
    let events = sqlx::query("select count(*) as n from events where type = 'client_updated'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get::<i64, _>("n");
    assert_eq!(events, 1);

    for bad in [
        r#"{"redirect_uris": ["javascript:alert(1)"]}"#,
        r#"{"redirect_uris": []}"#,
        r#"{"scope": "admin"}"#,
        r#"{"scope": "root"}"#,
        r#"{"grant_types": ["password"]}"#,
        r#"{"grant_types": ["implicit"]}"#,
        r#"{"name": ""}"#,
        r#"{"backchannel_logout_uri": "ftp://web.example/x"}"#,
        r#"{"first_party": true}"#,
    ] {
        problem(
            send(&app, reqwest::Method::PATCH, &path, &token, Some(bad)).await,
            422,
        )
        .await;
    }
    problem(
        send(
            &app,
            reqwest::Method::PATCH,
            &path,
            &token,
            Some(r#"{"name": "a", "name": "b"}"#),
        )
        .await,
        400,
    )
    .await;
    problem(
        send(
            &app,
            reqwest::Method::PATCH,
            "/admin/v1/clients/nobody",
            &token,
            Some(r#"{"name": "a"}"#),
        )
        .await,
        404,
    )
    .await;
    let after: Value = send(&app, reqwest::Method::GET, &path, &token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, changed);

    // `null` removes the back-channel URI.
    let cleared: Value = send(
        &app,
        reqwest::Method::PATCH,
        &path,
        &token,
        Some(r#"{"backchannel_logout_uri": null}"#),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(cleared["backchannel_logout_uri"].is_null());
}

#[tokio::test]
async fn a_new_secret_stops_the_old_one_at_once() {
    let app = spawn_app().await;
    let (_, token) = admin_token(&app).await;
    let billing = service(&app).await;
    client_token(&app, &billing).await;
    let path = format!("/admin/v1/clients/{}/secret", billing.id);
    let response = send(&app, reqwest::Method::POST, &path, &token, None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["client_id"], billing.id.as_str());
    let fresh = RegisteredClient {
        id: billing.id.clone(),
        secret: body["client_secret"].as_str().map(str::to_owned),
    };
    assert_ne!(fresh.secret, billing.secret);
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("Authorization", billing.basic())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    client_token(&app, &fresh).await;
    let rows = sqlx::query("select details from events where type = 'client_secret_rotated'")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let details: String = rows[0].get("details");
    assert!(!details.contains(fresh.secret.as_deref().unwrap()));

    // A public client has no secret; an unknown one is not found.
    let public: Value = send(
        &app,
        reqwest::Method::POST,
        "/admin/v1/clients",
        &token,
        Some(r#"{"name": "Phone", "public": true, "redirect_uris": ["com.example.app:/cb"]}"#),
    )
    .await
    .json()
    .await
    .unwrap();
    let path = format!(
        "/admin/v1/clients/{}/secret",
        public["client_id"].as_str().unwrap()
    );
    problem(
        send(&app, reqwest::Method::POST, &path, &token, None).await,
        409,
    )
    .await;
    problem(
        send(
            &app,
            reqwest::Method::POST,
            "/admin/v1/clients/nobody/secret",
            &token,
            None,
        )
        .await,
        404,
    )
    .await;
}
