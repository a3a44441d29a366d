//! Profiles read in the last second, kept in memory so that a client
//! polling `GET /profile/me` costs no database round trip (measured: the
//! read is most of what is left once the token check is cached).
//!
//! Why this stays correct:
//! - With several resource-servers on one database, an entry lives at most
//!   `PROFILE_CACHE_TTL_MS` (≤ 1 s): a change made through another process
//!   is seen here within that long.
//! - This process's own `PATCH` is seen by its next `GET`: the `PATCH` bumps
//!   a generation after its write commits, and an entry counts only while
//!   the generation it was read under is still current. A `GET` that read the
//!   row before the write but stores it after the bump stores a dead entry,
//!   so that race cannot bring the old profile back.
//! - Bounded in bytes (each entry weighs its strings plus a fixed overhead).
//!
//! It knows nothing of what a profile holds: the routes give it the type
//! and how much one weighs, so the cache sits below them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

/// Most bytes the remembered profiles may take, as the weigher counts them.
const MAX_BYTES: u64 = 16 * 1024 * 1024;
/// What an entry costs beyond its strings (key, stamps, moka's bookkeeping).
const ENTRY_OVERHEAD: usize = 256;

/// The per-process profile cache, managed by Rocket: profiles of type `P`
/// by id, each weighing what `weigh` says its strings hold.
pub struct ProfileCache<P> {
    /// `None` when the cache is turned off (`PROFILE_CACHE_TTL_MS=0`).
    entries: Option<Cache<String, (u64, P)>>,
    generation: AtomicU64,
}

impl<P: Clone + Send + Sync + 'static> ProfileCache<P> {
    pub fn new(ttl: Duration, weigh: fn(&P) -> usize) -> ProfileCache<P> {
        let entries = (!ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(MAX_BYTES)
                .weigher(move |id: &String, (_, profile): &(u64, P)| {
                    let bytes = ENTRY_OVERHEAD + id.len() + weigh(profile);
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .time_to_live(ttl)
                .build()
        });
        ProfileCache {
            entries,
            generation: AtomicU64::new(0),
        }
    }

    /// The generation to stamp a read with: take it before reading.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn get(&self, id: &str) -> Option<P> {
        let (stamp, profile) = self.entries.as_ref()?.get(id)?;
        (stamp == self.generation()).then_some(profile)
    }

    /// Remembers the profile `id` read from the database under
    /// `generation`.
    pub fn insert(&self, generation: u64, id: &str, profile: &P) {
        if let Some(entries) = &self.entries {
            entries.insert(id.to_owned(), (generation, profile.clone()));
        }
    }

    /// After this process changed the profile `id` (its write committed):
    /// no entry read before counts any more.
    pub fn changed(&self, id: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.invalidate(id);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn names(ttl: Duration) -> ProfileCache<String> {
        ProfileCache::new(ttl, String::len)
    }

    #[test]
    fn a_read_older_than_a_change_is_never_served() {
        let cache = names(Duration::from_secs(1));
        let before = cache.generation();
        cache.changed("a");
        // A GET that read the row before the PATCH stores it afterwards.
        cache.insert(before, "a", &"old".to_owned());
        assert_eq!(cache.get("a"), None);
        cache.insert(cache.generation(), "a", &"new".to_owned());
        assert_eq!(cache.get("a").unwrap(), "new");
    }

    #[test]
    fn entries_expire_and_a_zero_ttl_turns_it_off() {
        let cache = names(Duration::from_millis(50));
        cache.insert(cache.generation(), "a", &"x".to_owned());
        assert!(cache.get("a").is_some());
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(cache.get("a"), None);
        let off = names(Duration::ZERO);
        off.insert(off.generation(), "a", &"x".to_owned());
        assert_eq!(off.get("a"), None);
    }
}
