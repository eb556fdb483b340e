//! The media index: which blobs the scheduler holds, and their sizes.

use std::collections::HashSet;

use vitrine_core::Sha256Hex;

use super::StorageError;

/// The index of media blobs already on disk.
#[async_trait::async_trait]
pub trait MediaStore: Send + Sync {
    /// Whether the media index holds this blob.
    async fn media_exists(&self, sha256: Sha256Hex) -> Result<bool, StorageError>;

    /// Records a blob that is already on disk. Returns whether it was new to the index.
    async fn record_media(&self, sha256: Sha256Hex, size: u64) -> Result<bool, StorageError>;

    /// Which of `digests` the media index holds.
    async fn stored_media(
        &self,
        digests: Vec<Sha256Hex>,
    ) -> Result<HashSet<Sha256Hex>, StorageError>;
}
