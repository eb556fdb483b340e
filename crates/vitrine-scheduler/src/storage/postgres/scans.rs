//! [`ScanStore`] on PostgreSQL.

#![allow(unused_variables, unused_imports)]

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::scans::*;
use jiff::Timestamp;
use vitrine_core::qr_token::PlayToken;

#[async_trait::async_trait]
impl ScanStore for PostgresStore {
    async fn record_scan(&self, scan: ScanRecord) -> Result<bool, StorageError> {
        todo!("PostgreSQL")
    }

    async fn screen_key(
        &self,
        screen: String,
    ) -> Result<Option<(String, Option<Timestamp>)>, StorageError> {
        todo!("PostgreSQL")
    }
}
