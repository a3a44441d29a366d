//! OpenID Connect Back-Channel Logout 1.0, as tables: which clients got
//! tokens in which sign-in session (`session_clients`), and the queue of
//! logout tokens waiting to be posted (`logout_deliveries`).
//!
//! Whatever ends a session (logout, the user deleted, the user's rights
//! changed) enqueues in its own transaction one row per client that got
//! tokens in it and registered a `backchannel_logout_uri`, so a delivery
//! exists if and only if the end was committed. The posting is
//! `oauth::backchannel_logout`'s, off the request path. The queue is in the
//! database so that any instance delivers what any other enqueued; a row
//! is leased (its next attempt pushed past the post's timeout) before it is
//! posted, so one instance at a time has it. On PostgreSQL the lease picks
//! with `FOR UPDATE SKIP LOCKED`, so instances never wait on each other's
//! rows; on SQLite the write lock (`begin_write`) makes the pick and the
//! lease one step.
//!
//! The queue is bounded ([`MAX_QUEUE`]): a dead receiver and a flood of
//! logouts cannot grow it without end; the oldest rows go first, each with
//! a `logout_token_dropped` event.

use platform::db::Backend;
use sqlx::Row;

use super::db::{Db, Tx, flag};
use super::events::{self, Event};

/// Deliveries kept at most; beyond, the oldest are dropped.
pub const MAX_QUEUE: i64 = 10_000;

/// A logout token to post, as leased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Also the logout token's `jti`, the same at every attempt.
    pub id: String,
    pub client_id: String,
    pub uri: String,
    pub subject: String,
    pub sid: String,
    pub enqueued_at: i64,
    /// Attempts made, this one included.
    pub attempts: i64,
    /// The client registered itself (RFC 7591), or is gone: its URL is a
    /// stranger's, posted to only at a public address.
    pub strangers_uri: bool,
}

