//! Token exchange and the device grant across two instances of one issuer
//! (API.md, "Running several instances"): a device code started at A is
//! approved through B's pages and polled at A, its interval shared; a
//! token exchanged at B dies when its subject's family is revoked at A.

use std::collections::BTreeMap;

use e2e::cluster::{Cluster, ClusterSettings};
use e2e::{PASSWORD, Service, binary, claims_of, passthrough_env, spawn_stack};
use serde_json::Value;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// `clients create ARGS… --json`: the printed client.
fn create_client(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = vec!["clients", "create"];
    all.extend_from_slice(args);
    all.push("--json");
    let output = cluster.cli(&all, None);
    assert!(
        output.status.success(),
        "clients create: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

async fn poll(cluster: &Cluster, i: usize, client_id: &str, device_code: &str) -> (u16, Value) {
    let response = cluster
        .http
        .post(cluster.auth_url(i, "/oauth/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("client_id", client_id),
            ("device_code", device_code),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The value of a hidden input.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the field") + marker.len();
    let end = html[start..].find('"').expect("its end") + start;
    html[start..end].to_owned()
}

/// A browser on one server's `/oauth/device` pages.
pub struct Browser<'a> {
    http: &'a reqwest::Client,
    /// The page's URL.
    url: String,
    cookies: BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    pub fn new(http: &'a reqwest::Client, url: String) -> Browser<'a> {
        Browser {
            http,
            url,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie(&self) -> String {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> (u16, String) {
        let response = request
            .header("cookie", self.cookie())
            .send()
            .await
            .unwrap();
        for value in response.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn post(&mut self, form: &[(&str, &str)]) -> (u16, String) {
        let request = self.http.post(&self.url).form(form);
        self.send(request).await
    }

    /// Opens the page with `user_code`, signs `email` in and allows the
    /// device; the consent page's HTML.
    pub async fn approve(&mut self, user_code: &str, email: &str) -> String {
        let request = self.http.get(&self.url).query(&[("user_code", user_code)]);
        let (status, page) = self.send(request).await;
        assert_eq!(status, 200);
        let csrf = hidden(&page, "csrf");
        let (status, sign_in) = self
            .post(&[
                ("csrf", &csrf),
                ("action", "code"),
                ("user_code", user_code),
            ])
            .await;
        assert_eq!(status, 200, "{sign_in}");
        let code = hidden(&sign_in, "user_code");
        let (status, consent) = self
            .post(&[
                ("csrf", &csrf),
                ("action", "login"),
                ("user_code", &code),
                ("username", email),
                ("password", PASSWORD),
            ])
            .await;
        assert_eq!(status, 200, "{consent}");
        let (status, done) = self
            .post(&[("csrf", &csrf), ("action", "approve"), ("user_code", &code)])
            .await;
        assert_eq!(status, 200);
        assert!(done.contains("Device connected"), "{done}");
        consent
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_started_at_one_instance_is_approved_at_the_other() {
    let cluster = Cluster::start(2, ClusterSettings::default()).await;
    let email = cluster.create_user();
    let tv = create_client(
        &cluster,
        &[
            "--name",
            "TV",
            "--public",
            "--grant",
            "device_code",
            "--scope",
            "profile:read",
        ],
    );
    let tv_id = tv["client_id"].as_str().unwrap();
    let response = cluster
        .http
        .post(cluster.auth_url(0, "/oauth/device_authorization"))
        .form(&[("client_id", tv_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let started: Value = response.json().await.unwrap();
    let device_code = started["device_code"].as_str().unwrap();
    let user_code = started["user_code"].as_str().unwrap();

    let (status, body) = poll(&cluster, 0, tv_id, device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    // The interval is the database's: polling B at once is too soon.
    let (status, body) = poll(&cluster, 1, tv_id, device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("slow_down")));

    let mut browser = Browser::new(&cluster.http, cluster.auth_url(1, "/oauth/device"));
    let consent = browser.approve(user_code, &email).await;
    assert!(
        consent.contains("TV") && consent.contains("profile:read"),
        "{consent}"
    );

    // Approved: the next poll, at A, gets the tokens, and only that one.
    let (status, tokens) = poll(&cluster, 0, tv_id, device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        claims_of(tokens["access_token"].as_str().unwrap())["client_id"],
        tv_id
    );
    let (status, body) = poll(&cluster, 1, tv_id, device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_exchanged_at_one_instance_dies_with_its_family_revoked_at_the_other() {
    let cluster = Cluster::start(2, ClusterSettings::default()).await;
    let email = cluster.create_user();
    let orders = create_client(
        &cluster,
        &[
            "--name",
            "orders",
            "--grant",
            "token-exchange",
            "--scope",
            "profile:read",
            "--audience",
            "billing",
        ],
    );
    let orders = (
        orders["client_id"].as_str().unwrap().to_owned(),
        orders["client_secret"].as_str().unwrap().to_owned(),
    );
    let (status, login) = cluster.login(0, &email, PASSWORD).await;
    assert_eq!(status, 200);
    let subject = login["access_token"].as_str().unwrap();

    let response = cluster
        .http
        .post(cluster.auth_url(1, "/oauth/token"))
        .basic_auth(&orders.0, Some(&orders.1))
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("audience", "billing"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let exchanged: Value = response.json().await.unwrap();
    let token = exchanged["access_token"].as_str().unwrap();
    let claims = claims_of(token);
    assert_eq!(claims["aud"], "billing");
    assert_eq!(claims["act"]["sub"], orders.0.as_str());

    let introspect = |i: usize| {
        let request = cluster
            .http
            .post(cluster.auth_url(i, "/oauth/introspect"))
            .basic_auth(&orders.0, Some(&orders.1))
            .form(&[("token", token)]);
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            body["active"].as_bool().unwrap()
        }
    };
    assert!(introspect(0).await);
    let response = cluster
        .http
        .post(cluster.auth_url(0, "/oauth/revoke"))
        .form(&[("token", login["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(!introspect(0).await);
    assert!(!introspect(1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_example_reads_its_callers_profile_with_an_exchanged_token() {
    let stack = spawn_stack().await;
    let user = stack.new_user().await;
    let client = stack.auth.create_client(&[
        "--name",
        "axum-service",
        "--grant",
        "token-exchange",
        "--scope",
        "profile:read",
        "--audience",
        e2e::AUDIENCE,
    ]);
    let client_id = client["client_id"].as_str().unwrap();

    let dir = tempfile::TempDir::new().unwrap();
    let mut command = std::process::Command::new(binary("axum-service"));
    command
        .current_dir(dir.path())
        .env_clear()
        .envs(passthrough_env())
        .env("ISSUER", stack.auth.issuer())
        .env("AUDIENCE", e2e::AUDIENCE)
        .env("LISTEN", "127.0.0.1:0")
        .env("EXCHANGE_CLIENT_ID", client_id)
        .env(
            "EXCHANGE_CLIENT_SECRET",
            client["client_secret"].as_str().unwrap(),
        )
        .env("PROFILE_URL", stack.resource.url("/profile/me"));
    let example = Service::spawn("axum-service", command, dir.path()).unwrap();

    let response = stack
        .http
        .get(example.url("/profile"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["profile"]["id"], user.id.as_str(), "{body}");
    // The profile API saw a narrower token naming the example as the actor.
    assert_eq!(body["exchanged"]["client_id"], client_id);
    assert_eq!(body["exchanged"]["scope"], "profile:read");
    assert_eq!(body["exchanged"]["act"]["sub"], client_id);
    assert_eq!(
        claims_of(&user.token)["scope"],
        "profile:read profile:write"
    );

    // Without a valid caller token the example never asks the issuer.
    let response = stack
        .http
        .get(example.url("/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}
