//! The price rules of a product feed that depend on time or quantity: the sale price's effective
//! window (evaluated in the store's time zone when it names no offset) and unit pricing (the
//! price per kg, per litre, per 100 g a card shows where the law asks for it).

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan as _};
use serde::{Deserialize, Serialize};

/// One end of a sale window: an instant when the feed wrote an offset (`2026-03-01T00:00+01:00`),
/// else a wall-clock time read in the store's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowEdge {
    Instant(Timestamp),
    Local(DateTime),
}

impl WindowEdge {
    /// The instant of this edge in `time_zone`. A local time that falls in a daylight-saving gap
    /// is moved forward by the gap, and one that falls in a fold is its first occurrence (RFC 5545's
    /// rule, jiff's `compatible`).
    pub fn instant_in(&self, time_zone: &TimeZone) -> Timestamp {
        match self {
            Self::Instant(instant) => *instant,
            Self::Local(civil) => time_zone
                .to_ambiguous_timestamp(*civil)
                .compatible()
                .unwrap_or(Timestamp::MAX),
        }
    }
}

/// `sale_price_effective_date`: the sale price applies from `start` (inclusive) to `end`
/// (exclusive). Written `START/END` in ISO 8601, each a date-time with or without an offset, or a
/// date alone (a start date begins at midnight; an end date includes its whole day).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SaleWindow {
    pub start: WindowEdge,
    pub end: WindowEdge,
}

impl SaleWindow {
    /// Whether the sale price is in force at `instant` in a store of `time_zone`.
    pub fn contains(&self, instant: Timestamp, time_zone: &TimeZone) -> bool {
        self.start.instant_in(time_zone) <= instant && instant < self.end.instant_in(time_zone)
    }
}

fn read_edge(text: &str, is_end: bool) -> Result<WindowEdge, String> {
    let text = text.trim();
    if let Ok(instant) = text.parse::<Timestamp>() {
        return Ok(WindowEdge::Instant(instant));
    }
    // `+0100` without a colon is common in feeds; jiff wants `+01:00`.
    if let Some(fixed) = with_offset_colon(text)
        && let Ok(instant) = fixed.parse::<Timestamp>()
    {
        return Ok(WindowEdge::Instant(instant));
    }
    if text.contains('T') {
        return text
            .parse::<DateTime>()
            .map(WindowEdge::Local)
            .map_err(|error| format!("`{text}` is not an ISO 8601 date and time: {error}"));
    }
    let date: Date = text
        .parse()
        .map_err(|error| format!("`{text}` is not an ISO 8601 date: {error}"))?;
    let date = if is_end {
        date.checked_add(1.day())
            .map_err(|error| format!("`{text}`: {error}"))?
    } else {
        date
    };
    Ok(WindowEdge::Local(
        date.to_datetime(jiff::civil::Time::midnight()),
    ))
}

/// `2026-03-01T00:00+0100` → `2026-03-01T00:00+01:00`; None when there is nothing to fix.
fn with_offset_colon(text: &str) -> Option<String> {
    let (head, tail) = text.split_at(text.len().checked_sub(5)?);
    let bytes = tail.as_bytes();
    let is_offset = matches!(bytes[0], b'+' | b'-') && bytes[1..].iter().all(u8::is_ascii_digit);
    is_offset.then(|| format!("{head}{}:{}", &tail[..3], &tail[3..]))
}

impl FromStr for SaleWindow {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (start, end) = text.split_once('/').ok_or_else(|| {
            format!(
                "`{text}` is not a window; write it like \
                 `2026-03-01T00:00+01:00/2026-03-08T23:59+01:00`"
            )
        })?;
        let window = Self {
            start: read_edge(start, false)?,
            end: read_edge(end, true)?,
        };
        // Compared in UTC: with a local edge the order could only flip across a zone's offset,
        // which a window of days does not care about.
        if window.end.instant_in(&TimeZone::UTC) <= window.start.instant_in(&TimeZone::UTC) {
            return Err(format!("`{text}` ends before it starts"));
        }
        Ok(window)
    }
}

impl fmt::Display for WindowEdge {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Instant(instant) => write!(formatter, "{instant}"),
            Self::Local(civil) => write!(formatter, "{civil}"),
        }
    }
}

impl fmt::Display for SaleWindow {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.start, self.end)
    }
}

impl TryFrom<String> for SaleWindow {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<SaleWindow> for String {
    fn from(window: SaleWindow) -> String {
        window.to_string()
    }
}

/// What a unit measures, so that `750 g` and `1 kg` compare and `750 g` and `1 l` do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dimension {
    Mass,
    Volume,
    Length,
    Area,
    Count,
}

