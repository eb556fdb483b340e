//! [`AccessStore`] on PostgreSQL.

#![allow(unused_variables, unused_imports)]

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::access::*;
use crate::storage::screens::Screen;

#[async_trait::async_trait]
impl AccessStore for PostgresStore {
    async fn token_owner(&self, token_sha256: String) -> Result<TokenOwner, StorageError> {
        todo!("PostgreSQL")
    }

    async fn playlist_owner(
        &self,
        name: String,
    ) -> Result<Option<Option<Vec<String>>>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn pushed_playlists(&self) -> Result<Vec<String>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn screens_playing(
        &self,
        playlist: String,
    ) -> Result<Vec<(String, Option<String>)>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn store_of_screen(
        &self,
        screen: String,
    ) -> Result<Option<Option<String>>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn create_staff(
        &self,
        name: String,
        stores: Vec<String>,
        tags: Vec<String>,
        token_sha256: String,
    ) -> Result<bool, StorageError> {
        todo!("PostgreSQL")
    }

    async fn staff(&self) -> Result<Vec<StoredStaff>, StorageError> {
        todo!("PostgreSQL")
    }

    async fn revoke_staff(&self, name: String) -> Result<bool, StorageError> {
        todo!("PostgreSQL")
    }

    async fn revoke_screen(&self, name: String) -> Result<(), StorageError> {
        todo!("PostgreSQL")
    }

    async fn replace_screen_token(
        &self,
        name: String,
        token_sha256: String,
    ) -> Result<(), StorageError> {
        todo!("PostgreSQL")
    }

    async fn screen_revoked(&self, name: String) -> Result<Option<bool>, StorageError> {
        todo!("PostgreSQL")
    }
}
