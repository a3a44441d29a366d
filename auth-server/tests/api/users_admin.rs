//! `auth-server users update|delete` (the real binary against the test
//! server's database) and what they do to tokens: a change of rights or a
//! deletion revokes the user's refresh token families at once, and every
//! refresh re-derives its scope from the user's current rights, so a
//! demotion that races a login still takes `profiles:read` away at the
//! next refresh.

use std::process::Command;

use auth_server::store::users::{UserChanges, update_user};
use serde_json::Value;
use shared::clock::{Clock, SystemClock};
use tempfile::TempDir;

use crate::cli::command;
use crate::helpers::{PASSWORD, TestApp, decode_parts, spawn_app};
use crate::oauth_support::{assert_oauth_error, is_active, service};

/// `auth-server users …` on the app's database: (exit code, stdout, stderr).
fn users(app: &TestApp, args: &[&str]) -> (Option<i32>, String, String) {
    let dir = TempDir::new().unwrap();
    let mut cmd: Command = command(&dir, &app.database_url);
    let output = cmd.arg("users").args(args).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A successful `users …` run's JSON line.
fn users_ok(app: &TestApp, args: &[&str]) -> Value {
    let (code, stdout, stderr) = users(app, args);
    assert_eq!(code, Some(0), "users {args:?}: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap()
}

/// A refused `users …` run: exit 1 and exactly this one line.
fn users_refused(app: &TestApp, args: &[&str], line: &str) {
    let (code, stdout, stderr) = users(app, args);
    assert_eq!(code, Some(1), "users {args:?}: {stdout}{stderr}");
    assert_eq!(stderr.lines().collect::<Vec<_>>(), [line], "users {args:?}");
    assert!(stdout.is_empty());
}

/// Password grant: (access token, refresh token, scope).
async fn login(app: &TestApp, email: &str) -> (String, String, String) {
    let response = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
        body["scope"].as_str().unwrap().to_owned(),
    )
}

/// The built-in client's refresh (no `client_id`), with an optional scope.
async fn refresh(app: &TestApp, token: &str, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    app.post_token(&form).await
}

async fn refreshed(app: &TestApp, token: &str) -> (String, String, String) {
    let response = refresh(app, token, None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
        body["scope"].as_str().unwrap().to_owned(),
    )
}

fn claim_scope(access: &str) -> String {
    decode_parts(access).1["scope"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rights_changes_and_deletion_revoke_refresh_tokens_and_refresh_follows_current_rights() {
    let app = spawn_app().await;
    let user = app.signup("ada@example.com").await;
    let resource = service(&app).await;

    // Promotion: the CLI names the user, with no family to revoke yet.
    let promoted = users_ok(&app, &["update", "Ada@Example.com", "--admin"]);
    assert_eq!(promoted["id"], user["id"]);
    assert_eq!(promoted["admin"], true);
    assert_eq!(promoted["revoked_refresh_families"], 0);
    let (access, refresh_token, scope) = login(&app, "ada@example.com").await;
    assert_eq!(scope, "profile:read profile:write profiles:read");

    // Rights taken away behind the CLI's back (as a demotion racing this
    // login would): the family lives on, but the next refresh no longer
    // carries profiles:read, nor may ask for it.
    sqlx::query("update users set is_admin = $1 where email = $2")
        .bind(false)
        .bind("ada@example.com")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_oauth_error(
        refresh(&app, &refresh_token, Some("profiles:read")).await,
        400,
        "invalid_scope",
    )
    .await;
    let (access2, refresh2, scope2) = refreshed(&app, &refresh_token).await;
    assert_eq!(scope2, "profile:read profile:write");
    assert_eq!(claim_scope(&access2), "profile:read profile:write");
    // Kept for the family: restoring the right does not restore it here.
    let stored = auth_server::store::refresh_families::find(&app.db, &refresh2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.scope, "profile:read profile:write");
    assert!(is_active(&app, &resource, &access).await);

    // A change of rights through the CLI revokes the family: its refresh
    // token and the access tokens issued with it are dead.
    let changed = users_ok(&app, &["update", "ada@example.com", "--admin"]);
    assert_eq!(changed["admin"], true);
    assert_eq!(changed["revoked_refresh_families"], 1);
    assert_oauth_error(refresh(&app, &refresh2, None).await, 400, "invalid_grant").await;
    assert!(!is_active(&app, &resource, &access2).await);
    assert!(!is_active(&app, &resource, &access).await);

    // Demotion through the CLI: the same.
    let (admin_access, admin_refresh, scope) = login(&app, "ada@example.com").await;
    assert!(scope.contains("profiles:read"));
    let demoted = users_ok(&app, &["update", "ada@example.com", "--no-admin"]);
    assert_eq!(demoted["admin"], false);
    assert_eq!(demoted["revoked_refresh_families"], 1);
    assert_oauth_error(
        refresh(&app, &admin_refresh, None).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(!is_active(&app, &resource, &admin_access).await);
    let (_, _, scope) = login(&app, "ada@example.com").await;
    assert_eq!(scope, "profile:read profile:write");

    // The same flag again is no change of rights: nothing is revoked.
    let (_, live_refresh, _) = login(&app, "ada@example.com").await;
    let same = users_ok(&app, &["update", "ada@example.com", "--no-admin"]);
    assert_eq!(same["revoked_refresh_families"], 0);
    // A new name is no change of rights either, and the next token says it.
    let renamed = users_ok(
        &app,
        &["update", "ada@example.com", "--name", "  Ada King "],
    );
    assert_eq!(renamed["name"], "Ada King");
    assert_eq!(renamed["revoked_refresh_families"], 0);
    let (access, live_refresh, _) = refreshed(&app, &live_refresh).await;
    assert_eq!(decode_parts(&access).1["name"], "Ada King");

    // Deletion: the refresh token, the access token and the password die.
    let deleted = users_ok(&app, &["delete", "ada@example.com"]);
    assert_eq!(deleted["id"], user["id"]);
    assert!(deleted["revoked_refresh_families"].as_u64().unwrap() >= 1);
    assert_oauth_error(
        refresh(&app, &live_refresh, None).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(!is_active(&app, &resource, &access).await);
    let response = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    assert_oauth_error(response, 400, "invalid_grant").await;
    let left: i64 = sqlx::query_scalar("select count(*) from users where email = $1")
        .bind("ada@example.com")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    // The email is free again.
    app.signup("ada@example.com").await;
}

#[tokio::test]
async fn users_update_and_delete_refuse_with_one_line_and_change_nothing() {
    let app = spawn_app().await;
    app.signup("grace@example.com").await;
    users_refused(
        &app,
        &["delete", "nobody@example.com"],
        "auth-server: no account has the email nobody@example.com",
    );
    users_refused(
        &app,
        &["update", "nobody@example.com", "--admin"],
        "auth-server: no account has the email nobody@example.com",
    );
    users_refused(
        &app,
        &["update", "grace@example.com"],
        "auth-server: nothing to change: give --admin, --no-admin or --name",
    );
    users_refused(
        &app,
        &["update", "grace@example.com", "--name", "   "],
        "auth-server: --name must be 1 to 100 characters",
    );
    let (code, _, stderr) = users(
        &app,
        &["update", "grace@example.com", "--admin", "--no-admin"],
    );
    assert_eq!(code, Some(2), "clap refuses the pair: {stderr}");
    // Nothing changed: not an admin, the same name.
    let (_, _, scope) = login(&app, "grace@example.com").await;
    assert_eq!(scope, "profile:read profile:write");
    let user = auth_server::store::users::find_by_email(&app.db, "grace@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.name, "Ada Lovelace");
}

/// A demotion racing a refresh, many times: whichever commits first, no
/// refresh token that is still usable afterwards yields `profiles:read`.
#[tokio::test]
async fn a_demotion_racing_a_refresh_never_leaves_profiles_read_refreshable() {
    const TRIALS: usize = 20;
    let app = spawn_app().await;
    app.signup("root@example.com").await;
    let now = || SystemClock.now();
    let set_admin = |admin: bool| {
        let db = app.db.clone();
        async move {
            let changes = UserChanges {
                is_admin: Some(admin),
                name: None,
            };
            update_user(&db, "root@example.com", &changes, now(), now() + 900)
                .await
                .unwrap()
                .unwrap()
        }
    };
    set_admin(true).await;
    let (_, mut token, _) = login(&app, "root@example.com").await;
    let mut outcomes = [0usize; 2];
    for trial in 0..TRIALS {
        let (refreshed, _) = tokio::join!(refresh(&app, &token, None), set_admin(false));
        let status = refreshed.status().as_u16();
        let body: Value = refreshed.json().await.unwrap();
        // Either the refresh came first (and its successor was revoked by
        // the demotion) or the demotion did (and the refresh was refused
        // or, without profiles:read, allowed).
        assert!(status == 200 || status == 400, "trial {trial}: {body}");
        outcomes[usize::from(status == 200)] += 1;
        if let Some(next) = body["refresh_token"].as_str() {
            let again = refresh(&app, next, None).await;
            match again.status().as_u16() {
                400 => assert_oauth_error(again, 400, "invalid_grant").await,
                200 => {
                    let body: Value = again.json().await.unwrap();
                    assert!(
                        !body["scope"].as_str().unwrap().contains("profiles:read"),
                        "trial {trial}: {body}"
                    );
                    body
                }
                other => panic!("trial {trial}: {other}"),
            };
        }
        // Next trial: an admin again, with a fresh family.
        set_admin(true).await;
        token = login(&app, "root@example.com").await.1;
    }
    eprintln!(
        "refresh first or allowed: {}, refused: {}",
        outcomes[1], outcomes[0]
    );
}
