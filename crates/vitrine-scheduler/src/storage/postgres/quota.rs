//! [`QuotaStore`] on PostgreSQL.

#![allow(unused_variables, unused_imports)]

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::quota::*;
use jiff::Timestamp;
use vitrine_core::Sha256Hex;

#[async_trait::async_trait]
impl QuotaStore for PostgresStore {
    async fn store_media_bytes(&self, store: String) -> Result<u64, StorageError> {
        todo!("PostgreSQL")
    }

    async fn store_playlist_bytes(&self, store: String) -> Result<u64, StorageError> {
        todo!("PostgreSQL")
    }

    async fn charge_media(
        &self,
        sha256: Sha256Hex,
        stores: Vec<String>,
    ) -> Result<(), StorageError> {
        todo!("PostgreSQL")
    }

    async fn forget_unused_media(&self, cutoff: Timestamp) -> Result<Vec<Sha256Hex>, StorageError> {
        todo!("PostgreSQL")
    }
}
