//! The resource-server's own database through `sqlx::Any`: SQLite by
//! default, PostgreSQL when `DATABASE_URL` says so. Migrations are embedded
//! (one folder per backend, same versions) and run when the services open
//! (`platform::db` does the opening for both services).

use platform::db::{DbSetupError, Migrations, PoolSize};
use sqlx::AnyPool;
use sqlx::migrate::Migrator;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The connection pool, managed by Rocket.
#[derive(Debug, Clone)]
pub struct Db(pub AnyPool);

impl Db {
    /// Opens the pool (creating a SQLite file and its folder when missing)
    /// and runs the migrations. The error never contains the URL.
    pub async fn connect(database_url: &str) -> Result<Db, DbSetupError> {
        let migrations = Migrations {
            sqlite: &SQLITE_MIGRATIONS,
            postgres: &POSTGRES_MIGRATIONS,
        };
        let size = PoolSize {
            sqlite: 10,
            postgres: 10,
            // A dead database answers 503 within about a second, never a
            // request held for longer.
            acquire_timeout: platform::db::ACQUIRE_TIMEOUT,
        };
        let (pool, _) = platform::db::open(database_url, &migrations, size).await?;
        Ok(Db(pool))
    }
}
