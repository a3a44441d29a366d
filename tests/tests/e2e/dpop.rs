//! DPoP against the real resource-server and the example axum service,
//! over loopback HTTP: a token the issuer's key signs with `cnf.jkt` is
//! accepted under `Authorization: DPoP` with a fresh RS256 proof of that
//! key, refused as `Bearer`, and of 8 concurrent requests carrying one
//! proof exactly one gets through.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2e::{ForgingKey, Stack, claims_of, now, signing_input, spawn_stack};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const BAD_PROOF: &str = r#"DPoP error="invalid_dpop_proof", algs="ES256 PS256 RS256 EdDSA""#;
const BOUND_AS_BEARER: &str = r#"Bearer realm="profile-api", error="invalid_token", error_description="The access token is invalid.", DPoP algs="ES256 PS256 RS256 EdDSA""#;

/// The client's key, its public JWK and RFC 7638 thumbprint.
struct Client {
    key: ForgingKey,
    jwk: Value,
    jkt: String,
}

impl Client {
    fn new() -> Client {
        let key = ForgingKey::generate();
        let canonical = format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, key.e, key.n);
        Client {
            jwk: json!({"kty": "RSA", "n": key.n, "e": key.e}),
            jkt: URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())),
            key,
        }
    }

    fn proof(&self, htm: &str, htu: &str, token: &str) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": self.jwk});
        let claims = json!({
            "htm": htm,
            "htu": htu,
            "iat": now(),
            "jti": uuid::Uuid::new_v4().to_string(),
            "ath": URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())),
        });
        // ForgingKey signs RS256 over any header and claims.
        let input = signing_input(&header, &claims);
        let signature = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &self.key.encoding,
            jsonwebtoken::Algorithm::RS256,
        )
        .unwrap();
        format!("{input}.{signature}")
    }
}

/// A real user's token, bound to `client`'s key by the issuer's own key.
async fn bound_token(stack: &Stack, client: &Client) -> (String, String) {
    let user = stack.new_user().await;
    let mut claims = claims_of(&user.token);
    claims["cnf"] = json!({"jkt": client.jkt});
    let issuer_key = stack.issuer_key();
    (user.id, issuer_key.sign(&issuer_key.header(), &claims))
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    authorization: &str,
    proof: Option<&str>,
) -> (u16, String, Value) {
    let mut request = http.get(url).header("Authorization", authorization);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_server_takes_a_bound_token_once_per_proof() {
    let stack = spawn_stack().await;
    let client = Client::new();
    let (id, token) = bound_token(&stack, &client).await;
    let url = stack.resource.url("/profile/me");
    let dpop = format!("DPoP {token}");

    let proof = client.proof("GET", &url, &token);
    let (status, challenge, body) = get(&stack.http, &url, &dpop, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(challenge, "");
    assert_eq!(body["id"], id.as_str());

    let (status, challenge, body) = get(&stack.http, &url, &dpop, Some(&proof)).await;
    assert_eq!(status, 401, "replayed: {body}");
    assert_eq!(challenge, BAD_PROOF);
    assert_eq!(body["status"], 401);

    let fresh = client.proof("GET", &url, &token);
    let (status, challenge, _) =
        get(&stack.http, &url, &format!("Bearer {token}"), Some(&fresh)).await;
    assert_eq!(status, 401, "bound token as Bearer");
    assert_eq!(challenge, BOUND_AS_BEARER);

    let (status, challenge, _) = get(
        &stack.http,
        &url,
        &dpop,
        Some(&client.proof("PATCH", &url, &token)),
    )
    .await;
    assert_eq!(status, 401, "wrong htm");
    assert_eq!(challenge, BAD_PROOF);

    for trial in 0..20 {
        let proof = client.proof("GET", &url, &token);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (http, url, dpop, proof) =
                    (stack.http.clone(), url.clone(), dpop.clone(), proof.clone());
                tokio::spawn(async move { get(&http, &url, &dpop, Some(&proof)).await })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            let (status, challenge, body) = task.await.unwrap();
            if status == 200 {
                winners += 1;
            } else {
                assert_eq!(status, 401, "trial {trial}: {body}");
                assert_eq!(challenge, BAD_PROOF, "trial {trial}");
            }
        }
        assert_eq!(winners, 1, "trial {trial}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_example_takes_a_bound_token_through_the_layer() {
    let stack = spawn_stack().await;
    let dir = tempfile::TempDir::new().unwrap();
    let example = crate::axum_example::start_example(&stack, dir.path());
    let client = Client::new();
    let (id, token) = bound_token(&stack, &client).await;
    let url = example.url("/whoami");
    let dpop = format!("DPoP {token}");
    let proof = client.proof("GET", &url, &token);
    let (status, _, body) = get(&stack.http, &url, &dpop, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], id.as_str());
    let (status, challenge, _) = get(&stack.http, &url, &dpop, Some(&proof)).await;
    assert_eq!(status, 401, "replayed");
    assert_eq!(challenge, BAD_PROOF);
    let (status, challenge, _) = get(&stack.http, &url, &format!("Bearer {token}"), None).await;
    assert_eq!(status, 401);
    assert_eq!(challenge, BOUND_AS_BEARER);
}
