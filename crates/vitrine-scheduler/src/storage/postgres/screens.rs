//! [`ScreenStore`] on PostgreSQL: the `screens` table, the audiences of pushed events (through the
//! stores' regions and tags) and the `screen_status` table of newest heartbeats.

use jiff::Timestamp;

use super::PostgresStore;
use crate::storage::screens::{ScreenStore, UnknownTarget};
use crate::storage::{Change, StorageError, from_sql_integer, sortable_timestamp};

#[async_trait::async_trait]
impl ScreenStore for PostgresStore {
    /// Registers a screen. Returns false, changing nothing, if the name is taken.
    async fn create_screen(
        &self,
        name: String,
        playlist: String,
        timezone: String,
        token_sha256: String,
    ) -> Result<bool, StorageError> {
        let client = self.client().await?;
        let inserted = client
            .execute(
                "INSERT INTO screens (name, token_sha256, playlist, timezone)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &token_sha256, &playlist, &timezone],
            )
            .await?;
        let created = inserted == 1;
        if created {
            self.changes.announce(Change::Screen(name));
        }
        Ok(created)
    }

    async fn screen_exists(&self, name: String) -> Result<bool, StorageError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT 1 FROM screens WHERE name = $1")
            .await?;
        Ok(client.query_opt(&statement, &[&name]).await?.is_some())
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
        let client = self.client().await?;
        let mut names = Vec::new();
        if let Some(region) = region {
            let found = screen_names(&client, AUDIENCE_BY_REGION, &region).await?;
            if found.is_empty() && !exists(&client, REGION_EXISTS, &region).await? {
                return Ok(Err(UnknownTarget::Region(region)));
            }
            names.extend(found);
        }
        for store in stores {
            let found = screen_names(&client, AUDIENCE_BY_STORE, &store).await?;
            if found.is_empty() && !exists(&client, STORE_EXISTS, &store).await? {
                return Ok(Err(UnknownTarget::Store(store)));
            }
            names.extend(found);
        }
        for tag in tags {
            let found = screen_names(&client, AUDIENCE_BY_TAG, &tag).await?;
            if found.is_empty() {
                return Ok(Err(UnknownTarget::Tag(tag)));
            }
            names.extend(found);
        }
        names.sort();
        names.dedup();
        Ok(Ok(names))
    }

    /// Keeps a screen's newest heartbeat.
    async fn record_heartbeat(
        &self,
        screen: String,
        heartbeat: vitrine_core::Heartbeat,
    ) -> Result<(), StorageError> {
        let body = super::json_text(&heartbeat)?;
        let received_at = Timestamp::now();
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO screen_status (screen, received_at, body) VALUES ($1, $2, $3::text::jsonb)
                 ON CONFLICT (screen) DO UPDATE SET received_at = EXCLUDED.received_at,
                     body = EXCLUDED.body",
            )
            .await?;
        client
            .execute(&statement, &[&screen, &received_at, &body])
            .await?;
        Ok(())
    }

    /// A screen's newest heartbeat and when it came, if it ever sent one.
    async fn heartbeat_of(
        &self,
        screen: String,
    ) -> Result<Option<(String, vitrine_core::Heartbeat)>, StorageError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT received_at, body::text FROM screen_status WHERE screen = $1")
            .await?;
        let Some(row) = client.query_opt(&statement, &[&screen]).await? else {
            return Ok(None);
        };
        let received_at: Timestamp = row.try_get(0)?;
        let body: String = row.try_get(1)?;
        let heartbeat = super::from_json_text(&body, &format!("heartbeat of `{screen}`"))?;
        Ok(Some((sortable_timestamp(received_at), heartbeat)))
    }

    /// How many registered screens, not revoked, sent a heartbeat at or after `since`.
    async fn screens_heard_since(&self, since: Timestamp) -> Result<u64, StorageError> {
        let client = self.client().await?;
        let count: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM screen_status
                 JOIN screens ON screens.name = screen_status.screen
                 WHERE screen_status.received_at >= $1 AND screens.revoked_at IS NULL",
                &[&since],
            )
            .await?
            .try_get(0)?;
        from_sql_integer(count, "screens online")
    }

    /// Shared by every scheduler on the database: the screen's row in `manifest_versions` keeps
    /// the content it was last given and that content's version, and a new content takes
    /// `max(previous + 1, now in microseconds)` in one upsert, so two replicas building the same
    /// manifest agree on its version (and its ETag) and a version never goes down.
    async fn manifest_version(
        &self,
        screen: String,
        content: vitrine_core::Sha256Hex,
        now: jiff::Timestamp,
    ) -> Result<u64, StorageError> {
        let clock = now.as_microsecond().max(1);
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "WITH given AS (
                     INSERT INTO manifest_versions AS known (screen, content_sha256, version)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (screen) DO UPDATE
                         SET content_sha256 = EXCLUDED.content_sha256,
                             version = GREATEST(known.version + 1, EXCLUDED.version)
                         WHERE known.content_sha256 <> EXCLUDED.content_sha256
                     RETURNING version)
                 SELECT version FROM given
                 UNION ALL
                 SELECT version FROM manifest_versions
                 WHERE screen = $1 AND content_sha256 = $2 AND NOT EXISTS (SELECT 1 FROM given)",
            )
            .await?;
        // Empty only when another scheduler stored this same content between this statement's
        // snapshot and its upsert: the next try reads it.
        for _ in 0..3 {
            if let Some(row) = client
                .query_opt(&statement, &[&screen, &content.as_str(), &clock])
                .await?
            {
                return from_sql_integer(row.get(0), "manifest version");
            }
        }
        Err(StorageError::Unavailable(format!(
            "the manifest version of {screen} kept changing under concurrent builds"
        )))
    }
}

