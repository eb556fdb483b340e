//! Store-local time as staff write it: times of day (`08:00`), dayparts (`08:00-10:00`, possibly
//! crossing midnight), weekdays (`mon-fri`), colours and percentages, and the one place where a wall
//! clock reading becomes an instant in a time zone, with its DST rules.
//!
//! # Wall-clock readings and DST
//!
//! A daypart covers the instants at which a clock in the store reads a time inside it. Two nights a
//! year that reading is not one-to-one:
//!
//! - **Gap** (spring forward, e.g. Europe/Paris 2026-03-29 02:00 → 03:00): a time inside the gap never
//!   shows on the clock. A daypart starting or ending there starts or ends at the jump itself, the
//!   first instant after the gap (03:00 in the example). A daypart lying wholly inside the gap does
//!   not happen that night.
//! - **Fold** (fall back, e.g. Europe/Paris 2026-10-25 03:00 → 02:00): a time inside the fold shows
//!   twice. A daypart starts at the first time its start shows and ends at the last time its end
//!   shows, so it never loses time and stays one unbroken interval.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A time of day from `00:00` to `24:00` (the end of the day), to the minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    minutes: u16,
}

impl TimeOfDay {
    pub const MIDNIGHT: Self = Self { minutes: 0 };
    pub const END_OF_DAY: Self = Self { minutes: 24 * 60 };

    pub fn from_hour_minute(hour: u16, minute: u16) -> Option<Self> {
        let minutes = hour * 60 + minute;
        (minute < 60 && minutes <= 24 * 60).then_some(Self { minutes })
    }

    pub fn minutes_since_midnight(self) -> u16 {
        self.minutes
    }

    /// The time on a civil date; `24:00` is midnight at the start of the next day.
    pub fn on(self, date: Date) -> DateTime {
        if self.minutes == 24 * 60 {
            date.tomorrow()
                .unwrap_or(date)
                .to_datetime(Time::midnight())
        } else {
            let time = Time::new((self.minutes / 60) as i8, (self.minutes % 60) as i8, 0, 0)
                .unwrap_or(Time::midnight());
            date.to_datetime(time)
        }
    }

    fn from_civil(time: Time) -> Self {
        Self {
            minutes: time.hour() as u16 * 60 + time.minute() as u16,
        }
    }
}

impl FromStr for TimeOfDay {
    type Err = String;

    /// Reads `HH:MM` (24-hour clock). `24:00` is allowed, meaning the end of the day.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let Some((hour, minute)) = text.split_once(':') else {
            return Err(format!(
                "cannot read time `{text}`; write it as HH:MM on a 24-hour clock, like `08:30`"
            ));
        };
        let (Ok(hour), Ok(minute)) = (hour.parse::<u16>(), minute.parse::<u16>()) else {
            return Err(format!(
                "cannot read time `{text}`; write it as HH:MM on a 24-hour clock, like `08:30`"
            ));
        };
        if minute.to_string().len() > 2 || minute >= 60 {
            return Err(format!(
                "time `{text}` does not exist: minutes go from 00 to 59"
            ));
        }
        if hour > 24 || (hour == 24 && minute > 0) {
            return Err(format!(
                "time `{text}` does not exist: the day goes from 00:00 to 24:00"
            ));
        }
        Self::from_hour_minute(hour, minute).ok_or_else(|| format!("time `{text}` does not exist"))
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{:02}:{:02}",
            self.minutes / 60,
            self.minutes % 60
        )
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A span of the day, `start` to `end` in store-local time. When `end` is not after `start` the span
/// crosses midnight (`22:00-02:00`) and belongs to the day it starts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeRange {
    pub start: TimeOfDay,
    pub end: TimeOfDay,
}

impl TimeRange {
    pub const WHOLE_DAY: Self = Self {
        start: TimeOfDay::MIDNIGHT,
        end: TimeOfDay::END_OF_DAY,
    };

    pub fn crosses_midnight(self) -> bool {
        self.end <= self.start
    }

    /// Its length in minutes on a day without a DST change.
    pub fn minutes(self) -> u32 {
        if self.crosses_midnight() {
            u32::from(24 * 60 - self.start.minutes + self.end.minutes)
        } else {
            u32::from(self.end.minutes - self.start.minutes)
        }
    }

    /// The instants this span covers when it starts on `date`, in `time_zone`, following the rules in
    /// the module documentation. `None` when it does not happen (it lies wholly in a DST gap).
    pub fn occurrence(self, date: Date, time_zone: &TimeZone) -> Option<(Timestamp, Timestamp)> {
        let start = instant_of(self.start.on(date), time_zone, Boundary::Start);
        let end_date = if self.crosses_midnight() {
            date.tomorrow().ok()?
        } else {
            date
        };
        let end = instant_of(self.end.on(end_date), time_zone, Boundary::End);
        (start < end).then_some((start, end))
    }
}

