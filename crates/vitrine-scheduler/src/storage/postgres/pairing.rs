//! [`PairingStore`] on PostgreSQL.

#![allow(unused_variables, unused_imports)]

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::pairing::*;
use jiff::Timestamp;

#[async_trait::async_trait]
impl PairingStore for PostgresStore {
    async fn insert_pairing(&self, new: NewPairing) -> Result<Insert, StorageError> {
        todo!("PostgreSQL")
    }

    async fn pairing(
        &self,
        code: String,
        now: Timestamp,
    ) -> Result<Option<PairingRow>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn claim_pairing(
        &self,
        code: String,
        screen: String,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        todo!("PostgreSQL")
    }

    async fn deliver_pairing(
        &self,
        code: String,
        screen: String,
        token_sha256: String,
    ) -> Result<bool, StorageError> {
        todo!("PostgreSQL")
    }
}
