//! The `registration_tokens` table: initial access tokens (RFC 7591 §3),
//! which let a third party register a client at `/oauth/register`. Each is
//! stored as its digest with an expiry and a number of uses; a
//! registration spends one in the transaction that inserts the client
//! ([`spend`]), by one conditional update, so of any number of racing
//! registrations at most `max_uses` succeed, on SQLite as on PostgreSQL.

use super::db::{Db, Tx};
use super::events::{self, Event};
use super::secrets::{generate_secret, hash_secret};

/// Makes a token good for `max_uses` registrations until `expires_at`;
/// returns it, the only time it is seen (only its digest is stored).
pub async fn create_recorded(
    db: &Db,
    expires_at: i64,
    max_uses: i64,
    now: i64,
    event: Event,
) -> Result<String, sqlx::Error> {
    let token = generate_secret();
    let token_hash = hash_secret(&token);
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "insert into registration_tokens (token_hash, expires_at, max_uses, uses, created_at) \
         values ($1, $2, $3, 0, $4)",
    )
    .bind(&token_hash)
    .bind(expires_at)
    .bind(max_uses)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // The first characters of the digest name the token in the trail
    // without giving anything a caller could present.
    let event = event
        .detail("token_digest_prefix", &token_hash[..8])
        .detail("expires_at", expires_at)
        .detail("max_uses", max_uses);
    events::insert(&mut tx, event, now).await?;
    tx.commit().await?;
    Ok(token)
}

/// Whether `token` is one of ours, unexpired and not used up: checked
/// before the request's body is read, so a stranger learns nothing more.
/// The use itself is spent later, by [`spend`].
pub async fn is_usable(db: &Db, token: &str, now: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "select 1 from registration_tokens \
         where token_hash = $1 and expires_at > $2 and uses < max_uses",
    )
    .bind(hash_secret(token))
    .bind(now)
    .fetch_optional(&db.pool)
    .await?
    .is_some())
}

/// Spends one use of `token` inside `tx`; `false` when it is unknown,
/// expired or used up (then nothing changed).
pub async fn spend(tx: &mut Tx, token: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update registration_tokens set uses = uses + 1 \
         where token_hash = $1 and expires_at > $2 and uses < max_uses",
    )
    .bind(hash_secret(token))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the tokens that expired before `now`.
pub async fn prune(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("delete from registration_tokens where expires_at < $1")
            .bind(now)
            .execute(&mut *db.writer().await?)
            .await?
            .rows_affected(),
    )
}
