//! `private_key_jwt` (RFC 7523): clients that authenticate with assertions
//! signed by their own keys, registered as a JWK Set or fetched from a
//! `jwks_uri`; every way an assertion can be wrong, and the `jti` race.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use auth_server::grant_type::GrantType;
use auth_server::store::clients::{AuthMethod, ClientAuth, ClientMetadata, NewClient};
use auth_server::store::events::Event;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{Value, json};
use shared::scope::ScopeSet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{ISSUER, TestApp, spawn_app};
use crate::oauth_support::{assert_oauth_error, post_form, service};

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's key pair made in the test: how it signs, and its public JWK.
pub struct ClientKey {
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Value,
}

pub fn es256_key(kid: &str) -> ClientKey {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let der = pair.to_pkcs8v1().unwrap();
    let point = pair.public_key().as_ref().to_vec();
    ClientKey {
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(der.as_ref()),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }),
    }
}

fn ed25519_key(kid: &str) -> ClientKey {
    let pair = Ed25519KeyPair::generate().unwrap();
    let der = pair.to_pkcs8().unwrap();
    ClientKey {
        alg: Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_der(der.as_ref()),
        jwk: json!({
            "kty": "OKP", "crv": "Ed25519", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        }),
    }
}

fn rsa_key(kid: &str, alg: Algorithm) -> ClientKey {
    let private = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let public = auth_server::keys::SigningKey::from_pkcs8_der(
        private.to_pkcs8_der().unwrap().as_bytes(),
        "test",
    )
    .unwrap()
    .jwk;
    ClientKey {
        alg,
        encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        jwk: json!({ "kty": "RSA", "kid": kid, "n": public.n, "e": public.e }),
    }
}

fn now() -> i64 {
    shared::clock::unix_now()
}

/// The claims of a good assertion by `client_id`.
fn claims(client_id: &str) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER,
        "exp": now() + 60,
        "iat": now(),
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

fn sign(key: &ClientKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = key.jwk["kid"].as_str().map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

pub fn assertion(key: &ClientKey, client_id: &str) -> String {
    sign(key, &claims(client_id))
}

/// Registers a `private_key_jwt` client for client_credentials (and the
/// code grant's redirect URI), with `jwks` or `jwks_uri`.
async fn key_client(app: &TestApp, jwks: Option<Value>, jwks_uri: Option<String>) -> String {
    let (new, auth) = key_registration(jwks, jwks_uri);
    let (id, secret) = app.clients.create_with(&new, &auth, 0).await.unwrap();
    assert_eq!(secret, None, "a key client has no secret");
    id
}

/// The same client registering itself (RFC 7591): its `jwks_uri` is a
/// stranger's.
async fn self_registered_key_client(app: &TestApp, jwks_uri: String) -> String {
    let (new, auth) = key_registration(None, Some(jwks_uri));
    let event = Event::new("client_registered");
    let (id, _) = app
        .clients
        .register_recorded(&new, &auth, None, "registration-token", 0, event)
        .await
        .unwrap()
        .expect("registered");
    id
}

fn key_registration(jwks: Option<Value>, jwks_uri: Option<String>) -> (NewClient, ClientAuth) {
    let new = NewClient {
        public: false,
        metadata: ClientMetadata {
            name: "Key client".into(),
            first_party: false,
            grant_types: vec![GrantType::ClientCredentials],
            scopes: ScopeSet::parse("profiles:read"),
            redirect_uris: vec![],
            audiences: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
        },
    };
    let auth = ClientAuth {
        method: AuthMethod::PrivateKeyJwt,
        jwks: jwks.map(|set| set.to_string()),
        jwks_uri,
        require_par: false,
        dpop_bound: false,
    };
    (new, auth)
}

async fn client_credentials(app: &TestApp, assertion: &str) -> reqwest::Response {
    post_form(
        app,
        "/oauth/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ],
    )
    .await
}

async fn assert_token_for(response: reqwest::Response, client_id: &str) {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let (_, claims) = crate::helpers::decode_parts(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], client_id);
    assert_eq!(claims["client_id"], client_id);
}

