//! The schedulers serving one database: each says it is alive every few seconds, and learns how
//! many are, so that a rate limit is shared among them rather than multiplied by them.

use jiff::Timestamp;

use super::StorageError;

/// How long a scheduler counts as alive after it last said so.
pub const ALIVE_FOR: jiff::SignedDuration = jiff::SignedDuration::from_secs(20);

#[async_trait::async_trait]
pub trait ReplicaStore: Send + Sync {
    /// Records that this scheduler is alive at `now`, forgets those silent for [`ALIVE_FOR`], and
    /// returns how many are alive, this one included (always 1 where one scheduler owns the
    /// database).
    async fn replicas_alive(&self, now: Timestamp) -> Result<u32, StorageError>;
}
