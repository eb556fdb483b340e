//! [`PushStore`] on SQLite: one scheduler owns the file, so there is no other scheduler to tell;
//! its push channel numbers and keeps its events in memory.

use jiff::Timestamp;

use super::SqliteStore;
use crate::storage::StorageError;
use crate::storage::push::{NewPushEvent, PushStore, StoredPushEvent};

#[async_trait::async_trait]
impl PushStore for SqliteStore {
    async fn record_push_event(&self, _event: NewPushEvent) -> Result<Option<u64>, StorageError> {
        Ok(None)
    }

    async fn push_events_in_force(
        &self,
        _now: Timestamp,
    ) -> Result<Vec<StoredPushEvent>, StorageError> {
        Ok(Vec::new())
    }
}
