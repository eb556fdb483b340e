//! The schedule engine: what plays at an instant. The player, the scheduler and the CLI all ask this
//! module, so "why did this play?" has one answer.
//!
//! A playlist is a loop anchored to the wall clock: the loop's first item starts at every multiple of
//! the loop's length since the Unix epoch. Two screens with the same playlist therefore show the same
//! item at the same time, and a player that restarts picks up where the loop stands, not at item one.

use jiff::{SignedDuration, Timestamp};

/// A loop of items, by their durations in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loop {
    durations_ms: Vec<u64>,
    total_ms: u64,
}

/// One item's turn: which item, and when its turn starts and ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub item_index: usize,
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Loop {
    pub fn new(durations_ms: Vec<u64>) -> Self {
        let total_ms = durations_ms.iter().sum();
        Self {
            durations_ms,
            total_ms,
        }
    }

    /// The slot that covers `instant`, or `None` for an empty loop.
    pub fn what_plays(&self, instant: Timestamp) -> Option<Slot> {
        if self.total_ms == 0 {
            return None;
        }
        let total = i128::from(self.total_ms);
        let now_ms = instant.as_millisecond() as i128;
        let into_loop = now_ms.rem_euclid(total);
        let loop_start_ms = now_ms - into_loop;
        let mut item_start_ms = loop_start_ms;
        for (item_index, &duration_ms) in self.durations_ms.iter().enumerate() {
            let item_end_ms = item_start_ms + i128::from(duration_ms);
            if now_ms < item_end_ms {
                return Some(Slot {
                    item_index,
                    start: timestamp_from_millis(item_start_ms),
                    end: timestamp_from_millis(item_end_ms),
                });
            }
            item_start_ms = item_end_ms;
        }
        unreachable!("an instant inside the loop falls into one of its items")
    }

    /// Every slot that overlaps `[from, to)`, in order.
    pub fn timeline(&self, from: Timestamp, to: Timestamp) -> Vec<Slot> {
        let mut slots = Vec::new();
        let mut cursor = from;
        while cursor < to {
            let Some(slot) = self.what_plays(cursor) else {
                break;
            };
            cursor = slot.end;
            slots.push(slot);
        }
        slots
    }
}

fn timestamp_from_millis(milliseconds: i128) -> Timestamp {
    Timestamp::UNIX_EPOCH
        .checked_add(SignedDuration::from_millis(milliseconds as i64))
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(milliseconds: i64) -> Timestamp {
        Timestamp::from_millisecond(milliseconds).unwrap()
    }

    #[test]
    fn loops_are_anchored_to_the_wall_clock() {
        let schedule = Loop::new(vec![1_000, 2_000]);
        let cases = [
            (0, 0, 0),
            (999, 0, 0),
            (1_000, 1, 1_000),
            (2_999, 1, 1_000),
            (3_000, 0, 3_000),
            (-1, 1, -2_000),
        ];
        for (instant, item_index, start) in cases {
            let slot = schedule.what_plays(at(instant)).unwrap();
            assert_eq!(
                (slot.item_index, slot.start),
                (item_index, at(start)),
                "at {instant}"
            );
        }
    }

    #[test]
    fn timeline_covers_every_instant_once() {
        let schedule = Loop::new(vec![1_000, 500, 250]);
        let slots = schedule.timeline(at(1_700_000_000_123), at(1_700_000_010_000));
        for pair in slots.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
            assert_eq!((pair[0].item_index + 1) % 3, pair[1].item_index);
        }
        assert!(slots.first().unwrap().start <= at(1_700_000_000_123));
        assert!(slots.last().unwrap().end >= at(1_700_000_010_000));
    }

    #[test]
    fn empty_loop_plays_nothing() {
        assert_eq!(Loop::new(vec![]).what_plays(at(0)), None);
    }
}
