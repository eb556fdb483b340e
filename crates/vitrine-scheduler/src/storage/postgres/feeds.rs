//! [`FeedStore`] on PostgreSQL.

#![allow(unused_variables, unused_imports)]

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::feeds::*;
use serde::{Deserialize, Serialize};
use vitrine_core::Sha256Hex;

#[async_trait::async_trait]
impl FeedStore for PostgresStore {
    async fn register_feed(
        &self,
        name: String,
        url: String,
        interval_seconds: u64,
    ) -> Result<FeedRecord, StorageError> {
        todo!("PostgreSQL")
    }

    async fn feeds(&self) -> Result<Vec<FeedRecord>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn remove_feed(&self, name: String) -> Result<bool, StorageError> {
        todo!("PostgreSQL")
    }

    async fn record_fetch(&self, name: String, attempt: FetchAttempt) -> Result<(), StorageError> {
        todo!("PostgreSQL")
    }

    async fn record_product_image(
        &self,
        product: String,
        link: String,
        image: Option<(Sha256Hex, u64)>,
    ) -> Result<bool, StorageError> {
        todo!("PostgreSQL")
    }
}