/// The units of Merchant Center's `unit_pricing_measure`, each with its size in the dimension's
/// smallest common unit (grams, millilitres, centimetres, square metres, items).
const UNITS: &[(&str, Dimension, f64)] = &[
    ("mg", Dimension::Mass, 0.001),
    ("g", Dimension::Mass, 1.0),
    ("kg", Dimension::Mass, 1000.0),
    ("oz", Dimension::Mass, 28.349_523_125),
    ("lb", Dimension::Mass, 453.592_37),
    ("ml", Dimension::Volume, 1.0),
    ("cl", Dimension::Volume, 10.0),
    ("l", Dimension::Volume, 1000.0),
    ("cbm", Dimension::Volume, 1_000_000.0),
    ("floz", Dimension::Volume, 29.573_529_562_5),
    ("pt", Dimension::Volume, 473.176_473),
    ("qt", Dimension::Volume, 946.352_946),
    ("gal", Dimension::Volume, 3_785.411_784),
    ("cm", Dimension::Length, 1.0),
    ("m", Dimension::Length, 100.0),
    ("in", Dimension::Length, 2.54),
    ("ft", Dimension::Length, 30.48),
    ("yd", Dimension::Length, 91.44),
    ("sqm", Dimension::Area, 1.0),
    ("sqft", Dimension::Area, 0.092_903_04),
    ("ct", Dimension::Count, 1.0),
];

/// A quantity with its unit, like `750 g`: kept as written, checked when read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Measure {
    /// The amount in thousandths, so that measures compare exactly.
    thousandths: i64,
    /// An index into [`UNITS`].
    unit: usize,
}

impl Measure {
    fn amount(&self) -> f64 {
        self.thousandths as f64 / 1000.0
    }

    fn unit_entry(&self) -> (Dimension, f64) {
        let (_, dimension, size) = UNITS[self.unit];
        (dimension, size)
    }

    fn unit_name(&self) -> &'static str {
        UNITS[self.unit].0
    }

    /// The measure in its dimension's smallest common unit.
    fn size(&self) -> (Dimension, f64) {
        let (dimension, size) = self.unit_entry();
        (dimension, self.amount() * size)
    }
}

