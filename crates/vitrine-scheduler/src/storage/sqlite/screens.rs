//! [`ScreenStore`] on SQLite: the `screens` table, the audiences of pushed events (through the
//! stores' regions and tags) and the `screen_status` table of newest heartbeats.

use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, from_sql_integer};
use crate::storage::screens::{ScreenStore, UnknownTarget};
use crate::storage::{Change, StorageError, sortable_timestamp};

#[async_trait::async_trait]
impl ScreenStore for SqliteStore {
    /// Registers a screen. Returns false, changing nothing, if the name is taken.
    async fn create_screen(
        &self,
        name: String,
        playlist: String,
        timezone: String,
        token_sha256: String,
    ) -> Result<bool, StorageError> {
        let announced = name.clone();
        let created = self
            .interact(move |connection| {
                let inserted = connection.execute(
                    "INSERT INTO screens (name, token_sha256, playlist, timezone)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (name) DO NOTHING",
                    params![name, token_sha256, playlist, timezone],
                )?;
                Ok(inserted == 1)
            })
            .await?;
        if created {
            self.changes.announce(Change::Screen(announced));
        }
        Ok(created)
    }

    async fn screen_exists(&self, name: String) -> Result<bool, StorageError> {
        self.interact(move |connection| {
            Ok(connection
                .query_row("SELECT 1 FROM screens WHERE name = ?1", [name], |_| Ok(()))
                .optional()?
                .is_some())
        })
        .await
    }

    /// The screens in `region`, in any of `stores`, or carrying any of `tags`: the audience of an
    /// interrupt, trigger or command. A name that matches nothing registered is returned as
    /// [`UnknownTarget`], so the caller can say which.
    async fn screens_in(
        &self,
        region: Option<String>,
        stores: Vec<String>,
        tags: Vec<String>,
    ) -> Result<Result<Vec<String>, UnknownTarget>, StorageError> {
        self.interact(move |connection| {
            let mut names = Vec::new();
            if let Some(region) = region {
                let found = screen_names(connection, AUDIENCE_BY_REGION, &region)?;
                if found.is_empty() && !exists(connection, REGION_EXISTS, &region)? {
                    return Ok(Err(UnknownTarget::Region(region)));
                }
                names.extend(found);
            }
            for store in stores {
                let found = screen_names(connection, AUDIENCE_BY_STORE, &store)?;
                if found.is_empty() && !exists(connection, STORE_EXISTS, &store)? {
                    return Ok(Err(UnknownTarget::Store(store)));
                }
                names.extend(found);
            }
            for tag in tags {
                let found = screen_names(connection, AUDIENCE_BY_TAG, &tag)?;
                if found.is_empty() {
                    return Ok(Err(UnknownTarget::Tag(tag)));
                }
                names.extend(found);
            }
            names.sort();
            names.dedup();
            Ok(Ok(names))
        })
        .await
    }

    /// Keeps a screen's newest heartbeat.
    async fn record_heartbeat(
        &self,
        screen: String,
        heartbeat: vitrine_core::Heartbeat,
    ) -> Result<(), StorageError> {
        let body = serde_json::to_string(&heartbeat)
            .map_err(|error| StorageError::CorruptRow(error.to_string()))?;
        let received_at = sortable_timestamp(jiff::Timestamp::now());
        self.interact(move |connection| {
            connection.execute(
                "INSERT INTO screen_status (screen, received_at, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (screen) DO UPDATE SET received_at = excluded.received_at,
                     body = excluded.body",
                params![screen, received_at, body],
            )?;
            Ok(())
        })
        .await
    }

    /// A screen's newest heartbeat and when it came, if it ever sent one.
    async fn heartbeat_of(
        &self,
        screen: String,
    ) -> Result<Option<(String, vitrine_core::Heartbeat)>, StorageError> {
        self.interact(move |connection| {
            let row: Option<(String, String)> = connection
                .query_row(
                    "SELECT received_at, body FROM screen_status WHERE screen = ?1",
                    [&screen],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            row.map(|(received_at, body)| {
                let heartbeat = serde_json::from_str(&body).map_err(|error| {
                    StorageError::CorruptRow(format!("heartbeat of `{screen}`: {error}"))
                })?;
                Ok((received_at, heartbeat))
            })
            .transpose()
        })
        .await
    }

    /// How many registered screens, not revoked, sent a heartbeat at or after `since`.
    async fn screens_heard_since(&self, since: jiff::Timestamp) -> Result<u64, StorageError> {
        let since = sortable_timestamp(since);
        self.interact(move |connection| {
            let count: i64 = connection.query_row(
                "SELECT COUNT(*) FROM screen_status
                 JOIN screens ON screens.name = screen_status.screen
                 WHERE screen_status.received_at >= ?1 AND screens.revoked_at IS NULL",
                [since],
                |row| row.get(0),
            )?;
            from_sql_integer(count, "screens online")
        })
        .await
    }

    /// From this process's memory of what each screen was given (see `crate::manifest_versions`).
    async fn manifest_version(
        &self,
        screen: String,
        content: vitrine_core::Sha256Hex,
        now: jiff::Timestamp,
    ) -> Result<u64, StorageError> {
        Ok(self.manifest_versions.version_of(&screen, &content, now))
    }
}

// The audience queries: screens by their store's region, by store code, and by their own or their
// store's tags.
const AUDIENCE_BY_REGION: &str =
    "SELECT screens.name FROM screens JOIN stores ON stores.code = screens.store
     WHERE stores.region = ?1";
const AUDIENCE_BY_STORE: &str = "SELECT name FROM screens WHERE store = ?1";
const AUDIENCE_BY_TAG: &str =
    "SELECT screens.name FROM screens LEFT JOIN stores ON stores.code = screens.store
     WHERE EXISTS (SELECT 1 FROM json_each(screens.tags) WHERE value = ?1)
        OR EXISTS (SELECT 1 FROM json_each(stores.tags) WHERE value = ?1)";
const REGION_EXISTS: &str = "SELECT 1 FROM stores WHERE region = ?1";
const STORE_EXISTS: &str = "SELECT 1 FROM stores WHERE code = ?1";

fn screen_names(
    connection: &Connection,
    query: &str,
    parameter: &str,
) -> rusqlite::Result<Vec<String>> {
    let mut statement = connection.prepare_cached(query)?;
    let names = statement
        .query_map([parameter], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

fn exists(connection: &Connection, query: &str, parameter: &str) -> rusqlite::Result<bool> {
    connection.prepare_cached(query)?.exists([parameter])
}
