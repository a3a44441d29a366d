//! The audit trail (API.md, "Audit events and key metrics"): what is
//! recorded of sign-ins, tokens, replays, revocations and operators'
//! changes, read back with `auth-server events list`; that it never holds a
//! password, a secret or a whole token; and that it is pruned.

use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use sqlx::Row;

use crate::helpers::{PASSWORD, TestApp, launch, spawn_app, spawn_app_with, test_figment};
use crate::oauth_support::{post_revoke, service};

const BIN: &str = env!("CARGO_BIN_EXE_auth-server");
const WRONG: &str = "not-the-password-of-anyone-7";

async fn cli(app: &TestApp, args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("KEYS_DIR", &app.keys_dir)
        .env("RUST_LOG", "off")
        .output()
        .await
        .unwrap()
}

async fn cli_json(app: &TestApp, args: &[&str]) -> Value {
    let output = cli(app, args).await;
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `events list --json`, once it holds `count` events of `kind` (events
/// that record no write are queued and written a moment later).
async fn events_when(app: &TestApp, kind: &str, count: usize) -> Vec<Value> {
    let mut listed = Vec::new();
    for _ in 0..50 {
        listed = cli_json(app, &["events", "list", "--json"])
            .await
            .as_array()
            .unwrap()
            .clone();
        if listed.iter().filter(|e| e["type"] == kind).count() >= count {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {count} {kind} events in {listed:#?}")
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

async fn user_id(app: &TestApp, email: &str) -> String {
    sqlx::query("select id from users where email = $1")
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("id")
}

/// Every column of every stored event, as text.
async fn stored_text(app: &TestApp) -> String {
    sqlx::query(
        "select id, type, instance, client_address, client_id, subject, details from events",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|row| {
        (0..7)
            .map(|i| {
                row.try_get::<Option<String>, _>(i)
                    .unwrap()
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("|")
    })
    .collect::<Vec<_>>()
    .join("\n")
}

async fn password_grant(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post_token(&[
        ("grant_type", "password"),
        ("username", email),
        ("password", password),
    ])
    .await
}

#[tokio::test]
async fn sign_ins_tokens_replays_and_revocations_are_recorded_without_a_secret() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let ada = user_id(&app, "ada@example.com").await;

    // A wrong password, an unknown account (its name typed as a password
    // would be: it must not be kept), then the right password.
    assert_eq!(
        password_grant(&app, "ada@example.com", WRONG)
            .await
            .status(),
        400
    );
    let typed = "correct-horse-typed-as-username";
    assert_eq!(password_grant(&app, typed, PASSWORD).await.status(), 400);
    let response = password_grant(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let login: Value = response.json().await.unwrap();
    let access = login["access_token"].as_str().unwrap().to_owned();
    let first_refresh = login["refresh_token"].as_str().unwrap().to_owned();

    // A rotation, then the spent token again: a replay.
    let rotate = [
        ("grant_type", "refresh_token"),
        ("refresh_token", first_refresh.as_str()),
    ];
    let response = app.post_token(&rotate).await;
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.unwrap();
    let second_access = rotated["access_token"].as_str().unwrap().to_owned();
    let second_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(app.post_token(&rotate).await.status(), 400);

    // A service's token, revoked by the service.
    let billing = service(&app).await;
    let secret = billing.secret.clone().unwrap();
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("Authorization", billing.basic())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let service_token: Value = response.json().await.unwrap();
    let service_access = service_token["access_token"].as_str().unwrap().to_owned();
    let revoked = post_revoke(&app, Some(&billing.basic()), &[("token", &service_access)]).await;
    assert_eq!(revoked.status(), 200);

    let events = events_when(&app, "token_revoked", 1).await;
    let events = if of_type(&events, "token_issued").len() < 3 {
        events_when(&app, "token_issued", 3).await
    } else {
        events
    };

    let failed = of_type(&events, "login_failed");
    let reasons: Vec<&str> = failed
        .iter()
        .map(|e| e["details"]["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"wrong_password"), "{failed:?}");
    assert!(reasons.contains(&"unknown_account"), "{failed:?}");
    let wrong = failed
        .iter()
        .find(|e| e["details"]["reason"] == "wrong_password")
        .unwrap();
    assert_eq!(wrong["subject"], ada.as_str());
    assert_eq!(wrong["client_address"], "127.0.0.1");
    assert!(!wrong["instance"].as_str().unwrap().is_empty());
    assert!(wrong["time"].as_str().unwrap().ends_with('Z'));

    let signed_in = of_type(&events, "login_succeeded");
    assert_eq!(signed_in.len(), 1, "{events:#?}");
    assert_eq!(signed_in[0]["subject"], ada.as_str());

    let issued = of_type(&events, "token_issued");
    let grants: Vec<&str> = issued
        .iter()
        .map(|e| e["details"]["grant"].as_str().unwrap())
        .collect();
    assert!(grants.contains(&"password"), "{issued:?}");
    assert!(grants.contains(&"refresh_token"), "{issued:?}");
    let by_service = issued
        .iter()
        .find(|e| e["details"]["grant"] == "client_credentials")
        .unwrap();
    assert_eq!(by_service["client_id"], billing.id.as_str());
    assert_eq!(by_service["subject"], billing.id.as_str());
    assert_eq!(by_service["details"]["scope"], "profiles:read");

    let replays = of_type(&events, "refresh_replayed");
    assert_eq!(replays.len(), 1, "{events:#?}");
    assert_eq!(replays[0]["subject"], ada.as_str());
    assert!(replays[0]["details"]["family_id"].is_string());

    let revocations = of_type(&events, "token_revoked");
    assert_eq!(revocations[0]["client_id"], billing.id.as_str());
    assert_eq!(revocations[0]["details"]["token_type"], "access_token");

    // Nothing anyone could present, or a password, is in the table.
    let stored = stored_text(&app).await;
    assert!(
        stored.contains(&ada),
        "the search must see the events: {stored}"
    );
    for needle in [
        PASSWORD,
        WRONG,
        typed,
        secret.as_str(),
        access.as_str(),
        first_refresh.as_str(),
        second_access.as_str(),
        second_refresh.as_str(),
        service_access.as_str(),
    ] {
        assert!(!stored.contains(needle), "{needle} is stored: {stored}");
        // Not even the signature part of a token.
        if let Some(signature) = needle.rsplit('.').next().filter(|s| s.len() > 40) {
            assert!(!stored.contains(signature), "{needle} is stored: {stored}");
        }
    }
}

#[tokio::test]
async fn a_throttled_sign_in_is_recorded_with_its_reason() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            password_grant(&app, "ada@example.com", WRONG)
                .await
                .status(),
            400
        );
    }
    assert_eq!(
        password_grant(&app, "ada@example.com", WRONG)
            .await
            .status(),
        429
    );
    let events = events_when(&app, "login_failed", 6).await;
    let throttled: Vec<_> = of_type(&events, "login_failed")
        .into_iter()
        .filter(|e| e["details"]["reason"] == "throttled")
        .collect();
    assert_eq!(throttled.len(), 1, "{events:#?}");
    assert_eq!(throttled[0]["client_address"], "127.0.0.1");
}

#[tokio::test]
async fn operators_changes_are_recorded_with_who_made_them() {
    let app = spawn_app().await;
    let created = cli_json(
        &app,
        &[
            "clients",
            "create",
            "--name",
            "Ops",
            "--grant",
            "client_credentials",
            "--json",
        ],
    )
    .await;
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    app.signup("ada@example.com").await;
    assert!(
        cli(&app, &["users", "update", "ada@example.com", "--admin"])
            .await
            .status
            .success()
    );
    assert!(
        cli(&app, &["clients", "delete", client_id])
            .await
            .status
            .success()
    );
    // Deleting what is not there changes nothing and records nothing.
    assert!(
        !cli(&app, &["clients", "delete", client_id])
            .await
            .status
            .success()
    );
    assert!(cli(&app, &["keys", "rotate"]).await.status.success());

    let events = cli_json(&app, &["events", "list", "--json"]).await;
    let events = events.as_array().unwrap();
    let of = |kind: &str| of_type(events, kind);
    let made = of("client_created");
    assert_eq!(made.len(), 1, "{events:#?}");
    assert_eq!(made[0]["client_id"], client_id);
    assert_eq!(made[0]["details"]["by"], "command_line");
    assert_eq!(made[0]["details"]["grant_types"][0], "client_credentials");
    assert_eq!(made[0]["client_address"], Value::Null);
    assert_eq!(of("client_deleted").len(), 1, "{events:#?}");
    let updated = of("user_updated");
    assert_eq!(updated.len(), 1);
    assert_eq!(
        updated[0]["subject"],
        user_id(&app, "ada@example.com").await.as_str()
    );
    assert_eq!(updated[0]["details"]["admin"], true);
    let rotated = of("key_rotated");
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0]["details"]["by"], "command");
    // Newest first: the rotation was the last change.
    assert_eq!(events[0]["type"], "key_rotated");
    assert!(!stored_text(&app).await.contains(secret));
}

#[tokio::test]
async fn events_list_filters_by_type_and_time_and_refuses_a_bad_time() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    assert_eq!(
        password_grant(&app, "ada@example.com", WRONG)
            .await
            .status(),
        400
    );
    events_when(&app, "login_failed", 1).await;

    let only = cli_json(
        &app,
        &["events", "list", "--type", "login_failed", "--json"],
    )
    .await;
    let only = only.as_array().unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["type"], "login_failed");
    let none = cli_json(
        &app,
        &[
            "events",
            "list",
            "--since",
            "2999-01-01T00:00:00Z",
            "--json",
        ],
    )
    .await;
    assert_eq!(none, Value::Array(Vec::new()));
    let all = cli_json(
        &app,
        &[
            "events",
            "list",
            "--since",
            "2000-01-01T00:00:00Z",
            "--json",
        ],
    )
    .await;
    assert!(all.as_array().unwrap().len() >= 2, "{all}");

    // Text: one line per event, its time first.
    let output = cli(&app, &["events", "list", "--type", "login_failed"]).await;
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("\tlogin_failed\t"), "{text}");

    let output = cli(&app, &["events", "list", "--since", "yesterday"]).await;
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--since"), "{stderr}");
}

#[tokio::test]
async fn events_older_than_the_retention_are_pruned() {
    use auth_server::store::events::{self, Event};
    // This server keeps events for ten years; the default is 30 days.
    const TEN_YEARS: i64 = 315_360_000;
    let app = spawn_app_with(|f| f.merge(("event_retention", TEN_YEARS))).await;
    assert_eq!(app.config.event_retention, TEN_YEARS);
    let now = shared::clock::unix_now();
    let retention = 2_592_000;
    events::record(&app.db, Event::new("test_old"), now - retention - 10).await;
    events::record(&app.db, Event::new("test_recent"), now - retention + 60).await;
    let kinds = || async {
        sqlx::query("select type from events where type like 'test_%' order by type")
            .fetch_all(&app.db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("type"))
            .collect::<Vec<_>>()
    };
    // Both kept by this server...
    for _ in 0..50 {
        if kinds().await.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kinds().await, ["test_old", "test_recent"]);
    // ... until an instance with the default retention starts: its pruner
    // runs at once.
    let (_address, other, ..) = launch(test_figment(&app.database_url, &app.keys_dir)).await;
    for _ in 0..50 {
        if kinds().await.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kinds().await, ["test_recent"]);
    other.notify();
    assert_eq!(events::prune(&app.db, now).await.unwrap(), 1);
    assert!(kinds().await.is_empty());

    // The setting is checked at start.
    let figment = test_figment(&app.database_url, &app.keys_dir).merge(("event_retention", 10));
    let error = auth_server::config::AppConfig::from_figment(&figment).unwrap_err();
    assert!(error.to_string().contains("EVENT_RETENTION"), "{error}");
}
