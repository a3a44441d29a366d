//! The operators' series on `/metrics` (API.md, "Audit events and key
//! metrics"): the signing key's age, the next scheduled rotation, the
//! published keys by state, and the counts of refresh replays, failed
//! logins and throttle refusals. The key series are this server's own, so
//! their values are exact; the counters are the process's (every test app
//! in this binary shares them), so a test counts what it added.

use std::time::Duration;

use serde_json::Value;
use sqlx::Row;

use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::keys::time_passes;

const BIN: &str = env!("CARGO_BIN_EXE_auth-server");
const DAY: i64 = 86_400;

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().await.unwrap()
}

/// The value of the one sample named exactly `series` (`name` or
/// `name{labels}`), if there is one.
fn sample(text: &str, series: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
        .collect();
    assert!(values.len() <= 1, "{series} twice in:\n{text}");
    values.first().copied()
}

/// The sum of every sample of `name` whose labels include `labels`.
fn counter(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn now() -> i64 {
    shared::clock::unix_now()
}

/// Waits until the server's `/metrics` satisfies `check` (the ring is
/// re-read from the database every second).
async fn metrics_when(app: &TestApp, what: &str, check: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..50 {
        text = scrape(app).await;
        if check(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never showed; last scrape:\n{text}")
}

fn cli(app: &TestApp, args: &[&str]) {
    let output = std::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("KEYS_DIR", &app.keys_dir)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn key_series_follow_the_ring_and_its_schedule() {
    let app = spawn_app_with(|f| f.merge(("key_rotation_interval", DAY))).await;
    // The first key has signed for an hour.
    time_passes(&app, 3_600).await;
    let text = metrics_when(&app, "an hour-old key", |t| {
        sample(t, "signing_key_age_seconds").is_some_and(|age| age >= 3_600.0)
    })
    .await;
    let age = sample(&text, "signing_key_age_seconds").unwrap();
    assert!(age < 3_600.0 + 30.0, "{age}");
    assert_eq!(sample(&text, "signing_keys{state=\"active\"}"), Some(1.0));
    assert_eq!(sample(&text, "signing_keys{state=\"next\"}"), Some(0.0));
    assert_eq!(sample(&text, "signing_keys{state=\"retiring\"}"), Some(0.0));
    assert_eq!(
        sample(&text, "signing_key_rotation_interval_seconds"),
        Some(DAY as f64)
    );
    let signing_since: i64 =
        sqlx::query("select activates_at from signing_keys where retires_at is null")
            .fetch_one(&app.db.pool)
            .await
            .unwrap()
            .get("activates_at");
    assert_eq!(
        sample(&text, "signing_key_next_rotation_timestamp_seconds"),
        Some((signing_since + DAY) as f64)
    );
    assert!(text.contains("# TYPE signing_key_age_seconds gauge"));

    // A rotation publishes a `next` key; the next change is its activation.
    cli(&app, &["keys", "rotate"]);
    let text = metrics_when(&app, "a next key", |t| {
        sample(t, "signing_keys{state=\"next\"}") == Some(1.0)
    })
    .await;
    assert_eq!(sample(&text, "signing_keys{state=\"active\"}"), Some(1.0));
    let waiting: i64 = sqlx::query("select activates_at from signing_keys where activates_at > $1")
        .bind(now())
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("activates_at");
    assert_eq!(
        sample(&text, "signing_key_next_rotation_timestamp_seconds"),
        Some(waiting as f64)
    );

    // Once it signs, the old key retires (until the tokens it signed have
    // expired, 900 s) and the age starts again.
    time_passes(&app, 700).await;
    let text = metrics_when(&app, "the new key signing", |t| {
        sample(t, "signing_keys{state=\"retiring\"}") == Some(1.0)
    })
    .await;
    assert_eq!(sample(&text, "signing_keys{state=\"active\"}"), Some(1.0));
    assert_eq!(sample(&text, "signing_keys{state=\"next\"}"), Some(0.0));
    let age = sample(&text, "signing_key_age_seconds").unwrap();
    assert!((100.0..130.0).contains(&age), "{age}");
}

#[tokio::test]
async fn without_a_schedule_no_rotation_series_is_served() {
    let app = spawn_app().await;
    let text = scrape(&app).await;
    let age = sample(&text, "signing_key_age_seconds").unwrap();
    assert!((0.0..30.0).contains(&age), "{age}");
    assert_eq!(sample(&text, "signing_keys{state=\"active\"}"), Some(1.0));
    assert!(!text.contains("signing_key_rotation_interval_seconds"));
    assert!(!text.contains("signing_key_next_rotation_timestamp_seconds"));
}

#[tokio::test]
async fn failed_logins_throttle_refusals_and_refresh_replays_are_counted() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let before = scrape(&app).await;

    let wrong = [
        ("grant_type", "password"),
        ("username", "ada@example.com"),
        ("password", "not the password at all"),
    ];
    // 5 wrong passwords are checked; the 6th is refused by the throttle.
    for _ in 0..5 {
        assert_eq!(app.post_token(&wrong).await.status(), 400);
    }
    assert_eq!(app.post_token(&wrong).await.status(), 429);
    let unknown = [
        ("grant_type", "password"),
        ("username", "nobody@example.com"),
        ("password", PASSWORD),
    ];
    assert_eq!(app.post_token(&unknown).await.status(), 400);

    // A refresh token presented twice (another account: Ada's is locked
    // at this address now).
    app.signup("bob@example.com").await;
    let login: Value = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "bob@example.com"),
            ("password", PASSWORD),
        ])
        .await
        .json()
        .await
        .unwrap();
    let refresh = login["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    assert_eq!(app.post_token(&form).await.status(), 200);
    assert_eq!(app.post_token(&form).await.status(), 400);

    let after = scrape(&app).await;
    let added =
        |name: &str, labels: &str| counter(&after, name, labels) - counter(&before, name, labels);
    assert!(
        added("failed_logins_total", "reason=\"wrong_password\"") >= 5.0,
        "{after}"
    );
    assert!(
        added("failed_logins_total", "reason=\"unknown_account\"") >= 1.0,
        "{after}"
    );
    assert!(
        added("throttle_refusals_total", "throttle=\"login\"") >= 1.0,
        "{after}"
    );
    let replays = |text: &str| sample(text, "refresh_token_replays_total").unwrap_or(0.0);
    assert!(replays(&after) - replays(&before) >= 1.0, "{after}");
}