impl FromStr for TimeRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let Some((start, end)) = text.split_once('-') else {
            return Err(format!(
                "cannot read time span `{text}`; write it as `HH:MM-HH:MM`, like `08:00-10:00`"
            ));
        };
        let start: TimeOfDay = start.parse()?;
        let end: TimeOfDay = end.parse()?;
        if start == TimeOfDay::END_OF_DAY {
            return Err(format!(
                "time span `{text}` starts at 24:00; start it at 00:00 instead"
            ));
        }
        if start == end {
            return Err(format!(
                "time span `{text}` starts and ends at the same time; for the whole day leave the daypart out, or write `00:00-24:00`"
            ));
        }
        Ok(Self { start, end })
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}-{}", self.start, self.end)
    }
}

impl Serialize for TimeRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Whether a wall-clock reading is the start or the end of a span; it decides which side of a DST
/// fold the reading takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundary {
    Start,
    End,
}

/// The instant at which a store clock reads `datetime`, for a span boundary (see the module docs):
/// a reading in a gap becomes the jump; a reading in a fold is the first occurrence for a start and
/// the last for an end.
pub fn instant_of(datetime: DateTime, time_zone: &TimeZone, boundary: Boundary) -> Timestamp {
    let ambiguous = time_zone.to_ambiguous_timestamp(datetime);
    let offset = match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => offset,
        AmbiguousOffset::Fold { before, after } => match boundary {
            Boundary::Start => before,
            Boundary::End => after,
        },
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the offset in force after the jump, the reading lies before the jump; the
            // first transition after it is the jump itself.
            let before_jump = after.to_timestamp(datetime).unwrap_or(Timestamp::MIN);
            return time_zone
                .following(before_jump)
                .next()
                .map(|transition| transition.timestamp())
                .unwrap_or(before_jump);
        }
    };
    offset.to_timestamp(datetime).unwrap_or(Timestamp::MAX)
}

/// What happens to a time of day on the nights the clocks change in a zone, for a warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClockChange {
    /// The time is skipped: the clocks jump from `from` to `to` on `example`.
    Gap {
        example: Date,
        from: TimeOfDay,
        to: TimeOfDay,
    },
    /// The time shows twice: the clocks go back from `from` to `to` on `example`.
    Fold {
        example: Date,
        from: TimeOfDay,
        to: TimeOfDay,
    },
}

/// Whether `time` falls into a DST gap or fold of `time_zone`, judged on the transitions of the ten
/// years from 2026 (a fixed window, so that validation gives the same answer every day).
pub fn clock_change_at(time: TimeOfDay, time_zone: &TimeZone) -> Option<ClockChange> {
    let window_start = Date::new(2026, 1, 1).ok()?.to_datetime(Time::midnight());
    let window_start = time_zone.to_timestamp(window_start).ok()?;
    let window_end = Date::new(2036, 1, 1).ok()?.to_datetime(Time::midnight());
    let window_end = time_zone.to_timestamp(window_end).ok()?;
    for transition in time_zone.following(window_start) {
        let instant = transition.timestamp();
        if instant >= window_end {
            break;
        }
        let just_before = instant
            .checked_sub(jiff::SignedDuration::from_nanos(1))
            .ok()?;
        let offset_before = time_zone.to_offset(just_before);
        let offset_after = transition.offset();
        // The wall-clock reading when the old offset stops and where the new one starts.
        let reading_before = offset_before.to_datetime(instant);
        let reading_after = offset_after.to_datetime(instant);
        // Only same-day changes of less than a day are meaningful for a time of day; zone
        // changes that move the date (rare, historical) are left alone.
        if reading_before.date() != reading_after.date() {
            continue;
        }
        let from = TimeOfDay::from_civil(reading_before.time());
        let to = TimeOfDay::from_civil(reading_after.time());
        let example = reading_before.date();
        // A reading inside [from, to) is skipped when clocks go forward, and inside [to, from) it
        // shows twice when they go back. Readings count to the minute: 02:30 is in 02:00 → 03:00.
        if from < to && time >= from && time < to {
            return Some(ClockChange::Gap { example, from, to });
        }
        if to < from && time >= to && time < from {
            return Some(ClockChange::Fold { example, from, to });
        }
    }
    None
}

/// A set of weekdays, Monday first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Weekdays {
    bits: u8,
}

const WEEKDAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const WEEKDAY_FULL_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

impl Weekdays {
    pub const ALL: Self = Self { bits: 0b111_1111 };
    pub const NONE: Self = Self { bits: 0 };

    pub fn contains(self, weekday: Weekday) -> bool {
        self.bits & (1 << (weekday.to_monday_zero_offset() as u8)) != 0
    }

    pub fn union(self, other: Self) -> Self {
        Self {
            bits: self.bits | other.bits,
        }
    }

