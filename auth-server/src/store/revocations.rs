//! A remembered view of `revoked_access_tokens`, for the two hot readers
//! that may be up to 2 seconds late about a revocation made at another
//! instance: the admin API's guard and token exchange's subject and actor
//! checks. Introspection, UserInfo and the refresh flow stay strict and read
//! the list itself ([`refresh_families::is_access_token_revoked`]).
//!
//! The rule (the one the clients cache follows, API.md: 2 s):
//! - Every insert into `revoked_access_tokens` (a token, a family, every
//!   token of a user, exchanged ones included) bumps
//!   `revocations_version.version` in its own transaction
//!   ([`refresh_families::bump_revocations`]), and
//!   the process that committed it drops what it remembers at once
//!   ([`RevocationView::forget`]): a revocation made here is seen here by
//!   the next request.
//! - A one-second poll ([`poll`]) reads the version and drops everything
//!   when it moved: a revocation made at another instance is seen here
//!   within 2 s.
//! - Answers count only while the last poll that reached the database
//!   began less than 2 s ago, so a stalled poll or a lost database sends
//!   every lookup to the database; answers are stamped with the generation
//!   taken before their read, so a read racing a revocation never stores a
//!   live answer (`client_cache`).
//! - Token exchange's subject accounts (`users::AccountView`) ride on this
//!   view's generation: every change to an account moves the version too.
//! - An answer is the lineage rule's: a token is revoked when it or any
//!   token it was exchanged from is listed. A new exchanged token's lineage
//!   is written before the token exists, and revoking any ancestor later is
//!   an insert, hence a bump: no remembered "not revoked" outlives it.

use std::time::{Duration, Instant};

use super::client_cache::VersionedCache;
use super::db::Db;
use super::refresh_families;

/// How often the version is read: a revocation elsewhere is seen here
/// within about twice this.
const POLL: Duration = Duration::from_secs(1);

/// The revocation answers this process remembers, by jti.
pub type RevocationView = VersionedCache<bool>;

/// Whether an access token is revoked (itself or an ancestor), as the view
/// knows it: at most 2 s late about another instance, never about this one.
pub async fn is_revoked(db: &Db, jti: &str) -> Result<bool, sqlx::Error> {
    let view = &db.revocations;
    if let Some(revoked) = view.get(jti) {
        return Ok(revoked);
    }
    let generation = view.generation();
    let revoked = refresh_families::is_access_token_revoked(db, jti).await?;
    view.insert(generation, jti, revoked);
    Ok(revoked)
}

/// Keeps the view current for as long as the server runs (`Services::open`
/// starts it). A poll that fails leaves the view to go stale, so lookups go
/// to the database.
pub async fn poll(db: Db) {
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let began = Instant::now();
        let version = sqlx::query_scalar("select version from revocations_version where id = 1")
            .fetch_one(&db.pool)
            .await;
        match version {
            Ok(version) => db.revocations.observe(version, began),
            // The key ring's poll reports an unreachable database.
            Err(error) => tracing::debug!(%error, "reading the revocations' version failed"),
        }
    }
}
