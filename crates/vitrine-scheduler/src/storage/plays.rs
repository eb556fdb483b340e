//! Proof of play as HQ's buyers read it: every play stored with where it ran (store, venue zone,
//! audience), its place in its screen's hash chain, and the hourly rollups that reports answer
//! from. Raw plays may be pruned after the retention period; rollups are kept.

use jiff::Timestamp;

/// One row of the raw ad log: one play, with everything a buyer reconciles against.
#[derive(Clone, Debug, PartialEq)]
pub struct PlayLogRow {
    pub play_id: String,
    /// The screen's own count of its plays.
    pub sequence: u64,
    pub screen: String,
    /// The store the screen was in when the play reached HQ; empty for a screen of no store.
    pub store: String,
    /// The IAB in-store zone: `exterior`, `entrance`, `checkout`, `in_aisle` or `other`.
    pub venue_zone: String,
    /// The screen's zone (its layout's region) the item played in.
    pub zone: String,
    pub playlist: String,
    pub playlist_version: u64,
    pub item_id: String,
    /// The HQ campaign the play belongs to (an offer's, or the fill's); empty for store content.
    pub campaign: String,
    pub offer: String,
    /// `treatment` or `control`; empty for a play of no offer.
    pub arm: String,
    /// The sha256 of the media file shown; empty for generated content (text, clocks).
    pub creative: String,
    pub scheduled_start: Timestamp,
    pub scheduled_end: Option<Timestamp>,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub duration_ms: u64,
    pub completed: bool,
    /// `on`, `off` or `unknown`.
    pub display: String,
    /// Completed on a display not known to be off: a delivered spot.
    pub delivered: bool,
    /// `synced`, `estimated` or `unknown`.
    pub clock: String,
    pub manifest_version: u64,
    pub player_version: String,
    /// The price the offer's card showed, in the currency's smallest unit.
    pub price_cents: Option<i64>,
    pub currency: String,
    /// The screen's audience multiplier when the play reached HQ, and gross impressions:
    /// `delivered × multiplier`.
    pub audience_multiplier: f64,
    pub gross_impressions: f64,
    /// `linked`, `broken`, `restart`, `pending` or `none`; see [`ChainState`].
    pub chain: String,
}

/// Where a play stands in its screen's hash chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainState {
    /// Its `previous` is the digest of the screen's play numbered one less (or it is play 1).
    Linked,
    /// Its `previous` is not that digest: a record was altered or replaced.
    Broken,
    /// It starts a new chain after play 1: the player's journal was made anew.
    Restart,
    /// Its predecessor has not reached HQ yet.
    Pending,
    /// From a player that does not chain its plays.
    None,
}

impl ChainState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChainState::Linked => "linked",
            ChainState::Broken => "broken",
            ChainState::Restart => "restart",
            ChainState::Pending => "pending",
            ChainState::None => "none",
        }
    }
}
