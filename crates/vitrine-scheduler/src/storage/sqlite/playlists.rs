//! [`PlaylistStore`] on SQLite: the `playlists` table, one row per pushed version.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use vitrine_core::{MediaEntry, Sha256Hex};

use super::versions::{self, Versioned};
use super::{SqliteStore, from_sql_integer};
use crate::storage::playlists::{
    NewPlaylistVersion, PlaylistInsert, PlaylistStore, StoredPlaylist,
};
use crate::storage::{Change, StorageError};

#[async_trait::async_trait]
impl PlaylistStore for SqliteStore {
    /// Stores a validated playlist as the next version of its name and returns that version.
    async fn insert_playlist(
        &self,
        new: NewPlaylistVersion,
    ) -> Result<PlaylistInsert, StorageError> {
        let NewPlaylistVersion {
            name,
            file_name,
            source,
            includes,
            compiled,
            media,
            owner_stores,
            quota,
        } = new;
        let media_json = serde_json::to_string(&media)
            .map_err(|error| StorageError::CorruptRow(error.to_string()))?;
        let includes_json = serde_json::to_string(&includes)
            .map_err(|error| StorageError::CorruptRow(error.to_string()))?;
        let owner_json = owner_stores
            .map(|stores| serde_json::to_string(&stores))
            .transpose()
            .map_err(|error| StorageError::CorruptRow(error.to_string()))?;
        let announced = name.clone();
        let inserted = self
            .interact(move |connection| {
                // Immediate, so that two pushes of one name cannot both read the same max version,
                // nor two staff pushes both find the room one of them leaves.
                let transaction =
                    connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if let Some(quota) = &quota {
                    for store in &quota.stores {
                        let used: i64 = transaction.query_row(
                            super::quota::STORE_PLAYLIST_BYTES,
                            [store],
                            |row| row.get(0),
                        )?;
                        let used = u64::try_from(used).unwrap_or(0);
                        if used.saturating_add(quota.adds) > quota.bytes {
                            return Ok(PlaylistInsert::OverQuota {
                                store: store.clone(),
                                used,
                            });
                        }
                    }
                }
                let version = versions::next_version(&transaction, Versioned::Playlists, &name)?;
                // The first version's owner stays the playlist's owner; later versions repeat it.
                let owner_json: Option<String> = if version == 1 {
                    owner_json
                } else {
                    transaction.query_row(
                        "SELECT owner_stores FROM playlists WHERE name = ?1 AND version = 1",
                        [&name],
                        |row| row.get(0),
                    )?
                };
                transaction.execute(
                "INSERT INTO playlists (name, version, file_name, source, media, includes, compiled,
                    owner_stores)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    name,
                    version,
                    file_name,
                    source,
                    media_json,
                    includes_json,
                    compiled,
                    owner_json
                ],
            )?;
                transaction.commit()?;
                from_sql_integer(version, "playlist version").map(PlaylistInsert::Stored)
            })
            .await?;
        if let PlaylistInsert::Stored(_) = inserted {
            self.changes.announce(Change::Playlist(announced));
        }
        Ok(inserted)
    }

    /// The newest version of the playlist called `name`, or None if it was never pushed.
    async fn latest_playlist(&self, name: String) -> Result<Option<StoredPlaylist>, StorageError> {
        self.interact(move |connection| read_version(connection, &name, None))
            .await
    }
}

/// Version `version` of the playlist called `name`, or its newest for `None`.
pub(super) fn read_version(
    connection: &rusqlite::Connection,
    name: &str,
    version: Option<u64>,
) -> Result<Option<StoredPlaylist>, StorageError> {
    let version = version
        .map(|version| crate::storage::to_sql_integer(version, "playlist version"))
        .transpose()?;
    let row = connection
        .query_row(
            "SELECT version, file_name, source, media, includes, compiled FROM playlists
             WHERE name = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1",
            params![name, version],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<String>>(5)?,
                ))
            },
        )
        .optional()?;
    let Some((version, file_name, source, media_json, includes_json, compiled)) = row else {
        return Ok(None);
    };
    let includes: BTreeMap<String, String> =
        serde_json::from_str(&includes_json).map_err(|error| {
            StorageError::CorruptRow(format!("includes of playlist `{name}`: {error}"))
        })?;
    let digests: BTreeMap<String, Sha256Hex> =
        serde_json::from_str(&media_json).map_err(|error| {
            StorageError::CorruptRow(format!("media map of playlist `{name}`: {error}"))
        })?;
    let mut size_of = connection.prepare_cached("SELECT size FROM media WHERE sha256 = ?1")?;
    let mut media = BTreeMap::new();
    for (file, sha256) in digests {
        let size: Option<i64> = size_of
            .query_row([sha256.as_str()], |row| row.get(0))
            .optional()?;
        if let Some(size) = size {
            let size = from_sql_integer(size, "media size")?;
            media.insert(file, MediaEntry { sha256, size });
        }
    }
    Ok(Some(StoredPlaylist {
        version: from_sql_integer(version, "playlist version")?,
        file_name,
        source,
        includes,
        compiled,
        media,
    }))
}