// The audience queries: screens by their store's region, by store code, and by their own or their
// store's tags.
const AUDIENCE_BY_REGION: &str =
    "SELECT screens.name FROM screens JOIN stores ON stores.code = screens.store
     WHERE stores.region = $1";
const AUDIENCE_BY_STORE: &str = "SELECT name FROM screens WHERE store = $1";
const AUDIENCE_BY_TAG: &str =
    "SELECT screens.name FROM screens LEFT JOIN stores ON stores.code = screens.store
     WHERE screens.tags @> to_jsonb($1::text) OR stores.tags @> to_jsonb($1::text)";
const REGION_EXISTS: &str = "SELECT 1 FROM stores WHERE region = $1";
const STORE_EXISTS: &str = "SELECT 1 FROM stores WHERE code = $1";

async fn screen_names(
    client: &deadpool_postgres::Object,
    query: &str,
    parameter: &str,
) -> Result<Vec<String>, StorageError> {
    let statement = client.prepare_cached(query).await?;
    client
        .query(&statement, &[&parameter])
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

async fn exists(
    client: &deadpool_postgres::Object,
    query: &str,
    parameter: &str,
) -> Result<bool, StorageError> {
    let statement = client.prepare_cached(query).await?;
    Ok(client.query_opt(&statement, &[&parameter]).await?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Storage;
    use crate::storage::postgres::versions::tests::scratch_database;

    /// The screen changes announced since the last call. Other tests' stores on the same server
    /// announce content changes on the same channel; those are left out.
    fn screen_changes(changes: &mut tokio::sync::broadcast::Receiver<Change>) -> Vec<Change> {
        std::iter::from_fn(|| changes.try_recv().ok())
            .filter(|change| matches!(change, Change::Screen(_)))
            .collect()
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: cargo xtask test runs it on its private server"]
    async fn screens_their_audiences_and_heartbeats() {
        let database = scratch_database().await;
        let store = PostgresStore::open(&database).expect("the store");
        let mut changes = store.changes().subscribe();
        for (name, token) in [("front", "t1"), ("back", "t2"), ("loose", "t3")] {
            assert!(
                store
                    .create_screen(name.into(), "lobby".into(), String::new(), token.into())
                    .await
                    .expect("created")
            );
            assert_eq!(screen_changes(&mut changes), [Change::Screen(name.into())]);
        }
        assert!(
            !store
                .create_screen("front".into(), "other".into(), String::new(), "t4".into())
                .await
                .expect("refused")
        );
        assert_eq!(screen_changes(&mut changes), [], "nothing changed");
        assert!(store.screen_exists("front".into()).await.expect("a read"));
        assert!(!store.screen_exists("nowhere".into()).await.expect("a read"));

        let client = store.client().await.expect("a connection");
        client
            .batch_execute(
                "INSERT INTO stores (code, name, region, tags, timezone, locale, currency) VALUES
                    ('s1', 'One', 'north', '[\"big\"]', 'UTC', 'en', 'EUR'),
                    ('s2', 'Two', 'south', '[]', 'UTC', 'en', 'EUR'),
                    ('s3', 'Three', 'north', '[]', 'UTC', 'en', 'EUR');
                 UPDATE screens SET store = 's1' WHERE name = 'front';
                 UPDATE screens SET store = 's2', tags = '[\"window\"]' WHERE name = 'back';
                 UPDATE screens SET tags = '[\"window\", \"big\"]' WHERE name = 'loose';",
            )
            .await
            .expect("stores");
        let audience = |region: Option<&str>, stores: &[&str], tags: &[&str]| {
            store.screens_in(
                region.map(str::to_owned),
                stores.iter().map(|store| (*store).to_owned()).collect(),
                tags.iter().map(|tag| (*tag).to_owned()).collect(),
            )
        };
        let names = |names: &[&str]| Ok(names.iter().map(|name| (*name).to_owned()).collect());
        assert_eq!(
            audience(Some("north"), &[], &[]).await.expect("a read"),
            names(&["front"])
        );
        assert_eq!(
            audience(None, &["s2", "s1"], &["big"])
                .await
                .expect("a read"),
            names(&["back", "front", "loose"])
        );
        assert_eq!(
            audience(None, &[], &["window"]).await.expect("a read"),
            names(&["back", "loose"])
        );
        assert_eq!(
            audience(None, &["s3"], &[]).await.expect("a read"),
            names(&[])
        );
        assert_eq!(
            audience(Some("east"), &[], &[]).await.expect("a read"),
            Err(UnknownTarget::Region("east".into()))
        );
        assert_eq!(
            audience(None, &["s9"], &[]).await.expect("a read"),
            Err(UnknownTarget::Store("s9".into()))
        );
        assert_eq!(
            audience(None, &[], &["small"]).await.expect("a read"),
            Err(UnknownTarget::Tag("small".into()))
        );

        let before = Timestamp::now();
        assert!(
            store
                .heartbeat_of("front".into())
                .await
                .expect("a read")
                .is_none()
        );
        for uptime in [5, 65] {
            let heartbeat: vitrine_core::Heartbeat = serde_json::from_value(serde_json::json!({
                "playlist": "lobby",
                "uptime_s": uptime,
                "unsent_impressions": 2,
                "alerts": ["disk almost full"],
            }))
            .expect("a heartbeat");
            store
                .record_heartbeat("front".into(), heartbeat)
                .await
                .expect("recorded");
        }
        let (received_at, heartbeat) = store
            .heartbeat_of("front".into())
            .await
            .expect("a read")
            .expect("a heartbeat");
        assert_eq!(heartbeat.uptime_s, 65);
        assert_eq!(heartbeat.alerts, ["disk almost full"]);
        assert_eq!(received_at.len(), sortable_timestamp(before).len());
        let received_at: Timestamp = received_at.parse().expect("a time");
        assert!(
            received_at
                >= before.round(jiff::Unit::Microsecond).expect("rounded")
                    - jiff::SignedDuration::from_micros(1)
        );
        assert_eq!(
            store
                .screens_heard_since(before - jiff::SignedDuration::from_secs(1))
                .await
                .expect("a count"),
            1
        );
        assert_eq!(
            store
                .screens_heard_since(Timestamp::now() + jiff::SignedDuration::from_secs(1))
                .await
                .expect("a count"),
            0
        );
        client
            .execute(
                "UPDATE screens SET revoked_at = now() WHERE name = 'front'",
                &[],
            )
            .await
            .expect("revoked");
        assert_eq!(
            store
                .screens_heard_since(before - jiff::SignedDuration::from_secs(1))
                .await
                .expect("a count"),
            0
        );
    }
}
