//! The YAML-shaped types of playlists and fragments: what serde reads, with the location of every
//! value staff write. Nothing here is checked beyond its shape; `check` turns these into the
//! validated domain types. The JSON Schema in `schema/` is generated from these types, so their doc
//! comments are what editors show as help.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::playlist::{Align, Fit, Orientation};
use crate::yaml::{Entries, Located, NamedMap, Scalar};

/// A list whose position and entries each keep their location.
pub type List<T> = Located<Entries<T>>;

/// A store playlist: what the screens it applies to show, zone by zone, and when.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Vitrine playlist")]
pub struct Playlist {
    /// The playlist format; this build reads version 1.
    pub version: Located<u32>,
    /// The playlist's name; screens are given a playlist by this name.
    pub name: Located<String>,
    /// The screens of the store this playlist is for (by name). Leave out for every screen.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub screens: Option<List<String>>,
    /// Screen tags this playlist is for, like `entrance`. Leave out for every screen.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub tags: Option<List<String>>,
    /// `landscape` (the default) or `portrait`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub orientation: Option<Located<Orientation>>,
    /// The IANA time zone the playlist is written for, like `Europe/Paris`. A screen's own zone
    /// wins; this one is used to check dayparts against DST and when no screen is known.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub timezone: Option<Located<String>>,
    /// Shared fragments to read in (dayparts, loops and interrupts), relative to this file.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub include: Option<List<String>>,
    /// Values every item gets unless it says otherwise.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub defaults: Option<Located<Defaults>>,
    /// Named spans of the day in store time, like `opening: "08:00-10:00"`. May cross midnight.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub dayparts: Option<Located<NamedMap<Scalar>>>,
    /// The screen's zones by name. Leave out for one full-screen zone called `main`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub layout: Option<Located<NamedMap<Zone>>>,
    /// Without a `layout`: the items of the full-screen zone `main`, shown in a loop all day.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub items: Option<List<Item>>,
    /// Without a `layout`: the loops of the full-screen zone `main`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub loops: Option<List<Loop>>,
    /// Without a `layout`: the interrupts of the full-screen zone `main`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub interrupts: Option<List<Interrupt>>,
}

/// A shared file that playlists `include`: dayparts, and loops and interrupts for named zones.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Vitrine playlist fragment")]
pub struct Fragment {
    /// Named spans of the day in store time, added to the including playlist's.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub dayparts: Option<Located<NamedMap<Scalar>>>,
    /// Loops and interrupts added to the including playlist's zones, by zone name.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub zones: Option<Located<NamedMap<FragmentZone>>>,
}

/// What a fragment adds to one zone.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FragmentZone {
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub loops: Option<List<Loop>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub interrupts: Option<List<Interrupt>>,
}

/// Values items get unless they say otherwise.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// How long each item shows, like `10s` or `1m30s`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub duration: Option<Located<Scalar>>,
    /// How images and videos fill their zone: `contain` (the default), `cover` or `stretch`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub fit: Option<Located<Fit>>,
    /// How an item replaces the one before: `cut` (the default), `{ crossfade: 500ms }`,
    /// `{ slide: 700ms }`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub transition: Option<Located<Transition>>,
    /// The typeface of text, clock and offer items that name none, like
    /// `{ file: fonts/Brand-Regular.otf }`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub font: Option<Located<Font>>,
}

/// A font file, relative to the playlist's folder: TTF, OTF, WOFF or WOFF2. Characters it lacks
/// come from the player's fallback fonts.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Font {
    pub file: Located<String>,
}

/// One zone of the screen: where it is, what is behind it, and what plays in it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Where the zone is, in percent of the screen. Leave out for the whole screen.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub area: Option<Located<Area>>,
    /// Stacking order: a zone with a higher `z` is drawn over one with a lower. Default 0.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub z: Option<Located<i32>>,
    /// The colour behind the zone's content, in quotes: `"#000000"` or `"#00000080"`.
    #[serde(default, deserialize_with = "crate::yaml::colour")]
    pub background: Option<Located<Scalar>>,
    /// An image behind the zone's content, relative to the playlist's folder.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub background_image: Option<Located<String>>,
    /// A zone with no picture that only plays audio items.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub audio_only: Option<Located<bool>>,
    /// Loudness of everything the zone plays (audio items, and videos with `sound`), from `0%`
    /// to `100%` (the default). It multiplies each item's own `volume`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub volume: Option<Located<Scalar>>,
    /// Items shown in a loop all day (a loop with no conditions and priority 0).
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub items: Option<List<Item>>,
    /// Loops, each with its own conditions and priority.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub loops: Option<List<Loop>>,
    /// Items that cut in every so often (share of voice).
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub interrupts: Option<List<Interrupt>>,
}

/// A rectangle in percent of the screen.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Area {
    /// Distance from the left edge, like `0%`.
    pub x: Located<Scalar>,
    /// Distance from the top edge, like `0%`.
    pub y: Located<Scalar>,
    pub width: Located<Scalar>,
    pub height: Located<Scalar>,
}

