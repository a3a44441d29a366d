use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::helpers::{decode_parts, launch, spawn_app, test_figment, verify_with_jwks};

#[tokio::test]
async fn a_fresh_key_is_generated_with_mode_0600_and_published_without_private_members() {
    let app = spawn_app().await;
    let files: Vec<_> = std::fs::read_dir(&app.keys_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pem"))
        .collect();
    assert_eq!(files.len(), 1);
    let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let pem = std::fs::read_to_string(&files[0]).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));

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
    // The file is named after the RFC 7638 thumbprint.
    let kid = keys[0]["kid"].as_str().unwrap();
    assert_eq!(files[0].file_stem().unwrap().to_str().unwrap(), kid);
    assert_eq!(
        kid,
        shared::jwk::rsa_thumbprint(
            keys[0]["n"].as_str().unwrap(),
            keys[0]["e"].as_str().unwrap()
        )
    );
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
    assert!(
        cache_control.starts_with("public, max-age=300"),
        "{cache_control}"
    );
    assert!(cache_control.contains("stale-while-revalidate="));
    assert!(cache_control.contains("stale-if-error="));
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

#[tokio::test]
async fn a_second_start_with_the_same_keys_dir_reuses_the_key() {
    let first = spawn_app().await;
    first.signup("ada@example.com").await;
    let token = first.password_token("ada@example.com").await;
    let kid = decode_parts(&token).0["kid"].clone();

    // Same database and key folder, a new process-equivalent.
    let (address, shutdown, ..) = launch(test_figment(&first.database_url, &first.keys_dir)).await;
    let jwks: Value = reqwest::get(format!("{address}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], kid);
    verify_with_jwks(&token, &jwks).unwrap();
    shutdown.notify();
}

#[tokio::test]
async fn a_corrupt_pem_stops_start_up_with_a_clear_message() {
    let dir = tempfile::TempDir::new().unwrap();
    let keys_dir = dir.path().join("keys");
    std::fs::create_dir_all(&keys_dir).unwrap();
    std::fs::write(
        keys_dir.join("broken.pem"),
        "-----BEGIN PRIVATE KEY-----\nnope\n",
    )
    .unwrap();
    let database_url = format!("sqlite://{}/auth.db", dir.path().display());
    let error = auth_server::build(test_figment(&database_url, &keys_dir))
        .await
        .expect_err("start-up must fail");
    let message = error.to_string();
    assert!(message.starts_with("KEYS_DIR: "), "{message}");
    assert!(message.contains("broken.pem"), "{message}");
    assert!(!message.contains('\n'));
}
