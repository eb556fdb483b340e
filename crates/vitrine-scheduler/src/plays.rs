//! Proof of play on its way in: where each play ran (store, store-local hour, venue zone,
//! audience multiplier) and where it stands in its screen's hash chain, resolved once per batch
//! before storage adds the plays to the rollups.
//!
//! A play's hour is the hour it started in its store's time: the screen's own time zone, else its
//! store's, else UTC. Reports group and filter by that hour, so "Monday" is the store's Monday.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use vitrine_core::Impression;

use crate::AppState;
use crate::error::ApiError;
use crate::storage::plays::{AudienceRow, ChainState, IncomingPlay};

/// Where a screen's plays run, read once per batch.
#[derive(Clone, Debug)]
pub struct Placement {
    pub store: String,
    pub timezone: TimeZone,
    /// The screen's audience rows: zone `''` for the whole screen, others for one zone.
    pub audience: Vec<AudienceRow>,
}

/// The venue zone and multiplier of a screen without an audience row.
pub const DEFAULT_VENUE_ZONE: &str = "other";
pub const DEFAULT_MULTIPLIER_MILLI: i64 = 1000;

impl Placement {
    /// Reads the screen's store, time zone and audience.
    pub async fn of(state: &AppState, screen: &str) -> Result<Placement, ApiError> {
        let record = state.storage().screen_record(screen.to_owned()).await?;
        let (store, own_zone) = match &record {
            Some(record) => (
                record.store.clone().unwrap_or_default(),
                record.timezone.clone(),
            ),
            None => (String::new(), String::new()),
        };
        let zone_name = if !own_zone.is_empty() {
            own_zone
        } else if !store.is_empty() {
            state
                .storage()
                .store_by_code(store.clone())
                .await?
                .map(|record| record.timezone)
                .unwrap_or_default()
        } else {
            String::new()
        };
        let timezone = TimeZone::get(&zone_name).unwrap_or(TimeZone::UTC);
        let audience = state.storage().audiences(Some(screen.to_owned())).await?;
        Ok(Placement {
            store,
            timezone,
            audience,
        })
    }

    /// The venue zone and multiplier of plays in `zone`: the zone's own row, else the screen's.
    fn audience_of(&self, zone: &str) -> (String, i64) {
        self.audience
            .iter()
            .find(|row| row.zone == zone)
            .or_else(|| self.audience.iter().find(|row| row.zone.is_empty()))
            .map_or(
                (DEFAULT_VENUE_ZONE.to_owned(), DEFAULT_MULTIPLIER_MILLI),
                |row| (row.venue_zone.clone(), row.multiplier_milli),
            )
    }

    /// The store-local hour of `instant`, `YYYY-MM-DDTHH`.
    pub fn local_hour(&self, instant: Timestamp) -> String {
        local_hour(instant, &self.timezone)
    }

    /// The batch's plays, placed, with their chain state as far as the batch itself tells:
    /// storage links the rest to the plays it holds.
    pub fn place(&self, impressions: Vec<Impression>) -> Vec<IncomingPlay> {
        let mut plays = self.placed(impressions);
        link_within(&mut plays);
        plays
    }

    /// [`Placement::place`] on the blocking pool, a long batch split over the machine's cores:
    /// each record's digest (its JSON and a sha256) is most of what a batch costs before storage,
    /// and the records' digests do not depend on each other. The plays keep the batch's order.
    pub async fn place_batch(
        self,
        impressions: Vec<Impression>,
    ) -> Result<Vec<IncomingPlay>, ApiError> {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let parts = cores.min(MAX_PLACING_THREADS);
        if parts < 2 || impressions.len() < PLACED_TOGETHER_BELOW {
            return Ok(self.place(impressions));
        }
        let size = impressions.len().div_ceil(parts);
        let placement = std::sync::Arc::new(self);
        let mut records = impressions.into_iter();
        let mut tasks = Vec::with_capacity(parts);
        loop {
            let part: Vec<Impression> = records.by_ref().take(size).collect();
            if part.is_empty() {
                break;
            }
            let placement = placement.clone();
            tasks.push(tokio::task::spawn_blocking(move || placement.placed(part)));
        }
        let mut plays = Vec::new();
        for task in tasks {
            plays.extend(
                task.await
                    .map_err(|error| ApiError::internal("placing a batch of plays", error))?,
            );
        }
        link_within(&mut plays);
        Ok(plays)
    }

