//! Playlists: every pushed version of each name, newest wins.

use std::collections::BTreeMap;

use vitrine_core::{MediaEntry, Sha256Hex};

use super::StorageError;

/// A playlist version to store.
#[derive(Debug)]
pub struct NewPlaylistVersion {
    pub name: String,
    pub file_name: String,
    pub source: String,
    pub includes: BTreeMap<String, String>,
    /// The validated playlist as JSON.
    pub compiled: String,
    pub media: BTreeMap<String, Sha256Hex>,
    /// The pushing staff member's stores, or None when HQ pushes. Counts only for version 1.
    pub owner_stores: Option<Vec<String>>,
}

/// The newest pushed version of a playlist, with the size of every media file its map names.
#[derive(Clone, Debug)]
pub struct StoredPlaylist {
    pub version: u64,
    pub file_name: String,
    pub source: String,
    /// Included fragments, path as written -> YAML text.
    pub includes: BTreeMap<String, String>,
    /// The validated playlist as JSON; absent for rows stored before it was kept.
    pub compiled: Option<String>,
    /// File name as written in the playlist -> its blob. Files whose blob is missing are left out.
    pub media: BTreeMap<String, MediaEntry>,
}

/// The pushed playlist versions.
#[async_trait::async_trait]
pub trait PlaylistStore: Send + Sync {
    /// Stores a validated playlist as the next version of its name (1 for the first) and returns
    /// that version. Two pushes of one name never get the same version. The new version is
    /// announced as [`super::Change::Playlist`].
    async fn insert_playlist(&self, new: NewPlaylistVersion) -> Result<u64, StorageError>;

    /// The newest version of the playlist called `name`, or None if it was never pushed.
    async fn latest_playlist(&self, name: String) -> Result<Option<StoredPlaylist>, StorageError>;
}
