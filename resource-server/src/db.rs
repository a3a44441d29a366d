//! The resource-server's own database through `sqlx::Any`: SQLite by
//! default, PostgreSQL when `DATABASE_URL` says so. Migrations are embedded
//! (one folder per backend, same versions) and run at ignite.

use std::path::Path;
use std::time::Duration;

use rocket::fairing::AdHoc;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, Connection};

use crate::config::AppConfig;
use crate::startup;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The connection pool, managed by Rocket.
#[derive(Debug, Clone)]
pub struct Db(pub AnyPool);

/// Connects, migrates and manages [`Db`].
pub fn stage() -> AdHoc {
    AdHoc::try_on_ignite("database", |rocket| async move {
        let Some(config) = rocket.state::<AppConfig>().cloned() else {
            // The settings stage failed and said why.
            return Err(rocket);
        };
        match connect(&config.database_url).await {
            Ok(pool) => Ok(rocket.manage(Db(pool))),
            Err(message) => {
                startup::fail(format!("DATABASE_URL: {message}"));
                Err(rocket)
            }
        }
    })
}

/// Opens the pool (creating a SQLite file and its folder when missing) and
/// runs the migrations. The error never contains the password of the URL.
pub async fn connect(database_url: &str) -> Result<AnyPool, String> {
    sqlx::any::install_default_drivers();
    let (url, migrator) = if database_url.starts_with("sqlite:") {
        (prepare_sqlite(database_url)?, &SQLITE_MIGRATIONS)
    } else {
        (database_url.to_owned(), &POSTGRES_MIGRATIONS)
    };
    // One direct connection first: the pool would only say "timed out"
    // where this says "connection refused" or "password authentication
    // failed".
    let probe = tokio::time::timeout(Duration::from_secs(10), AnyConnection::connect(&url))
        .await
        .map_err(|_| "cannot connect: timed out".to_owned())?
        .map_err(|e| format!("cannot connect: {}", describe(&e)))?;
    let _ = probe.close().await;
    let pool = AnyPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .map_err(|e| format!("cannot connect: {}", describe(&e)))?;
    migrator
        .run(&pool)
        .await
        .map_err(|e| format!("cannot run migrations: {e}"))?;
    Ok(pool)
}

/// Creates the folder of a SQLite file and asks SQLite to create the file.
fn prepare_sqlite(url: &str) -> Result<String, String> {
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
            .map_err(|e| format!("cannot create folder {}: {e}", parent.display()))?;
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

/// True when a trivial query answers within two seconds.
pub async fn is_reachable(pool: &AnyPool) -> bool {
    let ping = sqlx::query("select 1").execute(pool);
    matches!(
        tokio::time::timeout(Duration::from_secs(2), ping).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { return };
        let url = format!("sqlite://{}/nested/x.db", dir.path().display());
        assert_eq!(prepare_sqlite(&url), Ok(format!("{url}?mode=rwc")));
        assert!(dir.path().join("nested").is_dir());
        assert_eq!(
            prepare_sqlite("sqlite::memory:"),
            Ok("sqlite::memory:".to_owned())
        );
        let with_mode = format!("sqlite://{}/y.db?mode=ro", dir.path().display());
        assert_eq!(prepare_sqlite(&with_mode), Ok(with_mode.clone()));
    }
}
