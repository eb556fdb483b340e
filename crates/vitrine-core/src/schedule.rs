//! The schedule engine: what plays on a zone at an instant, and why. The player, the scheduler and the
//! CLI all ask this module, so "why did this play?" has one answer.
//!
//! # Rules
//!
//! Each zone has rules: **loops** and **interrupts**. A rule may play when its conditions hold at an
//! instant: its dates (`from`/`until`, both included), its weekdays, and its dayparts, all read on the
//! store's wall clock in the screen's IANA time zone. A daypart that crosses midnight belongs to the
//! day it starts on: `fri` with `22:00-02:00` covers Saturday 01:00.
//!
//! Of the rules that may play, the one with the highest `priority` wins. At equal priority an
//! interrupt wins over a loop (that is what it is for); then a rule with dates, weekdays or
//! dayparts wins over one that plays all day, so a zone's `items` (a loop of priority 0 with no
//! conditions) are the fallback that plays when no other rule applies, like a default layout;
//! and between two rules still tied the one written first wins (validation warns about such
//! ties). The rules that also applied are reported as shadowed in the [`Reason`].
//!
//! # Wall-clock anchoring
//!
//! A loop is anchored to the wall clock: its first item starts at every multiple of the loop's length
//! since 1970-01-01 00:00 UTC, whether or not the loop is playing. Screens with the same playlist
//! therefore show the same item at the same moment, a restarted player rejoins the loop where it
//! stands, and a loop that was shadowed (by an interrupt, by a higher-priority loop) comes back where
//! it would have been, not where it left off. The item on screen when a rule starts or stops playing
//! is cut at that instant: [`Play::start`] and [`Play::end`] are what the screen shows, and
//! [`Play::scheduled_start`]/[`Play::scheduled_end`] the item's turn in its loop.
//!
//! An interrupt (`every: 15m`) starts at every multiple of its period since the same epoch, so with a
//! period that divides an hour it falls on the same minutes of every hour in every real time zone
//! (all of them are offset from UTC by a multiple of 15 minutes). It shows its items once, back to
//! back, then gives the zone back.
//!
//! # DST
//!
//! Loops and interrupts count in UTC, so a clock change neither stretches nor skips an item. Dayparts
//! follow the store's wall clock, with the rules documented in [`crate::timing`]: a time the clocks
//! skip becomes the instant of the jump, and a time the clocks show twice is taken at its first
//! showing for a start and its last for an end.
//!
//! # Cost
//!
//! [`Schedule::what_plays`] looks at the day before and after the instant only, so it costs a few
//! microseconds for a handful of rules and can run every frame. A caller that wants less can keep
//! the [`Play`] until its `end`: nothing on the zone changes before then.

use std::cmp::Reverse;
use std::fmt;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::playlist::{Item, Playlist, Rule, RuleKind};
use crate::timing::{TimeRange, Weekdays};

use jiff::{SignedDuration, Timestamp};

/// A loop of items, by their durations in milliseconds, anchored to the Unix epoch. The building block
/// of [`Schedule`]; kept public for callers that only need a plain loop.

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

/// The most plays [`Schedule::timeline`] returns, so that a careless range cannot exhaust memory.
pub const MAX_TIMELINE_PLAYS: usize = 100_000;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The schedule engine for one playlist on one screen: built once, asked many times.
#[derive(Clone, Debug)]
pub struct Schedule {
    playlist: Playlist,
    time_zone: TimeZone,
    zones: Vec<Vec<RuleEngine>>,
}

/// What the engine precomputes for one rule.
#[derive(Clone, Debug)]
struct RuleEngine {
    /// The spans of the day it may play in: its dayparts, or the whole day.
    spans: Vec<TimeRange>,
    from: Option<Date>,
    until: Option<Date>,
    weekdays: Weekdays,
    rank: Rank,
    /// Item durations, in order.
    durations_ms: Vec<u64>,
    items_loop: Loop,
    /// For an interrupt: its period and how long it lasts, in milliseconds.
    interrupt: Option<(i64, i64)>,
}

