//! Storage: the traits every handler and service reads and writes through, and the one place a
//! committed write says what it changed.
//!
//! Each part of the model has its own trait (screens, playlists, the catalog, campaigns, staff…);
//! [`Storage`] is all of them together, and `AppState` holds one as `Arc<dyn Storage>`.
//! [`sqlite`] implements them on an embedded SQLite file, the default. Nothing above this module
//! names a database type: errors are [`StorageError`], which says whether trying again may help.
//!
//! **Changes are announced by the write that made them.** A storage method that commits something
//! screens may see calls [`Changes::announce`] after the commit, and only there: it moves the content
//! generation on (so cached manifests and tokens are stale from that instant) and tells the push
//! fan-out, which rebuilds the manifests of the screens concerned and sends `manifest-changed`.

pub mod catalog;
pub mod feeds;
pub mod sqlite;

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::cache::Generation;

pub use catalog::CatalogStore;
pub use feeds::FeedStore;

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
}

/// How many announced changes the fan-out may fall behind by before it skips to "everything
/// changed" (see [`Changes::subscribe`]).
const CHANGE_BACKLOG: usize = 1024;

/// The announcements of committed writes. Cloning shares them.
#[derive(Clone, Debug)]
pub struct Changes {
    generation: Arc<Generation>,
    sender: broadcast::Sender<Change>,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            generation: Arc::default(),
            sender: broadcast::channel(CHANGE_BACKLOG).0,
        }
    }
}

impl Changes {
    /// Says that a write which committed changed `change`. Call it after the commit, never before:
    /// a cached value computed from the old content must already be stale when it is stored.
    pub fn announce(&self, change: Change) {
        self.generation.bump();
        // No receiver (a scheduler with no push fan-out, as in some tests) is not an error.
        let _ = self.sender.send(change);
    }

    /// The content generation: it moves on at every announced change.
    pub fn generation(&self) -> u64 {
        self.generation.current()
    }

    /// Every change announced from now on. A receiver that falls more than [`CHANGE_BACKLOG`]
    /// behind gets `Lagged` and should treat it as [`Change::Content`].
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.sender.subscribe()
    }
}

/// Everything the scheduler stores, behind one object. Each part's trait adds itself here.
#[async_trait::async_trait]
pub trait Storage:
    // One bound a line: each part's trait is a line of its own.
    CatalogStore
    + FeedStore
    + Send
    + Sync
    + 'static
{
    /// The announcements of this storage's committed writes.
    fn changes(&self) -> &Changes;

    /// Checks that a write can be committed now (for the readiness probe and systemd's watchdog).
    async fn probe_writable(&self) -> Result<(), StorageError>;
}
