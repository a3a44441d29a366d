//! Sign-in sessions at the authorization pages, and remembered consent.
//!
//! A session is a 256-bit random value the browser keeps in a cookie
//! (`routes::session_cookie`); the database keeps only its SHA-256, with
//! the user and the time they typed their password (OIDC `auth_time`).
//! Every instance on one database therefore honours every session, and
//! ending one (logout) ends it everywhere. A value that is unknown,
//! expired, or whose user is gone is simply no session.
//!
//! Consent is one row per (user, client, scope): a request is answered
//! without the consent page only when it would grant something and every
//! scope of it was allowed before.

use shared::scope::ScopeSet;
use sqlx::Row;

use super::db::Db;
use super::secrets::{generate_secret, hash_secret};

/// A live sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: String,
    /// When the password was typed (unix seconds).
    pub auth_time: i64,
}

/// Starts a session for `user_id`, signed in at `now`, for `ttl` seconds;
/// returns the value the browser is to present.
pub async fn start(db: &Db, user_id: &str, now: i64, ttl: i64) -> Result<String, sqlx::Error> {
    let token = generate_secret();
    sqlx::query(
        "insert into sign_in_sessions (session_hash, user_id, auth_time, expires_at) \
         values ($1, $2, $3, $4)",
    )
    .bind(hash_secret(&token))
    .bind(user_id)
    .bind(now)
    .bind(now.saturating_add(ttl))
    .execute(&db.pool)
    .await?;
    Ok(token)
}

/// The live session `token` names, if any: known, not expired, and its
/// user still exists.
pub async fn find(db: &Db, token: &str, now: i64) -> Result<Option<Session>, sqlx::Error> {
    let row = sqlx::query(
        "select s.user_id, s.auth_time from sign_in_sessions s \
         join users u on u.id = s.user_id \
         where s.session_hash = $1 and s.expires_at > $2",
    )
    .bind(hash_secret(token))
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| {
        Ok(Session {
            user_id: row.try_get("user_id")?,
            auth_time: row.try_get("auth_time")?,
        })
    })
    .transpose()
}

/// Ends the session `token` names, here and at every instance.
pub async fn end(db: &Db, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("delete from sign_in_sessions where session_hash = $1")
        .bind(hash_secret(token))
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Has `user_id` allowed `client_id` every scope of `scope` before? Never
/// for an empty scope: "every scope" of nothing is true of any user, and
/// would let a client that can be granted nothing skip the consent page.
pub async fn has_consent(
    db: &Db,
    user_id: &str,
    client_id: &str,
    scope: &ScopeSet,
) -> Result<bool, sqlx::Error> {
    if scope.is_empty() {
        return Ok(false);
    }
    let rows = sqlx::query("select scope from consents where user_id = $1 and client_id = $2")
        .bind(user_id)
        .bind(client_id)
        .fetch_all(&db.pool)
        .await?;
    let mut given = Vec::with_capacity(rows.len());
    for row in &rows {
        given.push(row.try_get::<String, _>("scope")?);
    }
    Ok(scope.iter().all(|s| given.iter().any(|g| g == s)))
}

/// Remembers that `user_id` allowed `client_id` every scope of `scope`.
/// An empty scope is no consent and is not remembered.
pub async fn remember_consent(
    db: &Db,
    user_id: &str,
    client_id: &str,
    scope: &ScopeSet,
    now: i64,
) -> Result<(), sqlx::Error> {
    for token in scope.iter() {
        sqlx::query(
            "insert into consents (user_id, client_id, scope, granted_at) values ($1, $2, $3, $4) \
             on conflict (user_id, client_id, scope) do nothing",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(token)
        .bind(now)
        .execute(&db.pool)
        .await?;
    }
    Ok(())
}

/// Deletes sessions past their end (housekeeping).
pub async fn prune(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("delete from sign_in_sessions where expires_at <= $1")
            .bind(now)
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}
