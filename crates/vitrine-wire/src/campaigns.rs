//! Campaigns: pushing one, listing them, and reading one back with its history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vitrine_core::campaign::{Campaign, Layer, Targets};
use vitrine_core::{Diagnostics, MediaEntry, Sha256Hex};

/// `POST /v1/campaigns`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushCampaign {
    pub file_name: String,
    pub source: String,
    /// Each media file the campaign names (fill items, offer and control images) -> its sha256.
    #[serde(default)]
    pub media: BTreeMap<String, Sha256Hex>,
}

/// The answer to `POST /v1/campaigns`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CampaignStored {
    pub name: String,
    pub version: u64,
    #[serde(default, skip_serializing_if = "Diagnostics::is_empty")]
    pub warnings: Diagnostics,
}

/// A campaign as `GET /v1/campaigns` lists it: its newest version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CampaignSummary {
    pub name: String,
    /// The newest version's number, 1 for the first push.
    pub version: u64,
    /// Whether it is shown over the store's own playlist (`locked`) or under it (`default`).
    pub layer: Layer,
    /// Its order within its layer.
    pub priority: i32,
    /// The first day it runs.
    pub from: jiff::civil::Date,
    /// The last day it runs; absent when it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<jiff::civil::Date>,
    /// The screens it runs on.
    pub targets: Targets,
    /// How many offers its offer pools hold, all pools together.
    pub offers: usize,
    /// When the newest version was pushed (UTC).
    pub created_at: String,
}

/// The answer to `GET /v1/campaigns`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CampaignList {
    /// The newest version of every campaign, by name.
    pub campaigns: Vec<CampaignSummary>,
}

/// The answer to `GET /v1/campaigns/{name}`: the newest version of one campaign, its source and
/// its history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CampaignDetail {
    pub name: String,
    /// The newest version's number.
    pub version: u64,
    /// The name of the file it was pushed from.
    pub file_name: String,
    /// The YAML as it was pushed.
    pub source: String,
    /// Each media file it names, as written, -> its blob; files whose blob is gone are left out.
    pub media: BTreeMap<String, MediaEntry>,
    /// The validated campaign, as manifests are built from it; described by
    /// `schema/campaign.schema.json`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub campaign: Campaign,
    /// When the newest version was pushed (UTC).
    pub created_at: String,
    /// Every stored version, oldest first, with when it was pushed.
    pub versions: Vec<CampaignVersion>,
}

/// One stored version of a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CampaignVersion {
    pub version: u64,
    /// When it was pushed (UTC).
    pub created_at: String,
}
