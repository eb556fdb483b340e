//! What the web console reads and keeps: its sign-in sessions, the fleet a page at a time, the
//! screens whose heartbeats just came, the versions of playlists and campaigns, and the media
//! library.

use std::collections::BTreeMap;

use jiff::Timestamp;
use vitrine_core::Sha256Hex;

use super::StorageError;
use super::playlists::StoredPlaylist;

/// A console session, found by the sha256 of its cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSession {
    /// The sha256 of the token signed in with: the admin token's, or a staff token's. The session
    /// acts as that token does, and ends with it when it is revoked.
    pub token_sha256: String,
    /// The session's CSRF token, which every form and POST must carry.
    pub csrf: String,
    pub expires_at: Timestamp,
}

/// How a fleet page is chosen. Every filter given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetQuery {
    /// The stores the caller may see; `None` for HQ, who sees every screen. A staff member's
    /// stores, so a page never holds another store's screen.
    pub visible_stores: Option<Vec<String>>,
    /// Exactly this screen.
    pub screen: Option<String>,
    pub store: Option<String>,
    pub region: Option<String>,
    /// The screen's own tag or its store's.
    pub tag: Option<String>,
    pub state: Option<FleetState>,
    /// Part of the screen's name, its store's code or its playlist's name.
    pub search: Option<String>,
    /// A screen heard from at or after this is online.
    pub online_since: Timestamp,
    /// Rows to skip, and the most to return.
    pub offset: u64,
    pub limit: u64,
}

/// A fleet filter on how a screen is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetState {
    /// Heard from recently.
    Online,
    /// Heard from once, not recently.
    Offline,
    /// Never heard from.
    Silent,
    /// Reports a manifest older than the newest it was given: a push that has not arrived.
    Behind,
    /// Its last heartbeat carried alerts.
    Alerting,
}

impl FleetState {
    pub const ALL: [Self; 5] = [
        Self::Online,
        Self::Offline,
        Self::Silent,
        Self::Behind,
        Self::Alerting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Offline => "offline",
            Self::Silent => "silent",
            Self::Behind => "behind",
            Self::Alerting => "alerting",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

/// One screen as the fleet page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetRow {
    pub name: String,
    pub playlist: String,
    pub store: Option<String>,
    pub region: String,
    /// The screen's own tags and its store's, sorted, without repeats.
    pub tags: Vec<String>,
    pub revoked: bool,
    /// When its newest heartbeat came, and what it said.
    pub heard: Option<(Timestamp, vitrine_core::Heartbeat)>,
    /// The newest manifest version HQ has built for it.
    pub newest_manifest: Option<u64>,
    /// Its playlist's newest version.
    pub newest_playlist: Option<u64>,
}

/// One page of the fleet, and how many screens match the query in all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FleetPage {
    pub rows: Vec<FleetRow>,
    pub total: u64,
}

/// A playlist as the content page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaylistSummary {
    pub name: String,
    pub newest: u64,
    pub updated_at: Timestamp,
    /// The stores of the staff member who first pushed it; `None` for HQ's.
    pub owner_stores: Option<Vec<String>>,
    /// How many screens are assigned it.
    pub screens: u64,
}

/// One version of a playlist, without its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionSummary {
    pub version: u64,
    pub file_name: String,
    pub created_at: Timestamp,
    /// The YAML's length in bytes.
    pub bytes: u64,
}

/// A campaign as the campaigns page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignRow {
    pub name: String,
    pub newest: u64,
    pub updated_at: Timestamp,
}

/// One version of a campaign, with its text and the media map it was pushed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignText {
    pub version: u64,
    pub file_name: String,
    pub source: String,
    /// File name as written -> its blob.
    pub media: BTreeMap<String, Sha256Hex>,
    pub created_at: Timestamp,
}

/// What names a media file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MediaUser {
    Playlist,
    Campaign,
}

/// A playlist or campaign version that names a media file, and under which file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaUse {
    pub user: MediaUser,
    pub name: String,
    pub version: u64,
    pub file_name: String,
}

