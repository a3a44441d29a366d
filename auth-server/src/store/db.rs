//! The database handle: one sqlx `Any` pool over SQLite (the default, a file
//! created with its folder) or PostgreSQL, with the embedded migrations of
//! the matching folder run at start.
//!
//! While the database is unreachable, requests must fail fast rather than
//! queue: a connection is waited for at most [`ACQUIRE_TIMEOUT`], and
//! [`platform::db::is_unavailable`] tells the errors that mean "not now" (answered `503`
//! with `Retry-After`) from real faults. The pool reconnects by itself, so
//! service resumes as soon as the database is back.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use platform::db::{
    ACQUIRE_TIMEOUT, Backend, DbSetupError, Migrations, PoolSize, WriteTurn, WriteTurns,
};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};

use super::client_cache::VersionedCache;
use super::event_queue::EventQueue;
use super::write_queue::WriteQueue;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// A pooled connection holding this process's turn to write ([`Db::writer`]).
pub struct WriteConn {
    // Back to the pool before the next writer's turn begins.
    conn: PoolConnection<Any>,
    _turn: WriteTurn,
}

impl Deref for WriteConn {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// A transaction that writes, as the stores pass it between their steps:
/// it holds this process's turn to write ([`WriteTurns`]) until it ends.
pub type Tx = platform::db::WriteTx;

#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// Where audit events recorded outside a transaction go.
    pub events: EventQueue,
    /// Where the small writes a request waits on go to be batched
    /// (`write_queue`).
    pub writes: WriteQueue,
    /// This process's writers, in turn (SQLite).
    turns: WriteTurns,
    /// The revocation answers remembered for the admin API and token
    /// exchange (`revocations`), shared by every clone of the handle so
    /// that a revocation committed through any of them is seen at once.
    /// (`store::revocations` reads and fills it; held here, as a plain
    /// versioned cache, so that the handle depends on no store module.)
    pub revocations: Arc<VersionedCache<bool>>,
}

impl Db {
    /// Connects (creating a SQLite file and its folder when missing) and runs
    /// the migrations.
    pub async fn connect(url: &str) -> Result<Db, DbSetupError> {
        let migrations = Migrations {
            sqlite: &SQLITE_MIGRATIONS,
            postgres: &POSTGRES_MIGRATIONS,
        };
        let size = PoolSize {
            // SQLite has one writer at a time; a few readers are plenty.
            sqlite: 4,
            postgres: 16,
            acquire_timeout: ACQUIRE_TIMEOUT,
        };
        let (pool, backend) = platform::db::open(url, &migrations, size).await?;
        Ok(Db {
            pool,
            backend,
            events: EventQueue::default(),
            writes: WriteQueue::default(),
            turns: WriteTurns::for_backend(backend),
            revocations: Arc::default(),
        })
    }

    /// Begins a transaction that writes (`platform::db::begin_write`: on
    /// SQLite the write lock is taken now, not at the first write).
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        platform::db::begin_write(&self.pool, self.backend, &self.turns).await
    }

    /// A connection to write one statement with, outside a transaction,
    /// in this process's turn (`platform::db::WriteTurns`). Used as a
    /// temporary, `.execute(&mut *db.writer().await?)`, it holds the turn
    /// for that statement only, so no writer can end up waiting for a turn
    /// its own task holds.
    pub async fn writer(&self) -> Result<WriteConn, sqlx::Error> {
        let turn = self.turns.take().await?;
        let conn = self.pool.acquire().await?;
        Ok(WriteConn { conn, _turn: turn })
    }

    /// After the commit of a transaction that bumped (`refresh_families::bump_revocations`)
    /// the revocations' version: this process forgets its answers at once.
    pub fn revoked_here(&self) {
        self.revocations.clear();
    }

    /// Whether the database answers now, within a short time.
    pub async fn is_ready(&self) -> bool {
        platform::db::is_reachable(&self.pool).await
    }
}

/// Whether an error is a unique-constraint violation (a duplicate).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// A boolean column: `boolean` in PostgreSQL, integer 0/1 in SQLite.
pub fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    match row.try_get::<bool, _>(column) {
        Ok(value) => Ok(value),
        Err(_) => row.try_get::<i64, _>(column).map(|v| v != 0),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use platform::db::is_unavailable;
    use sqlx::{ConnectOptions, Connection};
    use std::time::Duration;

    /// A write kept waiting by another writer past the busy timeout is
    /// "not now" (503 with Retry-After), not a fault (500).
    #[tokio::test]
    async fn a_sqlite_write_kept_waiting_by_another_writer_is_unavailable() {
        let dir = std::env::temp_dir().join(format!("busy-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.join("busy.db"))
            .create_if_missing(true)
            .busy_timeout(Duration::from_millis(50));
        let mut holder = options.connect().await.unwrap();
        sqlx::query("create table t (x integer)")
            .execute(&mut holder)
            .await
            .unwrap();
        let mut writing = holder.begin().await.unwrap();
        sqlx::query("insert into t values (1)")
            .execute(&mut *writing)
            .await
            .unwrap();
        let mut other = options.connect().await.unwrap();
        let error = sqlx::query("insert into t values (2)")
            .execute(&mut other)
            .await
            .unwrap_err();
        assert!(is_unavailable(&error), "{error}");
        writing.rollback().await.unwrap();
        // A real fault stays one.
        let fault = sqlx::query("insert into nowhere values (1)")
            .execute(&mut other)
            .await
            .unwrap_err();
        assert!(!is_unavailable(&fault), "{fault}");
        drop((holder, other));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
