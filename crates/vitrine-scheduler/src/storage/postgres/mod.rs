//! The storage traits on PostgreSQL, for chains past one machine (`--database postgres://…`).
//! Each part's SQL is in its own file here, beside the SQLite one of the same name; this module
//! holds the connection pool, the schema's migrations, how errors are read, and how changes
//! reach the other schedulers on the same database.
//!
//! **Migrations** are the files in `migrations/postgres/`, applied by refinery when the scheduler
//! opens the database, under an advisory lock so that replicas starting together take turns.
//!
//! **Changes cross replicas** through `LISTEN`/`NOTIFY` on the channel [`CHANNEL`] followed by the
//! schema. A write
//! announces its change locally at once (so this scheduler's caches are stale from its commit) and
//! sends it to the others with `pg_notify`; each scheduler listens on a connection of its own and
//! announces what the others send, ignoring its own. A listener that loses its connection
//! reconnects and announces that everything may have changed, since it may have missed some.

mod access;
mod campaigns;
mod catalog;
mod console;
mod feeds;
mod impressions;
mod media;
mod pairing;
mod playlists;
mod plays;
mod push;
mod quota;
mod replicas;
mod reports;
mod scans;
mod screens;
mod screenshots;
mod tls;
mod versions;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{Change, Changes, PoolStatus, Storage, StorageError};

refinery::embed_migrations!("migrations/postgres");

/// The start of the `NOTIFY` channel that carries committed changes between schedulers; the
/// schema follows it (`vitrine_changes:public`), since a channel spans the whole database and
/// schedulers on other schemas of it hold other models.
pub const CHANNEL: &str = "vitrine_changes";

/// The most connections one scheduler opens. PostgreSQL's own limit (100 by default) is shared by
/// every replica, so N replicas need N × this plus one listener each.
const MAX_CONNECTIONS: usize = 16;

/// How long a request waits for a pooled connection, or for a new one to open, before the
/// scheduler answers 503.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The advisory lock key migrations hold ("vitrine" in ASCII), so that replicas starting at once
/// migrate one after the other.
const MIGRATION_LOCK: i64 = 0x0076_6974_7269_6e65;

/// The longest wait between two attempts to reconnect the change listener.
const LISTEN_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What a tokio-postgres failure means to the caller: a connection that failed, a server shutting
/// down or refusing connections, or a transaction PostgreSQL aborted to resolve a conflict is
/// worth trying again; anything else is the database failing.
impl From<tokio_postgres::Error> for StorageError {
    fn from(error: tokio_postgres::Error) -> Self {
        if is_transient(&error) {
            Self::Unavailable(format!("PostgreSQL: {error}"))
        } else {
            Self::Backend(format!("PostgreSQL: {}", describe(&error)))
        }
    }
}

impl From<deadpool_postgres::PoolError> for StorageError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            other => Self::Unavailable(format!("getting a database connection: {other}")),
        }
    }
}

fn is_transient(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::TOO_MANY_CONNECTIONS,
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                ]
                .contains(code)
        }
        // No SQLSTATE: the connection itself failed (an I/O error or a timeout), unless the error
        // is a value that could not be converted, which tokio-postgres also reports without one.
        None => std::error::Error::source(error)
            .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some()),
    }
}

/// The server's message with its detail, where it gave one (a constraint's name, the value).
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(database) => match database.detail() {
            Some(detail) => format!("{} ({detail})", database.message()),
            None => database.message().to_owned(),
        },
        None => with_causes(error),
    }
}

/// `error` followed by what caused it, down the chain (`error connecting to server: Connection
/// refused (os error 111)`), since tokio-postgres and refinery keep the useful part in the causes.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = inner.source();
    }
    text
}

