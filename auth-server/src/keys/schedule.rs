//! Key rotation without downtime: the decisions that move keys along
//! their walk ([`lifecycle`](super::lifecycle)) — the first key of an empty
//! database ([`settle`]), a rotation ([`rotate`], and [`import`], a rotation
//! to a key the operator brings), and a revocation ([`revoke`]).
//!
//! Each is one transaction that begins with the version bump
//! ([`rows::begin_change`]), so the command line and any number of servers
//! take turns and each decides on what it reads under the lock. Two
//! instances starting at once on an empty database make one first key;
//! `KEY_ROTATION_INTERVAL` rotates once however many run. The slow part, an
//! RSA key generation, happens before the transaction; a key found not
//! needed is dropped.

use std::collections::HashSet;
use std::sync::Arc;

use shared::verifier::MAX_LEEWAY_SECS;
use sqlx::Row;

use super::error::{KeyError, KeyStoreError};
use super::kek::{Kek, check_kek_id};
use super::lifecycle::{Entry, KeyState, signer};
use super::rows::{StoredKey, begin_change, insert_key, read_keys, schedule_of, update_entry};
use super::signing_key::{NewKey, generate_key};
use crate::store::db::Db;
use crate::store::events::{self, Event};

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
    let key = tokio::task::spawn_blocking(move || generate_key(&kek))
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
        check_kek_id(kek, recorded.as_deref())?;
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
    db: &Db,
    kek: &Arc<Kek>,
    when: When,
    now: i64,
    publish_lead: i64,
    access_token_ttl: i64,
) -> Result<Option<Rotation>, KeyStoreError> {
    let key = generate(kek).await?;
    start_rotation(
        db,
        key,
        when,
        now,
        publish_lead,
        access_token_ttl,
        "key_rotated",
    )
    .await
}

/// `auth-server keys import`: a rotation to a key the operator brings. It
/// is `next` from now on (published, not signing) and walks on as a
/// rotation's new key does; refused while another rotation is under way,
/// and for a kid the database knows, removed ones included.
pub async fn import(
    db: &Db,
    key: NewKey,
    now: i64,
    publish_lead: i64,
    access_token_ttl: i64,
) -> Result<Rotation, KeyStoreError> {
    start_rotation(
        db,
        key,
        When::Now,
        now,
        publish_lead,
        access_token_ttl,
        "key_imported",
    )
    .await?
    .ok_or(KeyStoreError::NoSigner)
}

async fn start_rotation(
    db: &Db,
    key: NewKey,
    when: When,
    now: i64,
    publish_lead: i64,
    access_token_ttl: i64,
    event: &'static str,
) -> Result<Option<Rotation>, KeyStoreError> {
    let mut tx = begin_change(db).await?;
    let rows = read_keys(&mut *tx).await?;
    if rows.iter().any(|r| r.entry.kid == key.kid) {
        tx.rollback().await?;
        return Err(KeyStoreError::KnownKid(key.kid));
    }
    let (mut schedule, present) = schedule_of(&rows);
    if let Some(next) = schedule
        .in_state(KeyState::Next, now)
        .find(|e| present.contains(&e.kid))
    {
        tx.rollback().await?;
        return match when {
            When::Now => Err(KeyStoreError::RotationPending {
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
    let by = match when {
        When::Now => "command",
        When::Due { .. } => "schedule",
    };
    let retired: Vec<&str> = retiring.iter().map(|e| e.kid.as_str()).collect();
    let recorded = Event::new(event)
        .detail("kid", new.kid.as_str())
        .detail("activates_at", activates_at)
        .detail("retiring", retired)
        .detail("by", by);
    events::insert(&mut tx, recorded, now).await?;
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
pub async fn revoke(
    db: &Db,
    kek: &Arc<Kek>,
    kid: &str,
    now: i64,
) -> Result<Revocation, KeyStoreError> {
    let mut fresh: Option<NewKey> = None;
    for _ in 0..3 {
        let mut tx = begin_change(db).await?;
        let rows = read_keys(&mut *tx).await?;
        let (mut schedule, mut present) = schedule_of(&rows);
        let Some(entry) = schedule.keys.iter_mut().find(|e| e.kid == kid) else {
            tx.rollback().await?;
            return Err(KeyStoreError::UnknownKid(kid.to_owned()));
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
                            fresh = Some(generate(kek).await?);
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
        let recorded = Event::new("key_revoked")
            .detail("kid", kid)
            .detail("signing", signing.kid.as_str());
        events::insert(&mut tx, recorded, now).await?;
        tx.commit().await?;
        tracing::warn!(%kid, signing = %signing.kid, "key revoked");
        return Ok(Revocation { revoked, signing });
    }
    Err(KeyStoreError::NoSigner)
}

/// Records `key_activated` for each key whose time to sign has come since
/// it was published as `next`: the one change of the walk that no command
/// makes, only the clock. Once per key however many instances look: the
/// conditional update marks it, and only the instance whose update did
/// records the event. Keys that signed from their creation (the first key)
/// or were removed before their time are not recorded.
pub async fn record_activations(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    macro_rules! due {
        () => {
            "activation_recorded_at is null and activates_at <= $1 \
             and activates_at > created_at \
             and (removed_at is null or removed_at > activates_at)"
        };
    }
    // A read first, so the write (on SQLite, its lock) is taken only on
    // the rare tick with something to record.
    let due: Option<String> = sqlx::query_scalar(concat!(
        "select kid from signing_keys where ",
        due!(),
        " limit 1"
    ))
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    if due.is_none() {
        return Ok(0);
    }
    let mut tx = db.begin_write().await?;
    let activated = sqlx::query(concat!(
        "update signing_keys set activation_recorded_at = $1 where ",
        due!(),
        " returning kid, activates_at"
    ))
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    for row in &activated {
        let kid: String = row.try_get("kid")?;
        let activates_at: i64 = row.try_get("activates_at")?;
        let recorded = Event::new("key_activated")
            .detail("kid", kid.as_str())
            .detail("activates_at", activates_at);
        events::insert(&mut tx, recorded, now).await?;
        tracing::info!(%kid, activates_at, "key activated");
    }
    tx.commit().await?;
    Ok(activated.len() as u64)
}
