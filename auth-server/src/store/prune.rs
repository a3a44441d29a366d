//! Housekeeping: rows of dead credentials are deleted in the background, so
//! the grant tables do not grow without bound. Every row deleted here would
//! already be refused for its expiry; authorization codes are kept a day
//! longer so that a late replay still revokes what the code issued
//! (RFC 6749 §4.1.2). Failed-login counts go once they have expired
//! (`throttle`).

use std::time::Duration;

use shared::clock::AppClock;

use super::db::Db;
use super::spent_jtis::SpentJtis;
use super::{
    device_codes, exchanged_tokens, logout_deliveries, pushed_requests, sessions, throttle,
};

/// How often the tables are swept.
const INTERVAL: Duration = Duration::from_secs(600);
/// How long a used or expired code is remembered past its expiry.
const CODE_MEMORY: i64 = 24 * 3600;

/// Sweeps every [`INTERVAL`] for as long as the server runs
/// (`Services::open` starts it; it ends with the server).
pub async fn run(db: Db, clock: AppClock) {
    let mut ticks = tokio::time::interval(INTERVAL);
    loop {
        ticks.tick().await;
        match prune(&db, clock.now()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "pruned expired credentials"),
            Err(error) => tracing::warn!(%error, "pruning expired credentials failed"),
        }
    }
}

/// Deletes what is dead at `now`; returns how many rows went.
pub async fn prune(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    deleted += sqlx::query("delete from login_tickets where expires_at < $1")
        .bind(now)
        .execute(&mut *db.writer().await?)
        .await?
        .rows_affected();
    deleted += sqlx::query("delete from revoked_access_tokens where expires_at < $1")
        .bind(now)
        .execute(&mut *db.writer().await?)
        .await?
        .rows_affected();
    deleted += sqlx::query("delete from refresh_tokens where expires_at < $1")
        .bind(now)
        .execute(&mut *db.writer().await?)
        .await?
        .rows_affected();
    // After its tokens: none outlives its family.
    deleted += sqlx::query("delete from refresh_families where expires_at < $1")
        .bind(now)
        .execute(&mut *db.writer().await?)
        .await?
        .rows_affected();
    deleted += sqlx::query("delete from authorization_codes where expires_at < $1")
        .bind(now - CODE_MEMORY)
        .execute(&mut *db.writer().await?)
        .await?
        .rows_affected();
    deleted += throttle::prune(db, now).await?;
    deleted += sessions::prune(db, now).await?;
    deleted += exchanged_tokens::prune(db, now).await?;
    deleted += device_codes::prune(db, now).await?;
    deleted += SpentJtis::ClientAssertions.prune(db, now).await?;
    deleted += pushed_requests::prune(db, now).await?;
    deleted += SpentJtis::DpopProofs.prune(db, now).await?;
    deleted += super::registration_tokens::prune(db, now).await?;
    // After the sessions: the clients of those that are gone.
    deleted += logout_deliveries::prune(db).await?;
    Ok(deleted)
}
