//! [`QuotaStore`] on SQLite: the `media_stores` charges, and sizes summed over `media` and
//! `playlists`.

use jiff::Timestamp;
use rusqlite::params;
use vitrine_core::Sha256Hex;

use super::SqliteStore;
use crate::storage::StorageError;
use crate::storage::quota::{QuotaCheck, QuotaStore};
use crate::storage::{sortable_timestamp, to_sql_integer};

/// Bytes of stored versions (source and included fragments) of the playlists store `?1`'s staff
/// own.
pub(super) const STORE_PLAYLIST_BYTES: &str =
    "SELECT COALESCE(SUM(length(CAST(source AS BLOB)) + length(CAST(includes AS BLOB))), 0)
     FROM playlists
     WHERE owner_stores IS NOT NULL
       AND EXISTS (SELECT 1 FROM json_each(owner_stores) WHERE value = ?1)";

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
            let bytes: i64 =
                connection.query_row(STORE_PLAYLIST_BYTES, [store], |row| row.get(0))?;
            Ok(u64::try_from(bytes).unwrap_or(0))
        })
        .await
    }

    async fn record_media_within_quota(
        &self,
        sha256: Sha256Hex,
        size: u64,
        stores: Vec<String>,
        quota: u64,
    ) -> Result<QuotaCheck, StorageError> {
        let sql_size = to_sql_integer(size, "media size")?;
        self.interact(move |connection| {
            // The one writer: no other charge lands between the sums and the inserts.
            let transaction =
                connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for store in &stores {
                let (used, charged): (i64, bool) = transaction.query_row(
                    "SELECT COALESCE(SUM(media.size), 0),
                            COALESCE(MAX(media_stores.sha256 = ?2), 0)
                     FROM media_stores JOIN media ON media.sha256 = media_stores.sha256
                     WHERE media_stores.store = ?1",
                    params![store, sha256.as_str()],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?;
                let used = u64::try_from(used).unwrap_or(0);
                if !charged && used.saturating_add(size) > quota {
                    return Ok(QuotaCheck::Over {
                        store: store.clone(),
                        used,
                    });
                }
            }
            let new = transaction.execute(
                "INSERT INTO media (sha256, size) VALUES (?1, ?2) ON CONFLICT (sha256) DO NOTHING",
                params![sha256.as_str(), sql_size],
            )? == 1;
            {
                let mut charge = transaction.prepare_cached(
                    "INSERT INTO media_stores (sha256, store) VALUES (?1, ?2) \
                     ON CONFLICT DO NOTHING",
                )?;
                for store in &stores {
                    charge.execute(params![sha256.as_str(), store])?;
                }
            }
            transaction.commit()?;
            Ok(QuotaCheck::Recorded { new })
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
