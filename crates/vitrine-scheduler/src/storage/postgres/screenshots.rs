//! [`ScreenshotStore`] on PostgreSQL: the `screenshots` table, one row per screen.

use jiff::Timestamp;

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::screenshots::{Screenshot, ScreenshotStore};

#[async_trait::async_trait]
impl ScreenshotStore for PostgresStore {
    async fn record_screenshot(
        &self,
        screen: String,
        screenshot: Screenshot,
    ) -> Result<(), StorageError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO screenshots (screen, taken_at, width, height, jpeg)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (screen) DO UPDATE SET taken_at = EXCLUDED.taken_at,
                     width = EXCLUDED.width, height = EXCLUDED.height, jpeg = EXCLUDED.jpeg",
            )
            .await?;
        let width = i32::try_from(screenshot.width)
            .map_err(|_| StorageError::OutOfRange(format!("width {}", screenshot.width)))?;
        let height = i32::try_from(screenshot.height)
            .map_err(|_| StorageError::OutOfRange(format!("height {}", screenshot.height)))?;
        client
            .execute(
                &statement,
                &[
                    &screen,
                    &screenshot.taken_at,
                    &width,
                    &height,
                    &screenshot.jpeg,
                ],
            )
            .await?;
        Ok(())
    }

    async fn screenshot_of(&self, screen: String) -> Result<Option<Screenshot>, StorageError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT taken_at, width, height, jpeg FROM screenshots WHERE screen = $1",
            )
            .await?;
        let Some(row) = client.query_opt(&statement, &[&screen]).await? else {
            return Ok(None);
        };
        let taken_at: Timestamp = row.try_get(0)?;
        let width: i32 = row.try_get(1)?;
        let height: i32 = row.try_get(2)?;
        let dimension = |value: i32, what: &str| {
            u32::try_from(value).map_err(|_| {
                StorageError::CorruptRow(format!("screenshot {what} of `{screen}` = {value}"))
            })
        };
        Ok(Some(Screenshot {
            taken_at,
            width: dimension(width, "width")?,
            height: dimension(height, "height")?,
            jpeg: row.try_get(3)?,
        }))
    }
}
