//! [`CatalogStore`] on PostgreSQL.

#![allow(unused_variables, unused_imports)]

use super::PostgresStore;
use crate::feed::import::{FeedDiff, FeedOutcome, FeedSource};
use crate::feed::{ProductDetails, SaleWindow, UnitPricing};
use crate::storage::StorageError;
use crate::storage::catalog::*;
use crate::storage::screens::Screen;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio::sync::mpsc;

#[async_trait::async_trait]
impl CatalogStore for PostgresStore {
    async fn upsert_stores(&self, rows: Vec<(u64, StoreRecord)>) -> Result<(), StorageError> {
        todo!("PostgreSQL")
    }

    async fn replace_segments(
        &self,
        rows: Vec<(u64, (String, String, f64))>,
    ) -> Result<(usize, Vec<SkippedRow>), StorageError> {
        todo!("PostgreSQL")
    }

    async fn import_products(
        &self,
        items: FeedItems,
        origin: FeedSource,
    ) -> Result<Result<FeedOutcome, String>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn upsert_inventory(
        &self,
        rows: Vec<(u64, InventoryRow)>,
    ) -> Result<(usize, Vec<SkippedRow>, FeedDiff), StorageError> {
        todo!("PostgreSQL")
    }

    async fn stores(&self) -> Result<Vec<StoreRecord>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn store_by_code(&self, code: String) -> Result<Option<StoreRecord>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn segments_of(&self, store: String) -> Result<BTreeMap<String, f64>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn known_segments(&self) -> Result<Vec<String>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn local_products(
        &self,
        ids: Vec<String>,
        store: Option<String>,
    ) -> Result<BTreeMap<String, LocalProduct>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn screens(&self) -> Result<Vec<ScreenRecord>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn screen_record(&self, name: String) -> Result<Option<ScreenRecord>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn place_screen(
        &self,
        name: String,
        store: Option<String>,
        tags: Vec<String>,
    ) -> Result<(), StorageError> {
        todo!("PostgreSQL")
    }

    async fn screen_by_name(&self, name: String) -> Result<Option<Screen>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn token_sha256_of(&self, screen: String) -> Result<Option<String>, StorageError> {
        todo!("PostgreSQL")
    }
}
