//! Named documents kept as numbered versions (playlists, campaigns): the next number for a name,
//! the newest version of each name, and the blobs a version's media map names.
//!
//! PostgreSQL does not serialise writers the way SQLite's `BEGIN IMMEDIATE` does, so two
//! schedulers pushing one name may both read the same newest version. The number is therefore
//! taken by the insert itself, and the primary key `(name, version)` decides: the insert that
//! loses the race fails as a duplicate and runs again, now seeing the winner's row, so it takes the
//! number after it.

use std::collections::BTreeMap;

use vitrine_core::{MediaEntry, Sha256Hex};

use super::is_unique_violation;
use crate::storage::{StorageError, from_sql_integer};

/// How many times an insert may lose the race for a version number before the push is refused as
/// busy. Every loss means another push of the same name committed, so only this many pushes of
/// one name at the same moment can exhaust it.
pub(super) const ATTEMPTS: usize = 16;

/// A table of versioned documents: `name text, version bigint, PRIMARY KEY (name, version)`.
#[derive(Clone, Copy, Debug)]
pub(super) enum Versioned {
    Playlists,
    Campaigns,
}

impl Versioned {
    fn table(self) -> &'static str {
        match self {
            Self::Playlists => "playlists",
            Self::Campaigns => "campaigns",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Playlists => "playlist version",
            Self::Campaigns => "campaign version",
        }
    }
}

/// A `FROM` item, `next`, whose one column `version` is the version the next document called `$1`
/// gets: one more than the newest, 1 for the first.
pub(super) fn next_version(table: Versioned) -> String {
    format!(
        "(SELECT COALESCE(MAX(version), 0) + 1 AS version FROM {} WHERE name = $1::text) AS next",
        table.table()
    )
}

