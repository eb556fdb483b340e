//! Per-store quota bookkeeping as stored: which stores' staff uploaded a blob, how many bytes of
//! media and playlist versions a store holds, and the media no version names any more.
//!
//! Nothing here changes what a screen is shown or what a token resolves to, so no write announces
//! a change.

use jiff::Timestamp;
use vitrine_core::Sha256Hex;

use crate::storage::StorageError;

/// What [`QuotaStore::record_media_within_quota`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuotaCheck {
    /// Recorded and charged; `new` when the index did not hold the blob before.
    Recorded { new: bool },
    /// Refused: `store` holds `used` bytes already, and the blob would take it past the quota.
    Over { store: String, used: u64 },
}

/// What a store's staff have stored, and the collection of unused media.
#[async_trait::async_trait]
pub trait QuotaStore: Send + Sync {
    /// Bytes of media uploaded by `store`'s staff and still stored.
    async fn store_media_bytes(&self, store: String) -> Result<u64, StorageError>;

    /// Bytes of stored versions (source and included fragments) of the playlists `store`'s staff
    /// own.
    async fn store_playlist_bytes(&self, store: String) -> Result<u64, StorageError>;

    /// Records a blob of `size` bytes that is already kept (as [`MediaStore::record_media`]) and
    /// charges it to `stores`, in one transaction that waits for any other charge to the same
    /// stores, unless that would take one of them past `quota` bytes: then nothing is recorded
    /// or charged. A store the blob is charged to already pays nothing more. Uploads of one store
    /// racing each other therefore cannot pass its quota together.
    ///
    /// [`MediaStore::record_media`]: crate::storage::media::MediaStore::record_media
    async fn record_media_within_quota(
        &self,
        sha256: Sha256Hex,
        size: u64,
        stores: Vec<String>,
        quota: u64,
    ) -> Result<QuotaCheck, StorageError>;

    /// Deletes, in one transaction, the index rows (and store charges) of media recorded before
    /// `cutoff` that no playlist or campaign version names and no product has as its image, and
    /// returns their digests, for the caller to remove the files.
    async fn forget_unused_media(&self, cutoff: Timestamp) -> Result<Vec<Sha256Hex>, StorageError>;
}
