//! The `signing_keys` table and the one-row `key_ring` version that every
//! change to it bumps first: that takes the row's lock on PostgreSQL and
//! the write lock on SQLite, so the command line and any number of servers
//! take turns, and each decides on the rows it reads after taking the lock.

use std::collections::HashSet;

use sqlx::Row;

use super::lifecycle::{Entry, Schedule};
use crate::store::db::Db;

/// One row of `signing_keys`.
#[derive(Clone)]
pub struct StoredKey {
    pub entry: Entry,
    pub public_jwk: String,
    /// The sealed private key; `None` for a tombstone.
    pub sealed: Option<String>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("entry", &self.entry)
            .field("tombstone", &self.sealed.is_none())
            .finish_non_exhaustive()
    }
}

/// Every key, tombstones included.
pub async fn read_keys<'c, E>(executor: E) -> Result<Vec<StoredKey>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let rows = sqlx::query(
        "select kid, public_jwk, sealed_private_key, created_at, activates_at, retires_at, removed_at \
         from signing_keys order by kid",
    )
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredKey {
                entry: Entry {
                    kid: row.try_get("kid")?,
                    created_at: row.try_get("created_at")?,
                    activates_at: row.try_get("activates_at")?,
                    retires_at: row.try_get("retires_at")?,
                    removed_at: row.try_get("removed_at")?,
                },
                public_jwk: row.try_get("public_jwk")?,
                sealed: row.try_get("sealed_private_key")?,
            })
        })
        .collect()
}

/// Whether the database holds a private key (only a KEK could open it).
pub async fn holds_keys(db: &Db) -> Result<bool, sqlx::Error> {
    let row =
        sqlx::query("select count(*) as n from signing_keys where sealed_private_key is not null")
            .fetch_one(&db.pool)
            .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

pub use crate::store::db::Tx;

/// Begins a change: the version bump comes first, so the transaction holds
/// the lock every other changer waits for before it reads anything.
pub async fn begin_change(db: &Db) -> Result<Tx, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query("update key_ring set version = version + 1 where id = 1")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

pub async fn insert_key(tx: &mut Tx, key: &StoredKey) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into signing_keys \
         (kid, public_jwk, sealed_private_key, created_at, activates_at, retires_at, removed_at) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&key.entry.kid)
    .bind(&key.public_jwk)
    .bind(key.sealed.as_deref())
    .bind(key.entry.created_at)
    .bind(key.entry.activates_at)
    .bind(key.entry.retires_at)
    .bind(key.entry.removed_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes `entry`'s instants; `erase` also erases its private key, leaving
/// a tombstone.
pub async fn update_entry(tx: &mut Tx, entry: &Entry, erase: bool) -> Result<(), sqlx::Error> {
    let sql = if erase {
        "update signing_keys set activates_at = $2, retires_at = $3, removed_at = $4, \
         sealed_private_key = null where kid = $1"
    } else {
        "update signing_keys set activates_at = $2, retires_at = $3, removed_at = $4 where kid = $1"
    };
    sqlx::query(sql)
        .bind(&entry.kid)
        .bind(entry.activates_at)
        .bind(entry.retires_at)
        .bind(entry.removed_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The schedule of `rows` and the kids whose private keys are there.
pub fn schedule_of(rows: &[StoredKey]) -> (Schedule, HashSet<String>) {
    let schedule = Schedule {
        keys: rows.iter().map(|r| r.entry.clone()).collect(),
    };
    let present = rows
        .iter()
        .filter(|r| r.sealed.is_some())
        .map(|r| r.entry.kid.clone())
        .collect();
    (schedule, present)
}

/// Erases the private keys of keys whose removal time has come, leaving
/// their tombstones.
pub async fn erase_removed(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let mut tx = begin_change(db).await?;
    let erased = sqlx::query(
        "update signing_keys set sealed_private_key = null \
         where removed_at is not null and removed_at <= $1 and sealed_private_key is not null",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if erased == 0 {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(erased)
}
