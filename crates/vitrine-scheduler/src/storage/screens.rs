//! Screens: registering one, resolving a device token to it, the audiences of pushed events, and
//! each screen's newest heartbeat.

use super::StorageError;

/// A registered screen, as a device token resolves to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screen {
    pub name: String,
    pub playlist: String,
    /// IANA time zone, or empty for the playlist's own.
    pub timezone: String,
}

/// A region, store or tag that an audience names but nothing registered matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnknownTarget {
    Region(String),
    Store(String),
    Tag(String),
}

/// The registered screens and their heartbeats.
#[async_trait::async_trait]
pub trait ScreenStore: Send + Sync {
    /// Registers a screen. Returns false, changing nothing, if the name is taken. A new screen is
    /// announced as [`super::Change::Screen`].
    async fn create_screen(
        &self,
        name: String,
        playlist: String,
        timezone: String,
        token_sha256: String,
    ) -> Result<bool, StorageError>;

    /// Whether a screen of that name is registered (revoked or not).
    async fn screen_exists(&self, name: String) -> Result<bool, StorageError>;

    /// The screens in `region`, in any of `stores`, or carrying any of `tags` (their own or their
    /// store's): the audience of an interrupt, trigger or command, sorted and without repeats. A
    /// name that matches nothing registered is returned as [`UnknownTarget`], so the caller can
    /// say which.
    async fn screens_in(
        &self,
        region: Option<String>,
        stores: Vec<String>,
        tags: Vec<String>,
    ) -> Result<Result<Vec<String>, UnknownTarget>, StorageError>;

    /// Keeps a screen's newest heartbeat, received now, in place of the one before.
    async fn record_heartbeat(
        &self,
        screen: String,
        heartbeat: vitrine_core::Heartbeat,
    ) -> Result<(), StorageError>;

    /// A screen's newest heartbeat and when it came (as [`super::sortable_timestamp`] text), if it
    /// ever sent one.
    async fn heartbeat_of(
        &self,
        screen: String,
    ) -> Result<Option<(String, vitrine_core::Heartbeat)>, StorageError>;

    /// How many registered screens, not revoked, sent a heartbeat at or after `since`.
    async fn screens_heard_since(&self, since: jiff::Timestamp) -> Result<u64, StorageError>;

    /// The version of `screen`'s manifest whose content (the manifest with version 0) hashes to
    /// `content`, at `now`: the one it had if the screen was last given this content, else a new
    /// one above every version the screen was given (see `crate::manifest_versions`). Every
    /// scheduler on the same database gives the same content the same version.
    async fn manifest_version(
        &self,
        screen: String,
        content: vitrine_core::Sha256Hex,
        now: jiff::Timestamp,
    ) -> Result<u64, StorageError>;
}
