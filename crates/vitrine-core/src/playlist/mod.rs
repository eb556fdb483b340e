//! Store playlists as staff write them in YAML, their validation, and the validated model the schedule
//! engine, the manifest and the player work on.
//!
//! Parsing happens in two stages: serde reads the text into the raw types of [`raw`] that mirror the
//! YAML (every user-written value keeps its line and column), then `check` validates them and builds
//! the [`Playlist`]. Validation reports every problem at once. Unknown keys are refused with a "did you
//! mean" hint. Included fragments are read through a resolver the caller supplies, because this crate
//! does no I/O; their problems are reported in the fragment's own file.
//!
//! The validated types are plain serde types (JSON): the scheduler puts a validated playlist into each
//! screen's manifest and the player runs the schedule engine on it without any YAML.

pub(crate) mod check;
pub(crate) mod raw;

use jiff::civil::Date;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::duration::ItemDuration;
use crate::timing::{Color, Percent, TimeRange, Weekdays};

pub use crate::yaml::SourceLocation;

/// The playlist schema version this build reads.
pub const PLAYLIST_VERSION: u32 = 1;

/// The largest playlist (or fragment) file accepted, by the CLI and by the scheduler.
pub const MAX_PLAYLIST_BYTES: usize = 1024 * 1024;

/// The most fragments one playlist may include.
pub const MAX_INCLUDES: usize = 32;

// What one playlist, with its fragments, may hold. The numbers are far above what a store uses;
// they bound the work of validating a push (the scheduler does it for every one) and of the
// engine on a screen. Each is refused with a diagnostic that names it, at the entry beyond it.

/// The most zones in a `layout`.
pub const MAX_ZONES: usize = 32;
/// The most rules (loops and interrupts, its `items` and its fragments' included) of one zone.
pub const MAX_RULES_PER_ZONE: usize = 256;
/// The most items of one rule (or of a campaign's `fill`).
pub const MAX_ITEMS_PER_RULE: usize = 1_000;
/// The most dayparts one playlist (with its fragments) or campaign defines.
pub const MAX_DAYPARTS: usize = 256;
/// The most dayparts one rule (or offer) names.
pub const MAX_DAYPARTS_PER_RULE: usize = 32;
/// The most entries of one `weekdays` list.
pub const MAX_WEEKDAY_ENTRIES: usize = 14;
/// The most names in one list of screens, tags, stores, regions or segments.
pub const MAX_NAMES: usize = 1_000;
/// The most diagnostics one validation reports; a last one says how many more were found.
pub const MAX_DIAGNOSTICS: usize = 1_000;

/// The zone a playlist without a `layout` gets, and that top-level `items` belong to.
pub const MAIN_ZONE: &str = "main";

/// Reads an included fragment by the path written in the playlist: its text, or why it could not be
/// read (the message goes into a diagnostic at the `include` entry).
pub type IncludeResolver<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// A value that passed validation, with the warnings found on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<T> {
    pub value: T,
    pub warnings: Diagnostics,
}

/// Reads and validates a playlist that includes no fragments. `file_name` is only used in
/// diagnostics. On success warnings are dropped; use [`parse_playlist_with_includes`] to see them.
/// On failure the diagnostics hold every error and warning.
pub fn parse_playlist(file_name: &str, source: &str) -> Result<Playlist, Diagnostics> {
    let refuse_includes = |path: &str| -> Result<String, String> {
        Err(format!(
            "`{path}` cannot be read here: this tool reads single files; validate the playlist from its folder"
        ))
    };
    parse_playlist_with_includes(file_name, source, &refuse_includes).map(|parsed| parsed.value)
}

/// Reads and validates a playlist, reading each `include:` through `resolver` (given the path as
/// written). Diagnostics in a fragment name the fragment's path as their file.
pub fn parse_playlist_with_includes(
    file_name: &str,
    source: &str,
    resolver: IncludeResolver<'_>,
) -> Result<Parsed<Playlist>, Diagnostics> {
    check::playlist(file_name, source, resolver)
}

/// `landscape` or `portrait`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    #[default]
    Landscape,
    Portrait,
}

/// How an image or video fills its zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// All of the picture shows, with bars where the shapes differ.
    #[default]
    Contain,
    /// The zone is filled; what sticks out is cropped.
    Cover,
    /// The picture is stretched to the zone's shape.
    Stretch,
}

