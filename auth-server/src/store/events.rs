//! The `events` table: the audit trail (API.md, "Audit events and key
//! metrics"). What an operator asks after an incident: who signed in or
//! failed to and why, what was issued to whom, which refresh token was
//! replayed, what was revoked, and every change to a key, a client or a
//! user.
//!
//! An event that records a write goes into that write's transaction
//! ([`insert`]), so the trail never shows a change that was rolled back nor
//! misses one that was committed. One that records no write (a token signed,
//! a sign-in refused) is queued to a writer task that inserts what has
//! gathered ([`record`]): the request never waits on the database's one
//! writer for it. Either way each event is also one
//! structured log line (target `audit`), so a log pipeline can take them
//! with `LOG_FORMAT=json`.
//!
//! Details never hold a password, a secret or a whole token: callers name a
//! token by its `jti` or its family, and a secret not at all.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Map, Value};
use sqlx::Row;
use tokio::sync::mpsc;

use platform::db::Backend;

use super::db::{Db, Tx};
pub use super::event_queue::{EventQueue, StoredEvent};

/// Events queued and not yet written, at most; beyond, a request waits for
/// the writer (memory stays bounded under any load).
const QUEUE: usize = 4096;
/// Events written in one transaction, at most.
const BATCH: usize = 256;
/// How long the writer waits for more events once one has come.
const GATHER: Duration = Duration::from_millis(50);
/// The longest page [`list`] answers.
pub const MAX_PAGE: i64 = 1000;
/// How often events past `EVENT_RETENTION` are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// An event as it is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: &'static str,
    pub client_address: Option<String>,
    pub client_id: Option<String>,
    pub subject: Option<String>,
    pub details: Map<String, Value>,
}

impl Event {
    pub fn new(kind: &'static str) -> Event {
        Event {
            kind,
            client_address: None,
            client_id: None,
            subject: None,
            details: Map::new(),
        }
    }

    pub fn client(mut self, client_id: impl Into<String>) -> Event {
        self.client_id = Some(client_id.into());
        self
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Event {
        self.subject = Some(subject.into());
        self
    }

    pub fn address(mut self, address: Option<IpAddr>) -> Event {
        self.client_address = address.map(|a| a.to_string());
        self
    }

    /// One member of the details; never a secret or a whole token.
    pub fn detail(mut self, name: &str, value: impl Into<Value>) -> Event {
        self.details.insert(name.to_owned(), value.into());
        self
    }
}

/// This process, as events name it: the host and the process id, so that
/// the instance of several that wrote an event can be told.
pub fn instance() -> &'static str {
    static INSTANCE: OnceLock<String> = OnceLock::new();
    INSTANCE.get_or_init(|| {
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        format!("{host}/{}", std::process::id())
    })
}

/// A new event's id: the milliseconds of the wall clock, then 128 random
/// bits, so that events of one second list in the order they were made.
fn new_id() -> String {
    let millis = shared::clock::system_time()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{millis:012x}-{}", platform::ids::random_uuid().simple())
}

fn stored(event: Event, now: i64) -> StoredEvent {
    StoredEvent {
        id: new_id(),
        time: now,
        kind: event.kind.to_owned(),
        instance: instance().to_owned(),
        client_address: event.client_address,
        client_id: event.client_id,
        subject: event.subject,
        details: Value::Object(event.details),
    }
}

/// The one log line of an event.
fn log(event: &StoredEvent) {
    tracing::info!(
        target: "audit",
        event_id = %event.id,
        event_type = %event.kind,
        client_address = event.client_address.as_deref(),
        client_id = event.client_id.as_deref(),
        subject = event.subject.as_deref(),
        details = %event.details,
        "audit event"
    );
}

/// Inserts one event with `executor`: a transaction, or the pool.
async fn insert_row<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    event: &StoredEvent,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into events (id, time, type, instance, client_address, client_id, subject, details) \
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&event.id)
    .bind(event.time)
    .bind(&event.kind)
    .bind(&event.instance)
    .bind(event.client_address.as_deref())
    .bind(event.client_id.as_deref())
    .bind(event.subject.as_deref())
    .bind(event.details.to_string())
    .execute(executor)
    .await?;
    Ok(())
}

/// Records `event` in `tx`, the transaction of the change it records: it
/// is stored if and only if that change is committed.
pub async fn insert(tx: &mut Tx, event: Event, now: i64) -> Result<(), sqlx::Error> {
    let event = stored(event, now);
    insert_row(&mut **tx, &event).await?;
    log(&event);
    Ok(())
}

