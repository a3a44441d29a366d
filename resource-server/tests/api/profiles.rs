//! Profiles: just-in-time creation from the token, reading by owner or by
//! `profiles:read`, and validated changes.

use rocket::http::{ContentType, Header, Status};
use serde_json::{Value, json};

use crate::helpers::{
    KEY, NOW, PROBLEM_JSON, bearer, fresh_database_url, new_sub, parts, spawn_app, spawn_app_on,
    user_claims, user_token,
};

const READ_WRITE: &str = "profile:read profile:write";

#[rocket::async_test]
async fn the_first_request_creates_the_profile_from_the_claims() {
    let app = spawn_app().await;
    let sub = new_sub();
    let response = app.get_profile_me(&user_token(&sub, "profile:read")).await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        response.headers().get_one("Cache-Control"),
        Some("no-store")
    );
    assert_eq!(response.content_type(), Some(ContentType::JSON));
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "id": sub,
            "email": format!("{sub}@example.com"),
            "name": format!("User {sub}"),
            "bio": "",
            "created_at": "2025-06-15T15:06:40Z",
            "updated_at": "2025-06-15T15:06:40Z",
        })
    );
}

/// Eight first requests of one user at the same moment, 30 times: each
/// time one profile, the same answer to all.
#[rocket::async_test]
async fn concurrent_first_requests_create_one_profile() {
    let app = spawn_app().await;
    for trial in 0..30 {
        let token = user_token(&new_sub(), "profile:read");
        let requests = (0..8).map(|_| app.get_profile_me(&token));
        let responses = futures::future::join_all(requests).await;
        let mut bodies = Vec::new();
        for response in responses {
            assert_eq!(response.status(), Status::Ok, "trial {trial}");
            bodies.push(response.into_json::<Value>().await.unwrap());
        }
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "trial {trial}");
    }
}

