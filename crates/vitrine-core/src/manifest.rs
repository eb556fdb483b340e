//! The manifest: everything one screen needs to play, as the scheduler serves it at `GET /v1/manifest`.
//! It is self-contained: with it and the media it lists in the cache, a player runs the schedule
//! engine on the validated playlist it carries, in the screen's time zone, with no network and no
//! YAML.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::media::Sha256Hex;
use crate::offer::OfferRotation;
use crate::playlist::{Item, Playlist};
use crate::schedule::Schedule;

/// The manifest format this build writes.
pub const MANIFEST_SCHEMA: u32 = 3;

/// The oldest format this build still reads: format 2 had no [`Manifest::version`] (it reads as 0),
/// and a player upgraded offline must still play the manifest it cached before.
pub const OLDEST_READABLE_SCHEMA: u32 = 2;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: u32,
    /// The screen this manifest was made for. A player refuses a manifest made for another screen,
    /// so a signed manifest cannot be replayed from one screen to the next.
    pub screen: String,
    /// The manifest's version for this screen: the scheduler gives every new content a higher
    /// number than any it served the screen before, so a player refuses an older manifest replayed
    /// to it. Format 2 manifests had none and read as 0.
    #[serde(default)]
    pub version: u64,
    /// The screen's IANA time zone, like `Europe/Paris`: the schedule is evaluated in it.
    pub timezone: String,
    /// The validated playlist, as the scheduler stored it.
    /// Described by `schema/playlist.schema.json`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub playlist: Playlist,
    /// The version the scheduler stored the playlist under.
    pub playlist_version: u64,
    /// Every media file the playlist names, by its name as written, with its digest and size.
    pub media: BTreeMap<String, MediaEntry>,
    /// The offers HQ puts into each offer slot of the playlist, by slot name. A slot missing here
    /// has nothing to show and the player skips it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offers: BTreeMap<String, OfferRotation>,
    /// The store the screen is in: how prices are written on its offer cards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreInfo>,
    /// Where a scanned QR code leads: the player shows `{qr_base_url}/q/{token}`. Without it the
    /// offer cards carry no QR code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_base_url: Option<String>,
}

/// The store a screen is in, as its offer cards need it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreInfo {
    pub code: String,
    /// BCP 47, like `fr-FR`: how prices and dates are written.
    pub locale: String,
    /// ISO 4217, like `EUR`.
    pub currency: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaEntry {
    pub sha256: Sha256Hex,
    pub size: u64,
}

/// Why bytes from the network or the cache are not a manifest this build can play.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not valid JSON for this player: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "the manifest has format {found}, and this player reads formats \
         {OLDEST_READABLE_SCHEMA} to {MANIFEST_SCHEMA}; update the player (or the scheduler) so \
         both speak the same format"
    )]
    Schema { found: u32 },
    #[error(
        "the manifest's time zone `{0}` is unknown here; install or update the `tzdata` package"
    )]
    TimeZone(String),
    #[error("the playlist plays `{0}`, which the manifest lists no digest for")]
    MissingMedia(String),
}

/// Why a player refuses a manifest whose signature verified: it was not made for this screen, or it
/// would take the screen back to older content. Either way the manifest playing now stays.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SuccessionError {
    #[error(
        "refused a manifest made for screen `{found}`: this is screen `{expected}`. A signed \
         manifest of another screen was replayed to it, or the device token belongs to another \
         screen; the current content keeps playing. If this player now is screen `{found}`, set \
         `screen = \"{found}\"` in its config"
    )]
    OtherScreen { expected: String, found: String },
    #[error(
        "refused manifest version {offered}: version {active} plays already, and versions only \
         grow. An old signed manifest was replayed, or the scheduler lost its clock; the current \
         content keeps playing until a newer version arrives"
    )]
    Older { active: u64, offered: u64 },
    #[error(
        "refused manifest version {version}: it differs from the version {version} playing now, \
         and a version names one content; the current content keeps playing"
    )]
    SameVersionOtherContent { version: u64 },
}

/// A media file the playlist names but the caller has no digest for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("media file `{0}` is not known to the scheduler")]
pub struct MissingMedia(pub String);

