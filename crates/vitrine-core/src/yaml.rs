//! Helpers for the raw, YAML-shaped types of playlists and campaigns: values that remember where they
//! were written, scalars read as text whatever YAML thinks they are, ordered named maps, and the
//! translation of YAML and structure errors into located diagnostics with "did you mean" hints.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::diagnostic::Diagnostic;

/// Where in a source file a value was written (1-based line and column).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct SourceLocation {
    pub line: u64,
    pub column: u64,
}

/// A value read from YAML together with the place it was written.
///
/// It wraps serde-saphyr's `Spanned` so that the JSON Schema of the raw types can describe the value
/// itself: the wrapper is invisible in the YAML and in the schema.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Located<T>(pub Spanned<T>);

impl<T> Located<T> {
    pub fn value(&self) -> &T {
        &self.0.value
    }

    pub fn into_value(self) -> T {
        self.0.value
    }

    pub fn location(&self) -> SourceLocation {
        SourceLocation {
            line: self.0.referenced.line(),
            column: self.0.referenced.column(),
        }
    }
}

impl<T: JsonSchema> JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// A YAML scalar read as the text that was written. Staff write `x: 0` as readily as `x: 0%`, and
/// dates, times and numbers are easier to check (and to report on) from their text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a single value (text or a number)")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Scalar, E> {
                Ok(Scalar(value.to_owned()))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Scalar, E> {
                Ok(Scalar(value.to_string()))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Scalar, E> {
                Ok(Scalar(value.to_string()))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Scalar, E> {
                Ok(Scalar(value.to_string()))
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Scalar, E> {
                Ok(Scalar(value.to_string()))
            }

            // `background: #000000` is a comment in YAML, so the value arrives empty. Saying so is
            // the most useful thing this error can do.
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Err(E::custom(
                    "empty value (a colour like #ff0000 must be in quotes: \"#ff0000\")",
                ))
            }

            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                self.visit_unit()
            }
        }

        deserializer.deserialize_any(ScalarVisitor)
    }
}

impl JsonSchema for Scalar {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number"] })
    }
}

/// A YAML mapping from names to values, in the order written, with the location of every name.
/// Used where staff name things (`dayparts: { opening: "08:00-10:00" }`, zones of a layout).
#[derive(Debug)]
pub struct NamedMap<T>(pub Vec<(Located<String>, Located<T>)>);

impl<T> Default for NamedMap<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for NamedMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NamedMapVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for NamedMapVisitor<T> {
            type Value = NamedMap<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a mapping from names to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NamedMap<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Located<String>>()? {
                    let value = map.next_value::<Located<T>>()?;
                    entries.push((key, value));
                }
                Ok(NamedMap(entries))
            }

            // `dayparts:` with nothing after it is an empty map, not a mistake worth refusing.
            fn visit_unit<E: de::Error>(self) -> Result<NamedMap<T>, E> {
                Ok(NamedMap(Vec::new()))
            }
        }

        deserializer.deserialize_map(NamedMapVisitor(std::marker::PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for NamedMap<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let values = generator.subschema_for::<T>();
        json_schema!({
            "type": "object",
            "propertyNames": { "pattern": NAME_PATTERN },
            "additionalProperties": values,
        })
    }
}

/// Names staff give to zones, dayparts, loops and slots: lowercase letters, digits, `-` and `_`,
/// starting with a letter or digit. They end up in URLs, logs and reports, so they stay plain.
pub const NAME_PATTERN: &str = "^[a-z0-9][a-z0-9_-]*$";

/// Whether `name` follows [`NAME_PATTERN`].
pub fn is_plain_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && characters.all(|character| {
            character.is_ascii_lowercase()
                || character.is_ascii_digit()
                || character == '-'
                || character == '_'
        })
}

/// For `#[serde(deserialize_with)]` on optional fields whose value must not be empty: an absent key
/// is `None` (through `#[serde(default)]`), but a key written with nothing after it goes to the
/// value's own deserializer, which refuses it with a located message. `background: #000000` is the
/// case this is for: YAML reads everything after `#` as a comment.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Reads YAML text into a raw type, turning a YAML or structure error into a located diagnostic.
pub(crate) fn read<T: for<'de> Deserialize<'de>>(
    file_name: &str,
    source: &str,
) -> Result<T, Diagnostic> {
    serde_saphyr::from_str(source).map_err(|error| diagnostic_from_yaml_error(file_name, &error))
}

/// Turns a YAML or structure error into a diagnostic at its location, with a hint where one helps.
pub(crate) fn diagnostic_from_yaml_error(
    file_name: &str,
    error: &serde_saphyr::Error,
) -> Diagnostic {
    let (line, column) = error
        .location()
        .map(|location| (location.line(), location.column()))
        .filter(|&(line, _)| line > 0)
        .unwrap_or((1, 1));
    let message = yaml_error_message(error);
    // serde-saphyr's advice to change a parser option is for programmers, not for staff.
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return Diagnostic::error(
            file_name,
            line,
            column,
            format!("key `{key}` is written twice"),
        )
        .with_hint("keep only one of them");
    }
    let diagnostic = Diagnostic::error(file_name, line, column, message.clone());
    match did_you_mean_from_serde(&message) {
        Some(hint) => diagnostic.with_hint(hint),
        None => diagnostic,
    }
}

/// The error's own words, without the location and snippet serde-saphyr adds (ours go in front).
fn yaml_error_message(error: &serde_saphyr::Error) -> String {
    let mut options = serde_saphyr::RenderOptions::default();
    options.snippets = serde_saphyr::SnippetMode::Off;
    let rendered = error.render_with_options(options);
    let first_line = rendered.lines().next().unwrap_or_default().trim();
    // serde-saphyr appends " at line L, column C"; the diagnostic already carries both.
    match first_line.rfind(" at line ") {
        Some(position) => first_line[..position].to_owned(),
        None => first_line.to_owned(),
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" messages, the closest known name.
fn did_you_mean_from_serde(message: &str) -> Option<String> {
    let (kind, rest) = if let Some(rest) = message.strip_prefix("unknown field `") {
        ("key", rest)
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        ("value", rest)
    } else {
        return None;
    };
    let (unknown, expected) = rest.split_once('`')?;
    // serde says "expected `a` or `b`"; serde-saphyr rewrites it as "expected one of a, b".
    let expected = expected.split_once("expected").map_or("", |(_, list)| list);
    let expected = expected.trim().trim_start_matches("one of");
    let candidates: Vec<&str> = expected
        .split([',', ' '])
        .map(|word| {
            word.trim_matches(|character: char| character == '`' || character.is_whitespace())
        })
        .filter(|word| !word.is_empty() && *word != "or")
        .collect();
    let closest = closest_name(unknown, candidates.iter().copied())?;
    Some(format!(
        "unknown {kind} `{unknown}`, did you mean `{closest}`?"
    ))
}

/// The candidate closest to `unknown`, if one is close enough to be a likely typo.
pub fn closest_name<'a>(
    unknown: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|candidate| (strsim::damerau_levenshtein(unknown, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= candidate.len().max(2) / 2 + 1)
        .min()
        .map(|(_, candidate)| candidate)
}