    /// Each play placed, its chain state as the play alone tells.
    fn placed(&self, impressions: Vec<Impression>) -> Vec<IncomingPlay> {
        impressions
            .into_iter()
            .map(|impression| {
                let (venue_zone, multiplier_milli) = self.audience_of(&impression.zone);
                let chain = initial_chain_state(&impression);
                IncomingPlay {
                    digest: impression.digest().as_str().to_owned(),
                    chain,
                    store: self.store.clone(),
                    local_hour: self.local_hour(impression.started_at),
                    venue_zone,
                    multiplier_milli,
                    impression,
                }
            })
            .collect()
    }
}

/// Batches shorter than this are placed on the request's own thread: handing them out costs more
/// than it saves.
const PLACED_TOGETHER_BELOW: usize = 256;

/// The most threads one batch is placed on.
const MAX_PLACING_THREADS: usize = 4;

/// Settles the link of each play whose predecessor (sequence one less) is in the same batch:
/// linked if its `previous` is that play's digest, else broken. A batch in order then leaves only
/// its first play for storage to link to the plays it holds.
pub fn link_within(plays: &mut [IncomingPlay]) {
    let digests: std::collections::HashMap<u64, String> = plays
        .iter()
        .map(|play| (play.impression.sequence, play.digest.clone()))
        .collect();
    for play in plays.iter_mut() {
        if play.chain != ChainState::Pending {
            continue;
        }
        let before = play.impression.sequence.checked_sub(1);
        if let Some(digest) = before.and_then(|sequence| digests.get(&sequence)) {
            let links = play
                .impression
                .previous
                .as_ref()
                .is_some_and(|previous| previous.as_str() == digest);
            play.chain = if links {
                ChainState::Linked
            } else {
                ChainState::Broken
            };
        }
    }
}

/// Deletes the raw plays of store-local days before the retention, if one is set; returns how
/// many went. Their figures stay in the rollups.
pub async fn prune_raw_plays(state: &AppState) -> Result<u64, ApiError> {
    let Some(days) = state.raw_play_retention_days() else {
        return Ok(0);
    };
    let today = Timestamp::now().to_zoned(TimeZone::UTC).date();
    let oldest = today.saturating_sub(jiff::Span::new().days(i64::from(days)));
    let removed = state
        .storage()
        .prune_plays(format!("{}T00", oldest.strftime("%Y-%m-%d")))
        .await?;
    if removed > 0 {
        tracing::info!(removed, days, "deleted raw plays past their retention");
    }
    Ok(removed)
}

/// `instant` in `timezone`, to the hour: `YYYY-MM-DDTHH`. Written out by hand for four-digit
/// years, as it is once per play on the way in.
pub fn local_hour(instant: Timestamp, timezone: &TimeZone) -> String {
    let local = timezone.to_offset(instant).to_datetime(instant);
    if (0..=9999).contains(&local.year()) {
        format!(
            "{:04}-{:02}-{:02}T{:02}",
            local.year(),
            local.month(),
            local.day(),
            local.hour()
        )
    } else {
        local.strftime("%Y-%m-%dT%H").to_string()
    }
}

/// A record that names a predecessor waits for it; play 1 starts the chain; a later play that
/// names none restarts it (its player's journal was made anew), unless the player does not chain
/// its plays at all (it says no version: a player from before chaining).
fn initial_chain_state(impression: &Impression) -> ChainState {
    match (&impression.previous, impression.sequence) {
        (Some(_), _) => ChainState::Pending,
        (None, 1) => ChainState::Linked,
        (None, _) if impression.player_version.is_none() => ChainState::None,
        (None, _) => ChainState::Restart,
    }
}

#[cfg(test)]
mod tests {
    use vitrine_core::Sha256Hex;

    use super::*;

    #[test]
    fn the_local_hour_is_the_stores() {
        let instant: Timestamp = "2026-12-05T23:30:00Z".parse().unwrap();
        assert_eq!(local_hour(instant, &TimeZone::UTC), "2026-12-05T23");
        let paris = TimeZone::get("Europe/Paris").unwrap();
        assert_eq!(local_hour(instant, &paris), "2026-12-06T00");
        let new_york = TimeZone::get("America/New_York").unwrap();
        assert_eq!(local_hour(instant, &new_york), "2026-12-05T18");
    }

