//! Sign-in sessions at the authorization pages, and remembered consent.
//!
//! A session is a 256-bit random value the browser keeps in a cookie
//! (`routes::session_cookie`); the database keeps only its SHA-256, with
//! the user and the time they typed their password (OIDC `auth_time`).
//! Every instance on one database therefore honours every session, and
//! ending one (logout) ends it everywhere. A value that is unknown,
//! expired, or whose user is gone is simply no session.
//!
//! A session also has a public id, `sid` (OpenID Connect Back-Channel
//! Logout 1.0 §2.1): random, unrelated to the cookie, carried by the codes
//! of the session into their id_tokens. When a session ends, the clients
//! that got tokens in it are told (`logout_deliveries`), in the
//! transaction that ends it.
//!
//! Consent is one row per (user, client, scope): a request is answered
//! without the consent page only when it would grant something and every
//! scope of it was allowed before.

use shared::scope::ScopeSet;
use sqlx::Row;

use super::db::Db;
use super::logout_deliveries;
use super::secrets::{generate_secret, hash_secret};

/// A live sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: String,
    /// When the password was typed (unix seconds).
    pub auth_time: i64,
    /// The session's public id; `None` for one begun before sessions had
    /// one.
    pub sid: Option<String>,
}

impl Session {
    pub fn signed_in(&self) -> SignedIn {
        SignedIn {
            auth_time: self.auth_time,
            sid: self.sid.clone(),
        }
    }
}

/// What an authorization carries of the sign-in behind it, from the page
/// to the code and on to every id_token of the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// When the password was typed (OIDC `auth_time`).
    pub auth_time: i64,
    /// The session (`sid`), when there is one.
    pub sid: Option<String>,
}

/// A session just begun: the value the browser presents, and its `sid`.
#[derive(Debug)]
pub struct Started {
    pub token: String,
    pub sid: String,
}

/// Starts a session for `user_id`, signed in at `now`, for `ttl` seconds.
pub async fn start(db: &Db, user_id: &str, now: i64, ttl: i64) -> Result<Started, sqlx::Error> {
    let token = generate_secret();
    let sid = platform::ids::random_uuid().simple().to_string();
    sqlx::query(
        "insert into sign_in_sessions (session_hash, user_id, auth_time, expires_at, sid) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(hash_secret(&token))
    .bind(user_id)
    .bind(now)
    .bind(now.saturating_add(ttl))
    .bind(&sid)
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(Started { token, sid })
}

/// The live session `token` names, if any: known, not expired, and its
/// user still exists.
pub async fn find(db: &Db, token: &str, now: i64) -> Result<Option<Session>, sqlx::Error> {
    let row = sqlx::query(
        "select s.user_id, s.auth_time, s.sid from sign_in_sessions s \
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
            sid: row.try_get("sid")?,
        })
    })
    .transpose()
}

/// Ends the session `token` names, here and at every instance; the
/// clients that got tokens in it are told by the back channel.
pub async fn end(db: &Db, token: &str, now: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let ended: Option<Option<String>> =
        sqlx::query_scalar("delete from sign_in_sessions where session_hash = $1 returning sid")
            .bind(hash_secret(token))
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(Some(sid)) = ended {
        logout_deliveries::session_ended(&mut tx, &sid, now).await?;
    }
    tx.commit().await
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
        .execute(&mut *db.writer().await?)
        .await?;
    }
    Ok(())
}

/// Deletes sessions past their end (housekeeping).
pub async fn prune(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("delete from sign_in_sessions where expires_at <= $1")
            .bind(now)
            .execute(&mut *db.writer().await?)
            .await?
            .rows_affected(),
    )
}
