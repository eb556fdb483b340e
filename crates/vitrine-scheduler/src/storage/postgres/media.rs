//! [`MediaStore`] on PostgreSQL: the `media` table.

use std::collections::HashSet;

use vitrine_core::Sha256Hex;

use super::PostgresStore;
use crate::storage::media::MediaStore;
use crate::storage::{StorageError, to_sql_integer};

#[async_trait::async_trait]
impl MediaStore for PostgresStore {
    /// Whether the media index holds this blob.
    async fn media_exists(&self, sha256: Sha256Hex) -> Result<bool, StorageError> {
        let client = self.client().await?;
        Ok(client
            .query_opt("SELECT 1 FROM media WHERE sha256 = $1", &[&sha256.as_str()])
            .await?
            .is_some())
    }

    /// Records a blob that is already on disk. Returns whether it was new to the index.
    async fn record_media(&self, sha256: Sha256Hex, size: u64) -> Result<bool, StorageError> {
        let size = to_sql_integer(size, "media size")?;
        let client = self.client().await?;
        let inserted = client
            .execute(
                "INSERT INTO media (sha256, size) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
                &[&sha256.as_str(), &size],
            )
            .await?;
        Ok(inserted == 1)
    }

    /// Which of `digests` the media index holds.
    async fn stored_media(
        &self,
        digests: Vec<Sha256Hex>,
    ) -> Result<HashSet<Sha256Hex>, StorageError> {
        if digests.is_empty() {
            return Ok(HashSet::new());
        }
        let wanted: Vec<&str> = digests.iter().map(Sha256Hex::as_str).collect();
        let client = self.client().await?;
        let held: HashSet<String> = client
            .query(
                "SELECT sha256 FROM media WHERE sha256 = ANY($1)",
                &[&wanted],
            )
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        Ok(digests
            .into_iter()
            .filter(|digest| held.contains(digest.as_str()))
            .collect())
    }
}
