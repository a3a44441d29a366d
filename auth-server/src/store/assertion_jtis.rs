//! The `client_assertion_jtis` table: the `jti` of every client assertion
//! (RFC 7523) accepted, until it expires, so that each one is accepted
//! once by whichever instance sees it first. The key is the SHA-256 of the
//! client id and the jti: the unique key decides a race, not a read.

use super::db::Db;
use super::secrets::hash_secret;

/// Marks `jti` of `client_id` used until `expires_at`; `false` when it was
/// used already (by this instance or any other).
pub async fn spend(
    db: &Db,
    client_id: &str,
    jti: &str,
    expires_at: i64,
) -> Result<bool, sqlx::Error> {
    let key = hash_secret(&format!("{client_id}\n{jti}"));
    let mut tx = db.begin_write().await?;
    let inserted = sqlx::query(
        "insert into client_assertion_jtis (jti_hash, expires_at) values ($1, $2) \
         on conflict (jti_hash) do nothing",
    )
    .bind(key)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(inserted == 1)
}

/// Forgets the jtis of assertions expired at `now`.
pub async fn prune(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("delete from client_assertion_jtis where expires_at < $1")
            .bind(now)
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}