#[rocket::async_test]
async fn the_owner_changes_name_and_bio_and_reads_them_back() {
    let app = spawn_app().await;
    let token = user_token(&new_sub(), READ_WRITE);
    let response = app
        .patch_profile_me(&token, r#"{"name": "Ada Lovelace", "bio": "Analyst."}"#)
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        response.headers().get_one("Cache-Control"),
        Some("no-store")
    );
    let patched: Value = response.into_json().await.unwrap();
    assert_eq!(patched["name"], "Ada Lovelace");
    assert_eq!(patched["bio"], "Analyst.");
    let read: Value = app.get_profile_me(&token).await.into_json().await.unwrap();
    assert_eq!(read, patched);
    // Only what was sent changes.
    let patched: Value = app
        .patch_profile_me(&token, r#"{"bio": null}"#)
        .await
        .into_json()
        .await
        .unwrap();
    assert_eq!(patched["name"], "Ada Lovelace");
    assert_eq!(patched["bio"], "");
}

#[rocket::async_test]
async fn changing_needs_profile_write() {
    let app = spawn_app().await;
    let token = user_token(&new_sub(), "profile:read");
    let (status, challenge, _, _) =
        parts(app.patch_profile_me(&token, r#"{"name":"X"}"#).await).await;
    assert_eq!(status, Status::Forbidden);
    assert!(challenge.unwrap().ends_with(r#"scope="profile:write""#));
}

#[rocket::async_test]
async fn bad_bodies_get_415_400_422_and_413() {
    let app = spawn_app().await;
    let token = user_token(&new_sub(), READ_WRITE);
    let wrong_type = app
        .client
        .patch("/profile/me")
        .header(bearer(&token))
        .header(ContentType::Form)
        .body("name=x")
        .dispatch()
        .await;
    let (status, _, content_type, _) = parts(wrong_type).await;
    assert_eq!(status, Status::UnsupportedMediaType);
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
    let no_type = app
        .client
        .patch("/profile/me")
        .header(bearer(&token))
        .body(r#"{"name":"x"}"#)
        .dispatch()
        .await;
    assert_eq!(no_type.status(), Status::UnsupportedMediaType);

    let (status, _, content_type, _) = parts(app.patch_profile_me(&token, "{not json").await).await;
    assert_eq!(status, Status::BadRequest);
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));

    let long_name = "n".repeat(101);
    let body = json!({"name": long_name, "bio": 7, "email": "evil@example.com"}).to_string();
    let (status, _, content_type, problem) = parts(app.patch_profile_me(&token, &body).await).await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["bio", "email", "name"]);
    let (status, _, _, _) = parts(app.patch_profile_me(&token, r#"{"name": "   "}"#).await).await;
    assert_eq!(status, Status::UnprocessableEntity);

    let huge = json!({"bio": "b".repeat(70 * 1024)}).to_string();
    let (status, _, content_type, _) = parts(app.patch_profile_me(&token, &huge).await).await;
    assert_eq!(status, Status::PayloadTooLarge);
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));

    // Nothing changed.
    let read: Value = app.get_profile_me(&token).await.into_json().await.unwrap();
    assert_eq!(read["bio"], "");
}

/// API.md: a JSON body with a member named twice is `400`, as a token
/// with one is refused: never one of the two values picked silently.
#[rocket::async_test]
async fn a_patch_naming_a_member_twice_is_400_and_changes_nothing() {
    let app = spawn_app().await;
    let token = user_token(&new_sub(), READ_WRITE);
    let before: Value = app.get_profile_me(&token).await.into_json().await.unwrap();
    for body in [
        r#"{"name":"Ada","name":"Mallory"}"#,
        r#"{"bio":"x","b\u0069o":"y"}"#,
        r#"{"name":"Ada","bio":"x","name":"Ada"}"#,
    ] {
        let (status, challenge, content_type, problem) =
            parts(app.patch_profile_me(&token, body).await).await;
        assert_eq!(status, Status::BadRequest, "{body}");
        assert_eq!(challenge, None);
        assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
        assert_eq!(problem["status"], 400);
        assert!(
            problem["detail"].as_str().unwrap().contains("twice"),
            "{problem}"
        );
    }
    let after: Value = app.get_profile_me(&token).await.into_json().await.unwrap();
    assert_eq!(after, before);
    // The same members once each are an ordinary change.
    let (status, _, _, changed) = parts(
        app.patch_profile_me(&token, r#"{"name":"Ada","bio":"x"}"#)
            .await,
    )
    .await;
    assert_eq!(status, Status::Ok);
    assert_eq!(changed["name"], "Ada");
}

#[rocket::async_test]
async fn another_users_profile_needs_profiles_read_whether_or_not_it_exists() {
    let app = spawn_app().await;
    let owner = new_sub();
    app.get_profile_me(&user_token(&owner, "profile:read"))
        .await;
    let nosy = user_token(&new_sub(), READ_WRITE);
    for id in [owner.as_str(), "no-such-id"] {
        for response in [
            app.get_profile(id, &nosy).await,
            app.get_profiles(id, &nosy).await,
        ] {
            let (status, challenge, _, body) = parts(response).await;
            assert_eq!(status, Status::Forbidden, "{id}");
            assert!(challenge.unwrap().ends_with(r#"scope="profiles:read""#));
            assert!(!body.to_string().contains(&owner));
        }
    }
    // Reading one's own profile by id is the owner's right.
    let own = user_token(&owner, "profile:read");
    assert_eq!(app.get_profile(&owner, &own).await.status(), Status::Ok);
}

#[rocket::async_test]
async fn profiles_read_reads_any_profile_and_404s_unknown_ones() {
    let app = spawn_app().await;
    let owner = new_sub();
    let token = user_token(&owner, READ_WRITE);
    app.patch_profile_me(&token, r#"{"bio":"mine"}"#).await;
    let admin = user_token(&new_sub(), "profile:read profiles:read");
    for response in [
        app.get_profile(&owner, &admin).await,
        app.get_profiles(&owner, &admin).await,
    ] {
        assert_eq!(response.status(), Status::Ok);
        assert_eq!(
            response.headers().get_one("Cache-Control"),
            Some("no-store")
        );
        let body: Value = response.into_json().await.unwrap();
        assert_eq!(body["id"], owner.as_str());
        assert_eq!(body["bio"], "mine");
        let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["bio", "created_at", "email", "id", "name", "updated_at"]
        );
    }
    let (status, _, content_type, body) = parts(app.get_profiles("no-such-id", &admin).await).await;
    assert_eq!(status, Status::NotFound);
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
    assert_eq!(body["status"], 404);
}

#[rocket::async_test]
async fn a_client_acting_for_itself_gets_no_profile_of_its_own() {
    let app = spawn_app().await;
    // Client credentials: the client is its own subject.
    let mut claims = third_party_claims("service-client", "profile:read profiles:read", None, None);
    claims["client_id"] = json!("service-client");
    let token = KEY.sign(&claims);
    let (status, _, _, _) = parts(app.get_profile_me(&token).await).await;
    assert_eq!(status, Status::NotFound);
    let response = app
        .client
        .get("/profile/me")
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await;
    assert_ne!(response.status(), Status::InternalServerError);
}

/// Makes every later write to `profiles` fail, so a request that writes,
/// even an upsert that would change nothing, answers 500.
async fn forbid_profile_writes(database_url: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let statements: &[&'static str] = if database_url.starts_with("sqlite:") {
        &[
            "create trigger no_insert before insert on profiles begin select raise(abort, 'read-only'); end",
            "create trigger no_update before update on profiles begin select raise(abort, 'read-only'); end",
            "create trigger no_delete before delete on profiles begin select raise(abort, 'read-only'); end",
        ]
    } else {
        &[
            "create function forbid_writes() returns trigger language plpgsql as \
             $$ begin raise exception 'read-only'; end $$",
            "create trigger forbid_writes before insert or update or delete on profiles \
             for each row execute function forbid_writes()",
        ]
    };
    for statement in statements {
        sqlx::query(*statement).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
}

/// Past the profile cache's lifetime (at most 1 s), so reads reach the database.
async fn outlive_the_profile_cache() {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

#[rocket::async_test]
async fn after_the_first_request_a_get_never_writes() {
    let app = spawn_app().await;
    let sub = new_sub();
    let token = user_token(&sub, "profile:read profile:write profiles:read");
    let response = app.get_profile_me(&token).await;
    assert_eq!(response.status(), Status::Ok);
    let first: Value = response.into_json().await.unwrap();
    forbid_profile_writes(&app.database_url).await;
    outlive_the_profile_cache().await;
    for response in [
        app.get_profile_me(&token).await,
        app.get_profile(&sub, &token).await,
        app.get_profiles(&sub, &token).await,
    ] {
        assert_eq!(response.status(), Status::Ok);
        assert_eq!(response.into_json::<Value>().await.unwrap(), first);
    }
    // The trap works: a write is refused and the request fails.
    let (status, _, content_type, body) =
        parts(app.patch_profile_me(&token, r#"{"name": "Changed"}"#).await).await;
    assert_eq!(status, Status::InternalServerError);
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
    assert_eq!(body["status"], 500);
}

#[rocket::async_test]
async fn a_patch_is_seen_by_the_next_get_even_racing_reads() {
    let app = spawn_app().await;
    let token = user_token(&new_sub(), READ_WRITE);
    for round in 0..20 {
        // Cached before the change.
        assert_eq!(app.get_profile_me(&token).await.status(), Status::Ok);
        let name = format!("Name {round}");
        let body = json!({ "name": name }).to_string();
        let reads = futures::future::join_all((0..6).map(|_| app.get_profile_me(&token)));
        let (patched, reads) = futures::join!(app.patch_profile_me(&token, &body), reads);
        assert_eq!(patched.status(), Status::Ok);
        for read in reads {
            assert_eq!(read.status(), Status::Ok);
        }
        let read: Value = app.get_profile_me(&token).await.into_json().await.unwrap();
        assert_eq!(read["name"], name.as_str(), "round {round}");
    }
}

#[rocket::async_test]
async fn a_change_made_elsewhere_is_seen_within_a_second() {
    use sqlx::Connection;
    let app = spawn_app().await;
    let sub = new_sub();
    let token = user_token(&sub, "profile:read");
    assert_eq!(app.get_profile_me(&token).await.status(), Status::Ok);
    // Another resource-server on the same database changes the profile.
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("update profiles set name = 'Elsewhere' where id = $1")
        .bind(sub.as_str())
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    outlive_the_profile_cache().await;
    let read: Value = app.get_profile_me(&token).await.into_json().await.unwrap();
    assert_eq!(read["name"], "Elsewhere");
}

/// A user token of a third-party client, carrying `email` and `name` only
/// where given (as the issuer does without the `email` / `profile` scopes).
fn third_party_claims(sub: &str, scope: &str, email: Option<&str>, name: Option<&str>) -> Value {
    let mut claims = user_claims(sub, scope);
    let object = claims.as_object_mut().unwrap();
    object.insert("client_id".into(), json!("third-party-app"));
    object.remove("email");
    object.remove("name");
    if let Some(email) = email {
        object.insert("email".into(), json!(email));
    }
    if let Some(name) = name {
        object.insert("name".into(), json!(name));
    }
    claims
}

async fn profile_me(app: &crate::helpers::TestApp, claims: &Value) -> Value {
    let (status, _, _, body) = parts(app.get_profile_me(&KEY.sign(claims)).await).await;
    assert_eq!(status, Status::Ok, "{body}");
    body
}

/// Whether the stored `email` and `name` are SQL nulls (not empty strings).
async fn stored_nulls(database_url: &str, sub: &str) -> (bool, bool) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let (email, name): (Option<String>, Option<String>) =
        sqlx::query_as("select email, name from profiles where id = $1")
            .bind(sub)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    (email.is_none(), name.is_none())
}

#[rocket::async_test]
async fn a_token_without_email_or_name_stores_null_until_a_later_token_carries_them() {
    let app = spawn_app().await;
    let sub = new_sub();
    let bare = third_party_claims(&sub, "profile:read", None, None);
    let body = profile_me(&app, &bare).await;
    assert_eq!(body["id"], sub.as_str());
    let object = body.as_object().unwrap();
    assert_eq!(object.get("email"), Some(&Value::Null), "{body}");
    assert_eq!(object.get("name"), Some(&Value::Null), "{body}");
    assert_eq!(body["bio"], "");
    assert_eq!(stored_nulls(&app.database_url, &sub).await, (true, true));

    // A later token with the email fills in the email only.
    let with_email = third_party_claims(&sub, "profile:read email", Some("ada@example.com"), None);
    let body = profile_me(&app, &with_email).await;
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["name"], Value::Null);
    assert_eq!(body["created_at"], "2025-06-15T15:06:40Z");
    // Seen whatever the token that reads it carries.
    assert_eq!(profile_me(&app, &bare).await["email"], "ada@example.com");

    // Then the name; an email already stored is not replaced by a token's.
    let with_both = third_party_claims(
        &sub,
        "profile:read email profile",
        Some("other@example.com"),
        Some("  Ada Lovelace "),
    );
    let body = profile_me(&app, &with_both).await;
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["name"], "Ada Lovelace");
    assert_eq!(stored_nulls(&app.database_url, &sub).await, (false, false));
    assert_eq!(profile_me(&app, &bare).await, body);
}

#[rocket::async_test]
async fn a_name_the_user_chose_is_never_replaced_by_a_token() {
    let app = spawn_app().await;
    let sub = new_sub();
    let bare = KEY.sign(&third_party_claims(&sub, READ_WRITE, None, None));
    let response = app.patch_profile_me(&bare, r#"{"name": "Chosen"}"#).await;
    assert_eq!(response.status(), Status::Ok);
    let patched: Value = response.into_json().await.unwrap();
    assert_eq!(patched["name"], "Chosen");
    assert_eq!(patched["email"], Value::Null);
    let full = third_party_claims(
        &sub,
        READ_WRITE,
        Some("ada@example.com"),
        Some("From Token"),
    );
    let body = profile_me(&app, &full).await;
    assert_eq!(body["name"], "Chosen");
    assert_eq!(body["email"], "ada@example.com");
}

#[rocket::async_test]
async fn a_reader_of_other_profiles_gets_their_nulls_and_a_profile_of_their_own() {
    let app = spawn_app().await;
    let owner = new_sub();
    profile_me(
        &app,
        &third_party_claims(&owner, "profile:read", None, None),
    )
    .await;
    let reader = new_sub();
    let admin = KEY.sign(&third_party_claims(
        &reader,
        "profile:read profiles:read",
        None,
        Some("Reader"),
    ));
    let (status, _, _, body) = parts(app.get_profiles(&owner, &admin).await).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body["email"], Value::Null);
    assert_eq!(body["name"], Value::Null);
    let (status, _, _, own) = parts(app.get_profiles(&reader, &admin).await).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(own["name"], "Reader");
    assert_eq!(own["email"], Value::Null);
}

#[rocket::async_test]
async fn profiles_stored_before_the_fields_became_optional_are_kept() {
    use sqlx::Connection;
    let dir = tempfile::TempDir::new().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let sqlite = database_url.starts_with("sqlite:");
    // The database as the previous release left it: the first migration only.
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(if sqlite { "sqlite" } else { "postgres" });
    let mut migrator = sqlx::migrate::Migrator::new(folder).await.unwrap();
    let first: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version == 20250101000001)
        .cloned()
        .collect();
    assert_eq!(first.len(), 1);
    migrator.migrations = first.into();
    sqlx::any::install_default_drivers();
    let connect = if sqlite {
        format!("{database_url}?mode=rwc")
    } else {
        database_url.clone()
    };
    let mut conn = sqlx::AnyConnection::connect(&connect).await.unwrap();
    migrator.run(&mut conn).await.unwrap();
    let sub = new_sub();
    sqlx::query(
        "insert into profiles (id, email, name, bio, created_at, updated_at) \
         values ($1, 'old@example.com', 'Old Name', 'Old bio.', $2, $2)",
    )
    .bind(sub.as_str())
    .bind(NOW - 3600)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let keys = shared::jwks_cache::JwksCache::fixed(&shared::jwk::JwkSet {
        keys: vec![KEY.jwk.clone()],
    })
    .unwrap();
    let app = spawn_app_on(keys, dir, database_url).await;
    let body = profile_me(&app, &third_party_claims(&sub, "profile:read", None, None)).await;
    assert_eq!(body["email"], "old@example.com");
    assert_eq!(body["name"], "Old Name");
    assert_eq!(body["bio"], "Old bio.");
    assert_eq!(body["created_at"], "2025-06-15T14:06:40Z");
    // And a new profile may now leave them null.
    let newcomer = new_sub();
    let body = profile_me(
        &app,
        &third_party_claims(&newcomer, "profile:read", None, None),
    )
    .await;
    assert_eq!(body["email"], Value::Null);
}
