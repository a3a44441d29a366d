//! Refresh token families under races (API.md, the `refresh_token` grant;
//! RFC 9700 §4.14.2, RFC 6749 §4.1.2): two requests spending one token or
//! one code at the same moment, then a replay, must leave nothing of the
//! family alive; and a family ends `REFRESH_TOKEN_MAX_LIFETIME` after it
//! began, however often it rotates.

use std::time::{Duration, Instant};

use auth_server::store::{codes, refresh_families as refresh_tokens};
use serde_json::Value;
use shared::clock::{Clock, SystemClock};

use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::oauth_support::{
    REDIRECT_URI, RegisteredClient, VERIFIER, assert_oauth_error, challenge, exchange, is_active,
    public_app, service,
};

/// Every race here is run this many times, on SQLite and PostgreSQL, and
/// its invariant asserted in each trial.
const TRIALS: usize = 30;
/// Exchanges of one code at the same moment.
const CODE_RACERS: usize = 8;

/// A code for `user_id`, stored directly: the authorization page (and its
/// argon2 login) is not what these tests are about.
async fn stored_code(app: &TestApp, client: &RegisteredClient, user_id: &str) -> String {
    codes::create(
        &app.db,
        codes::NewCode {
            client_id: &client.id,
            user_id,
            redirect_uri: REDIRECT_URI,
            scope: "profile:read",
            code_challenge: Some(&challenge(VERIFIER)),
            nonce: None,
            auth_time: None,
            sid: None,
            resource: None,
            dpop_jkt: None,
            now: SystemClock.now(),
        },
    )
    .await
    .unwrap()
}

async fn refresh(app: &TestApp, client_id: &str, token: &str) -> reqwest::Response {
    app.post_token(&[
        ("grant_type", "refresh_token"),
        ("client_id", client_id),
        ("refresh_token", token),
    ])
    .await
}

/// A successful token response: status, headers, body.
async fn tokens(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].is_string());
    body
}

/// Live tokens of a family in the database: neither used, revoked nor expired.
async fn live_tokens(app: &TestApp, family_id: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from refresh_tokens \
         where family_id = $1 and used_at is null and revoked_at is null and expires_at > $2",
    )
    .bind(family_id)
    .bind(SystemClock.now())
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

