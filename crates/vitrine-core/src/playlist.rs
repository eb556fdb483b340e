//! Store playlists as staff write them in YAML, and their validation.
//!
//! Parsing happens in two stages: serde reads the text into raw types that mirror the YAML (every
//! user-written value keeps its line and column), then [`parse_playlist`] checks them and builds the
//! validated [`Playlist`] that the rest of the system works on. Unknown keys are refused, with a
//! "did you mean" hint where a known key is close.

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::duration::ItemDuration;

/// The playlist schema version this build reads.
pub const PLAYLIST_VERSION: u32 = 1;

/// The largest playlist file accepted, by the CLI and by the scheduler.
pub const MAX_PLAYLIST_BYTES: usize = 1024 * 1024;

mod raw {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Playlist {
        pub version: Spanned<u32>,
        pub name: Spanned<String>,
        pub items: Spanned<Vec<Item>>,
    }

    /// Externally tagged, so that the YAML reads `- image: {...}` and errors keep their location.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Item {
        Image(Image),
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Image {
        #[serde(default)]
        pub id: Option<Spanned<String>>,
        pub file: Spanned<String>,
        pub duration: Spanned<String>,
    }
}

/// Where in the source file a value was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceLocation {
    pub line: u64,
    pub column: u64,
}

impl SourceLocation {
    fn of<T>(spanned: &Spanned<T>) -> Self {
        Self {
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
        }
    }
}

/// A validated playlist: one full-screen zone playing its items in a loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Playlist {
    pub name: String,
    pub items: Vec<PlaylistItem>,
}

/// One item of a playlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaylistItem {
    /// Stable within the playlist: the `id` the file gives, or `item-N` by position (1-based).
    pub id: String,
    /// The media file, relative to the playlist file's folder.
    pub file: String,
    /// Where `file` was written, so a missing file can be reported at its line.
    pub file_location: SourceLocation,
    pub duration: ItemDuration,
}

impl Playlist {
    /// Checks that every media file the playlist names exists, as `exists` decides; one diagnostic
    /// per missing file, at the line that names it.
    pub fn check_media(&self, file_name: &str, exists: impl Fn(&str) -> bool) -> Diagnostics {
        Diagnostics(
            self.items
                .iter()
                .filter(|item| !exists(&item.file))
                .map(|item| {
                    Diagnostic::error(
                        file_name,
                        item.file_location.line,
                        item.file_location.column,
                        format!("media file `{}` not found", item.file),
                    )
                    .with_hint(
                        "media paths are relative to the playlist's folder; check the spelling \
                         or copy the file there",
                    )
                })
                .collect(),
        )
    }
}

/// Reads and validates a playlist. `file_name` is only used in diagnostics.
pub fn parse_playlist(file_name: &str, source: &str) -> Result<Playlist, Diagnostics> {
    if source.len() > MAX_PLAYLIST_BYTES {
        return Err(Diagnostics(vec![
            Diagnostic::error(
                file_name,
                1,
                1,
                format!(
                    "playlist is {} bytes, over the {MAX_PLAYLIST_BYTES}-byte limit",
                    source.len()
                ),
            )
            .with_hint("split it into several playlists"),
        ]));
    }
    let raw: raw::Playlist = serde_saphyr::from_str(source)
        .map_err(|error| Diagnostics(vec![diagnostic_from_yaml_error(file_name, &error)]))?;

    let mut problems = Vec::new();
    if raw.version.value != PLAYLIST_VERSION {
        let location = SourceLocation::of(&raw.version);
        problems.push(
            Diagnostic::error(
                file_name,
                location.line,
                location.column,
                format!(
                    "playlist version {} is not supported by this build",
                    raw.version.value
                ),
            )
            .with_hint(format!("write `version: {PLAYLIST_VERSION}`")),
        );
    }
    if raw.name.value.trim().is_empty() {
        let location = SourceLocation::of(&raw.name);
        problems.push(
            Diagnostic::error(
                file_name,
                location.line,
                location.column,
                "playlist name is empty",
            )
            .with_hint("give the playlist a name, e.g. `name: lobby`"),
        );
    }
    if raw.items.value.is_empty() {
        let location = SourceLocation::of(&raw.items);
        problems.push(
            Diagnostic::error(
                file_name,
                location.line,
                location.column,
                "playlist has no items",
            )
            .with_hint("add at least one item, e.g. `- image: { file: promo.png, duration: 10s }`"),
        );
    }

    let mut items = Vec::with_capacity(raw.items.value.len());
    let mut seen_ids = std::collections::HashMap::new();
    for (index, raw_item) in raw.items.value.into_iter().enumerate() {
        let raw::Item::Image(image) = raw_item;
        let id = match &image.id {
            Some(id) => id.value.clone(),
            None => format!("item-{}", index + 1),
        };
        if let Some(id_spanned) = &image.id {
            let location = SourceLocation::of(id_spanned);
            if let Some(first_line) = seen_ids.insert(id.clone(), location.line) {
                problems.push(
                    Diagnostic::error(
                        file_name,
                        location.line,
                        location.column,
                        format!("item id `{id}` is used twice (first on line {first_line})"),
                    )
                    .with_hint("item ids must be unique within a playlist"),
                );
            }
        }
        let duration = match ItemDuration::parse(&image.duration.value) {
            Ok(duration) => duration,
            Err(error) => {
                let location = SourceLocation::of(&image.duration);
                problems.push(Diagnostic::error(
                    file_name,
                    location.line,
                    location.column,
                    error.to_string(),
                ));
                continue;
            }
        };
        let file_location = SourceLocation::of(&image.file);
        if image.file.value.trim().is_empty() {
            problems.push(Diagnostic::error(
                file_name,
                file_location.line,
                file_location.column,
                "media file name is empty",
            ));
            continue;
        }
        items.push(PlaylistItem {
            id,
            file: image.file.value,
            file_location,
            duration,
        });
    }

    if problems.is_empty() {
        Ok(Playlist {
            name: raw.name.value,
            items,
        })
    } else {
        Err(Diagnostics(problems))
    }
}

