//! Each screen's manifest version: a number that grows whenever what the screen gets changes, for
//! whatever reason (a playlist push, a campaign, a feed import, an offer window that opened with
//! the clock), so a player can refuse an older signed manifest replayed to it.
//!
//! The version is not derived from stored version numbers: a manifest also changes when a
//! campaign's dates start or end, with nothing written. Instead the content is hashed (the manifest
//! with its version left at 0) and a content the screen was not given last gets
//! `max(previous + 1, now in microseconds)`; the same content keeps its number, so the ETag stays
//! put and polling stays cheap.
//!
//! **Invariant:** for one screen the version never goes down. Within a process the `previous + 1`
//! floor guarantees it whatever the clock does; across restarts the clock does, since the first
//! version a new process hands out is the current time in microseconds, above every number a
//! process that ran before could have handed out unless the clock went back by more than the
//! downtime. The price is one manifest refetch per screen after a restart (no media moves).
//!
//! This memory is the SQLite store's, which one process owns. On PostgreSQL the same rule is one
//! upsert on the `manifest_versions` table, so replicas agree on every screen's version and ETag
//! and a restart keeps them (`ScreenStore::manifest_version`).

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::Timestamp;
use vitrine_core::Sha256Hex;

/// The most screens remembered; far beyond one scheduler's fleet. Past it the map is cleared, and
/// the clock floor still keeps every number above what was handed out before.
const MAX_SCREENS: usize = 100_000;

#[derive(Debug, Default)]
pub struct ManifestVersions {
    /// Per screen: the digest of the content last versioned and its version.
    last: Mutex<HashMap<String, (Sha256Hex, u64)>>,
}

impl ManifestVersions {
    pub fn new() -> Self {
        Self::default()
    }

    /// The version of `content` (the digest of the manifest with version 0) for `screen` at `now`.
    pub fn version_of(&self, screen: &str, content: &Sha256Hex, now: Timestamp) -> u64 {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let clock = u64::try_from(now.as_microsecond()).unwrap_or(0);
        match last.get(screen) {
            Some((digest, version)) if digest == content => *version,
            previous => {
                let version = match previous {
                    Some((_, version)) => clock.max(version.saturating_add(1)),
                    None => clock.max(1),
                };
                if last.len() >= MAX_SCREENS && !last.contains_key(screen) {
                    last.clear();
                }
                last.insert(screen.to_owned(), (content.clone(), version));
                version
            }
        }
    }

    /// The newest version handed to `screen` by this process, if any.
    pub fn newest(&self, screen: &str) -> Option<u64> {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(screen)
            .map(|(_, version)| *version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_content_gets_a_higher_number_even_when_the_clock_goes_back() {
        let versions = ManifestVersions::new();
        let first = Sha256Hex::of_bytes(b"first");
        let second = Sha256Hex::of_bytes(b"second");
        let noon: Timestamp = "2026-12-04T12:00:00Z".parse().unwrap();
        let earlier: Timestamp = "2026-12-04T11:00:00Z".parse().unwrap();

        let v1 = versions.version_of("door", &first, noon);
        assert_eq!(v1, noon.as_microsecond() as u64);
        // The same content keeps its number, later or not.
        assert_eq!(versions.version_of("door", &first, earlier), v1);
        // New content with the clock set back still goes up.
        let v2 = versions.version_of("door", &second, earlier);
        assert_eq!(v2, v1 + 1);
        // Going back to the first content is a change too: up again.
        let v3 = versions.version_of("door", &first, earlier);
        assert_eq!(v3, v2 + 1);
        // Screens are counted apart.
        assert_eq!(
            versions.version_of("till", &first, earlier),
            earlier.as_microsecond() as u64
        );
    }

    #[test]
    fn a_new_process_starts_above_what_an_earlier_one_handed_out() {
        let noon: Timestamp = "2026-12-04T12:00:00Z".parse().unwrap();
        let content = Sha256Hex::of_bytes(b"content");
        let before_restart = ManifestVersions::new().version_of("door", &content, noon);
        let after = noon + jiff::SignedDuration::from_secs(5);
        let after_restart = ManifestVersions::new().version_of("door", &content, after);
        assert!(after_restart > before_restart);
    }
}
