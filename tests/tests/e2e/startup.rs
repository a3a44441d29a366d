//! An unusable setting stops the resource-server at start with one line
//! that names it and a non-zero exit, never a panic.

use std::process::Command;

use e2e::binary;

#[test]
fn an_unusable_setting_is_named_in_one_line() {
    let dir = tempfile::TempDir::new().unwrap();
    let database = format!("sqlite://{}/r.db", dir.path().display());
    let cases = [
        ("ISSUER", "not a url"),
        ("JWKS_URL", "ftp://example.com/jwks"),
        ("DATABASE_URL", "mysql://localhost/x"),
        ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/x"),
        ("ROCKET_PORT", "not-a-port"),
        ("CLIENT_ADDRESS_HEADER", "x-real-ip"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"),
    ];
    for (name, value) in cases {
        let output = Command::new(binary("resource-server"))
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ROCKET_PORT", "0")
            .env("DATABASE_URL", &database)
            .env(name, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}={value}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{name}={value}: {stderr}");
        assert!(lines[0].contains(name), "{name}={value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}={value}: {stderr}");
        assert!(output.stdout.is_empty(), "{name}={value}");
    }
}