/// Items played one after the other, anchored to the wall clock, while its conditions hold.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Loop {
    /// A name for `vitrine explain` and reports; `loop-N` by position when left out.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub name: Option<Located<String>>,
    /// When several loops could play, the highest priority wins. Default 0.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub priority: Option<Located<i32>>,
    /// The first day it plays, `YYYY-MM-DD`, in store time.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub from: Option<Located<Scalar>>,
    /// The last day it plays (included), `YYYY-MM-DD`, in store time.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub until: Option<Located<Scalar>>,
    /// The days it plays: `[mon, tue]`, ranges like `[mon-fri]`. Leave out for every day.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub weekdays: Option<List<String>>,
    /// The dayparts it plays in, by name. Leave out for the whole day.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub dayparts: Option<List<String>>,
    pub items: List<Item>,
}

/// Items that cut into the zone every so often: share of voice.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Interrupt {
    /// A name for `vitrine explain` and reports; `interrupt-N` by position when left out.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub name: Option<Located<String>>,
    /// An interrupt wins over loops of the same or lower priority. Default 0.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub priority: Option<Located<i32>>,
    /// How often it cuts in, like `15m`: at every multiple of this since 1970-01-01 UTC.
    pub every: Located<Scalar>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub from: Option<Located<Scalar>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub until: Option<Located<Scalar>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub weekdays: Option<List<String>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub dayparts: Option<List<String>>,
    /// What it shows each time, one after the other; together shorter than `every`.
    pub items: List<Item>,
}

/// One thing shown in a zone.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Item {
    Image(Image),
    Video(Video),
    Audio(Audio),
    Text(Text),
    Clock(Clock),
    /// A placeholder HQ fills per screen with an offer from a campaign's pool.
    Offer(Offer),
}

/// How an item replaces the one before it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Cut,
    /// Fade from the previous item over this duration, like `500ms`.
    Crossfade(Located<Scalar>),
    /// Slide in from the right over this duration, like `700ms`.
    Slide(Located<Scalar>),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// A name for proof-of-play reports, unique in the playlist; `item-N` when left out.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub id: Option<Located<String>>,
    /// The image (PNG or JPEG), relative to the playlist's folder.
    pub file: Located<String>,
    /// How long it shows, like `10s` or `1m30s`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub duration: Option<Located<Scalar>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub fit: Option<Located<Fit>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub transition: Option<Located<Transition>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Video {
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub id: Option<Located<String>>,
    pub file: Located<String>,
    /// How long it shows; a shorter clip loops, a longer one is cut.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub duration: Option<Located<Scalar>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub fit: Option<Located<Fit>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub transition: Option<Located<Transition>>,
    /// Play the clip's sound. Default false: most stores play music in an audio zone.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub sound: Option<Located<bool>>,
    /// Loudness of the clip's sound, from `0%` to `100%` (the default); only with `sound: true`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub volume: Option<Located<Scalar>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Audio {
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub id: Option<Located<String>>,
    pub file: Located<String>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub duration: Option<Located<Scalar>>,
    /// Loudness from `0%` to `100%` (the default).
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub volume: Option<Located<Scalar>>,
    /// How the track takes over from the one before: `{ crossfade: 2s }`, or `cut` (the default),
    /// which crossfades over the player's `[audio] crossfade`. Sound cannot slide.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub transition: Option<Located<Transition>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Text {
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub id: Option<Located<String>>,
    /// The words to show.
    pub text: Located<String>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub duration: Option<Located<Scalar>>,
    /// The largest letter height wanted, in percent of the zone's height. Default 50%. Text that
    /// does not fit at this size is set smaller, down to `min_size`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub size: Option<Located<Scalar>>,
    /// The smallest letter height, in percent of the zone's height. Default 4%. Text that does not
    /// fit even at this size is cut with an ellipsis (…).
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub min_size: Option<Located<Scalar>>,
    /// The brand's own typeface: `{ file: fonts/Brand-Bold.otf }` (TTF, OTF, WOFF or WOFF2).
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub font: Option<Located<Font>>,
    /// Text colour in quotes, like `"#ffffff"` (the default).
    #[serde(default, deserialize_with = "crate::yaml::colour")]
    pub color: Option<Located<Scalar>>,
    /// A colour behind the text, in quotes.
    #[serde(default, deserialize_with = "crate::yaml::colour")]
    pub background: Option<Located<Scalar>>,
    /// `left`, `center` (the default) or `right`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub align: Option<Located<Align>>,
    /// Scroll the text across the zone, right to left, like a news ticker.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub ticker: Option<Located<Ticker>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub transition: Option<Located<Transition>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ticker {
    /// How far the text moves each second, in percent of the zone's width. Default 15%.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub speed: Option<Located<Scalar>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub id: Option<Located<String>>,
    /// strftime-style format in store time, like `%H:%M` (the default) or `%A %d %B`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub format: Option<Located<String>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub duration: Option<Located<Scalar>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub size: Option<Located<Scalar>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub min_size: Option<Located<Scalar>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub font: Option<Located<Font>>,
    #[serde(default, deserialize_with = "crate::yaml::colour")]
    pub color: Option<Located<Scalar>>,
    #[serde(default, deserialize_with = "crate::yaml::colour")]
    pub background: Option<Located<Scalar>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub align: Option<Located<Align>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub transition: Option<Located<Transition>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub id: Option<Located<String>>,
    /// The slot's name; HQ campaigns fill slots by this name, like `main-promo`.
    pub slot: Located<String>,
    /// The typeface of the offer card's text, like `{ file: fonts/Brand-Bold.otf }`.
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub font: Option<Located<Font>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub duration: Option<Located<Scalar>>,
    #[serde(default, deserialize_with = "crate::yaml::optional")]
    pub transition: Option<Located<Transition>>,
}