impl FromStr for Measure {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|character: char| character.is_ascii_alphabetic())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let unit = unit.trim().to_ascii_lowercase();
        let Some(unit) = UNITS.iter().position(|(name, _, _)| *name == unit) else {
            return Err(format!(
                "`{text}` has no known unit; write it like `750 g` with one of {}",
                UNITS
                    .iter()
                    .map(|(name, _, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let amount: f64 = number
            .trim()
            .replace(',', ".")
            .parse()
            .ok()
            .filter(|amount: &f64| amount.is_finite() && *amount > 0.0 && *amount < 1e12)
            .ok_or_else(|| format!("`{text}` is not a positive amount with a unit"))?;
        Ok(Self {
            thousandths: (amount * 1000.0).round() as i64,
            unit,
        })
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.thousandths / 1000;
        let fraction = self.thousandths % 1000;
        if fraction == 0 {
            write!(formatter, "{whole} {}", self.unit_name())
        } else {
            let fraction = format!("{fraction:03}");
            write!(
                formatter,
                "{whole}.{} {}",
                fraction.trim_end_matches('0'),
                self.unit_name()
            )
        }
    }
}

impl TryFrom<String> for Measure {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<Measure> for String {
    fn from(measure: Measure) -> String {
        measure.to_string()
    }
}

/// `unit_pricing_measure` and `unit_pricing_base_measure`: how much product the price buys, and
/// the quantity the unit price is given for (1 of the measure's unit when the feed names none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnitPricing {
    /// Like `750 g`.
    #[schema(value_type = String)]
    pub measure: Measure,
    /// Like `1 kg`.
    #[schema(value_type = String)]
    pub base: Measure,
}

impl UnitPricing {
    /// Checks that the two measures are of one kind (mass with mass, volume with volume).
    pub fn new(measure: &str, base: &str) -> Result<Self, String> {
        let measure: Measure = measure
            .parse()
            .map_err(|error| format!("unit_pricing_measure: {error}"))?;
        let base: Measure = if base.trim().is_empty() {
            Measure {
                thousandths: 1000,
                unit: measure.unit,
            }
        } else {
            base.parse()
                .map_err(|error| format!("unit_pricing_base_measure: {error}"))?
        };
        if measure.unit_entry().0 != base.unit_entry().0 {
            return Err(format!(
                "unit_pricing_measure `{measure}` and unit_pricing_base_measure `{base}` measure \
                 different things"
            ));
        }
        Ok(Self { measure, base })
    }

    /// The price of the base quantity, in cents, for a product that costs `price_cents`.
    pub fn unit_price_cents(&self, price_cents: i64) -> i64 {
        let (_, measure) = self.measure.size();
        let (_, base) = self.base.size();
        (price_cents as f64 * base / measure).round() as i64
    }

    /// What the unit price is per, as a card writes it: `kg`, `100 g`.
    pub fn per(&self) -> String {
        if self.base.thousandths == 1000 {
            self.base.unit_name().to_owned()
        } else {
            self.base.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_window_with_offsets_is_the_same_everywhere() {
        let window: SaleWindow = "2026-03-01T00:00+0100/2026-03-08T23:59+01:00"
            .parse()
            .unwrap();
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        assert!(!window.contains(at("2026-02-28T22:59Z"), &tokyo));
        assert!(window.contains(at("2026-02-28T23:00Z"), &tokyo));
        assert!(window.contains(at("2026-03-08T22:58Z"), &tokyo));
        assert!(!window.contains(at("2026-03-08T22:59Z"), &tokyo));
    }

    #[test]
    fn a_window_without_offsets_follows_the_store_across_a_dst_change() {
        // Paris springs forward on 29 March 2026 at 02:00 (to 03:00) and falls back on 25 October
        // at 03:00 (to 02:00).
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let window: SaleWindow = "2026-03-28T09:00/2026-03-29T09:00".parse().unwrap();
        // Opens at 09:00 CET (08:00Z), closes at 09:00 CEST (07:00Z): a 23-hour sale.
        assert!(!window.contains(at("2026-03-28T07:59Z"), &paris));
        assert!(window.contains(at("2026-03-28T08:00Z"), &paris));
        assert!(window.contains(at("2026-03-29T06:59Z"), &paris));
        assert!(!window.contains(at("2026-03-29T07:00Z"), &paris));
        // An end inside the gap (02:30 does not exist) moves forward by the gap: 03:30 CEST.
        let gap: SaleWindow = "2026-03-28T00:00/2026-03-29T02:30".parse().unwrap();
        assert!(gap.contains(at("2026-03-29T01:29Z"), &paris));
        assert!(!gap.contains(at("2026-03-29T01:30Z"), &paris));
        // An end inside the fold (02:30 happens twice) is its first occurrence: 02:30 CEST.
        let fold: SaleWindow = "2026-10-24T00:00/2026-10-25T02:30".parse().unwrap();
        assert!(fold.contains(at("2026-10-25T00:29Z"), &paris));
        assert!(!fold.contains(at("2026-10-25T00:30Z"), &paris));
        // The same window in New York is another span of instants.
        let new_york = TimeZone::get("America/New_York").unwrap();
        assert!(!window.contains(at("2026-03-28T12:59Z"), &new_york));
        assert!(window.contains(at("2026-03-29T10:00Z"), &new_york));
        assert!(!window.contains(at("2026-03-29T10:00Z"), &paris));
    }

    #[test]
    fn date_only_windows_include_their_last_day() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let window: SaleWindow = "2026-12-01/2026-12-24".parse().unwrap();
        assert!(window.contains(at("2026-12-24T22:59Z"), &paris));
        assert!(!window.contains(at("2026-12-24T23:00Z"), &paris));
        assert_eq!(
            window.to_string(),
            "2026-12-01T00:00:00/2026-12-25T00:00:00"
        );
        let again: SaleWindow = window.to_string().parse().unwrap();
        assert_eq!(again, window);
    }

    #[test]
    fn bad_windows_say_why() {
        for (text, expected) in [
            ("2026-03-01", "is not a window"),
            ("2026-03-08/2026-03-01", "ends before it starts"),
            ("soon/later", "is not an ISO 8601 date"),
            (
                "2026-03-01T25:00/2026-03-02",
                "is not an ISO 8601 date and time",
            ),
        ] {
            let error = text.parse::<SaleWindow>().unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn unit_prices_convert_between_units() {
        let pricing = UnitPricing::new("750 g", "1 kg").unwrap();
        assert_eq!(pricing.unit_price_cents(499), 665);
        assert_eq!(pricing.per(), "kg");
        let per_100 = UnitPricing::new("1.5l", "100ml").unwrap();
        assert_eq!(per_100.unit_price_cents(179), 12);
        assert_eq!(per_100.per(), "100 ml");
        let default_base = UnitPricing::new("0,5 kg", "").unwrap();
        assert_eq!(default_base.unit_price_cents(300), 600);
        assert_eq!(default_base.measure.to_string(), "0.5 kg");
        let error = UnitPricing::new("750 g", "1 l").unwrap_err();
        assert!(error.contains("different things"), "{error}");
        let error = UnitPricing::new("750 parsecs", "").unwrap_err();
        assert!(error.contains("no known unit"), "{error}");
        let error = UnitPricing::new("-3 kg", "").unwrap_err();
        assert!(error.contains("positive amount"), "{error}");
    }
}
