//! [`FeedStore`] on PostgreSQL: the `feed_sources` table, and the fetched image columns of
//! `products`.

use jiff::Timestamp;
use tokio_postgres::Row;
use vitrine_core::Sha256Hex;

use super::PostgresStore;
use crate::storage::feeds::{FeedRecord, FeedStore, FetchAttempt};
use crate::storage::{Change, StorageError, from_sql_integer, to_sql_integer};

const FEED_SELECT: &str = "SELECT name, url, interval_seconds, etag, last_modified,
    last_attempt_at, last_success_at, last_error FROM feed_sources";

/// Reads a row of [`FEED_SELECT`]. Fetch times read as the scheduler wrote them on SQLite
/// (`Timestamp`'s own text), which is what deciding whether a feed is due parses.
fn feed_from_row(row: &Row) -> Result<FeedRecord, StorageError> {
    let interval: i64 = row.try_get(2)?;
    let last_attempt_at: Option<Timestamp> = row.try_get(5)?;
    let last_success_at: Option<Timestamp> = row.try_get(6)?;
    let error: String = row.try_get(7)?;
    Ok(FeedRecord {
        name: row.try_get(0)?,
        url: row.try_get(1)?,
        interval_seconds: from_sql_integer(interval, "interval_seconds")?,
        etag: row.try_get(3)?,
        last_modified: row.try_get(4)?,
        last_attempt_at: last_attempt_at.map(|time| time.to_string()),
        last_success_at: last_success_at.map(|time| time.to_string()),
        alert: (!error.is_empty()).then_some(error),
    })
}

/// Registering, fetching or removing a feed changes no product by itself (an import does, and
/// announces it), so none of these announce a change; a product image that a card may now show
/// announces [`Change::Content`].
#[async_trait::async_trait]
impl FeedStore for PostgresStore {
    async fn register_feed(
        &self,
        name: String,
        url: String,
        interval_seconds: u64,
    ) -> Result<FeedRecord, StorageError> {
        let interval = to_sql_integer(interval_seconds, "interval_seconds")?;
        let client = self.client().await?;
        // A changed URL is another feed: its validators and schedule start over.
        let row = client
            .query_one(
                "INSERT INTO feed_sources AS feed (name, url, interval_seconds) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET interval_seconds = EXCLUDED.interval_seconds,
                    etag = CASE WHEN feed.url = EXCLUDED.url THEN feed.etag END,
                    last_modified = CASE WHEN feed.url = EXCLUDED.url THEN feed.last_modified END,
                    last_attempt_at =
                        CASE WHEN feed.url = EXCLUDED.url THEN feed.last_attempt_at END,
                    url = EXCLUDED.url
                 RETURNING name, url, interval_seconds, etag, last_modified, last_attempt_at,
                    last_success_at, last_error",
                &[&name, &url, &interval],
            )
            .await?;
        feed_from_row(&row)
    }

    async fn feeds(&self) -> Result<Vec<FeedRecord>, StorageError> {
        let client = self.client().await?;
        client
            .query(&format!("{FEED_SELECT} ORDER BY name"), &[])
            .await?
            .iter()
            .map(feed_from_row)
            .collect()
    }

    async fn remove_feed(&self, name: String) -> Result<bool, StorageError> {
        let client = self.client().await?;
        Ok(client
            .execute("DELETE FROM feed_sources WHERE name = $1", &[&name])
            .await?
            > 0)
    }

    async fn record_fetch(&self, name: String, attempt: FetchAttempt) -> Result<(), StorageError> {
        let client = self.client().await?;
        // The scheduler's clock, as SQLite took it: whether a feed is due is decided against it.
        let now = Timestamp::now();
        match attempt {
            FetchAttempt::NotModified => {
                client
                    .execute(
                        "UPDATE feed_sources SET last_attempt_at = $2, last_success_at = $2,
                            last_error = '' WHERE name = $1",
                        &[&name, &now],
                    )
                    .await?
            }
            FetchAttempt::Imported {
                etag,
                last_modified,
            } => {
                client
                    .execute(
                        "UPDATE feed_sources SET last_attempt_at = $2, last_success_at = $2,
                            last_error = '', etag = $3, last_modified = $4 WHERE name = $1",
                        &[&name, &now, &etag, &last_modified],
                    )
                    .await?
            }
            FetchAttempt::Failed(error) => {
                client
                    .execute(
                        "UPDATE feed_sources SET last_attempt_at = $2, last_error = $3
                         WHERE name = $1",
                        &[&name, &now, &error],
                    )
                    .await?
            }
        };
        Ok(())
    }

    async fn record_product_image(
        &self,
        product: String,
        link: String,
        image: Option<(Sha256Hex, u64)>,
    ) -> Result<bool, StorageError> {
        let (sha256, size) = match &image {
            Some((sha256, size)) => (
                Some(sha256.as_str().to_owned()),
                Some(to_sql_integer(*size, "image_size")?),
            ),
            None => (None, None),
        };
        let client = self.client().await?;
        // Only while the product still has this link: a feed may have changed it meanwhile.
        let updated = client
            .execute(
                "UPDATE products SET image_sha256 = $3, image_size = $4, image_fetched_from = $2
                 WHERE id = $1 AND image_link = $2",
                &[&product, &link, &sha256, &size],
            )
            .await?;
        let shown = updated > 0 && image.is_some();
        if shown {
            self.changes.announce(Change::Content);
        }
        Ok(shown)
    }
}