    #[test]
    fn the_local_hour_written_by_hand_is_jiffs_through_a_year_of_time_changes() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        for zone in [
            "Europe/Paris",
            "America/New_York",
            "Asia/Kolkata",
            "Australia/Lord_Howe",
        ] {
            let timezone = TimeZone::get(zone).unwrap();
            for quarter in 0..(366 * 24 * 4) {
                let instant = start + jiff::SignedDuration::from_mins(15 * quarter + 7);
                let jiffs = instant
                    .to_zoned(timezone.clone())
                    .strftime("%Y-%m-%dT%H")
                    .to_string();
                assert_eq!(local_hour(instant, &timezone), jiffs, "{zone} at {instant}");
            }
        }
        let far: Timestamp = "-000200-03-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            local_hour(far, &TimeZone::UTC),
            far.to_zoned(TimeZone::UTC)
                .strftime("%Y-%m-%dT%H")
                .to_string()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_batch_placed_over_several_threads_is_the_batch_placed_in_order() {
        let start: Timestamp = "2026-12-05T09:00:00Z".parse().unwrap();
        let mut previous = None;
        let mut records = Vec::new();
        for sequence in 1..=1000u64 {
            let mut record: Impression = serde_json::from_value(serde_json::json!({
                "id": uuid::Uuid::now_v7(), "sequence": sequence, "screen": "s",
                "playlist": "p", "playlist_version": 1, "zone": "main",
                "item_id": format!("item-{}", sequence % 7),
                "scheduled_start": start, "started_at": start, "ended_at": start,
                "completed": true, "clock": "synced", "player_version": "0.1.0",
            }))
            .unwrap();
            record.started_at = start + jiff::SignedDuration::from_secs(sequence as i64 * 13);
            record.previous = previous.take();
            previous = Some(record.digest());
            records.push(record);
        }
        // One altered record, so a link breaks in the middle.
        records[600].completed = false;
        let placement = Placement {
            store: "paris-11".into(),
            timezone: TimeZone::get("Europe/Paris").unwrap(),
            audience: Vec::new(),
        };
        let together = placement.place(records.clone());
        let spread = placement.place_batch(records).await.unwrap();
        let key = |play: &IncomingPlay| {
            (
                play.impression.id,
                play.digest.clone(),
                play.chain,
                play.local_hour.clone(),
            )
        };
        assert_eq!(
            spread.iter().map(key).collect::<Vec<_>>(),
            together.iter().map(key).collect::<Vec<_>>()
        );
        assert_eq!(spread[601].chain, ChainState::Broken);
        assert_eq!(spread[600].chain, ChainState::Linked);
    }

    #[test]
    fn links_within_a_batch_are_settled_and_its_first_play_waits() {
        let start: Timestamp = "2026-12-05T09:00:00Z".parse().unwrap();
        let mut previous = None;
        let mut records = Vec::new();
        for sequence in 5..=8 {
            let mut record: Impression = serde_json::from_value(serde_json::json!({
                "id": uuid::Uuid::now_v7(), "sequence": sequence, "screen": "s",
                "playlist": "p", "playlist_version": 1, "zone": "main", "item_id": "a",
                "scheduled_start": start, "started_at": start, "ended_at": start,
                "completed": true, "clock": "synced", "player_version": "0.1.0",
                "previous": Sha256Hex::of_bytes(b"play 4"),
            }))
            .unwrap();
            if let Some(digest) = previous.take() {
                record.previous = Some(digest);
            }
            previous = Some(record.digest());
            records.push(record);
        }
        // Play 7 was altered after play 8 was chained to it.
        records[2].ended_at = start + jiff::SignedDuration::from_secs(1);
        let placement = Placement {
            store: String::new(),
            timezone: TimeZone::UTC,
            audience: Vec::new(),
        };
        let states: Vec<ChainState> = placement
            .place(records)
            .iter()
            .map(|play| play.chain)
            .collect();
        assert_eq!(
            states,
            [
                ChainState::Pending,
                ChainState::Linked,
                ChainState::Linked,
                ChainState::Broken
            ]
        );
    }

    #[test]
    fn a_zone_row_wins_over_the_screen_row() {
        let row = |zone: &str, venue: &str, milli: i64| AudienceRow {
            screen: "s".into(),
            zone: zone.into(),
            venue_zone: venue.into(),
            multiplier_milli: milli,
            source: "counter".into(),
        };
        let placement = Placement {
            store: "paris-11".into(),
            timezone: TimeZone::UTC,
            audience: vec![row("", "entrance", 2500), row("side", "checkout", 800)],
        };
        assert_eq!(placement.audience_of("main"), ("entrance".into(), 2500));
        assert_eq!(placement.audience_of("side"), ("checkout".into(), 800));
        let bare = Placement {
            audience: Vec::new(),
            ..placement
        };
        assert_eq!(bare.audience_of("main"), ("other".into(), 1000));
    }
}
