//! The real binary: start-up errors, the admin subcommands, SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::helpers::{PASSWORD, fresh_database_url};

const BIN: &str = env!("CARGO_BIN_EXE_auth-server");

pub fn command(dir: &TempDir, database_url: &str) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("KEYS_DIR", dir.path().join("keys"))
        .env("ROCKET_PORT", "0")
        .env("RUST_LOG", "warn");
    command
}

/// Runs `serve` with one setting broken; returns (exit code, stderr). A
/// server that accepts the setting and keeps running is stopped after 30 s
/// and reported as exit code `None`, so the test fails instead of hanging.
fn start_with(var: &str, value: &str) -> (Option<i32>, String) {
    let dir = TempDir::new().unwrap();
    let mut child = command(&dir, &format!("sqlite://{}/a.db", dir.path().display()))
        .env(var, value)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (code, reader.join().unwrap())
}

#[test]
fn unusable_settings_stop_start_up_with_one_line_naming_them() {
    let not_a_dir = TempDir::new().unwrap();
    let file = not_a_dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    for (var, value, prefix) in [
        ("ISSUER", "not a url", "auth-server: ISSUER: "),
        (
            "DATABASE_URL",
            "mysql://root@127.0.0.1/x",
            "auth-server: DATABASE_URL: ",
        ),
        (
            "DATABASE_URL",
            "postgres://nobody@127.0.0.1:1/none",
            "auth-server: DATABASE_URL: ",
        ),
        (
            "KEYS_DIR",
            file.to_str().unwrap(),
            "auth-server: KEYS_DIR: ",
        ),
        (
            "ACCESS_TOKEN_TTL",
            "soon",
            "auth-server: ACCESS_TOKEN_TTL: ",
        ),
        (
            "KEY_ROTATION_INTERVAL",
            "60",
            "auth-server: KEY_ROTATION_INTERVAL: ",
        ),
        (
            "CLIENT_ADDRESS_HEADER",
            "x-real-ip",
            "auth-server: CLIENT_ADDRESS_HEADER: ",
        ),
        ("REQUIRE_PAR", "yes", "auth-server: REQUIRE_PAR: "),
        (
            "OPEN_REGISTRATION",
            "yes",
            "auth-server: OPEN_REGISTRATION: ",
        ),
    ] {
        let (code, stderr) = start_with(var, value);
        assert_eq!(code, Some(1), "{var}={value}: {stderr}");
        let lines: Vec<_> = stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "{var}={value}: exactly one line, got {stderr:?}"
        );
        assert!(lines[0].starts_with(prefix), "{var}={value}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
    }
}

