//! The content-addressed media cache and the active manifest.
//!
//! Files are stored under `media/` by their sha256, written to a `.part` file first, verified, then
//! renamed into place, so a file with its final name is always complete and correct. The SQLite index
//! records which files were verified; the active manifest is stored beside it, so the player plays
//! from the cache after a restart with no network.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, params};
use vitrine_core::{Manifest, Sha256Hex};

/// The cache as the sync thread uses it. One per thread: it owns its SQLite connection.
pub struct MediaCache {
    media_dir: PathBuf,
    connection: Connection,
    budget_alert: Option<String>,
}

/// The manifest the player plays, with the ETag the scheduler gave it.
#[derive(Clone, Debug)]
pub struct ActiveManifest {
    pub etag: String,
    pub manifest: Manifest,
}

impl MediaCache {
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let media_dir = data_dir.join("media");
        std::fs::create_dir_all(&media_dir)
            .with_context(|| format!("cannot create the media cache {}", media_dir.display()))?;
        Ok(Self {
            media_dir,
            connection: crate::database::open(data_dir)?,
            budget_alert: None,
        })
    }

    /// Where a verified file with this digest lives. The name comes from a validated digest, never
    /// from text a server or a person wrote.
    pub fn path_of(&self, sha256: &Sha256Hex) -> PathBuf {
        media_path(&self.media_dir, sha256)
    }

    /// Where a download in progress is written.
    pub fn part_path_of(&self, sha256: &Sha256Hex) -> PathBuf {
        self.media_dir.join(format!("{sha256}.part"))
    }

    /// True when the file was verified and is still there with its recorded size.
    pub fn has_verified(&self, sha256: &Sha256Hex) -> anyhow::Result<bool> {
        let size: Option<i64> = self
            .connection
            .query_row(
                "SELECT size FROM media WHERE sha256 = ?1",
                params![sha256.as_str()],
                |row| row.get(0),
            )
            .optional()?;
        Ok(match size {
            Some(size) => std::fs::metadata(self.path_of(sha256))
                .map(|metadata| i64::try_from(metadata.len()) == Ok(size))
                .unwrap_or(false),
            None => false,
        })
    }

    /// Records a file that was verified and renamed into place.
    pub fn record_verified(&self, sha256: &Sha256Hex, size: u64) -> anyhow::Result<()> {
        let now = sortable_now();
        self.connection.execute(
            "INSERT INTO media (sha256, size, verified_at, last_used) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (sha256) DO UPDATE SET size = excluded.size,
                 verified_at = excluded.verified_at, last_used = excluded.last_used",
            params![sha256.as_str(), i64::try_from(size)?, now],
        )?;
        Ok(())
    }

    /// The manifest that was last activated, if any.
    pub fn active_manifest(&self) -> anyhow::Result<Option<ActiveManifest>> {
        let row: Option<(String, String)> = self
            .connection
            .query_row(
                "SELECT etag, body FROM active_manifest WHERE slot = 0",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        row.map(|(etag, body)| {
            let manifest = Manifest::decode(body.as_bytes())
                .context("the stored manifest no longer parses; it will be fetched again")?;
            Ok(ActiveManifest { etag, manifest })
        })
        .transpose()
    }

    /// Makes `manifest` the one that plays. The caller has verified every media file it lists.
    pub fn activate(&self, active: &ActiveManifest) -> anyhow::Result<()> {
        let body = serde_json::to_string(&active.manifest)?;
        self.connection.execute(
            "INSERT INTO active_manifest (slot, etag, body, activated_at) VALUES (0, ?1, ?2, ?3)
             ON CONFLICT (slot) DO UPDATE SET etag = excluded.etag, body = excluded.body,
                 activated_at = excluded.activated_at",
            params![active.etag, body, jiff::Timestamp::now().to_string()],
        )?;
        Ok(())
    }

    /// Re-hashes every cached file and forgets (and deletes) those whose bytes no longer match their
    /// digest: a file damaged on disk is fetched again rather than shown. Returns the digests dropped.
    pub fn verify_all(&self) -> anyhow::Result<Vec<Sha256Hex>> {
        let rows: Vec<String> = self
            .connection
            .prepare("SELECT sha256 FROM media")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let mut dropped = Vec::new();
        for text in rows {
            let Ok(sha256) = text.parse::<Sha256Hex>() else {
                self.forget(&text)?;
                continue;
            };
            let path = self.path_of(&sha256);
            let intact = hash_file(&path).is_ok_and(|actual| actual == sha256);
            if !intact {
                tracing::warn!(%sha256, "cached media is damaged or missing; it will be fetched again");
                let _ = std::fs::remove_file(&path);
                self.forget(sha256.as_str())?;
                dropped.push(sha256);
            }
        }
        Ok(dropped)
    }

    /// Runs SQLite's own consistency check on the player database.
    pub fn integrity_check(&self) -> anyhow::Result<()> {
        let verdict: String = self
            .connection
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
        if verdict != "ok" {
            anyhow::bail!("the player database failed its integrity check: {verdict}");
        }
        Ok(())
    }

    fn forget(&self, sha256: &str) -> anyhow::Result<()> {
        self.connection
            .execute("DELETE FROM media WHERE sha256 = ?1", params![sha256])?;
        Ok(())
    }

    /// Marks files as wanted now: least-recently-used eviction takes the files wanted longest ago.
    pub fn touch(&self, digests: &[Sha256Hex]) -> anyhow::Result<()> {
        let now = sortable_now();
        let mut statement = self
            .connection
            .prepare_cached("UPDATE media SET last_used = ?1 WHERE sha256 = ?2")?;
        for sha256 in digests {
            statement.execute(params![now, sha256.as_str()])?;
        }
        Ok(())
    }

    /// The bytes of every verified file.
    pub fn used_bytes(&self) -> anyhow::Result<u64> {
        let used: i64 =
            self.connection
                .query_row("SELECT COALESCE(SUM(size), 0) FROM media", [], |row| {
                    row.get(0)
                })?;
        Ok(used.unsigned_abs())
    }

    /// Makes room for `needed` more bytes under `budget` by evicting files that are neither pinned
    /// nor in `keep` (the media of the playing and of the incoming manifest), least recently used
    /// first. Returns whether the room is there now; when it is not, nothing in `keep` was touched.
    pub fn make_room(
        &self,
        needed: u64,
        budget: u64,
        keep: &HashSet<Sha256Hex>,
    ) -> anyhow::Result<bool> {
        let mut used = self.used_bytes()?;
        if used.saturating_add(needed) <= budget {
            return Ok(true);
        }
        let candidates: Vec<(String, i64)> = self
            .connection
            .prepare(
                "SELECT sha256, size FROM media WHERE pinned = 0 ORDER BY last_used, verified_at",
            )?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (text, size) in candidates {
            if used.saturating_add(needed) <= budget {
                break;
            }
            let Ok(sha256) = text.parse::<Sha256Hex>() else {
                self.forget(&text)?;
                continue;
            };
            if keep.contains(&sha256) {
                continue;
            }
            self.evict(&sha256)?;
            used = used.saturating_sub(size.unsigned_abs());
            tracing::info!(%sha256, size, "evicted from the cache to stay within the disk budget");
        }
        Ok(used.saturating_add(needed) <= budget)
    }

    /// Removes a file: first from the index, then from the disk, so a crash in between leaves at
    /// worst an unindexed file, which is fetched and verified again before it is ever shown.
    fn evict(&self, sha256: &Sha256Hex) -> anyhow::Result<()> {
        self.forget(sha256.as_str())?;
        match std::fs::remove_file(self.path_of(sha256)) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error)
                .with_context(|| format!("cannot delete {}", self.path_of(sha256).display())),
        }
    }

    /// Deletes every `.part` file except those of `keep`: what a download cut by a full disk left.
    pub fn remove_parts(&self, keep: &HashSet<Sha256Hex>) -> anyhow::Result<u64> {
        let mut freed = 0;
        for entry in std::fs::read_dir(&self.media_dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".part") else {
                continue;
            };
            if stem
                .parse::<Sha256Hex>()
                .is_ok_and(|sha256| keep.contains(&sha256))
            {
                continue;
            }
            freed += entry.metadata().map(|metadata| metadata.len()).unwrap_or(0);
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(freed)
    }

    /// Copies `source` into the cache as the pinned fallback, never evicted, and returns its
    /// digest. Copied through a `.part` file and verified like a download.
    pub fn pin_fallback(&self, source: &Path) -> anyhow::Result<Sha256Hex> {
        let sha256 = hash_file(source)
            .with_context(|| format!("cannot read the fallback image {}", source.display()))?;
        if !self.has_verified(&sha256)? {
            let part = self.part_path_of(&sha256);
            let size = std::fs::copy(source, &part).with_context(|| {
                format!(
                    "cannot copy the fallback image {} into the cache",
                    source.display()
                )
            })?;
            std::fs::File::open(&part)?.sync_all()?;
            if hash_file(&part)? != sha256 {
                let _ = std::fs::remove_file(&part);
                anyhow::bail!(
                    "the fallback image {} changed while it was copied; try again",
                    source.display()
                );
            }
            std::fs::rename(&part, self.path_of(&sha256))?;
            self.record_verified(&sha256, size)?;
        }
        self.connection.execute(
            "UPDATE media SET pinned = CASE WHEN sha256 = ?1 THEN 1 ELSE 0 END WHERE pinned = 1 OR sha256 = ?1",
            params![sha256.as_str()],
        )?;
        Ok(sha256)
    }

    /// Lets the fallback go when the config no longer names one: the built-in splash takes its
    /// place and the file becomes evictable like any other.
    pub fn unpin_fallback(&self) -> anyhow::Result<()> {
        self.connection
            .execute("UPDATE media SET pinned = 0 WHERE pinned = 1", [])?;
        Ok(())
    }

    /// The pinned fallback's digest, if one was pinned and is still intact on disk.
    pub fn pinned_fallback(&self) -> anyhow::Result<Option<Sha256Hex>> {
        let text: Option<String> = self
            .connection
            .query_row("SELECT sha256 FROM media WHERE pinned = 1", [], |row| {
                row.get(0)
            })
            .optional()?;
        let Some(sha256) = text.and_then(|text| text.parse::<Sha256Hex>().ok()) else {
            return Ok(None);
        };
        Ok(self.has_verified(&sha256)?.then_some(sha256))
    }

    /// What the budget could not hold, for the heartbeat: set by the sync when a manifest does
    /// not fit, cleared when one does.
    pub fn budget_alert(&self) -> Option<String> {
        self.budget_alert.clone()
    }

    pub fn set_budget_alert(&mut self, alert: Option<String>) {
        self.budget_alert = alert;
    }

    /// Digests of the manifest's media that are not (or no longer) in the cache.
    pub fn missing_media(&self, manifest: &Manifest) -> anyhow::Result<Vec<Sha256Hex>> {
        let mut missing = Vec::new();
        for entry in manifest.media_entries() {
            if !self.has_verified(&entry.sha256)? {
                missing.push(entry.sha256.clone());
            }
        }
        Ok(missing)
    }
}

