//! Opening a service's database through `sqlx::Any`: SQLite by default
//! (the file and its folder created when missing), PostgreSQL when
//! `DATABASE_URL` says so, each service's embedded migrations run for the
//! matching backend; and the readiness ping.
//!
//! SQLite is opened so that every promise about concurrent requests holds
//! there as on PostgreSQL: in WAL mode (readers never wait for the writer,
//! and a commit costs no fsync with `synchronous = NORMAL`, which loses
//! nothing when the process dies, only when the machine does), with a
//! [`SQLITE_BUSY_TIMEOUT`] for the one writer at a time, and with
//! [`begin_write`] taking the write lock when a writing transaction begins
//! (`BEGIN IMMEDIATE`): a transaction that reads first and writes later can
//! otherwise find, at its first write, that another writer went before it,
//! and SQLite then fails it at once (`SQLITE_BUSY`) instead of waiting.
//! The writers of one process queue for that lock in tokio
//! ([`WriteTurns`]) rather than in SQLite's sleeping busy handler.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Connection, Executor, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(database_url: &str) -> Backend {
        if database_url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }
}

/// How long a request waits for a database connection before it is
/// answered `503`: under the contract's "about a second" with the rest of
/// the request, and long enough for a busy pool to hand one over.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(750);

/// How long a SQLite write waits for the one writer ahead of it before it
/// is answered `503`. A write holds the lock for about a millisecond, so a
/// second serves a burst of hundreds queued behind it; waiting longer would
/// only hold the request past the contract's "about a second".
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// `Retry-After` while the database is unreachable: a pool timeout is about
/// a second, so asking again sooner only piles up.
pub const OUTAGE_RETRY_AFTER: u64 = 2;

/// Whether an error means the database cannot be reached now (no
/// connection within the timeout, a connection broken mid-query, a server
/// shutting down or starting), rather than a fault in the request or data.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // SQLite: SQLITE_BUSY (5) or SQLITE_LOCKED (6), in any extended
        // form: the one writer at a time kept us waiting past the busy
        // timeout. Nothing was written; it can be done in a moment.
        sqlx::Error::Database(e) if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
            e.code()
                .and_then(|code| code.parse::<i32>().ok())
                .is_some_and(|code| matches!(code & 0xff, 5 | 6))
        }
        // SQLSTATE class 08 (connection exception), 57P01-57P03 (admin
        // shutdown, crash shutdown, cannot connect now).
        sqlx::Error::Database(e) => e
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
        _ => false,
    }
}

/// A service's migrations, one folder per backend with the same versions.
pub struct Migrations {
    pub sqlite: &'static Migrator,
    pub postgres: &'static Migrator,
}

/// How a service sizes its pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolSize {
    pub sqlite: u32,
    pub postgres: u32,
    /// How long a request waits for a connection before giving up.
    pub acquire_timeout: Duration,
}

/// Why the database cannot be opened; never echoes the URL (it may hold a
/// password).
#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot create the database folder {0}: {1}")]
    Folder(String, std::io::Error),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("migrations failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
}

