//! Key rotation without downtime (API.md, "Keys"): every key walks
//! `next` (published, not yet signing) → `active` (signing) → `retiring`
//! (published until every token it signed has expired) → `removed`.
//!
//! The walk is a schedule of instants kept beside the keys, in
//! `KEYS_DIR/schedule.json`; a key's state is derived from those instants
//! and the clock. No process has to be awake when a key changes state, and
//! every instance reading the same folder agrees on which key signs.
//!
//! A key file without an entry (the first key, or keys put there by hand or
//! by a Kubernetes Secret) counts as active since its file was written; the
//! newest active key signs, as before rotation existed.
//!
//! Changes (`rotate`, `revoke`, the server's own schedule) take an
//! exclusive lock on `KEYS_DIR/.schedule.lock` and replace the schedule
//! atomically, so the CLI and several servers can share one folder.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rocket::fairing::AdHoc;
use serde::{Deserialize, Serialize};

use crate::config::AppConfig;
use crate::keys::{self, JWKS_MAX_AGE, KeyError, KeyStore, SigningKey};

pub const SCHEDULE_FILE: &str = "schedule.json";
const LOCK_FILE: &str = ".schedule.lock";

/// How long a new key is published before it signs: twice the JWKS
/// `max-age`, so every verifier that caches the set has seen it first.
pub const PUBLISH_LEAD: i64 = 2 * JWKS_MAX_AGE as i64;

/// Verifiers accept tokens up to this long past `exp` (clock leeway); a
/// retired key stays published that much longer.
pub const VERIFIER_LEEWAY: i64 = 60;

/// Removed entries are listed this long, then forgotten.
const REMOVED_MEMORY: i64 = 30 * 24 * 3600;

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
    /// From here on it is no longer published, and its file is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<i64>,
    /// Not in the schedule: a key file, active since it was written
    /// (`activates_at` is its modification time, which orders such keys).
    #[serde(skip)]
    pub unscheduled: bool,
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
            unscheduled: false,
        }
    }

    pub fn state(&self, now: i64) -> KeyState {
        // A key put in the folder signs at once if it is the newest, even
        // dated a little in the future.
        if self.unscheduled {
            return KeyState::Active;
        }
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
    fn next_change(&self, now: i64) -> Option<i64> {
        if self.unscheduled {
            return None;
        }
        [Some(self.activates_at), self.retires_at, self.removed_at]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
    }
}

/// The schedule of every key in the folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub keys: Vec<Entry>,
}

impl Schedule {
    /// Reads the folder's schedule; none yet is an empty one.
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

