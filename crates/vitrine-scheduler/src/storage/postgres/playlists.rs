//! [`PlaylistStore`] on PostgreSQL: the `playlists` table, one row per pushed version.

use std::collections::BTreeMap;

use vitrine_core::Sha256Hex;

use super::PostgresStore;
use super::versions::{self, Versioned};
use crate::storage::playlists::{
    NewPlaylistVersion, PlaylistInsert, PlaylistQuota, PlaylistStore, StoredPlaylist,
};
use crate::storage::{Change, StorageError, from_sql_integer};

#[async_trait::async_trait]
impl PlaylistStore for PostgresStore {
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
        let media_json = super::json_text(&media)?;
        let includes_json = super::json_text(&includes)?;
        let owner_json = owner_stores
            .map(|stores| super::json_text(&stores))
            .transpose()?;
        // The first version's owner stays the playlist's owner; later versions repeat it. Both the
        // number and the owner are read by the insert, so a retry after losing the number to
        // another push reads them again.
        let statement = format!(
            "INSERT INTO playlists (name, version, file_name, source, media, includes, compiled,
                owner_stores)
             SELECT $1::text, next.version, $2::text, $3::text, $4::text::jsonb, $5::text::jsonb,
                $6::text,
                CASE WHEN next.version = 1 THEN $7::text::jsonb
                     ELSE (SELECT owner_stores FROM playlists WHERE name = $1::text AND version = 1)
                END
             FROM {}
             RETURNING version",
            versions::next_version(Versioned::Playlists)
        );
        let parameters: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
            &name,
            &file_name,
            &source,
            &media_json,
            &includes_json,
            &compiled,
            &owner_json,
        ];
        let mut client = self.client().await?;
        let inserted = match &quota {
            None => PlaylistInsert::Stored(
                versions::insert_next_version(
                    &client,
                    Versioned::Playlists,
                    &statement,
                    &parameters,
                )
                .await?,
            ),
            Some(quota) => insert_within_quota(&mut client, quota, &statement, &parameters).await?,
        };
        if let PlaylistInsert::Stored(_) = inserted {
            self.changes.announce(Change::Playlist(name));
        }
        Ok(inserted)
    }

    /// The newest version of the playlist called `name`, or None if it was never pushed.
    async fn latest_playlist(&self, name: String) -> Result<Option<StoredPlaylist>, StorageError> {
        read_version(&self.client().await?, &name, None).await
    }
}

/// A staff member's push: in one transaction, under a transaction-scoped advisory lock per store
/// (in name order, so that pushes on any replica take them alike), the stores' room is checked
/// and the version inserted. A version number another push took meanwhile rolls it all back and
/// tries again, as [`versions::insert_next_version`] does.
async fn insert_within_quota(
    client: &mut deadpool_postgres::Object,
    quota: &PlaylistQuota,
    statement: &str,
    parameters: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<PlaylistInsert, StorageError> {
    for _ in 0..versions::ATTEMPTS {
        let transaction = client.transaction().await?;
        let stores = super::quota::lock_stores(
            &transaction,
            super::quota::StoreLock::Playlists,
            &quota.stores,
        )
        .await?;
        for store in stores {
            let used = from_sql_integer(
                transaction
                    .query_one(super::quota::STORE_PLAYLIST_BYTES, &[store])
                    .await?
                    .try_get(0)?,
                "playlist bytes of a store",
            )?;
            if used.saturating_add(quota.adds) > quota.bytes {
                return Ok(PlaylistInsert::OverQuota {
                    store: store.clone(),
                    used,
                });
            }
        }
        match transaction.query_one(statement, parameters).await {
            Ok(row) => {
                let version = from_sql_integer(row.try_get(0)?, "playlist version")?;
                transaction.commit().await?;
                return Ok(PlaylistInsert::Stored(version));
            }
            // Dropping the transaction rolls it back.
            Err(error) if super::is_unique_violation(&error) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(StorageError::Unavailable(format!(
        "concurrent pushes took the next playlist version {} times in a row; try again",
        versions::ATTEMPTS
    )))
}

/// Version `version` of the playlist called `name`, or its newest for `None`.
pub(super) async fn read_version(
    client: &deadpool_postgres::Object,
    name: &str,
    version: Option<u64>,
) -> Result<Option<StoredPlaylist>, StorageError> {
    let version = version
        .map(|version| crate::storage::to_sql_integer(version, "playlist version"))
        .transpose()?;
    let statement = client
        .prepare_cached(
            "SELECT version, file_name, source, media::text, includes::text, compiled
             FROM playlists WHERE name = $1 AND ($2::bigint IS NULL OR version = $2)
             ORDER BY version DESC LIMIT 1",
        )
        .await?;
    let Some(row) = client.query_opt(&statement, &[&name, &version]).await? else {
        return Ok(None);
    };
    let version: i64 = row.try_get(0)?;
    let media_json: String = row.try_get(3)?;
    let includes_json: String = row.try_get(4)?;
    let includes: BTreeMap<String, String> =
        super::from_json_text(&includes_json, &format!("includes of playlist `{name}`"))?;
    let digests: BTreeMap<String, Sha256Hex> =
        super::from_json_text(&media_json, &format!("media map of playlist `{name}`"))?;
    let sizes = versions::blob_sizes(client, digests.values()).await?;
    Ok(Some(StoredPlaylist {
        version: from_sql_integer(version, "playlist version")?,
        file_name: row.try_get(1)?,
        source: row.try_get(2)?,
        includes,
        compiled: row.try_get(5)?,
        media: versions::with_sizes(digests, &sizes),
    }))
}
