//! One-time authorization codes (RFC 6749 §4.1.2) and the login tickets of
//! the authorization page. Both are 256-bit random strings stored only as
//! SHA-256 digests.
//!
//! A code is bound to its client, redirect URI, user, scope and PKCE
//! challenge, and lives [`CODE_TTL`] seconds. The first exchange marks it
//! used and, in the same write, binds what it will issue; a second one
//! finds the mark and revokes that, however close behind it comes.

use sqlx::Row;

use super::db::Db;
use super::secrets::{generate_secret, hash_secret};
use super::sessions::SignedIn;
use super::{logout_deliveries, refresh_families};

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
    /// OpenID Connect: echoed in the id_token.
    pub nonce: Option<&'a str>,
    /// When the user signed in.
    pub auth_time: Option<i64>,
    /// The session signed in (`sid`), when there is one.
    pub sid: Option<&'a str>,
    /// RFC 8707: the resource the access token will be for.
    pub resource: Option<&'a str>,
    /// RFC 9449 §10: the key the redemption must prove.
    pub dpop_jkt: Option<&'a str>,
    pub now: i64,
}

/// Stores a code and returns its one visible copy.
pub async fn create(db: &Db, new: NewCode<'_>) -> Result<String, sqlx::Error> {
    let code = generate_secret();
    sqlx::query(
        "insert into authorization_codes \
         (code_hash, client_id, user_id, redirect_uri, scope, code_challenge, expires_at, created_at, \
          nonce, auth_time, resource, sid, dpop_jkt) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(hash_secret(&code))
    .bind(new.client_id)
    .bind(new.user_id)
    .bind(new.redirect_uri)
    .bind(new.scope)
    .bind(new.code_challenge)
    .bind(new.now + CODE_TTL)
    .bind(new.now)
    .bind(new.nonce)
    .bind(new.auth_time)
    .bind(new.resource)
    .bind(new.sid)
    .bind(new.dpop_jkt)
    .execute(&mut *db.writer().await?)
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
    pub nonce: Option<String>,
    pub auth_time: Option<i64>,
    pub resource: Option<String>,
    pub sid: Option<String>,
    pub dpop_jkt: Option<String>,
}

/// What presenting a code found.
pub enum Redemption {
    /// First use: the code is now spent, bound to what it will issue, and
    /// its binding is returned.
    Fresh(StoredCode),
    /// The code was already exchanged: what it issued should be revoked.
    Replayed(StoredCode),
    /// Unknown or expired.
    Invalid,
}

/// What an exchange will issue, chosen before the code is spent so that
/// spending and binding are one write.
pub struct Plan<'a> {
    /// The client presenting the code; only its own code is bound.
    pub client_id: &'a str,
    /// The `jti` the access token will carry.
    pub access_jti: &'a str,
    /// The refresh token family to begin, when the client may refresh.
    pub family_id: Option<&'a str>,
    /// `REFRESH_TOKEN_MAX_LIFETIME`, for that family.
    pub max_lifetime: i64,
    /// The key that family's tokens are bound to (a public client's, RFC
    /// 9449 §5).
    pub dpop_jkt: Option<&'a str>,
    pub now: i64,
}

fn stored_code(row: &sqlx::any::AnyRow) -> Result<StoredCode, sqlx::Error> {
    Ok(StoredCode {
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scope: row.try_get("scope")?,
        code_challenge: row.try_get("code_challenge")?,
        expires_at: row.try_get("expires_at")?,
        family_id: row.try_get("family_id")?,
        access_jti: row.try_get("access_jti")?,
        nonce: row.try_get("nonce")?,
        auth_time: row.try_get("auth_time")?,
        resource: row.try_get("resource")?,
        sid: row.try_get("sid")?,
        dpop_jkt: row.try_get("dpop_jkt")?,
    })
}