    /// Replaces the schedule atomically (temporary file, then rename).
    fn write(&self, dir: &Path) -> Result<(), KeyError> {
        let name = dir.display().to_string();
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| KeyError::Write(name.clone(), std::io::Error::other(e)))?;
        let tmp = dir.join(format!(".{SCHEDULE_FILE}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        keys::write_private(&tmp, &bytes).map_err(|e| KeyError::Write(name.clone(), e))?;
        std::fs::rename(&tmp, dir.join(SCHEDULE_FILE)).map_err(|e| KeyError::Write(name, e))
    }

    /// The entry of `key`: its scheduled one, or active since its file was
    /// written.
    pub fn entry_for(&self, key: &SigningKey) -> Entry {
        self.keys
            .iter()
            .find(|e| e.kid == key.kid)
            .cloned()
            .unwrap_or_else(|| Entry {
                unscheduled: true,
                ..Entry::active_since(&key.kid, unix(key.modified))
            })
    }

    /// The first instant after `now` at which any of `keys` changes state.
    pub fn next_change(&self, keys: &[SigningKey], now: i64) -> Option<i64> {
        keys.iter()
            .filter_map(|k| self.entry_for(k).next_change(now))
            .min()
    }

    /// Gives every key file an explicit entry, and forgets entries long
    /// removed.
    fn complete(&mut self, keys: &[SigningKey], now: i64) {
        for key in keys {
            if !self.keys.iter().any(|e| e.kid == key.kid) {
                // Scheduled from now on; a file dated ahead counts from now.
                let since = unix(key.modified).min(now);
                self.keys.push(Entry::active_since(&key.kid, since));
            }
        }
        self.keys
            .retain(|e| e.removed_at.is_none_or(|t| t + REMOVED_MEMORY > now));
    }

    fn in_state(&self, state: KeyState, now: i64) -> impl Iterator<Item = &Entry> {
        self.keys.iter().filter(move |e| e.state(now) == state)
    }
}

pub fn unix(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub fn now() -> i64 {
    unix(SystemTime::now())
}

/// Why a change to the schedule was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("a rotation is already under way: key {kid} starts signing at {at}")]
    RotationPending { kid: String, at: String },
    #[error("no key {0} in KEYS_DIR")]
    UnknownKid(String),
    #[error("cannot lock {0}: {1}")]
    Lock(String, std::io::Error),
}

/// Holds the folder's lock while the schedule is changed.
struct FolderLock(File);

impl FolderLock {
    fn take(dir: &Path) -> Result<FolderLock, ScheduleError> {
        let path = dir.join(LOCK_FILE);
        let name = path.display().to_string();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| ScheduleError::Lock(name.clone(), e))?;
        file.lock().map_err(|e| ScheduleError::Lock(name, e))?;
        Ok(FolderLock(file))
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub new: Entry,
    pub retiring: Vec<Entry>,
}

/// Starts a rotation: a new key is published now and signs from
/// `now + PUBLISH_LEAD`; the keys signing now retire then, and are removed
/// once every token they signed has expired (`access_token_ttl`).
pub fn rotate(dir: &Path, now: i64, access_token_ttl: i64) -> Result<Rotation, ScheduleError> {
    let _lock = FolderLock::take(dir)?;
    let files = keys::load_dir(dir)?;
    let mut schedule = Schedule::read(dir)?;
    schedule.complete(&files, now);
    let present: HashSet<&str> = files.iter().map(|k| k.kid.as_str()).collect();
    if let Some(next) = schedule
        .in_state(KeyState::Next, now)
        .find(|e| present.contains(e.kid.as_str()))
    {
        return Err(ScheduleError::RotationPending {
            kid: next.kid.clone(),
            at: crate::users::rfc3339(next.activates_at),
        });
    }
    let activates_at = now + PUBLISH_LEAD;
    let mut retiring = Vec::new();
    for entry in schedule.keys.iter_mut() {
        if entry.state(now) == KeyState::Active && entry.retires_at.is_none() {
            entry.retires_at = Some(activates_at);
            entry.removed_at = Some(activates_at + access_token_ttl + VERIFIER_LEEWAY);
            retiring.push(entry.clone());
        }
    }
    let key = keys::generate_key(dir)?;
    let new = Entry {
        created_at: now,
        activates_at,
        ..Entry::active_since(&key.kid, now)
    };
    schedule.keys.push(new.clone());
    schedule.write(dir)?;
    tracing::info!(kid = %new.kid, activates_at, "key rotation started");
    Ok(Rotation { new, retiring })
}

/// What a revocation did.
#[derive(Debug, Clone)]
pub struct Revocation {
    pub revoked: Entry,
    /// The key that signs from now on.
    pub signing: Entry,
}

/// Removes a (compromised) key at once: unpublished, its file deleted.
/// If it was the key signing, another signs from now on: the `next` key if
/// a rotation was under way, else a new one.
pub fn revoke(dir: &Path, kid: &str, now: i64) -> Result<Revocation, ScheduleError> {
    let _lock = FolderLock::take(dir)?;
    let files = keys::load_dir(dir)?;
    let mut schedule = Schedule::read(dir)?;
    schedule.complete(&files, now);
    let Some(entry) = schedule.keys.iter_mut().find(|e| e.kid == kid) else {
        return Err(ScheduleError::UnknownKid(kid.to_owned()));
    };
    entry.retires_at = Some(entry.retires_at.map_or(now, |t| t.min(now)));
    entry.removed_at = Some(entry.removed_at.map_or(now, |t| t.min(now)));
    let revoked = entry.clone();
    for file in files.iter().filter(|k| k.kid == kid) {
        std::fs::remove_file(&file.path)
            .map_err(|e| KeyError::Write(file.path.display().to_string(), e))?;
    }
    let present: HashSet<&str> = files
        .iter()
        .filter(|k| k.kid != kid)
        .map(|k| k.kid.as_str())
        .collect();
    let signing = match signer(&schedule, &present, now) {
        Some(signing) => signing,
        None => {
            // Nothing left that may sign: the next key starts early, or a
            // fresh one is made. Tokens of the revoked key die either way.
            let next = schedule
                .keys
                .iter_mut()
                .filter(|e| e.state(now) == KeyState::Next && present.contains(e.kid.as_str()))
                .min_by_key(|e| e.activates_at);
            match next {
                Some(next) => {
                    next.activates_at = now;
                    next.clone()
                }
                None => {
                    let key = keys::generate_key(dir)?;
                    let fresh = Entry::active_since(&key.kid, now);
                    schedule.keys.push(fresh.clone());
                    fresh
                }
            }
        }
    };
    schedule.write(dir)?;
    tracing::warn!(%kid, signing = %signing.kid, "key revoked");
    Ok(Revocation { revoked, signing })
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

/// Whether the server's own schedule (`KEY_ROTATION_INTERVAL`) is due: the
/// signing key has signed for `interval` and no rotation is under way.
pub fn rotation_due(ring: &keys::KeyRing, interval: i64, now: i64) -> bool {
    !ring.rotation_pending && ring.signing_since + interval <= now
}

/// How often a running server looks at `KEYS_DIR`.
const POLL: Duration = Duration::from_secs(2);
/// How long the same problem goes unrepeated in the log.
const REPEAT_WARNING_AFTER: Duration = Duration::from_secs(60);

/// Keeps a running server's keys current: picks up what the CLI or another
/// instance changed, follows the schedule, and rotates on
/// `KEY_ROTATION_INTERVAL`.
pub fn stage() -> AdHoc {
    AdHoc::on_liftoff("key schedule", |rocket| {
        Box::pin(async move {
            let (Some(store), Some(config)) = (
                rocket.state::<Arc<KeyStore>>().cloned(),
                rocket.state::<AppConfig>().cloned(),
            ) else {
                return;
            };
            let mut shutdown = rocket.shutdown();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(POLL);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let mut last_warning: Option<(String, tokio::time::Instant)> = None;
                loop {
                    tokio::select! {
                        _ = ticks.tick() => {}
                        _ = &mut shutdown => break,
                    }
                    let (store, config) = (store.clone(), config.clone());
                    // File I/O and key parsing: off the async workers.
                    let outcome = tokio::task::spawn_blocking(move || tick(&store, &config, now()))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    let Err(problem) = outcome else {
                        last_warning = None;
                        continue;
                    };
                    // Retried on every poll, but a lasting problem (a
                    // read-only folder with KEY_ROTATION_INTERVAL, a corrupt
                    // file) is logged once a minute, not every 2 s.
                    let seen_at = tokio::time::Instant::now();
                    let repeated = last_warning.as_ref().is_some_and(|(last, at)| {
                        *last == problem && seen_at.duration_since(*at) < REPEAT_WARNING_AFTER
                    });
                    if !repeated {
                        tracing::warn!(%problem, "key schedule: the current keys stay in use");
                        last_warning = Some((problem, seen_at));
                    }
                }
            });
        })
    })
}

