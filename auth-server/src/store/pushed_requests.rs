//! The `pushed_requests` table (RFC 9126): authorization requests a client
//! pushed, kept for [`LIFETIME`] seconds under the SHA-256 of their
//! `request_uri`, so that any instance can serve one and a copy of the
//! table names no usable `request_uri`. A request serves one authorization:
//! it is read as often as the pages need it and spent, by a delete whose
//! row count decides a race, when its code is issued.

use sqlx::Row;

use super::db::Db;
use super::secrets::{generate_secret, hash_secret};

/// How long a pushed request may be used, in seconds (`expires_in`).
pub const LIFETIME: i64 = 60;
/// RFC 9126 §2.2: the `request_uri` is a URN of this prefix.
pub const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Stores the `parameters` (JSON text) `client_id` pushed at `now`;
/// returns the `request_uri` that names them.
pub async fn push(
    db: &Db,
    client_id: &str,
    parameters: &str,
    now: i64,
) -> Result<String, sqlx::Error> {
    let request_uri = format!("{PREFIX}{}", generate_secret());
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "insert into pushed_requests (request_uri_hash, client_id, parameters, expires_at) \
         values ($1, $2, $3, $4)",
    )
    .bind(hash_secret(&request_uri))
    .bind(client_id)
    .bind(parameters)
    .bind(now + LIFETIME)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(request_uri)
}

/// The parameters `client_id` pushed as `request_uri`, while it is
/// neither expired nor spent.
pub async fn find(
    db: &Db,
    request_uri: &str,
    client_id: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "select parameters from pushed_requests \
         where request_uri_hash = $1 and client_id = $2 and expires_at > $3",
    )
    .bind(hash_secret(request_uri))
    .bind(client_id)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| row.try_get("parameters")).transpose()
}

/// Spends `request_uri`; `false` when it was spent already (by this
/// instance or another), has expired, or is another client's.
pub async fn spend(
    db: &Db,
    request_uri: &str,
    client_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let deleted = sqlx::query(
        "delete from pushed_requests \
         where request_uri_hash = $1 and client_id = $2 and expires_at > $3",
    )
    .bind(hash_secret(request_uri))
    .bind(client_id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(deleted == 1)
}

/// Forgets the requests expired at `now`.
pub async fn prune(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("delete from pushed_requests where expires_at < $1")
            .bind(now)
            .execute(&mut *db.writer().await?)
            .await?
            .rows_affected(),
    )
}
