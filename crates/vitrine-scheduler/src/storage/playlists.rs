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
    /// For a staff member's push, the room it must fit in; None when HQ pushes.
    pub quota: Option<PlaylistQuota>,
}

/// The room a staff member's push must fit in: `adds` more bytes of playlist versions for each
/// of `stores`, whose playlists may hold at most `bytes`.
#[derive(Clone, Debug)]
pub struct PlaylistQuota {
    pub stores: Vec<String>,
    pub adds: u64,
    pub bytes: u64,
}

/// What [`PlaylistStore::insert_playlist`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlaylistInsert {
    /// Stored as this version.
    Stored(u64),
    /// Refused, nothing stored: `store`'s playlists hold `used` bytes, and this version would take
    /// them past its quota.
    OverQuota { store: String, used: u64 },
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
    /// announced as [`super::Change::Playlist`]. With a quota, the stores' room is checked in the
    /// transaction that inserts, after any other quota'd insert for the same stores, so pushes
    /// racing each other cannot pass it together.
    async fn insert_playlist(
        &self,
        new: NewPlaylistVersion,
    ) -> Result<PlaylistInsert, StorageError>;

    /// The newest version of the playlist called `name`, or None if it was never pushed.
    async fn latest_playlist(&self, name: String) -> Result<Option<StoredPlaylist>, StorageError>;
}
