//! The real binary behind a trusted proxy: the request log's `client_ip`
//! is the address that the one header `CLIENT_ADDRESS_HEADER` names
//! (`X-Forwarded-For` by default, or `Forwarded`) says, and the other
//! header is never read.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_resource-server");

/// Starts the binary with `vars`, sends `GET /health` once per entry of
/// `requests` (with those headers), stops it and returns the `client_ip`
/// its request log gave each request.
async fn logged_client_ips(vars: &[(&str, &str)], requests: &[&[(&str, &str)]]) -> Vec<String> {
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
        // Nothing listens there: the JWKS fetch fails in the background.
        .env("ISSUER", "http://127.0.0.1:9")
        .env("ROCKET_PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,http=info")
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
    let address = line
        .trim()
        .split_once("listening on ")
        .map(|(_, a)| a.to_owned())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let http = reqwest::Client::new();
    for (i, headers) in requests.iter().enumerate() {
        let mut request = http
            .get(format!("{address}/health"))
            .header("X-Request-Id", format!("request-{i}"));
        for (name, value) in *headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // The log line is written before the response: it is all there.
    child.kill().unwrap();
    child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    (0..requests.len())
        .map(|i| {
            let id = format!("request-{i}");
            let entries: Vec<Value> = log
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|e| e["fields"]["request_id"] == id.as_str())
                .collect();
            assert_eq!(entries.len(), 1, "{id}: {log}");
            entries[0]["fields"]["client_ip"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: {log}"))
                .to_owned()
        })
        .collect()
}

const BOTH: &[(&str, &str)] = &[
    ("X-Forwarded-For", "198.51.100.1, 203.0.113.7"),
    ("Forwarded", "for=192.0.2.9"),
];

#[tokio::test]
async fn behind_a_trusted_proxy_x_forwarded_for_alone_names_the_client_by_default() {
    let seen = logged_client_ips(
        &[("TRUSTED_PROXIES", "127.0.0.1/32")],
        &[
            BOTH,
            &[("Forwarded", "for=192.0.2.9")],
            &[("X-Forwarded-For", "[2001:db8::7]:443")],
            &[("X-Real-IP", "192.0.2.10")],
        ],
    )
    .await;
    assert_eq!(
        seen,
        [
            "Some(203.0.113.7)",
            "Some(127.0.0.1)",
            "Some(2001:db8::7)",
            "Some(127.0.0.1)",
        ]
    );
    // The setting written out says the same.
    let explicit = logged_client_ips(
        &[
            ("TRUSTED_PROXIES", "127.0.0.1/32"),
            ("CLIENT_ADDRESS_HEADER", "X-Forwarded-For"),
        ],
        &[BOTH],
    )
    .await;
    assert_eq!(explicit, ["Some(203.0.113.7)"]);
}

#[tokio::test]
async fn with_client_address_header_forwarded_only_forwarded_names_the_client() {
    let seen = logged_client_ips(
        &[
            ("TRUSTED_PROXIES", "127.0.0.1/32"),
            ("CLIENT_ADDRESS_HEADER", "forwarded"),
        ],
        &[
            BOTH,
            &[("X-Forwarded-For", "203.0.113.7")],
            &[("Forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https")],
        ],
    )
    .await;
    assert_eq!(
        seen,
        [
            "Some(192.0.2.9)",
            "Some(127.0.0.1)",
            "Some(2001:db8:cafe::17)"
        ]
    );
}

#[tokio::test]
async fn without_trusted_proxies_no_header_is_read() {
    for header in ["x-forwarded-for", "forwarded"] {
        let seen = logged_client_ips(&[("CLIENT_ADDRESS_HEADER", header)], &[BOTH]).await;
        assert_eq!(seen, ["Some(127.0.0.1)"], "{header}");
    }
}
