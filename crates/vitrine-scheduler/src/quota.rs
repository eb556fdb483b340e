//! What store staff may store: per-store quotas on media bytes and on stored playlist versions, and
//! the collection of media no playlist or campaign version names after a grace period. HQ (the
//! admin token) has no quota; a store's figures count what its staff uploaded and pushed.

use std::time::Duration;

use axum::http::StatusCode;
use jiff::Timestamp;

use crate::AppState;
use crate::auth::Manager;
use crate::error::ApiError;
use crate::storage::StorageError;
use crate::storage::quota::QuotaCheck;
use vitrine_core::Sha256Hex;

/// The limits; see the scheduler's `--store-media-quota`, `--store-playlist-quota` and
/// `--unused-media-grace`.
#[derive(Clone, Debug)]
pub struct Quotas {
    /// Bytes of media one store's staff may keep stored.
    pub store_media_bytes: u64,
    /// Bytes of playlist versions (source and fragments) one store's playlists may hold.
    pub store_playlist_bytes: u64,
    /// How long an uploaded file that no playlist or campaign version names is kept.
    pub unused_media_grace: Duration,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            store_media_bytes: 10 * 1024 * 1024 * 1024,
            store_playlist_bytes: 64 * 1024 * 1024,
            unused_media_grace: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// What a store's quota counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    Media,
    PlaylistVersions,
}

impl Stored {
    fn describe(self) -> &'static str {
        match self {
            Self::Media => "media",
            Self::PlaylistVersions => "playlist versions",
        }
    }

    /// The scheduler flag that sets the quota.
    fn flag(self) -> &'static str {
        match self {
            Self::Media => "--store-media-quota",
            Self::PlaylistVersions => "--store-playlist-quota",
        }
    }
}

/// Refuses staff `size` more bytes of `stored` when that would take one of their stores past its
/// quota, naming the store, the figures and the flag that raises it. HQ has no quota.
pub async fn ensure_room(
    state: &AppState,
    manager: &Manager,
    stored: Stored,
    size: u64,
) -> Result<(), ApiError> {
    let Some(stores) = manager.stores() else {
        return Ok(());
    };
    let quota = match stored {
        Stored::Media => state.quotas().store_media_bytes,
        Stored::PlaylistVersions => state.quotas().store_playlist_bytes,
    };
    for store in stores {
        let used = match stored {
            Stored::Media => state.storage().store_media_bytes(store.clone()).await?,
            Stored::PlaylistVersions => state.storage().store_playlist_bytes(store.clone()).await?,
        };
        if used.saturating_add(size) > quota {
            return Err(over_quota(store, used, size, quota, stored));
        }
    }
    Ok(())
}

/// Records an upload of `size` bytes, already kept in the media store, and charges it to the
/// stores of the staff who sent it, in one storage transaction that refuses it when it would take
/// one of them past its media quota (so uploads racing each other cannot pass it together); HQ's
/// uploads are recorded without a charge. Returns whether the index did not hold the file before.
pub async fn record_media(
    state: &AppState,
    manager: &Manager,
    sha256: &Sha256Hex,
    size: u64,
) -> Result<bool, ApiError> {
    let Some(stores) = manager.stores() else {
        return Ok(state.storage().record_media(sha256.clone(), size).await?);
    };
    let quota = state.quotas().store_media_bytes;
    match state
        .storage()
        .record_media_within_quota(sha256.clone(), size, stores.to_vec(), quota)
        .await?
    {
        QuotaCheck::Recorded { new } => Ok(new),
        QuotaCheck::Over { store, used } => {
            Err(over_quota(&store, used, size, quota, Stored::Media))
        }
    }
}

/// The refusal of `size` more bytes of `stored` for `store`, which holds `used` of its `quota`.
pub(crate) fn over_quota(
    store: &str,
    used: u64,
    size: u64,
    quota: u64,
    stored: Stored,
) -> ApiError {
    ApiError::new(
        StatusCode::INSUFFICIENT_STORAGE,
        "quota_exceeded",
        format!(
            "store `{store}` holds {used} bytes of {what} and this adds {size}, over its quota of \
             {quota} bytes; nothing was stored. Files no playlist uses are removed after a grace \
             period; HQ can raise the quota with `vitrine-scheduler {flag}`",
            what = stored.describe(),
            flag = stored.flag(),
        ),
    )
}

/// Removes media that no playlist or campaign version names (nor a product as its image) and that
/// is older than the grace period: the index row first, then the blob in the media store. Returns
/// how many files went.
pub async fn collect_unused_media(state: &AppState, now: Timestamp) -> Result<usize, StorageError> {
    let grace = jiff::SignedDuration::try_from(state.quotas().unused_media_grace)
        .unwrap_or(jiff::SignedDuration::MAX);
    let cutoff = now.checked_sub(grace).unwrap_or(Timestamp::MIN);
    let removed = state.storage().forget_unused_media(cutoff).await?;
    for sha256 in &removed {
        // Unindexed already, so never served again; a blob left behind only takes space.
        if let Err(error) = state.blobs().remove(sha256).await {
            tracing::warn!(%sha256, %error, "could not remove unused media");
        }
    }
    if !removed.is_empty() {
        tracing::info!(count = removed.len(), "removed media no version names");
    }
    Ok(removed.len())
}

/// Every hour, for the life of the process, collects unused media.
pub(crate) fn collect_unused_media_hourly(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(60 * 60));
        loop {
            interval.tick().await;
            if let Err(error) = collect_unused_media(&state, Timestamp::now()).await {
                tracing::warn!(%error, "collecting unused media failed; trying again in an hour");
            }
        }
    });
}