    pub fn intersects(self, other: Self) -> bool {
        self.bits & other.bits != 0
    }

    pub fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// The days shifted one day later (for spans that cross midnight into the next day).
    pub fn next_days(self) -> Self {
        Self {
            bits: ((self.bits << 1) | (self.bits >> 6)) & 0b111_1111,
        }
    }

    /// The first day in the set, Monday first.
    pub fn first(self) -> Option<Weekday> {
        (0..7)
            .find(|index| self.bits & (1 << index) != 0)
            .and_then(|index| Weekday::from_monday_zero_offset(index).ok())
    }

    /// Reads one entry of a `weekdays:` list: `mon`, `monday`, or a range `mon-fri`.
    pub fn parse_entry(text: &str) -> Result<Self, String> {
        let text = text.trim().to_ascii_lowercase();
        let day = |name: &str| -> Result<u8, String> {
            WEEKDAY_NAMES
                .iter()
                .position(|short| *short == name)
                .or_else(|| WEEKDAY_FULL_NAMES.iter().position(|full| *full == name))
                .map(|index| index as u8)
                .ok_or_else(|| {
                    let suggestion = crate::yaml::closest_name(
                        name,
                        WEEKDAY_NAMES.iter().chain(WEEKDAY_FULL_NAMES.iter()).copied(),
                    );
                    match suggestion {
                        Some(close) => {
                            format!("unknown weekday `{name}`, did you mean `{close}`?")
                        }
                        None => format!(
                            "unknown weekday `{name}`; write mon, tue, wed, thu, fri, sat or sun, or a range like mon-fri"
                        ),
                    }
                })
        };
        match text.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (day(first.trim())?, day(last.trim())?);
                if last < first {
                    return Err(format!(
                        "weekday range `{text}` goes backwards; ranges run Monday to Sunday, so write two entries like `[fri-sun, mon]`"
                    ));
                }
                let bits = (first..=last).fold(0u8, |bits, index| bits | (1 << index));
                Ok(Self { bits })
            }
            None => Ok(Self {
                bits: 1 << day(&text)?,
            }),
        }
    }
}

impl fmt::Display for Weekdays {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ALL {
            return formatter.write_str("every day");
        }
        let names: Vec<&str> = (0..7)
            .filter(|index| self.bits & (1 << index) != 0)
            .map(|index| WEEKDAY_NAMES[index])
            .collect();
        formatter.write_str(&names.join(", "))
    }
}

impl Serialize for Weekdays {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let names: Vec<&str> = (0..7)
            .filter(|index| self.bits & (1 << index) != 0)
            .map(|index| WEEKDAY_NAMES[index])
            .collect();
        names.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Weekdays {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        names.iter().try_fold(Self::NONE, |days, name| {
            Ok(days.union(Self::parse_entry(name).map_err(serde::de::Error::custom)?))
        })
    }
}

/// A colour written `#rrggbb` or `#rrggbbaa`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Color {
    pub red: u8,
    pub green: u8,
    pub blue: u8,
    pub alpha: u8,
}

impl FromStr for Color {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let hex = text.strip_prefix('#').unwrap_or_default();
        let well_formed =
            (hex.len() == 6 || hex.len() == 8) && hex.bytes().all(|byte| byte.is_ascii_hexdigit());
        if !well_formed {
            return Err(format!(
                "cannot read colour `{text}`; write it as \"#rrggbb\" or \"#rrggbbaa\" in quotes, like \"#1a2b3c\""
            ));
        }
        let channel = |index: usize| u8::from_str_radix(&hex[index..index + 2], 16).unwrap_or(0);
        Ok(Self {
            red: channel(0),
            green: channel(2),
            blue: channel(4),
            alpha: if hex.len() == 8 { channel(6) } else { 255 },
        })
    }
}

impl fmt::Display for Color {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "#{:02x}{:02x}{:02x}",
            self.red, self.green, self.blue
        )?;
        if self.alpha != 255 {
            write!(formatter, "{:02x}", self.alpha)?;
        }
        Ok(())
    }
}

impl Serialize for Color {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Color {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A percentage from 0 to 100, kept in hundredths of a percent so that it compares exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Percent {
    hundredths: u32,
}

impl Percent {
    pub const ZERO: Self = Self { hundredths: 0 };
    pub const HUNDRED: Self = Self { hundredths: 10_000 };

    pub const fn from_hundredths(hundredths: u32) -> Self {
        Self { hundredths }
    }

    pub fn hundredths(self) -> u32 {
        self.hundredths
    }

    /// As a fraction from 0.0 to 1.0, for drawing.
    pub fn fraction(self) -> f32 {
        self.hundredths as f32 / 10_000.0
    }