/// Records that `client_id` got tokens in the session `sid` of `user_id`.
pub async fn remember_client(
    tx: &mut Tx,
    sid: &str,
    client_id: &str,
    user_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into session_clients (sid, client_id, user_id, created_at) values ($1, $2, $3, $4) \
         on conflict (sid, client_id) do nothing",
    )
    .bind(sid)
    .bind(client_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The session `sid` has ended: its clients with a back channel are to be
/// told, and it is forgotten. Returns how many deliveries were enqueued.
pub async fn session_ended(tx: &mut Tx, sid: &str, now: i64) -> Result<u64, sqlx::Error> {
    let told = sqlx::query(
        "select s.sid, s.client_id, s.user_id, c.backchannel_logout_uri from session_clients s \
         join clients c on c.id = s.client_id \
         where s.sid = $1 and c.backchannel_logout_uri is not null",
    )
    .bind(sid)
    .fetch_all(&mut **tx)
    .await?;
    let enqueued = enqueue(tx, &told, now).await?;
    sqlx::query("delete from session_clients where sid = $1")
        .bind(sid)
        .execute(&mut **tx)
        .await?;
    Ok(enqueued)
}

/// Every session of `user_id` ends (the user is deleted, or their rights
/// changed): each is deleted, and the clients that got tokens in any of
/// them are told. Returns how many deliveries were enqueued.
pub async fn user_sessions_ended(tx: &mut Tx, user_id: &str, now: i64) -> Result<u64, sqlx::Error> {
    let told = sqlx::query(
        "select s.sid, s.client_id, s.user_id, c.backchannel_logout_uri from session_clients s \
         join clients c on c.id = s.client_id \
         where s.user_id = $1 and c.backchannel_logout_uri is not null",
    )
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    let enqueued = enqueue(tx, &told, now).await?;
    sqlx::query("delete from session_clients where user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("delete from sign_in_sessions where user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(enqueued)
}

/// One delivery per row of (sid, client_id, user_id, uri), then the bound.
async fn enqueue(tx: &mut Tx, told: &[sqlx::any::AnyRow], now: i64) -> Result<u64, sqlx::Error> {
    for row in told {
        let sid: String = row.try_get("sid")?;
        let client_id: String = row.try_get("client_id")?;
        let user_id: String = row.try_get("user_id")?;
        let uri: String = row.try_get("backchannel_logout_uri")?;
        sqlx::query(
            "insert into logout_deliveries \
             (id, client_id, uri, subject, sid, enqueued_at, next_attempt_at, attempts) \
             values ($1, $2, $3, $4, $5, $6, $6, 0)",
        )
        .bind(platform::ids::random_uuid().to_string())
        .bind(&client_id)
        .bind(&uri)
        .bind(&user_id)
        .bind(&sid)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    if !told.is_empty() {
        bound(tx, now).await?;
    }
    Ok(told.len() as u64)
}

/// Keeps at most [`MAX_QUEUE`] rows: the oldest beyond go, each recorded.
async fn bound(tx: &mut Tx, now: i64) -> Result<(), sqlx::Error> {
    let queued: i64 = sqlx::query_scalar("select count(*) from logout_deliveries")
        .fetch_one(&mut **tx)
        .await?;
    let excess = queued - MAX_QUEUE;
    if excess <= 0 {
        return Ok(());
    }
    let dropped = sqlx::query(
        "delete from logout_deliveries where id in \
         (select id from logout_deliveries order by enqueued_at, id limit $1) \
         returning id, client_id, subject, sid, attempts",
    )
    .bind(excess)
    .fetch_all(&mut **tx)
    .await?;
    tracing::warn!(
        dropped = dropped.len(),
        "the back-channel logout queue is full: the oldest deliveries were dropped"
    );
    for row in &dropped {
        let event = dropped_event(row, "queue_full")?;
        events::insert(tx, event, now).await?;
    }
    Ok(())
}

fn dropped_event(row: &sqlx::any::AnyRow, reason: &str) -> Result<Event, sqlx::Error> {
    let id: String = row.try_get("id")?;
    let client_id: String = row.try_get("client_id")?;
    let subject: String = row.try_get("subject")?;
    let sid: String = row.try_get("sid")?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(Event::new("logout_token_dropped")
        .client(client_id)
        .subject(subject)
        .detail("jti", id)
        .detail("sid", sid)
        .detail("attempts", attempts)
        .detail("reason", reason))
}

/// Takes the next delivery due at `now`, if any, leasing it until
/// `now + lease`: until then no instance takes it again, and if this one
/// dies while posting, another retries it after the lease.
pub async fn lease_due(db: &Db, now: i64, lease: i64) -> Result<Option<Delivery>, sqlx::Error> {
    let pick = match db.backend {
        Backend::Postgres => {
            "select id from logout_deliveries where next_attempt_at <= $1 \
             order by next_attempt_at, id limit 1 for update skip locked"
        }
        Backend::Sqlite => {
            "select id from logout_deliveries where next_attempt_at <= $1 \
             order by next_attempt_at, id limit 1"
        }
    };
    // A plain read first: an empty queue, the usual case, costs no
    // transaction (on SQLite, no turn at the one write lock) per poll.
    let any_due: Option<String> =
        sqlx::query_scalar("select id from logout_deliveries where next_attempt_at <= $1 limit 1")
            .bind(now)
            .fetch_optional(&db.pool)
            .await?;
    if any_due.is_none() {
        return Ok(None);
    }
    let mut tx = db.begin_write().await?;
    let picked: Option<String> = sqlx::query_scalar(pick)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(id) = picked else {
        tx.commit().await?;
        return Ok(None);
    };
    let row = sqlx::query(
        "update logout_deliveries set next_attempt_at = $1, attempts = attempts + 1 \
         where id = $2 \
         returning id, client_id, uri, subject, sid, enqueued_at, attempts",
    )
    .bind(now.saturating_add(lease))
    .bind(&id)
    .fetch_one(&mut *tx)
    .await?;
    let client_id: String = row.try_get("client_id")?;
    let registered_by_operator = sqlx::query(
        "select (registration_token_hash is null) as by_operator from clients where id = $1",
    )
    .bind(&client_id)
    .fetch_optional(&mut *tx)
    .await?
    .map(|found| flag(&found, "by_operator"))
    .transpose()?
    .unwrap_or(false);
    tx.commit().await?;
    Ok(Some(Delivery {
        strangers_uri: !registered_by_operator,
        id: row.try_get("id")?,
        client_id,
        uri: row.try_get("uri")?,
        subject: row.try_get("subject")?,
        sid: row.try_get("sid")?,
        enqueued_at: row.try_get("enqueued_at")?,
        attempts: row.try_get("attempts")?,
    }))
}

/// The receiver took it: the row goes, with `logout_token_delivered`.
pub async fn delivered(db: &Db, delivery: &Delivery, now: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let deleted = sqlx::query("delete from logout_deliveries where id = $1")
        .bind(&delivery.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if deleted > 0 {
        let event = Event::new("logout_token_delivered")
            .client(delivery.client_id.as_str())
            .subject(delivery.subject.as_str())
            .detail("jti", delivery.id.as_str())
            .detail("sid", delivery.sid.as_str())
            .detail("attempts", delivery.attempts);
        events::insert(&mut tx, event, now).await?;
    }
    tx.commit().await
}

/// The attempt failed: the next one is at `at`.
pub async fn retry_at(db: &Db, delivery: &Delivery, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update logout_deliveries set next_attempt_at = $1 where id = $2")
        .bind(at)
        .bind(&delivery.id)
        .execute(&mut *db.writer().await?)
        .await?;
    Ok(())
}

/// The delivery is given up (`reason`): the row goes, with
/// `logout_token_dropped`.
pub async fn give_up(
    db: &Db,
    delivery: &Delivery,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let dropped = sqlx::query(
        "delete from logout_deliveries where id = $1 returning id, client_id, subject, sid, attempts",
    )
    .bind(&delivery.id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = dropped {
        events::insert(&mut tx, dropped_event(&row, reason)?, now).await?;
    }
    tx.commit().await
}

/// Forgets which clients got tokens in sessions that are gone
/// (housekeeping; a session that ended by expiring notifies nobody).
pub async fn prune(db: &Db) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "delete from session_clients where not exists \
         (select 1 from sign_in_sessions s where s.sid = session_clients.sid)",
    )
    .execute(&mut *db.writer().await?)
    .await?
    .rows_affected())
}
