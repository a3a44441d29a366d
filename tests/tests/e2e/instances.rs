//! Several instances, one issuer (API.md, "Running several instances"):
//! two auth-server processes on one database, each with its own key folder
//! that it never writes, and two resource-servers, each trusting the JWK
//! Set of a different instance.

use std::time::{Duration, Instant};

use e2e::cluster::{Cluster, ClusterSettings, files_in};
use e2e::{ForgingKey, PASSWORD, claims_of, header_of};
use serde_json::{Value, json};

/// The contract's bound on how long a change takes to reach every instance.
const PROPAGATION: Duration = Duration::from_secs(2);

fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().expect("kid").to_owned()
}

fn kids(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect();
    kids.sort();
    kids
}

async fn introspect(cluster: &Cluster, i: usize, client: &(String, String), token: &str) -> Value {
    let response = cluster
        .http
        .post(cluster.auth_url(i, "/oauth/introspect"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn refresh(cluster: &Cluster, i: usize, refresh_token: &str) -> (u16, Value) {
    let response = cluster
        .http
        .post(cluster.auth_url(i, "/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "first-party"),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_act_as_one_issuer() {
    let cluster = Cluster::start(2, ClusterSettings::default()).await;

    // One first key, although both started on an empty database at once.
    let (a, b) = (cluster.jwks(0).await, cluster.jwks(1).await);
    assert_eq!(kids(&a).len(), 1, "one first key: {a}");
    assert_eq!(a, b, "the same JWK Set from both");
    assert_eq!(cluster.keys().len(), 1);

    // A token from A: accepted by both resource-servers, refreshed at B.
    let email = cluster.create_user();
    let (status, tokens) = cluster.login(0, &email, PASSWORD).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&access)["iss"], e2e::cluster::CLUSTER_ISSUER);
    assert_eq!(cluster.profile_status(0, &access).await, 200);
    assert_eq!(cluster.profile_status(1, &access).await, 200);
    let (status, refreshed) = refresh(&cluster, 1, &refresh_token).await;
    assert_eq!(status, 200, "{refreshed}");
    let second_access = refreshed["access_token"].as_str().unwrap().to_owned();
    assert_eq!(cluster.profile_status(0, &second_access).await, 200);
    // The used token is dead at A too, and replaying it there revokes the
    // family B continued: B's access token introspects inactive at A.
    let client = cluster.create_service_client();
    assert_eq!(
        introspect(&cluster, 0, &client, &second_access).await["active"],
        true
    );
    let (status, body) = refresh(&cluster, 0, &refresh_token).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        introspect(&cluster, 0, &client, &second_access).await,
        json!({"active": false})
    );

    // Revoked at B, a token from A introspects inactive at A.
    let (status, tokens) = cluster.login(0, &email, PASSWORD).await;
    assert_eq!(status, 200, "{tokens}");
    let third_access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        introspect(&cluster, 0, &client, &third_access).await["active"],
        true
    );
    let revoked = cluster
        .http
        .post(cluster.auth_url(1, "/oauth/revoke"))
        .form(&[
            ("token", third_access.as_str()),
            ("client_id", "first-party"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        introspect(&cluster, 0, &client, &third_access).await,
        json!({"active": false})
    );

    // Neither instance wrote to its key folder.
    for instance in &cluster.auths {
        assert_eq!(files_in(&instance.keys_dir), Vec::<String>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_reaches_both_instances_and_both_sign_with_the_new_key() {
    let cluster = Cluster::start(2, ClusterSettings::default()).await;
    let email = cluster.create_user();
    let (_, before) = cluster.login(0, &email, PASSWORD).await;
    let old_kid = kid_of(before["access_token"].as_str().unwrap());

    let rotated = cluster.cli(&["keys", "rotate"], None);
    assert!(
        rotated.status.success(),
        "keys rotate: {}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let started = Instant::now();
    let new_kid = cluster
        .keys()
        .iter()
        .find(|k| k["state"] == "next")
        .and_then(|k| k["kid"].as_str())
        .expect("a next key after keys rotate")
        .to_owned();
    // Published by both within the contract's 2 s.
    for i in 0..2 {
        loop {
            if kids(&cluster.jwks(i).await).contains(&new_kid) {
                break;
            }
            assert!(
                started.elapsed() < PROPAGATION + Duration::from_millis(500),
                "instance {i} did not publish {new_kid} within 2 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Both still sign with the old key during the lead (2 × JWKS_MAX_AGE),
    // then with the new one.
    let (_, during) = cluster.login(1, &email, PASSWORD).await;
    if started.elapsed() < Duration::from_secs(1) {
        assert_eq!(kid_of(during["access_token"].as_str().unwrap()), old_kid);
    }
    let lead = Duration::from_secs(2 * cluster.settings.jwks_max_age);
    tokio::time::sleep((lead + PROPAGATION).saturating_sub(started.elapsed())).await;
    for i in 0..2 {
        let (status, after) = cluster.login(i, &email, PASSWORD).await;
        assert_eq!(status, 200, "{after}");
        let token = after["access_token"].as_str().unwrap();
        assert_eq!(
            kid_of(token),
            new_kid,
            "instance {i} signs with the new key"
        );
        for r in 0..2 {
            assert_eq!(cluster.profile_status(r, token).await, 200);
        }
    }
    // The old key's tokens still pass while it retires.
    assert_eq!(
        cluster
            .profile_status(1, before["access_token"].as_str().unwrap())
            .await,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_interval_rotates_once_however_many_instances_run() {
    // An imported key that has signed for a day: a rotation is due the
    // moment both instances start, and both see it due.
    let old = ForgingKey::generate();
    let day_ago = e2e::now() - 86_400;
    let schedule =
        json!({"keys": [{"kid": old.kid, "created_at": day_ago, "activates_at": day_ago}]});
    let settings = ClusterSettings {
        access_token_ttl: 60,
        key_rotation_interval: Some(3_600),
        ..ClusterSettings::default()
    };
    let cluster = Cluster::start_with_keys(2, settings, |dir| {
        // Imported into the empty database: private to the server's user.
        old.write_to(dir, Duration::ZERO);
        std::fs::write(dir.join("schedule.json"), schedule.to_string()).unwrap();
    })
    .await;
    // Several polls of both instances.
    tokio::time::sleep(PROPAGATION * 2).await;
    let keys = cluster.keys();
    let states: Vec<(String, String)> = keys
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keys.len(),
        2,
        "the imported key and exactly one new: {states:?}"
    );
    assert!(
        states.contains(&(old.kid.clone(), "active".to_owned()))
            || states.contains(&(old.kid.clone(), "retiring".to_owned()))
    );
    let new: Vec<_> = states.iter().filter(|(kid, _)| *kid != old.kid).collect();
    assert_eq!(new.len(), 1, "{states:?}");
    assert_eq!(cluster.jwks(0).await, cluster.jwks(1).await);
    // And it stays one rotation.
    tokio::time::sleep(PROPAGATION).await;
    assert_eq!(cluster.keys().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_counted_across_instances() {
    let cluster = Cluster::start(2, ClusterSettings::default()).await;
    let email = cluster.create_user();
    // Five failures on one account from one address, alternating instances.
    for attempt in 0..5 {
        let (status, body) = cluster
            .login(attempt % 2, &email, "wrong-password-guess")
            .await;
        assert_eq!(status, 400, "attempt {attempt}: {body}");
        assert_eq!(body["error"], "invalid_grant");
    }
    // The sixth is refused at either, even with the right password.
    for i in 0..2 {
        let response = cluster
            .http
            .post(cluster.auth_url(i, "/oauth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", email.as_str()),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429, "instance {i}");
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry_after >= 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_instance_loses_nothing_the_other_needs() {
    let mut cluster = Cluster::start(2, ClusterSettings::default()).await;
    let email = cluster.create_user();
    let (status, from_a) = cluster.login(0, &email, PASSWORD).await;
    assert_eq!(status, 200);
    let access_from_a = from_a["access_token"].as_str().unwrap().to_owned();
    let client = cluster.create_service_client();

    // A loop of logins and client tokens at B, with A killed (SIGKILL) in
    // the middle of it.
    let pid = cluster.auths[0].service.pid();
    let mut statuses = Vec::new();
    for round in 0..20 {
        if round == 5 {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
        }
        let (status, _) = cluster.login(1, &email, PASSWORD).await;
        statuses.push(status);
        let response = cluster
            .http
            .post(cluster.auth_url(1, "/oauth/token"))
            .basic_auth(&client.0, Some(&client.1))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(!cluster.auths[0].service.is_running(), "A was killed");
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // What A issued stays valid: accepted where B's keys are trusted, and
    // active at B.
    assert_eq!(cluster.profile_status(1, &access_from_a).await, 200);
    assert_eq!(
        introspect(&cluster, 1, &client, &access_from_a).await["active"],
        true
    );
    let (status, refreshed) = refresh(&cluster, 1, from_a["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{refreshed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_session_made_at_one_instance_is_honoured_and_ended_at_the_other() {
    use crate::oidc::{PageBrowser, hidden_inputs, location_param};
    let cluster = Cluster::start(2, ClusterSettings::default()).await;
    let email = cluster.create_user();
    let redirect_uri = "http://127.0.0.1:9/cluster-rp/callback";
    let output = cluster.cli(
        &[
            "clients",
            "create",
            "--name",
            "Cluster RP",
            "--public",
            "--scope",
            "openid profile:read",
            "--redirect-uri",
            redirect_uri,
            "--json",
        ],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let authorize = |i: usize, prompt: Option<&str>| {
        let mut url = url::Url::parse(&cluster.auth_url(i, "/oauth/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid profile:read")
            .append_pair("state", "s")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(prompt) = prompt {
            url.query_pairs_mut().append_pair("prompt", prompt);
        }
        url.to_string()
    };

    // Signed in and consented at A…
    let mut browser = PageBrowser::new();
    let redirect = browser
        .sign_in(
            &authorize(0, None),
            &cluster.auth_url(0, "/oauth/authorize"),
            &email,
        )
        .await;
    assert!(location_param(&redirect, "code").is_some());
    assert!(browser.cookies.iter().any(|(k, _)| k == "auth_session"));

    // …B knows the session and the consent: a code without any page.
    let response = browser.get(&authorize(1, Some("none"))).await;
    assert_eq!(response.status(), 303);
    assert!(
        location_param(&response, "code").is_some(),
        "{:?}",
        response.headers().get("location")
    );

    // Logging out at B (asked, then confirmed: no id_token_hint) ends it
    // at A too, even for a copy of the old cookie.
    let old_cookies = browser.cookies.clone();
    let response = browser.get(&cluster.auth_url(1, "/oauth/logout")).await;
    assert_eq!(response.status(), 200);
    let question = response.text().await.unwrap();
    assert!(question.contains("Sign out?"), "{question}");
    let response = browser
        .post_form(
            &cluster.auth_url(1, "/oauth/logout"),
            &hidden_inputs(&question),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("signed out"));
    browser.cookies = old_cookies;
    let response = browser.get(&authorize(0, Some("none"))).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location_param(&response, "error").as_deref(),
        Some("login_required")
    );
}

/// A client_credentials grant at instance `i`; the status.
async fn client_grant(cluster: &Cluster, i: usize, client: &(String, String)) -> u16 {
    let response = cluster
        .http
        .post(cluster.auth_url(i, "/oauth/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_deleted_on_the_command_line_is_refused_everywhere_within_two_seconds() {
    let cluster = Cluster::start(2, ClusterSettings::default()).await;
    let client = cluster.create_service_client();
    // Remembered at both: each instance has read the client already.
    for i in 0..2 {
        for _ in 0..3 {
            assert_eq!(client_grant(&cluster, i, &client).await, 200);
        }
    }
    let output = cluster.cli(&["clients", "delete", &client.0], None);
    assert!(
        output.status.success(),
        "clients delete: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let deleted = Instant::now();
    let mut refused_after = [None, None];
    while refused_after.iter().any(Option::is_none) && deleted.elapsed() < 2 * PROPAGATION {
        for (i, refused) in refused_after.iter_mut().enumerate() {
            if refused.is_none() {
                let status = client_grant(&cluster, i, &client).await;
                assert!(status == 200 || status == 401, "instance {i}: {status}");
                if status == 401 {
                    *refused = Some(deleted.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (i, refused) in refused_after.iter().enumerate() {
        let after = refused.unwrap_or_else(|| panic!("instance {i} still accepts the client"));
        assert!(
            after <= PROPAGATION,
            "instance {i} refused only after {after:?}"
        );
        assert_eq!(
            client_grant(&cluster, i, &client).await,
            401,
            "instance {i}"
        );
    }
}

/// `GET /admin/v1/clients` at instance `i` with `token`; the status.
async fn admin_list(cluster: &Cluster, i: usize, token: &str) -> u16 {
    let response = cluster
        .http
        .get(cluster.auth_url(i, "/admin/v1/clients"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_token_revoked_at_one_instance_is_refused_by_the_other_within_two_seconds() {
    let cluster = Cluster::start(2, ClusterSettings::default()).await;
    let (id, secret, token) = cluster.operator(0).await;
    let ops = (id, secret);
    // Both instances have let it in, and remember so.
    for i in 0..2 {
        for _ in 0..3 {
            assert_eq!(admin_list(&cluster, i, &token).await, 200, "instance {i}");
        }
    }

    let response = cluster
        .http
        .post(cluster.auth_url(0, "/oauth/revoke"))
        .basic_auth(&ops.0, Some(&ops.1))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let revoked = Instant::now();
    assert_eq!(admin_list(&cluster, 0, &token).await, 401, "at once at A");
    let refused_after = loop {
        let status = admin_list(&cluster, 1, &token).await;
        assert!(status == 200 || status == 401, "instance B: {status}");
        if status == 401 {
            break revoked.elapsed();
        }
        assert!(
            revoked.elapsed() < PROPAGATION + Duration::from_millis(500),
            "instance B still accepts the revoked token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        refused_after <= PROPAGATION + Duration::from_millis(500),
        "B refused only after {refused_after:?}"
    );
    for i in 0..2 {
        assert_eq!(admin_list(&cluster, i, &token).await, 401, "instance {i}");
    }
}