#[tokio::test]
async fn users_create_reads_the_password_from_stdin_and_makes_admins() {
    let dir = TempDir::new().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let mut child = command(&dir, &database_url)
        .args(["users", "create", "--email", "Root@Example.com", "--admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["email"], "root@example.com");
    assert_eq!(created["name"], "Root");
    assert_eq!(created["admin"], true);

    // The same email again: one clear line, exit 1.
    let mut child = command(&dir, &database_url)
        .args(["users", "create", "--email", "root@example.com"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "auth-server: an account with this email already exists"
    );

    // The admin logs in and gets profiles:read.
    let (mut server, address) = serve(&dir, &database_url);
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{address}/login"))
        .form(&[("username", "root@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["scope"], "profile:read profile:write profiles:read");
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Starts `serve` and reads the port from its one stdout line.
pub fn serve(dir: &TempDir, database_url: &str) -> (Child, String) {
    serve_with(command(dir, database_url))
}

fn serve_with(mut command: Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("auth-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, address)
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_0() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let dir = TempDir::new().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let (mut server, address) = serve(&dir, &database_url);
    let host = address.trim_start_matches("http://").to_owned();

    let body = format!(r#"{{"email":"slow@example.com","password":"{PASSWORD}","name":"Slow"}}"#);
    let (first, rest) = body.split_at(10);
    let mut stream = TcpStream::connect(&host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /signup HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));

    kill(Pid::from_raw(server.id() as i32), Signal::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(rest.as_bytes()).unwrap();

    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.contains("slow@example.com"));

    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// Runs the binary to its exit (at most 60 s); (exit code, stderr).
fn run_to_exit(command: &mut Command) -> (Option<i32>, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("still running after 60 s: it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap().code(), stderr)
}

fn assert_one_line(outcome: &(Option<i32>, String), prefix: &str, needle: &str) {
    let (code, stderr) = outcome;
    assert_eq!(*code, Some(1), "{stderr}");
    let lines: Vec<_> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line, got {stderr:?}");
    assert!(lines[0].starts_with(prefix), "{stderr}");
    assert!(lines[0].contains(needle), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

async fn sealed_keys(database_url: &str) -> Vec<(String, Option<String>)> {
    let db = auth_server::store::Db::connect(database_url).await.unwrap();
    let rows = sqlx::query("select kid, sealed_private_key from signing_keys order by kid")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    use sqlx::Row;
    rows.iter()
        .map(|r| (r.get("kid"), r.get("sealed_private_key")))
        .collect()
}

/// Writes `text` to `path`, mode 0600, as a key-encryption key file must be.
fn write_private(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[tokio::test]
async fn a_key_encryption_key_file_open_to_group_or_others_stops_start_up() {
    use std::os::unix::fs::PermissionsExt;
    let chmod = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let dir = TempDir::new().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let file = dir.path().join("kek-file");
    write_private(&file, &format!("{}\n", crate::keys::a_kek()));
    let name = file.display().to_string();
    for mode in [0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o610] {
        chmod(&file, mode);
        let outcome =
            run_to_exit(command(&dir, &database_url).env("KEY_ENCRYPTION_KEY_FILE", &file));
        assert_one_line(&outcome, "auth-server: KEY_ENCRYPTION_KEY_FILE: ", &name);
        assert!(
            outcome.1.contains(&format!("mode {mode:04o}")),
            "{}",
            outcome.1
        );
    }
    assert!(sealed_keys(&database_url).await.is_empty(), "nothing made");
    for mode in [0o600, 0o400] {
        chmod(&file, mode);
        let mut command = command(&dir, &database_url);
        command.env("KEY_ENCRYPTION_KEY_FILE", &file);
        let (mut server, _) = serve_with(command);
        server.kill().unwrap();
        server.wait().unwrap();
    }
    assert_eq!(sealed_keys(&database_url).await.len(), 1);

    // The kek the first start makes in KEYS_DIR is 0600; opened up later,
    // the server and every `keys` command refuse it.
    let other = TempDir::new().unwrap();
    let other_url = fresh_database_url(other.path()).await;
    let (mut server, _) = serve(&other, &other_url);
    server.kill().unwrap();
    server.wait().unwrap();
    let kek = other.path().join("keys").join("kek");
    let mode = std::fs::metadata(&kek).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    chmod(&kek, 0o644);
    let kek_name = kek.display().to_string();
    let outcome = run_to_exit(&mut command(&other, &other_url));
    assert_one_line(&outcome, "auth-server: KEYS_DIR: ", &kek_name);
    assert!(outcome.1.contains("mode 0644"), "{}", outcome.1);
    let outcome = run_to_exit(command(&other, &other_url).args(["keys", "list"]));
    assert_one_line(&outcome, "auth-server: KEYS_DIR: ", &kek_name);
    chmod(&kek, 0o400);
    let (mut server, _) = serve(&other, &other_url);
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn a_malformed_or_unreadable_key_encryption_key_stops_start_up() {
    for (var, value, prefix) in [
        (
            "KEY_ENCRYPTION_KEY",
            "too-short",
            "auth-server: KEY_ENCRYPTION_KEY: ",
        ),
        (
            "KEY_ENCRYPTION_KEY",
            "not base64url at all!",
            "auth-server: KEY_ENCRYPTION_KEY: ",
        ),
        (
            "KEY_ENCRYPTION_KEY_FILE",
            "/nonexistent/kek",
            "auth-server: KEY_ENCRYPTION_KEY_FILE: ",
        ),
    ] {
        let (code, stderr) = start_with(var, value);
        assert_one_line(&(code, stderr), prefix, "");
    }
    // A file that holds something else than a key.
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("kek.txt");
    write_private(&file, "hello\n");
    let outcome = start_with("KEY_ENCRYPTION_KEY_FILE", file.to_str().unwrap());
    assert_one_line(
        &outcome,
        "auth-server: KEY_ENCRYPTION_KEY_FILE: ",
        "kek.txt",
    );
}

#[tokio::test]
async fn a_missing_wrong_or_different_key_encryption_key_stops_start_up_and_changes_nothing() {
    use base64::Engine;
    let kek = |byte: u8| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([byte; 32]);
    let dir = TempDir::new().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    // The first instance runs with KEK 1 (KEYS_DIR holds no kek file).
    let mut first = command(&dir, &database_url);
    first.env("KEY_ENCRYPTION_KEY", kek(1));
    let (mut server, _address) = serve_with(first);
    let before = sealed_keys(&database_url).await;
    assert_eq!(before.len(), 1);

    // A second instance whose KEK differs, while the first runs.
    let outcome = run_to_exit(command(&dir, &database_url).env("KEY_ENCRYPTION_KEY", kek(2)));
    assert_one_line(&outcome, "auth-server: KEY_ENCRYPTION_KEY: ", "differs");
    // The same through a file.
    let file = dir.path().join("other-kek");
    write_private(&file, &format!("{}\n", kek(3)));
    let outcome = run_to_exit(command(&dir, &database_url).env("KEY_ENCRYPTION_KEY_FILE", &file));
    assert_one_line(&outcome, "auth-server: KEY_ENCRYPTION_KEY", "differs");

    // No KEK at all where keys exist: refused, and no new kek is made.
    let outcome = run_to_exit(&mut command(&dir, &database_url));
    assert_one_line(
        &outcome,
        "auth-server: KEY_ENCRYPTION_KEY: ",
        "database holds signing keys",
    );
    assert!(!dir.path().join("keys").join("kek").exists());
    // The CLI says the same.
    let outcome = run_to_exit(command(&dir, &database_url).args(["keys", "rotate"]));
    assert_one_line(
        &outcome,
        "auth-server: KEY_ENCRYPTION_KEY: ",
        "database holds signing keys",
    );
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(
        sealed_keys(&database_url).await,
        before,
        "no key overwritten"
    );

    // A corrupt ciphertext, with the right KEK.
    let (kid, sealed) = before[0].clone();
    let mut sealed = sealed.unwrap();
    let last = sealed.pop().unwrap();
    sealed.push(if last == 'A' { 'B' } else { 'A' });
    let db = auth_server::store::Db::connect(&database_url)
        .await
        .unwrap();
    sqlx::query("update signing_keys set sealed_private_key = $1 where kid = $2")
        .bind(&sealed)
        .bind(&kid)
        .execute(&db.pool)
        .await
        .unwrap();
    let outcome = run_to_exit(command(&dir, &database_url).env("KEY_ENCRYPTION_KEY", kek(1)));
    assert_one_line(
        &outcome,
        "auth-server: KEY_ENCRYPTION_KEY: ",
        "does not decrypt",
    );
    let after = sealed_keys(&database_url).await;
    assert_eq!(after, vec![(kid, Some(sealed))], "nothing replaced the key");
}

#[tokio::test]
async fn two_binaries_with_read_only_keys_dirs_and_one_kek_serve_the_same_jwks() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let kek = crate::keys::a_kek();
    let mut servers = Vec::new();
    for name in ["keys-a", "keys-b"] {
        let keys_dir = dir.path().join(name);
        std::fs::create_dir_all(&keys_dir).unwrap();
        std::fs::set_permissions(&keys_dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        let mut command = command(&dir, &database_url);
        command
            .env("KEYS_DIR", &keys_dir)
            .env("KEY_ENCRYPTION_KEY", &kek);
        servers.push(serve_with(command));
    }
    let mut sets = Vec::new();
    for (_, address) in &servers {
        let response = reqwest::get(format!("{address}/.well-known/jwks.json"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["keys"].as_array().unwrap().len(), 1);
        sets.push((etag, body));
    }
    assert_eq!(sets[0], sets[1]);
    for (mut server, _) in servers {
        server.kill().unwrap();
        server.wait().unwrap();
    }
    for name in ["keys-a", "keys-b"] {
        let keys_dir = dir.path().join(name);
        assert_eq!(std::fs::read_dir(&keys_dir).unwrap().count(), 0);
        std::fs::set_permissions(&keys_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}
