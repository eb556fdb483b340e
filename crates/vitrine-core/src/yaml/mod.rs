//! Helpers for the raw, YAML-shaped types of playlists and campaigns: values that remember where they
//! were written, scalars read as text whatever YAML thinks they are, ordered named maps and lists
//! that keep going past a bad entry, and the translation of YAML errors into located diagnostics
//! with "did you mean" hints. `tree` reads the YAML so that every mistake in a file is reported in
//! one run.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;

pub(crate) mod tree;

pub(crate) use tree::Outcome;
use tree::Place;

/// Where in a source file a value was written (1-based line and column).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct SourceLocation {
    pub line: u64,
    pub column: u64,
}

/// A value read from YAML together with the place it was written. The wrapper is invisible in the
/// YAML and in the JSON Schema.
#[derive(Debug)]
pub struct Located<T> {
    value: T,
    location: SourceLocation,
}

impl<T> Located<T> {
    pub fn value(&self) -> &T {
        &self.value
    }

    pub fn into_value(self) -> T {
        self.value
    }

    pub fn location(&self) -> SourceLocation {
        self.location
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LocatedVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for LocatedVisitor<T> {
            type Value = Located<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a value with its place in the file")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut parts: A) -> Result<Located<T>, A::Error> {
                let line = parts.next_element::<u64>()?;
                let column = parts.next_element::<u64>()?;
                let value = parts.next_element::<T>()?;
                match (line, column, value) {
                    (Some(line), Some(column), Some(value)) => Ok(Located {
                        value,
                        location: SourceLocation { line, column },
                    }),
                    _ => Err(de::Error::custom("a located value lacks its place")),
                }
            }
        }

        deserializer
            .deserialize_newtype_struct(tree::LOCATED, LocatedVisitor(std::marker::PhantomData))
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

            // Reported with the form the key takes (see `tree`), which this visitor does not know.
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Err(E::invalid_type(de::Unexpected::Unit, &self))
            }

            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                self.visit_unit()
            }
        }

        // As text: the tree deserializer hands over what was written (`on`, not `true`).
        deserializer.deserialize_str(ScalarVisitor)
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
/// Used where staff name things (`dayparts: { opening: "08:00-10:00" }`, zones of a layout). The
/// second list holds the names whose value could not be read (reported already), so that what
/// refers to them is not reported again.
#[derive(Debug)]
pub struct NamedMap<T>(
    pub Vec<(Located<String>, Located<T>)>,
    pub Vec<Located<String>>,
);

impl<T> Default for NamedMap<T> {
    fn default() -> Self {
        Self(Vec::new(), Vec::new())
    }
}

impl<'de, T: for<'any> Deserialize<'any>> Deserialize<'de> for NamedMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let place = Place::of(deserializer)?;
        // `dayparts:` with nothing after it is an empty map, not a mistake worth refusing.
        match place.read_pairs("a mapping from names to values, like `opening: \"08:00-10:00\"`") {
            Ok((pairs, left_out)) => Ok(NamedMap(pairs, left_out)),
            Err(error) => Err(tree::refuse(&place, error)),
        }
    }
}

/// The entries of a YAML list, each with its location. An entry with a mistake is reported and
/// left out, so the entries after it are still checked.
#[derive(Debug)]
pub struct Entries<T>(pub Vec<Located<T>>);

impl<T> std::ops::Deref for Entries<T> {
    type Target = Vec<Located<T>>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<'a, T> IntoIterator for &'a Entries<T> {
    type Item = &'a Located<T>;
    type IntoIter = std::slice::Iter<'a, Located<T>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'de, T: for<'any> Deserialize<'any>> Deserialize<'de> for Entries<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let place = Place::of(deserializer)?;
        match place.read_entries("a list, like `[a, b]`") {
            Ok(entries) => Ok(Entries(entries)),
            Err(error) => Err(tree::refuse(&place, error)),
        }
    }
}

impl<T: JsonSchema> JsonSchema for Entries<T> {
    fn inline_schema() -> bool {
        <Vec<Located<T>>>::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        <Vec<Located<T>>>::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        <Vec<Located<T>>>::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        <Vec<Located<T>>>::json_schema(generator)
    }
}

/// For `#[serde(deserialize_with)]` on every optional key: an empty or absent key is `None`, and a
/// value with a mistake is reported and read as absent, so the rest of the file is still checked.
pub(crate) fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: for<'any> Deserialize<'any>,
{
    let place = Place::of(deserializer)?;
    if place.is_null() {
        return Ok(None);
    }
    Ok(place.read())
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

/// For `#[serde(deserialize_with)]` on optional colours: an absent key is `None` (through
/// `#[serde(default)]`), but a key written with nothing after it is a mistake. `background: #000000`
/// is the case this is for: YAML reads everything after `#` as a comment.
pub(crate) fn colour<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: for<'any> Deserialize<'any>,
{
    let place = Place::of(deserializer)?;
    if place.is_null() {
        // Reported here and read as absent: the rest of the zone or item is still checked.
        place.report(tree::empty_colour());
        return Ok(None);
    }
    Ok(place.read())
}

/// Reads YAML text into a raw type, collecting every problem. A YAML syntax error stops the read
/// and is the one diagnostic returned; otherwise the value is `None` only when its top level could
/// not be read, and the outcome holds every problem found.
pub(crate) fn read<T: for<'de> Deserialize<'de>>(
    file_name: &str,
    source: &str,
) -> Result<(Option<T>, Outcome), Diagnostic> {
    let tree =
        tree::Tree::parse(source).map_err(|error| diagnostic_from_yaml_error(file_name, &error))?;
    Ok(tree::read_tree(file_name, tree))
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
    Diagnostic::error(file_name, line, column, yaml_error_message(error))
        .with_hint("check the indentation and the brackets and quotes around this place")
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