/// Spends a code. One conditional update marks it used and records what
/// the exchange will issue (the access token's `jti`, the refresh family),
/// and the family row is created in the same transaction. So of two
/// concurrent exchanges exactly one sees `Fresh`, and the other always
/// finds what to revoke: a family that exists and can be locked, and a
/// `jti` to list, even before the winner has minted anything.
pub async fn redeem(db: &Db, code: &str, plan: &Plan<'_>) -> Result<Redemption, sqlx::Error> {
    let hash = hash_secret(code);
    let now = plan.now;
    let mut tx = db.begin_write().await?;
    // Bound only when the code is live and the presenter's: a stolen or
    // stale code is spent all the same (one guess), with nothing to revoke.
    let spent = sqlx::query(
        "update authorization_codes set used_at = $1, \
         family_id = case when client_id = $2 and expires_at > $1 then $3 end, \
         access_jti = case when client_id = $2 and expires_at > $1 then $4 end \
         where code_hash = $5 and used_at is null \
         returning client_id, user_id, redirect_uri, scope, code_challenge, expires_at, family_id, access_jti, \
         nonce, auth_time, resource, sid, dpop_jkt",
    )
    .bind(now)
    .bind(plan.client_id)
    .bind(plan.family_id)
    .bind(plan.access_jti)
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = spent {
        let stored = stored_code(&row)?;
        if stored.expires_at <= now {
            tx.commit().await?;
            return Ok(Redemption::Invalid);
        }
        if let Some(family_id) = &stored.family_id {
            let family = refresh_families::NewFamily {
                family_id,
                client_id: &stored.client_id,
                user_id: &stored.user_id,
                max_lifetime: plan.max_lifetime,
                now,
                auth_time: stored.auth_time,
                resource: stored.resource.as_deref(),
                sid: stored.sid.as_deref(),
                dpop_jkt: plan.dpop_jkt,
            };
            refresh_families::insert_family(&mut tx, &family).await?;
        }
        // Its client got tokens in this session: told when it ends.
        if let (Some(sid), true) = (&stored.sid, stored.client_id == plan.client_id) {
            logout_deliveries::remember_client(
                &mut tx,
                sid,
                &stored.client_id,
                &stored.user_id,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        return Ok(Redemption::Fresh(stored));
    }
    let row = sqlx::query(
        "select client_id, user_id, redirect_uri, scope, code_challenge, expires_at, family_id, access_jti, \
         nonce, auth_time, resource, sid, dpop_jkt from authorization_codes where code_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(match row {
        Some(row) => Redemption::Replayed(stored_code(&row)?),
        None => Redemption::Invalid,
    })
}

/// Issues a login ticket for `user_id`, `signed_in` as it says, at
/// `client_id`'s consent page.
pub async fn create_login_ticket(
    db: &Db,
    user_id: &str,
    client_id: &str,
    signed_in: &SignedIn,
    now: i64,
) -> Result<String, sqlx::Error> {
    let ticket = generate_secret();
    sqlx::query(
        "insert into login_tickets (ticket_hash, user_id, client_id, expires_at, auth_time, sid) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash_secret(&ticket))
    .bind(user_id)
    .bind(client_id)
    .bind(now + LOGIN_TICKET_TTL)
    .bind(signed_in.auth_time)
    .bind(signed_in.sid.as_deref())
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(ticket)
}

/// Spends a login ticket and returns its user and sign-in, if it is live
/// and was made for this client. Single use: a consent answer cannot be
/// replayed.
pub async fn take_login_ticket(
    db: &Db,
    ticket: &str,
    client_id: &str,
    now: i64,
) -> Result<Option<(String, SignedIn)>, sqlx::Error> {
    let hash = hash_secret(ticket);
    let row = sqlx::query(
        "select user_id, client_id, expires_at, auth_time, sid from login_tickets \
         where ticket_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&db.pool)
    .await?;
    // Only the request whose delete removed the row may use it.
    let deleted = sqlx::query("delete from login_tickets where ticket_hash = $1")
        .bind(&hash)
        .execute(&mut *db.writer().await?)
        .await?;
    sqlx::query("delete from login_tickets where expires_at <= $1")
        .bind(now)
        .execute(&mut *db.writer().await?)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let owner: String = row.try_get("client_id")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    if deleted.rows_affected() == 0 || owner != client_id || expires_at <= now {
        return Ok(None);
    }
    let auth_time: Option<i64> = row.try_get("auth_time")?;
    let signed_in = SignedIn {
        auth_time: auth_time.unwrap_or(now),
        sid: row.try_get("sid")?,
    };
    Ok(Some((row.try_get("user_id")?, signed_in)))
}
