//! [`CampaignStore`] on PostgreSQL.

#![allow(unused_variables, unused_imports)]

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::campaigns::*;
use serde::Serialize;
use std::collections::BTreeMap;
use vitrine_core::campaign::Campaign;
use vitrine_core::{MediaEntry, Sha256Hex};

#[async_trait::async_trait]
impl CampaignStore for PostgresStore {
    async fn insert_campaign(
        &self,
        name: String,
        file_name: String,
        source: String,
        media: BTreeMap<String, Sha256Hex>,
        compiled: String,
    ) -> Result<u64, StorageError> {
        todo!("PostgreSQL")
    }

    async fn latest_campaigns(&self) -> Result<Vec<StoredCampaign>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn campaign_detail(&self, name: String) -> Result<Option<CampaignDetail>, StorageError> {
        todo!("PostgreSQL")
    }
}
