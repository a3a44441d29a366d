//! Key rotation (API.md, "Keys") as operators live it: the real CLI changes
//! `KEYS_DIR` beside a running server, which follows within seconds.
//! Time is not a test knob: the schedule is data, so "ten minutes later"
//! is the schedule moved ten minutes back.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use auth_server::key_schedule::{Entry, PUBLISH_LEAD, SCHEDULE_FILE, Schedule};
use serde_json::Value;

use crate::helpers::{TestApp, decode_parts, spawn_app, spawn_app_with};
use crate::oauth_support::{is_active, register_client};

const BIN: &str = env!("CARGO_BIN_EXE_auth-server");

fn cli(app: &TestApp, args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("KEYS_DIR", &app.keys_dir)
        .env("RUST_LOG", "off")
        .output()
        .unwrap()
}

fn cli_json(app: &TestApp, args: &[&str]) -> Value {
    let output = cli(app, args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Fails with one line on standard error and a non-zero exit.
fn assert_refused(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
}

async fn kids(app: &TestApp) -> Vec<String> {
    app.get_jwks().await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn token_kid(app: &TestApp) -> String {
    let token = app.password_token("ada@example.com").await;
    decode_parts(&token).0["kid"].as_str().unwrap().to_owned()
}

/// Polls until `check` holds: the server looks at the folder every 2 s.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..60 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("not within 12 s: {what}");
}

/// Moves every instant of the schedule `seconds` into the past.
fn time_passes(keys_dir: &Path, seconds: i64) {
    let mut schedule = Schedule::read(keys_dir).unwrap();
    for entry in &mut schedule.keys {
        entry.created_at -= seconds;
        entry.activates_at -= seconds;
        entry.retires_at = entry.retires_at.map(|t| t - seconds);
        entry.removed_at = entry.removed_at.map(|t| t - seconds);
    }
    // Replaced, not rewritten in place, as the server replaces it: a
    // running server never reads half a schedule.
    let tmp = keys_dir.join("schedule.test.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&schedule).unwrap()).unwrap();
    std::fs::rename(&tmp, keys_dir.join(SCHEDULE_FILE)).unwrap();
}

fn states(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_rotation_reaches_the_running_server_without_a_restart() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let resource = register_client(
        &app,
        "Resource",
        &["client_credentials"],
        "profiles:read",
        false,
    )
    .await;
    let old = kids(&app).await.remove(0);
    let old_token = app.password_token("ada@example.com").await;

    // Published now, signing only after the lead time.
    let rotation = cli_json(&app, &["keys", "rotate", "--json"]);
    let new = rotation["new"]["kid"].as_str().unwrap().to_owned();
    assert_eq!(rotation["new"]["state"], "next");
    assert_eq!(rotation["retiring"][0]["kid"], old.as_str());
    eventually("the next key is published", || async {
        kids(&app).await.len() == 2
    })
    .await;
    assert_eq!(token_kid(&app).await, old, "the next key does not sign yet");
    assert_refused(&cli(&app, &["keys", "rotate"]), "already under way");

    // The lead time later: the new key signs, the old one retires but stays
    // published while tokens it signed live.
    time_passes(&app.keys_dir, PUBLISH_LEAD);
    eventually("the new key signs", || async {
        token_kid(&app).await == new
    })
    .await;
    let mut published = kids(&app).await;
    published.sort();
    let mut both = vec![old.clone(), new.clone()];
    both.sort();
    assert_eq!(published, both);
    let list = cli_json(&app, &["keys", "list", "--json"]);
    let walk = states(&list);
    assert!(walk.contains(&(new.clone(), "active".into())), "{list}");
    assert!(walk.contains(&(old.clone(), "retiring".into())), "{list}");
    assert!(is_active(&app, &resource, &old_token).await);

    // A compromised key goes at once: unpublished, file deleted, its tokens dead.
    let output = cli(&app, &["keys", "revoke", &old]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eventually("the revoked key is unpublished", || async {
        kids(&app).await == [new.clone()]
    })
    .await;
    assert!(!app.keys_dir.join(format!("{old}.pem")).exists());
    assert!(!is_active(&app, &resource, &old_token).await);
    let list = cli_json(&app, &["keys", "list", "--json"]);
    assert!(
        states(&list).contains(&(old.clone(), "removed".into())),
        "{list}"
    );
    assert_refused(
        &cli(&app, &["keys", "revoke", "no-such-kid"]),
        "no-such-kid",
    );
    // Kids are base64url: one in 64 starts with '-', which is no flag here.
    assert_refused(&cli(&app, &["keys", "revoke", "-q4bS"]), "no key -q4bS");
}

#[tokio::test]
async fn revoking_the_signing_key_hands_signing_to_another_at_once() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let old = kids(&app).await.remove(0);
    let output = cli(&app, &["keys", "revoke", &old]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eventually("a new key signs", || async {
        let published = kids(&app).await;
        published.len() == 1 && published[0] != old
    })
    .await;
    let now_signing = kids(&app).await.remove(0);
    assert_eq!(token_kid(&app).await, now_signing);
}

#[tokio::test]
async fn the_server_rotates_by_itself_on_key_rotation_interval() {
    let dir = tempfile::TempDir::new().unwrap();
    let keys_dir = dir.path().join("keys");
    std::fs::create_dir_all(&keys_dir).unwrap();
    let key = auth_server::keys::generate_key(&keys_dir).unwrap();
    // A key that has signed for a day already.
    let day_ago = auth_server::key_schedule::now() - 86_400;
    let schedule = Schedule {
        keys: vec![Entry::active_since(&key.kid, day_ago)],
    };
    std::fs::write(
        keys_dir.join(SCHEDULE_FILE),
        serde_json::to_vec(&schedule).unwrap(),
    )
    .unwrap();
    let app = spawn_app_with(|f| {
        f.merge(("keys_dir", keys_dir.display().to_string()))
            .merge(("key_rotation_interval", 3_600))
    })
    .await;
    eventually("the server started a rotation", || async {
        kids(&app).await.len() == 2
    })
    .await;
    let schedule = Schedule::read(&keys_dir).unwrap();
    assert_eq!(schedule.keys.len(), 2);
    let fresh = schedule.keys.iter().find(|e| e.kid != key.kid).unwrap();
    assert!(
        fresh.activates_at > auth_server::key_schedule::now(),
        "published first"
    );
    // Still one rotation, however many polls pass.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(Schedule::read(&keys_dir).unwrap().keys.len(), 2);
}
