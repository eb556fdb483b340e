//! [`ScreenStore`] on PostgreSQL.

#![allow(unused_variables, unused_imports)]

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::screens::*;

#[async_trait::async_trait]
impl ScreenStore for PostgresStore {
    async fn create_screen(
        &self,
        name: String,
        playlist: String,
        timezone: String,
        token_sha256: String,
    ) -> Result<bool, StorageError> {
        todo!("PostgreSQL")
    }

    async fn screen_exists(&self, name: String) -> Result<bool, StorageError> {
        todo!("PostgreSQL")
    }

    async fn screens_in(
        &self,
        region: Option<String>,
        stores: Vec<String>,
        tags: Vec<String>,
    ) -> Result<Result<Vec<String>, UnknownTarget>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn record_heartbeat(
        &self,
        screen: String,
        heartbeat: vitrine_core::Heartbeat,
    ) -> Result<(), StorageError> {
        todo!("PostgreSQL")
    }

    async fn heartbeat_of(
        &self,
        screen: String,
    ) -> Result<Option<(String, vitrine_core::Heartbeat)>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn screens_heard_since(&self, since: jiff::Timestamp) -> Result<u64, StorageError> {
        todo!("PostgreSQL")
    }
}
