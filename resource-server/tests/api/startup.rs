//! The real binary at start: one warning line for each of `ISSUER` and
//! `JWKS_URL` that is plain http to a host other than this machine (keys
//! fetched that way can be swapped in transit), none for https or loopback.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_resource-server");

/// Starts the binary with `vars`, waits for its "listening" line, stops it
/// and returns its log lines that mention ISSUER or JWKS_URL.
fn warnings_at_start(vars: &[(&str, &str)]) -> Vec<String> {
    let dir = TempDir::new().unwrap();
    let mut command = Command::new(BIN);
    command
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/resource.db", dir.path().display()),
        )
        .env("ROCKET_PORT", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening on"), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    log.lines()
        .filter(|l| l.contains("ISSUER=") || l.contains("JWKS_URL="))
        .map(str::to_owned)
        .collect()
}

#[test]
fn plain_http_keys_from_another_host_are_warned_about_once_each() {
    // TEST-NET addresses: nothing answers, the fetches fail in the
    // background, and the server starts anyway.
    let both = warnings_at_start(&[
        ("ISSUER", "http://192.0.2.10:8000"),
        ("JWKS_URL", "http://auth.example.com/.well-known/jwks.json"),
    ]);
    assert_eq!(both.len(), 2, "{both:#?}");
    assert!(both.iter().all(|l| l.contains("WARN")), "{both:#?}");
    assert!(both[0].contains("ISSUER=http://192.0.2.10:8000: plain http"));
    assert!(both[1].contains("JWKS_URL=http://auth.example.com/.well-known/jwks.json: plain http"));

    let issuer_only = warnings_at_start(&[("ISSUER", "http://192.0.2.10:8000")]);
    assert_eq!(issuer_only.len(), 1, "{issuer_only:#?}");

    let quiet = warnings_at_start(&[
        ("ISSUER", "https://192.0.2.10"),
        ("JWKS_URL", "http://localhost:9/jwks"),
    ]);
    assert!(quiet.is_empty(), "{quiet:#?}");
    assert!(warnings_at_start(&[]).is_empty(), "the default is loopback");
}