/// Horizontal alignment of text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    Left,
    #[default]
    Center,
    Right,
}

/// Where a validated value was written: the file (`None` for the playlist itself, or the include
/// path as written for a fragment), line and column.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
    pub line: u64,
    pub column: u64,
}

impl Origin {
    /// The file to name in a diagnostic, given the playlist's own file name.
    pub fn file<'a>(&'a self, playlist_file: &'a str) -> &'a str {
        self.include.as_deref().unwrap_or(playlist_file)
    }

    pub fn location(&self) -> SourceLocation {
        SourceLocation {
            line: self.line,
            column: self.column,
        }
    }
}

/// A validated playlist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playlist {
    pub name: String,
    /// Screens of the store it is for; empty for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub screens: Vec<String>,
    /// Screen tags it is for; empty for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub orientation: Orientation,
    /// The IANA zone it was written for, if it names one. A screen's own zone wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Every daypart, from the playlist and its fragments, in the order written.
    #[serde(default)]
    pub dayparts: Vec<Daypart>,
    /// At least one zone; in the order written.
    pub zones: Vec<Zone>,
}

/// A named span of the day in store time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Daypart {
    pub name: String,
    pub span: TimeRange,
    pub origin: Origin,
}

/// A rectangle of the screen, in percent of its width and height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    pub x: Percent,
    pub y: Percent,
    pub width: Percent,
    pub height: Percent,
}

impl Area {
    pub const FULL_SCREEN: Self = Self {
        x: Percent::ZERO,
        y: Percent::ZERO,
        width: Percent::HUNDRED,
        height: Percent::HUNDRED,
    };
}

/// One zone of the screen and its rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub name: String,
    /// `None` for an audio-only zone, which has no picture.
    pub area: Option<Area>,
    pub z: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<Color>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_image: Option<MediaRef>,
    #[serde(default)]
    pub audio_only: bool,
    /// Loudness of everything the zone plays; it multiplies each item's own volume.
    #[serde(default = "full_volume")]
    pub volume: Percent,
    /// Loops and interrupts, in the order written (the playlist's first, then each fragment's).
    pub rules: Vec<Rule>,
}

/// The smallest letter height text is shrunk to, unless the playlist says otherwise: 4 % of the
/// zone's height, still readable from across an aisle on a full-height zone.
pub const DEFAULT_MIN_TEXT_SIZE: Percent = Percent::from_hundredths(400);

fn default_min_size() -> Percent {
    DEFAULT_MIN_TEXT_SIZE
}

/// The volume a zone or video has when the playlist names none (and in manifests written before
/// volumes existed).
fn full_volume() -> Percent {
    Percent::HUNDRED
}

/// A loop or an interrupt, with the conditions under which it may play.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub kind: RuleKind,
    pub priority: i32,
    /// First and last day (both included) in store time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
    pub weekdays: Weekdays,
    /// Names of dayparts of the playlist; empty for the whole day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dayparts: Vec<String>,
    /// At least one.
    pub items: Vec<Item>,
    pub origin: Origin,
}

/// What kind of rule: a loop runs its items back to back; an interrupt shows its items once at the
/// start of every period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Loop,
    Interrupt { every: ItemDuration },
}

impl Rule {
    pub fn is_interrupt(&self) -> bool {
        matches!(self.kind, RuleKind::Interrupt { .. })
    }

    /// Whether it has no dates, weekdays or dayparts, like a zone's `items`: it applies at all
    /// times, so at equal priority any rule with conditions beats it (it is the fallback).
    pub fn plays_all_day(&self) -> bool {
        self.from.is_none()
            && self.until.is_none()
            && self.weekdays == Weekdays::ALL
            && self.dayparts.is_empty()
    }

    /// The sum of its items' durations: a loop's length, or how long an interrupt lasts.
    pub fn total_duration_ms(&self) -> u64 {
        self.items
            .iter()
            .map(|item| item.duration.as_millis())
            .sum()
    }
}

/// One item of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Unique in the playlist: the `id` the file gives, or `item-N` in the order written.
    pub id: String,
    pub duration: ItemDuration,
    pub transition: Transition,
    pub content: Content,
    pub origin: Origin,
}

