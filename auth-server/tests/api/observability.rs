//! What operators and tools see: the OpenAPI document of every route,
//! Swagger UI, Prometheus metrics, request ids, and CORS at the token
//! endpoint.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{ISSUER, spawn_app};

/// Every route Rocket mounts is in `/openapi.json`, so a new route without
/// documentation fails here.
#[tokio::test]
async fn openapi_documents_every_mounted_route() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();

    let rocket = auth_server::build(crate::helpers::test_figment(
        &app.database_url,
        &app.keys_dir,
    ))
    .await
    .unwrap()
    .ignite()
    .await
    .unwrap();
    let mounted: BTreeSet<(String, String)> = rocket
        .routes()
        // Swagger UI's own routes, and CORS preflights (not API operations).
        .filter(|r| !r.uri.path().starts_with("/docs") && r.uri.path() != "/openapi.json")
        .filter(|r| r.method != rocket::http::Method::Options)
        .map(|r| {
            // Rocket's `<id>` is OpenAPI's `{id}`.
            let path = r.uri.path().to_string().replace('<', "{").replace('>', "}");
            (r.method.as_str().to_owned(), path)
        })
        .collect();
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from /openapi.json: {undocumented:?}"
    );

    let flow = &doc["components"]["securitySchemes"]["oauth2"]["flows"]["password"];
    assert_eq!(flow["tokenUrl"], format!("{ISSUER}/oauth/token"));
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let app = spawn_app().await;
    let response = app.get("/docs/").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger-ui"));
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_move_after_requests() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    app.password_token("ada@example.com").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let value_of = |prefix: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    // Every non-comment line is `name{labels} value`.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(
            line.rsplit(' ').next().unwrap().parse::<f64>().is_ok(),
            "{line}"
        );
    }
    assert!(value_of("http_requests_total{") >= 2.0, "{text}");
    assert!(text.contains("route=\"/signup\""));
    assert!(
        value_of("tokens_issued_total{grant=\"password\"}") >= 1.0,
        "{text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"));

    let before = value_of("tokens_issued_total{grant=\"password\"}");
    app.password_token("ada@example.com").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    let after: f64 = text
        .lines()
        .filter(|l| l.starts_with("tokens_issued_total{grant=\"password\"}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(after > before);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.headers()["x-request-id"].len(), 36);
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "evil\tinjection")
        .send()
        .await
        .unwrap();
    assert_ne!(response.headers()["x-request-id"], "evil\tinjection");
}

#[tokio::test]
async fn token_endpoint_answers_cors_preflight_for_allowed_origins_only() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/oauth/token"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let response = preflight("http://127.0.0.1:8001").await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://127.0.0.1:8001"
    );
    assert!(
        response.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        response.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("content-type")
    );

    let response = preflight("https://evil.example").await.unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // The actual POST from an allowed origin is readable by the page.
    app.signup("ada@example.com").await;
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("origin", "http://localhost:8001")
        .form(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", crate::helpers::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:8001"
    );
    // Other routes send no CORS headers.
    let response = app
        .client
        .get(app.url("/health"))
        .header("origin", "http://localhost:8001")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
