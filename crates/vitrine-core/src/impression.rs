//! The impression: one record of proof of play, created by the player when an item has been shown and
//! deduplicated by the scheduler on its id.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::media::Sha256Hex;
use crate::offer::Arm;

/// The most impressions one upload may carry.
pub const MAX_IMPRESSIONS_PER_BATCH: usize = 1000;

/// One item shown on one screen. The id is a UUIDv7 made on the player, so a retried upload is
/// recognised and stored once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impression {
    pub id: Uuid,
    pub screen: String,
    pub playlist: String,
    pub playlist_version: u64,
    pub item_id: String,
    /// The media file shown; absent for content the player generates (text, clocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_sha256: Option<Sha256Hex>,
    /// When the item's first frame was shown, in UTC.
    pub started_at: Timestamp,
    /// How long the item was actually on screen.
    pub duration_ms: u64,
    /// For an offer slot: which offer it showed, from which campaign, in which arm of the test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<OfferPlay>,
}

/// The offer an offer slot showed in one play: what reports count per offer and arm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferPlay {
    pub offer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    pub arm: Arm,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpressionBatch {
    pub impressions: Vec<Impression>,
}

/// The scheduler's answer to a batch: every id it now holds from the batch (new or seen before), so the
/// player may mark exactly those as sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpressionAck {
    pub acknowledged: Vec<Uuid>,
    /// How many of them were new to the scheduler.
    pub inserted: u64,
}
