//! [`ReplicaStore`] on PostgreSQL: the `replicas` table, one row per scheduler (by the origin its
//! change notifications carry) with when it last said it was alive.

use jiff::Timestamp;

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::replicas::{ALIVE_FOR, ReplicaStore};

#[async_trait::async_trait]
impl ReplicaStore for PostgresStore {
    async fn replicas_alive(&self, now: Timestamp) -> Result<u32, StorageError> {
        // The origin is random; its bits are kept as they are in a signed column.
        let origin = self.origin as i64;
        let silent_since = now - ALIVE_FOR;
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO replicas (origin, seen_at) VALUES ($1, $2)
                 ON CONFLICT (origin) DO UPDATE SET seen_at = EXCLUDED.seen_at",
                &[&origin, &now],
            )
            .await?;
        client
            .execute("DELETE FROM replicas WHERE seen_at < $1", &[&silent_since])
            .await?;
        let alive: i64 = client
            .query_one("SELECT count(*) FROM replicas", &[])
            .await?
            .get(0);
        Ok(u32::try_from(alive).unwrap_or(u32::MAX).max(1))
    }
}
