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

/// A proof for the token endpoint of the cluster's issuer, with `nonce`.
fn token_proof(client: &Client, jti: &str, nonce: Option<&str>) -> String {
    let header = json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": client.jwk});
    let mut claims = json!({
        "htm": "POST",
        "htu": format!("{}/oauth/token", e2e::cluster::CLUSTER_ISSUER),
        "iat": now(),
        "jti": jti,
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    let input = signing_input(&header, &claims);
    let signature = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &client.key.encoding,
        jsonwebtoken::Algorithm::RS256,
    )
    .unwrap();
    format!("{input}.{signature}")
}

/// Client credentials at instance `i` with `proof`: status, `DPoP-Nonce`,
/// body.
async fn token_at(
    cluster: &e2e::cluster::Cluster,
    i: usize,
    service: &(String, String),
    proof: &str,
) -> (u16, Option<String>, Value) {
    let response = cluster
        .http
        .post(cluster.auth_url(i, "/oauth/token"))
        .basic_auth(&service.0, Some(&service.1))
        .header("DPoP", proof)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let nonce = response
        .headers()
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, nonce, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_from_one_issuer_instance_is_taken_by_another_and_a_proof_works_once_across_them() {
    let cluster = e2e::cluster::Cluster::start(2, e2e::cluster::ClusterSettings::default()).await;
    let service = cluster.create_service_client();
    let client = Client::new();

    // Without a nonce (DPOP_NONCE=on in the cluster): A hands one out.
    let (status, nonce, body) =
        token_at(&cluster, 0, &service, &token_proof(&client, "j-0", None)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("use_dpop_nonce")),
        "{body}"
    );
    let nonce = nonce.expect("a DPoP-Nonce header");

    // A's nonce is good at B.
    let proof = token_proof(&client, "j-1", Some(&nonce));
    let (status, fresh, body) = token_at(&cluster, 1, &service, &proof).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        client.jkt
    );
    assert!(fresh.is_some(), "a success carries a fresh nonce too");

    // The proof spent at B is refused at A.
    let (status, _, body) = token_at(&cluster, 0, &service, &proof).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );
    // A proof spent at A is refused at B.
    let proof = token_proof(&client, "j-2", Some(&nonce));
    let (status, _, body) = token_at(&cluster, 0, &service, &proof).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = token_at(&cluster, 1, &service, &proof).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );
}
