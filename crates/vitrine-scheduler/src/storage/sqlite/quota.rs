//! [`QuotaStore`] on SQLite: the `media_stores` charges, and sizes summed over `media` and
//! `playlists`.

use jiff::Timestamp;
use rusqlite::params;
use vitrine_core::Sha256Hex;

use super::SqliteStore;
use crate::storage::StorageError;
use crate::storage::quota::QuotaStore;
use crate::storage::sortable_timestamp;

#[async_trait::async_trait]
impl QuotaStore for SqliteStore {
    async fn store_media_bytes(&self, store: String) -> Result<u64, StorageError> {
        self.interact(move |connection| {
            let bytes: i64 = connection.query_row(
                "SELECT COALESCE(SUM(media.size), 0) FROM media_stores
                 JOIN media ON media.sha256 = media_stores.sha256 WHERE media_stores.store = ?1",
                [store],
                |row| row.get(0),
            )?;
            Ok(u64::try_from(bytes).unwrap_or(0))
        })
        .await
    }

    async fn store_playlist_bytes(&self, store: String) -> Result<u64, StorageError> {
        self.interact(move |connection| {
            let bytes: i64 = connection.query_row(
                "SELECT COALESCE(SUM(length(CAST(source AS BLOB)) + length(CAST(includes AS BLOB))), 0)
                 FROM playlists
                 WHERE owner_stores IS NOT NULL
                   AND EXISTS (SELECT 1 FROM json_each(owner_stores) WHERE value = ?1)",
                [store],
                |row| row.get(0),
            )?;
            Ok(u64::try_from(bytes).unwrap_or(0))
        })
        .await
    }

    async fn charge_media(
        &self,
        sha256: Sha256Hex,
        stores: Vec<String>,
    ) -> Result<(), StorageError> {
        self.interact(move |connection| {
            let mut insert = connection.prepare_cached(
                "INSERT INTO media_stores (sha256, store) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?;
            for store in stores {
                insert.execute(params![sha256.as_str(), store])?;
            }
            Ok(())
        })
        .await
    }

    async fn forget_unused_media(&self, cutoff: Timestamp) -> Result<Vec<Sha256Hex>, StorageError> {
        let cutoff = sortable_timestamp(cutoff);
        self.interact(move |connection| {
            let transaction =
                connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let unused = {
                let mut statement = transaction.prepare(
                    "SELECT sha256 FROM media
                     WHERE created_at < ?1
                       AND sha256 NOT IN (SELECT value FROM playlists, json_each(playlists.media))
                       AND sha256 NOT IN (SELECT value FROM campaigns, json_each(campaigns.media))
                       AND sha256 NOT IN (SELECT image_sha256 FROM products
                                          WHERE image_sha256 IS NOT NULL)",
                )?;
                statement
                    .query_map([&cutoff], |row| row.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?
            };
            let mut removed = Vec::with_capacity(unused.len());
            for sha256 in unused {
                transaction.execute("DELETE FROM media_stores WHERE sha256 = ?1", [&sha256])?;
                transaction.execute("DELETE FROM media WHERE sha256 = ?1", [&sha256])?;
                removed.push(
                    sha256.parse().map_err(|error| {
                        StorageError::CorruptRow(format!("media.sha256: {error}"))
                    })?,
                );
            }
            transaction.commit()?;
            Ok(removed)
        })
        .await
    }
}
