//! `POST /signup`: the account made, and every way a body can be wrong
//! answered in problem+json.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, spawn_app, spawn_app_with};

fn problem_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn signup_creates_a_user_with_location() {
    let app = spawn_app().await;
    let response = app
        .post_signup(&json!({"email": "  Ada@Example.COM ", "password": PASSWORD, "name": "Ada"}))
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["name"], "Ada");
    let id = body["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(location, format!("/users/{id}"));
    assert!(
        time::OffsetDateTime::parse(
            body["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
    let mut members: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    members.sort();
    assert_eq!(members, ["created_at", "email", "id", "name"]);
}

#[tokio::test]
async fn duplicate_email_is_409_whatever_its_case() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let response = app
        .post_signup(&json!({"email": "ADA@example.com", "password": PASSWORD, "name": "Other"}))
        .await;
    assert_eq!(response.status(), 409);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 409);
    assert_eq!(body["title"], "Conflict");
}

#[tokio::test]
async fn each_invalid_field_is_named_in_a_422() {
    let app = spawn_app().await;
    let response = app
        .post_signup(&json!({"email": "not-an-email", "password": "short", "name": ""}))
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(problem_fields(&body), ["email", "name", "password"]);

    let response = app.post_signup(&json!({"email": 42})).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(problem_fields(&body), ["email", "name", "password"]);

    let long_name = "x".repeat(101);
    let response = app
        .post_signup(&json!({"email": "a@example.com", "password": PASSWORD, "name": long_name}))
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(problem_fields(&response.json().await.unwrap()), ["name"]);

    let response = app
        .post_signup(&json!({"email": "a@example.com", "password": "x".repeat(129), "name": "A"}))
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        problem_fields(&response.json().await.unwrap()),
        ["password"]
    );

    let response = app
        .post_signup(
            &json!({"email": "a@example.com", "password": "passwordpassword1", "name": "A"}),
        )
        .await;
    assert_eq!(response.status(), 422, "a common password is refused");
    // Nothing was stored: the email is still free.
    app.signup("a@example.com").await;
}

#[tokio::test]
async fn body_that_is_not_json_is_400() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/signup"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 400);
}

/// API.md: a JSON body with a member named twice is `400` problem+json
/// (as a token with one is refused), whichever copy would have won, and
/// nothing is created.
#[tokio::test]
async fn a_member_named_twice_is_400_and_creates_nothing() {
    let app = spawn_app().await;
    let bodies = [
        format!(
            r#"{{"email":"ada@example.com","email":"eve@example.com","password":"{PASSWORD}","name":"Ada"}}"#
        ),
        format!(
            r#"{{"email":"ada@example.com","password":"{PASSWORD}","name":"Ada","n\u0061me":"Eve"}}"#
        ),
        format!(
            r#"{{"email":"ada@example.com","password":"{PASSWORD}","name":"Ada","is_admin":true,"is_admin":true}}"#
        ),
    ];
    for body in &bodies {
        let response = app
            .client
            .post(app.url("/signup"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], 400);
        assert!(
            problem["detail"].as_str().unwrap().contains("twice"),
            "{problem}"
        );
    }
    let created: i64 = sqlx::query_scalar(
        "select count(*) from users where email in ('ada@example.com', 'eve@example.com')",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(created, 0);
    // Each member once: the signup goes through.
    app.signup("ada@example.com").await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/signup"))
        .form(&[
            ("email", "a@example.com"),
            ("password", PASSWORD),
            ("name", "A"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn body_over_64_kib_is_413() {
    let app = spawn_app().await;
    let padding = "x".repeat(65 * 1024);
    let response = app
        .post_signup(
            &json!({"email": "a@example.com", "password": PASSWORD, "name": "A", "pad": padding}),
        )
        .await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 413);
}

#[tokio::test]
async fn client_supplied_id_and_role_are_never_stored() {
    let app = spawn_app().await;
    let forced_id = "00000000-0000-0000-0000-000000000000";
    let response = app
        .post_signup(&json!({
            "email": "mallory@example.com", "password": PASSWORD, "name": "Mallory",
            "id": forced_id, "role": "admin", "is_admin": true,
        }))
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_ne!(body["id"], forced_id);
    assert!(body.get("role").is_none() && body.get("is_admin").is_none());
    // Not an admin: the token does not carry profiles:read, and asking for it is refused.
    let response = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "mallory@example.com"),
            ("password", PASSWORD),
            ("scope", "profiles:read"),
        ])
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
}

/// Signups of one email at the same moment, 30 times on each database:
/// exactly one account each time, the others `409` (or `503` when shed by
/// the hashing queue, which every test of this binary shares), never a
/// second account or another answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_signups_of_one_email_give_one_201_in_every_trial() {
    const TRIALS: usize = 30;
    const AT_ONCE: usize = 8;
    // Each from an address of its own (through a trusted proxy), so the
    // signup limit per address plays no part.
    let app = spawn_app_with(|f| f.merge(("trusted_proxies", "127.0.0.1/32"))).await;
    let started = std::time::Instant::now();
    for trial in 0..TRIALS {
        let email = format!("race{trial}@example.com");
        let requests = (0..AT_ONCE).map(|i| {
            let client = app.client.clone();
            let url = app.url("/signup");
            let body = json!({"email": email, "password": PASSWORD, "name": format!("R{i}")});
            async move {
                let response = client
                    .post(url)
                    .header("x-forwarded-for", format!("198.51.{trial}.{i}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                if status != 201 {
                    let problem: Value = response.json().await.unwrap();
                    assert_eq!(problem["status"], status, "trial {trial}");
                }
                status
            }
        });
        let statuses = futures::future::join_all(requests).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "trial {trial}: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| [201, 409, 503].contains(s)),
            "trial {trial}: {statuses:?}"
        );
        let accounts: i64 = sqlx::query_scalar("select count(*) from users where email = $1")
            .bind(&email)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        assert_eq!(accounts, 1, "trial {trial}");
    }
    eprintln!(
        "{TRIALS} signup races of {AT_ONCE} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_problem_json() {
    let app = spawn_app().await;
    let response = app.get("/nope").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["type"], "about:blank");
}