/// Orders rules by who wins: priority, then interrupts over loops, then rules with conditions
/// over rules that play all day, then the one written first.
type Rank = (i32, bool, bool, Reverse<usize>);

/// One item's time on a zone: what, when, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Play<'a> {
    pub zone: &'a str,
    /// Which rule of the zone and which item of the rule.
    pub rule_index: usize,
    pub item_index: usize,
    pub item: &'a Item,
    /// When the item appears on screen and when it leaves: its turn, cut where another rule took
    /// over or its rule stopped applying.
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
    /// The item's whole turn in its loop or interrupt, before any cut. A video's position at an
    /// instant is `instant - scheduled_start`, which keeps screens in step.
    pub scheduled_start: jiff::Timestamp,
    pub scheduled_end: jiff::Timestamp,
    pub reason: Reason<'a>,
}

/// Why an item plays: the rule that won and those it shadowed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reason<'a> {
    #[serde(serialize_with = "serialize_rule")]
    pub rule: &'a Rule,
    /// The rules that also applied at that instant, best first.
    #[serde(serialize_with = "serialize_rules")]
    pub shadowed: Vec<&'a Rule>,
    #[serde(skip)]
    playlist: &'a Playlist,
}

fn serialize_rule<S: serde::Serializer>(rule: &&Rule, serializer: S) -> Result<S::Ok, S::Error> {
    RuleSummary::of(rule).serialize(serializer)
}

fn serialize_rules<S: serde::Serializer>(
    rules: &[&Rule],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(rules.iter().map(|rule| RuleSummary::of(rule)))
}

/// How a rule appears in JSON explanations.
#[derive(Serialize)]
struct RuleSummary<'a> {
    name: &'a str,
    kind: RuleKind,
    priority: i32,
}

impl<'a> RuleSummary<'a> {
    fn of(rule: &'a Rule) -> Self {
        Self {
            name: &rule.name,
            kind: rule.kind,
            priority: rule.priority,
        }
    }
}

fn describe_rule(rule: &Rule) -> String {
    match rule.kind {
        RuleKind::Loop => format!("loop `{}` (priority {})", rule.name, rule.priority),
        RuleKind::Interrupt { every } => format!(
            "interrupt `{}` (every {every}, priority {})",
            rule.name, rule.priority
        ),
    }
}

impl fmt::Display for Reason<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = self.rule;
        write!(formatter, "{}", describe_rule(rule))?;
        let mut conditions = Vec::new();
        for name in &rule.dayparts {
            match self.playlist.daypart(name) {
                Some(daypart) => conditions.push(format!("daypart `{name}` {}", daypart.span)),
                None => conditions.push(format!("daypart `{name}`")),
            }
        }
        if rule.weekdays != Weekdays::ALL {
            conditions.push(rule.weekdays.to_string());
        }
        match (rule.from, rule.until) {
            (Some(from), Some(until)) => conditions.push(format!("{from} to {until}")),
            (Some(from), None) => conditions.push(format!("from {from}")),
            (None, Some(until)) => conditions.push(format!("until {until}")),
            (None, None) => {}
        }
        if conditions.is_empty() {
            write!(formatter, " applies at all times")?;
        } else {
            write!(formatter, " applies: {}", conditions.join(", "))?;
        }
        if self.shadowed.is_empty() {
            write!(formatter, "; no other rule applies")
        } else {
            let shadowed: Vec<String> = self
                .shadowed
                .iter()
                .map(|other| {
                    let why = if other.priority < rule.priority {
                        "lower priority"
                    } else if rule.is_interrupt() && !other.is_interrupt() {
                        "interrupts win ties"
                    } else if !rule.plays_all_day() && other.plays_all_day() {
                        "it plays all day: the fallback when no rule with dates, weekdays or dayparts applies"
                    } else {
                        "same priority, written later"
                    };
                    format!("{} ({why})", describe_rule(other))
                })
                .collect();
            write!(formatter, "; it wins over {}", shadowed.join(", "))
        }
    }
}

