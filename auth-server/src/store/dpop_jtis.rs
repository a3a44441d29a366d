//! The `dpop_proof_jtis` table: the `jti` of every DPoP proof (RFC 9449
//! §11.1) accepted, for as long as its proof could pass, so that each one
//! is accepted once by whichever instance sees it first. The key is the
//! SHA-256 of the key's thumbprint and the jti (one client's jti cannot
//! spend another's): the unique key decides a race, not a read.

use super::db::Db;
use super::secrets::hash_secret;

/// Marks `jti` of the key `jkt` used until `expires_at`; `false` when it
/// was used already (by this instance or any other).
pub async fn spend(db: &Db, jkt: &str, jti: &str, expires_at: i64) -> Result<bool, sqlx::Error> {
    let key = hash_secret(&format!("{jkt}\n{jti}"));
    let mut tx = db.begin_write().await?;
    let inserted = sqlx::query(
        "insert into dpop_proof_jtis (jti_hash, expires_at) values ($1, $2) \
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

/// Forgets the jtis of proofs that can no longer pass at `now`.
pub async fn prune(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("delete from dpop_proof_jtis where expires_at < $1")
            .bind(now)
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}
