//! The manifest: everything one screen needs to play, as the scheduler serves it at `GET /v1/manifest`.
//! It is self-contained: with it and the media it lists in the cache, a player plays with no network.

use serde::{Deserialize, Serialize};

use crate::media::Sha256Hex;
use crate::playlist::Playlist;
use crate::schedule::Loop;

/// The manifest format this build reads and writes.
pub const MANIFEST_SCHEMA: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: u32,
    /// The screen this manifest was made for.
    pub screen: String,
    /// The playlist's name and the version the scheduler stored it under.
    pub playlist: String,
    pub playlist_version: u64,
    pub items: Vec<ManifestItem>,
    /// Every media file the items use, once each.
    pub media: Vec<MediaEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestItem {
    pub id: String,
    pub media: Sha256Hex,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaEntry {
    pub sha256: Sha256Hex,
    pub size: u64,
}

impl Manifest {
    /// Builds the manifest for `screen` from a validated playlist. `media_of` gives the digest and size
    /// of each file the playlist names; the caller has checked that every one exists.
    pub fn build(
        screen: &str,
        playlist: &Playlist,
        playlist_version: u64,
        media_of: impl Fn(&str) -> Option<MediaEntry>,
    ) -> Option<Self> {
        let mut items = Vec::with_capacity(playlist.items.len());
        let mut media: Vec<MediaEntry> = Vec::new();
        for item in &playlist.items {
            let entry = media_of(&item.file)?;
            items.push(ManifestItem {
                id: item.id.clone(),
                media: entry.sha256.clone(),
                duration_ms: item.duration.as_millis(),
            });
            if !media.iter().any(|known| known.sha256 == entry.sha256) {
                media.push(entry);
            }
        }
        Some(Self {
            schema: MANIFEST_SCHEMA,
            screen: screen.to_owned(),
            playlist: playlist.name.clone(),
            playlist_version,
            items,
            media,
        })
    }

    /// The loop the items form, for the schedule engine.
    pub fn schedule(&self) -> Loop {
        Loop::new(self.items.iter().map(|item| item.duration_ms).collect())
    }
}