impl Item {
    /// The media file it plays, if it plays one.
    pub fn media(&self) -> Option<&MediaRef> {
        match &self.content {
            Content::Image { media, .. }
            | Content::Video { media, .. }
            | Content::Audio { media, .. } => Some(media),
            Content::Text { .. } | Content::Clock { .. } | Content::Offer { .. } => None,
        }
    }

    /// The brand font its text is set in, if it names one.
    pub fn font(&self) -> Option<&MediaRef> {
        match &self.content {
            Content::Text { font, .. }
            | Content::Clock { font, .. }
            | Content::Offer { font, .. } => font.as_ref(),
            Content::Image { .. } | Content::Video { .. } | Content::Audio { .. } => None,
        }
    }

    /// The media file's name as written, if it plays one.
    pub fn file(&self) -> Option<&str> {
        self.media().map(|media| media.file.as_str())
    }
}

/// A media file as the playlist names it, relative to the playlist's folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaRef {
    pub file: String,
    pub origin: Origin,
}

/// What an item shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    Image {
        media: MediaRef,
        fit: Fit,
    },
    Video {
        media: MediaRef,
        fit: Fit,
        sound: bool,
        /// Loudness of the clip's sound when `sound` is on.
        #[serde(default = "full_volume")]
        volume: Percent,
    },
    Audio {
        media: MediaRef,
        volume: Percent,
    },
    Text {
        text: String,
        style: TextStyle,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticker: Option<Ticker>,
        /// A brand font; the player's fallback chain draws what it lacks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        font: Option<MediaRef>,
    },
    Clock {
        /// strftime-style, evaluated in store time.
        format: String,
        style: TextStyle,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        font: Option<MediaRef>,
    },
    /// A placeholder that HQ fills per screen from a campaign's offer pool.
    Offer {
        slot: String,
        /// The typeface of the card's text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        font: Option<MediaRef>,
    },
}

/// How text (and a clock) looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextStyle {
    /// The largest letter height wanted, in percent of the zone's height.
    pub size: Percent,
    /// The smallest: text that does not fit even at this size ends in an ellipsis.
    #[serde(default = "default_min_size")]
    pub min_size: Percent,
    pub color: Color,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<Color>,
    pub align: Align,
}

/// A scrolling ticker: the text moves right to left at `speed` (percent of the zone's width per
/// second) and starts over when it has gone past.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ticker {
    pub speed: Percent,
}

/// How an item replaces the one before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    #[default]
    Cut,
    Crossfade {
        duration: ItemDuration,
    },
    /// The new item slides in from the right.
    Slide {
        duration: ItemDuration,
    },
}

impl Playlist {
    /// Whether the playlist is for the screen called `screen` with `tags` (its own and its
    /// store's): named in its `screens`, or carrying one of its `tags`. A playlist with neither
    /// is for every screen.
    pub fn is_for(&self, screen: &str, tags: &[String]) -> bool {
        (self.screens.is_empty() && self.tags.is_empty())
            || self.screens.iter().any(|name| name == screen)
            || self.tags.iter().any(|tag| tags.contains(tag))
    }

    /// Its `screens` and `tags` in words, like "screens lobby-1, lobby-2 and screens tagged
    /// entrance"; `None` when it is for every screen.
    pub fn audience(&self) -> Option<String> {
        let named =
            (!self.screens.is_empty()).then(|| format!("screens {}", self.screens.join(", ")));
        let tagged =
            (!self.tags.is_empty()).then(|| format!("screens tagged {}", self.tags.join(" or ")));
        match (named, tagged) {
            (Some(named), Some(tagged)) => Some(format!("{named} and {tagged}")),
            (named, tagged) => named.or(tagged),
        }
    }

