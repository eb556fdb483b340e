//! The impression: one record of proof of play, created by the player when an item has been shown,
//! numbered by its journal, uploaded in signed batches and deduplicated by the scheduler on its id.

use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::media::Sha256Hex;
use crate::offer::{Arm, CardPrice};

/// The most impressions one upload may carry.
pub const MAX_IMPRESSIONS_PER_BATCH: usize = 1000;

/// The HTTP header that carries a batch's signature: `sha256=` and the hex HMAC-SHA256 of the exact
/// body bytes, keyed with the sha256 of the screen's device token.
pub const SIGNATURE_HEADER: &str = "x-vitrine-signature";

/// One item shown in one zone of one screen. The id is a UUIDv7 made on the player, so a retried
/// upload is recognised and stored once.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impression {
    pub id: Uuid,
    /// The screen's own count of its plays: the journal gives each committed play the next number
    /// (1, 2, 3, ...), strictly increasing, across restarts, never reused. Zero until committed.
    #[serde(default)]
    pub sequence: u64,
    pub screen: String,
    pub playlist: String,
    /// The manifest's playlist version the play came from.
    pub playlist_version: u64,
    pub zone: String,
    pub item_id: String,
    /// The media file shown; absent for content the player generates (text, clocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_sha256: Option<Sha256Hex>,
    /// When the schedule wanted the item's turn to start, in UTC.
    pub scheduled_start: Timestamp,
    /// When the schedule wanted the turn to end, in UTC; absent from players that did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_end: Option<Timestamp>,
    /// When the item's first frame was shown, in UTC.
    pub started_at: Timestamp,
    /// When it left the screen, in UTC.
    pub ended_at: Timestamp,
    /// Whether it delivered its whole turn: on screen from (within one refresh of) the turn's
    /// scheduled start to its scheduled end (see [`covers_turn`]). False for a glimpse, when the
    /// player started, reloaded or came back from an interrupt in the middle of the turn, and
    /// when an interrupt, a shutdown, an error or a new manifest cut it short. Reports count only
    /// completed plays as delivered; the milliseconds actually shown are [`Impression::duration_ms`].
    pub completed: bool,
    /// How far the player trusted its clock when it made the record.
    pub clock: ClockState,
    /// For an offer slot: which offer it showed, from which campaign, in which arm of the test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<OfferPlay>,
    /// For an item an HQ campaign put on the zone (its rule is `campaign:NAME`): the campaign's
    /// name. Offer plays name theirs in [`OfferPlay::campaign`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// The version of the screen's manifest the play came from ([`crate::Manifest::version`]); 0
    /// from players that did not say.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub manifest_version: u64,
    /// The player build that made the record, like `0.4.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player_version: Option<String>,
    /// Whether the display was powered while the item was on it, as far as the player could
    /// tell. A play on a display known to be off is recorded, but reports never count it as
    /// delivered.
    #[serde(default, skip_serializing_if = "DisplayPower::is_unknown")]
    pub display: DisplayPower,
    /// The [`Impression::digest`] of the screen's previous record (sequence number one less): the
    /// plays of a screen form a hash chain, so a record removed or altered after the fact shows as
    /// a break. Absent on the first record of a journal (sequence 1, or the first after the
    /// player's database was made anew) and from players that do not chain their records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Sha256Hex>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// Whether a screen's display was on, as the player read it from the display's power state (DRM
/// DPMS, or HDMI-CEC where the machine has it).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DisplayPower {
    On,
    /// Asleep, in standby or switched off: nobody saw the play.
    Off,
    /// The machine gives no way to tell (no DRM connector, no CEC), or the answers disagree.
    #[default]
    Unknown,
}

impl DisplayPower {
    pub fn as_str(self) -> &'static str {
        match self {
            DisplayPower::On => "on",
            DisplayPower::Off => "off",
            DisplayPower::Unknown => "unknown",
        }
    }

    pub fn is_unknown(&self) -> bool {
        *self == DisplayPower::Unknown
    }

    /// What a play that spanned both states may claim: off if the display was off at any point,
    /// else unknown if it was unknown at any point.
    pub fn worst(self, other: DisplayPower) -> DisplayPower {
        match (self, other) {
            (DisplayPower::Off, _) | (_, DisplayPower::Off) => DisplayPower::Off,
            (DisplayPower::Unknown, _) | (_, DisplayPower::Unknown) => DisplayPower::Unknown,
            _ => DisplayPower::On,
        }
    }
}

impl std::fmt::Display for DisplayPower {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl std::str::FromStr for DisplayPower {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "on" => Ok(DisplayPower::On),
            "off" => Ok(DisplayPower::Off),
            "unknown" => Ok(DisplayPower::Unknown),
            other => Err(format!(
                "`{other}` is not a display state (on, off or unknown)"
            )),
        }
    }
}

