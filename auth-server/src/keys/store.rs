//! The live key ring of a running server ([`KeyStore`]): opened from the
//! database at start (the KEK loaded, what `KEYS_DIR` may import imported,
//! a first key made when none may sign, the published keys decrypted), and
//! kept current by a poll of one version row, so that a change made by the
//! command line or another instance is in use here within 2 seconds, and
//! the server's own rotation schedule runs.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::Row;

use super::error::{KeyError, KeyStoreError, kek_error};
use super::import::{read_legacy_dir, warn_about_key_files};
use super::kek::{Kek, check_kek_id};
use super::lifecycle::Schedule;
use super::ring::KeyRing;
use super::rows::{self, StoredKey};
use super::schedule::{self, When};
use super::signing_key::SigningKey;
use super::verified::VerifiedTokens;
use crate::config::AppConfig;
use crate::store::db::Db;

/// The live key ring, swappable while the server runs.
#[derive(Debug)]
pub struct KeyStore {
    db: Db,
    kek: Arc<Kek>,
    current: RwLock<Arc<KeyRing>>,
    /// The `key_ring` version the current ring was read at.
    version: AtomicI64,
    /// Our access tokens verified by keys of this ring.
    verified: VerifiedTokens,
}

impl KeyStore {
    /// Opens the keys of the database: loads the KEK, imports the key files
    /// of a deployment that kept its keys in `KEYS_DIR` while the database
    /// holds no signing key (else warns about each key file there), makes
    /// the first key when none may sign, and decrypts the published keys (a
    /// wrong KEK fails here).
    pub async fn open(config: &AppConfig, db: &Db) -> Result<KeyStore, KeyStoreError> {
        let kek = Kek::load(config, db).await?;
        let now = shared::clock::unix_now();
        let dir = config.keys_dir.clone();
        let kek = Arc::new(kek);
        let imports = if rows::holds_keys(db).await? {
            tokio::task::spawn_blocking(move || warn_about_key_files(&dir))
                .await
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            Vec::new()
        } else {
            let kek = kek.clone();
            tokio::task::spawn_blocking(move || read_legacy_dir(&dir, &kek, now))
                .await
                .map_err(|e| KeyError::Generate(e.to_string()))??
        };
        // The ring is first read at the instant the schedule was settled
        // at: a first key made by an instance whose clock read came after
        // ours is active from its own `now`, which may be after ours.
        let settled_at = schedule::settle(db, &kek, imports, now).await?;
        let (version, ring) = load(db, &kek, None, settled_at).await?;
        Ok(KeyStore {
            db: db.clone(),
            kek,
            current: RwLock::new(Arc::new(ring)),
            version: AtomicI64::new(version),
            verified: VerifiedTokens::default(),
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn kek(&self) -> Arc<Kek> {
        self.kek.clone()
    }

    /// Our access tokens already verified; an entry counts only while its
    /// key is in [`KeyStore::current`].
    pub fn verified(&self) -> &VerifiedTokens {
        &self.verified
    }

    /// The ring signing now: memory only, never the database.
    pub fn current(&self) -> Arc<KeyRing> {
        match self.current.read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the keys; the running server picks the new ring up at once.
    pub async fn reload(&self, now: i64) -> Result<(), KeyStoreError> {
        let previous = self.current();
        let (version, ring) = load(&self.db, &self.kek, Some(&previous), now).await?;
        let ring = Arc::new(ring);
        match self.current.write() {
            Ok(mut current) => *current = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
        self.version.store(version, Ordering::Release);
        self.verified.clear();
        Ok(())
    }

    /// Reloads when the keys changed (the version row moved) or a key's
    /// state did since the last load; `true` if the ring was replaced.
    /// Cheap otherwise: one indexed one-row read.
    pub async fn refresh(&self, now: i64) -> Result<bool, KeyStoreError> {
        let due = self.current().next_change.is_some_and(|t| t <= now);
        let version: i64 = sqlx::query_scalar("select version from key_ring where id = 1")
            .fetch_one(&self.db.pool)
            .await?;
        if !due && version == self.version.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.reload(now).await?;
        Ok(true)
    }
}

/// Reads the version, then the keys (a change committed in between only
/// makes the next poll load again), and opens the published keys, reusing
/// those `previous` already opened.
async fn load(
    db: &Db,
    kek: &Kek,
    previous: Option<&KeyRing>,
    now: i64,
) -> Result<(i64, KeyRing), KeyStoreError> {
    let row = sqlx::query("select version, kek_id from key_ring where id = 1")
        .fetch_one(&db.pool)
        .await?;
    let version: i64 = row.try_get("version")?;
    let kek_id: Option<String> = row.try_get("kek_id")?;
    check_kek_id(kek, kek_id.as_deref())?;
    let rows = rows::read_keys(&db.pool).await?;
    let mut keys = Vec::new();
    for StoredKey { entry, sealed, .. } in &rows {
        let Some(sealed) = sealed else { continue };
        if !entry.state(now).is_published() {
            continue;
        }
        if let Some(known) = previous.and_then(|p| p.keys.iter().find(|k| k.kid == entry.kid)) {
            keys.push(known.clone());
            continue;
        }
        keys.push(Arc::new(open_key(kek, &entry.kid, sealed)?));
    }
    let schedule = Schedule {
        keys: rows.into_iter().map(|r| r.entry).collect(),
    };
    let ring = KeyRing::new(keys, &schedule, now).ok_or(KeyStoreError::NoSigner)?;
    Ok((version, ring))
}

fn open_key(kek: &Kek, kid: &str, sealed: &str) -> Result<SigningKey, KeyStoreError> {
    let der = kek.open(kid, sealed).map_err(|e| {
        kek_error(
            "KEY_ENCRYPTION_KEY",
            format!("the private key of {kid} in the database does not decrypt ({e}): its ciphertext is corrupt"),
        )
    })?;
    let key = SigningKey::from_pkcs8_der(&der, kid).map_err(|e| {
        kek_error(
            "KEY_ENCRYPTION_KEY",
            format!("the private key of {kid} in the database is corrupt: {e}"),
        )
    })?;
    if key.kid != kid {
        return Err(kek_error(
            "KEY_ENCRYPTION_KEY",
            format!(
                "the private key stored as {kid} is another key ({})",
                key.kid
            ),
        ));
    }
    Ok(key)
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
        rows::erase_removed(store.db(), now)
            .await
            .map_err(|e| format!("cannot erase removed keys: {e}"))?;
    }
    schedule::record_activations(store.db(), now)
        .await
        .map_err(|e| format!("cannot record key activations: {e}"))?;
    let Some(interval) = config.key_rotation_interval else {
        return Ok(());
    };
    if !store.current().rotation_due(interval, now) {
        return Ok(());
    }
    schedule::rotate(
        store.db(),
        &store.kek,
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
