//! The example axum service (examples/axum-service) trusts the real
//! issuer's tokens through `shared`'s tower layer: a real token gets its
//! caller back, a missing or forged one the resource-server's RFC 6750
//! challenge, a token without the route's scope `403 insufficient_scope`.

use std::process::Command;

use e2e::{ForgingKey, Service, Stack, binary, claims_of, passthrough_env, spawn_stack};
use serde_json::Value;

pub(crate) fn start_example(stack: &Stack, dir: &std::path::Path) -> Service {
    let mut command = Command::new(binary("axum-service"));
    command
        .current_dir(dir)
        .env_clear()
        .envs(passthrough_env())
        .env("ISSUER", stack.auth.issuer())
        .env("AUDIENCE", e2e::AUDIENCE)
        .env("LISTEN", "127.0.0.1:0");
    Service::spawn("axum-service", command, dir).unwrap()
}

/// Status, `WWW-Authenticate` and body of `GET path` with `token`.
async fn get(
    stack: &Stack,
    example: &Service,
    path: &str,
    token: Option<&str>,
) -> (u16, String, String, Value) {
    let mut request = stack.http.get(example.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let challenge = header("www-authenticate");
    let content_type = header("content-type");
    let body = response.json().await.unwrap_or(Value::Null);
    (status, challenge, content_type, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_example_trusts_the_issuers_tokens_through_the_layer() {
    let stack = spawn_stack().await;
    let dir = tempfile::TempDir::new().unwrap();
    let example = start_example(&stack, dir.path());
    let user = stack.new_user().await;
    let claims = claims_of(&user.token);

    let (status, challenge, _, body) = get(&stack, &example, "/whoami", Some(&user.token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(challenge, "");
    assert_eq!(body["sub"], user.id.as_str());
    assert_eq!(body["scope"], claims["scope"]);
    assert_eq!(body["client_id"], claims["client_id"]);

    let (status, challenge, content_type, body) = get(&stack, &example, "/whoami", None).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge,
        r#"Bearer realm="profile-api", DPoP algs="ES256 PS256 RS256 EdDSA""#
    );
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["status"], 401);

    // The user's own claims under another key, and under the issuer's key
    // with one claim changed: both invalid_token, neither echoed.
    let attacker = ForgingKey::generate();
    let forged = attacker.sign(&attacker.header(), &claims);
    let mut other_audience = claims.clone();
    other_audience["aud"] = "another-api".into();
    let issuer_key = stack.issuer_key();
    let misdirected = issuer_key.sign(&issuer_key.header(), &other_audience);
    for token in [&forged, &misdirected] {
        let (status, challenge, content_type, body) =
            get(&stack, &example, "/whoami", Some(token)).await;
        assert_eq!(status, 401, "{body}");
        assert!(
            challenge.starts_with(r#"Bearer realm="profile-api", error="invalid_token""#),
            "{challenge}"
        );
        assert_eq!(content_type, "application/problem+json");
        assert!(!challenge.contains(token.as_str()) && !body.to_string().contains(token.as_str()));
    }

    let (status, challenge, _, body) = get(&stack, &example, "/reports", Some(&user.token)).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.ends_with(r#"scope="profiles:read""#),
        "{challenge}"
    );
    assert_eq!(body["status"], 403);
    let admin = stack.new_admin().await;
    let (status, _, _, body) = get(&stack, &example, "/reports", Some(&admin.token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["requested_by"], admin.id.as_str());
    // Without a token only for the routes outside the layer.
    let (status, _, _, _) = get(&stack, &example, "/reports", None).await;
    assert_eq!(status, 401);
    let (status, _, _, body) = get(&stack, &example, "/health", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
}