/// Whether a play on screen from `started_at` to `ended_at` covered its whole turn
/// `[scheduled_start, scheduled_end)`: it appeared no later than `start_tolerance` (one refresh of
/// the display) after the turn's start, and stayed until the turn's end.
pub fn covers_turn(
    scheduled_start: Timestamp,
    scheduled_end: Timestamp,
    started_at: Timestamp,
    ended_at: Timestamp,
    start_tolerance: SignedDuration,
) -> bool {
    let latest_start = scheduled_start
        .checked_add(start_tolerance)
        .unwrap_or(scheduled_start);
    started_at <= latest_start && ended_at >= scheduled_end
}

impl Impression {
    /// How long the item was actually on screen.
    pub fn duration_ms(&self) -> u64 {
        u64::try_from(self.ended_at.duration_since(self.started_at).as_millis()).unwrap_or(0)
    }

    /// The record's link in its screen's hash chain: the sha256 of its JSON as this type writes
    /// it (every field, `sequence` and `previous` included; fields at their default left out, as
    /// always). The next record's `previous` carries it. The scheduler computes it again from the
    /// record it decoded, so a record changed in any field no longer links.
    pub fn digest(&self) -> Sha256Hex {
        let bytes = serde_json::to_vec(self).expect("an impression always serializes");
        Sha256Hex::of_bytes(&bytes)
    }
}

/// How far a player trusts its clock, recorded with every play so reports can weigh its times.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ClockState {
    /// Set from HQ's time within the last few minutes.
    Synced,
    /// Carried forward from the last good time: on monotonic time since HQ last answered, or on
    /// the local clock after a restart without network, when it reads later than the last good
    /// time and later than the build.
    Estimated,
    /// The local clock reads earlier than the last good time or the build and no HQ answers: the
    /// player does not know what time it is and shows its fallback.
    #[default]
    Unknown,
}

impl ClockState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockState::Synced => "synced",
            ClockState::Estimated => "estimated",
            ClockState::Unknown => "unknown",
        }
    }

    /// The less trustworthy of two states: what a play that spanned both may claim.
    pub fn worst(self, other: ClockState) -> ClockState {
        self.max(other)
    }
}

impl std::fmt::Display for ClockState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl std::str::FromStr for ClockState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "synced" => Ok(ClockState::Synced),
            "estimated" => Ok(ClockState::Estimated),
            "unknown" => Ok(ClockState::Unknown),
            other => Err(format!(
                "`{other}` is not a clock state (synced, estimated or unknown)"
            )),
        }
    }
}

/// The offer an offer slot showed in one play: what reports count per offer and arm.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferPlay {
    pub offer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    pub arm: Arm,
    /// The price the card showed, as its manifest gave it; absent for a card without a price
    /// (a holdout's control card shows none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<CardPrice>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpressionBatch {
    pub impressions: Vec<Impression>,
}

/// Why a batch body was refused. Each names the impression and the limit, so a broken client can
/// be fixed from the message alone.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("the batch is not valid JSON for an impression batch: {0}")]
    Malformed(String),
    #[error(
        "the batch holds {count} impressions, over the limit of {MAX_IMPRESSIONS_PER_BATCH}; send \
         them in several batches"
    )]
    TooLarge { count: usize },
    #[error("impression {id}: {field} {value} is out of range (at most {max})", max = i64::MAX)]
    OutOfRange {
        id: Uuid,
        field: &'static str,
        value: u64,
    },
    #[error("impression {id}: it has no sequence number (it must be at least 1)")]
    NoSequence { id: Uuid },
    #[error("impression {id}: it ends ({ended_at}) before it starts ({started_at})")]
    EndsBeforeStart {
        id: Uuid,
        started_at: Timestamp,
        ended_at: Timestamp,
    },
}

impl ImpressionBatch {
    /// Reads and checks a batch from the exact bytes of an upload: well-formed, at most
    /// [`MAX_IMPRESSIONS_PER_BATCH`] impressions, each numbered, with integers that fit SQL's
    /// signed 64 bits and an end no earlier than its start. Pure, so it can be fuzzed.
    pub fn decode(bytes: &[u8]) -> Result<ImpressionBatch, BatchError> {
        let batch: ImpressionBatch = serde_json::from_slice(bytes)
            .map_err(|error| BatchError::Malformed(error.to_string()))?;
        let count = batch.impressions.len();
        if count > MAX_IMPRESSIONS_PER_BATCH {
            return Err(BatchError::TooLarge { count });
        }
        for impression in &batch.impressions {
            let id = impression.id;
            if impression.sequence == 0 {
                return Err(BatchError::NoSequence { id });
            }
            for (field, value) in [
                ("sequence", impression.sequence),
                ("playlist_version", impression.playlist_version),
            ] {
                if i64::try_from(value).is_err() {
                    return Err(BatchError::OutOfRange { id, field, value });
                }
            }
            if impression.ended_at < impression.started_at {
                return Err(BatchError::EndsBeforeStart {
                    id,
                    started_at: impression.started_at,
                    ended_at: impression.ended_at,
                });
            }
        }
        Ok(batch)
    }
}

