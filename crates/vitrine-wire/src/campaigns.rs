//! Campaigns: pushing one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vitrine_core::{Diagnostics, Sha256Hex};

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