async fn assert_invalid_client(response: reqwest::Response) {
    assert!(response.headers().contains_key("www-authenticate"));
    assert_oauth_error(response, 401, "invalid_client").await;
}

#[tokio::test]
async fn every_algorithm_authenticates_and_an_assertion_works_once() {
    let app = spawn_app().await;
    let keys = [
        es256_key("ec"),
        ed25519_key("ed"),
        rsa_key("rs", Algorithm::RS256),
        rsa_key("ps", Algorithm::PS256),
    ];
    let set = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
    let client_id = key_client(&app, Some(set), None).await;
    for key in &keys {
        let signed = assertion(key, &client_id);
        assert_token_for(client_credentials(&app, &signed).await, &client_id).await;
        // The same assertion again is a replay.
        assert_invalid_client(client_credentials(&app, &signed).await).await;
    }
    // The token endpoint's URL is an audience too, and client_id may be sent.
    let mut to_endpoint = claims(&client_id);
    to_endpoint["aud"] = json!([app_token_endpoint()]);
    let signed = sign(&keys[0], &to_endpoint);
    let response = post_form(
        &app,
        "/oauth/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &signed),
        ],
    )
    .await;
    assert_token_for(response, &client_id).await;
}

fn app_token_endpoint() -> String {
    format!("{ISSUER}/oauth/token")
}

#[tokio::test]
async fn a_key_without_kid_is_found_by_its_algorithm() {
    let app = spawn_app().await;
    let key = es256_key("unused");
    let mut jwk = key.jwk.clone();
    jwk.as_object_mut().unwrap().remove("kid");
    let client_id = key_client(&app, Some(json!({ "keys": [jwk] })), None).await;
    let header = Header::new(Algorithm::ES256);
    let signed = jsonwebtoken::encode(&header, &claims(&client_id), &key.encoding).unwrap();
    assert_token_for(client_credentials(&app, &signed).await, &client_id).await;
}

/// A JWS with any header and claims, signed by `key` if given, else with
/// an empty signature.
fn hand_made(header: &Value, claims: &Value, hmac_secret: Option<&[u8]>) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = match hmac_secret {
        Some(secret) => {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
            URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref())
        }
        None => String::new(),
    };
    format!("{input}.{signature}")
}

#[tokio::test]
async fn bad_assertions_get_invalid_client_and_spend_nothing() {
    let app = spawn_app().await;
    let key = es256_key("k1");
    let client_id = key_client(&app, Some(json!({ "keys": [key.jwk.clone()] })), None).await;
    let stranger = es256_key("k1");
    let jti = "the-one-jti";
    let good = || {
        let mut c = claims(&client_id);
        c["jti"] = json!(jti);
        c
    };
    let with = |name: &str, value: Value| {
        let mut c = good();
        if value.is_null() {
            c.as_object_mut().unwrap().remove(name);
        } else {
            c[name] = value;
        }
        c
    };
    let mut bad: Vec<(&str, String)> = vec![
        ("signed by another key", sign(&stranger, &good())),
        ("expired", sign(&key, &with("exp", json!(now() - 120)))),
        (
            "far future exp",
            sign(&key, &with("exp", json!(now() + 3600))),
        ),
        ("iat ahead", sign(&key, &with("iat", json!(now() + 600)))),
        ("nbf ahead", sign(&key, &with("nbf", json!(now() + 600)))),
        ("no exp", sign(&key, &with("exp", Value::Null))),
        ("no jti", sign(&key, &with("jti", Value::Null))),
        (
            "wrong aud",
            sign(&key, &with("aud", json!("https://elsewhere.example"))),
        ),
        ("no aud", sign(&key, &with("aud", Value::Null))),
        (
            "sub is another",
            sign(&key, &with("sub", json!("someone-else"))),
        ),
        (
            "alg none",
            hand_made(&json!({"alg": "none", "kid": "k1"}), &good(), None),
        ),
        (
            "HS256 keyed with the public key",
            hand_made(
                &json!({"alg": "HS256", "kid": "k1"}),
                &good(),
                Some(key.jwk.to_string().as_bytes()),
            ),
        ),
        ("not a JWT", "not.a.jwt".to_owned()),
    ];
    // A signature of another message.
    let forged = {
        let real = sign(&key, &good());
        let other = sign(&key, &with("exp", json!(now() + 200)));
        let (head, _) = real.rsplit_once('.').unwrap();
        let (_, sig) = other.rsplit_once('.').unwrap();
        format!("{head}.{sig}")
    };
    bad.push(("forged signature", forged));
    for (why, assertion) in &bad {
        let response = client_credentials(&app, assertion).await;
        assert_eq!(response.status(), 401, "{why}");
        assert_invalid_client(response).await;
    }
    // None of them spent the jti.
    assert_token_for(
        client_credentials(&app, &sign(&key, &good())).await,
        &client_id,
    )
    .await;
    assert_invalid_client(client_credentials(&app, &sign(&key, &good())).await).await;
}