    /// Reads `25%`, `12.5%` or a bare `25`; at most two decimals, from 0 to 100.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let number = trimmed.strip_suffix('%').unwrap_or(trimmed).trim();
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let readable = !whole.is_empty()
            && whole.bytes().all(|byte| byte.is_ascii_digit())
            && fraction.len() <= 2
            && fraction.bytes().all(|byte| byte.is_ascii_digit());
        if !readable {
            return Err(format!(
                "cannot read percentage `{trimmed}`; write it like `25%` or `12.5%`"
            ));
        }
        let whole: u32 = whole
            .parse()
            .map_err(|_| format!("percentage `{trimmed}` is over 100%"))?;
        let fraction: u32 = format!("{fraction:0<2}").parse().unwrap_or(0);
        let hundredths = whole.saturating_mul(100).saturating_add(fraction);
        if hundredths > 10_000 {
            return Err(format!("percentage `{trimmed}` is over 100%"));
        }
        Ok(Self { hundredths })
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hundredths.is_multiple_of(100) {
            write!(formatter, "{}%", self.hundredths / 100)
        } else {
            write!(
                formatter,
                "{}.{:02}%",
                self.hundredths / 100,
                self.hundredths % 100
            )
        }
    }
}

/// Reads a calendar date written `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<Date, String> {
    let text = text.trim();
    let looks_right = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
    if !looks_right {
        return Err(format!(
            "cannot read date `{text}`; write it as YYYY-MM-DD, like `2026-12-01`"
        ));
    }
    text.parse::<Date>()
        .map_err(|_| format!("date `{text}` does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_refuse_what_a_clock_never_shows() {
        assert_eq!("08:30".parse::<TimeOfDay>().unwrap().to_string(), "08:30");
        assert_eq!("24:00".parse::<TimeOfDay>().unwrap(), TimeOfDay::END_OF_DAY);
        for (text, expected) in [
            ("24:30", "the day goes from 00:00 to 24:00"),
            ("25:00", "the day goes from 00:00 to 24:00"),
            ("08:60", "minutes go from 00 to 59"),
            ("8h30", "HH:MM"),
            ("-1:00", "HH:MM"),
        ] {
            let error = text.parse::<TimeOfDay>().unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn spans_may_cross_midnight() {
        let span: TimeRange = "22:00-02:00".parse().unwrap();
        assert!(span.crosses_midnight());
        assert_eq!(span.minutes(), 240);
        assert!("10:00-10:00".parse::<TimeRange>().is_err());
    }

    #[test]
    fn weekdays_read_names_and_ranges() {
        let days = Weekdays::parse_entry("mon-fri").unwrap();
        assert!(days.contains(Weekday::Friday) && !days.contains(Weekday::Saturday));
        assert_eq!(days.to_string(), "mon, tue, wed, thu, fri");
        assert_eq!(
            Weekdays::parse_entry("sunday").unwrap().next_days().first(),
            Some(Weekday::Monday)
        );
        assert!(
            Weekdays::parse_entry("mnday")
                .unwrap_err()
                .contains("did you mean `monday`")
        );
    }

    #[test]
    fn colours_and_percentages() {
        assert_eq!("#FF8000".parse::<Color>().unwrap().to_string(), "#ff8000");
        assert_eq!("#ff800080".parse::<Color>().unwrap().alpha, 128);
        assert!("red".parse::<Color>().is_err());
        assert_eq!(Percent::parse("12.5%").unwrap().hundredths(), 1250);
        assert_eq!(Percent::parse("0").unwrap(), Percent::ZERO);
        assert!(Percent::parse("101%").is_err());
        assert!(Percent::parse("-5%").is_err());
    }

    #[test]
    fn a_reading_in_the_spring_gap_becomes_the_jump() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let night = Date::new(2026, 3, 29).unwrap();
        let span: TimeRange = "02:30-04:00".parse().unwrap();
        let (start, end) = span.occurrence(night, &paris).unwrap();
        assert_eq!(start.to_string(), "2026-03-29T01:00:00Z");
        assert_eq!(end.to_string(), "2026-03-29T02:00:00Z");
        let inside: TimeRange = "02:10-02:50".parse().unwrap();
        assert_eq!(inside.occurrence(night, &paris), None);
        assert!(matches!(
            clock_change_at("02:30".parse().unwrap(), &paris),
            Some(ClockChange::Gap { .. })
        ));
    }

    #[test]
    fn a_span_in_the_autumn_fold_takes_the_whole_fold() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let night = Date::new(2026, 10, 25).unwrap();
        let span: TimeRange = "02:30-02:45".parse().unwrap();
        let (start, end) = span.occurrence(night, &paris).unwrap();
        // The first 02:30 (CEST, +02) to the second 02:45 (CET, +01).
        assert_eq!(start.to_string(), "2026-10-25T00:30:00Z");
        assert_eq!(end.to_string(), "2026-10-25T01:45:00Z");
    }
}
