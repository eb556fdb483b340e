//! Durations as staff write them: `10s`, `1m30s`, `500ms`, `1h`.

use std::fmt;
use std::time::Duration;

/// A positive duration written in YAML, kept in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemDuration {
    milliseconds: u64,
}

/// Why a duration did not parse; the message is meant for the person who wrote it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(String);

/// The longest item a playlist may hold. Longer values are almost always a typo (`10h` for `10s`).
pub const MAX_ITEM_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

impl ItemDuration {
    pub fn from_millis(milliseconds: u64) -> Self {
        Self { milliseconds }
    }

    pub fn as_millis(self) -> u64 {
        self.milliseconds
    }

    pub fn as_std(self) -> Duration {
        Duration::from_millis(self.milliseconds)
    }

    /// Parses `1h`, `2m`, `10s`, `500ms` and their concatenations (`1m30s`), largest unit first.
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(DurationError(
                "empty duration; write it like `10s`, `1m30s` or `500ms`".into(),
            ));
        }
        if trimmed.starts_with('-') {
            return Err(DurationError(format!(
                "duration `{trimmed}` is negative; durations must be greater than zero"
            )));
        }
        let mut total: u64 = 0;
        let mut rest = trimmed;
        let mut last_unit_rank: Option<usize> = None;
        while !rest.is_empty() {
            let digits_end = rest
                .find(|character: char| !character.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits_end == 0 {
                return Err(DurationError(format!(
                    "cannot read duration `{trimmed}`; write it like `10s`, `1m30s` or `500ms`"
                )));
            }
            let number: u64 = rest[..digits_end].parse().map_err(|_| {
                DurationError(format!("the number in duration `{trimmed}` is too large"))
            })?;
            rest = &rest[digits_end..];
            let unit_end = rest
                .find(|character: char| character.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_end];
            rest = &rest[unit_end..];
            let (rank, unit_millis) = match unit {
                "h" => (0, 3_600_000),
                "m" => (1, 60_000),
                "s" => (2, 1_000),
                "ms" => (3, 1),
                "" => {
                    return Err(DurationError(format!(
                        "duration `{trimmed}` has no unit: a duration needs one, like `{number}s` or `1m30s`"
                    )));
                }
                other => {
                    return Err(DurationError(format!(
                        "unknown unit `{other}` in duration `{trimmed}`; use h, m, s or ms"
                    )));
                }
            };
            if last_unit_rank.is_some_and(|last| rank <= last) {
                return Err(DurationError(format!(
                    "units in duration `{trimmed}` must go from largest to smallest, each once (like `1m30s`)"
                )));
            }
            last_unit_rank = Some(rank);
            total = number
                .checked_mul(unit_millis)
                .and_then(|part| total.checked_add(part))
                .ok_or_else(|| DurationError(format!("duration `{trimmed}` is too large")))?;
        }
        if total == 0 {
            return Err(DurationError(format!(
                "duration `{trimmed}` is zero; durations must be greater than zero"
            )));
        }
        if total > MAX_ITEM_DURATION.as_millis() as u64 {
            return Err(DurationError(format!(
                "duration `{trimmed}` is longer than the 24h limit for one item"
            )));
        }
        Ok(Self::from_millis(total))
    }
}

impl fmt::Display for ItemDuration {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.milliseconds;
        let hours = rest / 3_600_000;
        rest %= 3_600_000;
        let minutes = rest / 60_000;
        rest %= 60_000;
        let seconds = rest / 1_000;
        let millis = rest % 1_000;
        if hours > 0 {
            write!(formatter, "{hours}h")?;
        }
        if minutes > 0 {
            write!(formatter, "{minutes}m")?;
        }
        if seconds > 0 {
            write!(formatter, "{seconds}s")?;
        }
        if millis > 0 {
            write!(formatter, "{millis}ms")?;
        }
        Ok(())
    }
}

/// In JSON (the manifest) a duration is written as staff write it, `"1m30s"`, so a manifest reads like
/// the playlist it came from.
impl serde::Serialize for ItemDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ItemDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_staff_write() {
        for (text, millis) in [
            ("10s", 10_000),
            ("1m30s", 90_000),
            ("500ms", 500),
            ("1h", 3_600_000),
            ("1h2m3s4ms", 3_723_004),
            (" 2s ", 2_000),
        ] {
            assert_eq!(
                ItemDuration::parse(text).unwrap().as_millis(),
                millis,
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_what_cannot_be_meant() {
        for (text, expected) in [
            ("", "empty"),
            ("10", "no unit"),
            ("-5s", "negative"),
            ("0s", "zero"),
            ("10x", "unknown unit `x`"),
            ("30s1m", "largest to smallest"),
            ("25h", "24h limit"),
            ("s", "cannot read"),
        ] {
            let error = ItemDuration::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?} gave {error:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["10s", "1m30s", "500ms", "1h2m3s4ms"] {
            assert_eq!(ItemDuration::parse(text).unwrap().to_string(), text);
        }
    }
}
