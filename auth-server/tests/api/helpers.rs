//! `spawn_app()` and one helper per endpoint.

use std::path::{Path, PathBuf};

use auth_server::{Services, build};
use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use serde_json::{Value, json};
use tempfile::TempDir;

pub const PASSWORD: &str = "violet-harbor-quantum-91x";
pub const ISSUER: &str = "http://issuer.test";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub keys_dir: PathBuf,
    pub database_url: String,
    pub shutdown: rocket::Shutdown,
    pub db: auth_server::store::Db,
    /// The running server's clients (a deletion through it is seen at once).
    pub clients: auth_server::store::clients::Clients,
    /// The running server's settings and token issuer, for tests that drive
    /// its oxide-auth primitives directly.
    pub config: auth_server::config::AppConfig,
    pub issuer: std::sync::Arc<auth_server::oauth::jwt::TokenMinter>,
    _dir: TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.clone().notify();
    }
}

/// A database no other test sees: a SQLite file in a temp dir, or a fresh
/// PostgreSQL database when `TEST_DATABASE_URL` points at a server.
pub async fn fresh_database_url(dir: &Path) -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if admin_url.starts_with("postgres") => {
            use sqlx::Connection;
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("TEST_DATABASE_URL must accept connections");
            // The name is ours (a UUID), not input.
            sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
                .execute(&mut conn)
                .await
                .expect("create the test database");
            let base = admin_url
                .rsplit_once('/')
                .map(|(b, _)| b)
                .unwrap_or(&admin_url);
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}/auth.db", dir.display()),
    }
}

pub fn test_figment(database_url: &str, keys_dir: &Path) -> Figment {
    auth_server::config::figment()
        .merge(("port", 0))
        .merge(("address", "127.0.0.1"))
        .merge(("database_url", database_url))
        .merge(("keys_dir", keys_dir.display().to_string()))
        .merge(("issuer", ISSUER))
        .merge(("audience", "profile-api"))
        .merge(("shutdown.ctrlc", false))
        .merge(("log_level", "off"))
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|f| f).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(Figment) -> Figment) -> TestApp {
    let dir = TempDir::new().unwrap();
    let keys_dir = dir.path().join("keys");
    let database_url = fresh_database_url(dir.path()).await;
    let figment = adjust(test_figment(&database_url, &keys_dir));
    let app = launch(figment).await;
    TestApp {
        address: app.0,
        shutdown: app.1,
        db: app.2,
        issuer: app.3,
        config: app.4,
        clients: app.5,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        keys_dir,
        database_url,
        _dir: dir,
    }
}

/// What a launched app hands its tests.
pub type Launched = (
    String,
    rocket::Shutdown,
    auth_server::store::Db,
    std::sync::Arc<auth_server::oauth::jwt::TokenMinter>,
    auth_server::config::AppConfig,
    auth_server::store::clients::Clients,
);

/// Launches the app on port 0 and returns its address once it listens.
pub async fn launch(figment: Figment) -> Launched {
    if std::env::var("TEST_LOG").is_ok() {
        auth_server::telemetry::init();
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let rocket =
        build(figment)
            .await
            .unwrap()
            .attach(AdHoc::on_liftoff("test port", move |rocket| {
                let port = rocket.config().port;
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(port);
                }
                Box::pin(async {})
            }));
    let rocket = rocket.ignite().await.unwrap();
    let shutdown = rocket.shutdown();
    let db = rocket.state::<auth_server::store::Db>().unwrap().clone();
    let clients = rocket
        .state::<auth_server::store::clients::Clients>()
        .unwrap()
        .clone();
    let issuer = rocket
        .state::<std::sync::Arc<auth_server::oauth::jwt::TokenMinter>>()
        .unwrap()
        .clone();
    let config = rocket
        .state::<auth_server::config::AppConfig>()
        .unwrap()
        .clone();
    tokio::spawn(rocket.launch());
    let port = rx.await.unwrap();
    (
        format!("http://127.0.0.1:{port}"),
        shutdown,
        db,
        issuer,
        config,
        clients,
    )
}

/// Opens the services the way the server does, without serving.
#[allow(dead_code)]
pub async fn open_services(figment: &Figment) -> Result<Services, platform::boot::StartupError> {
    let config = auth_server::config::AppConfig::from_figment(figment)?;
    Services::open(config).await
}

impl TestApp {
    /// Takes SQLite's write lock from outside the server (`BEGIN
    /// IMMEDIATE` on a connection of its own), so that the server's next
    /// write waits past its busy timeout; `ROLLBACK` on the connection lets
    /// go. `None` on PostgreSQL, which has no such lock.
    pub async fn hold_sqlite_write_lock(&self) -> Option<sqlx::sqlite::SqliteConnection> {
        use sqlx::Connection;
        if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres")) {
            return None;
        }
        let mut holder = sqlx::sqlite::SqliteConnection::connect(&self.database_url)
            .await
            .unwrap();
        sqlx::query("begin immediate")
            .execute(&mut holder)
            .await
            .unwrap();
        Some(holder)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_signup(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/signup"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Signs a user up and returns the response body.
    pub async fn signup(&self, email: &str) -> Value {
        let response = self
            .post_signup(&json!({"email": email, "password": PASSWORD, "name": "Ada Lovelace"}))
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    pub async fn post_token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url("/oauth/token"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_login(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url("/login"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A password-grant access token for `email`.
    pub async fn password_token(&self, email: &str) -> String {
        let response = self
            .post_token(&[
                ("grant_type", "password"),
                ("username", email),
                ("password", PASSWORD),
            ])
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_jwks(&self) -> Value {
        let response = self.get("/.well-known/jwks.json").await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

/// Decodes the JWS header and claims without verifying.
pub fn decode_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let header = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    let claims = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&header).unwrap(),
        serde_json::from_slice(&claims).unwrap(),
    )
}

/// Verifies `token` with the key of `jwks` whose `kid` the token names.
pub fn verify_with_jwks(token: &str, jwks: &Value) -> Result<Value, jsonwebtoken::errors::Error> {
    let (header, _) = decode_parts(token);
    let kid = header["kid"].as_str().unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("the token's kid is published");
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&["profile-api"]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation).map(|d| d.claims)
}
