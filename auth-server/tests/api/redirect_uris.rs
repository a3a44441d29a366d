//! `auth-server clients create --redirect-uri` applies the contract's rule:
//! https; http only on a loopback host; private-use schemes; never
//! `javascript:`, `data:`, `file:` nor a fragment. A refused URI gets one
//! line and a non-zero exit, and registers nothing.

use std::process::Output;

use tempfile::TempDir;

use crate::cli::command;
use crate::helpers::fresh_database_url;

fn create(dir: &TempDir, database_url: &str, uri: &str) -> Output {
    command(dir, database_url)
        .args([
            "clients",
            "create",
            "--name",
            "app",
            "--public",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            uri,
            "--json",
        ])
        .output()
        .unwrap()
}

fn registered(dir: &TempDir, database_url: &str) -> Vec<serde_json::Value> {
    let output = command(dir, database_url)
        .args(["clients", "list", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "app")
        .cloned()
        .collect()
}

#[tokio::test]
async fn refused_redirect_uris_get_one_line_and_register_nothing() {
    let dir = TempDir::new().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    for bad in [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "https://app.example/cb#fragment",
        "http://app.example/cb",
        "http://localhost.evil.example/cb",
        "myapp:/cb",
        "/cb",
        "https://app.example/cb\nSecond: line",
    ] {
        let output = create(&dir, &database_url, bad);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{bad}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{bad}: one line, got {stderr:?}");
        assert!(
            stderr.starts_with("auth-server: --redirect-uri "),
            "{bad}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{bad}");
    }
    assert!(registered(&dir, &database_url).is_empty());

    for good in [
        "https://app.example/cb",
        "http://127.0.0.1:8080/cb",
        "http://[::1]/cb",
        "http://localhost:3000/cb",
        "com.example.app:/oauth2redirect",
    ] {
        let output = create(&dir, &database_url, good);
        assert!(
            output.status.success(),
            "{good}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(created["redirect_uris"][0], good);
    }
    assert_eq!(registered(&dir, &database_url).len(), 5);
}

#[tokio::test]
async fn post_logout_redirect_uris_and_audiences_are_checked_and_stored() {
    let dir = TempDir::new().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let create_with = |extra: &[&str]| {
        let mut args = vec![
            "clients",
            "create",
            "--name",
            "app",
            "--public",
            "--scope",
            "openid email profile",
            "--redirect-uri",
            "https://app.example/cb",
            "--json",
        ];
        args.extend_from_slice(extra);
        command(&dir, &database_url).args(args).output().unwrap()
    };
    for (flag, bad) in [
        ("--post-logout-redirect-uri", "javascript:alert(1)"),
        ("--post-logout-redirect-uri", "https://app.example/bye#x"),
        ("--post-logout-redirect-uri", "http://app.example/bye"),
        ("--audience", "https://billing.example/#x"),
        ("--audience", "two words"),
    ] {
        let output = create_with(&[flag, bad]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{bad}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{bad}: {stderr:?}");
        assert!(
            stderr.starts_with(&format!("auth-server: {flag} ")),
            "{stderr}"
        );
    }
    assert!(registered(&dir, &database_url).is_empty());

    let output = create_with(&[
        "--post-logout-redirect-uri",
        "https://app.example/bye",
        "--audience",
        "https://billing.example",
        "--audience",
        "orders-api",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        created["post_logout_redirect_uris"],
        serde_json::json!(["https://app.example/bye"])
    );
    assert_eq!(
        created["audiences"],
        serde_json::json!(["https://billing.example", "orders-api"])
    );
    assert_eq!(created["scope"], "email openid profile");
    let listed = registered(&dir, &database_url);
    assert_eq!(listed[0]["audiences"], created["audiences"]);
    assert_eq!(
        listed[0]["post_logout_redirect_uris"],
        created["post_logout_redirect_uris"]
    );
}
