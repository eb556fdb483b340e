//! Playlists and the media they name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vitrine_core::{Diagnostics, Sha256Hex};

/// `POST /v1/playlists`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushPlaylist {
    /// The playlist's file name, used only to label diagnostics.
    pub file_name: String,
    /// The YAML text.
    pub source: String,
    /// Each media file the playlist names -> the sha256 of its uploaded bytes.
    #[serde(default)]
    pub media: BTreeMap<String, Sha256Hex>,
    /// Each fragment the playlist includes, path as written -> its YAML text.
    #[serde(default)]
    pub includes: BTreeMap<String, String>,
}

/// The answer to `POST /v1/playlists`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlaylistStored {
    pub name: String,
    pub version: u64,
    /// The push was the same as the latest version (source, includes and media): nothing was
    /// stored, and `version` is that latest one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unchanged: bool,
    /// Problems that do not stop the playlist (same-priority overlaps, dayparts in DST gaps).
    #[serde(default, skip_serializing_if = "Diagnostics::is_empty")]
    pub warnings: Diagnostics,
}

/// The answer to `PUT /v1/media/{sha256}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaStored {
    pub sha256: Sha256Hex,
    pub size: u64,
}
