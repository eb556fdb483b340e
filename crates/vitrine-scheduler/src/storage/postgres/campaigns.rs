//! [`CampaignStore`] on PostgreSQL: the `campaigns` table, one row per pushed version.

use std::collections::BTreeMap;

use jiff::Timestamp;
use tokio_postgres::IsolationLevel;
use vitrine_core::Sha256Hex;
use vitrine_core::campaign::Campaign;

use super::PostgresStore;
use super::versions::{self, Versioned};
use crate::storage::campaigns::{CampaignDetail, CampaignStore, CampaignVersion, StoredCampaign};
use crate::storage::{Change, StorageError, from_sql_integer};

#[async_trait::async_trait]
impl CampaignStore for PostgresStore {
    async fn insert_campaign(
        &self,
        name: String,
        file_name: String,
        source: String,
        media: BTreeMap<String, Sha256Hex>,
        compiled: String,
    ) -> Result<u64, StorageError> {
        let media_json = super::json_text(&media)?;
        let statement = format!(
            "INSERT INTO campaigns (name, version, file_name, source, media, compiled)
             SELECT $1::text, next.version, $2::text, $3::text, $4::text::jsonb, $5::text
             FROM {}
             RETURNING version",
            versions::next_version(Versioned::Campaigns)
        );
        let client = self.client().await?;
        let version = versions::insert_next_version(
            &client,
            Versioned::Campaigns,
            &statement,
            &[&name, &file_name, &source, &media_json, &compiled],
        )
        .await?;
        self.changes.announce(Change::Content);
        Ok(version)
    }

    async fn latest_campaigns(&self) -> Result<Vec<StoredCampaign>, StorageError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&versions::newest_of_each(
                Versioned::Campaigns,
                "name, version, media::text, compiled, created_at",
            ))
            .await?;
        let rows = client.query(&statement, &[]).await?;
        let mut campaigns = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = row.try_get(0)?;
            let media_json: String = row.try_get(2)?;
            let compiled: String = row.try_get(3)?;
            let (campaign, digests) = decode(&name, &media_json, &compiled)?;
            campaigns.push((row.try_get(1)?, campaign, digests, row.try_get(4)?));
        }
        // One look-up for the blobs of every campaign, rather than one per campaign.
        let sizes = versions::blob_sizes(
            &client,
            campaigns.iter().flat_map(|(_, _, d, _)| d.values()),
        )
        .await?;
        campaigns
            .into_iter()
            .map(|(version, campaign, digests, created_at)| {
                stored_campaign(version, campaign, digests, &sizes, created_at)
            })
            .collect()
    }

    async fn campaign_detail(&self, name: String) -> Result<Option<CampaignDetail>, StorageError> {
        let mut client = self.client().await?;
        // One snapshot, so the version shown is the newest of the versions listed.
        let transaction = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let newest = transaction
            .prepare_cached(
                "SELECT version, file_name, source, media::text, compiled, created_at
                 FROM campaigns WHERE name = $1 ORDER BY version DESC LIMIT 1",
            )
            .await?;
        let Some(row) = transaction.query_opt(&newest, &[&name]).await? else {
            return Ok(None);
        };
        let every = transaction
            .prepare_cached(
                "SELECT version, created_at FROM campaigns WHERE name = $1 ORDER BY version",
            )
            .await?;
        let versions = transaction
            .query(&every, &[&name])
            .await?
            .into_iter()
            .map(|version| {
                Ok(CampaignVersion {
                    version: from_sql_integer(version.try_get(0)?, "campaign version")?,
                    created_at: super::stored_time(version.try_get(1)?),
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        transaction.commit().await?;

        let media_json: String = row.try_get(3)?;
        let compiled: String = row.try_get(4)?;
        let (campaign, digests) = decode(&name, &media_json, &compiled)?;
        let sizes = versions::blob_sizes(&client, digests.values()).await?;
        let stored = stored_campaign(row.try_get(0)?, campaign, digests, &sizes, row.try_get(5)?)?;
        Ok(Some(CampaignDetail {
            name,
            version: stored.version,
            file_name: row.try_get(1)?,
            source: row.try_get(2)?,
            media: stored.media,
            campaign: stored.campaign,
            created_at: stored.created_at,
            versions,
        }))
    }
}

/// A campaign row's compiled JSON and media map, decoded.
fn decode(
    name: &str,
    media_json: &str,
    compiled: &str,
) -> Result<(Campaign, BTreeMap<String, Sha256Hex>), StorageError> {
    let campaign = super::from_json_text(compiled, &format!("campaign `{name}`"))?;
    let digests = super::from_json_text(media_json, &format!("media of campaign `{name}`"))?;
    Ok((campaign, digests))
}

/// A campaign row read back, each media file with the size of its blob (a file whose blob is gone
/// is left out).
fn stored_campaign(
    version: i64,
    campaign: Campaign,
    digests: BTreeMap<String, Sha256Hex>,
    sizes: &BTreeMap<String, u64>,
    created_at: Timestamp,
) -> Result<StoredCampaign, StorageError> {
    Ok(StoredCampaign {
        version: from_sql_integer(version, "campaign version")?,
        campaign,
        media: versions::with_sizes(digests, sizes),
        created_at: super::stored_time(created_at),
    })
}
