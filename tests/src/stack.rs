//! Both services wired together, each with its own database ([`Stack`]),
//! and the users the tests sign up on it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::auth_server::{AuthServer, auth_env};
use crate::service::{Service, TestDatabase, binary, free_port, start_on_free_port};
use crate::tokens::{ForgingKey, claims_of};
use crate::{AUDIENCE, PASSWORD};

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
