//! Proof-of-play reports: plays grouped by campaign, offer, creative, item, store, region,
//! screen, zone, hour or day, with impressions, share of voice and the holdout uplift; each
//! screen's hash chain per day; the screens' audiences.

use serde::{Deserialize, Serialize};

/// `GET /v1/reports/plays`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlayReport {
    /// The first and last store-local day counted (both included), `YYYY-MM-DD`.
    pub from: String,
    pub to: String,
    /// The dimensions each row is grouped by, in order.
    pub group_by: Vec<String>,
    /// How gross impressions are computed.
    pub formula: String,
    pub rows: Vec<PlayRow>,
    /// Every row summed.
    pub totals: PlayFigures,
    /// Offers with a holdout: treatment against control.
    pub uplift: Vec<HoldoutUplift>,
}

/// One group's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlayRow {
    /// The group's value of each `group_by` dimension, in the same order. Empty means none (a
    /// play of no campaign, a screen of no store).
    pub key: Vec<String>,
    #[serde(flatten)]
    pub figures: PlayFigures,
    /// For rows of one campaign: its share of the airtime of the zones it played on, against
    /// the share it booked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_of_voice: Option<ShareOfVoice>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlayFigures {
    /// Every play recorded, whole or not.
    pub plays: u64,
    /// Plays on screen for their whole turn.
    pub completed_plays: u64,
    /// Completed plays on a display not known to be off: what a buyer is billed for.
    pub delivered_plays: u64,
    /// Plays while the display was known to be off: never delivered.
    pub plays_display_off: u64,
    /// Seconds on screen, whole or not.
    pub play_seconds: f64,
    /// Delivered plays × the audience multiplier of their screen (see `formula`).
    pub gross_impressions: f64,
    /// Plays whose QR code was scanned at least once.
    pub scans: u64,
    /// Scans per play; absent without plays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_through_rate: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShareOfVoice {
    /// The campaign's seconds ÷ every play's seconds on the zones it played on, 0 to 1.
    pub achieved: f64,
    /// The `share_of_voice` the campaign asks for, 0 to 1; absent for `loop_slots` campaigns or
    /// a campaign HQ no longer holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booked: Option<f64>,
}

/// An offer's treatment arm against its holdout (control) arm: scans per play in each, the
/// difference and its 95 % confidence interval (normal approximation of two proportions).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HoldoutUplift {
    pub campaign: String,
    pub offer: String,
    pub treatment_plays: u64,
    pub treatment_scans: u64,
    pub control_plays: u64,
    pub control_scans: u64,
    /// Treatment rate minus control rate.
    pub uplift: f64,
    /// The 95 % confidence interval of `uplift`: `[low, high]`.
    pub confidence_95: [f64; 2],
    /// `uplift` relative to the control rate; absent when the control had no scans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative: Option<f64>,
}

/// `GET /v1/reports/chain`: each screen's hash chain per store-local day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainReport {
    pub from: String,
    pub to: String,
    pub days: Vec<ChainDayRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainDayRow {
    pub screen: String,
    pub day: String,
    pub plays: u64,
    /// Every play links to the one before it (or starts the chain) and none waits for an
    /// earlier play.
    pub intact: bool,
    pub linked: u64,
    /// Plays whose link does not hold: an earlier record was altered or replaced.
    pub broken: u64,
    /// Plays that start a new chain: the player's journal was made anew.
    pub restarts: u64,
    /// Plays whose predecessor has not reached HQ.
    pub pending: u64,
    /// Plays from a player that does not chain its records.
    pub unchained: u64,
    /// Where the chain first breaks that day, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_break: Option<String>,
}

/// One screen's (or one zone's) place and audience, as `POST /v1/audience` takes it in CSV
/// (`screen,zone,venue_zone,multiplier,source`) and `GET /v1/audience` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Audience {
    pub screen: String,
    /// Empty for the whole screen.
    pub zone: String,
    /// `exterior`, `entrance`, `checkout`, `in_aisle` or `other` (IAB / IAB Europe in-store
    /// retail media zones).
    pub venue_zone: String,
    /// How many people see one play, like `12.5`.
    pub multiplier: f64,
    /// Where the multiplier comes from, like `door counter, November average`.
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AudienceList {
    pub audience: Vec<Audience>,
}
