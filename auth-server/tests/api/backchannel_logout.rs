//! OpenID Connect Back-Channel Logout 1.0 (API.md, "Back-channel logout"):
//! the `sid` of id_tokens, the logout token a client's receiver gets when
//! the session ends (logout, the user deleted, their rights changed), and
//! the queue behind it: off the request path, retried with backoff for an
//! hour, bounded, delivered once however many instances share it, never
//! following a redirect nor reading a huge answer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_server::grant_type::GrantType;
use auth_server::store::clients::{ClientAuth, ClientMetadata, NewClient};
use auth_server::store::events::{self, Event, Filter, StoredEvent};
use auth_server::store::users::{self, UserChanges};
use serde_json::{Value, json};
use shared::scope::ScopeSet;
use sqlx::Row;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{ISSUER, TestApp, decode_parts, launch, spawn_app, test_figment};
use crate::oauth_support::*;
use crate::oidc::{EMAIL, authorize_with_cookie, query_with, sign_in, tokens_for};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How a test receiver answers.
#[derive(Clone)]
enum Answer {
    Ok,
    Status(u16),
    /// Takes this long before answering 200.
    Slow(Duration),
    /// 302 to this URL.
    Redirect(String),
    /// 200 with a 100 MiB body.
    Huge,
}

/// A request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Received {
    fn logout_token(&self) -> String {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(pairs.len(), 1, "one parameter: {:?}", self.body);
        assert_eq!(pairs[0].0, "logout_token");
        pairs[0].1.clone()
    }
}

/// A client's back-channel logout endpoint: a tiny HTTP server on a random
/// loopback port that records every request.
struct Receiver {
    uri: String,
    got: Arc<Mutex<Vec<Received>>>,
    /// Bytes of a huge answer written before the client hung up.
    written: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(answer: Answer) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(AtomicUsize::new(0));
        let (recorded, counted) = (got.clone(), written.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (answer, recorded, counted) =
                    (answer.clone(), recorded.clone(), counted.clone());
                tokio::spawn(async move {
                    serve_one(stream, answer, recorded, counted).await;
                });
            }
        });
        Receiver {
            uri: format!("http://{address}/backchannel?tenant=a"),
            got,
            written,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests came (at most `limit`).
    async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{n} deliveries expected, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn serve_one(
    mut stream: tokio::net::TcpStream,
    answer: Answer,
    recorded: Arc<Mutex<Vec<Received>>>,
    written: Arc<AtomicUsize>,
) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let method = lines
        .next()
        .unwrap_or_default()
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buffer[head_end..]).into_owned();
    recorded.lock().unwrap().push(Received {
        method,
        headers,
        body,
    });
    let reply = |status: &str, extra: &str| {
        format!("HTTP/1.1 {status}\r\n{extra}content-length: 0\r\nconnection: close\r\n\r\n")
    };
    match answer {
        Answer::Ok => {
            let _ = stream.write_all(reply("200 OK", "").as_bytes()).await;
        }
        Answer::Status(code) => {
            let status = format!("{code} Failing");
            let _ = stream.write_all(reply(&status, "").as_bytes()).await;
        }
        Answer::Slow(wait) => {
            tokio::time::sleep(wait).await;
            let _ = stream.write_all(reply("200 OK", "").as_bytes()).await;
        }
        Answer::Redirect(to) => {
            let location = format!("location: {to}\r\n");
            let _ = stream
                .write_all(reply("302 Found", &location).as_bytes())
                .await;
        }
        Answer::Huge => {
            const TOTAL: usize = 100 * 1024 * 1024;
            let head =
                format!("HTTP/1.1 200 OK\r\ncontent-length: {TOTAL}\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let block = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < TOTAL {
                if stream.write_all(&block).await.is_err() {
                    break;
                }
                sent += block.len();
                written.store(sent, Ordering::SeqCst);
            }
        }
    }
    let _ = stream.shutdown().await;
}

/// A public OpenID client whose back-channel logout endpoint is `uri`.
async fn backchannel_client(app: &TestApp, uri: Option<&str>) -> RegisteredClient {
    let (id, secret) = app
        .clients
        .create(&backchannel_registration(uri), 0)
        .await
        .unwrap();
    RegisteredClient { id, secret }
}

