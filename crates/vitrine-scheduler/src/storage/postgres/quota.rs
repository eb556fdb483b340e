//! [`QuotaStore`] on PostgreSQL: the `media_stores` charges, and sizes summed over `media` and
//! `playlists`.

use jiff::Timestamp;
use tokio_postgres::error::SqlState;
use vitrine_core::Sha256Hex;

use super::PostgresStore;
use crate::storage::quota::{QuotaCheck, QuotaStore};
use crate::storage::{StorageError, from_sql_integer, to_sql_integer};

/// How long forgetting unused media waits for writes in flight to the tables that name media
/// before it gives up until the next collection, so that a long catalog import does not hold
/// playlist pushes up behind it.
const FORGET_LOCK_TIMEOUT: &str = "2s";

/// Bytes of stored versions (source and included fragments) of the playlists store `$1`'s staff
/// own. The fragments count as their compact JSON text, as SQLite stores them, not as jsonb prints
/// itself: `{` `}`, a comma between entries, and each key and value quoted the way serde_json and
/// PostgreSQL both escape strings.
pub(super) const STORE_PLAYLIST_BYTES: &str =
    "SELECT COALESCE(SUM(octet_length(source) + 2 + COALESCE((
         SELECT SUM(octet_length(to_jsonb(key)::text) + 1 + octet_length(value::text))
                + COUNT(*) - 1
         FROM jsonb_each(includes)), 0)), 0)::bigint
     FROM playlists WHERE owner_stores @> to_jsonb($1::text)";

/// Which of a store's quotas a lock of [`lock_stores`] guards.
#[derive(Clone, Copy, Debug)]
pub(super) enum StoreLock {
    Media,
    Playlists,
}

/// Takes, until `transaction` ends, the advisory lock on `what` of each of `stores`, in name
/// order, so that transactions on any replica checking the same stores' room take turns and
/// never wait for each other in a circle. Returns the stores locked: each once, in that order.
pub(super) async fn lock_stores<'a>(
    transaction: &deadpool_postgres::Transaction<'_>,
    what: StoreLock,
    stores: &'a [String],
) -> Result<Vec<&'a String>, StorageError> {
    let namespace = match what {
        StoreLock::Media => "vitrine store quota ",
        StoreLock::Playlists => "vitrine store playlist quota ",
    };
    let mut ordered: Vec<&String> = stores.iter().collect();
    ordered.sort();
    ordered.dedup();
    for store in &ordered {
        transaction
            .execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1::text || $2::text, 0))",
                &[&namespace, store],
            )
            .await?;
    }
    Ok(ordered)
}

#[async_trait::async_trait]
impl QuotaStore for PostgresStore {
    /// Bytes of media uploaded by `store`'s staff and still stored.
    async fn store_media_bytes(&self, store: String) -> Result<u64, StorageError> {
        let client = self.client().await?;
        let bytes: i64 = client
            .query_one(
                "SELECT COALESCE(SUM(media.size), 0)::bigint FROM media_stores
                 JOIN media ON media.sha256 = media_stores.sha256 WHERE media_stores.store = $1",
                &[&store],
            )
            .await?
            .try_get(0)?;
        from_sql_integer(bytes, "media bytes of a store")
    }

    /// Bytes of stored versions (source and included fragments) of the playlists `store`'s staff
    /// own.
    async fn store_playlist_bytes(&self, store: String) -> Result<u64, StorageError> {
        let client = self.client().await?;
        let bytes: i64 = client
            .query_one(STORE_PLAYLIST_BYTES, &[&store])
            .await?
            .try_get(0)?;
        from_sql_integer(bytes, "playlist bytes of a store")
    }

    /// Records a blob and charges it to `stores` unless one would pass `quota`. Each store's
    /// charges are taken under a transaction-scoped advisory lock named after the store, in name
    /// order, so that uploads racing on other schedulers wait for each other's sums.
    async fn record_media_within_quota(
        &self,
        sha256: Sha256Hex,
        size: u64,
        stores: Vec<String>,
        quota: u64,
    ) -> Result<QuotaCheck, StorageError> {
        let sql_size = to_sql_integer(size, "media size")?;
        let mut client = self.client().await?;
        let transaction = client.transaction().await?;
        for store in lock_stores(&transaction, StoreLock::Media, &stores).await? {
            let row = transaction
                .query_one(
                    "SELECT COALESCE(SUM(media.size), 0)::bigint,
                            COALESCE(bool_or(media_stores.sha256 = $2), false)
                     FROM media_stores JOIN media ON media.sha256 = media_stores.sha256
                     WHERE media_stores.store = $1",
                    &[store, &sha256.as_str()],
                )
                .await?;
            let used = from_sql_integer(row.try_get(0)?, "media bytes of a store")?;
            let charged: bool = row.try_get(1)?;
            if !charged && used.saturating_add(size) > quota {
                return Ok(QuotaCheck::Over {
                    store: store.clone(),
                    used,
                });
            }
        }
        let new = transaction
            .execute(
                "INSERT INTO media (sha256, size) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
                &[&sha256.as_str(), &sql_size],
            )
            .await?
            == 1;
        if !stores.is_empty() {
            transaction
                .execute(
                    "INSERT INTO media_stores (sha256, store) SELECT $1, unnest($2::text[])
                     ON CONFLICT DO NOTHING",
                    &[&sha256.as_str(), &stores],
                )
                .await?;
        }
        transaction.commit().await?;
        Ok(QuotaCheck::Recorded { new })
    }

    /// Deletes, in one transaction, the index rows (and store charges) of media recorded before
    /// `cutoff` that no playlist or campaign version names and no product has as its image, and
    /// returns their digests, for the caller to remove the files.
    async fn forget_unused_media(&self, cutoff: Timestamp) -> Result<Vec<Sha256Hex>, StorageError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await?;
        transaction
            .batch_execute(&format!("SET LOCAL lock_timeout = '{FORGET_LOCK_TIMEOUT}'"))
            .await?;
        // A version committed by another scheduler while this runs could name a blob this finds
        // unused; holding off writes to the tables that name media until the deletion commits
        // closes that window, as SQLite's writer lock does. Reads go on.
        if let Err(error) = transaction
            .batch_execute("LOCK TABLE playlists, campaigns, products IN SHARE MODE")
            .await
        {
            if error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
                tracing::debug!("writes in flight name media; forgetting unused media next time");
                return Ok(Vec::new());
            }
            return Err(error.into());
        }
        let rows = transaction
            .query(
                "WITH named (sha256) AS (
                     SELECT value FROM playlists, jsonb_each_text(playlists.media)
                     UNION SELECT value FROM campaigns, jsonb_each_text(campaigns.media)
                     UNION SELECT image_sha256 FROM products WHERE image_sha256 IS NOT NULL
                 ), forgotten AS (
                     DELETE FROM media
                     WHERE created_at < $1
                       AND NOT EXISTS (SELECT 1 FROM named WHERE named.sha256 = media.sha256)
                     RETURNING sha256
                 ), uncharged AS (
                     DELETE FROM media_stores WHERE sha256 IN (SELECT sha256 FROM forgotten)
                 )
                 SELECT sha256 FROM forgotten",
                &[&cutoff],
            )
            .await?;
        let removed = rows
            .iter()
            .map(|row| {
                row.try_get::<_, String>(0)?
                    .parse()
                    .map_err(|error| StorageError::CorruptRow(format!("media.sha256: {error}")))
            })
            .collect::<Result<Vec<Sha256Hex>, StorageError>>()?;
        transaction.commit().await?;
        Ok(removed)
    }
}
