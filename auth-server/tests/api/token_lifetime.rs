//! `ACCESS_TOKEN_TTL` from 1 second (for testing clients' refresh handling),
//! with one warning line at start when it is under the verifiers' 60 s
//! leeway.

use std::io::Read;

use tempfile::TempDir;

use crate::cli::command;
use crate::helpers::{decode_parts, fresh_database_url, spawn_app_with};

#[tokio::test]
async fn a_one_second_access_token_says_so() {
    let app = spawn_app_with(|f| f.merge(("access_token_ttl", 1))).await;
    app.signup("short@example.com").await;
    let response = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "short@example.com"),
            ("password", crate::helpers::PASSWORD),
        ])
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 1);
    let (_, claims) = decode_parts(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1
    );
}

#[tokio::test]
async fn a_ttl_under_the_leeway_starts_with_one_warning_line() {
    let dir = TempDir::new().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let mut child = command(&dir, &database_url)
        .env("ACCESS_TOKEN_TTL", "5")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("listening on"), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("ACCESS_TOKEN_TTL"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("WARN"), "{stderr}");

    for refused in ["0", "86401"] {
        let output = command(&dir, &database_url)
            .env("ACCESS_TOKEN_TTL", refused)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("auth-server: ACCESS_TOKEN_TTL: "),
            "{stderr}"
        );
    }
}