async fn family_revoked(app: &TestApp, family_id: &str) -> bool {
    let revoked_at: Option<i64> =
        sqlx::query_scalar("select revoked_at from refresh_families where family_id = $1")
            .bind(family_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    revoked_at.is_some()
}

/// Nothing the trial issued survives: no live row, the family revoked,
/// every refresh token refused, every access token inactive.
async fn assert_all_dead(
    app: &TestApp,
    client: &RegisteredClient,
    resource: &RegisteredClient,
    family_id: &str,
    refresh_tokens: &[String],
    access_tokens: &[String],
    trial: usize,
) {
    assert_eq!(live_tokens(app, family_id).await, 0, "trial {trial}");
    assert!(family_revoked(app, family_id).await, "trial {trial}");
    for access in access_tokens {
        assert!(!is_active(app, resource, access).await, "trial {trial}");
    }
    for token in refresh_tokens {
        assert_oauth_error(refresh(app, &client.id, token).await, 400, "invalid_grant").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_refreshes_then_a_replay_leave_no_token_of_the_family_alive() {
    let app = spawn_app().await;
    let user = app.signup("ada@example.com").await;
    let user_id = user["id"].as_str().unwrap();
    let client = public_app(&app).await;
    let resource = service(&app).await;
    let started = Instant::now();

    for trial in 0..TRIALS {
        let code = stored_code(&app, &client, user_id).await;
        let first = tokens(exchange(&app, &client.id, &code, VERIFIER).await).await;
        let r0 = first["refresh_token"].as_str().unwrap().to_owned();
        let family_id = refresh_tokens::find(&app.db, &r0)
            .await
            .unwrap()
            .unwrap()
            .family_id;
        let mut refresh_tokens = vec![r0.clone()];
        let mut access_tokens = vec![first["access_token"].as_str().unwrap().to_owned()];

        let (a, b) = tokio::join!(
            refresh(&app, &client.id, &r0),
            refresh(&app, &client.id, &r0)
        );
        let mut statuses = vec![a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 400],
            "trial {trial}: one wins, one is reuse"
        );
        for response in [a, b] {
            if response.status() == 200 {
                let body = tokens(response).await;
                refresh_tokens.push(body["refresh_token"].as_str().unwrap().to_owned());
                access_tokens.push(body["access_token"].as_str().unwrap().to_owned());
            } else {
                assert_oauth_error(response, 400, "invalid_grant").await;
            }
        }
        assert_oauth_error(refresh(&app, &client.id, &r0).await, 400, "invalid_grant").await;

        assert_all_dead(
            &app,
            &client,
            &resource,
            &family_id,
            &refresh_tokens,
            &access_tokens,
            trial,
        )
        .await;
    }
    eprintln!(
        "{TRIALS} refresh race trials in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// RFC 6749 §4.1.2: a code is exchanged once, and a replay revokes what
/// it issued. Eight exchanges of one code at the same moment: exactly one
/// wins (`200`, never none), the others get `invalid_grant`, and afterwards
/// nothing the code issued is alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_redeemed_eight_times_at_once_has_one_winner_and_leaves_nothing_alive() {
    let app = spawn_app().await;
    let user = app.signup("ada@example.com").await;
    let user_id = user["id"].as_str().unwrap();
    let client = public_app(&app).await;
    let resource = service(&app).await;
    let started = Instant::now();

    for trial in 0..TRIALS {
        let code = stored_code(&app, &client, user_id).await;
        let exchanges = (0..CODE_RACERS).map(|_| exchange(&app, &client.id, &code, VERIFIER));
        let responses = futures::future::join_all(exchanges).await;
        let mut refresh_tokens = Vec::new();
        let mut access_tokens = Vec::new();
        let mut statuses = Vec::new();
        for response in responses {
            statuses.push(response.status().as_u16());
            if response.status() == 200 {
                let body = tokens(response).await;
                refresh_tokens.push(body["refresh_token"].as_str().unwrap().to_owned());
                access_tokens.push(body["access_token"].as_str().unwrap().to_owned());
            } else {
                assert_oauth_error(response, 400, "invalid_grant").await;
            }
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "trial {trial}: one winner, never none: {statuses:?}"
        );

        let bound: (Option<String>, Option<String>) = sqlx::query_as(
            "select family_id, access_jti from authorization_codes where code_hash = $1",
        )
        .bind(auth_server::store::secrets::hash_secret(&code))
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        let (Some(family_id), Some(jti)) = bound else {
            panic!("trial {trial}: the code was bound to what it issues as it was spent");
        };
        let listed: i64 =
            sqlx::query_scalar("select count(*) from revoked_access_tokens where jti = $1")
                .bind(&jti)
                .fetch_one(&app.db.pool)
                .await
                .unwrap();
        assert_eq!(
            listed, 1,
            "trial {trial}: the code's access token is revoked"
        );
        assert_all_dead(
            &app,
            &client,
            &resource,
            &family_id,
            &refresh_tokens,
            &access_tokens,
            trial,
        )
        .await;
        // And replaying it later changes nothing.
        assert_oauth_error(
            exchange(&app, &client.id, &code, VERIFIER).await,
            400,
            "invalid_grant",
        )
        .await;
    }
    eprintln!(
        "{TRIALS} code races of {CODE_RACERS} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn a_family_ends_at_its_max_lifetime_however_often_it_rotates() {
    const LIFETIME: i64 = 3;
    let app = spawn_app_with(|f| f.merge(("refresh_token_max_lifetime", LIFETIME))).await;
    app.signup("ada@example.com").await;
    let login = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    let login = tokens(login).await;
    let mut token = login["refresh_token"].as_str().unwrap().to_owned();
    let first = refresh_tokens::find(&app.db, &token)
        .await
        .unwrap()
        .unwrap();
    let (family_end, began): (i64, i64) =
        sqlx::query_as("select expires_at, created_at from refresh_families where family_id = $1")
            .bind(&first.family_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(family_end, began + LIFETIME, "counted from the login");
    assert_eq!(
        first.expires_at, family_end,
        "shorter than REFRESH_TOKEN_TTL: the token ends with its family"
    );

    // Rotations within the lifetime work, and none moves the end.
    let mut rotations = 0;
    while SystemClock.now() < family_end - 1 {
        let body = tokens(refresh(&app, "first-party", &token).await).await;
        token = body["refresh_token"].as_str().unwrap().to_owned();
        let stored = refresh_tokens::find(&app.db, &token)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.family_id, first.family_id);
        assert_eq!(stored.expires_at, family_end, "rotation never extends");
        rotations += 1;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(rotations >= 1);
    let (still_end,): (i64,) =
        sqlx::query_as("select expires_at from refresh_families where family_id = $1")
            .bind(&first.family_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(still_end, family_end);

    while SystemClock.now() < family_end {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_oauth_error(
        refresh(&app, "first-party", &token).await,
        400,
        "invalid_grant",
    )
    .await;
    // A new login begins a new family with a full lifetime.
    let again = tokens(
        app.post_token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
        ])
        .await,
    )
    .await;
    let fresh = again["refresh_token"].as_str().unwrap();
    tokens(refresh(&app, "first-party", fresh).await).await;
}

#[tokio::test]
async fn a_family_token_lives_refresh_token_ttl_within_a_long_family() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let login = tokens(
        app.post_token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
        ])
        .await,
    )
    .await;
    let token = login["refresh_token"].as_str().unwrap();
    let stored = refresh_tokens::find(&app.db, token).await.unwrap().unwrap();
    let (family_end, began): (i64, i64) =
        sqlx::query_as("select expires_at, created_at from refresh_families where family_id = $1")
            .bind(&stored.family_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(family_end, began + 2_592_000, "the 30-day default");
    assert_eq!(stored.expires_at, began + 1_209_600, "REFRESH_TOKEN_TTL");
}

#[test]
fn an_unusable_refresh_token_max_lifetime_stops_start_up_naming_it() {
    for value in ["abc", "0", "-1", "315360001"] {
        let dir = tempfile::TempDir::new().unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_auth-server"))
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/a.db", dir.path().display()),
            )
            .env("KEYS_DIR", dir.path().join("keys"))
            .env("ROCKET_PORT", "0")
            .env("REFRESH_TOKEN_MAX_LIFETIME", value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{value}: {stderr}");
        let lines: Vec<_> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{value}: exactly one line, got {stderr:?}");
        assert!(
            lines[0].starts_with("auth-server: REFRESH_TOKEN_MAX_LIFETIME: "),
            "{value}: {stderr}"
        );
    }
}

#[tokio::test]
async fn pruning_deletes_families_only_past_their_end() {
    let app = spawn_app().await;
    let user = app.signup("ada@example.com").await;
    let user_id = user["id"].as_str().unwrap();
    let now = 1_900_000_000_i64;
    for (family, expires) in [("f-dead", now - 10), ("f-alive", now + 1000)] {
        sqlx::query(
            "insert into refresh_families \
             (family_id, client_id, user_id, created_at, expires_at, updated_at) \
             values ($1, 'first-party', $2, 0, $3, 0)",
        )
        .bind(family)
        .bind(user_id)
        .bind(expires)
        .execute(&app.db.pool)
        .await
        .unwrap();
    }
    // The dead family, and the signup's place in the signup limit
    // (`login_failures`), whose hour is long over at `now`.
    assert_eq!(
        auth_server::store::prune::prune(&app.db, now)
            .await
            .unwrap(),
        2
    );
    let left: Vec<String> = sqlx::query_scalar("select family_id from refresh_families")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(left, ["f-alive"]);
}
