//! The storage traits on an embedded SQLite file, the scheduler's default database. Each part's
//! SQL is in its own file here (`screens.rs`, `playlists.rs`…); this module holds the connection
//! pool, how a connection is set up, and the conversions shared by all of them.
//!
//! Connections come from a deadpool-sqlite pool and every query runs inside the pool's `interact`,
//! which moves the closure to tokio's blocking thread pool. That keeps SQLite's blocking calls off the
//! async workers, and, unlike one `Mutex<Connection>`, lets WAL readers (token lookups, manifests) run
//! while a writer holds the write lock. Writers open their transactions with `BEGIN IMMEDIATE`, so
//! concurrent writers queue on `busy_timeout` instead of failing with `SQLITE_BUSY` on upgrade.

use std::path::Path;
use std::time::Duration;

use deadpool_sqlite::{Hook, HookError, Runtime};
use rusqlite::Connection;
use rusqlite_migration::Migrations;

use super::{Changes, PoolStatus, Storage, StorageError};
pub(crate) use super::{from_sql_integer, to_sql_integer};

mod access;
mod campaigns;
mod catalog;
mod console;
mod feeds;
mod impressions;
mod media;
mod migrations;
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
mod versions;

pub(crate) use versions::{Versioned, newest_only, next_version};

/// How long a connection waits for another writer before giving up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most connections the pool opens. Readers beyond this wait for a free connection; SQLite
/// serialises writers anyway, so more would only add file handles.
const MAX_CONNECTIONS: usize = 8;

/// How much of the database file connections read through a memory map.
const MMAP_BYTES: i64 = 1 << 30;

/// The log's length (pages of 4 KiB) at which a commit copies it into the database itself, when
/// housekeeping has not: about 200 MB.
const WAL_BACKSTOP_PAGES: i64 = 50_000;

/// The size the log file is cut back to once it has been copied.
const WAL_KEPT_BYTES: i64 = 64 << 20;

pub(crate) use migrations::MIGRATIONS;

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

/// The database, shared by all handlers; cloning shares the pool and the change announcements.
#[derive(Clone)]
pub struct SqliteStore {
    pool: deadpool_sqlite::Pool,
    changes: Changes,
    /// Each screen's manifest version, kept in memory: one process owns an SQLite file, and
    /// numbering from the clock keeps versions growing across its restarts.
    manifest_versions: std::sync::Arc<crate::manifest_versions::ManifestVersions>,
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

    /// A passive checkpoint: what the log holds is copied into the database file, without
    /// waiting for readers or blocking the writer. Cheap when nothing was written since the last.
    async fn maintain(&self) -> Result<(), StorageError> {
        self.interact(|connection| {
            connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    /// The deadpool-sqlite pool's figures now.
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
            manifest_versions: std::sync::Arc::default(),
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
    // Pages are read through a memory map of the file (the operating system's page cache, shared
    // by every connection of the pool) rather than copied in by a read call each: a pooled
    // connection whose own cache is cold, or was emptied by another's write, no longer pays a
    // system call per page. SQLite falls back to reads past the map's size.
    connection.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    // The log is copied into the database file by the scheduler's housekeeping (`maintain`,
    // several times a second) rather than by whichever commit crosses SQLite's default 1000
    // pages: that commit, a player's proof of play or heartbeat, waited for the copy and its
    // sync. The high threshold stays as a backstop for a process without housekeeping (tests,
    // tools), and the log file is cut back after a burst.
    connection.pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_PAGES)?;
    connection.pragma_update(None, "journal_size_limit", WAL_KEPT_BYTES)?;
    Ok(())
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

    /// A commit stays in the log (no commit copies it), and housekeeping copies it into the
    /// database file: a copy of the file alone, without its log, then holds the row.
    #[tokio::test]
    async fn housekeeping_copies_the_log_into_the_database_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("hq.sqlite3");
        let store = SqliteStore::open(&path).unwrap();
        let file_alone_holds_the_screen = || {
            let copy = folder.path().join("copy.sqlite3");
            std::fs::copy(&path, &copy).unwrap();
            let connection = Connection::open(&copy).unwrap();
            let found: i64 = connection
                .query_row(
                    "SELECT COUNT(*) FROM screens WHERE name = 'door'",
                    [],
                    |row| row.get(0),
                )
                .unwrap();
            std::fs::remove_file(&copy).unwrap();
            found == 1
        };
        store
            .interact(|connection| {
                connection.execute(
                    "INSERT INTO screens (name, token_sha256, playlist)
                     VALUES ('door', 'x', 'lobby')",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(!file_alone_holds_the_screen(), "a commit copied the log");
        store.maintain().await.unwrap();
        assert!(file_alone_holds_the_screen());
    }
}