/// The value of [`SIGNATURE_HEADER`] for `body`: `sha256=` and the hex HMAC-SHA256 of the bytes,
/// keyed with `key`, the sha256 of the device token (which the scheduler stores, so it never needs
/// the token itself).
pub fn sign_batch(key: &[u8; 32], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `signature` (a [`SIGNATURE_HEADER`] value) signs exactly `body` under `key`. The
/// comparison takes the same time wherever the first difference lies.
pub fn verify_batch_signature(key: &[u8; 32], body: &[u8], signature: &str) -> bool {
    let Some(tag) = signature
        .trim()
        .strip_prefix("sha256=")
        .and_then(|hex_tag| hex::decode(hex_tag).ok())
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

/// The scheduler's answer to a batch: every id it now holds from the batch (new or seen before), so
/// the player may mark exactly those as sent, and the highest sequence number up to which it holds
/// every play of this screen without a gap.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpressionAck {
    pub acknowledged: Vec<Uuid>,
    /// How many of them were new to the scheduler.
    pub inserted: u64,
    /// Every play numbered 1 to this is held; 0 when the first is missing.
    #[serde(default)]
    pub highest_sequence: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn impression(sequence: u64) -> Impression {
        let started_at: Timestamp = "2026-11-20T10:00:00Z".parse().unwrap();
        Impression {
            id: Uuid::now_v7(),
            sequence,
            screen: "lobby".into(),
            playlist: "demo".into(),
            playlist_version: 3,
            zone: "main".into(),
            item_id: "red".into(),
            media_sha256: Some(Sha256Hex::of_bytes(b"red")),
            scheduled_start: started_at,
            scheduled_end: Some(started_at + jiff::SignedDuration::from_millis(1500)),
            started_at,
            ended_at: started_at + jiff::SignedDuration::from_millis(1500),
            completed: true,
            clock: ClockState::Synced,
            offer: None,
            campaign: None,
            manifest_version: 0,
            player_version: None,
            display: DisplayPower::Unknown,
            previous: None,
        }
    }

    fn body(impressions: Vec<Impression>) -> Vec<u8> {
        serde_json::to_vec(&ImpressionBatch { impressions }).unwrap()
    }

    #[test]
    fn a_record_round_trips_with_every_field() {
        let record = impression(7);
        assert_eq!(record.duration_ms(), 1500);
        let decoded = ImpressionBatch::decode(&body(vec![record.clone()])).unwrap();
        assert_eq!(decoded.impressions, vec![record]);
        let text = String::from_utf8(body(vec![impression(1)])).unwrap();
        assert!(text.contains(r#""clock":"synced""#), "{text}");
        assert!(text.contains(r#""completed":true"#), "{text}");
    }

    #[test]
    fn only_a_play_from_its_turns_start_to_its_end_covers_the_turn() {
        let at = |millis: i64| {
            "2026-11-20T10:00:00Z".parse::<Timestamp>().unwrap()
                + SignedDuration::from_millis(millis)
        };
        let refresh = SignedDuration::from_micros(16_667);
        // The turn is [0, 3000): on time to the end, or a refresh late, covers it.
        assert!(covers_turn(at(0), at(3000), at(0), at(3000), refresh));
        assert!(covers_turn(at(0), at(3000), at(16), at(3000), refresh));
        // The 406 ms tail a player showed after starting mid-turn is a glimpse, not a play.
        assert!(!covers_turn(at(0), at(3000), at(2594), at(3000), refresh));
        assert!(!covers_turn(at(0), at(3000), at(17), at(3000), refresh));
        // Cut before the end.
        assert!(!covers_turn(at(0), at(3000), at(0), at(2999), refresh));
    }

    #[test]
    fn decode_refuses_what_cannot_be_stored() {
        assert!(matches!(
            ImpressionBatch::decode(b"{\"impressions\": [1]}"),
            Err(BatchError::Malformed(_))
        ));
        assert!(matches!(
            ImpressionBatch::decode(&body(vec![impression(0)])),
            Err(BatchError::NoSequence { .. })
        ));
        assert!(matches!(
            ImpressionBatch::decode(&body(vec![impression(u64::MAX)])),
            Err(BatchError::OutOfRange {
                field: "sequence",
                ..
            })
        ));
        let mut backwards = impression(1);
        backwards.ended_at = backwards.started_at - jiff::SignedDuration::from_secs(1);
        assert!(matches!(
            ImpressionBatch::decode(&body(vec![backwards])),
            Err(BatchError::EndsBeforeStart { .. })
        ));
        let full: Vec<_> = (1..=MAX_IMPRESSIONS_PER_BATCH as u64 + 1)
            .map(impression)
            .collect();
        assert_eq!(
            ImpressionBatch::decode(&body(full)),
            Err(BatchError::TooLarge {
                count: MAX_IMPRESSIONS_PER_BATCH + 1
            })
        );
        let exactly_full: Vec<_> = (1..=MAX_IMPRESSIONS_PER_BATCH as u64)
            .map(impression)
            .collect();
        assert!(ImpressionBatch::decode(&body(exactly_full)).is_ok());
    }

    #[test]
    fn a_signature_holds_only_for_the_exact_body_and_key() {
        let key = [7u8; 32];
        let bytes = body(vec![impression(1)]);
        let signature = sign_batch(&key, &bytes);
        assert!(signature.starts_with("sha256="));
        assert!(verify_batch_signature(&key, &bytes, &signature));

        let mut tampered = bytes.clone();
        let position = tampered.len() / 2;
        tampered[position] ^= 1;
        assert!(!verify_batch_signature(&key, &tampered, &signature));
        assert!(!verify_batch_signature(&[8u8; 32], &bytes, &signature));
        assert!(!verify_batch_signature(&key, &bytes, "sha256=zz"));
        assert!(!verify_batch_signature(&key, &bytes, ""));
        assert!(!verify_batch_signature(
            &key,
            &bytes,
            signature.trim_start_matches("sha256=")
        ));
    }

    #[test]
    fn a_digest_survives_the_wire_and_changes_with_any_field() {
        let mut first = impression(1);
        first.player_version = Some("0.1.0".into());
        first.display = DisplayPower::On;
        let mut second = impression(2);
        second.previous = Some(first.digest());
        second.offer = Some(OfferPlay {
            offer_id: "hazelnut".into(),
            campaign: Some("spring".into()),
            arm: Arm::Treatment,
            price: Some(CardPrice {
                cents: 249,
                old_cents: None,
                currency: "EUR".into(),
            }),
        });
        // What the scheduler decodes digests as the player's own record did.
        let decoded = ImpressionBatch::decode(&body(vec![first.clone(), second.clone()])).unwrap();
        assert_eq!(decoded.impressions[0].digest(), first.digest());
        assert_eq!(decoded.impressions[1].digest(), second.digest());
        assert_eq!(decoded.impressions[1].previous, Some(first.digest()));

        let mut edited = first.clone();
        edited.ended_at += SignedDuration::from_millis(1);
        assert_ne!(edited.digest(), first.digest());
        let mut renumbered = first.clone();
        renumbered.sequence = 3;
        assert_ne!(renumbered.digest(), first.digest());
        let mut repriced = second.clone();
        repriced
            .offer
            .as_mut()
            .unwrap()
            .price
            .as_mut()
            .unwrap()
            .cents = 199;
        assert_ne!(repriced.digest(), second.digest());
    }

    #[test]
    fn a_record_from_a_player_that_does_not_chain_reads_with_defaults() {
        let old = r#"{"impressions":[{"id":"0193a2b4-0000-7000-8000-000000000001","sequence":4,
            "screen":"lobby","playlist":"demo","playlist_version":3,"zone":"main",
            "item_id":"red","scheduled_start":"2026-11-20T10:00:00Z",
            "started_at":"2026-11-20T10:00:00Z","ended_at":"2026-11-20T10:00:02Z",
            "completed":true,"clock":"synced"}]}"#;
        let batch = ImpressionBatch::decode(old.as_bytes()).unwrap();
        let record = &batch.impressions[0];
        assert_eq!(record.display, DisplayPower::Unknown);
        assert_eq!(record.previous, None);
        assert_eq!(record.manifest_version, 0);
        // Defaults stay out of the JSON, so its digest is that of what the player wrote.
        let written = serde_json::to_string(record).unwrap();
        assert!(
            !written.contains("display") && !written.contains("previous"),
            "{written}"
        );
    }

    #[test]
    fn the_worst_display_state_wins() {
        assert_eq!(DisplayPower::On.worst(DisplayPower::Off), DisplayPower::Off);
        assert_eq!(
            DisplayPower::On.worst(DisplayPower::Unknown),
            DisplayPower::Unknown
        );
        assert_eq!(DisplayPower::On.worst(DisplayPower::On), DisplayPower::On);
        assert_eq!("off".parse(), Ok(DisplayPower::Off));
    }

    #[test]
    fn the_worst_clock_state_wins() {
        assert_eq!(
            ClockState::Synced.worst(ClockState::Estimated),
            ClockState::Estimated
        );
        assert_eq!(
            ClockState::Unknown.worst(ClockState::Synced),
            ClockState::Unknown
        );
        assert_eq!("estimated".parse(), Ok(ClockState::Estimated));
    }
}
