//! Test keys, token forging and a fake issuer that serves a JWKS over real
//! HTTP and counts how often it is asked.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::AlgorithmParameters;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::jwk::{Jwk, JwkSet, rsa_thumbprint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "profile-api";
pub const NOW: i64 = 1_750_000_000;

/// An RSA key pair as the issuer holds it.
#[derive(Clone)]
pub struct TestKey {
    pub pem: String,
    pub encoding: EncodingKey,
    pub jwk: Jwk,
}

impl TestKey {
    pub fn generate() -> TestKey {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .expect("generate key");
        let der = pair.as_der().expect("pkcs8");
        let body = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("pem");
        let public = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::RS256)
            .expect("public jwk");
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
        TestKey { pem, encoding, jwk }
    }

    pub fn kid(&self) -> String {
        self.jwk.kid.clone().expect("kid")
    }

    pub fn set(keys: &[&TestKey]) -> JwkSet {
        JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        }
    }

    /// A token with the issuer's header and these claims.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(&self.header(), claims)
    }

    pub fn header(&self) -> Value {
        json!({"alg": "RS256", "typ": "at+jwt", "kid": self.kid()})
    }

    /// A token with any header at all, RS256-signed with this key.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, Algorithm::RS256)
                .expect("sign");
        format!("{input}.{signature}")
    }
}

pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Claims as our issuer writes them, valid at [`NOW`].
pub fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "5f0c3c4e-2b4d-4c47-9a0e-0d6a0d5f3a11",
        "aud": AUDIENCE,
        "exp": NOW + 900,
        "iat": NOW,
        "nbf": NOW,
        "jti": "b6c0c1f8-8f3f-4d8e-a0c9-6c1b6f1d2e33",
        "client_id": "first-party",
        "scope": "profile:read profile:write",
        "email": "ada@example.com",
        "name": "Ada"
    })
}

/// What the fake issuer does with requests.
pub struct IssuerState {
    pub keys: Mutex<JwkSet>,
    pub max_age: AtomicU64,
    pub down: AtomicBool,
    /// Delay before answering the JWKS, to hold concurrent callers.
    pub delay_ms: AtomicU64,
    pub jwks_hits: AtomicUsize,
    pub not_modified: AtomicUsize,
    pub metadata_hits: AtomicUsize,
    pub body_padding: AtomicUsize,
}

pub struct FakeIssuer {
    pub base: String,
    pub state: Arc<IssuerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeIssuer {
    /// Serves `/.well-known/oauth-authorization-server` (naming `issuer`,
    /// or this server's own URL when `None`) and `/jwks`.
    pub async fn start(keys: JwkSet, issuer: Option<&str>) -> FakeIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let issuer = issuer.unwrap_or(&base).to_owned();
        let state = Arc::new(IssuerState {
            keys: Mutex::new(keys),
            max_age: AtomicU64::new(300),
            down: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            jwks_hits: AtomicUsize::new(0),
            not_modified: AtomicUsize::new(0),
            metadata_hits: AtomicUsize::new(0),
            body_padding: AtomicUsize::new(0),
        });
        let served = state.clone();
        let jwks_uri = format!("{base}/jwks");
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = served.clone();
                let issuer = issuer.clone();
                let jwks_uri = jwks_uri.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 2048];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let request = String::from_utf8_lossy(&request).to_string();
                    let response = respond(&state, &request, &issuer, &jwks_uri).await;
                    let _ = stream.write_all(&response).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        FakeIssuer { base, state, task }
    }

    pub fn jwks_url(&self) -> url::Url {
        url::Url::parse(&format!("{}/jwks", self.base)).expect("url")
    }

    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    pub fn set_keys(&self, keys: JwkSet) {
        *self.state.keys.lock().expect("lock") = keys;
    }

    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }
}

async fn respond(state: &IssuerState, request: &str, issuer: &str, jwks_uri: &str) -> Vec<u8> {
    let path = request.split(' ').nth(1).unwrap_or("/");
    if state.down.load(Ordering::SeqCst) {
        return http(503, &[], "{}");
    }
    match path {
        "/.well-known/oauth-authorization-server" => {
            state.metadata_hits.fetch_add(1, Ordering::SeqCst);
            let body = json!({"issuer": issuer, "jwks_uri": jwks_uri}).to_string();
            http(200, &[], &body)
        }
        "/jwks" => {
            state.jwks_hits.fetch_add(1, Ordering::SeqCst);
            let delay = state.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let mut body = serde_json::to_value(&*state.keys.lock().expect("lock")).expect("json");
            let padding = state.body_padding.load(Ordering::SeqCst);
            if padding > 0 {
                body["padding"] = Value::String("x".repeat(padding));
            }
            let body = body.to_string();
            let etag = format!(
                "\"{}\"",
                URL_SAFE_NO_PAD.encode(Sha256::digest(body.as_bytes()))
            );
            let max_age = state.max_age.load(Ordering::SeqCst);
            let cache_control = format!("public, max-age={max_age}");
            let if_none_match = request.lines().find_map(|l| {
                l.strip_prefix("if-none-match: ")
                    .or_else(|| l.strip_prefix("If-None-Match: "))
            });
            if if_none_match == Some(etag.as_str()) {
                state.not_modified.fetch_add(1, Ordering::SeqCst);
                return http(
                    304,
                    &[("ETag", &etag), ("Cache-Control", &cache_control)],
                    "",
                );
            }
            http(
                200,
                &[("ETag", &etag), ("Cache-Control", &cache_control)],
                &body,
            )
        }
        _ => http(404, &[], "{}"),
    }
}

fn http(status: u16, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out =
        format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if status != 304 {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}
