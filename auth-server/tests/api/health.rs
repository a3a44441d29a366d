//! Liveness and readiness: `/health` while the process runs, `/ready`
//! only while the database answers, the JWK Set served either way.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_ready_answer_200_with_a_working_database() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn without_a_database_ready_is_503_and_the_jwks_still_serves() {
    let app = spawn_app().await;
    let jwks_before = app.get_jwks().await;
    app.db.pool.close().await;

    let response = app.get("/ready").await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 503);

    assert_eq!(app.get("/health").await.status(), 200);
    assert_eq!(app.get_jwks().await, jwks_before);
    let response = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(response.status(), 200);
}
