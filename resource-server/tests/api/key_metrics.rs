//! The operators' series of the resource-server (API.md, "Audit events and
//! key metrics"): token checks by outcome, verified-token cache hits, and
//! the age of its JWK Set as of the scrape. The counters are the process's
//! (every app of this binary shares them), so a test counts what it added.

use std::time::Duration;

use rocket::http::{Header, Status};

use crate::helpers::{TestApp, bearer, new_sub, spawn_app, user_token};

async fn scrape(app: &TestApp) -> String {
    let response = app.client.get("/metrics").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert!(
        response
            .headers()
            .get_one("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.into_string().await.unwrap()
}

/// The sum of every sample of `name` whose labels include `labels`.
fn counter(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn jwks_age(text: &str) -> f64 {
    let ages: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("jwks_cache_age_seconds "))
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(ages.len(), 1, "{text}");
    ages[0]
}

#[rocket::async_test]
async fn token_checks_cache_hits_and_the_jwk_sets_age_are_served() {
    let app = spawn_app().await;
    let before = scrape(&app).await;

    let token = user_token(&new_sub(), "profile:read");
    // The first check verifies the signature; the second is remembered.
    for _ in 0..2 {
        let response = app
            .client
            .get("/profile/me")
            .header(bearer(&token))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Ok);
    }
    let forged = format!("{token}AA");
    let response = app
        .client
        .get("/profile/me")
        .header(bearer(&forged))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
    let response = app.client.get("/profile/me").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    let response = app
        .client
        .get("/profile/me")
        .header(Header::new("Authorization", "Bearer"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::BadRequest);

    let after = scrape(&app).await;
    let added =
        |name: &str, labels: &str| counter(&after, name, labels) - counter(&before, name, labels);
    assert!(
        added("token_checks_total", "outcome=\"accepted\"") >= 2.0,
        "{after}"
    );
    assert!(
        added("token_checks_total", "outcome=\"invalid_token\"") >= 1.0,
        "{after}"
    );
    assert!(
        added("token_checks_total", "outcome=\"missing\"") >= 1.0,
        "{after}"
    );
    assert!(
        added("token_checks_total", "outcome=\"invalid_request\"") >= 1.0,
        "{after}"
    );
    assert!(
        added("token_cache_total", "outcome=\"hit\"") >= 1.0,
        "{after}"
    );

    // The set's age is read at each scrape: it grows between two.
    let first = jwks_age(&after);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let second = jwks_age(&scrape(&app).await);
    assert!(second - first >= 1.0, "{first} then {second}");
    assert!(second < 60.0, "{second}");
}
