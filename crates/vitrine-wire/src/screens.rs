//! Screens: registering one, listing them, its token, its status, and the scheduler's manifest
//! key.

use serde::{Deserialize, Serialize};

/// `POST /v1/screens`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateScreen {
    pub name: String,
    pub playlist: String,
    /// The screen's IANA time zone (`Europe/Paris`); without it its store's, else the playlist's
    /// own, else UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The code of the store it is in (imported with `POST /v1/stores`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Tags that campaigns and offers can target, like `entrance`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Registers the screen even when its playlist has not been pushed yet (HQ pushes it later;
    /// until then the screen shows the splash). The answer then carries a warning. Staff may not:
    /// a playlist that does not exist is no store's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unpushed: bool,
}

/// The answer to `POST /v1/screens`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScreenCreated {
    pub screen: String,
    /// The device token; shown this once, since only its hash is kept.
    pub token: String,
    /// Set when the screen was registered with `allow_unpushed` and its playlist has not been
    /// pushed: what the screen shows until it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The answer to `POST /v1/screens/{name}/rotate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rotated {
    pub screen: String,
    /// The screen's new device token, shown this once; the old one stops working now.
    pub token: String,
}

/// The answer to `POST /v1/screens/{name}/revoke` and `POST /v1/staff/{name}/revoke`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revoked {
    pub name: String,
    pub revoked: bool,
}

/// The answer to `GET /v1/server-key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerKey {
    pub algorithm: String,
    /// 32 bytes of ed25519 public key, in hex: the player's `server_key`.
    pub public_key: String,
}

/// The answer to `GET /v1/screens/{name}/status`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScreenStatus {
    pub screen: String,
    /// When the newest heartbeat came (UTC); absent if the screen never reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<vitrine_core::Heartbeat>,
}

/// A registered screen with where it is, as `GET /v1/screens` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScreenRecord {
    pub name: String,
    /// The playlist it plays.
    pub playlist: String,
    /// The screen's own zone; empty to take its store's (then its playlist's, then UTC).
    pub timezone: String,
    /// The code of the store it is in; `null` when it is in none.
    pub store: Option<String>,
    /// Tags that campaigns and offers can target.
    pub tags: Vec<String>,
    /// When it was registered (UTC).
    pub created_at: String,
}

/// The answer to `GET /v1/screens`: every screen the caller may see, by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScreenList {
    pub screens: Vec<ScreenRecord>,
}

/// The answer to `PUT /v1/screenshot`: what HQ kept as the screen's latest screenshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScreenshotTaken {
    pub screen: String,
    /// When HQ received it; `GET /v1/screens/{name}/screenshot` names the same time in
    /// `X-Vitrine-Taken-At`.
    pub taken_at: jiff::Timestamp,
    pub width: u32,
    pub height: u32,
    /// The JPEG's size in bytes.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_sends_only_what_is_set_and_refuses_unknown_fields() {
        let screen = CreateScreen {
            name: "door".to_owned(),
            playlist: "lobby".to_owned(),
            ..CreateScreen::default()
        };
        let json = serde_json::to_string(&screen).unwrap();
        assert_eq!(json, r#"{"name":"door","playlist":"lobby"}"#);
        assert_eq!(serde_json::from_str::<CreateScreen>(&json).unwrap(), screen);
        assert!(
            serde_json::from_str::<CreateScreen>(r#"{"name":"door","playlist":"lobby","tag":"x"}"#)
                .is_err()
        );
    }

    #[test]
    fn an_answer_reads_fields_it_does_not_know() {
        let created: ScreenCreated =
            serde_json::from_str(r#"{"screen":"door","token":"t","added_later":1}"#).unwrap();
        assert_eq!(created.warning, None);
    }
}
