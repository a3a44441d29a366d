//! Hot paths of the issuer: minting one access token (one RS256 signature)
//! and one argon2id password check, the two costs that bound the grants.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_server::keys::KeyStore;
use auth_server::oauth::jwt::{Subject, TokenMinter, new_jti};
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretString;
use shared::scope::ScopeSet;

/// The key store of a fresh SQLite database (minting never reads it).
fn open_keys(dir: &tempfile::TempDir) -> Arc<KeyStore> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let figment = auth_server::config::figment()
            .merge((
                "database_url",
                format!("sqlite://{}/auth.db", dir.path().display()),
            ))
            .merge(("keys_dir", dir.path().join("keys").display().to_string()));
        let config = auth_server::config::AppConfig::from_figment(&figment).unwrap();
        let db = auth_server::store::Db::connect(&config.database_url)
            .await
            .unwrap();
        Arc::new(KeyStore::open(&config, &db).await.unwrap())
    })
}

fn mint(c: &mut Criterion) {
    let dir = tempfile::TempDir::new().unwrap();
    let keys = open_keys(&dir);
    let issuer = TokenMinter::new(
        keys.clone(),
        "http://127.0.0.1:8000".into(),
        "profile-api".into(),
        900,
    );
    let scope = ScopeSet::parse("profile:read profile:write");
    // The floor: one RS256 signature of a token-sized message, nothing else.
    let ring = keys.current();
    let message = vec![b'x'; 420];
    c.bench_function("rs256_sign_only", |b| {
        b.iter(|| ring.signing.sign(&message).unwrap())
    });
    c.bench_function("mint_access_token", |b| {
        b.iter(|| {
            issuer
                .sign_access_token(
                    Subject::User {
                        id: "6f1c2f0e-8d7a-4d0b-9a57-1b0f0f7f2a11",
                        email: Some("ada@example.com"),
                        name: Some("Ada Lovelace"),
                    },
                    "first-party",
                    &scope,
                    1_800_000_000,
                    new_jti(),
                    None,
                )
                .unwrap()
        })
    });
}

/// What `jsonwebtoken::encode` costs for the same claims with a key of the
/// same size, for the choice documented in `oauth/jwt.rs`: its aws-lc signer
/// parses the private key on every call.
fn mint_with_jsonwebtoken_encode(c: &mut Criterion) {
    use aws_lc_rs::encoding::AsDer;
    use base64::Engine;
    use shared::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims, Audience};

    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(pair.as_der().unwrap().as_ref())
    );
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.typ = Some(ACCESS_TOKEN_TYP.into());
    header.kid = Some("kid-of-the-same-length-as-a-thumbprint-00000".into());
    let now = 1_800_000_000;
    c.bench_function("mint_access_token_jsonwebtoken_encode", |b| {
        b.iter(|| {
            let claims = AccessTokenClaims {
                iss: "http://127.0.0.1:8000".into(),
                sub: "6f1c2f0e-8d7a-4d0b-9a57-1b0f0f7f2a11".into(),
                aud: Audience::One("profile-api".into()),
                exp: now + 900,
                iat: now,
                nbf: now,
                jti: new_jti(),
                client_id: "first-party".into(),
                scope: "profile:read profile:write".into(),
                email: Some("ada@example.com".into()),
                name: Some("Ada Lovelace".into()),
                cnf: None,
            };
            jsonwebtoken::encode(&header, &claims, &key).unwrap()
        })
    });
}

fn argon2id(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stored = runtime
        .block_on(auth_server::password_hash::hash(SecretString::from(
            "violet-harbor-quantum-91x",
        )))
        .unwrap();
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(20);
    group.bench_function("verify_password", |b| {
        b.iter(|| {
            runtime.block_on(auth_server::password_hash::verify(
                SecretString::from("violet-harbor-quantum-91x"),
                Some(stored.clone()),
            ))
        })
    });
    // The server's ceiling: one hash per core at once, as the login path
    // runs them. Each iteration is one hash on every core.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    group.bench_function(format!("verify_password_on_{cores}_cores"), |b| {
        b.iter(|| {
            std::thread::scope(|scope| {
                for _ in 0..cores {
                    scope.spawn(|| {
                        runtime.block_on(auth_server::password_hash::verify(
                            SecretString::from("violet-harbor-quantum-91x"),
                            Some(stored.clone()),
                        ))
                    });
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, mint, mint_with_jsonwebtoken_encode, argon2id);
criterion_main!(benches);
