//! Proof of play: the offers each screen's manifests carried, and the impressions screens report.

use vitrine_core::Impression;

use super::StorageError;
use super::plays::IncomingPlay;

/// An offer a screen's manifest carried.
#[derive(Debug)]
pub struct ServedOffer {
    /// Empty for an offer of no campaign.
    pub campaign: String,
    pub offer: String,
    pub arm: String,
    /// The store's stock of the offer's product the manifest was built with; `None` for an offer
    /// of no product.
    pub stock: Option<i64>,
}

/// The impressions screens report, and the offers they may claim.
#[async_trait::async_trait]
pub trait ImpressionStore: Send + Sync {
    /// Records the offers a manifest built for `screen` carries with `playlist_version`; offers
    /// already recorded are kept once, with the stock of the latest build.
    async fn record_served_offers(
        &self,
        screen: String,
        playlist_version: u64,
        offers: Vec<ServedOffer>,
    ) -> Result<(), StorageError>;

    /// Stores a batch of `screen`'s impressions at once, skipping ids already held, and returns
    /// how many were new and the highest sequence number up to which the screen's plays are all
    /// held. Either the whole batch is stored or none of it. An impression claiming an offer that
    /// `screen`'s manifest never carried with its playlist version is kept as a play, its offer
    /// marked refused and left out of every offer figure.
    ///
    /// In the same transaction each new play is added to the hourly and daily rollups (see
    /// [`super::plays`]), and its link in the screen's hash chain is checked against the plays
    /// numbered one less and one more, where HQ holds them.
    async fn insert_impressions(
        &self,
        screen: String,
        plays: Vec<IncomingPlay>,
    ) -> Result<(u64, u64), StorageError>;

    /// Every impression of one screen, oldest first.
    async fn impressions_of(&self, screen: String) -> Result<Vec<Impression>, StorageError>;
}
