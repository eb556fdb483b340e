//! [`MediaStore`] on SQLite: the `media` table.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, params};
use vitrine_core::Sha256Hex;

use super::{SqliteStore, to_sql_integer};
use crate::storage::StorageError;
use crate::storage::media::MediaStore;

#[async_trait::async_trait]
impl MediaStore for SqliteStore {
    /// Whether the media index holds this blob.
    async fn media_exists(&self, sha256: Sha256Hex) -> Result<bool, StorageError> {
        self.interact(move |connection| {
            Ok(connection
                .query_row(
                    "SELECT 1 FROM media WHERE sha256 = ?1",
                    [sha256.as_str()],
                    |_| Ok(()),
                )
                .optional()?
                .is_some())
        })
        .await
    }

    /// Records a blob that is already on disk. Returns whether it was new to the index.
    async fn record_media(&self, sha256: Sha256Hex, size: u64) -> Result<bool, StorageError> {
        let size = to_sql_integer(size, "media size")?;
        self.interact(move |connection| {
            let inserted = connection.execute(
                "INSERT INTO media (sha256, size) VALUES (?1, ?2) ON CONFLICT (sha256) DO NOTHING",
                params![sha256.as_str(), size],
            )?;
            Ok(inserted == 1)
        })
        .await
    }

    /// Which of `digests` the media index holds.
    async fn stored_media(
        &self,
        digests: Vec<Sha256Hex>,
    ) -> Result<HashSet<Sha256Hex>, StorageError> {
        self.interact(move |connection| {
            let mut statement = connection.prepare("SELECT 1 FROM media WHERE sha256 = ?1")?;
            let mut stored = HashSet::new();
            for digest in digests {
                if statement.exists([digest.as_str()])? {
                    stored.insert(digest);
                }
            }
            Ok(stored)
        })
        .await
    }
}
