//! `spawn_app()` with a fresh database and a key set the tests control, a
//! token minter, and one helper per endpoint.

use std::sync::{Arc, LazyLock};

use aws_lc_rs::encoding::AsDer;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::AlgorithmParameters;
use jsonwebtoken::{Algorithm, EncodingKey};
use resource_server::auth::AuthDeps;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::{Value, json};
use shared::clock::FixedClock;
use shared::jwk::{Jwk, JwkSet, rsa_thumbprint};
use shared::jwks_cache::JwksCache;
use tempfile::TempDir;

pub const ISSUER: &str = "http://issuer.test";
pub const AUDIENCE: &str = "profile-api";
pub const NOW: i64 = 1_750_000_000;

pub struct TestKey {
    pub encoding: EncodingKey,
    pub jwk: Jwk,
}

impl TestKey {
    fn generate() -> TestKey {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = pair.as_der().unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der.as_ref())
        );
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let public =
            jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::RS256).unwrap();
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
        TestKey { encoding, jwk }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": self.jwk.kid});
        self.sign_raw(&header.to_string(), &claims.to_string())
    }

    /// Header and claims as given, byte for byte (a repeated member, say).
    pub fn sign_raw(&self, header: &str, claims: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, Algorithm::RS256).unwrap();
        format!("{input}.{signature}")
    }
}

/// One issuer key for the whole binary: RSA generation is slow.
pub static KEY: LazyLock<TestKey> = LazyLock::new(TestKey::generate);

/// Claims of a user token valid at [`NOW`].
pub fn user_claims(sub: &str, scope: &str) -> Value {
    json!({
        "iss": ISSUER,
        "sub": sub,
        "aud": AUDIENCE,
        "exp": NOW + 900,
        "iat": NOW,
        "nbf": NOW,
        "jti": uuid::Uuid::new_v4().to_string(),
        "client_id": "first-party",
        "scope": scope,
        "email": format!("{sub}@example.com"),
        "name": format!("User {sub}"),
    })
}

pub fn user_token(sub: &str, scope: &str) -> String {
    KEY.sign(&user_claims(sub, scope))
}

pub fn new_sub() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub struct TestApp {
    pub client: Client,
    /// The app's own database, for tests that look behind the API.
    pub database_url: String,
    _dir: TempDir,
}

/// A database no other test sees: a SQLite file in a temp dir, or a fresh
/// PostgreSQL database when `TEST_DATABASE_URL` points at a server (CI
/// drops the `t_*` databases afterwards).
pub async fn fresh_database_url(dir: &std::path::Path) -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if admin_url.starts_with("postgres") => {
            use sqlx::Connection;
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
                .execute(&mut conn)
                .await
                .unwrap();
            let base = admin_url
                .rsplit_once('/')
                .map(|(b, _)| b)
                .unwrap_or(&admin_url);
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}/resource.db", dir.display()),
    }
}

pub async fn spawn_app() -> TestApp {
    let keys = JwksCache::fixed(&JwkSet {
        keys: vec![KEY.jwk.clone()],
    })
    .unwrap();
    spawn_app_with_keys(keys).await
}

pub async fn spawn_app_with_keys(keys: JwksCache) -> TestApp {
    let dir = TempDir::new().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    spawn_app_on(keys, dir, database_url).await
}

/// The app on a database the test prepared (in `dir`, which it keeps).
pub async fn spawn_app_on(keys: JwksCache, dir: TempDir, database_url: String) -> TestApp {
    spawn_app_with_settings(keys, dir, database_url, &[]).await
}

/// The app on a database the test prepared, with settings of its own.
pub async fn spawn_app_with_settings(
    keys: JwksCache,
    dir: TempDir,
    database_url: String,
    settings: &[(&str, &str)],
) -> TestApp {
    let mut figment = resource_server::figment()
        .merge(("database_url", database_url.clone()))
        .merge(("issuer", ISSUER))
        .merge(("audience", AUDIENCE))
        .merge(("log_level", "off"));
    for (key, value) in settings {
        figment = figment.merge((*key, *value));
    }
    let deps = AuthDeps {
        keys: Some(keys),
        clock: Arc::new(FixedClock(NOW)),
    };
    let config = resource_server::AppConfig::from_figment(&figment).unwrap();
    let services = resource_server::Services::open_with(config, deps)
        .await
        .unwrap();
    let client = Client::tracked(resource_server::rocket(figment, services))
        .await
        .unwrap();
    TestApp {
        client,
        database_url,
        _dir: dir,
    }
}

pub fn bearer(token: &str) -> Header<'static> {
    Header::new("Authorization", format!("Bearer {token}"))
}

impl TestApp {
    pub async fn get_profile_me(&self, token: &str) -> LocalResponse<'_> {
        self.client
            .get("/profile/me")
            .header(bearer(token))
            .dispatch()
            .await
    }

    pub async fn get_profile(&self, id: &str, token: &str) -> LocalResponse<'_> {
        self.client
            .get(format!("/profile/{id}"))
            .header(bearer(token))
            .dispatch()
            .await
    }

    pub async fn get_profiles(&self, id: &str, token: &str) -> LocalResponse<'_> {
        self.client
            .get(format!("/profiles/{id}"))
            .header(bearer(token))
            .dispatch()
            .await
    }

    pub async fn patch_profile_me(&self, token: &str, body: &str) -> LocalResponse<'_> {
        self.client
            .patch("/profile/me")
            .header(bearer(token))
            .header(ContentType::JSON)
            .body(body)
            .dispatch()
            .await
    }
}

/// Status, `WWW-Authenticate`, and the body as JSON.
pub async fn parts(response: LocalResponse<'_>) -> (Status, Option<String>, Option<String>, Value) {
    let status = response.status();
    let challenge = response
        .headers()
        .get_one("WWW-Authenticate")
        .map(str::to_owned);
    let content_type = response
        .headers()
        .get_one("Content-Type")
        .map(str::to_owned);
    let body = response.into_string().await.unwrap_or_default();
    let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, challenge, content_type, json)
}

pub const PROBLEM_JSON: &str = "application/problem+json";
