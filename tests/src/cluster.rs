//! Several instances of one issuer: two auth-server processes on one
//! database with the same key-encryption key, each with its own key folder
//! that it never writes to, and two resource-servers, each fetching the
//! JWK Set from a different auth-server (API.md, "Running several
//! instances").
//!
//! Both auth-servers sign with one `ISSUER`, the public URL a load
//! balancer would have; the resource-servers are pointed at their
//! instance with `JWKS_URL`, so each half of the cluster is observed on its
//! own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tempfile::TempDir;

use crate::{
    AUDIENCE, PASSWORD, Service, TestDatabase, binary, passthrough_env, service::start_on_free_port,
};

/// The `iss` every instance signs: the address clients would use.
pub const CLUSTER_ISSUER: &str = "http://127.0.0.1:9/cluster";

/// Settings every auth-server instance of a cluster shares.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub jwks_max_age: u64,
    pub access_token_ttl: u64,
    pub key_rotation_interval: Option<u64>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            jwks_max_age: 1,
            access_token_ttl: 900,
            key_rotation_interval: None,
        }
    }
}

/// One auth-server instance of the cluster.
pub struct Instance {
    pub service: Service,
    pub keys_dir: PathBuf,
}

pub struct Cluster {
    // Field order is drop order: processes die before the database goes.
    pub resources: Vec<Service>,
    pub auths: Vec<Instance>,
    resource_databases: Vec<TestDatabase>,
    pub http: reqwest::Client,
    pub database: TestDatabase,
    pub kek: String,
    pub settings: ClusterSettings,
    pub dir: TempDir,
}

