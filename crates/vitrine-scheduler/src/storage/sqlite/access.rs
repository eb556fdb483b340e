//! [`AccessStore`] on SQLite: the `screens` and `staff` tables' tokens, and playlist ownership.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::storage::access::{AccessStore, StaffMember, StoredStaff, TokenOwner};
use crate::storage::screens::Screen;
use crate::storage::{Change, StorageError};

#[async_trait::async_trait]
impl AccessStore for SqliteStore {
    async fn token_owner(&self, token_sha256: String) -> Result<TokenOwner, StorageError> {
        self.interact(move |connection| {
            let screen = connection
                .query_row(
                    "SELECT name, playlist, timezone, revoked_at IS NOT NULL FROM screens
                     WHERE token_sha256 = ?1",
                    [&token_sha256],
                    |row| {
                        Ok((
                            Screen {
                                name: row.get(0)?,
                                playlist: row.get(1)?,
                                timezone: row.get(2)?,
                            },
                            row.get::<_, bool>(3)?,
                        ))
                    },
                )
                .optional()?;
            if let Some((screen, revoked)) = screen {
                return Ok(if revoked {
                    TokenOwner::Revoked
                } else {
                    TokenOwner::Screen(screen)
                });
            }
            let staff = connection
                .query_row(
                    "SELECT name, stores, tags, revoked_at IS NOT NULL FROM staff
                     WHERE token_sha256 = ?1",
                    [&token_sha256],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, bool>(3)?,
                        ))
                    },
                )
                .optional()?;
            match staff {
                Some((_, _, _, true)) => Ok(TokenOwner::Revoked),
                Some((name, stores, tags, false)) => {
                    let mut stores: Vec<String> =
                        serde_json::from_str(&stores).map_err(|error| {
                            StorageError::CorruptRow(format!("staff.stores: {error}"))
                        })?;
                    stores.sort();
                    let mut tags: Vec<String> = serde_json::from_str(&tags).map_err(|error| {
                        StorageError::CorruptRow(format!("staff.tags: {error}"))
                    })?;
                    tags.sort();
                    Ok(TokenOwner::Staff(StaffMember { name, stores, tags }))
                }
                None => Ok(TokenOwner::Unknown),
            }
        })
        .await
    }

    async fn playlist_owner(
        &self,
        name: String,
    ) -> Result<Option<Option<Vec<String>>>, StorageError> {
        let row = self
            .interact(move |connection| {
                Ok(connection
                    .query_row(
                        "SELECT owner_stores FROM playlists WHERE name = ?1 ORDER BY version LIMIT 1",
                        [name],
                        |row| row.get::<_, Option<String>>(0),
                    )
                    .optional()?)
            })
            .await?;
        row.map(|owner| {
            owner
                .map(|json| {
                    serde_json::from_str::<Vec<String>>(&json).map_err(|error| {
                        StorageError::CorruptRow(format!("playlists.owner_stores: {error}"))
                    })
                })
                .transpose()
        })
        .transpose()
    }

    async fn pushed_playlists(&self) -> Result<Vec<String>, StorageError> {
        self.interact(move |connection| {
            let mut statement =
                connection.prepare("SELECT DISTINCT name FROM playlists ORDER BY name")?;
            let names = statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(names)
        })
        .await
    }

    async fn screens_playing(
        &self,
        playlist: String,
    ) -> Result<Vec<(String, Option<String>)>, StorageError> {
        self.interact(move |connection| {
            let mut statement =
                connection.prepare("SELECT name, store FROM screens WHERE playlist = ?1")?;
            let rows = statement
                .query_map([playlist], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn store_of_screen(
        &self,
        screen: String,
    ) -> Result<Option<Option<String>>, StorageError> {
        self.interact(move |connection| {
            Ok(connection
                .query_row(
                    "SELECT store FROM screens WHERE name = ?1",
                    [screen],
                    |row| row.get::<_, Option<String>>(0),
                )
                .optional()?)
        })
        .await
    }

    async fn create_staff(
        &self,
        name: String,
        stores: Vec<String>,
        tags: Vec<String>,
        token_sha256: String,
    ) -> Result<bool, StorageError> {
        let stores = serde_json::to_string(&stores)
            .map_err(|error| StorageError::CorruptRow(format!("staff stores: {error}")))?;
        let tags = serde_json::to_string(&tags)
            .map_err(|error| StorageError::CorruptRow(format!("staff tags: {error}")))?;
        let created = self
            .interact(move |connection| {
                let inserted = connection.execute(
                    "INSERT INTO staff (name, token_sha256, stores, tags) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (name) DO NOTHING",
                    params![name, token_sha256, stores, tags],
                )?;
                Ok(inserted == 1)
            })
            .await?;
        if created {
            self.changes.announce(Change::Credentials);
        }
        Ok(created)
    }

    async fn staff(&self) -> Result<Vec<StoredStaff>, StorageError> {
        self.interact(|connection| {
            let mut statement = connection
                .prepare("SELECT name, stores, created_at, revoked_at FROM staff ORDER BY name")?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Option<String>>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(name, stores, created_at, revoked_at)| {
                    Ok(StoredStaff {
                        name,
                        stores: serde_json::from_str(&stores).map_err(|error| {
                            StorageError::CorruptRow(format!("staff.stores: {error}"))
                        })?,
                        created_at,
                        revoked_at,
                    })
                })
                .collect()
        })
        .await
    }

    async fn revoke_staff(&self, name: String) -> Result<bool, StorageError> {
        let revoked = self
            .interact(move |connection| {
                let changed = connection.execute(
                    "UPDATE staff SET revoked_at = coalesce(revoked_at,
                         strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) WHERE name = ?1",
                    [name],
                )?;
                Ok(changed == 1)
            })
            .await?;
        if revoked {
            self.changes.announce(Change::Credentials);
        }
        Ok(revoked)
    }

    async fn revoke_screen(&self, name: String) -> Result<(), StorageError> {
        let changed = self
            .interact(move |connection| {
                Ok(connection.execute(
                    "UPDATE screens SET revoked_at = coalesce(revoked_at,
                         strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) WHERE name = ?1",
                    [name],
                )?)
            })
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
        let screen = name.clone();
        let changed = self
            .interact(move |connection| {
                Ok(connection.execute(
                    "UPDATE screens SET token_sha256 = ?2, revoked_at = NULL WHERE name = ?1",
                    params![name, token_sha256],
                )?)
            })
            .await?;
        if changed > 0 {
            self.changes.announce(Change::Credentials);
            self.changes.announce(Change::Screen(screen));
        }
        Ok(())
    }

    async fn screen_revoked(&self, name: String) -> Result<Option<bool>, StorageError> {
        self.interact(move |connection| {
            Ok(connection
                .query_row(
                    "SELECT revoked_at IS NOT NULL FROM screens WHERE name = ?1",
                    [name],
                    |row| row.get(0),
                )
                .optional()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{ScreenStore, Storage};

    #[tokio::test]
    async fn token_writes_announce_what_they_changed_and_nothing_else() {
        let folder = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&folder.path().join("vitrine.db")).expect("opened");
        let mut changes = store.changes().subscribe();
        let staff = || {
            store.create_staff(
                "ana".into(),
                vec!["s1".into()],
                Vec::new(),
                "staff-token".into(),
            )
        };
        assert!(staff().await.expect("created"));
        assert!(!staff().await.expect("name taken"));
        assert_eq!(changes.try_recv().ok(), Some(Change::Credentials));
        assert!(changes.try_recv().is_err());

        assert!(!store.revoke_staff("nobody".into()).await.expect("revoked"));
        assert!(changes.try_recv().is_err());
        assert!(store.revoke_staff("ana".into()).await.expect("revoked"));
        assert_eq!(changes.try_recv().ok(), Some(Change::Credentials));
        assert!(matches!(
            store.token_owner("staff-token".into()).await,
            Ok(TokenOwner::Revoked)
        ));

        store
            .revoke_screen("nowhere".into())
            .await
            .expect("revoked");
        store
            .replace_screen_token("nowhere".into(), "x".into())
            .await
            .expect("replaced");
        assert!(changes.try_recv().is_err(), "no screen, no change");

        assert!(
            store
                .create_screen(
                    "lobby".into(),
                    "default".into(),
                    String::new(),
                    "old".into()
                )
                .await
                .expect("created")
        );
        while changes.try_recv().is_ok() {}
        store.revoke_screen("lobby".into()).await.expect("revoked");
        assert_eq!(changes.try_recv().ok(), Some(Change::Credentials));
        assert_eq!(
            store.screen_revoked("lobby".into()).await.ok(),
            Some(Some(true))
        );
        store
            .replace_screen_token("lobby".into(), "new".into())
            .await
            .expect("replaced");
        assert_eq!(changes.try_recv().ok(), Some(Change::Credentials));
        assert_eq!(
            changes.try_recv().ok(),
            Some(Change::Screen("lobby".into()))
        );
        assert_eq!(
            store.screen_revoked("lobby".into()).await.ok(),
            Some(Some(false))
        );
        assert!(matches!(
            store.token_owner("old".into()).await,
            Ok(TokenOwner::Unknown)
        ));
    }
}