/// Now as RFC 3339 in UTC with nine fractional digits, so text order is time order.
fn sortable_now() -> String {
    format!("{:.9}", jiff::Timestamp::now())
}

/// The sha256 of a file's bytes, read in chunks.
pub fn hash_file(path: &Path) -> std::io::Result<Sha256Hex> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(Sha256Hex::from_hasher(hasher))
}

/// The cached file of a digest under `media_dir`.
pub fn media_path(media_dir: &Path, sha256: &Sha256Hex) -> PathBuf {
    media_dir.join(sha256.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_core::MediaEntry;

    fn manifest(sha256: &Sha256Hex) -> Manifest {
        let playlist = vitrine_core::parse_playlist(
            "demo.yaml",
            "version: 1\nname: demo\nitems:\n  - image: { file: a.png, duration: 1s }\n",
        )
        .unwrap();
        Manifest::build("lobby", "UTC", &playlist, 1, |_| {
            Some(MediaEntry {
                sha256: sha256.clone(),
                size: 3,
            })
        })
        .unwrap()
    }

    #[test]
    fn a_file_counts_only_once_verified_and_present() {
        let directory = tempfile::tempdir().unwrap();
        let cache = MediaCache::open(directory.path()).unwrap();
        let digest = Sha256Hex::of_bytes(b"abc");
        assert_eq!(
            cache.missing_media(&manifest(&digest)).unwrap(),
            vec![digest.clone()]
        );

        std::fs::write(cache.path_of(&digest), b"abc").unwrap();
        assert!(
            !cache.has_verified(&digest).unwrap(),
            "present but never verified"
        );
        cache.record_verified(&digest, 3).unwrap();
        assert!(cache.has_verified(&digest).unwrap());

        std::fs::write(cache.path_of(&digest), b"abcd").unwrap();
        assert!(
            !cache.has_verified(&digest).unwrap(),
            "size changed behind our back"
        );
    }

    #[test]
    fn damaged_files_are_dropped_at_start_up() {
        let directory = tempfile::tempdir().unwrap();
        let cache = MediaCache::open(directory.path()).unwrap();
        let good = Sha256Hex::of_bytes(b"good");
        let bad = Sha256Hex::of_bytes(b"bad");
        std::fs::write(cache.path_of(&good), b"good").unwrap();
        std::fs::write(cache.path_of(&bad), b"bad").unwrap();
        cache.record_verified(&good, 4).unwrap();
        cache.record_verified(&bad, 3).unwrap();
        // A bit flips on disk; the size stays the same.
        std::fs::write(cache.path_of(&bad), b"bat").unwrap();
        cache.integrity_check().unwrap();
        assert_eq!(cache.verify_all().unwrap(), vec![bad.clone()]);
        assert!(cache.has_verified(&good).unwrap());
        assert!(!cache.has_verified(&bad).unwrap());
        assert!(!cache.path_of(&bad).exists());
    }

    fn cached(cache: &MediaCache, bytes: &[u8]) -> Sha256Hex {
        let digest = Sha256Hex::of_bytes(bytes);
        std::fs::write(cache.path_of(&digest), bytes).unwrap();
        cache.record_verified(&digest, bytes.len() as u64).unwrap();
        digest
    }

    #[test]
    fn eviction_takes_the_least_recently_used_file_outside_the_manifests() {
        let directory = tempfile::tempdir().unwrap();
        let cache = MediaCache::open(directory.path()).unwrap();
        let oldest = cached(&cache, &[1u8; 100]);
        let older = cached(&cache, &[2u8; 100]);
        let playing = cached(&cache, &[3u8; 100]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        // `oldest` was wanted again a moment ago: `older` is now the least recently used.
        cache.touch(std::slice::from_ref(&oldest)).unwrap();
        let keep: HashSet<Sha256Hex> = [playing.clone()].into();
        assert_eq!(cache.used_bytes().unwrap(), 300);

        assert!(cache.make_room(50, 300, &keep).unwrap());
        assert!(
            !cache.path_of(&older).exists(),
            "least recently used goes first"
        );
        assert!(cache.has_verified(&oldest).unwrap());
        assert!(cache.has_verified(&playing).unwrap());

        // No room for 250 more without touching what plays: refused, and `playing` stays.
        assert!(!cache.make_room(250, 300, &keep).unwrap());
        assert!(
            cache.has_verified(&playing).unwrap(),
            "kept media is never evicted"
        );
        assert!(!cache.has_verified(&oldest).unwrap());
        assert_eq!(cache.used_bytes().unwrap(), 100);
    }

    #[test]
    fn the_pinned_fallback_is_never_evicted() {
        let directory = tempfile::tempdir().unwrap();
        let cache = MediaCache::open(directory.path()).unwrap();
        let source = directory.path().join("fallback.png");
        std::fs::write(&source, [9u8; 100]).unwrap();
        let fallback = cache.pin_fallback(&source).unwrap();
        assert_eq!(cache.pinned_fallback().unwrap(), Some(fallback.clone()));
        let other = cached(&cache, &[4u8; 100]);
        assert!(!cache.make_room(1000, 100, &HashSet::new()).unwrap());
        assert!(cache.has_verified(&fallback).unwrap());
        assert!(!cache.has_verified(&other).unwrap());
        // Pinning is idempotent and survives a reopen.
        assert_eq!(cache.pin_fallback(&source).unwrap(), fallback);
        drop(cache);
        let reopened = MediaCache::open(directory.path()).unwrap();
        assert_eq!(reopened.pinned_fallback().unwrap(), Some(fallback.clone()));
        // Dropped from the config: evictable again.
        reopened.unpin_fallback().unwrap();
        assert_eq!(reopened.pinned_fallback().unwrap(), None);
        assert!(reopened.make_room(0, 0, &HashSet::new()).unwrap());
        assert!(!reopened.has_verified(&fallback).unwrap());
    }

    #[test]
    fn the_active_manifest_survives_a_restart() {
        let directory = tempfile::tempdir().unwrap();
        let digest = Sha256Hex::of_bytes(b"abc");
        {
            let cache = MediaCache::open(directory.path()).unwrap();
            assert!(cache.active_manifest().unwrap().is_none());
            cache
                .activate(&ActiveManifest {
                    etag: "\"one\"".into(),
                    manifest: manifest(&digest),
                })
                .unwrap();
        }
        let reopened = MediaCache::open(directory.path()).unwrap();
        let active = reopened.active_manifest().unwrap().unwrap();
        assert_eq!(active.etag, "\"one\"");
        assert_eq!(active.manifest, manifest(&digest));
    }
}
