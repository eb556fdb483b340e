//! What every target does with a playlist that got through: ask the schedule engine about it and
//! check the promises its callers rely on.

use jiff::{SignedDuration, Timestamp};
use vitrine_core::Schedule;

/// An instant picked by the input itself, within a few years of 2026, so the fuzzer can steer it
/// into daypart edges and DST jumps.
pub fn instant_from(data: &[u8]) -> Timestamp {
    let mut seed: i64 = 1_790_000_000;
    for (index, byte) in data.iter().rev().take(8).enumerate() {
        seed ^= i64::from(*byte) << (index * 7);
    }
    Timestamp::from_second(seed.rem_euclid(400_000_000) + 1_600_000_000).expect("in range")
}

pub fn check_schedule(schedule: &Schedule, zones: &[String], at: Timestamp) {
    for zone in zones {
        if let Some(play) = schedule.what_plays(zone, at) {
            assert!(
                play.start <= at && at < play.end,
                "what_plays({zone}, {at}) gave a play from {} to {} that does not cover it",
                play.start,
                play.end
            );
        }
        let until = at + SignedDuration::from_mins(30);
        let plays = schedule.timeline(zone, at, until);
        for pair in plays.windows(2) {
            assert!(
                pair[0].end <= pair[1].start,
                "timeline plays overlap on {zone}: {} > {}",
                pair[0].end,
                pair[1].start
            );
        }
    }
}
