//! [`CampaignStore`] on SQLite: the `campaigns` table, one row per pushed version.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use vitrine_core::campaign::Campaign;
use vitrine_core::{MediaEntry, Sha256Hex};

use super::{SqliteStore, Versioned, from_sql_integer, newest_only, next_version};
use crate::storage::campaigns::{CampaignDetail, CampaignStore, CampaignVersion, StoredCampaign};
use crate::storage::{Change, StorageError};

#[async_trait::async_trait]
impl CampaignStore for SqliteStore {
    async fn insert_campaign(
        &self,
        name: String,
        file_name: String,
        source: String,
        media: BTreeMap<String, Sha256Hex>,
        compiled: String,
    ) -> Result<u64, StorageError> {
        let media_json = serde_json::to_string(&media)
            .map_err(|error| StorageError::CorruptRow(error.to_string()))?;
        let version = self
            .interact(move |connection| {
                let transaction =
                    connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let version = next_version(&transaction, Versioned::Campaigns, &name)?;
                transaction.execute(
                    "INSERT INTO campaigns (name, version, file_name, source, media, compiled)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![name, version, file_name, source, media_json, compiled],
                )?;
                transaction.commit()?;
                from_sql_integer(version, "campaign version")
            })
            .await?;
        self.changes.announce(Change::Content);
        Ok(version)
    }

    async fn latest_campaigns(&self) -> Result<Vec<StoredCampaign>, StorageError> {
        self.interact(|connection| {
            let mut statement = connection.prepare(&format!(
                "SELECT name, version, media, compiled, created_at FROM campaigns AS outer_row
                 WHERE {} ORDER BY name",
                newest_only(Versioned::Campaigns)
            ))?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(name, version, media, compiled, created_at)| {
                    stored_campaign(connection, &name, version, &media, &compiled, created_at)
                })
                .collect()
        })
        .await
    }

    async fn campaign_detail(&self, name: String) -> Result<Option<CampaignDetail>, StorageError> {
        self.interact(move |connection| {
            let row = connection
                .query_row(
                    "SELECT version, file_name, source, media, compiled, created_at FROM campaigns
                     WHERE name = ?1 ORDER BY version DESC LIMIT 1",
                    [&name],
                    |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, String>(4)?,
                            row.get::<_, String>(5)?,
                        ))
                    },
                )
                .optional()?;
            let Some((version, file_name, source, media, compiled, created_at)) = row else {
                return Ok(None);
            };
            let stored =
                stored_campaign(connection, &name, version, &media, &compiled, created_at)?;
            let mut versions = connection.prepare(
                "SELECT version, created_at FROM campaigns WHERE name = ?1 ORDER BY version",
            )?;
            let versions = versions
                .query_map([&name], |row| {
                    Ok(CampaignVersion {
                        version: row.get::<_, i64>(0)? as u64,
                        created_at: row.get(1)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(CampaignDetail {
                name,
                version: stored.version,
                file_name,
                source,
                media: stored.media,
                campaign: stored.campaign,
                created_at: stored.created_at,
                versions,
            }))
        })
        .await
    }
}

/// A campaign row read back: its compiled JSON decoded, and each media file with the size of its
/// blob (a file whose blob is gone is left out).
fn stored_campaign(
    connection: &Connection,
    name: &str,
    version: i64,
    media_json: &str,
    compiled: &str,
    created_at: String,
) -> Result<StoredCampaign, StorageError> {
    let campaign: Campaign = serde_json::from_str(compiled)
        .map_err(|error| StorageError::CorruptRow(format!("campaign `{name}`: {error}")))?;
    let digests: BTreeMap<String, Sha256Hex> =
        serde_json::from_str(media_json).map_err(|error| {
            StorageError::CorruptRow(format!("media of campaign `{name}`: {error}"))
        })?;
    let mut size_of = connection.prepare_cached("SELECT size FROM media WHERE sha256 = ?1")?;
    let mut media = BTreeMap::new();
    for (file, sha256) in digests {
        let size: Option<i64> = size_of
            .query_row([sha256.as_str()], |row| row.get(0))
            .optional()?;
        if let Some(size) = size {
            media.insert(
                file,
                MediaEntry {
                    sha256,
                    size: size as u64,
                },
            );
        }
    }
    Ok(StoredCampaign {
        version: version as u64,
        campaign,
        media,
        created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Storage;

    #[tokio::test]
    async fn each_push_is_a_new_version_announced_as_content() {
        let folder = tempfile::tempdir().expect("a folder");
        let store = SqliteStore::open(&folder.path().join("hq.db")).expect("a database");
        let mut changes = store.changes().subscribe();
        let before = store.changes().generation();
        let campaign = vitrine_core::parse_campaign(
            "c.yaml",
            "version: 1\nname: c\ntargets: { all: true }\nfrom: 2026-01-01\nloop_slots: 1\nfill:\n  - text: { text: Hi, duration: 5s }\n",
        )
        .expect("a campaign")
        .value;
        let compiled = serde_json::to_string(&campaign).expect("JSON");
        for expected in [1, 2] {
            let version = store
                .insert_campaign(
                    "c".into(),
                    "c.yaml".into(),
                    "source".into(),
                    BTreeMap::new(),
                    compiled.clone(),
                )
                .await
                .expect("stored");
            assert_eq!(version, expected);
            assert_eq!(changes.try_recv().expect("announced"), Change::Content);
        }
        assert!(store.changes().generation() > before);
        let latest = store.latest_campaigns().await.expect("campaigns");
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0].version, 2);
        let detail = store
            .campaign_detail("c".into())
            .await
            .expect("a read")
            .expect("the campaign");
        let versions: Vec<u64> = detail
            .versions
            .iter()
            .map(|version| version.version)
            .collect();
        assert_eq!(versions, [1, 2]);
        assert!(
            store
                .campaign_detail("other".into())
                .await
                .expect("a read")
                .is_none()
        );
    }
}
