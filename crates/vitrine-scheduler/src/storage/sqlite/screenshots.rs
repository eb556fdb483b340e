//! [`ScreenshotStore`] on SQLite: the `screenshots` table, one row per screen.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::storage::screenshots::{Screenshot, ScreenshotStore};
use crate::storage::{StorageError, sortable_timestamp};

#[async_trait::async_trait]
impl ScreenshotStore for SqliteStore {
    async fn record_screenshot(
        &self,
        screen: String,
        screenshot: Screenshot,
    ) -> Result<(), StorageError> {
        self.interact(move |connection| {
            connection.execute(
                "INSERT INTO screenshots (screen, taken_at, width, height, jpeg)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (screen) DO UPDATE SET taken_at = excluded.taken_at,
                     width = excluded.width, height = excluded.height, jpeg = excluded.jpeg",
                params![
                    screen,
                    sortable_timestamp(screenshot.taken_at),
                    screenshot.width,
                    screenshot.height,
                    screenshot.jpeg,
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn screenshot_of(&self, screen: String) -> Result<Option<Screenshot>, StorageError> {
        self.interact(move |connection| {
            let row: Option<(String, u32, u32, Vec<u8>)> = connection
                .query_row(
                    "SELECT taken_at, width, height, jpeg FROM screenshots WHERE screen = ?1",
                    [&screen],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )
                .optional()?;
            row.map(|(taken_at, width, height, jpeg)| {
                let taken_at = taken_at.parse().map_err(|error| {
                    StorageError::CorruptRow(format!("screenshot time of `{screen}`: {error}"))
                })?;
                Ok(Screenshot {
                    taken_at,
                    width,
                    height,
                    jpeg,
                })
            })
            .transpose()
        })
        .await
    }
}