/// 32 random bytes, base64url: a key-encryption key.
pub fn random_kek() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("random bytes");
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Cluster {
    /// Starts `instances` auth-servers at the same moment on one fresh
    /// database, then one resource-server per auth-server.
    pub async fn start(instances: usize, settings: ClusterSettings) -> Cluster {
        Cluster::start_with_keys(instances, settings, |_| {}).await
    }

    /// As [`Cluster::start`], letting `prepare` put files in each key folder
    /// first (keys to import).
    pub async fn start_with_keys(
        instances: usize,
        settings: ClusterSettings,
        prepare: impl Fn(&Path),
    ) -> Cluster {
        let dir = TempDir::new().expect("temp dir");
        let database = TestDatabase::create(dir.path(), "auth.db").await;
        let kek = random_kek();
        let mut cluster = Cluster {
            resources: Vec::new(),
            auths: Vec::new(),
            resource_databases: Vec::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            database,
            kek,
            settings,
            dir,
        };
        let folders: Vec<(PathBuf, PathBuf)> = (0..instances)
            .map(|i| {
                let home = cluster.dir.path().join(format!("auth-{i}"));
                let keys_dir = home.join("keys");
                std::fs::create_dir_all(&keys_dir).expect("key folder");
                prepare(&keys_dir);
                read_only(&keys_dir);
                (home, keys_dir)
            })
            .collect();
        // All at the same moment: they race for the first key.
        let started = std::thread::scope(|scope| {
            let handles: Vec<_> = folders
                .iter()
                .map(|(home, keys_dir)| {
                    let env = cluster.auth_env(keys_dir);
                    scope.spawn(move || {
                        start_on_free_port("auth-server", &binary("auth-server"), home, &|_| {
                            env.clone()
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("auth-server started"))
                .collect::<Vec<_>>()
        });
        for (service, (_, keys_dir)) in started.into_iter().zip(folders) {
            cluster.auths.push(Instance { service, keys_dir });
        }
        for i in 0..instances {
            let (resource, database) = cluster.start_resource_server(i).await;
            cluster.resources.push(resource);
            cluster.resource_databases.push(database);
        }
        cluster
    }

    /// The settings of an auth-server instance with key folder `keys_dir`.
    pub fn auth_env(&self, keys_dir: &Path) -> Vec<(String, String)> {
        let mut env = vec![
            ("DATABASE_URL".to_owned(), self.database.url.clone()),
            ("KEYS_DIR".to_owned(), keys_dir.display().to_string()),
            ("KEY_ENCRYPTION_KEY".to_owned(), self.kek.clone()),
            ("ISSUER".to_owned(), CLUSTER_ISSUER.to_owned()),
            ("AUDIENCE".to_owned(), AUDIENCE.to_owned()),
            (
                "JWKS_MAX_AGE".to_owned(),
                self.settings.jwks_max_age.to_string(),
            ),
            (
                "ACCESS_TOKEN_TTL".to_owned(),
                self.settings.access_token_ttl.to_string(),
            ),
        ];
        // DPoP server nonces on: they only matter to requests with a proof,
        // and a nonce must be good at every instance (RFC 9449 §8).
        env.push(("DPOP_NONCE".to_owned(), "on".to_owned()));
        if let Some(interval) = self.settings.key_rotation_interval {
            env.push(("KEY_ROTATION_INTERVAL".to_owned(), interval.to_string()));
        }
        env
    }

    async fn start_resource_server(&self, i: usize) -> (Service, TestDatabase) {
        let home = self.dir.path().join(format!("resource-{i}"));
        std::fs::create_dir_all(&home).expect("resource folder");
        let database = TestDatabase::create(&home, "resource.db").await;
        let env = vec![
            ("DATABASE_URL".to_owned(), database.url.clone()),
            ("ISSUER".to_owned(), CLUSTER_ISSUER.to_owned()),
            (
                "JWKS_URL".to_owned(),
                self.auths[i].service.url("/.well-known/jwks.json"),
            ),
            ("AUDIENCE".to_owned(), AUDIENCE.to_owned()),
        ];
        let service = start_on_free_port(
            "resource-server",
            &binary("resource-server"),
            &home,
            &|_| env.clone(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.http.get(service.url("/ready")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return (service, database);
            }
            assert!(Instant::now() < deadline, "resource-server {i} not ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `auth-server ARGS…` on the command line, with the cluster's settings.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let keys_dir = self.dir.path().join("cli-keys");
        std::fs::create_dir_all(&keys_dir).expect("cli key folder");
        let mut child = Command::new(binary("auth-server"))
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .envs(passthrough_env())
            .envs(self.auth_env(&keys_dir))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run auth-server");
        if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("auth-server finishes")
    }

    /// `auth-server keys list --json`.
    pub fn keys(&self) -> Vec<Value> {
        let output = self.cli(&["keys", "list", "--json"], None);
        assert!(
            output.status.success(),
            "keys list: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout)
            .expect("keys list --json prints JSON")
            .as_array()
            .cloned()
            .expect("an array of keys")
    }

    /// A user made with `users create`, password [`PASSWORD`].
    pub fn create_user(&self) -> String {
        let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
        let output = self.cli(
            &["users", "create", "--email", &email, "--name", "Ada"],
            Some(&format!("{PASSWORD}\n")),
        );
        assert!(
            output.status.success(),
            "users create: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        email
    }

    /// `auth-server ARGS… --json` on the command line, which must succeed:
    /// what it prints.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let output = self.cli(&args, None);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("--json prints JSON")
    }

    /// A confidential client allowed client credentials; `(id, secret)`.
    pub fn create_service_client(&self) -> (String, String) {
        self.client_with(&[
            "--name",
            "introspector",
            "--grant",
            "client_credentials",
            "--scope",
            "profile:read",
        ])
    }

    /// A client registered from the command line with the admin API's
    /// scope, and an access token for it from instance `i`:
    /// `(id, secret, token)`.
    pub async fn operator(&self, i: usize) -> (String, String, String) {
        let (id, secret) = self.client_with(&[
            "--name",
            "Ops",
            "--grant",
            "client_credentials",
            "--scope",
            "admin",
        ]);
        let response = self
            .http
            .post(self.auth_url(i, "/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("token JSON");
        let token = body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        (id, secret, token)
    }

    /// A confidential client made by `clients create ARGS…`; `(id, secret)`.
    fn client_with(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["clients", "create"];
        all.extend_from_slice(args);
        let body = self.cli_json(&all);
        (
            body["client_id"].as_str().expect("client_id").to_owned(),
            body["client_secret"].as_str().expect("secret").to_owned(),
        )
    }

    pub fn auth_url(&self, i: usize, path: &str) -> String {
        self.auths[i].service.url(path)
    }

    /// The password grant at instance `i`: the response's JSON and status.
    pub async fn login(&self, i: usize, email: &str, password: &str) -> (u16, Value) {
        let response = self
            .http
            .post(self.auth_url(i, "/oauth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", email),
                ("password", password),
            ])
            .send()
            .await
            .expect("token request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// The JWK Set body instance `i` serves.
    pub async fn jwks(&self, i: usize) -> Value {
        self.http
            .get(self.auth_url(i, "/.well-known/jwks.json"))
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("jwks JSON")
    }

    /// `GET /profile/me` at resource-server `i`; the status.
    pub async fn profile_status(&self, i: usize, token: &str) -> u16 {
        self.http
            .get(self.resources[i].url("/profile/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("resource-server answers")
            .status()
            .as_u16()
    }
}

/// The folder is made read-only; tests also check afterwards that nothing
/// was written there, since root ignores the mode.
fn read_only(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
}

/// The names of the files in `dir`.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read folder")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
