//! The storage of feeds fetched by URL (what is registered, and what each fetch said) and of the
//! product images fetched for offer cards.

use serde::{Deserialize, Serialize};
use vitrine_core::Sha256Hex;

use super::StorageError;

/// A feed registered by URL, with what its last fetch said.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeedRecord {
    pub name: String,
    pub url: String,
    pub interval_seconds: u64,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub last_modified: Option<String>,
    #[serde(default)]
    pub last_attempt_at: Option<String>,
    #[serde(default)]
    pub last_success_at: Option<String>,
    /// The feed's alert: the HTTP status or error of the last fetch, until one succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
}

/// What one fetch of a registered feed came to, as the feed's record keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchAttempt {
    /// The server said nothing changed since the last fetch.
    NotModified,
    /// The feed was imported; these are the validators to send next time.
    Imported {
        etag: Option<String>,
        last_modified: Option<String>,
    },
    /// The fetch failed; the text is the feed's alert until a fetch succeeds.
    Failed(String),
}

/// Feeds registered by URL, and product images.
#[async_trait::async_trait]
pub trait FeedStore: Send + Sync {
    /// Registers a feed, or changes its URL and interval; a changed URL is another feed, whose
    /// validators and schedule start over. Returns the feed as now stored.
    async fn register_feed(
        &self,
        name: String,
        url: String,
        interval_seconds: u64,
    ) -> Result<FeedRecord, StorageError>;

    /// Every registered feed, by name.
    async fn feeds(&self) -> Result<Vec<FeedRecord>, StorageError>;

    /// Stops fetching a feed (its products stay). Returns false if no feed had that name.
    async fn remove_feed(&self, name: String) -> Result<bool, StorageError>;

    /// Records a fetch of the feed called `name`, attempted now.
    async fn record_fetch(&self, name: String, attempt: FetchAttempt) -> Result<(), StorageError>;

    /// Records the image fetched for a product's link (None: the fetch failed, and is not tried
    /// again for this link). Returns whether a card may now show a new picture.
    async fn record_product_image(
        &self,
        product: String,
        link: String,
        image: Option<(Sha256Hex, u64)>,
    ) -> Result<bool, StorageError>;
}
