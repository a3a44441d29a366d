//! DPoP (RFC 9449 §7) at the resource-server: a token bound to a key
//! (`cnf.jkt`) is accepted under `Authorization: DPoP` with a proof of that
//! key for this very request, once per proof; refused as `Bearer`; and
//! each way a proof can be wrong gets `invalid_dpop_proof` and its
//! challenge.

use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use rocket::http::{Header, Status};
use serde_json::{Value, json};
use shared::jwk::JwkSet;
use shared::jwks_cache::JwksCache;
use tempfile::TempDir;

use crate::helpers::{
    KEY, NOW, PROBLEM_JSON, TestApp, fresh_database_url, new_sub, parts, spawn_app,
    spawn_app_with_settings, user_claims,
};

/// `PUBLIC_URL`'s default under the tests' settings.
const PUBLIC: &str = "http://127.0.0.1:8001";
const BAD_PROOF: &str = r#"DPoP error="invalid_dpop_proof", algs="ES256 PS256 RS256 EdDSA""#;
const BOUND_AS_BEARER: &str = r#"Bearer realm="profile-api", error="invalid_token", error_description="The access token is invalid.", DPoP algs="ES256 PS256 RS256 EdDSA""#;

/// A client's ES256 DPoP key.
struct ProofKey {
    encoding: EncodingKey,
    jwk: Value,
    /// Its RFC 7638 thumbprint, computed here rather than by the code under
    /// test.
    jkt: String,
}

impl ProofKey {
    fn generate() -> ProofKey {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        ProofKey {
            encoding: EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref()),
            jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
            jkt: URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes())),
        }
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, Algorithm::ES256).unwrap();
        format!("{input}.{signature}")
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk})
    }

    /// A proof for `htm` `htu` with `token`, fresh `jti`, at `NOW`.
    fn proof(&self, htm: &str, htu: &str, token: &str) -> String {
        self.sign(&self.header(), &proof_claims(htm, htu, token))
    }
}

fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, token.as_bytes()))
}

fn proof_claims(htm: &str, htu: &str, token: &str) -> Value {
    json!({
        "htm": htm,
        "htu": htu,
        "iat": NOW,
        "jti": uuid::Uuid::new_v4().to_string(),
        "ath": ath(token),
    })
}

/// A token for `sub` bound to `key`.
fn bound_token(sub: &str, key: &ProofKey) -> String {
    let mut claims = user_claims(sub, "profile:read");
    claims["cnf"] = json!({"jkt": key.jkt});
    KEY.sign(&claims)
}

async fn get_me(
    app: &TestApp,
    authorization: &str,
    proofs: &[&str],
) -> (Status, Option<String>, Option<String>, Value) {
    let mut request = app
        .client
        .get("/profile/me")
        .header(Header::new("Authorization", authorization.to_owned()));
    for proof in proofs {
        request = request.header(Header::new("DPoP", (*proof).to_owned()));
    }
    parts(request.dispatch().await).await
}

#[rocket::async_test]
async fn a_bound_token_with_a_proof_of_its_key_reads_the_profile() {
    let app = spawn_app().await;
    let key = ProofKey::generate();
    let sub = new_sub();
    let token = bound_token(&sub, &key);
    let url = format!("{PUBLIC}/profile/me");
    let (status, challenge, _, body) = get_me(
        &app,
        &format!("DPoP {token}"),
        &[&key.proof("GET", &url, &token)],
    )
    .await;
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(challenge, None);
    assert_eq!(body["id"], sub.as_str());
    assert_eq!(body["email"], format!("{sub}@example.com"));
    // The scheme name is case-insensitive; the query is not part of htu.
    let (status, _, _, body) = get_me(
        &app,
        &format!("dpop {token}"),
        &[&key.proof("GET", &format!("{url}?x=1"), &token)],
    )
    .await;
    assert_eq!(status, Status::Ok, "{body}");
}

#[rocket::async_test]
async fn a_bound_token_as_bearer_is_invalid_token_even_with_its_proof() {
    let app = spawn_app().await;
    let key = ProofKey::generate();
    let token = bound_token(&new_sub(), &key);
    let proof = key.proof("GET", &format!("{PUBLIC}/profile/me"), &token);
    for proofs in [vec![], vec![proof.as_str()]] {
        let (status, challenge, content_type, body) =
            get_me(&app, &format!("Bearer {token}"), &proofs).await;
        assert_eq!(status, Status::Unauthorized);
        assert_eq!(challenge.as_deref(), Some(BOUND_AS_BEARER));
        assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
        assert_eq!(body["status"], 401);
        assert!(!body.to_string().contains(&token));
    }
    // And the proof, which was never accepted, still works once.
    let (status, _, _, body) = get_me(&app, &format!("DPoP {token}"), &[&proof]).await;
    assert_eq!(status, Status::Ok, "{body}");
}

#[rocket::async_test]
async fn an_unbound_token_under_the_dpop_scheme_is_invalid_token() {
    let app = spawn_app().await;
    let key = ProofKey::generate();
    let token = KEY.sign(&user_claims(&new_sub(), "profile:read"));
    let proof = key.proof("GET", &format!("{PUBLIC}/profile/me"), &token);
    let (status, challenge, _, _) = get_me(&app, &format!("DPoP {token}"), &[&proof]).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(challenge.as_deref(), Some(BOUND_AS_BEARER));
}