#[tokio::test]
async fn a_client_authenticates_only_by_its_own_method() {
    let app = spawn_app().await;
    let key = es256_key("k1");
    let key_client_id = key_client(&app, Some(json!({ "keys": [key.jwk.clone()] })), None).await;
    let secret_client = service(&app).await;
    // A key client's "secret" (it has none), in the header or the body.
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{key_client_id}:anything"))
    );
    let form = [("grant_type", "client_credentials")];
    assert_invalid_client(post_form(&app, "/oauth/token", Some(&basic), &form).await).await;
    let response = post_form(
        &app,
        "/oauth/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &key_client_id),
            ("client_secret", "anything"),
        ],
    )
    .await;
    assert_invalid_client(response).await;
    // An assertion from a secret client, even signed by a key.
    let signed = assertion(&key, &secret_client.id);
    assert_invalid_client(client_credentials(&app, &signed).await).await;
    // An assertion beside a secret.
    let signed = assertion(&key, &key_client_id);
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("authorization", secret_client.basic())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &signed),
        ])
        .send()
        .await
        .unwrap();
    assert_invalid_client(response).await;
    // Another assertion type, or a client_id that is not the assertion's.
    let response = post_form(
        &app,
        "/oauth/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            ),
            ("client_assertion", &signed),
        ],
    )
    .await;
    assert_invalid_client(response).await;
    let response = post_form(
        &app,
        "/oauth/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &secret_client.id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &signed),
        ],
    )
    .await;
    assert_invalid_client(response).await;
    // None of that spent the assertion.
    assert_token_for(client_credentials(&app, &signed).await, &key_client_id).await;
}

#[tokio::test]
async fn introspection_and_revocation_take_assertions() {
    let app = spawn_app().await;
    let key = ed25519_key("k1");
    let client_id = key_client(&app, Some(json!({ "keys": [key.jwk.clone()] })), None).await;
    let response = client_credentials(&app, &assertion(&key, &client_id)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let introspect = |assertion: String| {
        let app = &app;
        async move {
            post_form(
                app,
                "/oauth/introspect",
                None,
                &[
                    ("token", token),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion),
                ],
            )
            .await
        }
    };
    let response = introspect(assertion(&key, &client_id)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], client_id.as_str());
    let stranger = ed25519_key("k1");
    assert_invalid_client(introspect(assertion(&stranger, &client_id)).await).await;

    let response = post_form(
        &app,
        "/oauth/revoke",
        None,
        &[
            ("token", token),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion(&key, &client_id)),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let response = introspect(assertion(&key, &client_id)).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], false, "revoked by the key client");
}

/// A tiny HTTP server that answers every request with `body` and
/// `Cache-Control: max-age=300`, counting requests.
async fn serve_jwks(body: String) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let _ = stream.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     cache-control: max-age=300\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (format!("http://{address}/jwks.json"), hits)
}

