//! Per-store quota bookkeeping as stored: which stores' staff uploaded a blob, how many bytes of
//! media and playlist versions a store holds, and the media no version names any more.
//!
//! Nothing here changes what a screen is shown or what a token resolves to, so no write announces
//! a change.

use jiff::Timestamp;
use vitrine_core::Sha256Hex;

use crate::storage::StorageError;

/// What a store's staff have stored, and the collection of unused media.
#[async_trait::async_trait]
pub trait QuotaStore: Send + Sync {
    /// Bytes of media uploaded by `store`'s staff and still stored.
    async fn store_media_bytes(&self, store: String) -> Result<u64, StorageError>;

    /// Bytes of stored versions (source and included fragments) of the playlists `store`'s staff
    /// own.
    async fn store_playlist_bytes(&self, store: String) -> Result<u64, StorageError>;

    /// Charges a blob to the stores of the staff member who uploaded it. A store charged already
    /// is not charged twice.
    async fn charge_media(
        &self,
        sha256: Sha256Hex,
        stores: Vec<String>,
    ) -> Result<(), StorageError>;

    /// Deletes, in one transaction, the index rows (and store charges) of media recorded before
    /// `cutoff` that no playlist or campaign version names and no product has as its image, and
    /// returns their digests, for the caller to remove the files.
    async fn forget_unused_media(&self, cutoff: Timestamp) -> Result<Vec<Sha256Hex>, StorageError>;
}
