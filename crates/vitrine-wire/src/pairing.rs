//! Pairing: a player asks for a code, polls until someone at HQ confirms it, and gets its token.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The answer to `POST /v1/pairings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairingStarted {
    /// What the screen shows and a person types.
    pub code: String,
    /// Only the player knows it; it polls with `Authorization: Bearer SECRET`.
    pub secret: String,
    pub expires_at: Timestamp,
    pub poll_interval_s: u64,
}

/// The answer to a poll, `GET /v1/pairings/{code}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PairingState {
    Waiting {
        expires_at: Timestamp,
    },
    Paired {
        screen: String,
        token: String,
        /// The hex ed25519 key manifests are signed with.
        server_key: String,
    },
}

/// `POST /v1/pairings/{code}`: confirms the code a screen shows, which registers the screen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfirmPairing {
    /// The screen's name; by default `STORE-CODE` in lower case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The store the screen is in. Staff must name one of theirs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// The playlist it plays; by default the one named `default`. It must have been pushed,
    /// unless `allow_unpushed` is set (the admin only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playlist: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unpushed: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// The answer to `POST /v1/pairings/{code}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairingConfirmed {
    pub code: String,
    pub screen: String,
    pub playlist: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// As in `POST /v1/screens`: set when the playlist has not been pushed yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}
