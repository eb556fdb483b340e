//! [`PlaylistStore`] on PostgreSQL.

#![allow(unused_variables, unused_imports)]

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::playlists::*;
use std::collections::BTreeMap;
use vitrine_core::{MediaEntry, Sha256Hex};

#[async_trait::async_trait]
impl PlaylistStore for PostgresStore {
    async fn insert_playlist(&self, new: NewPlaylistVersion) -> Result<u64, StorageError> {
        todo!("PostgreSQL")
    }

    async fn latest_playlist(&self, name: String) -> Result<Option<StoredPlaylist>, StorageError> {
        todo!("PostgreSQL")
    }
}