/// `url` with its connections' `search_path` set to `schema`, so the scheduler's tables live there:
/// several models (test runs, a benchmark's floor) can share one database.
pub fn url_with_schema(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// Whether `error` is a unique or primary-key constraint refusing a duplicate.
pub(crate) fn is_unique_violation(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// The database, shared by all handlers; cloning shares the pool and the change announcements.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    changes: Changes,
    /// This scheduler's mark on the changes it sends, so its listener can skip them.
    origin: u64,
    /// The days (UTC) whose impression partition is known to exist.
    impression_days: std::sync::Arc<Mutex<HashSet<jiff::civil::Date>>>,
}

#[async_trait::async_trait]
impl Storage for PostgresStore {
    fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Whether the database takes a write now: a connection answers and the server is not a
    /// read-only standby.
    async fn probe_writable(&self) -> Result<(), StorageError> {
        let client = self.client().await?;
        let standby: bool = client
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await?
            .get(0);
        if standby {
            return Err(StorageError::Unavailable(
                "PostgreSQL is a read-only standby; point --database at the primary".to_owned(),
            ));
        }
        Ok(())
    }

    /// The deadpool-postgres pool's figures now.
    fn pool_status(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus {
            size: status.size,
            available: status.available,
            waiting: status.waiting,
            max_size: status.max_size,
        }
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`), applies
    /// the migrations it lacks, and starts sending and hearing changes.
    ///
    /// Runs the migrations on a thread of its own, so it may be called from synchronous code inside
    /// or outside a tokio runtime; the pool and the listener need one, and use the caller's.
    pub fn open(url: &str) -> Result<Self, StorageError> {
        let tls::Connection {
            config,
            tls,
            mode,
            checked,
        } = tls::Connection::from_url(url)?;
        if let Some(warning) = tls::warning(mode, checked) {
            tracing::warn!("{warning}");
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StorageError::Backend("PostgreSQL needs a tokio runtime to run in".to_owned())
        })?;
        let migrating = config.clone();
        let migrating_tls = tls.clone();
        let schema = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|error| StorageError::Backend(error.to_string()))?
                        .block_on(migrate(&migrating, migrating_tls))
                })
                .join()
                .unwrap_or_else(|_| {
                    Err(StorageError::Backend(
                        "migrating the database panicked".to_owned(),
                    ))
                })
        })?;

        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(MAX_CONNECTIONS)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECTION_TIMEOUT))
            .create_timeout(Some(CONNECTION_TIMEOUT))
            .recycle_timeout(Some(CONNECTION_TIMEOUT))
            .build()
            .map_err(|error| {
                StorageError::Backend(format!("creating the connection pool: {error}"))
            })?;

        let mut origin = [0u8; 8];
        getrandom::fill(&mut origin)
            .map_err(|error| StorageError::Backend(format!("no randomness: {error}")))?;
        let store = Self {
            pool,
            changes: Changes::default(),
            origin: u64::from_le_bytes(origin),
            impression_days: std::sync::Arc::default(),
        };
        let channel = format!("{CHANNEL}:{schema}");
        let (sender, outgoing) = mpsc::unbounded_channel();
        store.changes.relay_to(sender);
        runtime.spawn(send_changes(
            store.pool.clone(),
            channel.clone(),
            store.origin,
            outgoing,
        ));
        runtime.spawn(hear_changes(
            config,
            tls,
            channel,
            store.origin,
            store.changes.downgrade(),
        ));
        Ok(store)
    }

    /// A pooled connection; waits at most [`CONNECTION_TIMEOUT`].
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        Ok(self.pool.get().await?)
    }
}

/// Applies the migrations the database lacks, holding [`MIGRATION_LOCK`] while it does, and
/// returns the schema they went to.
async fn migrate(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
) -> Result<String, StorageError> {
    let (mut client, connection) = config.connect(tls).await.map_err(|error| {
        let described = describe(&error);
        match tls::hint(&described) {
            Some(hint) => {
                StorageError::Backend(format!("connecting to PostgreSQL: {described}; {hint}"))
            }
            None => StorageError::Unavailable(format!("connecting to PostgreSQL: {described}")),
        }
    })?;
    let connection = tokio::spawn(connection);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let applied = migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|error| {
            StorageError::Backend(format!("migrating the database: {}", with_causes(&error)))
        });
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    let schema: Option<String> = client
        .query_one("SELECT current_schema()", &[])
        .await?
        .get(0);
    drop(client);
    let _ = connection.await;
    applied?;
    schema.ok_or_else(|| {
        StorageError::Backend("no schema is selected; check the URL's search_path".to_owned())
    })
}

/// What one change looks like on the channel: `ORIGIN KIND NAME`, the origin in hex.
fn encode(origin: u64, change: &Change) -> String {
    match change {
        Change::Content => format!("{origin:016x} content"),
        Change::Credentials => format!("{origin:016x} credentials"),
        Change::PushEvents => format!("{origin:016x} push"),
        Change::Playlist(name) => format!("{origin:016x} playlist {name}"),
        Change::Screen(name) => format!("{origin:016x} screen {name}"),
    }
}

/// The origin and change a payload carries; None for a payload this version cannot read, which the
/// listener treats as "everything may have changed".
fn decode(payload: &str) -> Option<(u64, Change)> {
    let (origin, rest) = payload.split_once(' ')?;
    let origin = u64::from_str_radix(origin, 16).ok()?;
    let (kind, name) = rest.split_once(' ').unwrap_or((rest, ""));
    let change = match kind {
        "content" => Change::Content,
        "credentials" => Change::Credentials,
        "push" => Change::PushEvents,
        "playlist" => Change::Playlist(name.to_owned()),
        "screen" => Change::Screen(name.to_owned()),
        _ => return None,
    };
    Some((origin, change))
}

/// Sends this scheduler's changes to the others, in the order they were announced. A change that
/// cannot be sent is logged; the others then see it at their next resync.
async fn send_changes(
    pool: Pool,
    channel: String,
    origin: u64,
    mut outgoing: mpsc::UnboundedReceiver<Change>,
) {
    while let Some(change) = outgoing.recv().await {
        let payload = encode(origin, &change);
        let sent = async {
            let client = pool.get().await.map_err(StorageError::from)?;
            client
                .execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
                .await
                .map_err(StorageError::from)
        }
        .await;
        if let Err(error) = sent {
            tracing::warn!(%error, ?change, "could not tell the other schedulers of a change");
        }
    }
}

/// Listens for the other schedulers' changes and announces them here, for as long as this
/// scheduler's storage lives.
async fn hear_changes(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    channel: String,
    origin: u64,
    changes: super::WeakChanges,
) {
    let mut backoff = Duration::from_millis(100);
    let mut reconnected = false;
    loop {
        match listen_once(
            &config,
            tls.clone(),
            &channel,
            origin,
            &changes,
            reconnected,
        )
        .await
        {
            Listen::StorageGone => return,
            Listen::Lost(error) => {
                tracing::warn!(%error, "lost the PostgreSQL change listener; reconnecting");
            }
        }
        reconnected = true;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(LISTEN_BACKOFF_MAX);
        if changes.upgrade().is_none() {
            return;
        }
    }
}

enum Listen {
    StorageGone,
    Lost(String),
}

async fn listen_once(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
    channel: &str,
    origin: u64,
    changes: &super::WeakChanges,
    reconnected: bool,
) -> Listen {
    let (client, mut connection) = match config.connect(tls).await {
        Ok(pair) => pair,
        Err(error) => return Listen::Lost(describe(&error)),
    };
    let (messages, mut incoming) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut stream =
            futures_util::stream::poll_fn(move |context| connection.poll_message(context));
        while let Some(message) = futures_util::StreamExt::next(&mut stream).await {
            // A failed connection is done: over TLS, a peer gone without `close_notify` answers
            // every later poll with the same error at once, so polling on would spin this worker
            // thread forever (and fill the channel) instead of letting the listener reconnect.
            let failed = message.is_err();
            if messages.send(message).is_err() || failed {
                break;
            }
        }
    });
    let listen = format!("LISTEN \"{}\"", channel.replace('"', "\"\""));
    if let Err(error) = client.batch_execute(&listen).await {
        driver.abort();
        return Listen::Lost(describe(&error));
    }
    if reconnected {
        // Whatever the others sent while this listener was away is lost: assume everything
        // (content and credentials), and look for the push events they recorded.
        match changes.upgrade() {
            Some(changes) => {
                changes.announce_from_elsewhere(Change::Content);
                changes.announce_from_elsewhere(Change::Credentials);
                changes.announce_from_elsewhere(Change::PushEvents);
            }
            None => return Listen::StorageGone,
        }
    }
    loop {
        let Some(message) = incoming.recv().await else {
            return Listen::Lost("the connection closed".to_owned());
        };
        let Some(changes) = changes.upgrade() else {
            driver.abort();
            return Listen::StorageGone;
        };
        match message {
            Ok(tokio_postgres::AsyncMessage::Notification(notification)) => {
                match decode(notification.payload()) {
                    Some((sender, _)) if sender == origin => {}
                    Some((_, change)) => changes.announce_from_elsewhere(change),
                    None => {
                        changes.announce_from_elsewhere(Change::Content);
                        changes.announce_from_elsewhere(Change::Credentials);
                    }
                }
            }
            Ok(_) => {}
            Err(error) => return Listen::Lost(describe(&error)),
        }
    }
}

/// A time as the API has always shown stored times: UTC, milliseconds, `Z`
/// (`2026-03-01T10:00:05.120Z`), as SQLite's `strftime('%Y-%m-%dT%H:%M:%fZ')` writes them.
pub(crate) fn stored_time(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A JSON value as the text a `jsonb` parameter is given as (`$1::text::jsonb`).
pub(crate) fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|error| StorageError::CorruptRow(error.to_string()))
}

/// A `jsonb` column read back as text (`column::text`) parsed into `T`.
pub(crate) fn from_json_text<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, StorageError> {
    serde_json::from_str(text).map_err(|error| StorageError::CorruptRow(format!("{what}: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_through_their_payload() {
        for change in [
            Change::Content,
            Change::Credentials,
            Change::PushEvents,
            Change::Playlist("lobby loop".to_owned()),
            Change::Screen("front-window".to_owned()),
        ] {
            assert_eq!(decode(&encode(42, &change)), Some((42, change)));
        }
        assert_eq!(decode("zz content"), None);
        assert_eq!(decode("000000000000002a reboot"), None);
    }

    #[test]
    fn stored_times_match_sqlite_strftime() {
        let time: Timestamp = "2026-03-01T10:00:05.12Z".parse().expect("valid timestamp");
        assert_eq!(stored_time(time), "2026-03-01T10:00:05.120Z");
        let whole: Timestamp = "2026-03-01T10:00:05Z".parse().expect("valid timestamp");
        assert_eq!(stored_time(whole), "2026-03-01T10:00:05.000Z");
    }
}
