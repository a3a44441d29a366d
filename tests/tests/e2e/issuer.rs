//! `ISSUER` is read the same way by both services: written with a trailing
//! `/` on both (as copied from a browser), the issuer's tokens are still
//! the ones the resource-server trusts, and discovery names the issuer
//! without the slash.

use e2e::{StackOptions, claims_of, spawn_stack_with};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_written_with_a_trailing_slash_works_end_to_end() {
    let stack = spawn_stack_with(StackOptions {
        issuer_trailing_slash: true,
        ..StackOptions::default()
    })
    .await;
    let issuer = stack.auth.issuer();
    assert!(!issuer.ends_with('/'));

    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let response = stack
            .http
            .get(stack.auth.service.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let metadata: Value = response.json().await.unwrap();
        assert_eq!(metadata["issuer"], issuer.as_str(), "{path}");
        assert_eq!(
            metadata["jwks_uri"],
            format!("{issuer}/.well-known/jwks.json"),
            "{path}"
        );
    }

    let user = stack.new_user().await;
    assert_eq!(claims_of(&user.token)["iss"], issuer.as_str());
    let response = stack.get_profile_me(&user.token).await;
    assert_eq!(response.status(), 200);
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["id"], user.id.as_str());
    assert_eq!(profile["email"], user.email.as_str());
    assert_eq!(profile["name"], user.name.as_str());
}
