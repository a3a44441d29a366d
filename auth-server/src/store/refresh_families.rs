//! Refresh tokens and their families (RFC 6749 §6, RFC 9700 §4.14.2), and the
//! list of revoked access tokens. Shared by every grant that hands out a
//! refresh token (password, authorization code, refresh itself) and by
//! revocation and introspection.
//!
//! A refresh token is an opaque 256-bit random string; only its SHA-256 is
//! stored. Each refresh rotates it: the presented token is marked used and a
//! new one of the same family is issued. A used token presented again means
//! it was copied, so the whole family is revoked.
//!
//! Races are decided by the family row (`refresh_families`): every
//! transaction that adds to a family or revokes it begins with a write to
//! that row. On PostgreSQL the write takes the row lock, on SQLite the
//! database write lock, so such transactions run one after the other and
//! each sees what the previous one committed. `SELECT … FOR UPDATE` would do
//! the same on PostgreSQL only. Hence: of two rotations of one token exactly
//! one succeeds and the other revokes the family, successor included; and
//! nothing live is ever added to a family once it is revoked.
//!
//! A family ends `REFRESH_TOKEN_MAX_LIFETIME` after it began, whatever its
//! rotations: each token lives `REFRESH_TOKEN_TTL` but never past its family.

use sqlx::Row;

use super::db::{Db, Tx};
use super::events::{self, Event};
use super::secrets::{generate_secret, hash_secret};

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
    /// The key its family is bound to (RFC 9449 §5): refreshing needs a
    /// DPoP proof of it.
    pub dpop_jkt: Option<String>,
}

impl StoredRefreshToken {
    /// Neither rotated, revoked nor expired.
    pub fn is_live(&self, now: i64) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

/// What a new refresh token is for.
pub struct NewRefreshToken<'a> {
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub scope: &'a str,
    /// The access token issued alongside, revoked with the family.
    pub access_jti: &'a str,
    /// `REFRESH_TOKEN_TTL`: the token's own lifetime.
    pub ttl: i64,
    pub now: i64,
}

/// A family about to begin: its id may be chosen ahead (a code binds it at
/// redemption, before anything is minted).
pub struct NewFamily<'a> {
    pub family_id: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    /// `REFRESH_TOKEN_MAX_LIFETIME`.
    pub max_lifetime: i64,
    pub now: i64,
    /// OpenID Connect: the sign-in that began the grant.
    pub auth_time: Option<i64>,
    /// RFC 8707: the resource the grant's access tokens are for.
    pub resource: Option<&'a str>,
    /// OpenID Connect: the session signed in (`sid`), when there was one.
    pub sid: Option<&'a str>,
    /// RFC 9449 §5: the DPoP key a public client's tokens are bound to.
    pub dpop_jkt: Option<&'a str>,
}

/// An issued refresh token: the value for the client and its family.
pub struct IssuedRefreshToken {
    pub token: String,
    pub family_id: String,
}

/// What adding a token to an existing family came to.
pub enum Continued {
    Issued(IssuedRefreshToken),
    /// A code's first token, for a family revoked since the code was
    /// spent (a concurrent replay of the code): stored revoked with it.
    IssuedRevoked(IssuedRefreshToken),
    /// The family was revoked or has reached its end: nothing was added.
    FamilyEnded,
    /// The presented token was rotated already: reuse, so the family is
    /// now revoked and nothing was added.
    Replayed,
    /// The presented token is expired, revoked, or not of this family.
    TokenDead,
}

/// What a family remembers for OpenID Connect and RFC 8707.
#[derive(Debug, Clone, Default)]
pub struct FamilyContext {
    /// When the user signed in.
    pub auth_time: Option<i64>,
    /// The resource its access tokens are for.
    pub resource: Option<String>,
    /// The session signed in (`sid`).
    pub sid: Option<String>,
}

/// What a family remembers for OpenID Connect and RFC 8707.
pub async fn family_context(db: &Db, family_id: &str) -> Result<FamilyContext, sqlx::Error> {
    let row =
        sqlx::query("select auth_time, resource, sid from refresh_families where family_id = $1")
            .bind(family_id)
            .fetch_optional(&db.pool)
            .await?;
    match row {
        Some(row) => Ok(FamilyContext {
            auth_time: row.try_get("auth_time")?,
            resource: row.try_get("resource")?,
            sid: row.try_get("sid")?,
        }),
        None => Ok(FamilyContext::default()),
    }
}

