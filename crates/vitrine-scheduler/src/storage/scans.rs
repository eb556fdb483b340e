//! Hits of the QR codes screens show, and the per-screen keys those codes are signed with.

use jiff::Timestamp;
use vitrine_core::qr_token::PlayToken;

use super::StorageError;

/// The most hits stored for one play's code. A real play is seen by a handful of phones; past
/// this, repeated hits are replays and only cost storage. They are still redirected.
pub const MAX_HITS_PER_TOKEN: i64 = 50;

/// The most shopper devices counted for one play's code. A play is on screen for seconds: more
/// phones than this scanning one play is not a crowd but a replay with made-up browsers.
pub const MAX_UNIQUE_SCANS_PER_TOKEN: i64 = 20;

/// One hit of a QR code, as stored.
pub struct ScanRecord {
    pub token: String,
    pub play: PlayToken,
    pub campaign: String,
    pub scanned_at: Timestamp,
    pub user_agent: String,
    /// Who scanned: the phone's address and browser, hashed with a secret of the server (see
    /// `crate::qr`), so the stored value names no one.
    pub device: String,
}

/// QR scans and the screen keys their codes are checked against. Nothing here changes a manifest.
#[async_trait::async_trait]
pub trait ScanStore: Send + Sync {
    /// Stores a hit: a device's first hit of a code as a unique scan while the code has fewer
    /// than [`MAX_UNIQUE_SCANS_PER_TOKEN`] of them, a repeated one while the code has fewer than
    /// [`MAX_HITS_PER_TOKEN`] hits. Says whether it was stored.
    async fn record_scan(&self, scan: ScanRecord) -> Result<bool, StorageError>;

    /// A screen's QR key (the hex sha256 of its device token) and when it was revoked, if it was;
    /// `None` when there is no such screen.
    async fn screen_key(
        &self,
        screen: String,
    ) -> Result<Option<(String, Option<Timestamp>)>, StorageError>;
}
