//! [`FeedStore`] on SQLite: the `feed_sources` table, and the fetched image columns of `products`.

use jiff::Timestamp;
use rusqlite::params;
use vitrine_core::Sha256Hex;

use super::SqliteStore;
use crate::storage::feeds::{FeedRecord, FeedStore, FetchAttempt};
use crate::storage::{Change, StorageError};

const FEED_COLUMNS: &str = "name, url, interval_seconds, etag, last_modified, last_attempt_at,
    last_success_at, last_error";

fn feed_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<FeedRecord> {
    let interval: i64 = row.get(2)?;
    let error: String = row.get(7)?;
    Ok(FeedRecord {
        name: row.get(0)?,
        url: row.get(1)?,
        interval_seconds: interval.max(0) as u64,
        etag: row.get(3)?,
        last_modified: row.get(4)?,
        last_attempt_at: row.get(5)?,
        last_success_at: row.get(6)?,
        alert: (!error.is_empty()).then_some(error),
    })
}

/// Registering, fetching or removing a feed changes no product by itself (an import does, and
/// announces it), so none of these announce a change; a product image that a card may now show
/// announces [`Change::Content`].
#[async_trait::async_trait]
impl FeedStore for SqliteStore {
    async fn register_feed(
        &self,
        name: String,
        url: String,
        interval_seconds: u64,
    ) -> Result<FeedRecord, StorageError> {
        self.interact(move |connection| {
            // A changed URL is another feed: its validators and schedule start over.
            connection.execute(
                "INSERT INTO feed_sources (name, url, interval_seconds) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET interval_seconds = excluded.interval_seconds,
                    etag = CASE WHEN url = excluded.url THEN etag END,
                    last_modified = CASE WHEN url = excluded.url THEN last_modified END,
                    last_attempt_at = CASE WHEN url = excluded.url THEN last_attempt_at END,
                    url = excluded.url",
                params![name, url, interval_seconds as i64],
            )?;
            Ok(connection.query_row(
                &format!("SELECT {FEED_COLUMNS} FROM feed_sources WHERE name = ?1"),
                [name],
                feed_from_row,
            )?)
        })
        .await
    }

    async fn feeds(&self) -> Result<Vec<FeedRecord>, StorageError> {
        self.interact(|connection| {
            let mut statement = connection.prepare(&format!(
                "SELECT {FEED_COLUMNS} FROM feed_sources ORDER BY name"
            ))?;
            let feeds = statement
                .query_map([], feed_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(feeds)
        })
        .await
    }

    async fn remove_feed(&self, name: String) -> Result<bool, StorageError> {
        self.interact(move |connection| {
            Ok(connection.execute("DELETE FROM feed_sources WHERE name = ?1", [name])? > 0)
        })
        .await
    }

    async fn record_fetch(&self, name: String, attempt: FetchAttempt) -> Result<(), StorageError> {
        self.interact(move |connection| {
            let now = Timestamp::now().to_string();
            match attempt {
                FetchAttempt::NotModified => connection.execute(
                    "UPDATE feed_sources SET last_attempt_at = ?2, last_success_at = ?2,
                        last_error = '' WHERE name = ?1",
                    params![name, now],
                )?,
                FetchAttempt::Imported {
                    etag,
                    last_modified,
                } => connection.execute(
                    "UPDATE feed_sources SET last_attempt_at = ?2, last_success_at = ?2,
                        last_error = '', etag = ?3, last_modified = ?4 WHERE name = ?1",
                    params![name, now, etag, last_modified],
                )?,
                FetchAttempt::Failed(error) => connection.execute(
                    "UPDATE feed_sources SET last_attempt_at = ?2, last_error = ?3
                     WHERE name = ?1",
                    params![name, now, error],
                )?,
            };
            Ok(())
        })
        .await
    }

    async fn record_product_image(
        &self,
        product: String,
        link: String,
        image: Option<(Sha256Hex, u64)>,
    ) -> Result<bool, StorageError> {
        let shown = self
            .interact(move |connection| {
                let (sha256, size) = match &image {
                    Some((sha256, size)) => (Some(sha256.as_str().to_owned()), Some(*size as i64)),
                    None => (None, None),
                };
                // Only while the product still has this link: a feed may have changed it meanwhile.
                let updated = connection.execute(
                    "UPDATE products SET image_sha256 = ?3, image_size = ?4, image_fetched_from = ?2
                     WHERE id = ?1 AND image_link = ?2",
                    params![product, link, sha256, size],
                )?;
                Ok(updated > 0 && image.is_some())
            })
            .await?;
        if shown {
            self.changes.announce(Change::Content);
        }
        Ok(shown)
    }
}