pub fn new_family_id() -> String {
    platform::ids::random_uuid().to_string()
}

/// Inserts a family row, inside the caller's transaction.
pub async fn insert_family(tx: &mut Tx, family: &NewFamily<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into refresh_families \
         (family_id, client_id, user_id, created_at, expires_at, updated_at, auth_time, resource, sid, \
          dpop_jkt) \
         values ($1, $2, $3, $4, $5, $4, $6, $7, $8, $9)",
    )
    .bind(family.family_id)
    .bind(family.client_id)
    .bind(family.user_id)
    .bind(family.now)
    .bind(family.now.saturating_add(family.max_lifetime))
    .bind(family.auth_time)
    .bind(family.resource)
    .bind(family.sid)
    .bind(family.dpop_jkt)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Begins a family with its first token (a fresh grant), bound to the DPoP
/// key `dpop_jkt` when there is one.
pub async fn start_family(
    db: &Db,
    new: NewRefreshToken<'_>,
    max_lifetime: i64,
    dpop_jkt: Option<&str>,
) -> Result<IssuedRefreshToken, sqlx::Error> {
    let family_id = new_family_id();
    let family = NewFamily {
        family_id: &family_id,
        client_id: new.client_id,
        user_id: new.user_id,
        max_lifetime,
        now: new.now,
        auth_time: None,
        resource: None,
        sid: None,
        dpop_jkt,
    };
    let mut tx = db.begin_write().await?;
    insert_family(&mut tx, &family).await?;
    let family_end = new.now.saturating_add(max_lifetime);
    let token = insert_token(&mut tx, &family_id, &new, family_end).await?;
    tx.commit().await?;
    Ok(IssuedRefreshToken { token, family_id })
}

/// The family lock: the first statement of every transaction that changes
/// a family. Returns the family's end if it is still live (neither revoked
/// nor past its end); `None` otherwise, and the transaction must not add to
/// it.
async fn lock_live_family(
    tx: &mut Tx,
    family_id: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query(
        "update refresh_families set updated_at = $1 \
         where family_id = $2 and revoked_at is null and expires_at > $1 \
         returning expires_at",
    )
    .bind(now)
    .bind(family_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| row.try_get("expires_at")).transpose()
}

/// The end of a family that was revoked, if it was; taken inside the
/// caller's transaction, after its family lock.
async fn revoked_family_end(tx: &mut Tx, family_id: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select expires_at from refresh_families \
         where family_id = $1 and revoked_at is not null",
    )
    .bind(family_id)
    .fetch_optional(&mut **tx)
    .await
}