impl Manifest {
    /// Builds the manifest for `screen` (in `timezone`) from a validated playlist. `media_of` gives
    /// the digest and size of each file the playlist names.
    pub fn build(
        screen: &str,
        timezone: &str,
        playlist: &Playlist,
        playlist_version: u64,
        media_of: impl Fn(&str) -> Option<MediaEntry>,
    ) -> Result<Self, MissingMedia> {
        let mut media = BTreeMap::new();
        for reference in playlist.media() {
            if media.contains_key(&reference.file) {
                continue;
            }
            let entry =
                media_of(&reference.file).ok_or_else(|| MissingMedia(reference.file.clone()))?;
            media.insert(reference.file.clone(), entry);
        }
        Ok(Self {
            schema: MANIFEST_SCHEMA,
            screen: screen.to_owned(),
            version: 0,
            timezone: timezone.to_owned(),
            playlist: playlist.clone(),
            playlist_version,
            media,
            offers: BTreeMap::new(),
            store: None,
            qr_base_url: None,
        })
    }

    /// Reads a manifest as served by `GET /v1/manifest` or kept in the player's cache, and checks
    /// what the player relies on before it may be activated: the format, the time zone, and a
    /// digest for every media file the playlist plays. Never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(bytes)?;
        if !(OLDEST_READABLE_SCHEMA..=MANIFEST_SCHEMA).contains(&manifest.schema) {
            return Err(ManifestError::Schema {
                found: manifest.schema,
            });
        }
        if jiff::tz::TimeZone::get(&manifest.timezone).is_err() {
            return Err(ManifestError::TimeZone(manifest.timezone));
        }
        if let Some(missing) = manifest
            .playlist
            .media()
            .find(|reference| !manifest.media.contains_key(&reference.file))
        {
            return Err(ManifestError::MissingMedia(missing.file.clone()));
        }
        Ok(manifest)
    }

    /// Whether this manifest may replace `active` on the screen called `screen` (the name the
    /// player was configured or paired with; without one, the active manifest's screen). It must
    /// name the same screen and a version no lower than the active one; the same version is
    /// accepted only with the same content (a refetch).
    pub fn may_follow(
        &self,
        screen: Option<&str>,
        active: Option<&Manifest>,
    ) -> Result<(), SuccessionError> {
        if let Some(expected) = screen.or(active.map(|active| active.screen.as_str()))
            && self.screen != expected
        {
            return Err(SuccessionError::OtherScreen {
                expected: expected.to_owned(),
                found: self.screen.clone(),
            });
        }
        let Some(active) = active else {
            return Ok(());
        };
        if self.version < active.version {
            return Err(SuccessionError::Older {
                active: active.version,
                offered: self.version,
            });
        }
        if self.version == active.version && self != active {
            return Err(SuccessionError::SameVersionOtherContent {
                version: self.version,
            });
        }
        Ok(())
    }

    /// Every distinct media file, once per digest (two names for the same bytes download once),
    /// ordered by digest.
    pub fn media_entries(&self) -> Vec<&MediaEntry> {
        let mut entries: Vec<&MediaEntry> = self.media.values().collect();
        entries.sort_by(|left, right| left.sha256.cmp(&right.sha256));
        entries.dedup_by(|left, right| left.sha256 == right.sha256);
        entries
    }

    /// The digest of the file an item plays; `None` for items without media (text, clock, offer).
    pub fn sha256_of(&self, item: &Item) -> Option<&Sha256Hex> {
        self.sha256_of_file(item.file()?)
    }

    /// The digest of a media file by its name as written in the playlist.
    pub fn sha256_of_file(&self, file: &str) -> Option<&Sha256Hex> {
        self.media.get(file).map(|entry| &entry.sha256)
    }

    /// A media file as the staff wrote it, for errors and alerts: its name and the items that play
    /// it, like `` `bomb.png` (item `promo-3`) ``, rather than the digest only the player knows it
    /// by. Digests this manifest does not name read as `media <sha256>`.
    pub fn media_label(&self, sha256: &Sha256Hex) -> String {
        let files: Vec<&str> = self
            .media
            .iter()
            .filter(|(_, entry)| entry.sha256 == *sha256)
            .map(|(file, _)| file.as_str())
            .collect();
        if files.is_empty() {
            return format!("media {sha256}");
        }
        let mut items: Vec<&str> = self
            .playlist
            .items()
            .filter(|item| item.file().is_some_and(|file| files.contains(&file)))
            .map(|item| item.id.as_str())
            .collect();
        items.dedup();
        let quoted = |names: &[&str]| {
            names
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match items.len() {
            0 => quoted(&files),
            1 => format!("{} (item {})", quoted(&files), quoted(&items)),
            _ => format!("{} (items {})", quoted(&files), quoted(&items)),
        }
    }

    /// The schedule engine for this manifest, in its time zone. Fails when the zone is unknown to
    /// the time zone database.
    pub fn schedule(&self) -> Result<Schedule, jiff::Error> {
        let time_zone = jiff::tz::TimeZone::get(&self.timezone)?;
        Ok(Schedule::new(self.playlist.clone(), time_zone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playlist::parse_playlist;

    fn entry(byte: u8) -> MediaEntry {
        MediaEntry {
            sha256: Sha256Hex::of_bytes(&[byte]),
            size: 1,
        }
    }

    #[test]
    fn carries_the_playlist_and_its_media_and_survives_json() {
        let playlist = parse_playlist(
            "p.yaml",
            "version: 1\nname: p\nitems:\n  - image: { file: a.png, duration: 1s }\n  - image: { file: b.png, duration: 1s }\n  - image: { file: a.png, duration: 2s, id: again }\n  - text: { text: Hello, duration: 1s }\n",
        )
        .unwrap();
        let manifest = Manifest::build("lobby-1", "Europe/Paris", &playlist, 3, |file| {
            Some(entry(if file == "a.png" { 1 } else { 2 }))
        })
        .unwrap();
        assert_eq!(manifest.media.len(), 2);
        assert_eq!(manifest.media_entries().len(), 2);
        let items: Vec<&Item> = manifest.playlist.items().collect();
        assert_eq!(manifest.sha256_of(items[2]), Some(&entry(1).sha256));
        assert_eq!(manifest.sha256_of(items[3]), None);
        let json = serde_json::to_string(&manifest).unwrap();
        let back: Manifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, manifest);
        assert!(back.schedule().is_ok());
    }

    #[test]
    fn decode_accepts_what_the_scheduler_serves_and_refuses_what_cannot_play() {
        let playlist = parse_playlist(
            "p.yaml",
            "version: 1\nname: p\nitems:\n  - image: { file: a.png, duration: 1s }\n",
        )
        .unwrap();
        let manifest =
            Manifest::build("lobby-1", "Europe/Paris", &playlist, 1, |_| Some(entry(1))).unwrap();
        let good = serde_json::to_value(&manifest).unwrap();
        let bytes = |value: &serde_json::Value| serde_json::to_vec(value).unwrap();
        assert_eq!(Manifest::decode(&bytes(&good)).unwrap(), manifest);

        let mut newer = good.clone();
        newer["schema"] = serde_json::json!(MANIFEST_SCHEMA + 1);
        let error = Manifest::decode(&bytes(&newer)).unwrap_err();
        assert!(matches!(error, ManifestError::Schema { found } if found == MANIFEST_SCHEMA + 1));
        assert!(error.to_string().contains("update the player"), "{error}");

        let mut lost = good.clone();
        lost["timezone"] = serde_json::json!("Mars/Olympus_Mons");
        assert!(matches!(
            Manifest::decode(&bytes(&lost)).unwrap_err(),
            ManifestError::TimeZone(zone) if zone == "Mars/Olympus_Mons"
        ));

        let mut bare = good.clone();
        bare["media"] = serde_json::json!({});
        assert!(matches!(
            Manifest::decode(&bytes(&bare)).unwrap_err(),
            ManifestError::MissingMedia(file) if file == "a.png"
        ));

        assert!(matches!(
            Manifest::decode(b"{\"schema\": 2").unwrap_err(),
            ManifestError::Json(_)
        ));
    }

    #[test]
    fn a_format_2_manifest_still_reads_with_version_0() {
        let playlist = parse_playlist(
            "p.yaml",
            "version: 1\nname: p\nitems:\n  - text: { text: Hi, duration: 1s }\n",
        )
        .unwrap();
        let manifest = Manifest::build("s", "UTC", &playlist, 1, |_| None).unwrap();
        let mut old = serde_json::to_value(&manifest).unwrap();
        old["schema"] = serde_json::json!(2);
        old.as_object_mut().unwrap().remove("version");
        let read = Manifest::decode(&serde_json::to_vec(&old).unwrap()).unwrap();
        assert_eq!((read.schema, read.version), (2, 0));
        old["schema"] = serde_json::json!(1);
        assert!(matches!(
            Manifest::decode(&serde_json::to_vec(&old).unwrap()).unwrap_err(),
            ManifestError::Schema { found: 1 }
        ));
    }

    #[test]
    fn a_manifest_follows_only_its_own_screen_and_never_goes_back() {
        let playlist = parse_playlist(
            "p.yaml",
            "version: 1\nname: p\nitems:\n  - text: { text: Hi, duration: 1s }\n",
        )
        .unwrap();
        let made = |screen: &str, version: u64, timezone: &str| {
            let mut manifest = Manifest::build(screen, timezone, &playlist, 1, |_| None).unwrap();
            manifest.version = version;
            manifest
        };
        let active = made("door", 10, "UTC");

        // The first manifest of a screen that knows its name, or of one that does not yet.
        assert_eq!(
            made("door", 1, "UTC").may_follow(Some("door"), None),
            Ok(())
        );
        assert_eq!(made("till", 1, "UTC").may_follow(None, None), Ok(()));
        // Newer, or the same one again.
        assert_eq!(
            made("door", 11, "UTC").may_follow(Some("door"), Some(&active)),
            Ok(())
        );
        assert_eq!(
            made("door", 10, "UTC").may_follow(None, Some(&active)),
            Ok(())
        );

        // Another screen's manifest, by the configured name or by the active one's.
        let error = made("till", 11, "UTC")
            .may_follow(Some("door"), Some(&active))
            .unwrap_err();
        assert_eq!(
            error,
            SuccessionError::OtherScreen {
                expected: "door".into(),
                found: "till".into()
            }
        );
        assert!(error.to_string().contains("screen `till`"), "{error}");
        assert!(matches!(
            made("till", 11, "UTC").may_follow(None, Some(&active)),
            Err(SuccessionError::OtherScreen { .. })
        ));
        assert!(matches!(
            made("till", 1, "UTC").may_follow(Some("door"), None),
            Err(SuccessionError::OtherScreen { .. })
        ));
        // An older version, and the same version with other content.
        assert_eq!(
            made("door", 9, "UTC").may_follow(Some("door"), Some(&active)),
            Err(SuccessionError::Older {
                active: 10,
                offered: 9
            })
        );
        assert_eq!(
            made("door", 10, "Europe/Paris").may_follow(Some("door"), Some(&active)),
            Err(SuccessionError::SameVersionOtherContent { version: 10 })
        );
    }

    #[test]
    fn media_is_named_as_the_staff_wrote_it() {
        let playlist = parse_playlist(
            "p.yaml",
            "version: 1\nname: p\nitems:\n  - image: { file: bomb.png, duration: 1s, id: promo-3 }\n  - image: { file: a.png, duration: 1s, id: first }\n  - image: { file: a.png, duration: 2s, id: again }\n",
        )
        .unwrap();
        let manifest = Manifest::build("lobby-1", "Europe/Paris", &playlist, 3, |file| {
            Some(entry(if file == "bomb.png" { 1 } else { 2 }))
        })
        .unwrap();
        assert_eq!(
            manifest.media_label(&entry(1).sha256),
            "`bomb.png` (item `promo-3`)"
        );
        assert_eq!(
            manifest.media_label(&entry(2).sha256),
            "`a.png` (items `first`, `again`)"
        );
        assert_eq!(
            manifest.media_label(&entry(9).sha256),
            format!("media {}", entry(9).sha256)
        );
    }

    #[test]
    fn same_bytes_under_two_names_download_once() {
        let playlist = parse_playlist(
            "p.yaml",
            "version: 1\nname: p\nitems:\n  - image: { file: a.png, duration: 1s }\n  - image: { file: copy-of-a.png, duration: 1s }\n",
        )
        .unwrap();
        let manifest = Manifest::build("s", "UTC", &playlist, 1, |_| Some(entry(7))).unwrap();
        assert_eq!(manifest.media.len(), 2);
        assert_eq!(manifest.media_entries().len(), 1);
    }

    #[test]
    fn a_file_without_a_digest_is_named() {
        let playlist = parse_playlist(
            "p.yaml",
            "version: 1\nname: p\nitems:\n  - image: { file: a.png, duration: 1s }\n",
        )
        .unwrap();
        let error = Manifest::build("s", "UTC", &playlist, 1, |_| None).unwrap_err();
        assert_eq!(error, MissingMedia("a.png".into()));
    }
}
