//! Liveness, readiness, and the promise of no HTML pages.

use std::time::Duration;

use rocket::http::{ContentType, Status};
use shared::jwks_cache::{JwksCache, JwksConfig, JwksSource};

use crate::helpers::{PROBLEM_JSON, parts, spawn_app, spawn_app_with_keys};

#[rocket::async_test]
async fn health_and_ready_answer_200_when_keys_and_database_are_usable() {
    let app = spawn_app().await;
    let (status, _, _, body) = parts(app.client.get("/health").dispatch().await).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body["status"], "ok");
    let (status, _, _, body) = parts(app.client.get("/ready").dispatch().await).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body["jwks"], "fresh");
}

#[rocket::async_test]
async fn ready_is_503_until_the_keys_are_loaded() {
    // An issuer that is not there: the cache stays empty.
    let mut config = JwksConfig::new(JwksSource::Url(
        url::Url::parse("http://127.0.0.1:9/jwks").unwrap(),
    ));
    config.retry_interval = Duration::from_secs(60);
    let app = spawn_app_with_keys(JwksCache::new(config).unwrap()).await;
    let (status, _, content_type, body) = parts(app.client.get("/ready").dispatch().await).await;
    assert_eq!(status, Status::ServiceUnavailable);
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
    assert_eq!(body["status"], 503);
    let (status, _, _, _) = parts(app.client.get("/health").dispatch().await).await;
    assert_eq!(status, Status::Ok);
}

#[rocket::async_test]
async fn errors_are_problem_json_never_html() {
    let app = spawn_app().await;
    let requests = [
        app.client.get("/nowhere").dispatch().await,
        app.client.post("/profile/me").dispatch().await,
        app.client
            .get("/profile/me")
            .header(ContentType::HTML)
            .dispatch()
            .await,
    ];
    for response in requests {
        let status = response.status();
        assert!(status.code >= 400, "{status}");
        let (_, _, content_type, body) = parts(response).await;
        assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
        assert_eq!(body["status"], status.code);
        assert!(!body.to_string().contains("<html"));
    }
}

#[rocket::async_test]
async fn the_openapi_document_lists_every_route_and_the_password_flow() {
    let app = spawn_app().await;
    let response = app.client.get("/openapi.json").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let doc: serde_json::Value = response.into_json().await.unwrap();
    for path in [
        "/profile/me",
        "/profile/{id}",
        "/profiles/{id}",
        "/health",
        "/ready",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
    assert!(doc["paths"]["/profile/me"].get("patch").is_some());
    // Every route Rocket mounts is documented, so a new route without
    // documentation fails here (Swagger UI's own routes aside).
    let documented: std::collections::BTreeSet<(String, String)> = doc["paths"]
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
    let undocumented: Vec<(String, String)> = app
        .client
        .rocket()
        .routes()
        .filter(|r| !r.uri.path().starts_with("/docs") && r.uri.path() != "/openapi.json")
        .map(|r| {
            let path = r.uri.path().to_string().replace('<', "{").replace('>', "}");
            (r.method.as_str().to_owned(), path)
        })
        .filter(|route| !documented.contains(route))
        .collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from /openapi.json: {undocumented:?}"
    );
    let flow = &doc["components"]["securitySchemes"]["oauth2"]["flows"]["password"];
    assert_eq!(flow["tokenUrl"], "http://issuer.test/oauth/token");
    let docs = app.client.get("/docs/").dispatch().await;
    assert_eq!(docs.status(), Status::Ok);
}

#[rocket::async_test]
async fn without_its_database_the_service_answers_503_with_retry_after_at_once() {
    let app = spawn_app().await;
    let token = crate::helpers::user_token(&crate::helpers::new_sub(), "profile:read");
    let db = app
        .client
        .rocket()
        .state::<resource_server::db::Db>()
        .unwrap();
    db.0.close().await;

    let started = std::time::Instant::now();
    let response = app.get_profile_me(&token).await;
    let retry_after = response.headers().get_one("Retry-After").map(str::to_owned);
    let (status, _, content_type, body) = parts(response).await;
    assert_eq!(status, Status::ServiceUnavailable, "{body}");
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
    assert_eq!(body["status"], 503);
    assert_eq!(
        body["detail"],
        "The service is temporarily unavailable; retry later."
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered at once"
    );

    // Liveness is not readiness: the process is fine, the database is not.
    let (status, _, _, _) = parts(app.client.get("/health").dispatch().await).await;
    assert_eq!(status, Status::Ok);
    let (status, _, _, _) = parts(app.client.get("/ready").dispatch().await).await;
    assert_eq!(status, Status::ServiceUnavailable);
}