fn millis(instant: jiff::Timestamp) -> i64 {
    instant.as_millisecond()
}

fn instant(milliseconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(milliseconds).unwrap_or(if milliseconds < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    })
}

impl RuleEngine {
    fn new(rule_index: usize, rule: &Rule, playlist: &Playlist) -> Self {
        let spans = if rule.dayparts.is_empty() {
            vec![TimeRange::WHOLE_DAY]
        } else {
            // A daypart missing from the playlist (a hand-edited manifest) makes the rule never
            // apply rather than apply all day.
            rule.dayparts
                .iter()
                .filter_map(|name| playlist.daypart(name))
                .map(|daypart| daypart.span)
                .collect()
        };
        let durations_ms: Vec<u64> = rule
            .items
            .iter()
            .map(|item| item.duration.as_millis())
            .collect();
        let total_ms = durations_ms.iter().sum::<u64>() as i64;
        let interrupt = match rule.kind {
            RuleKind::Loop => None,
            RuleKind::Interrupt { every } => Some((
                every.as_millis() as i64,
                total_ms.min(every.as_millis() as i64),
            )),
        };
        Self {
            spans,
            from: rule.from,
            until: rule.until,
            weekdays: rule.weekdays,
            rank: (
                rule.priority,
                rule.is_interrupt(),
                !rule.plays_all_day(),
                Reverse(rule_index),
            ),
            items_loop: Loop::new(durations_ms.clone()),
            durations_ms,
            interrupt,
        }
    }

    fn plays_on(&self, date: Date) -> bool {
        self.from.is_none_or(|from| date >= from)
            && self.until.is_none_or(|until| date <= until)
            && self.weekdays.contains(date.weekday())
    }