/// Runs `statement`, an `INSERT … SELECT … FROM` [`next_version`] ` … RETURNING version`, and
/// returns the version it stored. Each run is a transaction of its own, so a run refused as a
/// duplicate leaves nothing behind and the next one reads the versions committed since.
pub(super) async fn insert_next_version(
    client: &deadpool_postgres::Object,
    table: Versioned,
    statement: &str,
    parameters: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, StorageError> {
    let statement = client.prepare_cached(statement).await?;
    for _ in 0..ATTEMPTS {
        match client.query_one(&statement, parameters).await {
            Ok(row) => return from_sql_integer(row.try_get(0)?, table.what()),
            Err(error) if is_unique_violation(&error) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(StorageError::Unavailable(format!(
        "concurrent pushes took the next {} {ATTEMPTS} times in a row; try again",
        table.what()
    )))
}

/// A query for the newest version of every name of `table`, its `columns`, ordered by name.
pub(super) fn newest_of_each(table: Versioned, columns: &str) -> String {
    format!(
        "SELECT DISTINCT ON (name) {columns} FROM {} ORDER BY name, version DESC",
        table.table()
    )
}

/// The size of each of `digests`' blobs that the media store holds; a blob it lacks is absent.
pub(super) async fn blob_sizes<'a>(
    client: &deadpool_postgres::Object,
    digests: impl IntoIterator<Item = &'a Sha256Hex>,
) -> Result<BTreeMap<String, u64>, StorageError> {
    let digests: Vec<&str> = digests.into_iter().map(Sha256Hex::as_str).collect();
    if digests.is_empty() {
        return Ok(BTreeMap::new());
    }
    let statement = client
        .prepare_cached("SELECT sha256, size FROM media WHERE sha256 = ANY($1::text[])")
        .await?;
    let mut sizes = BTreeMap::new();
    for row in client.query(&statement, &[&digests]).await? {
        let sha256: String = row.try_get(0)?;
        let size = from_sql_integer(row.try_get(1)?, "media size")?;
        sizes.insert(sha256, size);
    }
    Ok(sizes)
}

/// A media map with the size of each file's blob; a file whose blob is gone is left out.
pub(super) fn with_sizes(
    digests: BTreeMap<String, Sha256Hex>,
    sizes: &BTreeMap<String, u64>,
) -> BTreeMap<String, MediaEntry> {
    digests
        .into_iter()
        .filter_map(|(file, sha256)| {
            let size = *sizes.get(sha256.as_str())?;
            Some((file, MediaEntry { sha256, size }))
        })
        .collect()
}

/// Every version of the document `name` in `table`, newest first, without its text.
pub(super) async fn summaries(
    client: &deadpool_postgres::Object,
    table: Versioned,
    name: &str,
) -> Result<Vec<crate::storage::console::VersionSummary>, StorageError> {
    let rows = client
        .query(
            &format!(
                "SELECT version, file_name, created_at, octet_length(source)::bigint
                 FROM {} WHERE name = $1 ORDER BY version DESC",
                table.table()
            ),
            &[&name],
        )
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(crate::storage::console::VersionSummary {
                version: from_sql_integer(row.try_get(0)?, table.what())?,
                file_name: row.try_get(1)?,
                created_at: row.try_get(2)?,
                bytes: from_sql_integer(row.try_get(3)?, "document size")?,
            })
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::storage::campaigns::CampaignStore;
    use crate::storage::playlists::{
        NewPlaylistVersion, PlaylistInsert, PlaylistQuota, PlaylistStore,
    };
    use crate::storage::postgres::PostgresStore;

    /// The URL of a fresh schema on the server that `VITRINE_TEST_POSTGRES` names (these tests
    /// are ignored unless run on purpose; `cargo xtask test` does, on its private server).
    pub(in crate::storage::postgres) async fn scratch_database() -> String {
        let url = std::env::var("VITRINE_TEST_POSTGRES")
            .ok()
            .filter(|url| !url.is_empty())
            .expect("VITRINE_TEST_POSTGRES names a PostgreSQL server (cargo xtask postgres)");
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).expect("randomness");
        let schema = format!("test_{}", hex::encode(suffix));
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("the test server");
        let connection = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("a schema");
        drop(client);
        let _ = connection.await;
        super::super::url_with_schema(&url, &schema)
    }

    const CAMPAIGN: &str = "version: 1\nname: c\ntargets: { all: true }\nfrom: 2026-01-01\n\
                            loop_slots: 1\nfill:\n  - text: { text: Hi, duration: 5s }\n";

    #[tokio::test]
    #[ignore = "needs PostgreSQL: cargo xtask test runs it on its private server"]
    async fn concurrent_pushes_of_one_name_take_every_version_once() {
        let database = scratch_database().await;
        let store = PostgresStore::open(&database).expect("the store");
        let campaign = vitrine_core::parse_campaign("c.yaml", CAMPAIGN)
            .expect("a campaign")
            .value;
        let compiled = serde_json::to_string(&campaign).expect("JSON");
        let pushes = (0..24).map(|_| {
            let store = store.clone();
            let compiled = compiled.clone();
            tokio::spawn(async move {
                store
                    .insert_campaign(
                        "c".into(),
                        "c.yaml".into(),
                        "source".into(),
                        BTreeMap::new(),
                        compiled,
                    )
                    .await
            })
        });
        let mut versions = Vec::new();
        for push in pushes.collect::<Vec<_>>() {
            versions.push(push.await.expect("a push").expect("stored"));
        }
        versions.sort_unstable();
        assert_eq!(versions, (1..=24).collect::<Vec<u64>>());
        let latest = store.latest_campaigns().await.expect("campaigns");
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0].version, 24);
        let detail = store
            .campaign_detail("c".into())
            .await
            .expect("a read")
            .expect("the campaign");
        assert_eq!(detail.version, 24);
        assert_eq!(detail.versions.len(), 24);
        assert!(
            store
                .campaign_detail("other".into())
                .await
                .expect("a read")
                .is_none()
        );

        // A second scheduler on the same database: its own pool, no shared lock.
        let other = PostgresStore::open(&database).expect("a second store");
        let pushes = (0..12).map(|push| {
            let store = if push % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            tokio::spawn(async move {
                store
                    .insert_playlist(NewPlaylistVersion {
                        name: "lobby".into(),
                        file_name: "lobby.yaml".into(),
                        source: format!("push {push}"),
                        includes: BTreeMap::new(),
                        compiled: "{}".into(),
                        media: BTreeMap::new(),
                        owner_stores: Some(vec![format!("store-{push}")]),
                        // Half the pushes take the quota's path (a transaction under the store's
                        // lock), so both ways of taking a number race each other.
                        quota: (push % 4 < 2).then(|| PlaylistQuota {
                            stores: vec![format!("store-{push}")],
                            adds: 1,
                            bytes: u64::MAX,
                        }),
                    })
                    .await
            })
        });
        let mut owners = Vec::new();
        for push in pushes.collect::<Vec<_>>() {
            match push.await.expect("a push").expect("stored") {
                PlaylistInsert::Stored(version) => owners.push(version),
                refused => panic!("an unlimited quota refused a push: {refused:?}"),
            }
        }
        owners.sort_unstable();
        assert_eq!(owners, (1..=12).collect::<Vec<u64>>());
        let client = store.client().await.expect("a connection");
        let distinct: i64 = client
            .query_one(
                "SELECT COUNT(DISTINCT owner_stores) FROM playlists WHERE name = 'lobby'",
                &[],
            )
            .await
            .expect("owners")
            .get(0);
        assert_eq!(distinct, 1, "every version repeats the first one's owner");
        let latest = store
            .latest_playlist("lobby".into())
            .await
            .expect("a read")
            .expect("the playlist");
        assert_eq!(latest.version, 12);
        assert_eq!(latest.compiled.as_deref(), Some("{}"));
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: cargo xtask test runs it on its private server"]
    async fn media_of_a_version_carries_the_sizes_of_blobs_still_held() {
        let database = scratch_database().await;
        let store = PostgresStore::open(&database).expect("the store");
        let held = Sha256Hex::of_bytes(b"held");
        let gone = Sha256Hex::of_bytes(b"gone");
        let client = store.client().await.expect("a connection");
        client
            .execute(
                "INSERT INTO media (sha256, size) VALUES ($1, 4)",
                &[&held.as_str()],
            )
            .await
            .expect("a blob");
        let media = BTreeMap::from([
            ("a.png".to_owned(), held.clone()),
            ("b.png".to_owned(), gone),
        ]);
        let includes = BTreeMap::from([("part.yaml".to_owned(), "items: []".to_owned())]);
        store
            .insert_playlist(NewPlaylistVersion {
                name: "p".into(),
                file_name: "p.yaml".into(),
                source: "source".into(),
                includes: includes.clone(),
                compiled: "{}".into(),
                media,
                owner_stores: None,
                quota: None,
            })
            .await
            .expect("stored");
        let latest = store
            .latest_playlist("p".into())
            .await
            .expect("a read")
            .expect("the playlist");
        assert_eq!(latest.version, 1);
        assert_eq!(latest.includes, includes);
        assert_eq!(
            latest.media,
            BTreeMap::from([(
                "a.png".to_owned(),
                MediaEntry {
                    sha256: held,
                    size: 4
                }
            )])
        );
        assert!(
            store
                .latest_playlist("q".into())
                .await
                .expect("a read")
                .is_none()
        );
    }
}