/// How long the first connection may take before start-up gives up.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects (creating a SQLite file and its folder when missing) and runs
/// the migrations of the backend.
pub async fn open(
    database_url: &str,
    migrations: &Migrations,
    size: PoolSize,
) -> Result<(AnyPool, Backend), DbSetupError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of(database_url);
    let url = match backend {
        Backend::Sqlite => prepare_sqlite(database_url)?,
        Backend::Postgres => database_url.to_owned(),
    };
    let options =
        AnyConnectOptions::from_str(&url).map_err(|e| DbSetupError::Connect(describe(&e)))?;
    // One direct connection first: the pool would only say "timed out"
    // where this says "connection refused" or "password authentication
    // failed".
    // Its statements (the switch to WAL, which may wait on the disk) are
    // not reported as slow: a start that fails must say one line, and a
    // slow first open is nothing an operator acts on.
    let probe_options = options
        .clone()
        .log_slow_statements(log::LevelFilter::Debug, SQLITE_BUSY_TIMEOUT);
    let probe = tokio::time::timeout(
        FIRST_CONNECT_TIMEOUT,
        AnyConnection::connect_with(&probe_options),
    )
    .await
    .map_err(|_| DbSetupError::Connect("timed out".into()))?
    .map_err(|e| DbSetupError::Connect(describe(&e)))?;
    let mut probe = probe;
    if backend == Backend::Sqlite
        && let Err(error) = probe.execute("pragma journal_mode = wal").await
    {
        // Stored in the file, so set once for every connection after. The
        // switch needs the file to itself: while an older process holds it
        // open in another mode, this one still works, only slower, and the
        // next start switches.
        tracing::warn!(error = %describe(&error), "the SQLite file stays out of WAL mode for now");
    }
    let _ = probe.close().await;
    let pool_of = |connections: u32, acquire_timeout: Duration| {
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(acquire_timeout);
        if backend == Backend::Sqlite {
            // sqlx pings every idle connection it hands out: for SQLite a
            // round trip to the connection's worker thread before each
            // statement, and a file does not hang up as a socket does.
            pool.test_before_acquire(false).after_connect(|conn, _| {
                Box::pin(async move { configure_sqlite_connection(conn).await })
            })
        } else {
            pool
        }
    };
    // The migrations run through a pool of their own, one connection
    // waited for as long as the first one was: the service's pool waits
    // only ACQUIRE_TIMEOUT, sized for a request, which once failed a start
    // between two migrations on a busy machine.
    let migrator = match backend {
        Backend::Sqlite => migrations.sqlite,
        Backend::Postgres => migrations.postgres,
    };
    let migrating = pool_of(1, FIRST_CONNECT_TIMEOUT)
        .connect_with(options.clone())
        .await
        .map_err(|e| DbSetupError::Connect(describe(&e)))?;
    migrator
        .run(&migrating)
        .await
        .map_err(DbSetupError::Migrate)?;
    migrating.close().await;
    // The database answered just now: the service's connections are opened
    // as requests need them, each within the request's own wait.
    let pool = pool_of(
        match backend {
            Backend::Sqlite => size.sqlite,
            Backend::Postgres => size.postgres,
        },
        size.acquire_timeout,
    )
    .connect_lazy_with(options);
    Ok((pool, backend))
}

/// The settings SQLite keeps per connection (see the module's doc).
async fn configure_sqlite_connection(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    // `sqlx::Any` builds its SQLite options from the URL alone, which
    // cannot say these; so each connection says them as it opens.
    const _: () = assert!(SQLITE_BUSY_TIMEOUT.as_millis() == 1000);
    conn.execute("pragma busy_timeout = 1000").await?;
    conn.execute("pragma synchronous = normal").await?;
    Ok(())
}

/// This process's writers to one SQLite file, taken in turn before SQLite's
/// own write lock. Two writers that meet at `BEGIN IMMEDIATE` are parted by
/// SQLite's busy handler, which sleeps 1, 2, 5, 10… ms between tries while
/// the writer ahead holds the lock for well under a millisecond: under load
/// most of a write's time was that sleep, and a pool connection slept with
/// it. Here the next writer in line starts the moment the one ahead ends.
/// Another process on the same file (the command line beside a server)
/// still meets the busy handler. PostgreSQL needs no turn: its row locks
/// part writers without sleeping.
#[derive(Debug, Clone)]
pub struct WriteTurns(Option<Arc<Mutex<()>>>);

impl WriteTurns {
    pub fn for_backend(backend: Backend) -> WriteTurns {
        WriteTurns((backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))))
    }

    /// Waits for this process's turn to write, as long as SQLite would wait
    /// for its lock ([`SQLITE_BUSY_TIMEOUT`]): past that, an error that
    /// [`is_unavailable`] calls "not now" (`503` with `Retry-After`).
    /// Holding the turn, write at once and let it go: nothing else in this
    /// process writes meanwhile.
    pub async fn take(&self) -> Result<WriteTurn, sqlx::Error> {
        let Some(lock) = &self.0 else {
            return Ok(WriteTurn(None));
        };
        match tokio::time::timeout(SQLITE_BUSY_TIMEOUT, lock.clone().lock_owned()).await {
            Ok(turn) => Ok(WriteTurn(Some(turn))),
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        }
    }
}

