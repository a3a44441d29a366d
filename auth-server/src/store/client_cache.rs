//! Registered clients kept in memory, so that a client_credentials grant
//! costs its RSA signature and not a database read besides.
//!
//! Why a cached client is never used after it changed (API.md: a change
//! reaches every instance within 2 s):
//! - Every change to the `clients` table bumps `key_ring.clients_version` in
//!   its own transaction, and a one-second poll reads that column
//!   ([`Clients::poll`](super::clients::Clients::poll)). When it moved, every entry is
//!   dropped.
//! - An entry counts only while the last poll that reached the database
//!   began less than [`FRESH_FOR`] ago, so a stalled poller or a lost
//!   database cannot stretch the 2 s: the lookup then goes to the database.
//! - Entries are stamped with the generation they were read under, taken
//!   before the read; a drop bumps it. A read that started before a change
//!   and stores its row after the poll saw the change stores a dead entry.
//! - Unknown ids are not remembered (a new client needs no invalidation, and
//!   made-up ids cannot fill the cache); the entries are bounded in number.
//!
//! The cache is generic over the row it keeps; for clients that is
//! [`Client`](super::clients::Client), which holds the secret's digest only.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

/// How long after the start of the last successful poll entries may be
/// used: the contract's 2 s.
pub const FRESH_FOR: Duration = Duration::from_secs(2);
/// Most rows remembered.
const MAX_ENTRIES: u64 = 10_000;
/// A safety net only (a row edited by hand, bypassing the version);
/// invalidation is by version.
const TIME_TO_LIVE: Duration = Duration::from_secs(300);

pub struct VersionedCache<T> {
    entries: Cache<String, (u64, T)>,
    generation: AtomicU64,
    /// The `clients_version` last seen; -1 before the first poll.
    version: AtomicI64,
    /// When the last poll that read the version began.
    polled_at: Mutex<Option<Instant>>,
}

impl<T: Clone + Send + Sync + 'static> std::fmt::Debug for VersionedCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionedCache")
            .field("entries", &self.entries.entry_count())
            .field("version", &self.version.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T: Clone + Send + Sync + 'static> Default for VersionedCache<T> {
    fn default() -> Self {
        VersionedCache::new()
    }
}

impl<T: Clone + Send + Sync + 'static> VersionedCache<T> {
    pub fn new() -> VersionedCache<T> {
        VersionedCache {
            entries: Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(TIME_TO_LIVE)
                .build(),
            generation: AtomicU64::new(0),
            version: AtomicI64::new(-1),
            polled_at: Mutex::new(None),
        }
    }

    /// The generation to stamp a read with: take it before reading.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn is_fresh(&self) -> bool {
        let polled_at = match self.polled_at.lock() {
            Ok(at) => *at,
            Err(poisoned) => *poisoned.into_inner(),
        };
        polled_at.is_some_and(|at| at.elapsed() < FRESH_FOR)
    }

    /// Whether something read under `stamp` may still be served: the last
    /// poll is recent and nothing changed since the read began.
    pub fn is_current(&self, stamp: u64) -> bool {
        self.is_fresh() && stamp == self.generation()
    }

    pub fn get(&self, id: &str) -> Option<T> {
        if !self.is_fresh() {
            return None;
        }
        let (stamp, row) = self.entries.get(id)?;
        (stamp == self.generation()).then_some(row)
    }

    /// Remembers a row read under `generation`.
    pub fn insert(&self, generation: u64, id: &str, row: T) {
        self.entries.insert(id.to_owned(), (generation, row));
    }

    /// Drops every entry (a change made here, or seen by a poll).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// What a poll that began at `began` read: drops everything when the
    /// version moved, and keeps the entries usable for [`FRESH_FOR`].
    pub fn observe(&self, version: i64, began: Instant) {
        if self.version.swap(version, Ordering::AcqRel) != version {
            self.clear();
        }
        let mut polled_at = match self.polled_at.lock() {
            Ok(at) => at,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Polls may finish out of order: keep the latest start.
        if polled_at.is_none_or(|at| at < began) {
            *polled_at = Some(began);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_served_before_a_poll_or_after_a_version_change() {
        let cache = VersionedCache::<String>::new();
        cache.insert(cache.generation(), "a", "row".into());
        assert_eq!(cache.get("a"), None, "never polled");
        cache.observe(1, Instant::now());
        cache.insert(cache.generation(), "a", "row".into());
        assert_eq!(cache.get("a").as_deref(), Some("row"));
        cache.observe(1, Instant::now());
        assert_eq!(cache.get("a").as_deref(), Some("row"), "same version");
        cache.observe(2, Instant::now());
        assert_eq!(cache.get("a"), None, "version moved");
    }

    #[test]
    fn a_read_from_before_a_change_is_never_served() {
        let cache = VersionedCache::<String>::new();
        cache.observe(1, Instant::now());
        let before = cache.generation();
        cache.observe(2, Instant::now());
        cache.insert(before, "a", "old".into());
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn entries_stop_counting_when_polls_stop() {
        let cache = VersionedCache::<String>::new();
        let long_ago = Instant::now().checked_sub(FRESH_FOR).unwrap();
        cache.observe(1, long_ago);
        cache.insert(cache.generation(), "a", "row".into());
        assert_eq!(cache.get("a"), None);
        cache.observe(1, Instant::now());
        assert_eq!(cache.get("a").as_deref(), Some("row"));
    }
}
