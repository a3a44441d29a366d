//! Back-channel logout with two instances on one database (API.md,
//! "Back-channel logout", "Running several instances"): sessions signed in
//! and ended at either instance, every logout token delivered exactly once
//! by whichever instance leased it, and the events any instance wrote
//! listed at the other.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2e::cluster::{CLUSTER_ISSUER, Cluster, ClusterSettings};
use e2e::{claims_of, header_of};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::oidc::{PageBrowser, hidden_inputs, location_param};

const REDIRECT_URI: &str = "http://127.0.0.1:9/bc/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const LOGOUTS: usize = 20;

/// A receiver on a random loopback port that answers 200 and keeps every
/// `logout_token` it was posted.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let kept = got.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buffer[..at]).to_ascii_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buffer.len() >= at + 4 + length {
                            let body = String::from_utf8_lossy(&buffer[at + 4..]).into_owned();
                            let token = url::form_urlencoded::parse(body.as_bytes())
                                .find(|(k, _)| k == "logout_token")
                                .map(|(_, v)| v.into_owned())
                                .unwrap_or_default();
                            kept.lock().unwrap().push(token);
                            break;
                        }
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (format!("http://{address}/backchannel"), got)
}

/// Signs in at instance `i` with a fresh browser, allows when asked, and
/// redeems the code there: the session cookie header and the tokens.
async fn sign_in(cluster: &Cluster, i: usize, client_id: &str, email: &str) -> (String, Value) {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut browser = PageBrowser::new();
    let mut authorize = url::Url::parse(&cluster.auth_url(i, "/oauth/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", "openid")
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let form_action = cluster.auth_url(i, "/oauth/authorize");
    let page = browser.get(authorize.as_str()).await;
    assert_eq!(page.status(), 200);
    let mut form = hidden_inputs(&page.text().await.unwrap());
    form.extend([
        ("username".to_owned(), email.to_owned()),
        ("password".to_owned(), e2e::PASSWORD.to_owned()),
    ]);
    let mut answer = browser.post_form(&form_action, &form).await;
    if answer.status() == 200 {
        let mut form = hidden_inputs(&answer.text().await.unwrap());
        form.push(("action".to_owned(), "allow".to_owned()));
        answer = browser.post_form(&form_action, &form).await;
    }
    assert_eq!(answer.status(), 303);
    let code = location_param(&answer, "code").expect("a code");
    let session = browser
        .cookies
        .iter()
        .find(|(k, _)| k == "auth_session")
        .map(|(k, v)| format!("{k}={v}"))
        .expect("a session cookie");
    let tokens = cluster
        .http
        .post(cluster.auth_url(i, "/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(tokens.status(), 200);
    (session, tokens.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_logout_token_is_delivered_once_by_one_of_two_instances() {
    let cluster = Cluster::start(2, ClusterSettings::default()).await;
    let (uri, got) = receiver().await;
    let client = cluster.cli_json(&[
        "clients",
        "create",
        "--name",
        "RP",
        "--public",
        "--scope",
        "openid",
        "--redirect-uri",
        REDIRECT_URI,
        "--backchannel-logout-uri",
        &uri,
    ]);
    assert_eq!(client["backchannel_logout_uri"], uri.as_str());
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let email = cluster.create_user();

    // Signed in at one instance, signed out at the other.
    let mut sids = BTreeSet::new();
    for round in 0..LOGOUTS {
        let (session, tokens) = sign_in(&cluster, round % 2, &client_id, &email).await;
        let id_token = tokens["id_token"].as_str().unwrap().to_owned();
        let sid = claims_of(&id_token)["sid"].as_str().unwrap().to_owned();
        assert!(sids.insert(sid), "a new sid per session");
        let started = Instant::now();
        let logout = cluster
            .http
            .get(cluster.auth_url((round + 1) % 2, "/oauth/logout"))
            .query(&[("id_token_hint", id_token.as_str())])
            .header("cookie", session)
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    while got.lock().unwrap().len() < LOGOUTS {
        assert!(Instant::now() < deadline, "not every token was delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for a second delivery of any of them, which must not come.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tokens = got.lock().unwrap().clone();
    let jwks: Value = cluster
        .http
        .get(cluster.auth_url(1, "/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut per_jti: BTreeMap<String, usize> = BTreeMap::new();
    let mut delivered_sids = BTreeSet::new();
    for token in &tokens {
        let header = header_of(token);
        assert_eq!(header["typ"], "logout+jwt");
        let key = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == header["kid"])
            .expect("a published key");
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
            key["n"].as_str().unwrap(),
            key["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_issuer(&[CLUSTER_ISSUER]);
        validation.set_audience(&[client_id.as_str()]);
        let claims = jsonwebtoken::decode::<Value>(token, &decoding, &validation)
            .expect("verified")
            .claims;
        assert!(claims.get("nonce").is_none());
        *per_jti
            .entry(claims["jti"].as_str().unwrap().to_owned())
            .or_default() += 1;
        delivered_sids.insert(claims["sid"].as_str().unwrap().to_owned());
    }
    assert_eq!(per_jti.len(), LOGOUTS);
    assert!(per_jti.values().all(|n| *n == 1), "{per_jti:?}");
    assert_eq!(delivered_sids, sids);

    // Events written at either instance, listed at B by the admin API.
    let (_, _, token) = cluster.operator(1).await;
    let token = token.as_str();
    let list = |kind: &'static str| {
        let (cluster, token) = (&cluster, token.to_owned());
        async move {
            let response = cluster
                .http
                .get(cluster.auth_url(1, "/admin/v1/events"))
                .query(&[("type", kind), ("limit", "100")])
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let page: Value = response.json().await.unwrap();
            page["items"].as_array().cloned().unwrap_or_default()
        }
    };
    let a = format!("/{}", cluster.auths[0].service.pid());
    let b = format!("/{}", cluster.auths[1].service.pid());
    let logouts = list("logout").await;
    assert_eq!(logouts.len(), LOGOUTS);
    let written_at = |events: &[Value], suffix: &str| {
        events
            .iter()
            .filter(|e| e["instance"].as_str().unwrap().ends_with(suffix))
            .count()
    };
    assert_eq!(written_at(&logouts, &a), LOGOUTS / 2, "A's, listed at B");
    assert_eq!(written_at(&logouts, &b), LOGOUTS / 2);
    let delivered = list("logout_token_delivered").await;
    assert_eq!(delivered.len(), LOGOUTS);
    let jtis: BTreeSet<&str> = delivered
        .iter()
        .map(|e| e["details"]["jti"].as_str().unwrap())
        .collect();
    assert_eq!(jtis.len(), LOGOUTS);
}
