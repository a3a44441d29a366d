//! A real third-party client library against the real binaries: node's
//! `openid-client` v6 (tests/interop/fapi_client.mjs) registers nothing
//! itself; it authenticates with `private_key_jwt`, pushes its
//! authorization request, signs in and consents like a browser, redeems
//! the code with PKCE and a DPoP proof, and calls the resource-server's
//! `/profile/me` under the DPoP scheme. Skipped, saying so, only where node
//! is not installed; `npm ci --prefix tests/interop` must have run.

use std::path::Path;
use std::process::Command;

use e2e::{PASSWORD, binary, spawn_stack};
use serde_json::Value;

const REDIRECT_URI: &str = "https://interop.example/callback";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_does_private_key_jwt_par_dpop_and_pkce_then_calls_the_resource_server() {
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("skipped: node is not installed");
        return;
    }
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop");
    assert!(
        interop.join("node_modules/openid-client").exists(),
        "openid-client is not installed: run `npm ci --prefix tests/interop`"
    );
    let script = interop.join("fapi_client.mjs");
    let keys = tempfile::TempDir::new().unwrap();
    let keygen = Command::new("node")
        .arg(&script)
        .arg("keygen")
        .arg(keys.path())
        .output()
        .unwrap();
    assert!(
        keygen.status.success(),
        "{}",
        String::from_utf8_lossy(&keygen.stderr)
    );

    let stack = spawn_stack().await;
    let jwks_file = keys.path().join("jwks.json");
    let output = Command::new(binary("auth-server"))
        .args([
            "clients",
            "create",
            "--name",
            "openid-client",
            "--grant",
            "authorization_code",
            "--scope",
            "profile:read",
            "--redirect-uri",
            REDIRECT_URI,
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            jwks_file.to_str().unwrap(),
            "--require-par",
            "--dpop-bound",
            "--json",
        ])
        .current_dir(&stack.auth.dir)
        .env("DATABASE_URL", &stack.auth.database_url)
        .env("KEYS_DIR", &stack.auth.keys_dir)
        .env("ISSUER", stack.auth.issuer())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["dpop_bound"], true);
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let user = stack.new_user().await;

    let run = Command::new("node")
        .arg(&script)
        .arg("run")
        .arg(keys.path())
        .env("ISSUER", stack.auth.issuer())
        .env("CLIENT_ID", &client_id)
        .env("REDIRECT_URI", REDIRECT_URI)
        .env("USERNAME", &user.email)
        .env("PASSWORD", PASSWORD)
        .env("RESOURCE_URL", stack.resource.url("/"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "openid-client failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let result: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        result["token_type"]
            .as_str()
            .map(str::to_lowercase)
            .as_deref(),
        Some("dpop")
    );
    assert_eq!(result["scope"], "profile:read");
    assert_eq!(result["profile"]["id"], user.id, "{result}");
}
