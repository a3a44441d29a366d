//! A user signs up at the issuer, logs in, and uses the token at the
//! resource-server; an admin made on the command line reads others.

use e2e::{claims_of, spawn_stack};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_reads_and_changes_their_profile_with_the_issuers_token() {
    let stack = spawn_stack().await;
    let user = stack.new_user().await;
    assert_eq!(claims_of(&user.token)["sub"], user.id.as_str());

    let response = stack.get_profile_me(&user.token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["id"], user.id.as_str());
    assert_eq!(profile["email"], user.email.as_str());
    assert_eq!(profile["name"], user.name.as_str());
    assert_eq!(profile["bio"], "");
    let created = profile["created_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "{created}"
    );

    let response = stack
        .patch_profile_me(
            &user.token,
            &json!({"name": "Ada King", "bio": "Notes on the engine."}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["name"], "Ada King");

    let again: Value = stack
        .get_profile_me(&user.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["name"], "Ada King");
    assert_eq!(again["bio"], "Notes on the engine.");
    assert_eq!(again["email"], user.email.as_str());

    let invalid = stack
        .patch_profile_me(&user.token, &json!({"name": ""}))
        .await;
    assert_eq!(invalid.status(), 422);
    assert_eq!(
        invalid
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_read_only_their_own_profile_and_admins_read_any() {
    let stack = spawn_stack().await;
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    // Alice's profile comes into being on her first request.
    assert_eq!(stack.get_profile_me(&alice.token).await.status(), 200);

    for path in [
        format!("/profile/{}", alice.id),
        format!("/profiles/{}", alice.id),
    ] {
        let response = stack.get_with_token(&path, &bob.token).await;
        assert_eq!(response.status(), 403, "{path}");
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{challenge}"
        );
        assert!(
            challenge.contains(r#"scope="profiles:read""#),
            "{challenge}"
        );
    }

    let admin = stack.new_admin().await;
    assert!(
        claims_of(&admin.token)["scope"]
            .as_str()
            .unwrap()
            .contains("profiles:read")
    );
    for path in [
        format!("/profile/{}", alice.id),
        format!("/profiles/{}", alice.id),
    ] {
        let response = stack.get_with_token(&path, &admin.token).await;
        assert_eq!(response.status(), 200, "{path}");
        let profile: Value = response.json().await.unwrap();
        assert_eq!(profile["id"], alice.id.as_str());
        assert_eq!(profile["email"], alice.email.as_str());
    }
    let missing = stack
        .get_with_token("/profiles/no-such-user", &admin.token)
        .await;
    assert_eq!(missing.status(), 404);
}
