//! The scheduler's SQLite database: screens, pushed playlist versions, the media index and
//! impressions, behind async methods that run their SQL on a blocking thread.
//!
//! Connections come from a deadpool-sqlite pool and every query runs inside the pool's `interact`,
//! which moves the closure to tokio's blocking thread pool. That keeps SQLite's blocking calls off the
//! async workers, and, unlike one `Mutex<Connection>`, lets WAL readers (token lookups, manifests) run
//! while a writer holds the write lock. Writers open their transactions with `BEGIN IMMEDIATE`, so
//! concurrent writers queue on `busy_timeout` instead of failing with `SQLITE_BUSY` on upgrade.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use deadpool_sqlite::{Hook, HookError, Runtime};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use rusqlite_migration::Migrations;
use uuid::Uuid;
use vitrine_core::{Impression, MediaEntry, OfferPlay, Sha256Hex};

use super::{Changes, Storage, StorageError};

mod catalog;
mod feeds;
mod migrations;
mod versions;

pub(crate) use versions::{Versioned, newest_only, next_version};

/// How long a connection waits for another writer before giving up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most connections the pool opens. Readers beyond this wait for a free connection; SQLite
/// serialises writers anyway, so more would only add file handles.
const MAX_CONNECTIONS: usize = 8;

pub(crate) use migrations::MIGRATIONS;

/// An offer a screen's manifest carried.
#[derive(Debug)]
pub struct ServedOffer {
    /// Empty for an offer of no campaign.
    pub campaign: String,
    pub offer: String,
    pub arm: String,
}

/// A playlist version to store.
#[derive(Debug)]
pub struct NewPlaylistVersion {
    pub name: String,
    pub file_name: String,
    pub source: String,
    pub includes: BTreeMap<String, String>,
    /// The validated playlist as JSON.
    pub compiled: String,
    pub media: BTreeMap<String, Sha256Hex>,
    /// The pushing staff member's stores, or None when HQ pushes. Counts only for version 1.
    pub owner_stores: Option<Vec<String>>,
}

/// One impression as its columns, made before the blocking closure so conversion errors need no
/// connection.
struct ImpressionRow {
    id: String,
    sequence: i64,
    screen: String,
    playlist: String,
    playlist_version: i64,
    zone: String,
    item_id: String,
    media_sha256: Option<String>,
    scheduled_start: String,
    started_at: String,
    ended_at: String,
    duration_ms: i64,
    completed: bool,
    clock: &'static str,
    offer: Option<(Option<String>, String, String)>,
}

/// Moves `screen`'s highest gap-free sequence number forward over what is now held, stores it and
/// returns it. Numbers start at 1; a number held twice (a player whose database was made anew
/// before it learnt where to continue) counts once.
fn advance_sequence(connection: &Connection, screen: &str) -> Result<u64, StorageError> {
    let mut highest: i64 = connection
        .query_row(
            "SELECT highest FROM impression_sequences WHERE screen = ?1",
            [screen],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let before = highest;
    {
        let mut following = connection.prepare_cached(
            "SELECT DISTINCT sequence FROM impressions
             WHERE screen = ?1 AND sequence > ?2 ORDER BY sequence LIMIT 1000",
        )?;
        loop {
            let sequences = following
                .query_map(params![screen, highest], |row| row.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let start = highest;
            for sequence in &sequences {
                if *sequence != highest + 1 {
                    break;
                }
                highest = *sequence;
            }
            if highest == start || sequences.len() < 1000 {
                break;
            }
        }
    }
    if highest != before {
        connection.execute(
            "INSERT INTO impression_sequences (screen, highest) VALUES (?1, ?2)
             ON CONFLICT (screen) DO UPDATE SET highest = excluded.highest",
            params![screen, highest],
        )?;
    }
    from_sql_integer(highest, "sequence")
}

/// What a rusqlite call's failure means to the caller: a busy or locked database is worth trying
/// again, anything else is the database failing.
impl From<rusqlite::Error> for StorageError {
    fn from(error: rusqlite::Error) -> Self {
        match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Self::Unavailable(format!("SQLite: {error}"))
            }
            _ => Self::Backend(format!("SQLite: {error}")),
        }
    }
}

