//! The issuer goes away and comes back with a new key: the resource-server
//! keeps serving from its cache, and trusts the new key after one refetch.
//! A key file someone drops into `KEYS_DIR` is never a key.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use e2e::{ForgingKey, StackOptions, claims_of, header_of, now, spawn_stack, spawn_stack_with};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_issuer_down_valid_tokens_pass_and_bad_ones_fail() {
    let mut stack = spawn_stack().await;
    let user = stack.new_user().await;
    assert_eq!(stack.get_profile_me(&user.token).await.status(), 200);
    let issuer_key = stack.issuer_key();
    let mut expired = claims_of(&user.token);
    expired["exp"] = json!(now() - 120);
    let expired = issuer_key.sign(&issuer_key.header(), &expired);
    let unknown = ForgingKey::generate();
    let unknown = unknown.sign(&unknown.header(), &claims_of(&user.token));

    stack.auth.stop();
    assert!(!stack.auth.service.is_running());

    for _ in 0..3 {
        assert_eq!(stack.get_profile_me(&user.token).await.status(), 200);
        assert_eq!(stack.get_profile_me(&expired).await.status(), 401);
        // An unknown kid makes the cache try the issuer, which is down:
        // still a 401, never a 5xx.
        assert_eq!(stack.get_profile_me(&unknown).await.status(), 401);
    }
    let ready = stack
        .http
        .get(stack.resource.url("/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "cached keys are within their lifetime");
}

/// `auth-server keys import FILE`, with the server's settings.
fn import_key(stack: &e2e::Stack, key: &ForgingKey) {
    let dir = tempfile::TempDir::new().unwrap();
    let file = key.write_to(dir.path(), Duration::ZERO);
    let output = stack
        .auth
        .command()
        .args(["keys", "import"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "keys import: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_signing_key_is_trusted_after_one_refetch() {
    // A new key is published 2 × JWKS_MAX_AGE before it signs: 2 s here.
    let stack = spawn_stack_with(StackOptions {
        auth_env: vec![("JWKS_MAX_AGE".into(), "1".into())],
        ..StackOptions::default()
    })
    .await;
    let user = stack.new_user().await;
    assert_eq!(stack.get_profile_me(&user.token).await.status(), 200);
    let old_kid = header_of(&user.token)["kid"].as_str().unwrap().to_owned();

    // The operator's own key, added on purpose: `next`, then signing.
    let new_key = ForgingKey::generate();
    import_key(&stack, &new_key);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let fresh = loop {
        let token = stack.login(&user.email).await;
        if header_of(&token)["kid"] == new_key.kid.as_str() {
            break token;
        }
        assert!(Instant::now() < deadline, "the imported key never signed");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_ne!(new_key.kid, old_kid);
    let response = stack.get_profile_me(&fresh).await;
    assert_eq!(response.status(), 200, "new kid accepted after a refetch");
    // The old key is still published while it retires, so its tokens pass.
    assert_eq!(stack.get_profile_me(&user.token).await.status(), 200);
}

async fn published_kids(stack: &e2e::Stack) -> Vec<String> {
    let jwks: Value = stack
        .http
        .get(stack.auth.service.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_dropped_into_keys_dir_never_signs_nor_passes() {
    let mut stack = spawn_stack().await;
    let user = stack.new_user().await;
    let kid = header_of(&user.token)["kid"].as_str().unwrap().to_owned();
    let output = stack
        .auth
        .command()
        .args(["clients", "create", "--name", "Gateway"])
        .args(["--grant", "client_credentials", "--scope", "profile:read"])
        .arg("--json")
        .output()
        .unwrap();
    assert!(output.status.success());
    let gateway: Value = serde_json::from_slice(&output.stdout).unwrap();

    // Planted beside the key the stack imported at its first start: one
    // anyone may read, and one private to the server's user and dated
    // 2020, as an old active key of an earlier version would be.
    let keys_dir = stack.auth.keys_dir.clone();
    let open = ForgingKey::generate();
    let open_file = open.write_to(&keys_dir, Duration::ZERO);
    std::fs::set_permissions(&open_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let old = ForgingKey::generate();
    let old_file = old.write_to(&keys_dir, Duration::ZERO);
    std::fs::File::options()
        .write(true)
        .open(&old_file)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1_577_836_800))
        .unwrap();

    // The running server polls its keys every second; then a restart.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(published_kids(&stack).await, std::slice::from_ref(&kid));
    stack.auth.restart();
    assert_eq!(published_kids(&stack).await, std::slice::from_ref(&kid));
    let fresh = stack.login(&user.email).await;
    assert_eq!(header_of(&fresh)["kid"], kid.as_str());
    assert_eq!(stack.get_profile_me(&fresh).await.status(), 200);

    for planted in [&open, &old] {
        let forged = planted.sign(&planted.header(), &claims_of(&fresh));
        let response = stack.get_profile_me(&forged).await;
        assert_eq!(response.status(), 401, "{}", planted.kid);
        let introspection: Value = stack
            .http
            .post(stack.auth.service.url("/oauth/introspect"))
            .basic_auth(
                gateway["client_id"].as_str().unwrap(),
                gateway["client_secret"].as_str(),
            )
            .form(&[("token", forged.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(introspection, json!({"active": false}), "{}", planted.kid);
    }
    // The restarted server's log names each planted file, once.
    if std::env::var_os("TEST_LOG").is_none() {
        let log = std::fs::read_to_string(stack.auth.dir.join("auth-server.stderr.log")).unwrap();
        for file in [&open_file, &old_file] {
            let name = file.display().to_string();
            let lines: Vec<&str> = log.lines().filter(|l| l.contains(&name)).collect();
            assert_eq!(lines.len(), 1, "{name}: {log}");
            assert!(
                lines[0].contains("WARN") && lines[0].contains("ignored"),
                "{log}"
            );
        }
    }
}

/// Sum of every `jwks_fetches_total` series on the resource-server.
async fn jwks_fetches(stack: &e2e::Stack) -> f64 {
    let text = stack
        .http
        .get(stack.resource.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with("jwks_fetches_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_costs_at_most_one_jwks_fetch() {
    let stack = spawn_stack().await;
    let user = stack.new_user().await;
    let before = jwks_fetches(&stack).await;
    assert!(before >= 1.0, "the start-up fetch is counted");
    let forger = ForgingKey::generate();
    let claims = claims_of(&user.token);
    let tokens: Vec<String> = (0..200)
        .map(|i| {
            let mut header = forger.header();
            header["kid"] = json!(format!("forged-{i}-{}", uuid::Uuid::new_v4()));
            forger.sign(&header, &claims)
        })
        .collect();
    let requests = tokens.iter().map(|token| stack.get_profile_me(token));
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.status(), 401);
    }
    let after = jwks_fetches(&stack).await;
    assert!(
        after - before <= 1.0,
        "{} JWKS fetches for 200 unknown kids",
        after - before
    );
    assert_eq!(stack.get_profile_me(&user.token).await.status(), 200);
}