#[tokio::test]
async fn a_jwks_uri_is_fetched_once_and_cached() {
    let app = spawn_app().await;
    let key = rsa_key("r1", Algorithm::PS256);
    let (uri, hits) = serve_jwks(json!({ "keys": [key.jwk.clone()] }).to_string()).await;
    let client_id = key_client(&app, None, Some(uri)).await;
    for _ in 0..3 {
        let signed = assertion(&key, &client_id);
        assert_token_for(client_credentials(&app, &signed).await, &client_id).await;
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "cached by its Cache-Control"
    );
    // An unknown kid within a minute of the last fetch fetches nothing.
    let other = rsa_key("r2", Algorithm::PS256);
    for _ in 0..3 {
        let signed = assertion(&other, &client_id);
        assert_invalid_client(client_credentials(&app, &signed).await).await;
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "no refetch within the cool-down"
    );
}

#[tokio::test]
async fn an_unreachable_or_oversized_jwks_uri_is_invalid_client_without_a_hang() {
    let app = spawn_app().await;
    let key = es256_key("k1");
    // Nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let client_id = key_client(&app, None, Some(format!("http://{closed}/jwks.json"))).await;
    let started = Instant::now();
    assert_invalid_client(client_credentials(&app, &assertion(&key, &client_id)).await).await;
    assert!(started.elapsed() < Duration::from_secs(6));

    let mut keys = vec![key.jwk.clone()];
    let filler = es256_key("filler").jwk;
    while json!({ "keys": keys }).to_string().len() <= 64 * 1024 {
        let mut more = filler.clone();
        more["kid"] = json!(uuid::Uuid::new_v4().to_string());
        keys.push(more);
    }
    let (uri, hits) = serve_jwks(json!({ "keys": keys }).to_string()).await;
    let client_id = key_client(&app, None, Some(uri)).await;
    let started = Instant::now();
    assert_invalid_client(client_credentials(&app, &assertion(&key, &client_id)).await).await;
    assert!(started.elapsed() < Duration::from_secs(6));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// A public name can resolve to an internal address long after it was
/// registered (DNS rebinding): a self-registered client's set is fetched
/// only from public addresses, whether the host is a name that resolves
/// to loopback or a loopback address itself; an operator's client may
/// name a service beside us.
#[tokio::test]
async fn a_self_registered_clients_jwks_uri_is_never_fetched_from_an_internal_address() {
    let app = spawn_app().await;
    let key = es256_key("k1");
    let (uri, hits) = serve_jwks(json!({ "keys": [key.jwk.clone()] }).to_string()).await;
    let by_name = uri.replace("127.0.0.1", "localhost");
    for stranger_uri in [by_name.clone(), uri.clone()] {
        let client_id = self_registered_key_client(&app, stranger_uri).await;
        let started = Instant::now();
        assert_invalid_client(client_credentials(&app, &assertion(&key, &client_id)).await).await;
        assert!(started.elapsed() < Duration::from_secs(6));
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the internal server"
    );

    let client_id = key_client(&app, None, Some(by_name)).await;
    assert_token_for(
        client_credentials(&app, &assertion(&key, &client_id)).await,
        &client_id,
    )
    .await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "an operator's URL is fetched"
    );
}

/// A jti that cannot be written (SQLite's lock held elsewhere past the
/// busy timeout) is a 503 that spends nothing: the same assertion works
/// once the database answers again, and only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_whose_jti_cannot_be_written_is_a_503_and_spends_nothing() {
    let app = spawn_app().await;
    let key = es256_key("k1");
    let client_id = key_client(&app, Some(json!({ "keys": [key.jwk.clone()] })), None).await;
    let signed = assertion(&key, &client_id);
    let Some(mut holder) = app.hold_sqlite_write_lock().await else {
        return;
    };
    let response = client_credentials(&app, &signed).await;
    assert!(response.headers().contains_key("retry-after"));
    let body = assert_oauth_error(response, 503, "temporarily_unavailable").await;
    assert!(body.get("access_token").is_none());

    sqlx::query("rollback").execute(&mut holder).await.unwrap();
    assert_token_for(client_credentials(&app, &signed).await, &client_id).await;
    assert_invalid_client(client_credentials(&app, &signed).await).await;
}