/// A stored media file, as the media library lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaRow {
    pub sha256: Sha256Hex,
    pub size: u64,
    pub created_at: Timestamp,
    /// Every playlist and campaign version that names it: by kind, name, then newest version
    /// first.
    pub uses: Vec<MediaUse>,
}

/// Media rows (newest upload first) with the uses read beside them, each put under its file.
pub(crate) fn media_rows(
    files: Vec<(Sha256Hex, u64, Timestamp)>,
    uses: Vec<(String, MediaUse)>,
) -> Vec<MediaRow> {
    let mut by_digest: BTreeMap<String, Vec<MediaUse>> = BTreeMap::new();
    for (sha256, media_use) in uses {
        by_digest.entry(sha256).or_default().push(media_use);
    }
    let mut rows: Vec<MediaRow> = files
        .into_iter()
        .map(|(sha256, size, created_at)| {
            let mut uses = by_digest.remove(sha256.as_str()).unwrap_or_default();
            uses.sort_by(|a, b| {
                (a.user, &a.name, std::cmp::Reverse(a.version), &a.file_name).cmp(&(
                    b.user,
                    &b.name,
                    std::cmp::Reverse(b.version),
                    &b.file_name,
                ))
            });
            MediaRow {
                sha256,
                size,
                created_at,
                uses,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| a.sha256.cmp(&b.sha256))
    });
    rows
}

/// The console's sessions and reads. Nothing here changes what a screen is given.
#[async_trait::async_trait]
pub trait ConsoleStore: Send + Sync {
    /// Keeps a new session under the sha256 of its cookie.
    async fn create_session(
        &self,
        id_sha256: String,
        session: ConsoleSession,
    ) -> Result<(), StorageError>;

    /// The session under that hash, unless it has expired by `now` (an expired one is deleted).
    async fn session(
        &self,
        id_sha256: String,
        now: Timestamp,
    ) -> Result<Option<ConsoleSession>, StorageError>;

    /// Ends one session (signing out). Says whether there was one.
    async fn end_session(&self, id_sha256: String) -> Result<bool, StorageError>;

    /// Ends every session, everywhere; returns how many there were.
    async fn end_all_sessions(&self) -> Result<u64, StorageError>;

    /// One page of the screens that match `query`, by name.
    async fn fleet_page(&self, query: FleetQuery) -> Result<FleetPage, StorageError>;

    /// The screens heard from after `since` (at most `limit`, oldest first), with when, among
    /// `visible_stores` (every screen for `None`).
    async fn heard_since(
        &self,
        since: Timestamp,
        visible_stores: Option<Vec<String>>,
        limit: u64,
    ) -> Result<Vec<(String, Timestamp)>, StorageError>;

    /// Every playlist, by name.
    async fn playlist_summaries(&self) -> Result<Vec<PlaylistSummary>, StorageError>;

    /// Every version of one playlist, newest first.
    async fn playlist_versions(&self, name: String) -> Result<Vec<VersionSummary>, StorageError>;

    /// One version of a playlist, with its text, includes and media.
    async fn playlist_version(
        &self,
        name: String,
        version: u64,
    ) -> Result<Option<StoredPlaylist>, StorageError>;

    /// Every campaign, by name, with its newest version.
    async fn campaign_summaries(&self) -> Result<Vec<CampaignRow>, StorageError>;

    /// Every version of one campaign, newest first.
    async fn campaign_versions(&self, name: String) -> Result<Vec<VersionSummary>, StorageError>;

    /// One version of a campaign, with its text and media map.
    async fn campaign_version(
        &self,
        name: String,
        version: u64,
    ) -> Result<Option<CampaignText>, StorageError>;

    /// Every stored media file, newest first, with the playlist and campaign versions that name
    /// it.
    async fn media_library(&self) -> Result<Vec<MediaRow>, StorageError>;
}

/// `text` with the wildcards of `LIKE` (and `ILIKE`) and their escape character escaped by `\`,
/// so that a search matches what was typed.
pub(crate) fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}
