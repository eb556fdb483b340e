//! [`ReportStore`] on PostgreSQL.

#![allow(unused_variables, unused_imports)]

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::reports::*;
use jiff::Timestamp;
use std::collections::BTreeMap;
use vitrine_core::offer::Arm;

#[async_trait::async_trait]
impl ReportStore for PostgresStore {
    async fn offer_counts(
        &self,
        campaign: Option<String>,
        stores: Option<Vec<String>>,
    ) -> Result<BTreeMap<OfferKey, OfferCounts>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn recent_offer_plays(
        &self,
        screen: String,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, Timestamp)>, StorageError> {
        todo!("PostgreSQL")
    }
}