async fn insert_token(
    tx: &mut Tx,
    family_id: &str,
    new: &NewRefreshToken<'_>,
    family_end: i64,
) -> Result<String, sqlx::Error> {
    let token = generate_secret();
    sqlx::query(
        "insert into refresh_tokens \
         (token_hash, family_id, client_id, user_id, scope, expires_at, access_jti, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(hash_secret(&token))
    .bind(family_id)
    .bind(new.client_id)
    .bind(new.user_id)
    .bind(new.scope)
    .bind(new.now.saturating_add(new.ttl).min(family_end))
    .bind(new.access_jti)
    .bind(new.now)
    .execute(&mut **tx)
    .await?;
    Ok(token)
}

/// Adds a token to a live family in one transaction. With `presented`, this
/// is a rotation: that token is spent in the same transaction, and if it
/// was spent already the family is revoked instead (`access_expires_at`
/// bounds how long its access tokens could live). Without, it is the first
/// token of a family begun at a code's redemption: the exchange that spent
/// the code has won, whatever came after, so when a replay of the code has
/// revoked the family meanwhile the token is still stored, revoked
/// (`IssuedRevoked`): the winner gets its answer, and nothing in it lives.
pub async fn continue_family(
    db: &Db,
    family_id: &str,
    presented: Option<&str>,
    new: NewRefreshToken<'_>,
    access_expires_at: i64,
) -> Result<Continued, sqlx::Error> {
    let now = new.now;
    let mut tx = db.begin_write().await?;
    let Some(family_end) = lock_live_family(&mut tx, family_id, now).await? else {
        if presented.is_none()
            && let Some(family_end) = revoked_family_end(&mut tx, family_id).await?
        {
            let token = insert_token(&mut tx, family_id, &new, family_end).await?;
            sqlx::query("update refresh_tokens set revoked_at = $1 where token_hash = $2")
                .bind(now)
                .bind(hash_secret(&token))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Continued::IssuedRevoked(IssuedRefreshToken {
                token,
                family_id: family_id.to_owned(),
            }));
        }
        tx.rollback().await?;
        return Ok(Continued::FamilyEnded);
    };
    if let Some(presented) = presented {
        let hash = hash_secret(presented);
        let spent = sqlx::query(
            "update refresh_tokens set used_at = $1 \
             where token_hash = $2 and family_id = $3 \
             and used_at is null and revoked_at is null and expires_at > $1",
        )
        .bind(now)
        .bind(&hash)
        .bind(family_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !spent {
            // Still holding the family lock: whatever the winner added is
            // committed and visible, and goes down with the family.
            let row = sqlx::query(
                "select used_at, revoked_at from refresh_tokens \
                 where token_hash = $1 and family_id = $2",
            )
            .bind(&hash)
            .bind(family_id)
            .fetch_optional(&mut *tx)
            .await?;
            let replayed = match row {
                Some(row) => {
                    let used_at: Option<i64> = row.try_get("used_at")?;
                    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
                    used_at.is_some() && revoked_at.is_none()
                }
                None => false,
            };
            if !replayed {
                tx.rollback().await?;
                return Ok(Continued::TokenDead);
            }
            revoke_family_locked(&mut tx, family_id, now, access_expires_at).await?;
            let replay = replay_event(new.client_id, new.user_id, family_id);
            events::insert(&mut tx, replay, now).await?;
            tx.commit().await?;
            db.revoked_here();
            metrics::counter!("refresh_token_replays_total").increment(1);
            tracing::warn!(family_id, "refresh token reused: family revoked");
            return Ok(Continued::Replayed);
        }
    }
    let token = insert_token(&mut tx, family_id, &new, family_end).await?;
    tx.commit().await?;
    Ok(Continued::Issued(IssuedRefreshToken {
        token,
        family_id: family_id.to_owned(),
    }))
}

/// Looks a presented token up by its digest.
pub async fn find(db: &Db, token: &str) -> Result<Option<StoredRefreshToken>, sqlx::Error> {
    let row = sqlx::query(
        "select t.family_id, t.client_id, t.user_id, t.scope, t.expires_at, t.used_at, \
         t.revoked_at, f.dpop_jkt \
         from refresh_tokens t left join refresh_families f on f.family_id = t.family_id \
         where t.token_hash = $1",
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
            dpop_jkt: row.try_get("dpop_jkt")?,
        })
    })
    .transpose()
}

/// Revokes every token of a family and the access tokens issued with them,
/// in one transaction that begins with the family lock, so that a rotation
/// racing it either commits first (and its successor is revoked here) or
/// finds the family revoked (and adds nothing). `access_expires_at` bounds
/// how long those access tokens could live.
pub async fn revoke_family(
    db: &Db,
    family_id: &str,
    now: i64,
    access_expires_at: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    revoke_family_locked(&mut tx, family_id, now, access_expires_at).await?;
    tx.commit().await?;
    db.revoked_here();
    tracing::warn!(family_id, "refresh token family revoked");
    Ok(())
}

/// Revokes the family of a spent refresh token presented again (a replay,
/// RFC 9700 §4.14.2), recording the replay in the same transaction.
pub async fn revoke_replayed_family(
    db: &Db,
    stored: &StoredRefreshToken,
    now: i64,
    access_expires_at: i64,
) -> Result<(), sqlx::Error> {
    let family_id = stored.family_id.as_str();
    let mut tx = db.begin_write().await?;
    revoke_family_locked(&mut tx, family_id, now, access_expires_at).await?;
    let replay = replay_event(&stored.client_id, &stored.user_id, family_id);
    events::insert(&mut tx, replay, now).await?;
    tx.commit().await?;
    db.revoked_here();
    metrics::counter!("refresh_token_replays_total").increment(1);
    tracing::warn!(family_id, "refresh token reused: family revoked");
    Ok(())
}