    /// The intervals (in ms, merged, sorted) during which the rule's conditions hold and that meet
    /// `[low, high)`.
    fn windows(&self, time_zone: &TimeZone, low: i64, high: i64) -> Vec<(i64, i64)> {
        if self.durations_ms.is_empty() {
            return Vec::new();
        }
        let first_date = time_zone.to_datetime(instant(low)).date();
        let last_date = time_zone.to_datetime(instant(high)).date();
        let mut occurrences = Vec::new();
        let mut date = first_date.yesterday().unwrap_or(first_date);
        while date <= last_date {
            if self.plays_on(date) {
                for span in &self.spans {
                    if let Some((start, end)) = span.occurrence(date, time_zone) {
                        occurrences.push((millis(start), millis(end)));
                    }
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        occurrences.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(occurrences.len());
        for (start, end) in occurrences {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged.retain(|&(start, end)| end > low && start < high);
        merged
    }

    fn in_phase(&self, at: i64) -> bool {
        match self.interrupt {
            None => true,
            Some((period, length)) => at.rem_euclid(period) < length,
        }
    }

    fn active_at(&self, windows: &[(i64, i64)], at: i64) -> bool {
        self.in_phase(at) && window_containing(windows, at).is_some()
    }

    /// The earliest instant after `at` and before `limit` at which the rule applies. Callers ask
    /// about rules that do not apply at `at`, so that instant is where the rule starts to apply.
    fn first_start_after(&self, windows: &[(i64, i64)], at: i64, limit: i64) -> Option<i64> {
        for &(start, end) in windows {
            if end <= at + 1 {
                continue;
            }
            if start >= limit {
                break;
            }
            let from = start.max(at + 1);
            let candidate = match self.interrupt {
                None => from,
                Some((period, length)) => {
                    let phase_start = from.div_euclid(period) * period;
                    if from < phase_start + length {
                        from
                    } else {
                        phase_start + period
                    }
                }
            };
            // An interrupt whose next turn falls after this window may still start in a later one.
            if candidate < end && candidate < limit {
                return Some(candidate);
            }
        }
        None
    }

    /// The latest instant after `floor` and at or before `at` at which the rule stopped applying.
    fn last_end_before(&self, windows: &[(i64, i64)], at: i64, floor: i64) -> Option<i64> {
        for &(start, end) in windows.iter().rev() {
            if start >= at {
                continue;
            }
            if end <= floor {
                break;
            }
            let until = end.min(at);
            let stop = match self.interrupt {
                None => until,
                Some((period, length)) => {
                    let phase_start = (until - 1).div_euclid(period) * period;
                    let phase_end = phase_start + length;
                    if phase_end <= start {
                        continue;
                    }
                    phase_end.min(until)
                }
            };
            if stop > floor {
                return Some(stop);
            }
        }
        None
    }

    /// The item whose turn covers `at` and that turn, in ms; the rule must be active at `at`.
    fn slot_at(&self, at: i64) -> (usize, i64, i64) {
        match self.interrupt {
            None => {
                let slot = self.items_loop.what_plays(instant(at)).unwrap_or(Slot {
                    item_index: 0,
                    start: instant(at),
                    end: instant(at + 1),
                });
                (slot.item_index, millis(slot.start), millis(slot.end))
            }
            Some((period, _)) => {
                let phase_start = at.div_euclid(period) * period;
                let mut item_start = phase_start;
                for (item_index, &duration) in self.durations_ms.iter().enumerate() {
                    let item_end = item_start + duration as i64;
                    if at < item_end {
                        return (item_index, item_start, item_end);
                    }
                    item_start = item_end;
                }
                (self.durations_ms.len() - 1, item_start, item_start + 1)
            }
        }
    }
}

fn window_containing(windows: &[(i64, i64)], at: i64) -> Option<(i64, i64)> {
    windows
        .iter()
        .copied()
        .find(|&(start, end)| start <= at && at < end)
}

impl Schedule {
    /// The engine for `playlist` on a screen in `time_zone` (the screen's zone; the playlist's own
    /// `timezone` is only a default the caller may use).
    pub fn new(playlist: Playlist, time_zone: TimeZone) -> Self {
        let zones = playlist
            .zones
            .iter()
            .map(|zone| {
                zone.rules
                    .iter()
                    .enumerate()
                    .map(|(rule_index, rule)| RuleEngine::new(rule_index, rule, &playlist))
                    .collect()
            })
            .collect();
        Self {
            playlist,
            time_zone,
            zones,
        }
    }

    pub fn playlist(&self) -> &Playlist {
        &self.playlist
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    /// The zones' names, in the order written.
    pub fn zone_names(&self) -> impl Iterator<Item = &str> {
        self.playlist.zones.iter().map(|zone| zone.name.as_str())
    }

    fn zone_index(&self, zone: &str) -> Option<usize> {
        self.playlist
            .zones
            .iter()
            .position(|known| known.name == zone)
    }

    /// What plays on `zone` at `at`, from when to when, and why; `None` when no rule applies (the
    /// zone shows its background) or the zone does not exist.
    pub fn what_plays(&self, zone: &str, at: jiff::Timestamp) -> Option<Play<'_>> {
        let zone_index = self.zone_index(zone)?;
        let engines = &self.zones[zone_index];
        let rules = &self.playlist.zones[zone_index].rules;
        let now = millis(at);
        // A turn lasts at most a day (the longest item), so the day either side is all that can
        // change what plays now.
        let low = now.saturating_sub(DAY_MS + HOUR_MS);
        let high = now.saturating_add(DAY_MS + HOUR_MS);
        let windows: Vec<Vec<(i64, i64)>> = engines
            .iter()
            .map(|engine| engine.windows(&self.time_zone, low, high))
            .collect();
        let mut active: Vec<usize> = (0..engines.len())
            .filter(|&index| engines[index].active_at(&windows[index], now))
            .collect();
        active.sort_by_key(|&index| Reverse(engines[index].rank));
        let (&winner, shadowed) = active.split_first()?;
        let engine = &engines[winner];
        let (item_index, scheduled_start, scheduled_end) = engine.slot_at(now);
        let (window_start, window_end) = window_containing(&windows[winner], now)?;
        let mut start = scheduled_start.max(window_start);
        let mut end = scheduled_end.min(window_end);
        // An interrupt's turn ends with its period at the latest: items longer than `every` (a
        // hand-made manifest; playlists refuse them) are cut where the next turn begins.
        if let Some((period, length)) = engine.interrupt {
            end = end.min(now.div_euclid(period) * period + length);
        }
        for (other, other_engine) in engines.iter().enumerate() {
            if other_engine.rank <= engine.rank {
                continue;
            }
            if let Some(stopped) = other_engine.last_end_before(&windows[other], now, start) {
                start = start.max(stopped);
            }
            if let Some(started) = other_engine.first_start_after(&windows[other], now, end) {
                end = end.min(started);
            }
        }
        Some(Play {
            zone: &self.playlist.zones[zone_index].name,
            rule_index: winner,
            item_index,
            item: &rules[winner].items[item_index],
            start: instant(start),
            end: instant(end),
            scheduled_start: instant(scheduled_start),
            scheduled_end: instant(scheduled_end),
            reason: Reason {
                rule: &rules[winner],
                shadowed: shadowed.iter().map(|&index| &rules[index]).collect(),
                playlist: &self.playlist,
            },
        })
    }

    /// Whether the dates, weekdays and dayparts of the rule named `rule` on `zone` hold at `at`
    /// (an interrupt rule may still be between two of its plays then); `None` when there is no
    /// such rule. The explain endpoint says with it whether a campaign applies at an instant.
    pub fn rule_in_window(&self, zone: &str, rule: &str, at: jiff::Timestamp) -> Option<bool> {
        let zone_index = self.zone_index(zone)?;
        let rule_index = self.playlist.zones[zone_index]
            .rules
            .iter()
            .position(|known| known.name == rule)?;
        let engine = &self.zones[zone_index][rule_index];
        let now = millis(at);
        let windows = engine.windows(
            &self.time_zone,
            now.saturating_sub(DAY_MS + HOUR_MS),
            now.saturating_add(DAY_MS + HOUR_MS),
        );
        Some(window_containing(&windows, now).is_some())
    }

    /// Every play on `zone` that overlaps `[from, to)`, in order. The first may start before `from`
    /// and the last end after `to`. Where no rule applies there is a hole between two plays. At most
    /// [`MAX_TIMELINE_PLAYS`].
    pub fn timeline(
        &self,
        zone: &str,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> Vec<Play<'_>> {
        let mut plays = Vec::new();
        let Some(zone_index) = self.zone_index(zone) else {
            return plays;
        };
        let mut cursor = from;
        while cursor < to && plays.len() < MAX_TIMELINE_PLAYS {
            match self.what_plays(zone, cursor) {
                Some(play) => {
                    cursor = play.end;
                    plays.push(play);
                }
                None => match self.next_start(zone_index, millis(cursor), millis(to)) {
                    Some(next) => cursor = instant(next),
                    None => break,
                },
            }
        }
        plays
    }

    /// The first instant after `at` (when nothing plays) and before `limit` at which a rule of the
    /// zone starts to apply.
    fn next_start(&self, zone_index: usize, at: i64, limit: i64) -> Option<i64> {
        let engines = &self.zones[zone_index];
        let mut chunk_start = at;
        while chunk_start < limit {
            let chunk_end = chunk_start.saturating_add(DAY_MS).min(limit);
            let earliest = engines
                .iter()
                .filter_map(|engine| {
                    let windows = engine.windows(&self.time_zone, chunk_start, chunk_end);
                    engine.first_start_after(&windows, chunk_start.max(at + 1) - 1, chunk_end)
                })
                .min();
            if earliest.is_some() {
                return earliest;
            }
            chunk_start = chunk_end;
        }
        None
    }
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
