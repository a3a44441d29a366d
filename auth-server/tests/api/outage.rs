//! The database goes away and comes back (PostgreSQL only: a TCP proxy in
//! front of it that the test stops and restarts). Meanwhile `/health` is
//! 200, `/ready` 503, the JWK Set served, and every request that needs the
//! database answers `503` with `Retry-After` within about a second; once
//! the database is back, the very next request succeeds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{PASSWORD, spawn_app_with};
use crate::oauth_support::{pkce_query, public_app};

/// A TCP proxy on 127.0.0.1 in front of PostgreSQL. `stop` closes the
/// listener and every connection it carries; `start` listens again on the
/// same port.
struct Proxy {
    port: u16,
    upstream: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn new(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy {
            port,
            upstream: upstream.to_owned(),
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Drops the listener and every established connection.
    fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    async fn start(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.port),
            }
        };
        self.serve(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn assert_unavailable_in_time(what: &str, started: Instant, response: &reqwest::Response) {
    let took = started.elapsed();
    assert_eq!(response.status(), 503, "{what}");
    assert!(
        took < Duration::from_millis(1500),
        "{what} took {took:?} to answer 503"
    );
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "{what}: Retry-After {retry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_down_requests_fail_fast_with_503_and_recover_at_once() {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("skipped: the outage test needs TEST_DATABASE_URL (PostgreSQL)");
        return;
    };
    if !admin_url.starts_with("postgres") {
        return;
    }
    let proxy = Proxy::new("127.0.0.1:5432").await;
    let port = proxy.port;
    let app = spawn_app_with(|figment| {
        let direct: String = figment.extract_inner("database_url").unwrap();
        let proxied = direct.replacen(":5432/", &format!(":{port}/"), 1);
        assert_ne!(direct, proxied, "TEST_DATABASE_URL must name port 5432");
        figment.merge(("database_url", proxied))
    })
    .await;
    app.signup("outage@example.com").await;
    let client = public_app(&app).await;
    let login = [("username", "outage@example.com"), ("password", PASSWORD)];
    assert_eq!(app.post_login(&login).await.status(), 200);

    proxy.stop();

    for attempt in 0..3 {
        let started = Instant::now();
        let response = app.post_login(&login).await;
        assert_unavailable_in_time("POST /login", started, &response);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["error"], "temporarily_unavailable",
            "attempt {attempt}"
        );
        assert!(body["error_description"].is_string());

        let started = Instant::now();
        let response = app
            .post_token(&[
                ("grant_type", "password"),
                ("username", "outage@example.com"),
                ("password", PASSWORD),
            ])
            .await;
        assert_unavailable_in_time("password grant", started, &response);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");

        let started = Instant::now();
        let response = app
            .post_signup(&json!({"email": format!("new{attempt}@example.com"), "password": PASSWORD, "name": "New"}))
            .await;
        assert_unavailable_in_time("POST /signup", started, &response);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], 503);
        assert!(!body.to_string().to_lowercase().contains("pool"));

        let started = Instant::now();
        let query = pkce_query(&client.id);
        let response = app
            .client
            .get(app.url("/oauth/authorize"))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_unavailable_in_time("GET /oauth/authorize", started, &response);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(response.headers()["referrer-policy"], "no-referrer");

        assert_eq!(app.get("/health").await.status(), 200);
        let started = Instant::now();
        assert_eq!(app.get("/ready").await.status(), 503);
        assert!(started.elapsed() < Duration::from_millis(2500));
        app.get_jwks().await;
    }

    proxy.start().await;
    // The very first requests after the return succeed.
    assert_eq!(app.post_login(&login).await.status(), 200);
    assert_eq!(app.get("/ready").await.status(), 200);
    let response = app
        .post_signup(&json!({"email": "new0@example.com", "password": PASSWORD, "name": "New"}))
        .await;
    assert_eq!(response.status(), 201, "a refused signup created nothing");
}

/// SQLite's one writer at a time: while another connection holds the write
/// lock past the busy timeout (1 s), a request that must write answers
/// `503` with `Retry-After`, never a wrong answer, and counts nothing; the
/// moment the lock is let go, it is served. Reads go on meanwhile (WAL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_kept_waiting_for_sqlites_lock_answers_503_and_changes_nothing() {
    use auth_server::store::throttle::{self, Attempt};
    let app = spawn_app_with(|figment| figment).await;
    app.signup("locked@example.com").await;
    let login = [("username", "locked@example.com"), ("password", PASSWORD)];
    let Some(mut holder) = app.hold_sqlite_write_lock().await else {
        return;
    };

    let started = Instant::now();
    let response = app.post_login(&login).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "it waited: {took:?}");
    assert!(
        took < Duration::from_millis(2500),
        "not much longer: {took:?}"
    );
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");

    let response = app
        .post_signup(&json!({"email": "late@example.com", "password": PASSWORD, "name": "Late"}))
        .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    // A read is served while the lock is held.
    let response = app
        .post_signup(&json!({"email": "locked@example.com", "password": PASSWORD, "name": "Again"}))
        .await;
    assert_eq!(response.status(), 409);

    sqlx::query("rollback").execute(&mut holder).await.unwrap();
    let attempt = Attempt::new("locked@example.com", Some([127, 0, 0, 1].into()));
    assert_eq!(
        throttle::pending(&app.db, &attempt.account_address)
            .await
            .unwrap(),
        None,
        "the refused login took no place"
    );
    assert_eq!(app.post_login(&login).await.status(), 200);
    let response = app
        .post_signup(&json!({"email": "late@example.com", "password": PASSWORD, "name": "Late"}))
        .await;
    assert_eq!(response.status(), 201, "the refused signup created nothing");
}
