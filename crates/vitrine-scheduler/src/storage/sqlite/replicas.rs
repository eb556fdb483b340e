//! [`ReplicaStore`] on SQLite: one scheduler owns the file.

use jiff::Timestamp;

use super::SqliteStore;
use crate::storage::StorageError;
use crate::storage::replicas::ReplicaStore;

#[async_trait::async_trait]
impl ReplicaStore for SqliteStore {
    async fn replicas_alive(&self, _now: Timestamp) -> Result<u32, StorageError> {
        Ok(1)
    }
}