/// Turns a YAML or structure error into a diagnostic at its location, with a hint where one helps.
fn diagnostic_from_yaml_error(file_name: &str, error: &serde_saphyr::Error) -> Diagnostic {
    let (line, column) = error
        .location()
        .map(|location| (location.line(), location.column()))
        .unwrap_or((1, 1));
    let message = yaml_error_message(error);
    let diagnostic = Diagnostic::error(file_name, line, column, message.clone());
    match did_you_mean(&message) {
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
fn did_you_mean(message: &str) -> Option<String> {
    let (kind, rest) = if let Some(rest) = message.strip_prefix("unknown field `") {
        ("key", rest)
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        ("item type", rest)
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
    let closest = candidates
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(unknown, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= candidate.len().max(2) / 2 + 1)
        .min()?;
    Some(format!(
        "unknown {kind} `{unknown}`, did you mean `{}`?",
        closest.1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = "version: 1\nname: demo\nitems:\n  - image:\n      file: red.png\n      duration: 1s\n  - image: { file: blue.png, duration: 1m30s, id: promo }\n";

    #[test]
    fn reads_a_playlist() {
        let playlist = parse_playlist("demo.yaml", DEMO).unwrap();
        assert_eq!(playlist.name, "demo");
        assert_eq!(playlist.items.len(), 2);
        assert_eq!(playlist.items[0].id, "item-1");
        assert_eq!(playlist.items[0].file, "red.png");
        assert_eq!(
            playlist.items[0].file_location,
            SourceLocation {
                line: 5,
                column: 13
            }
        );
        assert_eq!(playlist.items[1].id, "promo");
        assert_eq!(playlist.items[1].duration.as_millis(), 90_000);
    }

    fn single_error(source: &str) -> Diagnostic {
        let diagnostics = parse_playlist("bad.yaml", source).unwrap_err();
        assert_eq!(diagnostics.0.len(), 1, "{diagnostics}");
        diagnostics.0.into_iter().next().unwrap()
    }

    #[test]
    fn unknown_key_names_its_line_and_suggests_the_right_one() {
        let error = single_error(
            "version: 1\nname: demo\nitems:\n  - image:\n      file: red.png\n      durration: 1s\n",
        );
        assert_eq!((error.line, error.column), (6, 7), "{error}");
        assert!(
            error.message.contains("unknown field `durration`"),
            "{error}"
        );
        assert_eq!(
            error.hint.as_deref(),
            Some("unknown key `durration`, did you mean `duration`?")
        );
    }

    #[test]
    fn syntax_error_names_its_line() {
        let error = single_error("version: 1\nname: demo\nitems:\n  - image: { file: red.png\n");
        assert!(error.line >= 4, "{error}");
        assert_eq!(error.file, "bad.yaml");
    }

    #[test]
    fn unknown_item_type_is_refused_with_a_hint() {
        let error = single_error(
            "version: 1\nname: demo\nitems:\n  - imag: { file: a.png, duration: 1s }\n",
        );
        assert_eq!(error.line, 4, "{error}");
        assert_eq!(
            error.hint.as_deref(),
            Some("unknown item type `imag`, did you mean `image`?")
        );
    }

    #[test]
    fn every_semantic_problem_is_reported_at_once() {
        let diagnostics = parse_playlist(
            "bad.yaml",
            "version: 2\nname: demo\nitems:\n  - image: { file: a.png, duration: -1s }\n  - image: { file: b.png, duration: 0s }\n",
        )
        .unwrap_err();
        let positions: Vec<(u64, u64)> = diagnostics.iter().map(|d| (d.line, d.column)).collect();
        assert_eq!(positions, vec![(1, 10), (4, 37), (5, 37)], "{diagnostics}");
    }

    #[test]
    fn missing_media_is_reported_where_it_is_named() {
        let playlist = parse_playlist("demo.yaml", DEMO).unwrap();
        let diagnostics = playlist.check_media("demo.yaml", |file| file == "red.png");
        assert_eq!(diagnostics.0.len(), 1);
        assert_eq!(
            diagnostics.0[0].to_string().lines().next().unwrap(),
            "demo.yaml:7:20: error: media file `blue.png` not found"
        );
    }

    #[test]
    fn oversized_files_are_refused_with_the_limit() {
        let big = format!("{DEMO}#{}\n", "x".repeat(MAX_PLAYLIST_BYTES));
        let error = single_error(&big);
        assert!(error.message.contains("1048576-byte limit"), "{error}");
    }
}
