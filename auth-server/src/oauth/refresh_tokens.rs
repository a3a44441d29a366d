//! Refresh tokens and their families (RFC 6749 §6, RFC 9700 §4.14.2), and the
//! list of revoked access tokens. Shared by every grant that hands out a
//! refresh token (password, authorization code, refresh itself) and by
//! revocation and introspection.
//!
//! A refresh token is an opaque 256-bit random string; only its SHA-256 is
//! stored. Each refresh rotates it: the presented token is marked used and a
//! new one of the same family is issued. A used token presented again means
//! it was copied, so the whole family is revoked.

use sqlx::Row;

use crate::clients::{generate_secret, hash_secret};
use crate::db::Db;

/// A refresh token as stored.
#[derive(Debug, Clone)]
pub struct StoredRefreshToken {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl StoredRefreshToken {
    /// Neither rotated, revoked nor expired.
    pub fn is_live(&self, now: i64) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

/// What a new refresh token is for.
pub struct NewRefreshToken<'a> {
    /// `None` starts a new family (a fresh grant); `Some` continues one.
    pub family_id: Option<&'a str>,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub scope: &'a str,
    /// The access token issued alongside, revoked with the family.
    pub access_jti: &'a str,
    pub ttl: i64,
    pub now: i64,
}

/// An issued refresh token: the value for the client and its family.
pub struct IssuedRefreshToken {
    pub token: String,
    pub family_id: String,
}

/// Stores a new refresh token and returns its one visible copy.
pub async fn issue(db: &Db, new: NewRefreshToken<'_>) -> Result<IssuedRefreshToken, sqlx::Error> {
    let token = generate_secret();
    let family_id = match new.family_id {
        Some(family) => family.to_owned(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    sqlx::query(
        "insert into refresh_tokens \
         (token_hash, family_id, client_id, user_id, scope, expires_at, access_jti, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(hash_secret(&token))
    .bind(&family_id)
    .bind(new.client_id)
    .bind(new.user_id)
    .bind(new.scope)
    .bind(new.now + new.ttl)
    .bind(new.access_jti)
    .bind(new.now)
    .execute(&db.pool)
    .await?;
    Ok(IssuedRefreshToken { token, family_id })
}

/// Looks a presented token up by its digest.
pub async fn find(db: &Db, token: &str) -> Result<Option<StoredRefreshToken>, sqlx::Error> {
    let row = sqlx::query(
        "select family_id, client_id, user_id, scope, expires_at, used_at, revoked_at \
         from refresh_tokens where token_hash = $1",
    )
    .bind(hash_secret(token))
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| {
        Ok(StoredRefreshToken {
            family_id: row.try_get("family_id")?,
            client_id: row.try_get("client_id")?,
            user_id: row.try_get("user_id")?,
            scope: row.try_get("scope")?,
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    })
    .transpose()
}

/// Marks a live token used. `false` means another request got there first
/// (or it died meanwhile): the caller must treat it as reuse.
pub async fn consume(db: &Db, token: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update refresh_tokens set used_at = $1 \
         where token_hash = $2 and used_at is null and revoked_at is null and expires_at > $1",
    )
    .bind(now)
    .bind(hash_secret(token))
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every token of a family and the access tokens issued with them.
/// `access_expires_at` bounds how long those access tokens could live.
pub async fn revoke_family(
    db: &Db,
    family_id: &str,
    now: i64,
    access_expires_at: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "insert into revoked_access_tokens (jti, expires_at) \
         select access_jti, $1 from refresh_tokens \
         where family_id = $2 and access_jti is not null \
         on conflict (jti) do nothing",
    )
    .bind(access_expires_at)
    .bind(family_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "update refresh_tokens set revoked_at = $1 where family_id = $2 and revoked_at is null",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::warn!(family_id, "refresh token family revoked");
    Ok(())
}

/// Lists an access token as revoked until it would have expired anyway.
pub async fn revoke_access_token(db: &Db, jti: &str, expires_at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into revoked_access_tokens (jti, expires_at) values ($1, $2) \
         on conflict (jti) do nothing",
    )
    .bind(jti)
    .bind(expires_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn is_access_token_revoked(db: &Db, jti: &str) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("select 1 as revoked from revoked_access_tokens where jti = $1")
        .bind(jti)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.is_some())
}
