//! Key rotation (API.md, "Keys") as operators live it: the real CLI changes
//! the keys in the database beside running servers, which follow within
//! 2 seconds. Time is not a test knob: the schedule is data, so "ten
//! minutes later" is the schedule moved ten minutes back.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{TestApp, decode_parts, launch, spawn_app, spawn_app_with, test_figment};
use crate::keys::{key_rows, time_passes};
use crate::oauth_support::{is_active, register_client};

/// The default JWKS_MAX_AGE's lead: 2 × 300 s.
const PUBLISH_LEAD: i64 = 600;

const BIN: &str = env!("CARGO_BIN_EXE_auth-server");

async fn cli(app: &TestApp, args: &[&str]) -> Output {
    cli_with(app, args, &[]).await
}

/// The CLI with the server's settings: `env` adds those the test changed.
async fn cli_with(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("KEYS_DIR", &app.keys_dir)
        .env("RUST_LOG", "off")
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap()
}

async fn cli_json(app: &TestApp, args: &[&str]) -> Value {
    cli_json_with(app, args, &[]).await
}

async fn cli_json_with(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> Value {
    let output = cli_with(app, args, env).await;
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

/// Polls until `check` holds: the server looks at the database every second.
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
    let rotation = cli_json(&app, &["keys", "rotate", "--json"]).await;
    let new = rotation["new"]["kid"].as_str().unwrap().to_owned();
    assert_eq!(rotation["new"]["state"], "next");
    assert_eq!(rotation["retiring"][0]["kid"], old.as_str());
    eventually("the next key is published", || async {
        kids(&app).await.len() == 2
    })
    .await;
    assert_eq!(token_kid(&app).await, old, "the next key does not sign yet");
    assert_refused(&cli(&app, &["keys", "rotate"]).await, "already under way");

    // The lead time later: the new key signs, the old one retires but stays
    // published while tokens it signed live.
    time_passes(&app, PUBLISH_LEAD).await;
    eventually("the new key signs", || async {
        token_kid(&app).await == new
    })
    .await;
    let mut published = kids(&app).await;
    published.sort();
    let mut both = vec![old.clone(), new.clone()];
    both.sort();
    assert_eq!(published, both);
    let list = cli_json(&app, &["keys", "list", "--json"]).await;
    let walk = states(&list);
    assert!(walk.contains(&(new.clone(), "active".into())), "{list}");
    assert!(walk.contains(&(old.clone(), "retiring".into())), "{list}");
    assert!(is_active(&app, &resource, &old_token).await);

    // A compromised key goes at once: unpublished, private key erased, its
    // tokens dead.
    let output = cli(&app, &["keys", "revoke", &old]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eventually("the revoked key is unpublished", || async {
        kids(&app).await == [new.clone()]
    })
    .await;
    assert_eq!(key_rows(&app.db).await[&old], None);
    assert!(!is_active(&app, &resource, &old_token).await);
    let list = cli_json(&app, &["keys", "list", "--json"]).await;
    assert!(
        states(&list).contains(&(old.clone(), "removed".into())),
        "{list}"
    );
    assert_refused(
        &cli(&app, &["keys", "revoke", "no-such-kid"]).await,
        "no-such-kid",
    );
    // Kids are base64url: one in 64 starts with '-', which is no flag here.
    assert_refused(
        &cli(&app, &["keys", "revoke", "-q4bS"]).await,
        "no key -q4bS",
    );
}

#[tokio::test]
async fn revoking_the_signing_key_hands_signing_to_another_at_once() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let old = kids(&app).await.remove(0);
    let output = cli(&app, &["keys", "revoke", &old]).await;
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

async fn key_count(app: &TestApp) -> usize {
    key_rows(&app.db).await.len()
}

#[tokio::test]
async fn the_server_rotates_by_itself_on_key_rotation_interval() {
    let app = spawn_app_with(|f| f.merge(("key_rotation_interval", 3_600))).await;
    let key = kids(&app).await.remove(0);
    // A key that has signed for a day already.
    time_passes(&app, 86_400).await;
    eventually("the server started a rotation", || async {
        kids(&app).await.len() == 2
    })
    .await;
    let list = cli_json(&app, &["keys", "list", "--json"]).await;
    let walk = states(&list);
    assert!(walk.contains(&(key.clone(), "active".into())), "{list}");
    assert_eq!(walk.len(), 2, "{list}");
    assert!(walk.iter().any(|(k, s)| *k != key && s == "next"), "{list}");
    // Still one rotation, however many polls pass.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(key_count(&app).await, 2);
}

#[tokio::test]
async fn two_servers_rotate_exactly_once_per_interval() {
    for round in 0..5 {
        let a = spawn_app_with(|f| f.merge(("key_rotation_interval", 3_600))).await;
        let (b, b_shutdown, ..) = launch(
            test_figment(&a.database_url, &a.keys_dir).merge(("key_rotation_interval", 3_600)),
        )
        .await;
        time_passes(&a, 86_400).await;
        eventually("a rotation started", || async { key_count(&a).await == 2 }).await;
        // Both have had several polls to rotate again; neither did.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(key_count(&a).await, 2, "round {round}");
        let jwks_b: Value = reqwest::get(format!("{b}/.well-known/jwks.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(a.get_jwks().await, jwks_b, "round {round}");
        b_shutdown.notify();
    }
}

#[tokio::test]
async fn a_cli_rotation_is_published_within_2_s_and_signs_after_the_lead() {
    // JWKS_MAX_AGE=1: the lead is 2 s.
    let app = spawn_app_with(|f| f.merge(("jwks_max_age", 1))).await;
    app.signup("ada@example.com").await;
    let old = kids(&app).await.remove(0);
    // The CLI reads the same settings as the server, JWKS_MAX_AGE included.
    let rotation = cli_json_with(
        &app,
        &["keys", "rotate", "--json"],
        &[("JWKS_MAX_AGE", "1")],
    )
    .await;
    let rotated_at = Instant::now();
    let new = rotation["new"]["kid"].as_str().unwrap().to_owned();
    let activates =
        chrono::DateTime::parse_from_rfc3339(rotation["new"]["activates_at"].as_str().unwrap())
            .unwrap()
            .timestamp();
    let created =
        chrono::DateTime::parse_from_rfc3339(rotation["new"]["created_at"].as_str().unwrap())
            .unwrap()
            .timestamp();
    assert_eq!(activates - created, 2, "{rotation}");
    loop {
        let published = kids(&app).await;
        if published.contains(&new) {
            break;
        }
        assert!(
            rotated_at.elapsed() < Duration::from_secs(2),
            "not published within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let published_after = rotated_at.elapsed();
    // Signing switches after the lead (2 s), and within the next poll.
    loop {
        let token = app.password_token("ada@example.com").await;
        let (header, claims) = decode_parts(&token);
        let kid = header["kid"].as_str().unwrap().to_owned();
        if kid == new {
            assert!(
                claims["iat"].as_i64().unwrap() >= activates,
                "signed before the lead"
            );
            break;
        }
        assert_eq!(kid, old);
        assert!(
            rotated_at.elapsed() < Duration::from_secs(5),
            "the new key does not sign 5 s after the rotation"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let signs_after = rotated_at.elapsed();
    assert!(signs_after >= Duration::from_secs(1), "{signs_after:?}");
    eprintln!("published after {published_after:?}, signs after {signs_after:?}");
}

/// `keys import FILE`: `file` holds `pem`, with the default mode (an
/// import is on purpose; the file may be anywhere).
fn key_file(dir: &std::path::Path, name: &str, pem: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path.display().to_string()
}

async fn kids_at(address: &str) -> Vec<String> {
    let jwks: Value = reqwest::get(format!("{address}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn keys_import_adds_a_next_key_every_server_publishes_within_2_s_then_signs() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let (other, other_shutdown, ..) = launch(test_figment(&app.database_url, &app.keys_dir)).await;
    let old = kids(&app).await.remove(0);
    let dir = tempfile::TempDir::new().unwrap();
    let (kid, pem) = crate::keys::pem_key();
    let file = key_file(dir.path(), "mine.pem", &pem);

    let imported = cli_json(&app, &["keys", "import", &file, "--json"]).await;
    let at = Instant::now();
    assert_eq!(imported["new"]["kid"], kid.as_str(), "{imported}");
    assert_eq!(imported["new"]["state"], "next", "{imported}");
    assert_eq!(imported["retiring"][0]["kid"], old.as_str(), "{imported}");
    for address in [app.address.as_str(), other.as_str()] {
        while !kids_at(address).await.contains(&kid) {
            assert!(
                at.elapsed() < Duration::from_secs(2),
                "not published within 2 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let list = cli_json(&app, &["keys", "list", "--json"]).await;
    let walk = states(&list);
    assert!(walk.contains(&(kid.clone(), "next".into())), "{list}");
    assert!(walk.contains(&(old.clone(), "active".into())), "{list}");
    assert_eq!(token_kid(&app).await, old, "a next key does not sign yet");
    // One rotation at a time, imported or not.
    let (second, second_pem) = crate::keys::pem_key();
    let second_file = key_file(dir.path(), "second.pem", &second_pem);
    assert_refused(
        &cli(&app, &["keys", "import", &second_file]).await,
        "already under way",
    );
    assert!(!key_rows(&app.db).await.contains_key(&second));

    // The lead later it signs, and the old key retires, as in a rotation.
    time_passes(&app, PUBLISH_LEAD).await;
    eventually("the imported key signs", || async {
        token_kid(&app).await == kid
    })
    .await;
    let list = cli_json(&app, &["keys", "list", "--json"]).await;
    let walk = states(&list);
    assert!(walk.contains(&(kid.clone(), "active".into())), "{list}");
    assert!(walk.contains(&(old.clone(), "retiring".into())), "{list}");
    other_shutdown.notify();
}

#[tokio::test]
async fn keys_import_refuses_what_is_not_a_new_private_key_in_one_line() {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let app = spawn_app().await;
    let dir = tempfile::TempDir::new().unwrap();
    let small = rsa::PrivateKey::new(&mut getrandom::SysRng, 1024).unwrap();
    let small_pem = small.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let public_pem = small
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let binary = dir.path().join("binary.pem");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let cases = [
        (
            dir.path().join("none.pem").display().to_string(),
            "cannot read",
        ),
        (dir.path().display().to_string(), "not a file"),
        (
            key_file(dir.path(), "hello.pem", "hello\n"),
            "is not an RSA private key in PKCS#8 PEM",
        ),
        (
            key_file(dir.path(), "public.pem", &public_pem),
            "a public key",
        ),
        (
            key_file(
                dir.path(),
                "pkcs1.pem",
                "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n",
            ),
            "PKCS#1",
        ),
        (
            key_file(dir.path(), "small.pem", &small_pem),
            "at least 2048 bits",
        ),
        (binary.display().to_string(), "not PEM text"),
    ];
    let before = key_rows(&app.db).await;
    for (file, why) in &cases {
        let output = cli(&app, &["keys", "import", file]).await;
        assert_refused(&output, file);
        assert_refused(&output, why);
        assert!(
            String::from_utf8_lossy(&output.stderr).starts_with("auth-server: "),
            "{file}"
        );
    }
    assert_eq!(key_rows(&app.db).await, before, "nothing added");

    // A kid the database knows, removed ones included, never comes (back).
    let (kid, pem) = crate::keys::pem_key();
    let file = key_file(dir.path(), "mine.pem", &pem);
    let output = cli(&app, &["keys", "import", &file]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_refused(
        &cli(&app, &["keys", "import", &file]).await,
        "already in the database",
    );
    let output = cli(&app, &["keys", "revoke", &kid]).await;
    assert!(output.status.success());
    assert_refused(
        &cli(&app, &["keys", "import", &file]).await,
        "already in the database",
    );
    assert_eq!(key_rows(&app.db).await[&kid], None, "still a tombstone");
}
