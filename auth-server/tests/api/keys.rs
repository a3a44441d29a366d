//! Signing keys in the database (API.md, "Keys"): sealed under the
//! key-encryption key, one first key however many instances start at once,
//! the upgrade path from key files (and only it: a key file dropped into
//! `KEYS_DIR` later is never a key), and the JWK Set's caching.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{Value, json};
use sqlx::Row;

use crate::helpers::{
    TestApp, decode_parts, fresh_database_url, launch, spawn_app, spawn_app_with, test_figment,
    verify_with_jwks,
};
use crate::oauth_support::{RegisteredClient, is_active, service};

/// Every row of `signing_keys`: kid → sealed private key (None: tombstone).
pub async fn key_rows(db: &auth_server::store::Db) -> BTreeMap<String, Option<String>> {
    sqlx::query("select kid, sealed_private_key from signing_keys")
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("kid"), r.get("sealed_private_key")))
        .collect()
}

async fn jwks_at(address: &str) -> Value {
    let response = reqwest::get(format!("{address}/.well-known/jwks.json"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn jwks_kids(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

/// A PKCS#8 PEM key as earlier versions kept in KEYS_DIR, and its kid.
pub fn pem_key() -> (String, String) {
    let private = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let kid = auth_server::keys::SigningKey::from_pkcs8_der(
        private.to_pkcs8_der().unwrap().as_bytes(),
        "test",
    )
    .unwrap()
    .kid;
    (kid, pem)
}

pub fn write_pem(dir: &Path, kid: &str, pem: &str) {
    plant(dir, kid, pem, 0o600, None);
}

/// Writes `KEYS_DIR/<kid>.pem` with `mode`, dated `modified` if given.
fn plant(dir: &Path, kid: &str, pem: &str, mode: u32, modified: Option<SystemTime>) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{kid}.pem"));
    std::fs::write(&path, pem).unwrap();
    if let Some(modified) = modified {
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// 2020-01-01: a key file of an earlier version, active since then.
fn in_2020() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800)
}

/// A token with `token`'s claims, signed with `pem` under its own kid, as
/// whoever planted that key would make one.
fn forge(pem: &str, kid: &str, token: &str) -> String {
    let (_, claims) = decode_parts(token);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// `active` of an introspection at another instance's `address`.
async fn active_at(address: &str, by: &RegisteredClient, token: &str) -> bool {
    let response = reqwest::Client::new()
        .post(format!("{address}/oauth/introspect"))
        .header("authorization", by.basic())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["active"] == true
}

/// Names, sizes and modification times: what must not change in KEYS_DIR.
fn listing(dir: &Path) -> Vec<(String, u64, SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                meta.len(),
                meta.modified().unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

pub fn a_kek() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

#[tokio::test]
async fn a_fresh_key_is_sealed_in_the_database_and_published_without_private_members() {
    let app = spawn_app().await;
    // KEYS_DIR holds only the key-encryption key, mode 0600; no key file.
    let files: Vec<String> = listing(&app.keys_dir).into_iter().map(|f| f.0).collect();
    assert_eq!(files, ["kek"]);
    let kek_path = app.keys_dir.join("kek");
    let mode = std::fs::metadata(&kek_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let kek = URL_SAFE_NO_PAD
        .decode(std::fs::read_to_string(&kek_path).unwrap().trim())
        .unwrap();
    assert_eq!(kek.len(), 32);

    let jwks = app.get_jwks().await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let mut members: Vec<_> = keys[0].as_object().unwrap().keys().cloned().collect();
    members.sort();
    assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[0]["e"], "AQAB");
    let kid = keys[0]["kid"].as_str().unwrap();
    assert_eq!(
        kid,
        shared::jwk::rsa_thumbprint(
            keys[0]["n"].as_str().unwrap(),
            keys[0]["e"].as_str().unwrap()
        )
    );

    // One row, its private key sealed: the kek opens it, for this kid only.
    let rows = key_rows(&app.db).await;
    assert_eq!(rows.keys().collect::<Vec<_>>(), [kid]);
    let sealed = rows[kid].clone().unwrap();
    assert!(!sealed.contains("PRIVATE"));
    let kek = auth_server::keys::Kek::from_bytes(&kek.try_into().unwrap()).unwrap();
    let der = kek.open(kid, &sealed).unwrap();
    let key = auth_server::keys::SigningKey::from_pkcs8_der(&der, "row").unwrap();
    assert_eq!(key.kid, kid);
    assert!(kek.open("another-kid", &sealed).is_err());
    let public: Value = sqlx::query("select public_jwk from signing_keys")
        .fetch_one(&app.db.pool)
        .await
        .map(|r| serde_json::from_str(r.get::<String, _>("public_jwk").as_str()).unwrap())
        .unwrap();
    assert_eq!(public, keys[0]);
}

#[tokio::test]
async fn jwks_is_cacheable_and_conditional() {
    let app = spawn_app().await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), 200);
    let cache_control = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        cache_control,
        "public, max-age=300, stale-while-revalidate=300, stale-if-error=300"
    );
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'));

    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()["etag"], etag.as_str());
    assert!(response.bytes().await.unwrap().is_empty());

    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// `max-age`, and `stale-if-error` never above it.
fn cache_directives(response: &reqwest::Response) -> BTreeMap<String, String> {
    response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .split(',')
        .map(|d| {
            let (name, value) = d.trim().split_once('=').unwrap_or((d.trim(), ""));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn jwks_cache_control_follows_jwks_max_age() {
    for max_age in [1, 86_400] {
        let app = spawn_app_with(|f| f.merge(("jwks_max_age", max_age))).await;
        let response = app.get("/.well-known/jwks.json").await;
        assert_eq!(response.status(), 200);
        let directives = cache_directives(&response);
        assert!(directives.contains_key("public"));
        assert_eq!(directives["max-age"], max_age.to_string());
        let stale_if_error: i64 = directives["stale-if-error"].parse().unwrap();
        assert!((1..=max_age).contains(&stale_if_error), "{directives:?}");
        assert!(directives.contains_key("stale-while-revalidate"));
        assert_eq!(
            response.json::<Value>().await.unwrap()["keys"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn a_second_start_with_the_same_keys_dir_reuses_the_key() {
    let first = spawn_app().await;
    first.signup("ada@example.com").await;
    let token = first.password_token("ada@example.com").await;
    let kid = decode_parts(&token).0["kid"].clone();

    // Same database and key folder, a new process-equivalent.
    let (address, shutdown, ..) = launch(test_figment(&first.database_url, &first.keys_dir)).await;
    let jwks = jwks_at(&address).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], kid);
    verify_with_jwks(&token, &jwks).unwrap();
    assert_eq!(key_rows(&first.db).await.len(), 1);
    shutdown.notify();
}

#[tokio::test]
async fn a_corrupt_pem_stops_start_up_with_a_clear_message() {
    let dir = tempfile::TempDir::new().unwrap();
    let keys_dir = dir.path().join("keys");
    plant(
        &keys_dir,
        "broken",
        "-----BEGIN PRIVATE KEY-----\nnope\n",
        0o600,
        None,
    );
    let database_url = fresh_database_url(dir.path()).await;
    let error = auth_server::build(test_figment(&database_url, &keys_dir))
        .await
        .expect_err("start-up must fail");
    let message = error.to_string();
    assert!(message.starts_with("KEYS_DIR: "), "{message}");
    assert!(message.contains("broken.pem"), "{message}");
    assert!(message.contains("not an RSA private key"), "{message}");
    assert!(!message.contains('\n'));
}

#[tokio::test]
async fn a_pem_dropped_into_keys_dir_of_a_server_with_keys_is_never_published_nor_trusted() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let resource = service(&app).await;
    let token = app.password_token("ada@example.com").await;
    let kid = decode_parts(&token).0["kid"].as_str().unwrap().to_owned();

    // One anyone may read; one private to the server's user and dated 2020,
    // as an earlier version's active key would be.
    let (open_kid, open_pem) = pem_key();
    let (old_kid, old_pem) = pem_key();
    let open_file = plant(&app.keys_dir, &open_kid, &open_pem, 0o644, None);
    let old_file = plant(&app.keys_dir, &old_kid, &old_pem, 0o600, Some(in_2020()));

    // The running server polls its keys every second: nothing changes.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(jwks_kids(&app.get_jwks().await), std::slice::from_ref(&kid));
    // Nor does a restart (an instance started on the same database and
    // folder), nor a `keys` command.
    let (address, shutdown, ..) = launch(test_figment(&app.database_url, &app.keys_dir)).await;
    assert_eq!(
        jwks_kids(&jwks_at(&address).await),
        std::slice::from_ref(&kid)
    );
    let list = keys_list(&app.database_url, &app.keys_dir, None);
    assert_eq!(
        states(&list).into_iter().collect::<Vec<_>>(),
        [(kid.clone(), "active".to_owned())]
    );
    assert_eq!(key_rows(&app.db).await.keys().collect::<Vec<_>>(), [&kid]);
    let fresh = app.password_token("ada@example.com").await;
    assert_eq!(decode_parts(&fresh).0["kid"], kid.as_str());

    // Tokens signed with them are refused at both instances.
    for (planted, pem) in [(&open_kid, &open_pem), (&old_kid, &old_pem)] {
        let forged = forge(pem, planted, &token);
        assert!(!is_active(&app, &resource, &forged).await, "{planted}");
        assert!(!active_at(&address, &resource, &forged).await, "{planted}");
    }
    assert!(is_active(&app, &resource, &token).await);
    assert!(active_at(&address, &resource, &fresh).await);
    shutdown.notify();

    // Each is named in one warning line (here by a `keys` command, which
    // opens the keys as the server does).
    let mut command = cli_command(&app.database_url, &app.keys_dir);
    command
        .env("RUST_LOG", "warn")
        .args(["keys", "list", "--json"]);
    // Awaited, so that the server in this runtime goes on meanwhile: a
    // blocking wait could hold up a transaction the command waits for.
    let output = tokio::process::Command::from(command)
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    for file in [&open_file, &old_file] {
        let name = file.display().to_string();
        let naming: Vec<&&str> = lines.iter().filter(|l| l.contains(&name)).collect();
        assert_eq!(naming.len(), 1, "{name}: {stderr}");
        assert!(naming[0].contains("WARN") && naming[0].contains("ignored"));
    }
}

#[tokio::test]
async fn the_upgrade_imports_key_files_private_to_the_server_user_only() {
    // 0600 and 0400 files into an empty database: both imported, the one
    // written last signing.
    let dir = tempfile::TempDir::new().unwrap();
    let keys_dir = dir.path().join("keys");
    let (old, old_pem) = pem_key();
    let (new, new_pem) = pem_key();
    plant(&keys_dir, &old, &old_pem, 0o600, Some(in_2020()));
    let an_hour_ago = shared::clock::system_time() - Duration::from_secs(3600);
    plant(&keys_dir, &new, &new_pem, 0o400, Some(an_hour_ago));
    let app = spawn_app_with(|f| f.merge(("keys_dir", keys_dir.display().to_string()))).await;
    let mut both = vec![old.clone(), new.clone()];
    both.sort();
    assert_eq!(jwks_kids(&app.get_jwks().await), both);
    app.signup("ada@example.com").await;
    let token = app.password_token("ada@example.com").await;
    assert_eq!(decode_parts(&token).0["kid"], new.as_str());
    let rows = key_rows(&app.db).await;
    assert!(rows[&old].is_some() && rows[&new].is_some(), "{rows:?}");

    // Any other mode, or another owner: start-up stops naming the file,
    // and nothing is imported, not even the good file beside it.
    let mut cases: Vec<(u32, Option<u32>)> = [0o644, 0o640, 0o604, 0o660, 0o700, 0o601]
        .into_iter()
        .map(|mode| (mode, None))
        .collect();
    // Changing a file's owner takes root; the tests run as root in CI.
    if nix::unistd::geteuid().is_root() {
        cases.push((0o600, Some(65_534)));
    }
    for (mode, owner) in cases {
        let dir = tempfile::TempDir::new().unwrap();
        let keys_dir = dir.path().join("keys");
        let (good, good_pem) = pem_key();
        plant(&keys_dir, &good, &good_pem, 0o600, None);
        let (bad, bad_pem) = pem_key();
        let bad_file = plant(&keys_dir, &bad, &bad_pem, mode, None);
        if let Some(uid) = owner {
            std::os::unix::fs::chown(&bad_file, Some(uid), None).unwrap();
        }
        let database_url = fresh_database_url(dir.path()).await;
        let error = auth_server::build(test_figment(&database_url, &keys_dir))
            .await
            .expect_err("start-up must fail");
        let message = error.to_string();
        assert!(message.starts_with("KEYS_DIR: "), "{message}");
        assert!(
            message.contains(&bad_file.display().to_string()),
            "{message}"
        );
        assert!(message.contains("0600 or 0400"), "{message}");
        assert!(message.contains(&format!("{mode:04o}")), "{message}");
        assert!(!message.contains('\n'));
        let db = auth_server::store::Db::connect(&database_url)
            .await
            .unwrap();
        assert!(key_rows(&db).await.is_empty(), "{mode:o} {owner:?}");
    }
}

#[tokio::test]
async fn two_instances_started_at_once_on_an_empty_database_make_one_key() {
    for round in 0..20 {
        let dir = tempfile::TempDir::new().unwrap();
        let database_url = fresh_database_url(dir.path()).await;
        if database_url.starts_with("sqlite") {
            // sqlx serialises migrations on PostgreSQL (an advisory lock),
            // not on SQLite: there the race is over the keys only.
            auth_server::store::Db::connect(&database_url)
                .await
                .unwrap();
        }
        let keys_dir = dir.path().join("keys");
        let figment = test_figment(&database_url, &keys_dir);
        let (a, b) = tokio::join!(launch(figment.clone()), launch(figment));
        let (jwks_a, jwks_b) = (jwks_at(&a.0).await, jwks_at(&b.0).await);
        assert_eq!(jwks_kids(&jwks_a).len(), 1, "round {round}: {jwks_a}");
        assert_eq!(jwks_a, jwks_b, "round {round}");
        let rows = key_rows(&a.2).await;
        assert_eq!(rows.len(), 1, "round {round}: {rows:?}");
        assert_eq!(rows.keys().next().unwrap(), &jwks_kids(&jwks_a)[0]);
        a.1.notify();
        b.1.notify();
    }
}

/// The race behind the one above, made exact: instance B read its clock
/// a second after A, won the lock and made the first key, active from B's
/// instant. A then finds it, makes none, and judges (and first loads its
/// ring) at B's instant, where that key signs: at its own, none would.
#[tokio::test]
async fn a_first_key_made_after_our_clock_read_is_judged_at_its_own_instant() {
    let dir = tempfile::TempDir::new().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let figment = test_figment(&database_url, &dir.path().join("keys"));
    let config = auth_server::config::AppConfig::from_figment(&figment).unwrap();
    let db = auth_server::store::Db::connect(&database_url)
        .await
        .unwrap();
    let kek = std::sync::Arc::new(auth_server::keys::Kek::load(&config, &db).await.unwrap());
    let (a_now, b_now) = (1_900_000_000, 1_900_000_001);

    let settle = auth_server::keys::schedule::settle;
    assert_eq!(settle(&db, &kek, Vec::new(), b_now).await.unwrap(), b_now);
    let rows = key_rows(&db).await;
    assert_eq!(rows.len(), 1, "{rows:?}");

    assert_eq!(settle(&db, &kek, Vec::new(), a_now).await.unwrap(), b_now);
    assert_eq!(key_rows(&db).await, rows, "no second key");
}

/// `serve` of the real binary, for tests that need a second process.
pub fn cli_command(database_url: &str, keys_dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_auth-server"));
    command
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("KEYS_DIR", keys_dir)
        .env("RUST_LOG", "off");
    command
}

fn keys_list(database_url: &str, keys_dir: &Path, kek: Option<&str>) -> Value {
    let mut command = cli_command(database_url, keys_dir);
    command.args(["keys", "list", "--json"]);
    if let Some(kek) = kek {
        command.env("KEY_ENCRYPTION_KEY", kek);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn states(list: &Value) -> BTreeMap<String, String> {
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
async fn key_files_and_schedule_of_an_earlier_version_are_imported_with_their_states() {
    let dir = tempfile::TempDir::new().unwrap();
    let keys_dir = dir.path().join("keys");
    let now = shared::clock::unix_now();
    let (retiring, retiring_pem) = pem_key();
    let (active, active_pem) = pem_key();
    let (next, next_pem) = pem_key();
    let (removed, removed_pem) = pem_key();
    let (by_hand, by_hand_pem) = pem_key();
    for (kid, pem) in [
        (&retiring, &retiring_pem),
        (&active, &active_pem),
        (&next, &next_pem),
        (&removed, &removed_pem),
        (&by_hand, &by_hand_pem),
    ] {
        write_pem(&keys_dir, kid, pem);
    }
    // A file without an entry counts as active since it was written: a day
    // ago here, so the scheduled active key is the newer one.
    std::fs::File::options()
        .write(true)
        .open(keys_dir.join(format!("{by_hand}.pem")))
        .unwrap()
        .set_modified(shared::clock::system_time() - std::time::Duration::from_secs(86_400))
        .unwrap();
    let schedule = json!({"keys": [
        {"kid": retiring, "created_at": now - 7200, "activates_at": now - 7200,
         "retires_at": now - 60, "removed_at": now + 3600},
        {"kid": active, "created_at": now - 3600, "activates_at": now - 60},
        {"kid": next, "created_at": now - 10, "activates_at": now + 3600},
        {"kid": removed, "created_at": now - 9000, "activates_at": now - 9000,
         "retires_at": now - 8000, "removed_at": now - 7000},
    ]});
    std::fs::write(
        keys_dir.join("schedule.json"),
        serde_json::to_vec(&schedule).unwrap(),
    )
    .unwrap();
    // Read-only, as a mounted Secret: the KEK comes from the environment.
    std::fs::set_permissions(&keys_dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    let before = listing(&keys_dir);
    let kek = a_kek();

    let app = spawn_app_with(|f| {
        f.merge(("keys_dir", keys_dir.display().to_string()))
            .merge(("key_encryption_key", kek.clone()))
    })
    .await;
    let published = jwks_kids(&app.get_jwks().await);
    let mut expected = vec![
        retiring.clone(),
        active.clone(),
        next.clone(),
        by_hand.clone(),
    ];
    expected.sort();
    assert_eq!(published, expected);
    app.signup("ada@example.com").await;
    let token = app.password_token("ada@example.com").await;
    assert_eq!(decode_parts(&token).0["kid"], active.as_str());

    let list = keys_list(&app.database_url, &keys_dir, Some(&kek));
    let states = states(&list);
    assert_eq!(states[&retiring], "retiring", "{list}");
    assert_eq!(states[&active], "active", "{list}");
    assert_eq!(states[&next], "next", "{list}");
    assert_eq!(states[&removed], "removed", "{list}");
    assert_eq!(states[&by_hand], "active", "{list}");
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == next.as_str())
        .unwrap();
    assert_eq!(
        row["activates_at"],
        shared::clock::rfc3339(now + 3600).as_str()
    );
    // The removed key is a tombstone; the others are sealed.
    let rows = key_rows(&app.db).await;
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[&removed], None);
    assert!(rows[&active].is_some() && rows[&next].is_some());
    // Nothing written, nothing deleted.
    assert_eq!(listing(&keys_dir), before);

    // Imported once: a restart finds every kid known and changes nothing.
    let version = |db: auth_server::store::Db| async move {
        sqlx::query("select version from key_ring")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get::<i64, _>("version")
    };
    let before_restart = version(app.db.clone()).await;
    let (address, shutdown, ..) = launch(
        test_figment(&app.database_url, &keys_dir).merge(("key_encryption_key", kek.clone())),
    )
    .await;
    assert_eq!(jwks_kids(&jwks_at(&address).await), expected);
    assert_eq!(version(app.db.clone()).await, before_restart);
    shutdown.notify();
    std::fs::set_permissions(&keys_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[tokio::test]
async fn a_revoked_kid_never_returns_though_its_file_stays_in_keys_dir() {
    let dir = tempfile::TempDir::new().unwrap();
    let keys_dir = dir.path().join("keys");
    let (kid, pem) = pem_key();
    write_pem(&keys_dir, &kid, &pem);
    std::fs::set_permissions(&keys_dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    let kek = a_kek();
    let app = spawn_app_with(|f| {
        f.merge(("keys_dir", keys_dir.display().to_string()))
            .merge(("key_encryption_key", kek.clone()))
    })
    .await;
    assert_eq!(jwks_kids(&app.get_jwks().await), std::slice::from_ref(&kid));

    let mut command = cli_command(&app.database_url, &keys_dir);
    command
        .env("KEY_ENCRYPTION_KEY", &kek)
        .args(["keys", "revoke", &kid]);
    // Awaited, so that the server in this runtime goes on meanwhile: a
    // blocking wait could hold up a transaction the command waits for.
    let output = tokio::process::Command::from(command)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(keys_dir.join(format!("{kid}.pem")).exists());
    assert_eq!(key_rows(&app.db).await[&kid], None, "a tombstone");

    // Restarted with the file still there: the kid stays removed.
    for _ in 0..2 {
        let (address, shutdown, ..) = launch(
            test_figment(&app.database_url, &keys_dir).merge(("key_encryption_key", kek.clone())),
        )
        .await;
        let published = jwks_kids(&jwks_at(&address).await);
        assert_eq!(published.len(), 1);
        assert_ne!(published[0], kid);
        shutdown.notify();
    }
    // A direct re-insert of the kid is refused by the table.
    let reinsert = sqlx::query(
        "insert into signing_keys (kid, public_jwk, created_at, activates_at) values ($1, '{}', 0, 0)",
    )
    .bind(&kid)
    .execute(&app.db.pool)
    .await;
    assert!(reinsert.is_err());
    let rows = key_rows(&app.db).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[&kid], None);
    std::fs::set_permissions(&keys_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// Used by rotation.rs: the app's rows, `seconds` into the past, and the
/// version bumped so running servers reload.
pub async fn time_passes(app: &TestApp, seconds: i64) {
    let mut tx = app.db.begin_write().await.unwrap();
    sqlx::query("update key_ring set version = version + 1 where id = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "update signing_keys set created_at = created_at - $1, activates_at = activates_at - $1, \
         retires_at = retires_at - $1, removed_at = removed_at - $1",
    )
    .bind(seconds)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}
