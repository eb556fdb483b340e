//! The latest screenshot each screen sent (`PUT /v1/screenshot`), kept for the console and
//! `vitrine screens screenshot`. Only the newest one per screen is kept: it answers "what does
//! this screen show now", not "what did it show".

use jiff::Timestamp;

use super::StorageError;

/// One screen's latest screenshot: a JPEG the player encoded, and when HQ received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screenshot {
    pub taken_at: Timestamp,
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

/// Screenshots, one per screen. Nothing here changes a manifest.
#[async_trait::async_trait]
pub trait ScreenshotStore: Send + Sync {
    /// Keeps `screenshot` as `screen`'s latest, replacing the one before.
    async fn record_screenshot(
        &self,
        screen: String,
        screenshot: Screenshot,
    ) -> Result<(), StorageError>;

    /// `screen`'s latest screenshot, if it ever sent one.
    async fn screenshot_of(&self, screen: String) -> Result<Option<Screenshot>, StorageError>;
}