fn backchannel_registration(uri: Option<&str>) -> NewClient {
    NewClient {
        public: true,
        metadata: ClientMetadata {
            name: "Back-channel App".into(),
            first_party: false,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: ScopeSet::parse("openid profile:read"),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
            audiences: vec![],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: uri.map(str::to_owned),
        },
    }
}

/// Signs in through the page with `openid`; the session cookie and the
/// token response.
async fn session_with_tokens(app: &TestApp, client: &RegisteredClient) -> (String, Value) {
    let (session, redirect) = sign_in(app, &query_with(&client.id, &[("scope", "openid")])).await;
    let tokens = tokens_for(app, client, &redirect).await;
    (session, tokens)
}

fn id_token_sid(tokens: &Value) -> String {
    let (_, claims) = decode_parts(tokens["id_token"].as_str().unwrap());
    claims["sid"]
        .as_str()
        .expect("the id_token has a sid")
        .to_owned()
}

/// RP-Initiated Logout with the id_token as hint: ends the session at once.
async fn logout(app: &TestApp, session: &str, tokens: &Value) -> reqwest::Response {
    app.client
        .get(app.url("/oauth/logout"))
        .query(&[("id_token_hint", tokens["id_token"].as_str().unwrap())])
        .header("cookie", session)
        .send()
        .await
        .unwrap()
}

/// The queue's rows: (id, attempts, next_attempt_at, enqueued_at).
async fn queued(app: &TestApp) -> Vec<(String, i64, i64, i64)> {
    let rows = sqlx::query(
        "select id, attempts, next_attempt_at, enqueued_at from logout_deliveries order by enqueued_at, id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.get::<String, _>("id"),
                r.get::<i64, _>("attempts"),
                r.get::<i64, _>("next_attempt_at"),
                r.get::<i64, _>("enqueued_at"),
            )
        })
        .collect()
}

/// Waits until the queue satisfies `done` (at most `limit`).
async fn wait_for_queue(
    app: &TestApp,
    limit: Duration,
    done: impl Fn(&[(String, i64, i64, i64)]) -> bool,
) -> Vec<(String, i64, i64, i64)> {
    let deadline = Instant::now() + limit;
    loop {
        let rows = queued(app).await;
        if done(&rows) {
            return rows;
        }
        assert!(Instant::now() < deadline, "the queue stayed {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn events_of(app: &TestApp, kind: &str) -> Vec<StoredEvent> {
    let filter = Filter {
        kind: Some(kind.to_owned()),
        limit: 1000,
        ..Filter::default()
    };
    events::list(&app.db, &filter).await.unwrap()
}

/// Checks a logout token as a relying party must (§2.6): the signature by
/// a published key, its header, and exactly the claims of §2.4.
fn verify_logout_token(token: &str, client_id: &str, jwks: &Value) -> Value {
    let (header, _) = decode_parts(token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "logout+jwt");
    let kid = header["kid"].as_str().unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("signed by a published key");
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[client_id]);
    let claims = jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .expect("the signature verifies")
        .claims;
    let names: BTreeSet<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["iss", "aud", "iat", "exp", "jti", "sub", "sid", "events"]),
        "exactly the claims of §2.4, never a nonce"
    );
    assert_eq!(claims["aud"], client_id);
    assert_eq!(claims["events"], json!({ EVENT: {} }));
    let iat = claims["iat"].as_i64().unwrap();
    assert!((iat - shared::clock::unix_now()).abs() <= 5);
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 120);
    claims
}

