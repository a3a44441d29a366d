//! An unusable setting stops the example at start with one line that names
//! it and a non-zero exit. (Its routes are tested against a real issuer in
//! the workspace's end-to-end tests, `tests/tests/e2e/axum_example.rs`;
//! this test also makes `cargo test` build the binary they start.)
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn an_unusable_setting_is_named_in_one_line() {
    let cases = [
        ("ISSUER", "not a url"),
        ("ISSUER", "ftp://issuer.example"),
        ("JWKS_URL", "jwks"),
        ("LISTEN", "nowhere"),
        ("EXCHANGE_CLIENT_ID", "a-client-without-its-secret"),
        ("PUBLIC_URL", "not a url"),
    ];
    for (name, value) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_axum-service"))
            .env_clear()
            .env("LISTEN", "127.0.0.1:0")
            .env(name, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}={value}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{name}={value}: {stderr}");
        assert!(
            lines[0].starts_with(&format!("axum-service: {name}: ")),
            "{name}={value}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{name}={value}");
    }
}
