//! [`PushStore`] on PostgreSQL: the `push_events` table, numbered by its identity column, and a
//! `NOTIFY` for the other schedulers.

use jiff::Timestamp;

use super::{PostgresStore, from_json_text, json_text};
use crate::storage::push::{NewPushEvent, PushStore, StoredPushEvent};
use crate::storage::{Change, StorageError, from_sql_integer};

#[async_trait::async_trait]
impl PushStore for PostgresStore {
    async fn record_push_event(&self, event: NewPushEvent) -> Result<Option<u64>, StorageError> {
        let client = self.client().await?;
        let screens = json_text(&event.screens)?;
        let row = client
            .query_one(
                "INSERT INTO push_events (kind, screens, data, expires_at)
                 VALUES ($1, $2::text::jsonb, $3, $4)
                 RETURNING id",
                &[&event.kind, &screens, &event.data, &event.expires_at],
            )
            .await?;
        let id = from_sql_integer(row.get(0), "push event id")?;
        // Ended a day ago: no screen replays it any more.
        client
            .execute(
                "DELETE FROM push_events WHERE expires_at < now() - interval '1 day'",
                &[],
            )
            .await?;
        self.changes.relay(Change::PushEvents);
        Ok(Some(id))
    }

    async fn push_events_in_force(
        &self,
        now: Timestamp,
    ) -> Result<Vec<StoredPushEvent>, StorageError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, kind, screens::text, data, expires_at, published_at
                 FROM push_events WHERE expires_at > $1 ORDER BY id",
                &[&now],
            )
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(StoredPushEvent {
                    id: from_sql_integer(row.get(0), "push event id")?,
                    event: NewPushEvent {
                        kind: row.get(1),
                        screens: from_json_text(row.get::<_, &str>(2), "push event screens")?,
                        data: row.get(3),
                        expires_at: row.get(4),
                    },
                    published_at: row.get(5),
                })
            })
            .collect()
    }
}