impl From<rusqlite_migration::Error> for StorageError {
    fn from(error: rusqlite_migration::Error) -> Self {
        Self::Backend(format!("migrating the database: {error}"))
    }
}

impl From<deadpool_sqlite::PoolError> for StorageError {
    fn from(error: deadpool_sqlite::PoolError) -> Self {
        Self::Unavailable(format!("getting a database connection: {error}"))
    }
}

/// A registered screen, as a device token resolves to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screen {
    pub name: String,
    pub playlist: String,
    /// IANA time zone, or empty for the playlist's own.
    pub timezone: String,
}

/// The newest pushed version of a playlist, with the size of every media file its map names.
#[derive(Clone, Debug)]
pub struct StoredPlaylist {
    pub version: u64,
    pub file_name: String,
    pub source: String,
    /// Included fragments, path as written -> YAML text.
    pub includes: BTreeMap<String, String>,
    /// The validated playlist as JSON; absent for rows stored before it was kept.
    pub compiled: Option<String>,
    /// File name as written in the playlist -> its blob. Files whose blob is missing are left out.
    pub media: BTreeMap<String, MediaEntry>,
}

/// The database, shared by all handlers; cloning shares the pool and the change announcements.
#[derive(Clone)]
pub struct SqliteStore {
    pool: deadpool_sqlite::Pool,
    changes: Changes,
}