#[tokio::test]
async fn one_assertion_sent_eight_times_at_once_wins_once() {
    let app = spawn_app().await;
    let key = es256_key("k1");
    let client_id = key_client(&app, Some(json!({ "keys": [key.jwk.clone()] })), None).await;
    for trial in 0..20 {
        let signed = assertion(&key, &client_id);
        let attempts = (0..8).map(|_| client_credentials(&app, &signed));
        let statuses: Vec<u16> = futures::future::join_all(attempts)
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        let won = statuses.iter().filter(|s| **s == 200).count();
        let refused = statuses.iter().filter(|s| **s == 401).count();
        assert_eq!((won, refused), (1, 7), "trial {trial}: {statuses:?}");
    }
}

#[tokio::test]
async fn discovery_lists_private_key_jwt_and_its_algorithms() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200);
        let document: Value = response.json().await.unwrap();
        for member in [
            "token_endpoint_auth_methods_supported",
            "revocation_endpoint_auth_methods_supported",
            "introspection_endpoint_auth_methods_supported",
        ] {
            let methods = document[member].as_array().unwrap();
            assert!(methods.contains(&json!("private_key_jwt")), "{member}");
        }
        assert_eq!(
            document["token_endpoint_auth_signing_alg_values_supported"],
            json!(["ES256", "PS256", "RS256", "EdDSA"])
        );
    }
}

#[tokio::test]
async fn clients_create_registers_key_clients_and_refuses_bad_key_sets() {
    let app = spawn_app().await;
    let dir = tempfile::TempDir::new().unwrap();
    let key = es256_key("k1");
    let good = dir.path().join("good.json");
    std::fs::write(&good, json!({ "keys": [key.jwk.clone()] }).to_string()).unwrap();
    let output = crate::cli::command(&dir, &app.database_url)
        .args([
            "clients",
            "create",
            "--name",
            "keyed",
            "--grant",
            "client_credentials",
        ])
        .args([
            "--scope",
            "profiles:read",
            "--auth-method",
            "private_key_jwt",
            "--json",
            "--require-par",
        ])
        .arg("--jwks-file")
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(shown["client_secret"], Value::Null);
    assert_eq!(shown["require_pushed_authorization_requests"], true);
    let client_id = shown["client_id"].as_str().unwrap().to_owned();
    assert_token_for(
        client_credentials(&app, &assertion(&key, &client_id)).await,
        &client_id,
    )
    .await;

    let mut private = key.jwk.clone();
    private["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    let leaked = dir.path().join("private.json");
    std::fs::write(&leaked, json!({ "keys": [private] }).to_string()).unwrap();
    let secret_like = dir.path().join("oct.json");
    std::fs::write(
        &secret_like,
        json!({ "keys": [{"kty": "oct", "k": "c2VjcmV0"}] }).to_string(),
    )
    .unwrap();
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, r#"{"keys": []}"#).unwrap();
    let huge = dir.path().join("huge.json");
    std::fs::write(&huge, " ".repeat(65 * 1024) + r#"{"keys": []}"#).unwrap();
    let before = app.clients.list().await.unwrap().len();
    for (file, needle) in [
        (&leaked, "private member"),
        (&secret_like, "key 0"),
        (&empty, "no keys"),
        (&huge, "64 KiB"),
    ] {
        let output = crate::cli::command(&dir, &app.database_url)
            .args([
                "clients",
                "create",
                "--name",
                "keyed",
                "--auth-method",
                "private_key_jwt",
            ])
            .arg("--jwks-file")
            .arg(file)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("--jwks-file") && stderr.contains(needle),
            "{stderr}"
        );
    }
    for args in [
        vec!["--auth-method", "private_key_jwt"],
        vec!["--jwks-uri", "https://keys.example/jwks"],
        vec![
            "--public",
            "--auth-method",
            "private_key_jwt",
            "--jwks-uri",
            "https://k.example/j",
        ],
        vec![
            "--auth-method",
            "private_key_jwt",
            "--jwks-uri",
            "ftp://keys.example/jwks",
        ],
    ] {
        let output = crate::cli::command(&dir, &app.database_url)
            .args(["clients", "create", "--name", "keyed"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&output.stderr).lines().count(), 1);
    }
    assert_eq!(
        app.clients.list().await.unwrap().len(),
        before,
        "nothing registered"
    );
}
