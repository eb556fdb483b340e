//! Proof-of-play reports: plays grouped by campaign, offer, creative, item, store, region,
//! screen, zone, hour or day, with impressions, share of voice and the holdout uplift; each
//! screen's hash chain per day; the screens' audiences; plays and QR scans per offer and arm.

use serde::{Deserialize, Serialize};
use vitrine_core::Arm;

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

/// One offer and arm's numbers in the scan report.
///
/// A scan belongs to its play: it counts once HQ holds the play's impression (the screen, offer,
/// arm and scheduled start its QR code names), and until then it is pending. So a row never
/// shows more scanned plays than plays.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArmRow {
    pub campaign: String,
    /// The offer's id in its campaign.
    pub offer: String,
    /// The treatment, or the control that a holdout shows instead.
    pub arm: Arm,
    /// Completed plays: the card was on screen for its whole turn. Only these are delivered spots.
    pub impressions: u64,
    /// Plays that showed only part of their turn (joined late, or cut short): counted apart, never
    /// as impressions.
    pub partial_plays: u64,
    /// Plays HQ holds (completed or partial) whose code was scanned, each counted once however
    /// many phones scanned it; never more than `impressions + partial_plays`.
    pub scans: u64,
    /// Shopper devices that scanned those plays: each play's code counted once per device.
    pub scan_devices: u64,
    /// Every hit of those plays' codes, replays included (at most `qr::MAX_HITS_PER_TOKEN` per
    /// code).
    pub scan_hits: u64,
    /// Scanned plays whose impression has not reached HQ yet (the screen uploads plays in
    /// batches, and keeps them while offline). They move to `scans` when it arrives.
    pub pending_scans: u64,
    /// Scanned plays per play (completed and partial); `None` without plays.
    pub scan_rate: Option<f64>,
}

/// One offer's A/B result in the scan report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Uplift {
    pub campaign: String,
    /// The offer's id in its campaign.
    pub offer: String,
    /// Treatment scan rate minus control scan rate, in scanned plays per play.
    pub absolute: Option<f64>,
    /// The same, relative to the control's rate (0.5 = 50% more scans).
    pub relative: Option<f64>,
}

/// The answer to `GET /v1/reports/scans[?campaign=NAME]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScanReport {
    /// One row per campaign, offer and arm.
    pub rows: Vec<ArmRow>,
    /// One result per offer that has both a treatment and a control row.
    pub uplift: Vec<Uplift>,
}
