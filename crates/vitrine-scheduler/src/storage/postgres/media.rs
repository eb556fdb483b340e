//! [`MediaStore`] on PostgreSQL.

#![allow(unused_variables, unused_imports)]

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::media::*;
use std::collections::HashSet;
use vitrine_core::Sha256Hex;

#[async_trait::async_trait]
impl MediaStore for PostgresStore {
    async fn media_exists(&self, sha256: Sha256Hex) -> Result<bool, StorageError> {
        todo!("PostgreSQL")
    }

    async fn record_media(&self, sha256: Sha256Hex, size: u64) -> Result<bool, StorageError> {
        todo!("PostgreSQL")
    }

    async fn stored_media(
        &self,
        digests: Vec<Sha256Hex>,
    ) -> Result<HashSet<Sha256Hex>, StorageError> {
        todo!("PostgreSQL")
    }
}
