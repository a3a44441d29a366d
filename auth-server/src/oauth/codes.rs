//! One-time authorization codes (RFC 6749 §4.1.2) and the login tickets of
//! the authorization page. Both are 256-bit random strings stored only as
//! SHA-256 digests.
//!
//! A code is bound to its client, redirect URI, user, scope and PKCE
//! challenge, and lives [`CODE_TTL`] seconds. The first exchange marks it
//! used; a second one finds the mark and revokes what the first issued.

use sqlx::Row;

use crate::clients::{generate_secret, hash_secret};
use crate::db::Db;

/// RFC 6749 §4.1.2 recommends at most ten minutes; one is plenty for a redirect.
pub const CODE_TTL: i64 = 60;

/// How long a logged-in visitor has to answer the consent page.
pub const LOGIN_TICKET_TTL: i64 = 300;

pub struct NewCode<'a> {
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub code_challenge: Option<&'a str>,
    pub now: i64,
}

/// Stores a code and returns its one visible copy.
pub async fn create(db: &Db, new: NewCode<'_>) -> Result<String, sqlx::Error> {
    let code = generate_secret();
    sqlx::query(
        "insert into authorization_codes \
         (code_hash, client_id, user_id, redirect_uri, scope, code_challenge, expires_at, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(hash_secret(&code))
    .bind(new.client_id)
    .bind(new.user_id)
    .bind(new.redirect_uri)
    .bind(new.scope)
    .bind(new.code_challenge)
    .bind(new.now + CODE_TTL)
    .bind(new.now)
    .execute(&db.pool)
    .await?;
    Ok(code)
}

/// A code as stored.
#[derive(Debug, Clone)]
pub struct StoredCode {
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub expires_at: i64,
    pub family_id: Option<String>,
    pub access_jti: Option<String>,
}

/// What presenting a code found.
pub enum Redemption {
    /// First use: the code is now spent and its binding is returned.
    Fresh(StoredCode),
    /// The code was already exchanged: what it issued should be revoked.
    Replayed(StoredCode),
    /// Unknown or expired.
    Invalid,
}

/// Spends a code. Marking it used is one conditional update, so of two
/// concurrent exchanges exactly one sees `Fresh`.
pub async fn redeem(db: &Db, code: &str, now: i64) -> Result<Redemption, sqlx::Error> {
    let hash = hash_secret(code);
    let spent = sqlx::query(
        "update authorization_codes set used_at = $1 where code_hash = $2 and used_at is null",
    )
    .bind(now)
    .bind(&hash)
    .execute(&db.pool)
    .await?
    .rows_affected()
        == 1;
    let row = sqlx::query(
        "select client_id, user_id, redirect_uri, scope, code_challenge, expires_at, family_id, access_jti \
         from authorization_codes where code_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(Redemption::Invalid);
    };
    let stored = StoredCode {
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scope: row.try_get("scope")?,
        code_challenge: row.try_get("code_challenge")?,
        expires_at: row.try_get("expires_at")?,
        family_id: row.try_get("family_id")?,
        access_jti: row.try_get("access_jti")?,
    };
    Ok(match (spent, stored.expires_at > now) {
        (false, _) => Redemption::Replayed(stored),
        (true, true) => Redemption::Fresh(stored),
        (true, false) => Redemption::Invalid,
    })
}

/// Records what an exchange issued, for revocation on replay.
pub async fn record_issued(
    db: &Db,
    code: &str,
    family_id: Option<&str>,
    access_jti: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update authorization_codes set family_id = $1, access_jti = $2 where code_hash = $3",
    )
    .bind(family_id)
    .bind(access_jti)
    .bind(hash_secret(code))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Issues a login ticket for `user_id` at `client_id`'s consent page.
pub async fn create_login_ticket(
    db: &Db,
    user_id: &str,
    client_id: &str,
    now: i64,
) -> Result<String, sqlx::Error> {
    let ticket = generate_secret();
    sqlx::query(
        "insert into login_tickets (ticket_hash, user_id, client_id, expires_at) values ($1, $2, $3, $4)",
    )
    .bind(hash_secret(&ticket))
    .bind(user_id)
    .bind(client_id)
    .bind(now + LOGIN_TICKET_TTL)
    .execute(&db.pool)
    .await?;
    Ok(ticket)
}

/// Spends a login ticket and returns its user, if it is live and was made
/// for this client. Single use: a consent answer cannot be replayed.
pub async fn take_login_ticket(
    db: &Db,
    ticket: &str,
    client_id: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let hash = hash_secret(ticket);
    let row = sqlx::query(
        "select user_id, client_id, expires_at from login_tickets where ticket_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&db.pool)
    .await?;
    // Only the request whose delete removed the row may use it.
    let deleted = sqlx::query("delete from login_tickets where ticket_hash = $1")
        .bind(&hash)
        .execute(&db.pool)
        .await?;
    sqlx::query("delete from login_tickets where expires_at <= $1")
        .bind(now)
        .execute(&db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let owner: String = row.try_get("client_id")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    if deleted.rows_affected() == 0 || owner != client_id || expires_at <= now {
        return Ok(None);
    }
    Ok(Some(row.try_get("user_id")?))
}
