//! Key rotation without downtime (API.md, "Keys"): every key walks
//! `next` (published, not yet signing) → `active` (signing) → `retiring`
//! (published until every token it signed has expired) → `removed`.
//!
//! The walk is a schedule of instants stored with each key in the
//! `signing_keys` table; a key's state is derived from those instants and
//! the clock. No process has to be awake when a key changes state, and
//! every instance reading the same database agrees on which key signs.
//!
//! Every change (the first key, an import, `rotate`, `revoke`, the server's
//! own schedule) is one transaction that begins by bumping the one-row
//! `key_ring` version: that takes the row's lock on PostgreSQL and the
//! write lock on SQLite, so the CLI and any number of servers take turns,
//! and each decides on the state it reads after taking the lock. Two
//! instances starting at once on an empty database make one first key;
//! `KEY_ROTATION_INTERVAL` rotates once however many run. The slow part, an
//! RSA key generation, happens before the transaction; a key found not
//! needed is dropped. Running servers poll the version every second.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::verifier::MAX_LEEWAY_SECS;
use sqlx::Row;

use crate::config::AppConfig;
use crate::db::Db;
use crate::keys::{self, Kek, KeyError, KeyStore, KeyStoreError, NewKey};

/// The schedule file of earlier versions, imported once from `KEYS_DIR`.
pub const SCHEDULE_FILE: &str = "schedule.json";

/// Removed keys are listed this long. Their rows (tombstones) stay for
/// good, so that a removed kid never comes back.
pub const REMOVED_LISTED: i64 = 30 * 24 * 3600;

/// Where a key is in its walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Next,
    Active,
    Retiring,
    Removed,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retiring => "retiring",
            KeyState::Removed => "removed",
        }
    }

    /// Whether the JWK Set carries the key.
    pub fn is_published(self) -> bool {
        !matches!(self, KeyState::Removed)
    }
}

/// One key's instants (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub kid: String,
    pub created_at: i64,
    /// From here on the key may sign.
    pub activates_at: i64,
    /// From here on it no longer signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retires_at: Option<i64>,
    /// From here on it is no longer published, and its private key erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<i64>,
}

impl Entry {
    /// A key that has been active since `since` and has no end planned.
    pub fn active_since(kid: &str, since: i64) -> Entry {
        Entry {
            kid: kid.to_owned(),
            created_at: since,
            activates_at: since,
            retires_at: None,
            removed_at: None,
        }
    }

    pub fn state(&self, now: i64) -> KeyState {
        if self.removed_at.is_some_and(|t| t <= now) {
            KeyState::Removed
        } else if self.retires_at.is_some_and(|t| t <= now) {
            KeyState::Retiring
        } else if self.activates_at <= now {
            KeyState::Active
        } else {
            KeyState::Next
        }
    }

    /// The first instant after `now` at which the state changes.
    pub fn next_change(&self, now: i64) -> Option<i64> {
        [Some(self.activates_at), self.retires_at, self.removed_at]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
    }
}

/// The schedule of every key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub keys: Vec<Entry>,
}

