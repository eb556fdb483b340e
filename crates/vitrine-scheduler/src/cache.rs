//! Hot-path caches: a screen's manifest and a device token's screen, so that the requests every
//! screen makes all day (`GET /v1/manifest`, and each authenticated call) do not touch the database or
//! rebuild JSON each time.
//!
//! **Invariant: a cache never serves content older than the last write.** Every write that can
//! change a manifest bumps the content generation *after* it commits, from the storage write
//! itself (see [`crate::storage::Changes::announce`]); every write that can change what a token
//! resolves to (tokens, staff, screens) bumps the callers generation too, which the token caches
//! follow, so a content push does not send every screen's next request to the database for its
//! token. An entry remembers the generation
//! at which its computation *started*, so a computation that raced a write is already stale when
//! it is stored. Entries also expire after [`TIME_TO_LIVE`], because offer windows and campaign
//! dates move with the clock, not with writes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long an entry serves before it is recomputed even without a write.
pub const TIME_TO_LIVE: Duration = Duration::from_secs(30);

/// The most entries kept per cache: far more screens than one scheduler serves, so in practice
/// nothing is evicted; past it the cache is simply cleared.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
struct Entry<T> {
    generation: u64,
    stored_at: Instant,
    value: T,
}

/// A small map from a key to a value computed at some content generation.
#[derive(Debug)]
pub struct GenerationCache<T> {
    entries: Mutex<HashMap<String, Entry<T>>>,
}

impl<T: Clone> GenerationCache<T> {
    pub fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The entries, locked; a panic elsewhere while they were held leaves them usable.
    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry<T>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The value for `key` if it was computed at `generation` and is younger than the TTL.
    pub fn get(&self, key: &str, generation: u64) -> Option<T> {
        let entries = self.entries();
        entries
            .get(key)
            .filter(|entry| {
                entry.generation == generation && entry.stored_at.elapsed() < TIME_TO_LIVE
            })
            .map(|entry| entry.value.clone())
    }

    /// Whether `key` has an entry computed at `generation`, however old: it was valid then, and
    /// nothing that could change it was written since.
    pub fn holds(&self, key: &str, generation: u64) -> bool {
        let entries = self.entries();
        entries
            .get(key)
            .is_some_and(|entry| entry.generation == generation)
    }

    /// Stores a value computed from the content as it was at `generation`.
    pub fn put(&self, key: &str, generation: u64, value: T) {
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key.to_owned(),
            Entry {
                generation,
                stored_at: Instant::now(),
                value,
            },
        );
    }
}

impl<T: Clone> Default for GenerationCache<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The content generation: bumped after every write that may change what screens get.
#[derive(Debug, Default)]
pub struct Generation(AtomicU64);

impl Generation {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_entry_is_one_of_the_current_generation() {
        let cache = GenerationCache::new();
        cache.put("token", 4, "door");
        assert!(cache.holds("token", 4));
        assert!(
            !cache.holds("token", 5),
            "a write since: not known any more"
        );
        assert!(!cache.holds("other", 4));
    }

    #[test]
    fn an_entry_serves_only_its_own_generation() {
        let generation = Generation::default();
        let cache = GenerationCache::new();
        let started_at = generation.current();
        // A write lands while the value is being computed.
        generation.bump();
        cache.put("lobby", started_at, "old");
        assert_eq!(
            cache.get("lobby", generation.current()),
            None,
            "raced a write"
        );
        cache.put("lobby", generation.current(), "new");
        assert_eq!(cache.get("lobby", generation.current()), Some("new"));
        generation.bump();
        assert_eq!(cache.get("lobby", generation.current()), None);
    }
}
