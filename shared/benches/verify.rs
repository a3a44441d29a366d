//! The verifier's hot path: one RS256 access token checked in full against
//! a key parsed once into the cache, as the first request with a token does;
//! the same token answered from the verified-token cache, as every later
//! request does (target: under 2 µs); and the cheap refusals that must stay
//! cheap under a flood.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_lc_rs::encoding::AsDer;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::AlgorithmParameters;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use shared::jwk::{Jwk, JwkSet, rsa_thumbprint};
use shared::jwks_cache::JwksCache;
use shared::verifier::{TokenCacheConfig, Verifier, VerifierConfig};

const ISSUER: &str = "http://127.0.0.1:8000";
const NOW: i64 = 1_750_000_000;

fn key() -> (EncodingKey, Jwk) {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pair.as_der().unwrap().as_ref())
    );
    let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let public = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::RS256).unwrap();
    let AlgorithmParameters::RSA(rsa) = public.algorithm else {
        panic!("not RSA")
    };
    let jwk = Jwk {
        kty: "RSA".into(),
        use_: Some("sig".into()),
        alg: Some("RS256".into()),
        kid: Some(rsa_thumbprint(&rsa.n, &rsa.e)),
        n: rsa.n,
        e: rsa.e,
    };
    (encoding, jwk)
}

fn sign(encoding: &EncodingKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), encoding, Algorithm::RS256).unwrap();
    format!("{input}.{signature}")
}

fn verify(c: &mut Criterion) {
    let (encoding, jwk) = key();
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": jwk.kid});
    let claims = json!({
        "iss": ISSUER, "sub": "6f1c2f0e-8d7a-4d0b-9a57-1b0f0f7f2a11", "aud": "profile-api",
        "exp": NOW + 900, "iat": NOW, "nbf": NOW, "jti": "b6c0c1f8-8f3f-4d8e-a0c9-6c1b6f1d2e33",
        "client_id": "first-party", "scope": "profile:read profile:write",
        "email": "ada@example.com", "name": "Ada Lovelace"
    });
    let token = sign(&encoding, &header, &claims);
    // Parsed once here; the loop below never parses a key.
    let cache = JwksCache::fixed(&JwkSet { keys: vec![jwk] }).unwrap();
    let mut full = VerifierConfig::new(ISSUER, "profile-api");
    full.cache = TokenCacheConfig::DISABLED;
    let verifier = Verifier::new(full, cache.clone());
    let cached = Verifier::new(VerifierConfig::new(ISSUER, "profile-api"), cache);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(runtime.block_on(verifier.verify(&token, NOW)).is_ok());
    assert!(runtime.block_on(cached.verify(&token, NOW)).is_ok());
    assert_eq!(cached.token_cache_usage().unwrap().entries, 1);

    c.bench_function("verify_access_token", |b| {
        b.iter(|| runtime.block_on(verifier.verify(&token, NOW)).unwrap())
    });
    // Hashing the token, the lookup, the kid and claim checks and the copy
    // of the claims the caller gets: what a request pays after its first.
    c.bench_function("verify_access_token_cache_hit", |b| {
        b.iter(|| runtime.block_on(cached.verify(&token, NOW)).unwrap())
    });

    let mut none = header.clone();
    none["alg"] = json!("none");
    let alg_none = format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(none.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    c.bench_function("refuse_alg_none", |b| {
        b.iter(|| {
            runtime
                .block_on(verifier.verify(&alg_none, NOW))
                .unwrap_err()
        })
    });
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("another-api");
    let wrong_aud = sign(&encoding, &header, &wrong_aud);
    c.bench_function("refuse_wrong_audience", |b| {
        b.iter(|| {
            runtime
                .block_on(verifier.verify(&wrong_aud, NOW))
                .unwrap_err()
        })
    });
}

/// A DPoP proof (RFC 9449) as a resource server checks one on every
/// request: a fresh ES256 proof with its key in the header, for a request's
/// method, URL and token. The P-256 verification is the floor; the rest is
/// parsing the proof and its key, the thumbprint and the `ath` hash.
fn dpop_proof(c: &mut Criterion) {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    use sha2::{Digest, Sha256};
    use shared::dpop::{ProofRequest, check_proof};

    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let encoding = EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref());
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    let url = "http://127.0.0.1:8001/profile/me";
    let header = json!({
        "typ": "dpop+jwt", "alg": "ES256",
        "jwk": {
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        },
    });
    let claims = json!({
        "htm": "GET", "htu": url, "iat": NOW, "jti": "e1f0c7a4-5b7d-4c41-9c55-0f5d7a3b9e21",
        "ath": URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())),
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &encoding, Algorithm::ES256).unwrap();
    let proof = format!("{input}.{signature}");
    let request = ProofRequest {
        method: "GET",
        url,
        access_token: Some(token),
        now: NOW,
    };
    assert!(check_proof(&proof, &request).is_ok());
    c.bench_function("check_dpop_proof_es256", |b| {
        b.iter(|| check_proof(&proof, &request).unwrap())
    });
}

criterion_group!(benches, verify, dpop_proof);
criterion_main!(benches);