#[rocket::async_test]
async fn each_wrong_proof_is_invalid_dpop_proof() {
    let app = spawn_app().await;
    let key = ProofKey::generate();
    let other = ProofKey::generate();
    let sub = new_sub();
    let token = bound_token(&sub, &key);
    let url = format!("{PUBLIC}/profile/me");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = proof_claims("GET", &url, &token);
        change(&mut claims);
        key.sign(&key.header(), &claims)
    };
    let mut none_header = key.header();
    none_header["alg"] = json!("none");
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("no proof", vec![]),
        (
            "two proofs",
            vec![
                key.proof("GET", &url, &token),
                key.proof("GET", &url, &token),
            ],
        ),
        ("not a JWT", vec!["not-a-proof".to_owned()]),
        ("wrong htm", vec![key.proof("POST", &url, &token)]),
        (
            "wrong host",
            vec![key.proof("GET", "http://127.0.0.1:9999/profile/me", &token)],
        ),
        (
            "wrong path",
            vec![key.proof("GET", &format!("{PUBLIC}/profile/other"), &token)],
        ),
        (
            "ath of another token",
            vec![key.proof("GET", &url, "another.token.entirely")],
        ),
        (
            "no ath",
            vec![with(&|c| _ = c.as_object_mut().unwrap().remove("ath"))],
        ),
        ("stale iat", vec![with(&|c| c["iat"] = json!(NOW - 120))]),
        ("future iat", vec![with(&|c| c["iat"] = json!(NOW + 120))]),
        (
            "no jti",
            vec![with(&|c| _ = c.as_object_mut().unwrap().remove("jti"))],
        ),
        (
            "signed by another key than its jwk",
            vec![other.sign(&key.header(), &proof_claims("GET", &url, &token))],
        ),
        (
            "a key other than the token's",
            vec![other.proof("GET", &url, &token)],
        ),
        (
            "alg none",
            vec![key.sign(&none_header, &proof_claims("GET", &url, &token))],
        ),
    ];
    for (case, proofs) in &cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let (status, challenge, content_type, body) =
            get_me(&app, &format!("DPoP {token}"), &proofs).await;
        assert_eq!(status, Status::Unauthorized, "{case}");
        assert_eq!(challenge.as_deref(), Some(BAD_PROOF), "{case}");
        assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON), "{case}");
        assert_eq!(body["status"], 401, "{case}");
        assert_eq!(body["detail"], "The DPoP proof is invalid.", "{case}");
    }
    // None of them spent anything: a good proof still gets through.
    let (status, _, _, body) = get_me(
        &app,
        &format!("DPoP {token}"),
        &[&key.proof("GET", &url, &token)],
    )
    .await;
    assert_eq!(status, Status::Ok, "{body}");
}

#[rocket::async_test]
async fn a_replayed_proof_is_refused() {
    let app = spawn_app().await;
    let key = ProofKey::generate();
    let token = bound_token(&new_sub(), &key);
    let proof = key.proof("GET", &format!("{PUBLIC}/profile/me"), &token);
    let (status, _, _, body) = get_me(&app, &format!("DPoP {token}"), &[&proof]).await;
    assert_eq!(status, Status::Ok, "{body}");
    let (status, challenge, _, body) = get_me(&app, &format!("DPoP {token}"), &[&proof]).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(challenge.as_deref(), Some(BAD_PROOF));
    assert_eq!(body["status"], 401);
}

#[rocket::async_test]
async fn of_concurrent_requests_with_one_proof_exactly_one_gets_through() {
    let app = Arc::new(spawn_app().await);
    let key = ProofKey::generate();
    let token = bound_token(&new_sub(), &key);
    for trial in 0..20 {
        let proof = key.proof("GET", &format!("{PUBLIC}/profile/me"), &token);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let app = Arc::clone(&app);
                let authorization = format!("DPoP {token}");
                let proof = proof.clone();
                rocket::tokio::spawn(async move {
                    let (status, challenge, _, _) = get_me(&app, &authorization, &[&proof]).await;
                    (status, challenge)
                })
            })
            .collect();
        let mut ok = 0;
        for task in tasks {
            let (status, challenge) = task.await.unwrap();
            if status == Status::Ok {
                ok += 1;
            } else {
                assert_eq!(status, Status::Unauthorized, "trial {trial}");
                assert_eq!(challenge.as_deref(), Some(BAD_PROOF), "trial {trial}");
            }
        }
        assert_eq!(ok, 1, "trial {trial}");
    }
}

#[rocket::async_test]
async fn htu_is_checked_against_public_url() {
    let keys = JwksCache::fixed(&JwkSet {
        keys: vec![KEY.jwk.clone()],
    })
    .unwrap();
    let dir = TempDir::new().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let app = spawn_app_with_settings(
        keys,
        dir,
        database_url,
        &[("public_url", "https://api.example.com/rs/")],
    )
    .await;
    let key = ProofKey::generate();
    let token = bound_token(&new_sub(), &key);
    // Normalised: host case and the default port do not matter.
    let proof = key.proof("GET", "https://API.example.com:443/rs/profile/me", &token);
    let (status, _, _, body) = get_me(&app, &format!("DPoP {token}"), &[&proof]).await;
    assert_eq!(status, Status::Ok, "{body}");
    for htu in [
        format!("{PUBLIC}/profile/me"),
        "https://api.example.com/profile/me".to_owned(),
        "http://api.example.com/rs/profile/me".to_owned(),
    ] {
        let proof = key.proof("GET", &htu, &token);
        let (status, challenge, _, _) = get_me(&app, &format!("DPoP {token}"), &[&proof]).await;
        assert_eq!(status, Status::Unauthorized, "{htu}");
        assert_eq!(challenge.as_deref(), Some(BAD_PROOF), "{htu}");
    }
}