fn replay_event(client_id: &str, user_id: &str, family_id: &str) -> Event {
    Event::new("refresh_replayed")
        .client(client_id)
        .subject(user_id)
        .detail("family_id", family_id)
}

/// The body of a revocation. Its first statement is the family lock (or
/// re-takes it, within a rotation), its last the revocations' version
/// ([`bump_revocations`]): the caller calls `Db::revoked_here` after the
/// commit.
async fn revoke_family_locked(
    tx: &mut Tx,
    family_id: &str,
    now: i64,
    access_expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update refresh_families set revoked_at = coalesce(revoked_at, $1), updated_at = $1 \
         where family_id = $2",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "insert into revoked_access_tokens (jti, expires_at) \
         select access_jti, $1 from refresh_tokens \
         where family_id = $2 and access_jti is not null \
         on conflict (jti) do nothing",
    )
    .bind(access_expires_at)
    .bind(family_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "update refresh_tokens set revoked_at = $1 where family_id = $2 and revoked_at is null",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut **tx)
    .await?;
    bump_revocations(tx).await
}

/// Revokes every family of one user, and lists their access tokens as
/// revoked, inside the caller's transaction (an operator deleted the user
/// or changed their rights). Family rows are written first, as every
/// rotation does, so a rotation racing this either committed before (and
/// its successor is revoked here) or finds its family revoked. Returns how
/// many families were live. The revocations' version is moved last: the
/// caller calls `Db::revoked_here` after the commit.
pub async fn revoke_user_families(
    tx: &mut Tx,
    user_id: &str,
    now: i64,
    access_expires_at: i64,
) -> Result<u64, sqlx::Error> {
    let families = sqlx::query(
        "update refresh_families set revoked_at = $1, updated_at = $1          where user_id = $2 and revoked_at is null and expires_at > $1",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    sqlx::query(
        "insert into revoked_access_tokens (jti, expires_at)          select access_jti, $1 from refresh_tokens          where user_id = $2 and access_jti is not null and revoked_at is null          on conflict (jti) do nothing",
    )
    .bind(access_expires_at)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "update refresh_tokens set revoked_at = $1 where user_id = $2 and revoked_at is null",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    super::exchanged_tokens::revoke_user(tx, user_id, now).await?;
    bump_revocations(tx).await?;
    Ok(families)
}

/// Lists an access token as revoked until it would have expired anyway,
/// with the revocations' version in the same transaction.
pub async fn revoke_access_token(db: &Db, jti: &str, expires_at: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let listed = sqlx::query(
        "insert into revoked_access_tokens (jti, expires_at) values ($1, $2) \
         on conflict (jti) do nothing",
    )
    .bind(jti)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if listed == 0 {
        // Listed already, and its bump with it.
        tx.rollback().await?;
        return Ok(());
    }
    bump_revocations(&mut tx).await?;
    tx.commit().await?;
    db.revoked_here();
    Ok(())
}

/// Whether an access token is revoked: listed itself, or (an exchanged
/// token) one of the tokens it descends from is. Read from the database
/// every time (introspection, UserInfo, the refresh flow); the admin API
/// and token exchange ask `revocations::is_revoked`.
pub async fn is_access_token_revoked(db: &Db, jti: &str) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "select 1 as revoked from revoked_access_tokens where jti = $1 \
         union all \
         select 1 as revoked from revoked_access_tokens r \
         join exchanged_tokens e on r.jti = e.ancestor_jti where e.jti = $1",
    )
    .bind(jti)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.is_some())
}

/// Moves the revocations' version (`store::revocations`), inside the transaction that inserts
/// into `revoked_access_tokens`; its last statement, so that the one-row
/// lock is always taken after the family and user rows (no lock cycle).
/// The caller calls `Db::revoked_here` after the commit.
pub async fn bump_revocations(tx: &mut Tx) -> Result<(), sqlx::Error> {
    sqlx::query("update revocations_version set version = version + 1 where id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}