#[async_trait::async_trait]
impl Storage for SqliteStore {
    fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Whether the database answers a write now: takes the write lock (`BEGIN IMMEDIATE`) and
    /// rolls back, changing nothing. Waits up to the busy timeout for a writer holding it; an
    /// error means the scheduler could not store a heartbeat or proof of play either.
    async fn probe_writable(&self) -> Result<(), StorageError> {
        self.interact(|connection| {
            connection.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
            Ok(())
        })
        .await
    }
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`. Migration runs here, once, on
    /// a connection of its own, so that no request ever sees a half-migrated schema.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let mut connection = Connection::open(path)?;
        configure_connection(&mut connection)?;
        Migrations::from_slice(MIGRATIONS).to_latest(&mut connection)?;
        drop(connection);

        // Building a pool's configuration cannot fail (its error type is `Infallible`).
        let Ok(builder) = deadpool_sqlite::Config::new(path).builder(Runtime::Tokio1);
        let pool = builder
            .max_size(MAX_CONNECTIONS)
            .post_create(Hook::async_fn(|connection, _metrics| {
                Box::pin(async move {
                    connection
                        .interact(configure_connection)
                        .await
                        .map_err(|error| HookError::message(error.to_string()))?
                        .map_err(HookError::Backend)
                })
            }))
            .build()
            .map_err(|error| {
                StorageError::Backend(format!("creating the connection pool: {error}"))
            })?;
        Ok(Self {
            pool,
            changes: Changes::default(),
        })
    }

    /// Runs `work` with a pooled connection on a blocking thread.
    pub(crate) async fn interact<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        F: FnOnce(&mut Connection) -> Result<T, StorageError> + Send + 'static,
        T: Send + 'static,
    {
        let connection = self.pool.get().await?;
        connection.interact(work).await.map_err(|error| {
            StorageError::Backend(format!("database call did not finish: {error}"))
        })?
    }

    /// Registers a screen. Returns false, changing nothing, if the name is taken.
    pub async fn create_screen(
        &self,
        name: String,
        playlist: String,
        timezone: String,
        token_sha256: String,
    ) -> Result<bool, StorageError> {
        self.interact(move |connection| {
            let inserted = connection.execute(
                "INSERT INTO screens (name, token_sha256, playlist, timezone) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO NOTHING",
                params![name, token_sha256, playlist, timezone],
            )?;
            Ok(inserted == 1)
        })
        .await
    }

    /// The screen whose device token hashes to `token_sha256`, if any.
    pub async fn screen_by_token_sha256(
        &self,
        token_sha256: String,
    ) -> Result<Option<Screen>, StorageError> {
        self.interact(move |connection| {
            Ok(connection
                .query_row(
                    "SELECT name, playlist, timezone FROM screens
                     WHERE token_sha256 = ?1 AND revoked_at IS NULL",
                    [token_sha256],
                    |row| {
                        Ok(Screen {
                            name: row.get(0)?,
                            playlist: row.get(1)?,
                            timezone: row.get(2)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    pub async fn screen_exists(&self, name: String) -> Result<bool, StorageError> {
        self.interact(move |connection| {
            Ok(connection
                .query_row("SELECT 1 FROM screens WHERE name = ?1", [name], |_| Ok(()))
                .optional()?
                .is_some())
        })
        .await
    }

    /// Whether the media index holds this blob.
    pub async fn media_exists(&self, sha256: Sha256Hex) -> Result<bool, StorageError> {
        self.interact(move |connection| {
            Ok(connection
                .query_row(
                    "SELECT 1 FROM media WHERE sha256 = ?1",
                    [sha256.as_str()],
                    |_| Ok(()),
                )
                .optional()?
                .is_some())
        })
        .await
    }

    /// Records a blob that is already on disk. Returns whether it was new to the index.
    pub async fn record_media(&self, sha256: Sha256Hex, size: u64) -> Result<bool, StorageError> {
        let size = to_sql_integer(size, "media size")?;
        self.interact(move |connection| {
            let inserted = connection.execute(
                "INSERT INTO media (sha256, size) VALUES (?1, ?2) ON CONFLICT (sha256) DO NOTHING",
                params![sha256.as_str(), size],
            )?;
            Ok(inserted == 1)
        })
        .await
    }

    /// Which of `digests` the media index holds.
    pub async fn stored_media(
        &self,
        digests: Vec<Sha256Hex>,
    ) -> Result<HashSet<Sha256Hex>, StorageError> {
        self.interact(move |connection| {
            let mut statement = connection.prepare("SELECT 1 FROM media WHERE sha256 = ?1")?;
            let mut stored = HashSet::new();
            for digest in digests {
                if statement.exists([digest.as_str()])? {
                    stored.insert(digest);
                }
            }
            Ok(stored)
        })
        .await
    }

    /// Stores a validated playlist as the next version of its name and returns that version.
    pub async fn insert_playlist(&self, new: NewPlaylistVersion) -> Result<u64, StorageError> {
        let NewPlaylistVersion {
            name,
            file_name,
            source,
            includes,
            compiled,
            media,
            owner_stores,
        } = new;
        let media_json = serde_json::to_string(&media)
            .map_err(|error| StorageError::CorruptRow(error.to_string()))?;
        let includes_json = serde_json::to_string(&includes)
            .map_err(|error| StorageError::CorruptRow(error.to_string()))?;
        let owner_json = owner_stores
            .map(|stores| serde_json::to_string(&stores))
            .transpose()
            .map_err(|error| StorageError::CorruptRow(error.to_string()))?;
        self.interact(move |connection| {
            // Immediate, so that two pushes of one name cannot both read the same max version.
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version = versions::next_version(&transaction, Versioned::Playlists, &name)?;
            // The first version's owner stays the playlist's owner; later versions repeat it.
            let owner_json: Option<String> = if version == 1 {
                owner_json
            } else {
                transaction.query_row(
                    "SELECT owner_stores FROM playlists WHERE name = ?1 AND version = 1",
                    [&name],
                    |row| row.get(0),
                )?
            };
            transaction.execute(
                "INSERT INTO playlists (name, version, file_name, source, media, includes, compiled,
                    owner_stores)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    name,
                    version,
                    file_name,
                    source,
                    media_json,
                    includes_json,
                    compiled,
                    owner_json
                ],
            )?;
            transaction.commit()?;
            from_sql_integer(version, "playlist version")
        })
        .await
    }

    /// The newest version of the playlist called `name`, or None if it was never pushed.
    pub async fn latest_playlist(
        &self,
        name: String,
    ) -> Result<Option<StoredPlaylist>, StorageError> {
        self.interact(move |connection| {
            let row = connection
                .query_row(
                    "SELECT version, file_name, source, media, includes, compiled FROM playlists
                     WHERE name = ?1 ORDER BY version DESC LIMIT 1",
                    [&name],
                    |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, String>(4)?,
                            row.get::<_, Option<String>>(5)?,
                        ))
                    },
                )
                .optional()?;
            let Some((version, file_name, source, media_json, includes_json, compiled)) = row
            else {
                return Ok(None);
            };
            let includes: BTreeMap<String, String> =
                serde_json::from_str(&includes_json).map_err(|error| {
                    StorageError::CorruptRow(format!("includes of playlist `{name}`: {error}"))
                })?;
            let digests: BTreeMap<String, Sha256Hex> =
                serde_json::from_str(&media_json).map_err(|error| {
                    StorageError::CorruptRow(format!("media map of playlist `{name}`: {error}"))
                })?;
            let mut size_of = connection.prepare("SELECT size FROM media WHERE sha256 = ?1")?;
            let mut media = BTreeMap::new();
            for (file, sha256) in digests {
                let size: Option<i64> = size_of
                    .query_row([sha256.as_str()], |row| row.get(0))
                    .optional()?;
                if let Some(size) = size {
                    let size = from_sql_integer(size, "media size")?;
                    media.insert(file, MediaEntry { sha256, size });
                }
            }
            Ok(Some(StoredPlaylist {
                version: from_sql_integer(version, "playlist version")?,
                file_name,
                source,
                includes,
                compiled,
                media,
            }))
        })
        .await
    }

    /// Records the offers a manifest built for `screen` carries with `playlist_version`.
    pub async fn record_served_offers(
        &self,
        screen: String,
        playlist_version: u64,
        offers: Vec<ServedOffer>,
    ) -> Result<(), StorageError> {
        let playlist_version = to_sql_integer(playlist_version, "playlist_version")?;
        self.interact(move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = transaction.prepare_cached(
                    "INSERT INTO served_offers (screen, playlist_version, campaign, offer, arm)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                )?;
                for offer in offers {
                    insert.execute(params![
                        screen,
                        playlist_version,
                        offer.campaign,
                        offer.offer,
                        offer.arm
                    ])?;
                }
            }
            transaction.commit()?;
            Ok(())
        })
        .await
    }

    /// Stores a batch of `screen`'s impressions in one transaction, skipping ids already held, and
    /// returns how many were new and the highest sequence number up to which the screen's plays
    /// are all held. Either the whole batch is stored or none of it.
    pub async fn insert_impressions(
        &self,
        screen: String,
        impressions: Vec<Impression>,
    ) -> Result<(u64, u64), StorageError> {
        let rows = impressions
            .into_iter()
            .map(|impression| {
                let duration_ms = impression.duration_ms();
                Ok(ImpressionRow {
                    id: impression.id.hyphenated().to_string(),
                    sequence: to_sql_integer(impression.sequence, "sequence")?,
                    screen: impression.screen,
                    playlist: impression.playlist,
                    playlist_version: to_sql_integer(
                        impression.playlist_version,
                        "playlist_version",
                    )?,
                    zone: impression.zone,
                    item_id: impression.item_id,
                    media_sha256: impression.media_sha256.map(String::from),
                    scheduled_start: sortable_timestamp(impression.scheduled_start),
                    started_at: sortable_timestamp(impression.started_at),
                    ended_at: sortable_timestamp(impression.ended_at),
                    duration_ms: to_sql_integer(duration_ms, "duration_ms")?,
                    completed: impression.completed,
                    clock: impression.clock.as_str(),
                    offer: impression
                        .offer
                        .map(|offer| (offer.campaign, offer.offer_id, offer.arm.to_string())),
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.interact(move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut inserted = 0;
            {
                let mut insert = transaction.prepare(
                    "INSERT INTO impressions
                        (id, screen, playlist, playlist_version, item_id, media_sha256,
                         started_at, duration_ms, offer_campaign, offer_id, offer_arm,
                         sequence, zone, scheduled_start, ended_at, completed, clock,
                         offer_refused)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,
                             ?12, ?13, ?14, ?15, ?16, ?17, ?18)
                     ON CONFLICT (id) DO NOTHING",
                )?;
                let mut served = transaction.prepare(
                    "SELECT EXISTS (SELECT 1 FROM served_offers
                     WHERE screen = ?1 AND playlist_version = ?2 AND campaign = ?3
                       AND offer = ?4 AND arm = ?5)",
                )?;
                for row in rows {
                    let (campaign, offer_id, arm) = match row.offer {
                        Some((campaign, offer_id, arm)) => (campaign, Some(offer_id), Some(arm)),
                        None => (None, None, None),
                    };
                    // Proof of play may claim only an offer its screen's manifest carried with
                    // that playlist version. Anything else is kept as a play, its offer marked
                    // refused and left out of every offer figure.
                    let offer_refused = match (&offer_id, &arm) {
                        (Some(offer_id), Some(arm)) => {
                            let campaign_name = campaign.as_deref().unwrap_or("");
                            let was_served: bool = served.query_row(
                                params![
                                    row.screen,
                                    row.playlist_version,
                                    campaign_name,
                                    offer_id,
                                    arm
                                ],
                                |found| found.get(0),
                            )?;
                            (!was_served).then(|| {
                                format!(
                                    "offer `{offer_id}` of campaign `{campaign_name}` ({arm} \
                                     arm) was never in screen `{}`'s manifest for playlist \
                                     version {}",
                                    row.screen, row.playlist_version
                                )
                            })
                        }
                        _ => None,
                    };
                    if let Some(reason) = &offer_refused {
                        tracing::warn!(impression = %row.id, "{reason}; its offer is not counted");
                    }
                    inserted += insert.execute(params![
                        row.id,
                        row.screen,
                        row.playlist,
                        row.playlist_version,
                        row.item_id,
                        row.media_sha256,
                        row.started_at,
                        row.duration_ms,
                        campaign,
                        offer_id,
                        arm,
                        row.sequence,
                        row.zone,
                        row.scheduled_start,
                        row.ended_at,
                        row.completed,
                        row.clock,
                        offer_refused,
                    ])? as u64;
                }
            }
            let highest = advance_sequence(&transaction, &screen)?;
            transaction.commit()?;
            Ok((inserted, highest))
        })
        .await
    }

    /// How many registered screens, not revoked, sent a heartbeat at or after `since`.
    pub async fn screens_heard_since(&self, since: jiff::Timestamp) -> Result<u64, StorageError> {
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

    /// The connection pool's size, idle connections and waiting requests now.
    pub fn pool_status(&self) -> deadpool_sqlite::Status {
        self.pool.status()
    }

    /// Keeps a screen's newest heartbeat.
    pub async fn record_heartbeat(
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
    pub async fn heartbeat_of(
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

    /// Every impression of one screen, oldest first.
    pub async fn impressions_of(&self, screen: String) -> Result<Vec<Impression>, StorageError> {
        self.interact(move |connection| {
            let mut statement = connection.prepare(
                "SELECT id, screen, playlist, playlist_version, item_id, media_sha256, started_at,
                        duration_ms, offer_campaign, offer_id, offer_arm, sequence, zone,
                        scheduled_start, ended_at, completed, clock
                 FROM impressions WHERE screen = ?1 ORDER BY started_at, id",
            )?;
            let rows = statement.query_map([screen], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, i64>(7)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, Option<String>>(9)?,
                    row.get::<_, Option<String>>(10)?,
                    (
                        row.get::<_, i64>(11)?,
                        row.get::<_, String>(12)?,
                        row.get::<_, Option<String>>(13)?,
                        row.get::<_, Option<String>>(14)?,
                        row.get::<_, bool>(15)?,
                        row.get::<_, String>(16)?,
                    ),
                ))
            })?;
            let mut impressions = Vec::new();
            for row in rows {
                let (
                    id,
                    screen,
                    playlist,
                    version,
                    item_id,
                    sha256,
                    started_at,
                    duration_ms,
                    offer_campaign,
                    offer_id,
                    offer_arm,
                    (sequence, zone, scheduled_start, ended_at, completed, clock),
                ) = row?;
                let corrupt = |what: &str, error: &dyn std::fmt::Display| {
                    StorageError::CorruptRow(format!("impression {id}: {what}: {error}"))
                };
                let started_at: Timestamp = started_at
                    .parse()
                    .map_err(|error| corrupt("started_at", &error))?;
                // Rows stored before the full record keep their start as the scheduled one and
                // their duration as the end.
                let ended_at = match ended_at {
                    Some(text) => text.parse().map_err(|error| corrupt("ended_at", &error))?,
                    None => started_at
                        .checked_add(jiff::SignedDuration::from_millis(duration_ms))
                        .map_err(|error| corrupt("duration_ms", &error))?,
                };
                impressions.push(Impression {
                    id: Uuid::parse_str(&id).map_err(|error| corrupt("id", &error))?,
                    sequence: from_sql_integer(sequence, "sequence")?,
                    screen,
                    playlist,
                    playlist_version: from_sql_integer(version, "playlist_version")?,
                    zone,
                    item_id,
                    media_sha256: sha256
                        .map(|text| text.parse())
                        .transpose()
                        .map_err(|error| corrupt("media_sha256", &error))?,
                    scheduled_start: match scheduled_start {
                        Some(text) => text
                            .parse()
                            .map_err(|error| corrupt("scheduled_start", &error))?,
                        None => started_at,
                    },
                    started_at,
                    ended_at,
                    completed,
                    clock: clock.parse().map_err(|error| corrupt("clock", &error))?,
                    offer: match (offer_id, offer_arm) {
                        (Some(offer_id), Some(arm)) => Some(OfferPlay {
                            offer_id,
                            campaign: offer_campaign,
                            arm: arm.parse().map_err(|error| corrupt("offer_arm", &error))?,
                        }),
                        _ => None,
                    },
                });
            }
            Ok(impressions)
        })
        .await
    }

    /// The screens in `region`, in any of `stores`, or carrying any of `tags`: the audience of an
    /// interrupt, trigger or command. A name that matches nothing registered is returned as
    /// [`UnknownTarget`], so the caller can say which.
    pub async fn screens_in(
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
}

/// A region, store or tag that an audience names but nothing registered matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnknownTarget {
    Region(String),
    Store(String),
    Tag(String),
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

/// The settings every connection needs; SQLite keeps them per connection, not per file.
fn configure_connection(connection: &mut Connection) -> rusqlite::Result<()> {
    // Set first, so that the journal-mode switch below also waits for a busy database.
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // WAL lets readers run beside the one writer; NORMAL is durable across process crashes and
    // loses at most the last commits on power loss, which a re-push or re-sent batch recovers.
    let journal_mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !journal_mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            journal_mode,
            "SQLite refused WAL mode; readers will block on writers"
        );
    }
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// A UTC timestamp as RFC 3339 with exactly nine fractional digits: fixed width, so that ordering the
/// text orders the instants (jiff's default drops trailing zeros, and `…:05Z` sorts after `…:05.1Z`).
pub fn sortable_timestamp(timestamp: Timestamp) -> String {
    format!("{timestamp:.9}")
}

pub(crate) fn to_sql_integer(value: u64, what: &str) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::OutOfRange(format!("{what} = {value}")))
}

pub(crate) fn from_sql_integer(value: i64, what: &str) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::CorruptRow(format!("{what} = {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        Migrations::from_slice(MIGRATIONS)
            .validate()
            .expect("migrations apply to an empty database");
    }

    #[test]
    fn sortable_timestamps_sort_like_instants() {
        let whole: Timestamp = "2026-03-01T10:00:05Z".parse().expect("valid timestamp");
        let later: Timestamp = "2026-03-01T10:00:05.1Z".parse().expect("valid timestamp");
        assert_eq!(sortable_timestamp(whole), "2026-03-01T10:00:05.000000000Z");
        assert!(sortable_timestamp(whole) < sortable_timestamp(later));
        assert_eq!(
            sortable_timestamp(later)
                .parse::<Timestamp>()
                .expect("round trip"),
            later
        );
    }
}
