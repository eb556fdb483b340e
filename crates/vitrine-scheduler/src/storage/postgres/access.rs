//! [`AccessStore`] on PostgreSQL: the `screens` and `staff` tables' tokens, and playlist
//! ownership.

use super::{PostgresStore, from_json_text, json_text, stored_time};
use crate::storage::access::{AccessStore, StaffMember, StoredStaff, TokenOwner};
use crate::storage::screens::Screen;
use crate::storage::{Change, StorageError};

#[async_trait::async_trait]
impl AccessStore for PostgresStore {
    async fn token_owner(&self, token_sha256: String) -> Result<TokenOwner, StorageError> {
        let client = self.client().await?;
        let screen = client
            .query_opt(
                "SELECT name, playlist, timezone, revoked_at IS NOT NULL FROM screens
                 WHERE token_sha256 = $1",
                &[&token_sha256],
            )
            .await?;
        if let Some(row) = screen {
            let revoked: bool = row.try_get(3)?;
            return Ok(if revoked {
                TokenOwner::Revoked
            } else {
                TokenOwner::Screen(Screen {
                    name: row.try_get(0)?,
                    playlist: row.try_get(1)?,
                    timezone: row.try_get(2)?,
                })
            });
        }
        let staff = client
            .query_opt(
                "SELECT name, stores::text, tags::text, revoked_at IS NOT NULL FROM staff
                 WHERE token_sha256 = $1",
                &[&token_sha256],
            )
            .await?;
        let Some(row) = staff else {
            return Ok(TokenOwner::Unknown);
        };
        if row.try_get::<_, bool>(3)? {
            return Ok(TokenOwner::Revoked);
        }
        let mut stores: Vec<String> = from_json_text(row.try_get(1)?, "staff.stores")?;
        stores.sort();
        let mut tags: Vec<String> = from_json_text(row.try_get(2)?, "staff.tags")?;
        tags.sort();
        Ok(TokenOwner::Staff(StaffMember {
            name: row.try_get(0)?,
            stores,
            tags,
        }))
    }

    async fn playlist_owner(
        &self,
        name: String,
    ) -> Result<Option<Option<Vec<String>>>, StorageError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT owner_stores::text FROM playlists WHERE name = $1 ORDER BY version LIMIT 1",
                &[&name],
            )
            .await?;
        row.map(|row| {
            row.try_get::<_, Option<&str>>(0)?
                .map(|json| from_json_text::<Vec<String>>(json, "playlists.owner_stores"))
                .transpose()
        })
        .transpose()
    }

    async fn pushed_playlists(&self) -> Result<Vec<String>, StorageError> {
        let client = self.client().await?;
        client
            .query("SELECT DISTINCT name FROM playlists ORDER BY name", &[])
            .await?
            .iter()
            .map(|row| Ok(row.try_get(0)?))
            .collect()
    }

    async fn screens_playing(
        &self,
        playlist: String,
    ) -> Result<Vec<(String, Option<String>)>, StorageError> {
        let client = self.client().await?;
        client
            .query(
                "SELECT name, store FROM screens WHERE playlist = $1",
                &[&playlist],
            )
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    async fn store_of_screen(
        &self,
        screen: String,
    ) -> Result<Option<Option<String>>, StorageError> {
        let client = self.client().await?;
        client
            .query_opt("SELECT store FROM screens WHERE name = $1", &[&screen])
            .await?
            .map(|row| Ok(row.try_get(0)?))
            .transpose()
    }

    async fn create_staff(
        &self,
        name: String,
        stores: Vec<String>,
        tags: Vec<String>,
        token_sha256: String,
    ) -> Result<bool, StorageError> {
        let stores = json_text(&stores)?;
        let tags = json_text(&tags)?;
        let client = self.client().await?;
        let inserted = client
            .execute(
                "INSERT INTO staff (name, token_sha256, stores, tags)
                 VALUES ($1, $2, $3::text::jsonb, $4::text::jsonb)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &token_sha256, &stores, &tags],
            )
            .await?;
        let created = inserted == 1;
        if created {
            self.changes.announce(Change::Credentials);
        }
        Ok(created)
    }

    async fn staff(&self) -> Result<Vec<StoredStaff>, StorageError> {
        let client = self.client().await?;
        client
            .query(
                "SELECT name, stores::text, created_at, revoked_at FROM staff ORDER BY name",
                &[],
            )
            .await?
            .iter()
            .map(|row| {
                Ok(StoredStaff {
                    name: row.try_get(0)?,
                    stores: from_json_text(row.try_get(1)?, "staff.stores")?,
                    created_at: stored_time(row.try_get(2)?),
                    revoked_at: row
                        .try_get::<_, Option<jiff::Timestamp>>(3)?
                        .map(stored_time),
                })
            })
            .collect()
    }

    async fn revoke_staff(&self, name: String) -> Result<bool, StorageError> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE staff SET revoked_at = coalesce(revoked_at, now()) WHERE name = $1",
                &[&name],
            )
            .await?;
        let revoked = changed == 1;
        if revoked {
            self.changes.announce(Change::Credentials);
        }
        Ok(revoked)
    }

    async fn revoke_screen(&self, name: String) -> Result<(), StorageError> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE screens SET revoked_at = coalesce(revoked_at, now()) WHERE name = $1",
                &[&name],
            )
            .await?;
        if changed > 0 {
            self.changes.announce(Change::Credentials);
        }
        Ok(())
    }

    async fn replace_screen_token(
        &self,
        name: String,
        token_sha256: String,
    ) -> Result<(), StorageError> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE screens SET token_sha256 = $2, revoked_at = NULL WHERE name = $1",
                &[&name, &token_sha256],
            )
            .await?;
        if changed > 0 {
            self.changes.announce(Change::Credentials);
            self.changes.announce(Change::Screen(name));
        }
        Ok(())
    }

    async fn screen_revoked(&self, name: String) -> Result<Option<bool>, StorageError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT revoked_at IS NOT NULL FROM screens WHERE name = $1",
                &[&name],
            )
            .await?
            .map(|row| Ok(row.try_get(0)?))
            .transpose()
    }
}