/// Records `event`, which goes with no write of its own: queued to the
/// writer when it runs, else inserted now. A failure is logged, never the
/// caller's: what it records has happened either way.
pub async fn record(db: &Db, event: Event, now: i64) {
    let event = stored(event, now);
    log(&event);
    let event = match db.events.sender() {
        Some(queue) => match queue.send(event).await {
            Ok(()) => return,
            Err(mpsc::error::SendError(event)) => event,
        },
        None => event,
    };
    if let Err(error) = write(db, std::slice::from_ref(&event)).await {
        tracing::warn!(%error, event_id = %event.id, "an audit event was not stored");
    }
}

async fn write(db: &Db, events: &[StoredEvent]) -> Result<(), sqlx::Error> {
    if db.backend == Backend::Sqlite {
        // The whole batch in one statement, never a transaction held
        // across an await: SQLite has one write lock for the whole
        // database, and a transaction left open by a task that cannot run
        // (its thread busy elsewhere) would keep every other writer, the
        // command line included, waiting. One statement is one commit:
        // a statement per event was a commit per token issued, which cost
        // client_credentials a quarter of its rate (tests/load/run.sh).
        let rows =
            serde_json::to_string(events).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
        sqlx::query(
            "insert into events (id, time, type, instance, client_address, client_id, subject, details) \
             select json_extract(value, '$.id'), json_extract(value, '$.time'), \
             json_extract(value, '$.type'), json_extract(value, '$.instance'), \
             json_extract(value, '$.client_address'), json_extract(value, '$.client_id'), \
             json_extract(value, '$.subject'), json_extract(value, '$.details') \
             from json_each($1)",
        )
        .bind(rows)
        .execute(&mut *db.writer().await?)
        .await?;
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    for event in events {
        insert_row(&mut *tx, event).await?;
    }
    tx.commit().await
}

/// Writes what [`record`] queues, a batch per transaction, for as long as
/// the server runs (`Services::open` starts it). A batch the database
/// refuses is retried once a second, up to a minute, then dropped with a
/// warning naming how many were lost.
pub async fn run_writer(db: Db) {
    let (sender, mut receiver) = mpsc::channel(QUEUE);
    if db.events.start(sender).is_err() {
        return;
    }
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        // What else arrives within a moment joins the batch: fewer, larger
        // transactions on PostgreSQL, fewer wake-ups on SQLite.
        tokio::time::sleep(GATHER).await;
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        let mut attempts = 0;
        while let Err(error) = write(&db, &batch).await {
            attempts += 1;
            if attempts >= 60 {
                tracing::warn!(%error, lost = batch.len(), "audit events were not stored");
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        batch.clear();
    }
}

/// Deletes events older than `retention` seconds every [`PRUNE_EVERY`].
pub async fn run_pruner(db: Db, clock: shared::clock::AppClock, retention: i64) {
    let mut ticks = tokio::time::interval(PRUNE_EVERY);
    loop {
        ticks.tick().await;
        match prune(&db, clock.now() - retention).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "pruned old audit events"),
            Err(error) => tracing::warn!(%error, "pruning audit events failed"),
        }
    }
}

/// Deletes the events from before `before`.
pub async fn prune(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("delete from events where time < $1")
        .bind(before)
        .execute(&mut *db.writer().await?)
        .await?
        .rows_affected())
}

/// Where a page of events starts: after this one, in listing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub time: i64,
    pub id: String,
}

/// Which events, newest first.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kind: Option<String>,
    /// At or after this time (Unix seconds).
    pub since: Option<i64>,
    pub after: Option<After>,
    /// At most this many (capped at [`MAX_PAGE`]).
    pub limit: i64,
}

/// The events `filter` selects, newest first.
pub async fn list(db: &Db, filter: &Filter) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let (before_time, before_id) = match &filter.after {
        Some(after) => (after.time, after.id.as_str()),
        None => (i64::MAX, ""),
    };
    let rows = sqlx::query(
        "select id, time, type, instance, client_address, client_id, subject, details \
         from events \
         where ($1 = '' or type = $1) and time >= $2 \
         and (time < $3 or (time = $3 and id < $4)) \
         order by time desc, id desc limit $5",
    )
    .bind(filter.kind.as_deref().unwrap_or(""))
    .bind(filter.since.unwrap_or(i64::MIN))
    .bind(before_time)
    .bind(before_id)
    .bind(filter.limit.clamp(1, MAX_PAGE))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            let details: String = row.try_get("details")?;
            Ok(StoredEvent {
                id: row.try_get("id")?,
                time: row.try_get("time")?,
                kind: row.try_get("type")?,
                instance: row.try_get("instance")?,
                client_address: row.try_get("client_address")?,
                client_id: row.try_get("client_id")?,
                subject: row.try_get("subject")?,
                details: serde_json::from_str(&details).unwrap_or(Value::Null),
            })
        })
        .collect()
}
