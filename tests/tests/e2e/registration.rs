//! Dynamic registration and the admin API across instances (API.md,
//! "Running several instances"): a client registered at A is usable at B,
//! and a secret rotated through the admin API at A stops working at B
//! within 2 s.

use std::time::{Duration, Instant};

use e2e::cluster::{Cluster, ClusterSettings};
use serde_json::{Value, json};

/// The contract's bound on a change reaching every instance.
const PROPAGATION: Duration = Duration::from_secs(2);

async fn client_credentials(cluster: &Cluster, i: usize, id: &str, secret: &str) -> u16 {
    cluster
        .http
        .post(cluster.auth_url(i, "/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_registered_at_a_works_at_b_and_a_secret_rotated_at_a_dies_at_b() {
    let cluster = Cluster::start(2, ClusterSettings::default()).await;
    let made = cluster.cli_json(&["registration-tokens", "create", "--max-uses", "1"]);
    let initial = made["initial_access_token"].as_str().unwrap();
    let metadata = json!({
        "client_name": "Indexer",
        "grant_types": ["client_credentials"],
        "scope": "profile:read",
    });
    let response = cluster
        .http
        .post(cluster.auth_url(0, "/oauth/register"))
        .bearer_auth(initial)
        .json(&metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let registered: Value = response.json().await.unwrap();
    let id = registered["client_id"].as_str().unwrap().to_owned();
    let secret = registered["client_secret"].as_str().unwrap().to_owned();
    // The one use is spent for both instances.
    let again = cluster
        .http
        .post(cluster.auth_url(1, "/oauth/register"))
        .bearer_auth(initial)
        .json(&metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);
    assert_eq!(client_credentials(&cluster, 1, &id, &secret).await, 200);
    // Its registration is read at B with its own token.
    let read = cluster
        .http
        .get(cluster.auth_url(1, &format!("/oauth/register/{id}")))
        .bearer_auth(registered["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);

    // An operator with the admin API at A gives it a new secret.
    let (_, _, admin) = cluster.operator(0).await;
    let admin = admin.as_str();
    let rotated = cluster
        .http
        .post(cluster.auth_url(0, &format!("/admin/v1/clients/{id}/secret")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    let started = Instant::now();
    let fresh = rotated.json::<Value>().await.unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(client_credentials(&cluster, 0, &id, &secret).await, 401);
    loop {
        if client_credentials(&cluster, 1, &id, &secret).await == 401 {
            break;
        }
        assert!(
            started.elapsed() < PROPAGATION + Duration::from_millis(500),
            "the old secret still works at B"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(client_credentials(&cluster, 1, &id, &fresh).await, 200);
}
