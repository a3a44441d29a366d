//! The end-to-end harness: starts the real `auth-server` and
//! `resource-server` binaries on free loopback ports, each with its own
//! temporary folder, database and key folder, waits until they are ready,
//! and kills them (by PID, only the processes it started) when dropped.
//!
//! The binaries are the ones cargo built in the workspace target folder
//! (`CARGO_TARGET_DIR` or `<workspace>/target`, debug profile). `cargo test
//! --workspace` builds them because each of their packages has integration
//! tests; `cargo build --workspace --bins` does it explicitly.
//!
//! With `TEST_DATABASE_URL=postgres://…` set, every service of every test
//! gets a fresh PostgreSQL database (`t_<uuid>`), dropped afterwards;
//! otherwise a SQLite file in its temporary folder. `TEST_LOG=1` passes the
//! services' logs through to the test's standard error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod cluster;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const PASSWORD: &str = "violet-harbor-quantum-91x";
pub const AUDIENCE: &str = "profile-api";

/// How long a service may take from spawn to its "listening on" line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace's target folder, where cargo put the binaries.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The path of a workspace binary, or a panic that says how to build it.
pub fn binary(name: &str) -> PathBuf {
    let path = target_dir().join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// A free port on 127.0.0.1 at the time of asking. Another process may
/// take it before we do; [`Service::start`] retries on that.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A database for one service of one test.
pub struct TestDatabase {
    pub url: String,
    /// `(admin url, name)` of a PostgreSQL database to drop afterwards.
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(dir: &Path, file_name: &str) -> TestDatabase {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if admin_url.starts_with("postgres") => {
                use sqlx::Connection;
                let name = format!("t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("TEST_DATABASE_URL must accept connections");
                // The name is a UUID of ours, never input.
                sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .unwrap_or_else(|| admin_url.clone());
                TestDatabase {
                    url: format!("{base}/{name}"),
                    postgres: Some((admin_url, name)),
                }
            }
            _ => TestDatabase {
                url: format!("sqlite://{}", dir.join(file_name).display()),
                postgres: None,
            },
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime; a thread with its own runtime
        // can block on the statement. Services are gone by now (they are
        // dropped first); `with (force)` covers stragglers.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "drop database if exists {name} with (force)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// A running service binary.
pub struct Service {
    pub name: &'static str,
    pub base_url: String,
    pub port: u16,
    /// Where its standard error goes (unless `TEST_LOG` passes it through).
    pub stderr_log: PathBuf,
    child: Child,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Service {
    /// Spawns `binary serve` in `cwd` with exactly `env` (plus PATH and
    /// HOME) and `ROCKET_PORT=port`, and waits for its "listening on" line.
    /// Returns the process's last words when it exits first (a taken port).
    pub fn start(
        name: &'static str,
        binary: &Path,
        cwd: &Path,
        env: &[(String, String)],
        port: u16,
    ) -> Result<Service, String> {
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .current_dir(cwd)
            .env_clear()
            .envs(passthrough_env())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("ROCKET_ADDRESS", "127.0.0.1")
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_CLI_COLORS", "false");
        Service::spawn(name, command, cwd)
    }

    /// Spawns `command` with its standard error in `<cwd>/<name>.stderr.log`,
    /// and waits for the `NAME listening on http://…` line on its standard
    /// output, which gives its address.
    pub fn spawn(name: &'static str, mut command: Command, cwd: &Path) -> Result<Service, String> {
        command.stdin(Stdio::null()).stdout(Stdio::piped());
        let log = std::env::var_os("TEST_LOG").is_some();
        let stderr_path = cwd.join(format!("{name}.stderr.log"));
        if log {
            command.stderr(Stdio::inherit());
        } else {
            let file = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
            command.stderr(file);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (lines, announced) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining so the child never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match announced.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(at) = line.find("listening on http://") {
                        let base_url = line[at + "listening on ".len()..].trim().to_owned();
                        let port = base_url
                            .rsplit(':')
                            .next()
                            .and_then(|port| port.parse().ok())
                            .ok_or_else(|| format!("{name} announced no port: {line}"))?;
                        return Ok(Service {
                            name,
                            base_url,
                            port,
                            stderr_log: stderr_path,
                            child,
                        });
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
                return Err(format!(
                    "{name} exited with {status} before listening: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{name} did not announce itself within {START_TIMEOUT:?}"
                ));
            }
        }
    }

    /// What it wrote to standard error so far (empty with `TEST_LOG`).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Kills the process (by its PID) and reaps it.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// The process id, to read its `/proc/<pid>/status` or signal it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

pub fn passthrough_env() -> Vec<(String, String)> {
    ["PATH", "HOME", "TMPDIR", "RUST_LOG"]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_owned(), v)))
        .collect()
}

/// Starts a service on a fresh free port, retrying when the port was
/// taken between asking and binding.
pub(crate) fn start_on_free_port(
    name: &'static str,
    binary: &Path,
    cwd: &Path,
    env: &dyn Fn(u16) -> Vec<(String, String)>,
) -> Service {
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port();
        match Service::start(name, binary, cwd, &env(port), port) {
            Ok(service) => return service,
            Err(error) => last_error = error,
        }
    }
    panic!("{last_error}");
}

/// The auth-server with its folder, key folder and database.
pub struct AuthServer {
    pub service: Service,
    pub dir: PathBuf,
    pub keys_dir: PathBuf,
    pub database_url: String,
    /// What `ISSUER` has after the origin, as the operator wrote it.
    issuer_suffix: &'static str,
    /// Settings of the test's own ([`StackOptions::auth_env`]).
    extra_env: Vec<(String, String)>,
}

impl AuthServer {
    fn env(&self, port: u16) -> Vec<(String, String)> {
        let mut env = auth_env(&self.keys_dir, &self.database_url, port, self.issuer_suffix);
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// The `auth-server` binary with the server's own settings, to run an
    /// administration subcommand.
    pub fn command(&self) -> Command {
        let mut command = Command::new(binary("auth-server"));
        command
            .current_dir(&self.dir)
            .env_clear()
            .envs(passthrough_env())
            .envs(self.env(self.service.port))
            .stdin(Stdio::null());
        command
    }

    /// The issuer as it appears in tokens and discovery.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.service.port)
    }

    /// Kills it; the resource-server must keep serving from its cache.
    pub fn stop(&mut self) {
        self.service.stop();
    }

    /// Starts it again on the same port (so the issuer URL is unchanged),
    /// retrying while the port is still being released.
    pub fn restart(&mut self) {
        self.service.stop();
        let port = self.service.port;
        let mut last_error = String::new();
        for _ in 0..20 {
            match Service::start(
                "auth-server",
                &binary("auth-server"),
                &self.dir,
                &self.env(port),
                port,
            ) {
                Ok(service) => {
                    self.service = service;
                    return;
                }
                Err(error) => {
                    last_error = error;
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
        panic!("cannot restart the auth-server on port {port}: {last_error}");
    }

    /// `auth-server users create --email E --name N [--admin]`, password on
    /// standard input, with the server's own settings.
    pub fn create_user(&self, email: &str, name: &str, admin: bool) {
        let mut command = Command::new(binary("auth-server"));
        command
            .args(["users", "create", "--email", email, "--name", name])
            .current_dir(&self.dir)
            .env_clear()
            .envs(passthrough_env())
            .envs(self.env(self.service.port))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if admin {
            command.arg("--admin");
        }
        let mut child = command.spawn().expect("run auth-server users create");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .expect("write the password");
        let output = child.wait_with_output().expect("users create finishes");
        assert!(
            output.status.success(),
            "users create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The key files given to the issuer to import (PKCS#8 PEM), newest
    /// last; the issuer keeps its keys in its database.
    pub fn key_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&self.keys_dir)
            .expect("read KEYS_DIR")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("pem"))
            .map(|p| (p.metadata().and_then(|m| m.modified()).expect("mtime"), p))
            .collect();
        files.sort();
        files.into_iter().map(|(_, p)| p).collect()
    }
}

fn auth_env(
    keys_dir: &Path,
    database_url: &str,
    port: u16,
    issuer_suffix: &str,
) -> Vec<(String, String)> {
    vec![
        ("DATABASE_URL".into(), database_url.into()),
        ("KEYS_DIR".into(), keys_dir.display().to_string()),
        (
            "ISSUER".into(),
            format!("http://127.0.0.1:{port}{issuer_suffix}"),
        ),
        ("AUDIENCE".into(), AUDIENCE.into()),
    ]
}

/// Both services, wired together, each with its own database.
pub struct Stack {
    // Field order is drop order: services die before their databases go.
    pub resource: Service,
    pub auth: AuthServer,
    pub http: reqwest::Client,
    _auth_db: TestDatabase,
    _resource_db: TestDatabase,
    _dir: TempDir,
}

/// How a [`Stack`] is started, where a test needs other settings.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// `ISSUER` of both services written with a trailing `/`, as an
    /// operator might copy it from a browser.
    pub issuer_trailing_slash: bool,
    /// More settings of the auth-server (`JWKS_MAX_AGE`, …), kept across
    /// restarts and given to its subcommands.
    pub auth_env: Vec<(String, String)>,
}

/// Starts the auth-server, then the resource-server trusting it, and waits
/// until the resource-server is ready (its JWKS is loaded).
pub async fn spawn_stack() -> Stack {
    spawn_stack_with(StackOptions::default()).await
}

/// [`spawn_stack`] with `options`.
pub async fn spawn_stack_with(options: StackOptions) -> Stack {
    let issuer_suffix = if options.issuer_trailing_slash {
        "/"
    } else {
        ""
    };
    let dir = TempDir::new().expect("temp dir");
    let auth_dir = dir.path().join("auth");
    let resource_dir = dir.path().join("resource");
    std::fs::create_dir_all(&auth_dir).expect("auth dir");
    std::fs::create_dir_all(&resource_dir).expect("resource dir");
    let keys_dir = auth_dir.join("keys");
    // The issuer's keys live in its database, sealed; tests that forge
    // tokens under its signature need the private key, so the stack hands
    // it one to import (the upgrade path from key files), dated a minute
    // back so that a key added later is the newer one.
    std::fs::create_dir_all(&keys_dir).expect("keys dir");
    let seeded = ForgingKey::generate().write_to(&keys_dir, Duration::ZERO);
    std::fs::File::options()
        .write(true)
        .open(&seeded)
        .and_then(|f| f.set_modified(shared::clock::system_time() - Duration::from_secs(60)))
        .expect("date the seeded key");
    let auth_db = TestDatabase::create(&auth_dir, "auth.db").await;
    let resource_db = TestDatabase::create(&resource_dir, "resource.db").await;

    // The resource-server's port is chosen first so that the auth-server can
    // allow its origin (CORS), as Swagger UI's Authorize in /docs needs.
    let resource_port = free_port();
    let resource_origin = format!("http://127.0.0.1:{resource_port}");
    let auth_service = {
        let keys_dir = keys_dir.clone();
        let url = auth_db.url.clone();
        let extra = options.auth_env.clone();
        start_on_free_port(
            "auth-server",
            &binary("auth-server"),
            &auth_dir,
            &move |port| {
                let mut env = auth_env(&keys_dir, &url, port, issuer_suffix);
                env.push(("CORS_ALLOWED_ORIGINS".into(), resource_origin.clone()));
                env.extend(extra.iter().cloned());
                env
            },
        )
    };
    let auth = AuthServer {
        service: auth_service,
        dir: auth_dir,
        keys_dir,
        database_url: auth_db.url.clone(),
        issuer_suffix,
        extra_env: options.auth_env,
    };
    let issuer = auth.issuer();
    let resource = {
        let env = vec![
            ("DATABASE_URL".into(), resource_db.url.clone()),
            ("ISSUER".into(), format!("{issuer}{issuer_suffix}")),
            ("AUDIENCE".into(), AUDIENCE.into()),
        ];
        let binary = binary("resource-server");
        // The port picked above, unless another process took it meanwhile.
        Service::start(
            "resource-server",
            &binary,
            &resource_dir,
            &env,
            resource_port,
        )
        .unwrap_or_else(|_| {
            start_on_free_port("resource-server", &binary, &resource_dir, &move |_| {
                env.clone()
            })
        })
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    let stack = Stack {
        resource,
        auth,
        http,
        _auth_db: auth_db,
        _resource_db: resource_db,
        _dir: dir,
    };
    stack.wait_until_ready().await;
    stack
}

/// A user of the stack: who they are and a token.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub token: String,
}

impl Stack {
    async fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.http.get(self.resource.url("/ready")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "resource-server not ready within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `POST /signup`; returns the new user's id.
    pub async fn signup(&self, email: &str, name: &str) -> String {
        let response = self
            .http
            .post(self.auth.service.url("/signup"))
            .json(&json!({"email": email, "password": PASSWORD, "name": name}))
            .send()
            .await
            .expect("signup request");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        assert_eq!(status, 201, "signup: {body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// The password grant at `POST /oauth/token`.
    pub async fn login(&self, email: &str) -> String {
        let response = self
            .http
            .post(self.auth.service.url("/oauth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", email),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .expect("token request");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        assert_eq!(status, 200, "token: {body}");
        assert_eq!(body["token_type"], "Bearer");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A fresh user, signed up and logged in.
    pub async fn new_user(&self) -> User {
        let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
        let name = "Ada Lovelace".to_owned();
        let id = self.signup(&email, &name).await;
        let token = self.login(&email).await;
        User {
            id,
            email,
            name,
            token,
        }
    }

    /// An admin made with `auth-server users create --admin`, logged in.
    pub async fn new_admin(&self) -> User {
        let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
        let name = "Grace Hopper".to_owned();
        self.auth.create_user(&email, &name, true);
        let token = self.login(&email).await;
        let id = claims_of(&token)["sub"].as_str().expect("sub").to_owned();
        User {
            id,
            email,
            name,
            token,
        }
    }

    /// `GET path` at the resource-server with `Authorization: Bearer token`.
    pub async fn get_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.get_with_authorization(path, &format!("Bearer {token}"))
            .await
    }

    pub async fn get_with_authorization(
        &self,
        path: &str,
        authorization: &str,
    ) -> reqwest::Response {
        self.http
            .get(self.resource.url(path))
            .header("Authorization", authorization)
            .send()
            .await
            .expect("resource-server answers")
    }

    pub async fn get_profile_me(&self, token: &str) -> reqwest::Response {
        self.get_with_token("/profile/me", token).await
    }

    pub async fn patch_profile_me(&self, token: &str, body: &Value) -> reqwest::Response {
        self.http
            .patch(self.resource.url("/profile/me"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("resource-server answers")
    }

    /// The issuer's current signing key, read from its key folder.
    pub fn issuer_key(&self) -> ForgingKey {
        let newest = self.auth.key_files().pop().expect("a key file");
        ForgingKey::from_pem_file(&newest)
    }
}

/// The JSON of a token's header (0) or claims (1), without checking it.
/// Undoes the HTML escaping of an attribute value: named or numeric
/// character references, `&` last so nothing is decoded twice.
pub fn unescape_html(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

pub fn part_of(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("token part");
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

pub fn header_of(token: &str) -> Value {
    part_of(token, 0)
}

pub fn claims_of(token: &str) -> Value {
    part_of(token, 1)
}

/// A private key to sign tokens with: the issuer's own (read from its key
/// folder) to forge bad claims under a good signature, or an attacker's.
pub struct ForgingKey {
    pub pem: String,
    pub encoding: EncodingKey,
    pub kid: String,
    /// Modulus, base64url.
    pub n: String,
    pub e: String,
}

impl ForgingKey {
    pub fn from_pem_file(path: &Path) -> ForgingKey {
        let pem = std::fs::read_to_string(path).expect("read the key file");
        ForgingKey::from_pem(pem)
    }

    pub fn from_pem(pem: String) -> ForgingKey {
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA PEM");
        let public = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::RS256)
            .expect("public components");
        let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = public.algorithm else {
            panic!("not an RSA key")
        };
        let kid = shared::jwk::rsa_thumbprint(&rsa.n, &rsa.e);
        ForgingKey {
            pem,
            encoding,
            kid,
            n: rsa.n,
            e: rsa.e,
        }
    }

    /// A new 2048-bit key made with the `rsa` crate, as the issuer makes them.
    pub fn generate() -> ForgingKey {
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        let private =
            rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("generate an RSA key");
        let pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PKCS#8 PEM")
            .to_string();
        ForgingKey::from_pem(pem)
    }

    /// The public key as SPKI PEM, as an attacker would find it.
    pub fn public_pem(&self) -> String {
        use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        let private = rsa::PrivateKey::from_pkcs8_pem(&self.pem).expect("parse PEM");
        private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("public PEM")
    }

    /// The issuer's header for this key.
    pub fn header(&self) -> Value {
        json!({"alg": "RS256", "typ": "at+jwt", "kid": self.kid})
    }

    /// RS256 over any header and claims.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, Algorithm::RS256)
                .expect("sign");
        format!("{input}.{signature}")
    }

    /// Writes the key as `<kid>.pem`, mode 0600, into `dir`, with a
    /// modification time `ahead` in the future so it is the newest.
    pub fn write_to(&self, dir: &Path, ahead: Duration) -> PathBuf {
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(format!("{}.pem", self.kid));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("create the key file");
        file.write_all(self.pem.as_bytes()).expect("write the key");
        file.set_modified(shared::clock::system_time() + ahead)
            .expect("set mtime");
        path
    }
}

pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// An HS256 token keyed with `secret`, the algorithm-confusion attack.
pub fn sign_hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = signing_input(header, claims);
    let signature = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .expect("sign");
    format!("{input}.{signature}")
}

/// Seconds since the epoch, for forging time claims.
pub fn now() -> i64 {
    use shared::clock::Clock;
    shared::clock::SystemClock.now()
}
