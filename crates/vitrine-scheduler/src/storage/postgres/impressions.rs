//! [`ImpressionStore`] on PostgreSQL.

#![allow(unused_variables, unused_imports)]

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::impressions::*;
use vitrine_core::Impression;

#[async_trait::async_trait]
impl ImpressionStore for PostgresStore {
    async fn record_served_offers(
        &self,
        screen: String,
        playlist_version: u64,
        offers: Vec<ServedOffer>,
    ) -> Result<(), StorageError> {
        todo!("PostgreSQL")
    }

    async fn insert_impressions(
        &self,
        screen: String,
        impressions: Vec<Impression>,
    ) -> Result<(u64, u64), StorageError> {
        todo!("PostgreSQL")
    }

    async fn impressions_of(&self, screen: String) -> Result<Vec<Impression>, StorageError> {
        todo!("PostgreSQL")
    }
}