/// One writer's turn ([`WriteTurns::take`]), given back when dropped.
#[derive(Debug)]
#[must_use = "the turn ends when dropped: hold it while writing"]
pub struct WriteTurn(#[allow(dead_code)] Option<OwnedMutexGuard<()>>);

/// A transaction that writes, begun by [`begin_write`], holding this
/// process's turn until it ends. It reads and writes as the connection it
/// derefs to (`&mut *tx`), as a `sqlx::Transaction` does.
#[derive(Debug)]
pub struct WriteTx {
    // Dropped before the turn: a transaction dropped unfinished queues its
    // rollback first, then the next writer goes.
    tx: Transaction<'static, Any>,
    _turn: WriteTurn,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

/// Begins a transaction that will write: on SQLite, in this process's turn
/// ([`WriteTurns`]), then taking the file's write lock now (`BEGIN
/// IMMEDIATE`, waiting up to [`SQLITE_BUSY_TIMEOUT`] for another process),
/// so that nothing it reads can change before it writes and its writes
/// never fail for a writer that came between; PostgreSQL's row locks do
/// that by themselves. Every transaction that writes begins here
/// (`clippy.toml` forbids `Pool::begin` elsewhere).
#[allow(clippy::disallowed_methods)]
pub async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
    turns: &WriteTurns,
) -> Result<WriteTx, sqlx::Error> {
    let turn = turns.take().await?;
    let tx = match backend {
        Backend::Sqlite => pool.begin_with("begin immediate").await?,
        Backend::Postgres => pool.begin().await?,
    };
    Ok(WriteTx { tx, _turn: turn })
}

/// Creates the folder of a SQLite file and asks SQLite to create the file
/// (`mode=rwc`) unless the URL chose a mode.
pub fn prepare_sqlite(url: &str) -> Result<String, DbSetupError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        return Ok(url.to_owned());
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| DbSetupError::Folder(parent.display().to_string(), e))?;
    }
    if query.split('&').any(|pair| pair.starts_with("mode=")) {
        Ok(url.to_owned())
    } else if query.is_empty() {
        Ok(format!("{url}?mode=rwc"))
    } else {
        Ok(format!("{url}&mode=rwc"))
    }
}

/// A database error for the operator, without echoing the URL.
fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(e) => e.message().to_owned(),
        sqlx::Error::Io(e) => e.to_string(),
        sqlx::Error::PoolTimedOut => "timed out".into(),
        other => other.to_string(),
    }
}

/// Whether the database answers a trivial query within two seconds (`/ready`).
pub async fn is_reachable(pool: &AnyPool) -> bool {
    let ping = sqlx::query("select 1").execute(pool);
    matches!(
        tokio::time::timeout(Duration::from_secs(2), ping).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode_and_their_folder() {
        let dir = std::env::temp_dir().join(format!("prepare-{}", std::process::id()));
        let url = format!("sqlite://{}/nested/x.db", dir.display());
        assert_eq!(prepare_sqlite(&url).unwrap(), format!("{url}?mode=rwc"));
        assert!(dir.join("nested").is_dir());
        let with_query = format!("sqlite:{}/y.db?cache=shared", dir.display());
        assert_eq!(
            prepare_sqlite(&with_query).unwrap(),
            format!("{with_query}&mode=rwc")
        );
        assert_eq!(
            prepare_sqlite("sqlite::memory:").unwrap(),
            "sqlite::memory:"
        );
        let with_mode = format!("sqlite://{}/y.db?mode=ro", dir.display());
        assert_eq!(prepare_sqlite(&with_mode).unwrap(), with_mode);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