#[tokio::test]
async fn a_logout_sends_the_client_a_signed_logout_token_naming_the_session() {
    let app = spawn_app().await;
    let user = app.signup(EMAIL).await;
    let receiver = Receiver::start(Answer::Ok).await;
    let client = backchannel_client(&app, Some(&receiver.uri)).await;
    // A client without a back channel that got tokens in another session.
    let quiet = backchannel_client(&app, None).await;
    let (_, quiet_tokens) = session_with_tokens(&app, &quiet).await;
    assert!(quiet_tokens["id_token"].is_string());

    let (session, tokens) = session_with_tokens(&app, &client).await;
    let sid = id_token_sid(&tokens);
    assert_ne!(sid, id_token_sid(&quiet_tokens), "one sid per session");
    assert!(!session.contains(&sid), "the sid is not the cookie");
    // A refresh keeps the session's sid.
    let refreshed = post_form(
        &app,
        "/oauth/token",
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_eq!(id_token_sid(&refreshed), sid);
    // A later authorization riding the session carries the same sid.
    let none = query_with(&client.id, &[("scope", "openid"), ("prompt", "none")]);
    let again = authorize_with_cookie(&app, &none, &session).await;
    let again = tokens_for(&app, &client, &again).await;
    assert_eq!(id_token_sid(&again), sid);
    assert!(receiver.received().is_empty(), "nothing before the logout");

    let response = logout(&app, &session, &tokens).await;
    assert_eq!(response.status(), 200);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let post = &got[0];
    assert_eq!(post.method, "POST");
    assert_eq!(
        post.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let token = post.logout_token();
    let claims = verify_logout_token(&token, &client.id, &app.get_jwks().await);
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["sid"], sid.as_str());
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    // Delivered: the row is gone, the event recorded (never the token).
    wait_for_queue(&app, Duration::from_secs(5), |rows| rows.is_empty()).await;
    let delivered = events_of(&app, "logout_token_delivered").await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].client_id.as_deref(), Some(client.id.as_str()));
    assert_eq!(delivered[0].subject, user["id"].as_str().map(str::to_owned));
    assert_eq!(delivered[0].details["jti"], claims["jti"]);
    assert_eq!(delivered[0].details["sid"], sid.as_str());
    let all = events::list(
        &app.db,
        &Filter {
            limit: 1000,
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    let stored = serde_json::to_string(&all).unwrap();
    assert!(!stored.contains(&token), "no event holds the token");
    // Only that client was told, and only once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn the_logout_page_does_not_wait_for_a_slow_receiver() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let receiver = Receiver::start(Answer::Slow(Duration::from_secs(10))).await;
    let client = backchannel_client(&app, Some(&receiver.uri)).await;
    let (session, tokens) = session_with_tokens(&app, &client).await;
    let started = Instant::now();
    let response = logout(&app, &session, &tokens).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("signed out"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the page answered at once: {:?}",
        started.elapsed()
    );
    // The receiver is reached, then given up on after the 5 s budget: the
    // delivery is retried later.
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let rows = wait_for_queue(&app, Duration::from_secs(10), |rows| {
        rows.len() == 1 && rows[0].1 == 1 && rows[0].2 - shared::clock::unix_now() <= 10
    })
    .await;
    assert_eq!(rows[0].1, 1);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_backoff_and_dropped_after_an_hour() {
    let app = spawn_app().await;
    let user = app.signup(EMAIL).await;
    let receiver = Receiver::start(Answer::Status(500)).await;
    let client = backchannel_client(&app, Some(&receiver.uri)).await;
    let (session, tokens) = session_with_tokens(&app, &client).await;
    assert_eq!(logout(&app, &session, &tokens).await.status(), 200);

    // The first attempt fails; the next is 5 s later.
    let rows = wait_for_queue(&app, Duration::from_secs(10), |rows| {
        rows.len() == 1 && rows[0].1 == 1 && rows[0].2 < rows[0].3 + 30
    })
    .await;
    let (id, _, next, _) = rows[0].clone();
    let wait = next - shared::clock::unix_now();
    assert!((3..=6).contains(&wait), "first backoff {wait}");
    assert_eq!(receiver.received().len(), 1);
    // The retry's time is brought forward (the test's clock): it fails
    // again, and the wait doubles.
    sqlx::query("update logout_deliveries set next_attempt_at = 0")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let rows = wait_for_queue(&app, Duration::from_secs(10), |rows| {
        rows.len() == 1 && rows[0].1 == 2 && rows[0].2 > 0 && rows[0].2 < rows[0].3 + 30
    })
    .await;
    let wait = rows[0].2 - shared::clock::unix_now();
    assert!((8..=11).contains(&wait), "second backoff {wait}");
    assert_eq!(receiver.received().len(), 2);
    // Enqueued an hour ago: the next failure is the last.
    let hour_ago = shared::clock::unix_now() - 3600;
    sqlx::query("update logout_deliveries set next_attempt_at = 0, enqueued_at = $1")
        .bind(hour_ago)
        .execute(&app.db.pool)
        .await
        .unwrap();
    wait_for_queue(&app, Duration::from_secs(10), |rows| rows.is_empty()).await;
    assert_eq!(receiver.received().len(), 3);
    let dropped = events_of(&app, "logout_token_dropped").await;
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].details["reason"], "expired");
    assert_eq!(dropped[0].details["jti"], id.as_str());
    assert_eq!(dropped[0].details["attempts"], 3);
    assert_eq!(dropped[0].client_id.as_deref(), Some(client.id.as_str()));
    assert_eq!(dropped[0].subject, user["id"].as_str().map(str::to_owned));
    assert!(events_of(&app, "logout_token_delivered").await.is_empty());
    // Nothing is tried again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn a_receiver_that_refuses_connections_is_retried_later() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let uri = format!("http://{closed}/backchannel");
    let client = backchannel_client(&app, Some(&uri)).await;
    let (session, tokens) = session_with_tokens(&app, &client).await;
    let started = Instant::now();
    assert_eq!(logout(&app, &session, &tokens).await.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    let rows = wait_for_queue(&app, Duration::from_secs(10), |rows| {
        rows.len() == 1 && rows[0].1 == 1 && rows[0].2 < rows[0].3 + 30
    })
    .await;
    let wait = rows[0].2 - shared::clock::unix_now();
    assert!((3..=6).contains(&wait), "backoff {wait}");
}

/// A client that registered itself (RFC 7591) gave its URL as a stranger:
/// its logout token is never posted to an internal address, whether the
/// URL names one or its host resolves to one (DNS rebinding); the attempt
/// fails as a dead receiver's does.
#[tokio::test]
async fn a_self_registered_clients_receiver_at_an_internal_address_gets_nothing() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let receiver = Receiver::start(Answer::Ok).await;
    let by_name = receiver.uri.replace("127.0.0.1", "localhost");
    for uri in [by_name, receiver.uri.clone()] {
        let registration = backchannel_registration(Some(&uri));
        let auth = ClientAuth::by_secret_or_none(true);
        let event = Event::new("client_registered");
        let (id, secret) = app
            .clients
            .register_recorded(&registration, &auth, None, "registration-token", 0, event)
            .await
            .unwrap()
            .expect("registered");
        let client = RegisteredClient { id, secret };
        let (session, tokens) = session_with_tokens(&app, &client).await;
        assert_eq!(logout(&app, &session, &tokens).await.status(), 200);
        // Tried once, failed, and put back for its first backoff.
        wait_for_queue(&app, Duration::from_secs(10), |rows| {
            rows.len() == 1 && rows[0].1 == 1 && rows[0].2 < rows[0].3 + 30
        })
        .await;
        sqlx::query("delete from logout_deliveries")
            .execute(&app.db.pool)
            .await
            .unwrap();
    }
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_a_huge_answer_is_cut() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let target = Receiver::start(Answer::Ok).await;
    let redirecting = Receiver::start(Answer::Redirect(target.uri.clone())).await;
    let client = backchannel_client(&app, Some(&redirecting.uri)).await;
    let (session, tokens) = session_with_tokens(&app, &client).await;
    assert_eq!(logout(&app, &session, &tokens).await.status(), 200);
    redirecting.wait_for(1, Duration::from_secs(10)).await;
    // Not delivered: retried later at the registered URL, never at the
    // one the answer named.
    wait_for_queue(&app, Duration::from_secs(10), |rows| {
        rows.len() == 1 && rows[0].1 == 1 && rows[0].2 < rows[0].3 + 30
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        target.received().is_empty(),
        "the redirect was not followed"
    );
    sqlx::query("delete from logout_deliveries")
        .execute(&app.db.pool)
        .await
        .unwrap();

    let huge = Receiver::start(Answer::Huge).await;
    let client = backchannel_client(&app, Some(&huge.uri)).await;
    let (session, tokens) = session_with_tokens(&app, &client).await;
    assert_eq!(logout(&app, &session, &tokens).await.status(), 200);
    huge.wait_for(1, Duration::from_secs(10)).await;
    // A 2xx is a delivery, read no further than 64 KiB.
    wait_for_queue(&app, Duration::from_secs(10), |rows| rows.is_empty()).await;
    assert_eq!(events_of(&app, "logout_token_delivered").await.len(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let written = huge.written.load(Ordering::SeqCst);
    assert!(
        written < 50 * 1024 * 1024,
        "the answer was cut off: {written} bytes written"
    );
}

#[tokio::test]
async fn deleting_the_user_or_changing_their_rights_tells_their_sessions_clients() {
    let app = spawn_app().await;
    let user = app.signup(EMAIL).await;
    let receiver = Receiver::start(Answer::Ok).await;
    let client = backchannel_client(&app, Some(&receiver.uri)).await;
    let (session, tokens) = session_with_tokens(&app, &client).await;
    let first = id_token_sid(&tokens);
    let now = shared::clock::unix_now();
    let changes = UserChanges {
        is_admin: Some(true),
        name: None,
    };
    users::update_user(&app.db, EMAIL, &changes, now, now + 900)
        .await
        .unwrap()
        .unwrap();
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let claims = verify_logout_token(&got[0].logout_token(), &client.id, &app.get_jwks().await);
    assert_eq!(claims["sid"], first.as_str());
    assert_eq!(claims["sub"], user["id"]);
    // The session signed in under the old rights has ended.
    let none = query_with(&client.id, &[("scope", "openid"), ("prompt", "none")]);
    let answer = authorize_with_cookie(&app, &none, &session).await;
    assert_eq!(
        location_param(&answer, "error").as_deref(),
        Some("login_required")
    );
    // A change that is not of rights tells nobody.
    let (_, tokens) = session_with_tokens(&app, &client).await;
    let second = id_token_sid(&tokens);
    let renamed = UserChanges {
        is_admin: None,
        name: Some("Ada King".into()),
    };
    users::update_user(&app.db, EMAIL, &renamed, now, now + 900)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1);
    assert!(queued(&app).await.is_empty());

    users::delete_user(&app.db, EMAIL, now, now + 900)
        .await
        .unwrap()
        .unwrap();
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let claims = verify_logout_token(&got[1].logout_token(), &client.id, &app.get_jwks().await);
    assert_eq!(claims["sid"], second.as_str());
    assert_eq!(claims["sub"], user["id"]);
    wait_for_queue(&app, Duration::from_secs(5), |rows| rows.is_empty()).await;
    assert_eq!(events_of(&app, "logout_token_delivered").await.len(), 2);
}

#[tokio::test]
async fn the_queue_stays_bounded_dropping_the_oldest() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let receiver = Receiver::start(Answer::Ok).await;
    let client = backchannel_client(&app, Some(&receiver.uri)).await;
    // A queue already full of deliveries to a dead receiver, not yet due.
    let now = shared::clock::unix_now();
    sqlx::query(
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < 10000) \
         insert into logout_deliveries \
         (id, client_id, uri, subject, sid, enqueued_at, next_attempt_at, attempts) \
         select 'old-' || i, $1, 'http://127.0.0.1:9/', 'someone', 'old', $2 + i, $3, 1 from n",
    )
    .bind(&client.id)
    .bind(now - 20_000)
    .bind(now + 3000)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let (session, tokens) = session_with_tokens(&app, &client).await;
    assert_eq!(logout(&app, &session, &tokens).await.status(), 200);
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let rows = wait_for_queue(&app, Duration::from_secs(10), |rows| rows.len() == 9_999).await;
    assert!(rows.iter().all(|r| r.0 != "old-1"), "the oldest went");
    assert!(rows.iter().any(|r| r.0 == "old-2"));
    let dropped = events_of(&app, "logout_token_dropped").await;
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].details["reason"], "queue_full");
    assert_eq!(dropped[0].details["jti"], "old-1");
}

