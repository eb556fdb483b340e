//! Each screen's manifest: built from the newest version of its playlist and HQ's layer
//! (campaigns, offers), numbered, serialised and signed once per content generation, and cached
//! until something it is built from changes. `GET /v1/manifest` serves it; the push channel,
//! media access checks and reports read it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::HeaderValue;
use vitrine_core::playlist::{Playlist, parse_playlist_with_includes};
use vitrine_core::{Manifest, Sha256Hex};

use crate::AppState;
use crate::error::ApiError;
use crate::reads::Reads;
use crate::storage::impressions::ServedOffer;
use crate::storage::playlists::StoredPlaylist;
use crate::storage::screens::Screen;

/// A screen's manifest as served: the JSON body, its ETag (quoted, as the header carries it) and
/// signature, made once per build, and the manifest itself, so that readers need not parse the
/// body again.
#[derive(Clone, Debug)]
pub struct ManifestBody {
    /// The JSON bytes served; every response shares them rather than copying.
    pub body: Bytes,
    /// The sha256 of `body`, quoted: `"…"`.
    pub etag: String,
    /// `etag` as a header value.
    pub(crate) etag_header: HeaderValue,
    /// The hex ed25519 signature of `body` (see [`crate::signing`]) as a header value.
    pub(crate) signature_header: HeaderValue,
    /// What `body` holds.
    pub manifest: Arc<Manifest>,
}

impl ManifestBody {
    /// Signs `body`, the JSON of `manifest`, names it by its hash and makes its headers.
    fn new(
        manifest: Manifest,
        body: Vec<u8>,
        signing_key: &ed25519_dalek::SigningKey,
    ) -> Result<Self, ApiError> {
        let etag = format!("\"{}\"", Sha256Hex::of_bytes(&body));
        let signature = crate::signing::sign_hex(signing_key, &body);
        Ok(Self {
            etag_header: HeaderValue::from_str(&etag)
                .map_err(|error| ApiError::internal("making an ETag", error))?,
            signature_header: HeaderValue::from_str(&signature)
                .map_err(|error| ApiError::internal("making a signature header", error))?,
            body: body.into(),
            etag,
            manifest: Arc::new(manifest),
        })
    }
}

/// Builds `screen`'s manifest as `GET /v1/manifest` serves it, or None while its playlist has not
/// been pushed. The push channel ([`crate::events`]) builds through [`manifest_from`] too, to learn
/// each connected screen's ETag after a change, so there is one definition of what a screen's
/// manifest is.
pub async fn manifest_of(
    state: &AppState,
    screen: &Screen,
) -> Result<Option<Arc<ManifestBody>>, ApiError> {
    manifest_from(state, &Reads::new(state), screen).await
}

/// [`manifest_of`], reading what many screens share through `reads`, one round's reads.
pub async fn manifest_from(
    state: &AppState,
    reads: &Reads,
    screen: &Screen,
) -> Result<Option<Arc<ManifestBody>>, ApiError> {
    // The generation is the one `reads` was made at, before it read anything, so a write that
    // lands during the build makes what is built stale at once (see `cache` and `reads`).
    let generation = reads.generation();
    if let Some(cached) = state.manifest_cache().get(&screen.name, generation) {
        return Ok(Some(cached));
    }
    let Some(built) = build_manifest(state, reads, screen).await? else {
        return Ok(None);
    };
    let built = Arc::new(built);
    state
        .manifest_cache()
        .put(&screen.name, generation, built.clone());
    Ok(Some(built))
}

/// A stored playlist as validated. The stored source passed validation when it was pushed, so
/// failing now means this build reads playlists differently from the one that stored it; that is
/// ours to fix, not the screen's.
pub(crate) fn stored_playlist(stored: &StoredPlaylist) -> Result<Playlist, ApiError> {
    match &stored.compiled {
        Some(compiled) => serde_json::from_str(compiled)
            .map_err(|error| ApiError::internal("reading a stored playlist", error)),
        None => {
            let resolve = |path: &str| {
                stored
                    .includes
                    .get(path)
                    .cloned()
                    .ok_or_else(|| format!("`{path}` was not stored"))
            };
            parse_playlist_with_includes(&stored.file_name, &stored.source, &resolve)
                .map(|parsed| parsed.value)
                .map_err(|diagnostics| {
                    ApiError::internal("re-reading a stored playlist", diagnostics)
                })
        }
    }
}

/// Builds a screen's manifest from the store: its playlist, then HQ's layer.
async fn build_manifest(
    state: &AppState,
    reads: &Reads,
    screen: &Screen,
) -> Result<Option<ManifestBody>, ApiError> {
    let Some(source) = reads.playlist(state, &screen.playlist).await? else {
        return Ok(None);
    };
    let (stored, playlist) = (&source.stored, &source.playlist);
    // The screen's own zone wins; a playlist written for one store may name its zone.
    let timezone = if !screen.timezone.is_empty() {
        screen.timezone.clone()
    } else {
        playlist
            .timezone
            .clone()
            .unwrap_or_else(|| "UTC".to_owned())
    };
    let mut manifest = Manifest::build(&screen.name, &timezone, playlist, stored.version, |file| {
        stored.media.get(file).cloned()
    })
    .map_err(|missing| {
        ApiError::internal(
            "building a manifest",
            format!(
                "playlist `{}` version {} names media that is not stored: {}",
                screen.playlist, stored.version, missing.0
            ),
        )
    })?;
    // HQ's layer: the store's zone and currency, campaigns in their priority bands, offer slots.
    let stocks =
        crate::campaigns::apply(state, reads, screen, &mut manifest, jiff::Timestamp::now())
            .await?;
    // What proof of play from this screen may claim from now on.
    let offered = manifest
        .offers
        .values()
        .flat_map(|rotation| rotation.entries.iter().chain(&rotation.fallback))
        .map(|entry| {
            let campaign = entry.campaign.clone().unwrap_or_default();
            ServedOffer {
                stock: stocks
                    .get(&(campaign.clone(), entry.offer_id.clone()))
                    .copied(),
                campaign,
                offer: entry.offer_id.clone(),
                arm: entry.arm.to_string(),
            }
        })
        .collect::<Vec<_>>();
    if !offered.is_empty() {
        state
            .storage()
            .record_served_offers(screen.name.clone(), manifest.playlist_version, offered)
            .await?;
    }
    // The version names the content: hashed with the version at 0, and numbered so that it only
    // grows for the screen (see `manifest_versions`).
    let content = serde_json::to_vec(&manifest)
        .map_err(|error| ApiError::internal("serialising a manifest", error))?;
    manifest.version = state
        .storage()
        .manifest_version(
            screen.name.clone(),
            Sha256Hex::of_bytes(&content),
            jiff::Timestamp::now(),
        )
        .await?;
    let body = serde_json::to_vec(&manifest)
        .map_err(|error| ApiError::internal("serialising a manifest", error))?;
    state.metrics().manifest_built();
    ManifestBody::new(manifest, body, state.signing_key()).map(Some)
}
