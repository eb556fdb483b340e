//! Storage: the traits every handler and service reads and writes through, and the one place a
//! committed write says what it changed.
//!
//! Each part of the model has its own trait (screens, playlists, the catalog, campaigns, staff…);
//! [`Storage`] is all of them together, and `AppState` holds one as `Arc<dyn Storage>`.
//! [`sqlite`] implements them on an embedded SQLite file, the default; [`postgres`] on a PostgreSQL
//! database shared by any number of schedulers. Nothing above this module
//! names a database type: errors are [`StorageError`], which says whether trying again may help.
//!
//! **Changes are announced by the write that made them.** A storage method that commits something
//! screens may see calls [`Changes::announce`] after the commit, and only there: it moves the content
//! generation on (so cached manifests are stale from that instant), and the callers generation
//! when tokens, staff or a screen changed (cached token lookups), and tells the push fan-out,
//! which rebuilds the manifests of the screens concerned and sends `manifest-changed`.

pub mod access;
pub mod campaigns;
pub mod catalog;
pub mod console;
pub mod feeds;
pub mod impressions;
pub mod media;
pub mod pairing;
pub mod playlists;
pub mod plays;
pub mod postgres;
pub mod push;
pub mod quota;
pub mod replicas;
pub mod reports;
pub mod scans;
pub mod screens;
pub mod screenshots;
pub mod sqlite;

use std::sync::{Arc, OnceLock, Weak};

use jiff::Timestamp;
use tokio::sync::{broadcast, mpsc};

use crate::cache::Generation;

pub use access::AccessStore;
pub use campaigns::CampaignStore;
pub use catalog::CatalogStore;
pub use console::ConsoleStore;
pub use feeds::FeedStore;
pub use impressions::ImpressionStore;
pub use media::MediaStore;
pub use pairing::PairingStore;
pub use playlists::PlaylistStore;
pub use plays::PlayStore;
pub use push::PushStore;
pub use quota::QuotaStore;
pub use replicas::ReplicaStore;
pub use reports::ReportStore;
pub use scans::ScanStore;
pub use screens::ScreenStore;
pub use screenshots::ScreenshotStore;

/// Why a storage call failed, whatever the database. None of these is the client's fault.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database cannot be reached or is busy past its timeout; the same call may succeed later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A stored value cannot be read back as what it should be.
    #[error("a stored row is malformed: {0}")]
    CorruptRow(String),
    /// A number does not fit the database's integer type.
    #[error("value out of the database's integer range: {0}")]
    OutOfRange(String),
    /// Any other failure the database reported.
    #[error("the database failed: {0}")]
    Backend(String),
}

/// What a committed write changed, as far as screens are concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Something any screen's manifest may be built from: campaigns, offers, stores, products,
    /// inventory, feeds and their images.
    Content,
    /// A new version of the playlist of that name: the screens that show it.
    Playlist(String),
    /// One screen's own record: its playlist, time zone or store.
    Screen(String),
    /// Tokens, staff or pairings: cached credentials are stale, no manifest changed.
    Credentials,
    /// Another scheduler recorded push events (see [`push`]); nothing stored for manifests or
    /// credentials changed, so the content generation stays.
    PushEvents,
}

/// How many announced changes the fan-out may fall behind by before it skips to "everything
/// changed" (see [`Changes::subscribe`]).
const CHANGE_BACKLOG: usize = 1024;

/// The announcements of committed writes. Cloning shares them.
#[derive(Clone, Debug)]
pub struct Changes {
    inner: Arc<ChangesInner>,
}

#[derive(Debug)]
struct ChangesInner {
    generation: Generation,
    /// Moves on only with what a token resolves to: tokens, staff, and screens' own records.
    callers: Generation,
    sender: broadcast::Sender<Change>,
    /// Where changes go to reach other schedulers on the same database, for a backend that has
    /// them (PostgreSQL's `NOTIFY`); unset for SQLite.
    relay: OnceLock<mpsc::UnboundedSender<Change>>,
}

/// [`Changes`] that does not keep the storage alive: for a task that should end with it.
#[derive(Clone, Debug)]
pub struct WeakChanges(Weak<ChangesInner>);

impl WeakChanges {
    /// The changes, while anything else still holds them.
    pub fn upgrade(&self) -> Option<Changes> {
        self.0.upgrade().map(|inner| Changes { inner })
    }
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            inner: Arc::new(ChangesInner {
                generation: Generation::default(),
                callers: Generation::default(),
                sender: broadcast::channel(CHANGE_BACKLOG).0,
                relay: OnceLock::new(),
            }),
        }
    }
}

impl Changes {
    /// Says that a write which committed changed `change`. Call it after the commit, never before:
    /// a cached value computed from the old content must already be stale when it is stored.
    pub fn announce(&self, change: Change) {
        if let Some(relay) = self.inner.relay.get() {
            // The relay ends only with the storage itself.
            let _ = relay.send(change.clone());
        }
        self.announce_from_elsewhere(change);
    }