#[tokio::test]
async fn two_instances_deliver_each_logout_token_once() {
    let app = spawn_app().await;
    let user = app.signup(EMAIL).await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    // A second instance on the same database and key-encryption key.
    let second = launch(test_figment(&app.database_url, &app.keys_dir)).await;
    let receiver = Receiver::start(Answer::Ok).await;
    let client = backchannel_client(&app, Some(&receiver.uri)).await;
    const SESSIONS: usize = 20;
    // Sessions and their clients as the sign-in and the code make them,
    // without twenty password hashes; then all end at once.
    let now = shared::clock::unix_now();
    let mut cookies = Vec::new();
    for _ in 0..SESSIONS {
        let started = auth_server::store::sessions::start(&app.db, &user_id, now, 600)
            .await
            .unwrap();
        let mut tx = app.db.begin_write().await.unwrap();
        auth_server::store::logout_deliveries::remember_client(
            &mut tx,
            &started.sid,
            &client.id,
            &user_id,
            now,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        cookies.push(started);
    }
    let ended = cookies.iter().map(|started| {
        let db = app.db.clone();
        let token = started.token.clone();
        async move { auth_server::store::sessions::end(&db, &token, now).await }
    });
    for result in futures::future::join_all(ended).await {
        result.unwrap();
    }
    let got = receiver.wait_for(SESSIONS, Duration::from_secs(30)).await;
    wait_for_queue(&app, Duration::from_secs(10), |rows| rows.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = if receiver.received().len() > got.len() {
        receiver.received()
    } else {
        got
    };
    let mut per_jti: BTreeMap<String, usize> = BTreeMap::new();
    let mut sids = BTreeSet::new();
    let jwks = app.get_jwks().await;
    for post in &got {
        let claims = verify_logout_token(&post.logout_token(), &client.id, &jwks);
        *per_jti
            .entry(claims["jti"].as_str().unwrap().to_owned())
            .or_default() += 1;
        sids.insert(claims["sid"].as_str().unwrap().to_owned());
    }
    assert_eq!(per_jti.len(), SESSIONS, "one token per session");
    assert!(per_jti.values().all(|n| *n == 1), "each once: {per_jti:?}");
    let expected: BTreeSet<String> = cookies.iter().map(|s| s.sid.clone()).collect();
    assert_eq!(sids, expected);
    assert_eq!(
        events_of(&app, "logout_token_delivered").await.len(),
        SESSIONS
    );
    second.1.notify();
}

#[tokio::test]
async fn discovery_says_back_channel_logout_with_sessions_is_supported() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
    let claims: Vec<&str> = doc["claims_supported"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(claims.contains(&"sid"));
}

const BIN: &str = env!("CARGO_BIN_EXE_auth-server");

/// Runs the command line against the app's database.
async fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("KEYS_DIR", &app.keys_dir)
        .env("RUST_LOG", "off")
        .output()
        .await
        .unwrap()
}

async fn client_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from clients")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

const CREATE: [&str; 9] = [
    "clients",
    "create",
    "--name",
    "RP",
    "--public",
    "--redirect-uri",
    "https://rp.example/cb",
    "--json",
    "--backchannel-logout-uri",
];

#[tokio::test]
async fn clients_create_registers_a_backchannel_logout_uri_from_the_command_line() {
    let app = spawn_app().await;
    let before = client_count(&app).await + 1;
    // Any absolute http(s) URL: an operator may name an internal service.
    let uri = "http://rp.internal:8080/backchannel?x=1";
    let output = cli(&app, &[&CREATE[..], &[uri]].concat()).await;
    assert!(output.status.success(), "{output:?}");
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["backchannel_logout_uri"], uri);
    let id = created["client_id"].as_str().unwrap();
    let stored = app.clients.find(id).await.unwrap().unwrap();
    assert_eq!(stored.metadata.backchannel_logout_uri.as_deref(), Some(uri));
    let output = cli(&app, &["clients", "list", "--json"]).await;
    assert!(output.status.success());
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let shown = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == id)
        .unwrap();
    assert_eq!(shown["backchannel_logout_uri"], uri);

    for bad in [
        "ftp://rp.example/bc",
        "/backchannel",
        "https://rp.example/bc#frag",
        "https://rp.example/b c",
        "javascript:alert(1)",
    ] {
        let output = cli(&app, &[&CREATE[..], &[bad]].concat()).await;
        assert!(!output.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{bad}: {stderr}");
        assert!(stderr.contains("--backchannel-logout-uri"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
    assert_eq!(client_count(&app).await, before, "nothing registered");
}

#[tokio::test]
async fn the_admin_api_registers_and_shows_a_backchannel_logout_uri() {
    let app = spawn_app().await;
    let output = cli(
        &app,
        &[
            "clients",
            "create",
            "--name",
            "Ops",
            "--grant",
            "client_credentials",
            "--scope",
            "admin",
            "--json",
        ],
    )
    .await;
    assert!(output.status.success());
    let ops: Value = serde_json::from_slice(&output.stdout).unwrap();
    let ops = RegisteredClient {
        id: ops["client_id"].as_str().unwrap().to_owned(),
        secret: ops["client_secret"].as_str().map(str::to_owned),
    };
    let response = post_form(
        &app,
        "/oauth/token",
        Some(&ops.basic()),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let create = |body: Value| {
        let (app, token) = (&app, token.clone());
        async move {
            app.client
                .post(app.url("/admin/v1/clients"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let before = client_count(&app).await;
    for bad in [
        json!("ftp://rp.example/bc"),
        json!("rp.example/bc"),
        json!("https://rp.example/bc#f"),
        json!(format!("https://rp.example/{}", "a".repeat(2000))),
        json!(42),
    ] {
        let response = create(json!({
            "name": "RP", "public": true, "redirect_uris": ["https://rp.example/cb"],
            "backchannel_logout_uri": bad,
        }))
        .await;
        assert_eq!(response.status(), 422, "{bad}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        let field = &problem["errors"][0]["field"];
        assert!(
            field == "backchannel_logout_uri" || field == "body",
            "{bad}: {problem}"
        );
    }
    assert_eq!(client_count(&app).await, before, "nothing registered");

    let uri = "https://rp.example/backchannel";
    let response = create(json!({
        "name": "RP", "public": true, "redirect_uris": ["https://rp.example/cb"],
        "backchannel_logout_uri": uri,
    }))
    .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["backchannel_logout_uri"], uri);
    let id = created["client_id"].as_str().unwrap();
    let read = app
        .client
        .get(app.url(&format!("/admin/v1/clients/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["backchannel_logout_uri"], uri);
    // A client registered without one shows none.
    let response = create(json!({
        "name": "RP2", "public": true, "redirect_uris": ["https://rp.example/cb"],
    }))
    .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert!(created.get("backchannel_logout_uri").is_none());
}

#[tokio::test]
async fn a_next_key_becoming_active_by_time_is_recorded_once() {
    // JWKS_MAX_AGE=1: a rotated key signs 2 s after it is published.
    let app = crate::helpers::spawn_app_with(|f| f.merge(("jwks_max_age", 1))).await;
    let second =
        launch(test_figment(&app.database_url, &app.keys_dir).merge(("jwks_max_age", 1))).await;
    assert!(
        events_of(&app, "key_activated").await.is_empty(),
        "not the first key"
    );
    let output = tokio::process::Command::new(BIN)
        .args(["keys", "rotate", "--json"])
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("KEYS_DIR", &app.keys_dir)
        .env("JWKS_MAX_AGE", "1")
        .env("RUST_LOG", "off")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let rotation: Value = serde_json::from_slice(&output.stdout).unwrap();
    let kid = rotation["new"]["kid"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    let activated = loop {
        let activated = events_of(&app, "key_activated").await;
        if !activated.is_empty() {
            break activated;
        }
        assert!(Instant::now() < deadline, "no key_activated event");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(activated[0].details["kid"], kid);
    let activates_at = activated[0].details["activates_at"].as_i64().unwrap();
    assert!(activated[0].time >= activates_at);
    // Two instances looked; one event.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(events_of(&app, "key_activated").await.len(), 1);
    second.1.notify();
}