/// One look at the folder: picks up changes, rotates when due.
pub fn tick(store: &KeyStore, config: &AppConfig, now: i64) -> Result<(), String> {
    let reloaded = store
        .refresh(now)
        .map_err(|e| format!("cannot re-read KEYS_DIR: {e}"))?;
    if reloaded {
        let ring = store.current();
        tracing::info!(signing = %ring.signing.kid, published = ring.keys.len(), "key ring reloaded");
    }
    let Some(interval) = config.key_rotation_interval else {
        return Ok(());
    };
    if !rotation_due(&store.current(), interval, now) {
        return Ok(());
    }
    match rotate(store.dir(), now, config.access_token_ttl) {
        Ok(_) => store
            .reload()
            .map_err(|e| format!("cannot re-read KEYS_DIR after a rotation: {e}")),
        // Another instance sharing the folder was first.
        Err(ScheduleError::RotationPending { .. }) => Ok(()),
        Err(e) => Err(format!(
            "scheduled key rotation failed (KEYS_DIR must be writable): {e}"
        )),
    }
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
            unscheduled: false,
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
    fn a_key_file_put_in_by_hand_signs_at_once_when_newest() {
        // Dated ahead of the clock, as a copy or a skewed host may leave it.
        let old = Entry {
            unscheduled: true,
            ..Entry::active_since("old", 100)
        };
        let ahead = Entry {
            unscheduled: true,
            ..Entry::active_since("ahead", 105)
        };
        assert_eq!(ahead.state(100), KeyState::Active);
        assert_eq!(ahead.next_change(100), None);
        let schedule = Schedule {
            keys: vec![old, ahead],
        };
        let present: HashSet<&str> = ["old", "ahead"].into_iter().collect();
        assert_eq!(signer(&schedule, &present, 100).unwrap().kid, "ahead");
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

    #[test]
    fn rotate_then_revoke_on_a_real_folder() {
        let dir = tempfile::TempDir::new().unwrap();
        let first = keys::generate_key(dir.path()).unwrap();
        // The first key counts as active since its file was written.
        let now = now() + 1;
        let rotation = rotate(dir.path(), now, 900).unwrap();
        assert_eq!(rotation.new.activates_at, now + PUBLISH_LEAD);
        assert_eq!(rotation.retiring.len(), 1);
        assert_eq!(rotation.retiring[0].kid, first.kid);
        assert_eq!(
            rotation.retiring[0].removed_at,
            Some(now + PUBLISH_LEAD + 900 + VERIFIER_LEEWAY)
        );
        // One rotation at a time.
        assert!(matches!(
            rotate(dir.path(), now + 1, 900),
            Err(ScheduleError::RotationPending { .. })
        ));
        // Revoking the signing key starts the next one at once.
        let revocation = revoke(dir.path(), &first.kid, now + 2).unwrap();
        assert_eq!(revocation.signing.kid, rotation.new.kid);
        assert_eq!(revocation.signing.activates_at, now + 2);
        assert!(!first.path.exists(), "the revoked key's file is deleted");
        let schedule = Schedule::read(dir.path()).unwrap();
        let states: Vec<_> = schedule
            .keys
            .iter()
            .map(|e| (e.kid.clone(), e.state(now + 2)))
            .collect();
        assert!(states.contains(&(first.kid.clone(), KeyState::Removed)));
        assert!(states.contains(&(rotation.new.kid.clone(), KeyState::Active)));
        assert!(matches!(
            revoke(dir.path(), "nope", now),
            Err(ScheduleError::UnknownKid(_))
        ));
        // Revoking the only key left makes a fresh one.
        let last = revoke(dir.path(), &rotation.new.kid, now + 3).unwrap();
        assert_ne!(last.signing.kid, rotation.new.kid);
        assert_eq!(last.signing.state(now + 3), KeyState::Active);
    }
}
