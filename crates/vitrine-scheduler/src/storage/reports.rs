//! The figures HQ reads back: plays and QR scans per campaign, offer and arm, and the offers a
//! screen showed lately.

use std::collections::BTreeMap;

use jiff::Timestamp;
use vitrine_core::offer::Arm;

use super::StorageError;

/// A campaign, one of its offers and an arm.
pub type OfferKey = (String, String, Arm);

/// The figures of one offer and arm.
#[derive(Debug, Default)]
pub struct OfferCounts {
    /// Completed plays.
    pub impressions: u64,
    pub partial_plays: u64,
    /// Scanned plays that HQ holds.
    pub scans: u64,
    pub scan_devices: u64,
    pub scan_hits: u64,
    /// Scanned plays that HQ does not hold yet.
    pub pending_scans: u64,
}

/// Reports over stored impressions and scans. Read only.
#[async_trait::async_trait]
pub trait ReportStore: Send + Sync {
    /// Completed and partial plays, scanned plays (held and pending), shopper devices and raw
    /// hits per campaign, offer and arm, of `campaign` or of every campaign, for every screen or
    /// for the screens of `stores`. Plays whose offer was refused (one its screen was never
    /// given) are not counted, nor are scans of them, which are not pending either.
    ///
    /// A scan joins its play by screen, offer, arm and scheduled start. The QR token carries
    /// the scheduled start in whole milliseconds, so both sides are compared to the millisecond.
    /// Impressions from before the scheduled start was recorded use their start.
    async fn offer_counts(
        &self,
        campaign: Option<String>,
        stores: Option<Vec<String>>,
    ) -> Result<BTreeMap<OfferKey, OfferCounts>, StorageError>;

    /// The offers a screen showed in plays scheduled to start in `[from, to)`, for caps: offer id
    /// and the play's scheduled start, which is what the player counts its caps by.
    async fn recent_offer_plays(
        &self,
        screen: String,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, Timestamp)>, StorageError>;
}