    /// Says that another scheduler on the same database committed `change`: as
    /// [`announce`](Self::announce), without sending it back to the others.
    pub fn announce_from_elsewhere(&self, change: Change) {
        match change {
            Change::PushEvents => {}
            Change::Content | Change::Playlist(_) => self.inner.generation.bump(),
            Change::Screen(_) | Change::Credentials => {
                self.inner.callers.bump();
                self.inner.generation.bump();
            }
        }
        // No receiver (a scheduler with no push fan-out, as in some tests) is not an error.
        let _ = self.inner.sender.send(change);
    }

    /// Tells only the other schedulers of `change`, for what this one has already acted on
    /// itself (the push events it sent).
    pub fn relay(&self, change: Change) {
        if let Some(relay) = self.inner.relay.get() {
            let _ = relay.send(change);
        }
    }

    /// Sends every change announced from now on to `relay` as well, for the other schedulers.
    /// Only the first relay set is kept.
    pub fn relay_to(&self, relay: mpsc::UnboundedSender<Change>) {
        let _ = self.inner.relay.set(relay);
    }

    /// A handle that does not keep these changes alive.
    pub fn downgrade(&self) -> WeakChanges {
        WeakChanges(Arc::downgrade(&self.inner))
    }

    /// The content generation: it moves on at every announced change but push events.
    pub fn generation(&self) -> u64 {
        self.inner.generation.current()
    }

    /// The callers generation: it moves on when what a token resolves to may have changed
    /// ([`Change::Credentials`], [`Change::Screen`]), and not when content does, so a push to
    /// thousands of screens does not send each one's next request to the database for its token.
    pub fn callers_generation(&self) -> u64 {
        self.inner.callers.current()
    }

    /// Every change announced from now on. A receiver that falls more than `CHANGE_BACKLOG` changes
    /// behind gets `Lagged` and should treat it as [`Change::Content`].
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.sender.subscribe()
    }
}

/// How busy the database's connection pool is, for the `db_pool_*` metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open now, idle or in use.
    pub size: usize,
    /// Idle connections ready for a request.
    pub available: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
    /// The most connections the pool opens.
    pub max_size: usize,
}

/// Everything the scheduler stores, behind one object.
#[async_trait::async_trait]
pub trait Storage:
    Send
    + Sync
    + 'static
    // Each part's trait, one a line.
    + AccessStore
    + CampaignStore
    + CatalogStore
    + ConsoleStore
    + FeedStore
    + ImpressionStore
    + MediaStore
    + PairingStore
    + PlaylistStore
    + PlayStore
    + PushStore
    + QuotaStore
    + ReplicaStore
    + ReportStore
    + ScanStore
    + ScreenStore
    + ScreenshotStore
{
    /// The announcements of this storage's committed writes.
    fn changes(&self) -> &Changes;

    /// Checks that a write can be committed now (for the readiness probe and systemd's watchdog).
    async fn probe_writable(&self) -> Result<(), StorageError>;

    /// The connection pool's size, idle connections and waiting requests now.
    fn pool_status(&self) -> PoolStatus;

    /// Housekeeping the engine needs from time to time, off the requests' path. SQLite copies its
    /// write-ahead log into the database file here (see `sqlite::configure_connection`); an
    /// engine that does this itself has nothing to do.
    async fn maintain(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// `value` as the databases' signed 64-bit integer.
pub(crate) fn to_sql_integer(value: u64, what: &str) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::OutOfRange(format!("{what} = {value}")))
}

/// A stored signed 64-bit integer that must not be negative.
pub(crate) fn from_sql_integer(value: i64, what: &str) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::CorruptRow(format!("{what} = {value}")))
}

/// A UTC timestamp as RFC 3339 with exactly nine fractional digits: fixed width, so that ordering the
/// text orders the instants (jiff's default drops trailing zeros, and `…:05Z` sorts after `…:05.1Z`).
pub fn sortable_timestamp(timestamp: Timestamp) -> String {
    format!("{timestamp:.9}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_token_staff_and_screen_writes_move_the_callers_generation() {
        let changes = Changes::default();
        let moved = |change: Change| {
            let before = (changes.generation(), changes.callers_generation());
            changes.announce(change);
            let after = (changes.generation(), changes.callers_generation());
            (after.0 > before.0, after.1 > before.1)
        };
        assert_eq!(moved(Change::Playlist("lobby".into())), (true, false));
        assert_eq!(moved(Change::Content), (true, false));
        assert_eq!(moved(Change::Screen("lobby-1".into())), (true, true));
        assert_eq!(moved(Change::Credentials), (true, true));
        assert_eq!(moved(Change::PushEvents), (false, false));
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