impl Schedule {
    /// Reads the `schedule.json` an earlier version kept in `dir`; none is
    /// an empty one.
    pub fn read(dir: &Path) -> Result<Schedule, KeyError> {
        let path = dir.join(SCHEDULE_FILE);
        let name = path.display().to_string();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| KeyError::Parse(name, format!("not a key schedule: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Schedule::default()),
            Err(e) => Err(KeyError::Read(name, e)),
        }
    }

    fn in_state(&self, state: KeyState, now: i64) -> impl Iterator<Item = &Entry> {
        self.keys.iter().filter(move |e| e.state(now) == state)
    }
}

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

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Begins a change: the version bump comes first, so the transaction holds
/// the lock every other changer waits for before it reads anything.
async fn begin_change(db: &Db) -> Result<Tx, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query("update key_ring set version = version + 1 where id = 1")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

async fn insert_key(tx: &mut Tx, key: &StoredKey) -> Result<(), sqlx::Error> {
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
async fn update_entry(tx: &mut Tx, entry: &Entry, erase: bool) -> Result<(), sqlx::Error> {
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
fn schedule_of(rows: &[StoredKey]) -> (Schedule, HashSet<String>) {
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

fn may_sign(rows: &[StoredKey], now: i64) -> bool {
    let (schedule, present) = schedule_of(rows);
    let present: HashSet<&str> = present.iter().map(String::as_str).collect();
    signer(&schedule, &present, now).is_some()
}

/// `imports` whose kid the database does not know (tombstones included:
/// a removed kid never comes back).
fn new_imports<'a>(rows: &[StoredKey], imports: &'a [StoredKey]) -> Vec<&'a StoredKey> {
    imports
        .iter()
        .filter(|i| !rows.iter().any(|r| r.entry.kid == i.entry.kid))
        .collect()
}

async fn generate(kek: &Arc<Kek>) -> Result<NewKey, KeyStoreError> {
    let kek = kek.clone();
    let key = tokio::task::spawn_blocking(move || keys::generate_key(&kek))
        .await
        .map_err(|e| KeyError::Generate(e.to_string()))??;
    Ok(key)
}

/// What an earlier version left in `KEYS_DIR` goes in while the database
/// holds no signing key (judged again under the lock: another instance may
/// have made or imported the first keys meanwhile), the KEK is recorded or
/// checked, and a first key is made when none may sign. Returns the
/// instant it judged at: `now`, or the latest creation the database had
/// seen, if later.
pub async fn settle(
    db: &Db,
    kek: &Arc<Kek>,
    imports: Vec<StoredKey>,
    now: i64,
) -> Result<i64, KeyStoreError> {
    // A look before the transaction: the key is generated outside it.
    let rows = read_keys(&db.pool).await?;
    let mut fresh = None;
    let mut all: Vec<StoredKey> = rows.clone();
    all.extend(new_imports(&rows, &imports).into_iter().cloned());
    if !may_sign(&all, now) {
        fresh = Some(generate(kek).await?);
    }
    for _ in 0..3 {
        let mut tx = begin_change(db).await?;
        let recorded: Option<String> = sqlx::query("select kek_id from key_ring where id = 1")
            .fetch_one(&mut *tx)
            .await?
            .try_get("kek_id")?;
        keys::check_kek_id(kek, recorded.as_deref())?;
        let mut changed = false;
        if recorded.is_none() {
            sqlx::query("update key_ring set kek_id = $1 where id = 1")
                .bind(kek.id())
                .execute(&mut *tx)
                .await?;
            changed = true;
        }
        let mut rows = read_keys(&mut *tx).await?;
        let mut imports_now = new_imports(&rows, &imports);
        if rows.iter().any(|r| r.sealed.is_some()) {
            for import in imports_now.drain(..) {
                tracing::warn!(kid = %import.entry.kid, "KEYS_DIR: key not imported: another instance put signing keys in the database first");
            }
        }
        for import in imports_now {
            insert_key(&mut tx, import).await?;
            tracing::info!(kid = %import.entry.kid, state = import.entry.state(now).as_str(), "imported a key from KEYS_DIR");
            rows.push(import.clone());
            changed = true;
        }
        // Another instance may have made the first key after our `now` was
        // read (while we generated ours and waited for the lock): judge at
        // the latest instant the database has seen, never in the future.
        let seen = rows.iter().map(|r| r.entry.created_at).fold(now, i64::max);
        if !may_sign(&rows, seen) {
            let Some(key) = fresh.take() else {
                // Revoked meanwhile: generate, then look again.
                tx.rollback().await?;
                fresh = Some(generate(kek).await?);
                continue;
            };
            insert_key(
                &mut tx,
                &StoredKey {
                    entry: Entry::active_since(&key.kid, now),
                    public_jwk: key.public_jwk,
                    sealed: Some(key.sealed),
                },
            )
            .await?;
            tracing::info!(kid = %key.kid, "generated a new signing key");
            changed = true;
        }
        if changed {
            tx.commit().await?;
        } else {
            // Another instance made the first key meanwhile: ours goes unused.
            tx.rollback().await?;
        }
        return Ok(seen);
    }
    Err(KeyStoreError::NoSigner)
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

/// Why a change to the schedule was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Store(#[from] KeyStoreError),
    #[error("a rotation is already under way: key {kid} starts signing at {at}")]
    RotationPending { kid: String, at: String },
    #[error("no key {0} in the database")]
    UnknownKid(String),
    #[error("key {0} is already in the database (a removed or revoked key never comes back)")]
    KnownKid(String),
}

impl From<sqlx::Error> for ScheduleError {
    fn from(error: sqlx::Error) -> Self {
        ScheduleError::Store(error.into())
    }
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub new: Entry,
    pub retiring: Vec<Entry>,
}

/// When a rotation happens.
#[derive(Debug, Clone, Copy)]
pub enum When {
    /// Now (`keys rotate`); refused while another is under way.
    Now,
    /// If the signing key has signed this long and no rotation is under
    /// way (`KEY_ROTATION_INTERVAL`); else nothing.
    Due { interval: i64 },
}

/// Starts a rotation: a new key is published now and signs from
/// `now + publish_lead`; the keys signing now retire then, and are removed
/// once every token they signed has expired (`access_token_ttl`).
/// `Ok(None)`: not due (only with [`When::Due`]).
pub async fn rotate(
    store: &KeyStore,
    when: When,
    now: i64,
    publish_lead: i64,
    access_token_ttl: i64,
) -> Result<Option<Rotation>, ScheduleError> {
    let key = generate(&store.kek()).await?;
    start_rotation(store, key, when, now, publish_lead, access_token_ttl).await
}

/// `auth-server keys import`: a rotation to a key the operator brings. It
/// is `next` from now on (published, not signing) and walks on as a
/// rotation's new key does; refused while another rotation is under way,
/// and for a kid the database knows, removed ones included.
pub async fn import(
    store: &KeyStore,
    key: NewKey,
    now: i64,
    publish_lead: i64,
    access_token_ttl: i64,
) -> Result<Rotation, ScheduleError> {
    start_rotation(store, key, When::Now, now, publish_lead, access_token_ttl)
        .await?
        .ok_or_else(|| KeyStoreError::NoSigner.into())
}

async fn start_rotation(
    store: &KeyStore,
    key: NewKey,
    when: When,
    now: i64,
    publish_lead: i64,
    access_token_ttl: i64,
) -> Result<Option<Rotation>, ScheduleError> {
    let mut tx = begin_change(store.db()).await?;
    let rows = read_keys(&mut *tx).await?;
    if rows.iter().any(|r| r.entry.kid == key.kid) {
        tx.rollback().await?;
        return Err(ScheduleError::KnownKid(key.kid));
    }
    let (mut schedule, present) = schedule_of(&rows);
    if let Some(next) = schedule
        .in_state(KeyState::Next, now)
        .find(|e| present.contains(&e.kid))
    {
        tx.rollback().await?;
        return match when {
            When::Now => Err(ScheduleError::RotationPending {
                kid: next.kid.clone(),
                at: shared::clock::rfc3339(next.activates_at),
            }),
            When::Due { .. } => Ok(None),
        };
    }
    if let When::Due { interval } = when {
        let present: HashSet<&str> = present.iter().map(String::as_str).collect();
        let due =
            signer(&schedule, &present, now).is_some_and(|s| s.activates_at + interval <= now);
        if !due {
            // Another instance rotated first.
            tx.rollback().await?;
            return Ok(None);
        }
    }
    let activates_at = now + publish_lead;
    let mut retiring = Vec::new();
    for entry in schedule.keys.iter_mut() {
        if entry.state(now) == KeyState::Active && entry.retires_at.is_none() {
            entry.retires_at = Some(activates_at);
            // Verifiers accept tokens up to the leeway past `exp`: the
            // retired key stays published that much longer.
            entry.removed_at = Some(activates_at + access_token_ttl + MAX_LEEWAY_SECS);
            update_entry(&mut tx, entry, false).await?;
            retiring.push(entry.clone());
        }
    }
    let new = Entry {
        created_at: now,
        activates_at,
        ..Entry::active_since(&key.kid, now)
    };
    insert_key(
        &mut tx,
        &StoredKey {
            entry: new.clone(),
            public_jwk: key.public_jwk,
            sealed: Some(key.sealed),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(kid = %new.kid, activates_at, "key rotation started");
    Ok(Some(Rotation { new, retiring }))
}

/// What a revocation did.
#[derive(Debug, Clone)]
pub struct Revocation {
    pub revoked: Entry,
    /// The key that signs from now on.
    pub signing: Entry,
}

/// Removes a (compromised) key at once: unpublished, its private key
/// erased, its kid kept so that it never returns. If it was the key
/// signing, another signs from now on: the `next` key if a rotation was
/// under way, else a new one.
pub async fn revoke(store: &KeyStore, kid: &str, now: i64) -> Result<Revocation, ScheduleError> {
    let mut fresh: Option<NewKey> = None;
    for _ in 0..3 {
        let mut tx = begin_change(store.db()).await?;
        let rows = read_keys(&mut *tx).await?;
        let (mut schedule, mut present) = schedule_of(&rows);
        let Some(entry) = schedule.keys.iter_mut().find(|e| e.kid == kid) else {
            tx.rollback().await?;
            return Err(ScheduleError::UnknownKid(kid.to_owned()));
        };
        entry.retires_at = Some(entry.retires_at.map_or(now, |t| t.min(now)));
        entry.removed_at = Some(entry.removed_at.map_or(now, |t| t.min(now)));
        let revoked = entry.clone();
        present.remove(kid);
        let present_kids: HashSet<&str> = present.iter().map(String::as_str).collect();
        let signing = match signer(&schedule, &present_kids, now) {
            Some(signing) => signing,
            None => {
                // Nothing left that may sign: the next key starts early, or
                // a fresh one is made. Tokens of the revoked key die either way.
                let next = schedule
                    .keys
                    .iter_mut()
                    .filter(|e| {
                        e.state(now) == KeyState::Next && present_kids.contains(e.kid.as_str())
                    })
                    .min_by_key(|e| e.activates_at);
                match next {
                    Some(next) => {
                        next.activates_at = now;
                        update_entry(&mut tx, next, false).await?;
                        next.clone()
                    }
                    None => {
                        let Some(key) = fresh.take() else {
                            // Generated outside the transaction, then again.
                            tx.rollback().await?;
                            fresh = Some(generate(&store.kek()).await?);
                            continue;
                        };
                        let entry = Entry::active_since(&key.kid, now);
                        insert_key(
                            &mut tx,
                            &StoredKey {
                                entry: entry.clone(),
                                public_jwk: key.public_jwk,
                                sealed: Some(key.sealed),
                            },
                        )
                        .await?;
                        entry
                    }
                }
            }
        };
        update_entry(&mut tx, &revoked, true).await?;
        tx.commit().await?;
        tracing::warn!(%kid, signing = %signing.kid, "key revoked");
        return Ok(Revocation { revoked, signing });
    }
    Err(KeyStoreError::NoSigner.into())
}

/// The key that signs at `now` among those present: the latest activated
/// of the active ones (ties broken by kid, so every instance agrees).
pub(crate) fn signer(schedule: &Schedule, present: &HashSet<&str>, now: i64) -> Option<Entry> {
    schedule
        .in_state(KeyState::Active, now)
        .filter(|e| present.contains(e.kid.as_str()))
        .max_by(|a, b| a.activates_at.cmp(&b.activates_at).then(b.kid.cmp(&a.kid)))
        .cloned()
}

/// Whether the server's own schedule (`KEY_ROTATION_INTERVAL`) looks due
/// in memory: the signing key has signed for `interval` and no rotation is
/// under way. The database decides ([`When::Due`]).
pub fn rotation_due(ring: &keys::KeyRing, interval: i64, now: i64) -> bool {
    !ring.rotation_pending && ring.signing_since + interval <= now
}

/// How often a running server looks at the version row: a change made
/// anywhere is in use everywhere within about this long (API.md: 2 s).
const POLL: Duration = Duration::from_secs(1);
/// How long the same problem goes unrepeated in the log.
const REPEAT_WARNING_AFTER: Duration = Duration::from_secs(60);

/// Keeps a running server's keys current: picks up what the CLI or another
/// instance changed, follows the schedule, and rotates on
/// `KEY_ROTATION_INTERVAL`. Polls every [`POLL`] for as long as the
/// server runs (`Services::open` starts it; it ends with the server).
pub async fn poll(store: Arc<KeyStore>, config: AppConfig) {
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_warning: Option<(String, tokio::time::Instant)> = None;
    loop {
        ticks.tick().await;
        let Err(problem) = tick(&store, &config, shared::clock::unix_now()).await else {
            last_warning = None;
            continue;
        };
        // Retried on every poll, but a lasting problem (the database
        // down) is logged once a minute, not every second.
        let seen_at = tokio::time::Instant::now();
        let repeated = last_warning.as_ref().is_some_and(|(last, at)| {
            *last == problem && seen_at.duration_since(*at) < REPEAT_WARNING_AFTER
        });
        if !repeated {
            tracing::warn!(%problem, "key schedule: the current keys stay in use");
            last_warning = Some((problem, seen_at));
        }
    }
}

/// One look at the database: picks up changes, rotates when due.
pub async fn tick(store: &KeyStore, config: &AppConfig, now: i64) -> Result<(), String> {
    let reloaded = store
        .refresh(now)
        .await
        .map_err(|e| format!("cannot re-read the signing keys: {e}"))?;
    if reloaded {
        let ring = store.current();
        tracing::info!(signing = %ring.signing.kid, published = ring.keys.len(), "key ring reloaded");
        // A key whose removal time came keeps only its tombstone.
        erase_removed(store.db(), now)
            .await
            .map_err(|e| format!("cannot erase removed keys: {e}"))?;
    }
    let Some(interval) = config.key_rotation_interval else {
        return Ok(());
    };
    if !rotation_due(&store.current(), interval, now) {
        return Ok(());
    }
    rotate(
        store,
        When::Due { interval },
        now,
        config.publish_lead(),
        config.access_token_ttl,
    )
    .await
    .map_err(|e| format!("scheduled key rotation failed: {e}"))?;
    // Rotated here or by another instance first: either way the ring must
    // show it now, or the next tick would try again.
    store
        .reload(now)
        .await
        .map_err(|e| format!("cannot re-read the signing keys after a rotation: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(activates: i64, retires: Option<i64>, removed: Option<i64>) -> Entry {
        Entry {
            kid: "k".into(),
            created_at: 0,
            activates_at: activates,
            retires_at: retires,
            removed_at: removed,
        }
    }

    #[test]
    fn a_key_walks_next_active_retiring_removed() {
        let e = entry(100, Some(200), Some(300));
        assert_eq!(e.state(99), KeyState::Next);
        assert_eq!(e.state(100), KeyState::Active);
        assert_eq!(e.state(199), KeyState::Active);
        assert_eq!(e.state(200), KeyState::Retiring);
        assert_eq!(e.state(300), KeyState::Removed);
        assert_eq!(e.next_change(50), Some(100));
        assert_eq!(e.next_change(150), Some(200));
        assert_eq!(e.next_change(250), Some(300));
        assert_eq!(e.next_change(300), None);
        assert!(KeyState::Next.is_published() && KeyState::Retiring.is_published());
        assert!(!KeyState::Removed.is_published());
    }

    #[test]
    fn an_unplanned_key_stays_active() {
        let e = Entry::active_since("k", 10);
        assert_eq!(e.state(1_000_000), KeyState::Active);
        assert_eq!(e.next_change(10), None);
    }

    #[test]
    fn the_latest_activated_key_signs() {
        let schedule = Schedule {
            keys: vec![
                Entry::active_since("old", 10),
                Entry {
                    kid: "new".into(),
                    ..entry(20, None, None)
                },
                Entry {
                    kid: "gone".into(),
                    ..entry(30, Some(30), Some(30))
                },
            ],
        };
        let present: HashSet<&str> = ["old", "new", "gone"].into_iter().collect();
        assert_eq!(signer(&schedule, &present, 25).unwrap().kid, "new");
        assert_eq!(signer(&schedule, &present, 15).unwrap().kid, "old");
        let only_old: HashSet<&str> = ["old"].into_iter().collect();
        assert_eq!(signer(&schedule, &only_old, 25).unwrap().kid, "old");
    }
}