    /// The zone called `name`.
    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|zone| zone.name == name)
    }

    /// The daypart called `name`.
    pub fn daypart(&self, name: &str) -> Option<&Daypart> {
        self.dayparts.iter().find(|daypart| daypart.name == name)
    }

    /// Every item of every rule of every zone, in the order written.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.zones
            .iter()
            .flat_map(|zone| zone.rules.iter())
            .flat_map(|rule| rule.items.iter())
    }

    /// Every media file the playlist uses (items, their fonts and background images), in the order written,
    /// repeated where it is named more than once.
    pub fn media(&self) -> impl Iterator<Item = &MediaRef> {
        self.zones.iter().flat_map(|zone| {
            zone.background_image
                .iter()
                .chain(zone.rules.iter().flat_map(|rule| {
                    rule.items
                        .iter()
                        .flat_map(|item| item.media().into_iter().chain(item.font()))
                }))
        })
    }

    /// Checks that every media file the playlist names exists, as `exists` decides; one diagnostic
    /// per place a missing file is named, in the file that names it.
    pub fn check_media(&self, file_name: &str, exists: impl Fn(&str) -> bool) -> Diagnostics {
        Diagnostics(
            self.media()
                .filter(|media| !exists(&media.file))
                .map(|media| {
                    Diagnostic::error(
                        media.origin.file(file_name),
                        media.origin.line,
                        media.origin.column,
                        format!("media file `{}` not found", media.file),
                    )
                    .with_hint(
                        "media paths are relative to the playlist's folder; check the spelling \
                         or copy the file there",
                    )
                })
                .collect(),
        )
    }

    /// Warnings for dayparts whose start or end falls into a DST gap or fold of `time_zone` (the
    /// screen's zone), saying what will happen on those nights. Validation already runs this for the
    /// playlist's own `timezone`; the CLI and the scheduler run it for each screen's.
    pub fn check_time_zone(&self, file_name: &str, time_zone: &jiff::tz::TimeZone) -> Diagnostics {
        Diagnostics(check::dst_warnings(self, file_name, time_zone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = "version: 1\nname: demo\nitems:\n  - image:\n      file: red.png\n      duration: 1s\n  - image: { file: blue.png, duration: 1m30s, id: promo }\n";

    #[test]
    fn reads_the_short_single_zone_form() {
        let playlist = parse_playlist("demo.yaml", DEMO).unwrap();
        assert_eq!(playlist.name, "demo");
        assert_eq!(playlist.zones.len(), 1);
        assert_eq!(playlist.zones[0].name, MAIN_ZONE);
        assert_eq!(playlist.zones[0].area, Some(Area::FULL_SCREEN));
        let items: Vec<&Item> = playlist.items().collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].id, "item-1");
        assert_eq!(items[0].file(), Some("red.png"));
        assert_eq!(
            items[0].media().unwrap().origin.location(),
            SourceLocation {
                line: 5,
                column: 13
            }
        );
        assert_eq!(items[1].id, "promo");
        assert_eq!(items[1].duration.as_millis(), 90_000);
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
        assert_eq!(
            error.message,
            "unknown field `durration` in an image item, which takes `id`, `file`, `duration`, `fit` and `transition`"
        );
        assert_eq!(
            error.hint.as_deref(),
            Some("unknown key `durration`, did you mean `duration`?")
        );
    }

    #[test]
    fn unknown_item_type_is_refused_with_a_hint() {
        let error = single_error(
            "version: 1\nname: demo\nitems:\n  - imag: { file: a.png, duration: 1s }\n",
        );
        assert_eq!(error.line, 4, "{error}");
        assert_eq!(error.message, "`imag` is not an item kind");
        assert_eq!(
            error.hint.as_deref(),
            Some(
                "did you mean `image`? items are `image`, `video`, `audio`, `text`, `clock` and `offer`"
            )
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

    #[test]
    fn a_file_full_of_one_mistake_reports_the_first_thousand_and_a_count() {
        let mut source = String::from("version: 1\nname: x\nitems:\n");
        for _ in 0..MAX_ITEMS_PER_RULE {
            source.push_str("  - image: { file: a.png, duration: 5s, fit: fill, colour: red }\n");
        }
        let diagnostics = parse_playlist("many.yaml", &source).unwrap_err();
        assert_eq!(diagnostics.len(), MAX_DIAGNOSTICS + 1);
        let last = diagnostics.0.last().unwrap();
        assert_eq!(last.message, "1000 more problems after these 1000");
        assert_eq!((last.line, last.column), (503, 1), "{last}");
    }

    #[test]
    fn zone_and_video_volumes_default_to_full_and_read_percentages() {
        let playlist = parse_playlist(
            "volume.yaml",
            "version: 1\nname: v\nlayout:\n  main:\n    volume: 80%\n    items:\n      - video: { file: a.mp4, duration: 5s, sound: true, volume: 25% }\n      - video: { file: b.mp4, duration: 5s }\n  music:\n    audio_only: true\n    items: [audio: { file: a.ogg, duration: 5s }]\n",
        )
        .unwrap();
        assert_eq!(playlist.zones[0].volume, Percent::from_hundredths(8_000));
        assert_eq!(playlist.zones[1].volume, Percent::HUNDRED);
        let volumes: Vec<Percent> = playlist
            .items()
            .filter_map(|item| match item.content {
                Content::Video { volume, .. } | Content::Audio { volume, .. } => Some(volume),
                _ => None,
            })
            .collect();
        assert_eq!(
            volumes,
            vec![
                Percent::from_hundredths(2_500),
                Percent::HUNDRED,
                Percent::HUNDRED
            ]
        );
    }

    #[test]
    fn a_volume_on_a_silent_video_is_a_warning() {
        let parsed = parse_playlist_with_includes(
            "volume.yaml",
            "version: 1\nname: v\nitems:\n  - video: { file: a.mp4, duration: 5s, volume: 25% }\n",
            &|_| Err("no includes".into()),
        )
        .unwrap();
        assert_eq!(parsed.warnings.0.len(), 1, "{}", parsed.warnings);
        let warning = &parsed.warnings.0[0];
        assert_eq!((warning.line, warning.column), (4, 49), "{warning}");
        assert!(warning.message.contains("plays no sound"), "{warning}");
    }

    #[test]
    fn brand_fonts_and_smallest_sizes_reach_their_items_and_travel_as_media() {
        let source = "\
version: 1
name: brand
defaults: { duration: 10s, font: { file: fonts/Brand-Regular.otf } }
items:
  - text: { text: Soldes }
  - clock: { format: \"%H:%M\", size: 40%, min_size: 10%, font: { file: fonts/Brand-Bold.otf } }
  - offer: { slot: main-promo, font: { file: fonts/Brand-Bold.otf } }
";
        let playlist = parse_playlist("brand.yaml", source).unwrap();
        let items: Vec<&Item> = playlist.items().collect();
        let font = |item: &Item| item.font().map(|font| font.file.clone());
        // The text names no font: it takes the one from `defaults`.
        assert_eq!(font(items[0]).as_deref(), Some("fonts/Brand-Regular.otf"));
        assert_eq!(font(items[1]).as_deref(), Some("fonts/Brand-Bold.otf"));
        assert_eq!(font(items[2]).as_deref(), Some("fonts/Brand-Bold.otf"));
        let Content::Clock { style, .. } = &items[1].content else {
            panic!("{:?}", items[1].content);
        };
        assert_eq!(style.min_size, Percent::parse("10%").unwrap());
        let Content::Text { style, .. } = &items[0].content else {
            panic!("{:?}", items[0].content);
        };
        assert_eq!(style.min_size, DEFAULT_MIN_TEXT_SIZE);
        // Font files are media: named once per use, so they are hashed, pushed and synced.
        let media: Vec<&str> = playlist.media().map(|media| media.file.as_str()).collect();
        assert_eq!(
            media,
            [
                "fonts/Brand-Regular.otf",
                "fonts/Brand-Bold.otf",
                "fonts/Brand-Bold.otf"
            ]
        );
        // An item's played file is not its font: proof of play names no font.
        assert_eq!(items[0].file(), None);
    }

    #[test]
    fn manifests_written_before_volumes_read_as_full_volume() {
        let playlist = parse_playlist(
            "demo.yaml",
            "version: 1\nname: v\nitems:\n  - video: { file: a.mp4, duration: 5s, sound: true }\n",
        )
        .unwrap();
        let mut json = serde_json::to_value(&playlist).unwrap();
        let zone = &mut json["zones"][0];
        zone.as_object_mut().unwrap().remove("volume").unwrap();
        let video = &mut zone["rules"][0]["items"][0]["content"]["video"];
        video.as_object_mut().unwrap().remove("volume").unwrap();
        let back: Playlist = serde_json::from_value(json).unwrap();
        assert_eq!(back, playlist);
    }

    #[test]
    fn the_validated_playlist_survives_json() {
        let playlist = parse_playlist("demo.yaml", DEMO).unwrap();
        let json = serde_json::to_string(&playlist).unwrap();
        let back: Playlist = serde_json::from_str(&json).unwrap();
        assert_eq!(back, playlist);
    }
}
