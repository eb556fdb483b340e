//! HQ campaigns as stored: every pushed version of each, by name, with the media it names.

use std::collections::BTreeMap;

use vitrine_core::campaign::Campaign;
use vitrine_core::{MediaEntry, Sha256Hex};

use super::StorageError;

/// The newest version of a stored campaign.
#[derive(Clone, Debug)]
pub struct StoredCampaign {
    pub version: u64,
    pub campaign: Campaign,
    /// File name as written -> its blob; files whose blob is gone are left out.
    pub media: BTreeMap<String, MediaEntry>,
    pub created_at: String,
}

#[derive(Debug)]
pub struct CampaignDetail {
    pub name: String,
    pub version: u64,
    pub file_name: String,
    pub source: String,
    pub media: BTreeMap<String, MediaEntry>,
    /// The validated campaign, as manifests are built from it; described by
    /// `schema/campaign.schema.json`.
    pub campaign: Campaign,
    pub created_at: String,
    /// Every stored version, oldest first, with when it was pushed.
    pub versions: Vec<CampaignVersion>,
}

#[derive(Debug)]
pub struct CampaignVersion {
    pub version: u64,
    pub created_at: String,
}

/// Campaigns: stored as numbered versions of their name, read back newest first.
#[async_trait::async_trait]
pub trait CampaignStore: Send + Sync {
    /// Stores a validated campaign (`compiled`, its JSON) as the next version of `name`, with the
    /// source it was pushed as and the blob of each media file it names; returns the version, 1
    /// for the first. Every screen's manifest may change: announces [`super::Change::Content`].
    async fn insert_campaign(
        &self,
        name: String,
        file_name: String,
        source: String,
        media: BTreeMap<String, Sha256Hex>,
        compiled: String,
    ) -> Result<u64, StorageError>;

    /// The newest version of every campaign, by name.
    async fn latest_campaigns(&self) -> Result<Vec<StoredCampaign>, StorageError>;

    /// The newest version of the campaign called `name`, its source and every version's number
    /// and push time; `None` when there is no such campaign.
    async fn campaign_detail(&self, name: String) -> Result<Option<CampaignDetail>, StorageError>;
}
