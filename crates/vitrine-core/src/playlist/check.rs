//! Validation: from the raw YAML-shaped types to the validated [`Playlist`], collecting every problem
//! (with file, line, column and a hint) instead of stopping at the first.

use std::collections::{HashMap, HashSet};

use jiff::tz::TimeZone;

use super::raw;
use super::*;
use crate::timing::{self, ClockChange, TimeOfDay, TimeRange};
use crate::yaml::{self, Located, NamedMap, Scalar, closest_name, is_plain_name};

/// Text and clock defaults that the YAML does not set.
const DEFAULT_TEXT_SIZE: Percent = Percent::from_hundredths(5_000);
const DEFAULT_TICKER_SPEED: Percent = Percent::from_hundredths(1_500);
const DEFAULT_CLOCK_FORMAT: &str = "%H:%M";
const WHITE: Color = Color {
    red: 255,
    green: 255,
    blue: 255,
    alpha: 255,
};

/// Values items inherit, from `defaults:`.
#[derive(Default)]
struct Defaults {
    duration: Option<ItemDuration>,
    fit: Fit,
    transition: Transition,
    font: Option<MediaRef>,
}

/// The state of one validation: where problems go and what has been seen so far.
pub(crate) struct Checker<'a> {
    /// The playlist's (or campaign's) own file name, for diagnostics.
    pub(crate) file_name: &'a str,
    pub(crate) problems: Vec<Diagnostic>,
    defaults: Defaults,
    /// Every daypart known so far (from the playlist and its fragments).
    pub(crate) dayparts: Vec<Daypart>,
    /// Dayparts that are defined but could not be read: rules naming them are not reported again.
    unreadable_dayparts: Vec<String>,
    item_count: usize,
    explicit_ids: HashMap<String, Origin>,
    /// Values (and the values around them, up to the list they are in) where reading left
    /// something out after reporting it: a missing value there is not reported again.
    left_out: HashSet<Origin>,
    /// Whether a top-level key of the file lost its value.
    pub(crate) top_level_lost: bool,
}

/// Which file a raw value came from: `None` for the playlist itself, else the include path.
pub(crate) type Include<'a> = Option<&'a str>;

impl<'a> Checker<'a> {
    pub(crate) fn new(file_name: &'a str) -> Self {
        Self {
            file_name,
            problems: Vec::new(),
            defaults: Defaults::default(),
            dayparts: Vec::new(),
            unreadable_dayparts: Vec::new(),
            item_count: 0,
            explicit_ids: HashMap::new(),
            left_out: HashSet::new(),
            top_level_lost: false,
        }
    }

    /// Takes in what reading a file found: its problems, and where it left values out.
    pub(crate) fn absorb(&mut self, include: Include<'_>, outcome: yaml::Outcome) {
        if include.is_none() {
            self.top_level_lost = outcome.left_out.contains(&outcome.root);
        }
        self.problems.extend(outcome.problems);
        self.left_out.extend(
            outcome
                .left_out
                .into_iter()
                .map(|location| Self::origin(include, location)),
        );
    }

    /// Whether reading left something out at (or inside) the value at `location`.
    pub(crate) fn lost_inside(&self, include: Include<'_>, location: SourceLocation) -> bool {
        self.left_out.contains(&Self::origin(include, location))
    }

    pub(crate) fn origin(include: Include<'_>, location: SourceLocation) -> Origin {
        Origin {
            include: include.map(str::to_owned),
            line: location.line,
            column: location.column,
        }
    }

    pub(crate) fn error_at<T>(
        &mut self,
        include: Include<'_>,
        value: &Located<T>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.error(&Self::origin(include, value.location()), message, hint);
    }

    pub(crate) fn error(
        &mut self,
        origin: &Origin,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let diagnostic = Diagnostic::error(
            origin.file(self.file_name),
            origin.line,
            origin.column,
            message,
        );
        self.problems.push(match hint {
            Some(hint) => diagnostic.with_hint(hint),
            None => diagnostic,
        });
    }

    pub(crate) fn warning(
        &mut self,
        origin: &Origin,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let diagnostic = Diagnostic::warning(
            origin.file(self.file_name),
            origin.line,
            origin.column,
            message,
        );
        self.problems.push(match hint {
            Some(hint) => diagnostic.with_hint(hint),
            None => diagnostic,
        });
    }

    pub(crate) fn finish<T>(mut self, value: Option<T>) -> Result<Parsed<T>, Diagnostics> {
        // In reading order: the file itself first, then each fragment, each from top to bottom.
        let file_name = self.file_name;
        self.problems.sort_by(|left, right| {
            (left.file != file_name, &left.file, left.line, left.column).cmp(&(
                right.file != file_name,
                &right.file,
                right.line,
                right.column,
            ))
        });
        if self.problems.len() > MAX_DIAGNOSTICS {
            let more = self.problems.len() - MAX_DIAGNOSTICS;
            let errors_left_out = self.problems[MAX_DIAGNOSTICS..]
                .iter()
                .any(|problem| problem.severity == crate::Severity::Error);
            self.problems.truncate(MAX_DIAGNOSTICS);
            let last = self.problems.last().cloned();
            let (file, line) =
                last.map_or((file_name.to_owned(), 1), |last| (last.file, last.line));
            let message = format!("{more} more problems after these {MAX_DIAGNOSTICS}");
            // An error left out still refuses the file; warnings left out do not.
            let summary = if errors_left_out {
                Diagnostic::error(&file, line, 1, message)
            } else {
                Diagnostic::warning(&file, line, 1, message)
            };
            self.problems.push(
                summary.with_hint("fix these first; the rest are probably the same mistake again"),
            );
        }
        let diagnostics = Diagnostics(self.problems);
        match value {
            Some(value) if !diagnostics.has_errors() => Ok(Parsed {
                value,
                warnings: diagnostics,
            }),
            _ => Err(diagnostics),
        }
    }

    /// Refuses a list longer than `limit` at its first entry beyond it, naming the limit (`what`
    /// says what it counts, like "items per rule"), and says how many entries to check.
    pub(crate) fn within_limit<T>(
        &mut self,
        include: Include<'_>,
        entries: &[Located<T>],
        limit: usize,
        what: &str,
    ) -> usize {
        if let Some(beyond) = entries.get(limit) {
            self.error_at(
                include,
                beyond,
                format!(
                    "{} entries here, over the limit of {limit} {what}",
                    entries.len()
                ),
                Some("split it up, or leave out what no screen needs".into()),
            );
        }
        entries.len().min(limit)
    }

    /// Reads a scalar with `parse`, reporting a failure at the value.
    pub(crate) fn parse<T>(
        &mut self,
        include: Include<'_>,
        value: &Located<Scalar>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(&value.value().0) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.error_at(include, value, message, None);
                None
            }
        }
    }

    pub(crate) fn duration(
        &mut self,
        include: Include<'_>,
        value: &Located<Scalar>,
    ) -> Option<ItemDuration> {
        self.parse(include, value, |text| {
            ItemDuration::parse(text).map_err(|error| error.to_string())
        })
    }

    /// Checks a name staff give (zone, daypart, loop, slot) and returns it.
    pub(crate) fn plain_name(
        &mut self,
        include: Include<'_>,
        name: &Located<String>,
        what: &str,
    ) -> String {
        let text = name.value().clone();
        if !is_plain_name(&text) {
            let suggestion: String = text
                .trim()
                .to_lowercase()
                .chars()
                .map(|character| {
                    if character.is_ascii_alphanumeric() {
                        character
                    } else {
                        '-'
                    }
                })
                .collect();
            self.error_at(
                include,
                name,
                format!("{what} name `{text}` is not allowed"),
                Some(format!(
                    "names use lowercase letters, digits, `-` and `_`, like `{}`",
                    if suggestion.is_empty() {
                        "morning-promo"
                    } else {
                        &suggestion
                    }
                )),
            );
        }
        text
    }

    /// Adds the dayparts of one file, refusing names already defined.
    pub(crate) fn add_dayparts(
        &mut self,
        include: Include<'_>,
        dayparts: Option<&Located<NamedMap<Scalar>>>,
    ) {
        let Some(dayparts) = dayparts else { return };
        for name in &dayparts.value().1 {
            self.unreadable_dayparts.push(name.value().clone());
        }
        for (name, span) in &dayparts.value().0 {
            if self.dayparts.len() + self.unreadable_dayparts.len() >= MAX_DAYPARTS {
                self.error_at(
                    include,
                    name,
                    format!("over the limit of {MAX_DAYPARTS} dayparts in one playlist"),
                    Some("reuse dayparts, or split the playlist".into()),
                );
                return;
            }
            let daypart_name = self.plain_name(include, name, "daypart");
            let origin = Self::origin(include, name.location());
            if let Some(first) = self
                .dayparts
                .iter()
                .find(|known| known.name == daypart_name)
            {
                let message = format!(
                    "daypart `{daypart_name}` is defined twice (first in {}:{})",
                    first.origin.file(self.file_name),
                    first.origin.line
                );
                self.error(&origin, message, Some("rename one of them".into()));
                continue;
            }
            let Some(span) = self.parse(include, span, |text| text.parse::<TimeRange>()) else {
                self.unreadable_dayparts.push(daypart_name);
                continue;
            };
            self.dayparts.push(Daypart {
                name: daypart_name,
                span,
                origin,
            });
        }
    }

    /// Checks `from`, `until`, `weekdays` and `dayparts` of a rule or a campaign.
    pub(crate) fn conditions(
        &mut self,
        include: Include<'_>,
        from: Option<&Located<Scalar>>,
        until: Option<&Located<Scalar>>,
        weekdays: Option<&raw::List<String>>,
        dayparts: Option<&raw::List<String>>,
    ) -> Conditions {
        let from_date = from.and_then(|from| self.parse(include, from, timing::parse_date));
        let until_date = until.and_then(|until| self.parse(include, until, timing::parse_date));
        if let (Some(first), Some(last), Some(until)) = (from_date, until_date, until)
            && last < first
        {
            self.error_at(
                include,
                until,
                format!("`until: {last}` is before `from: {first}`"),
                Some("`until` is the last day it plays; it must not be before `from`".into()),
            );
        }
        let mut days = Weekdays::ALL;
        if let Some(weekdays) = weekdays {
            days = Weekdays::NONE;
            let count =
                self.within_limit(include, weekdays.value(), MAX_WEEKDAY_ENTRIES, "weekdays");
            for entry in weekdays.value().iter().take(count) {
                match Weekdays::parse_entry(entry.value()) {
                    Ok(parsed) => days = days.union(parsed),
                    Err(message) => self.error_at(include, entry, message, None),
                }
            }
            if weekdays.value().is_empty() {
                self.error_at(
                    include,
                    weekdays,
                    "`weekdays` is empty, so it would never play",
                    Some("leave `weekdays` out to play every day".into()),
                );
            }
        }
        let mut daypart_names = Vec::new();
        if let Some(dayparts) = dayparts {
            let count = self.within_limit(
                include,
                dayparts.value(),
                MAX_DAYPARTS_PER_RULE,
                "dayparts per rule",
            );
            for entry in dayparts.value().iter().take(count) {
                let name = entry.value();
                if self.dayparts.iter().any(|known| &known.name == name) {
                    daypart_names.push(name.clone());
                    continue;
                }
                if self.unreadable_dayparts.contains(name) {
                    continue;
                }
                let known_names = self
                    .dayparts
                    .iter()
                    .map(|known| known.name.as_str())
                    .chain(self.unreadable_dayparts.iter().map(String::as_str));
                let hint = match closest_name(name, known_names) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None if self.dayparts.is_empty() => {
                        "define it under `dayparts:`, like `opening: \"08:00-10:00\"`".to_owned()
                    }
                    None => format!(
                        "the dayparts defined are: {}",
                        self.dayparts
                            .iter()
                            .map(|known| format!("`{}`", known.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.error_at(
                    include,
                    entry,
                    format!("unknown daypart `{name}`"),
                    Some(hint),
                );
            }
            if dayparts.value().is_empty() {
                self.error_at(
                    include,
                    dayparts,
                    "`dayparts` is empty, so it would never play",
                    Some("leave `dayparts` out to play all day".into()),
                );
            }
        }
        Conditions {
            from: from_date,
            until: until_date,
            weekdays: days,
            dayparts: daypart_names,
        }
    }

    fn set_defaults(&mut self, defaults: Option<&Located<raw::Defaults>>) {
        let Some(defaults) = defaults else { return };
        let defaults = defaults.value();
        if let Some(duration) = &defaults.duration {
            self.defaults.duration = self.duration(None, duration);
        }
        if let Some(fit) = &defaults.fit {
            self.defaults.fit = *fit.value();
        }
        if let Some(font) = &defaults.font {
            self.defaults.font = self.font(None, font);
        }
        if let Some(transition) = &defaults.transition {
            self.defaults.transition = self.transition(None, transition, None).unwrap_or_default();
        }
    }

    fn transition(
        &mut self,
        include: Include<'_>,
        transition: &Located<raw::Transition>,
        item_duration: Option<ItemDuration>,
    ) -> Option<Transition> {
        let (duration, make): (&Located<Scalar>, fn(ItemDuration) -> Transition) =
            match transition.value() {
                raw::Transition::Cut => return Some(Transition::Cut),
                raw::Transition::Crossfade(duration) => {
                    (duration, |duration| Transition::Crossfade { duration })
                }
                raw::Transition::Slide(duration) => {
                    (duration, |duration| Transition::Slide { duration })
                }
            };
        let parsed = self.duration(include, duration)?;
        if let Some(item_duration) = item_duration
            && parsed > item_duration
        {
            self.error_at(
                include,
                duration,
                format!("the transition ({parsed}) is longer than the item ({item_duration})"),
                Some("shorten the transition or lengthen the item".into()),
            );
            return None;
        }
        Some(make(parsed))
    }

    /// Builds the rules of one zone (or of a fragment's part of it).
    fn rules(
        &mut self,
        include: Include<'_>,
        zone: &ZoneShape,
        items: Option<&raw::List<raw::Item>>,
        loops: Option<&raw::List<raw::Loop>>,
        interrupts: Option<&raw::List<raw::Interrupt>>,
        rules: &mut Vec<Rule>,
    ) {
        if let Some(items) = items {
            let built = self.items(include, zone, items);
            let name = format!(
                "loop-{}",
                rules.iter().filter(|rule| !rule.is_interrupt()).count() + 1
            );
            if !built.is_empty() {
                rules.push(Rule {
                    name,
                    kind: RuleKind::Loop,
                    priority: 0,
                    from: None,
                    until: None,
                    weekdays: Weekdays::ALL,
                    dayparts: Vec::new(),
                    items: built,
                    origin: Self::origin(include, items.location()),
                });
            }
        }
        let loops = loops
            .map(|loops| loops.value().as_slice())
            .unwrap_or_default();
        let room = MAX_RULES_PER_ZONE.saturating_sub(rules.len());
        let loops = &loops[..self.within_limit(include, loops, room, "rules per zone")];
        let interrupts = interrupts
            .map(|list| list.value().as_slice())
            .unwrap_or_default();
        let room = MAX_RULES_PER_ZONE.saturating_sub(rules.len() + loops.len());
        let interrupts =
            &interrupts[..self.within_limit(include, interrupts, room, "rules per zone")];
        for raw_loop in loops {
            let origin = Self::origin(include, raw_loop.location());
            let raw_loop = raw_loop.value();
            let name = match &raw_loop.name {
                Some(name) => self.plain_name(include, name, "loop"),
                None => format!(
                    "loop-{}",
                    rules.iter().filter(|rule| !rule.is_interrupt()).count() + 1
                ),
            };
            let conditions = self.conditions(
                include,
                raw_loop.from.as_ref(),
                raw_loop.until.as_ref(),
                raw_loop.weekdays.as_ref(),
                raw_loop.dayparts.as_ref(),
            );
            let items = self.items(include, zone, &raw_loop.items);
            let priority = raw_loop
                .priority
                .as_ref()
                .map_or(0, |priority| *priority.value());
            self.push_rule(
                rules,
                name,
                RuleKind::Loop,
                priority,
                conditions,
                items,
                origin,
            );
        }
        for interrupt in interrupts {
            let origin = Self::origin(include, interrupt.location());
            let interrupt = interrupt.value();
            let name = match &interrupt.name {
                Some(name) => self.plain_name(include, name, "interrupt"),
                None => format!(
                    "interrupt-{}",
                    rules.iter().filter(|rule| rule.is_interrupt()).count() + 1
                ),
            };
            let conditions = self.conditions(
                include,
                interrupt.from.as_ref(),
                interrupt.until.as_ref(),
                interrupt.weekdays.as_ref(),
                interrupt.dayparts.as_ref(),
            );
            let items = self.items(include, zone, &interrupt.items);
            let every = self.duration(include, &interrupt.every);
            let priority = interrupt
                .priority
                .as_ref()
                .map_or(0, |priority| *priority.value());
            let Some(every) = every else { continue };
            let total: u64 = items.iter().map(|item| item.duration.as_millis()).sum();
            if !items.is_empty() && total >= every.as_millis() {
                self.error_at(
                    include,
                    &interrupt.every,
                    format!(
                        "interrupt `{name}` lasts {} but comes back every {every}, so it would never stop",
                        ItemDuration::from_millis(total)
                    ),
                    Some("make `every` longer than the interrupt's items together".into()),
                );
                continue;
            }
            self.push_rule(
                rules,
                name,
                RuleKind::Interrupt { every },
                priority,
                conditions,
                items,
                origin,
            );
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one call site per rule kind, all fields named"
    )]
    fn push_rule(
        &mut self,
        rules: &mut Vec<Rule>,
        name: String,
        kind: RuleKind,
        priority: i32,
        conditions: Conditions,
        items: Vec<Item>,
        origin: Origin,
    ) {
        if let Some(first) = rules.iter().find(|rule| rule.name == name) {
            let message = format!(
                "`{name}` names two rules of this zone (first in {}:{})",
                first.origin.file(self.file_name),
                first.origin.line
            );
            self.error(
                &origin,
                message,
                Some("give each loop and interrupt its own name".into()),
            );
            return;
        }
        if items.is_empty() {
            return;
        }
        rules.push(Rule {
            name,
            kind,
            priority,
            from: conditions.from,
            until: conditions.until,
            weekdays: conditions.weekdays,
            dayparts: conditions.dayparts,
            items,
            origin,
        });
    }

    /// Builds the items of a campaign's fill: all sound, for an audio-only zone (a jingle), or
    /// all pictures, for a zone with a picture. A fill that mixes both is one error.
    pub(crate) fn items_for_zone(
        &mut self,
        zone_name: &str,
        items: &raw::List<raw::Item>,
    ) -> Vec<Item> {
        let sounds = items
            .value()
            .iter()
            .filter(|item| matches!(item.value(), raw::Item::Audio(_)))
            .count();
        let mixed = sounds > 0 && sounds < items.value().len();
        if mixed {
            self.error_at(
                None,
                items,
                "the fill mixes audio items with pictures; a campaign's fill is either all sound \
                 (for an audio-only zone) or all pictures",
                Some(
                    "split it into two campaigns, one with `zone:` naming the audio-only zone"
                        .into(),
                ),
            );
        }
        let shape = ZoneShape {
            name: zone_name.to_owned(),
            audio_only: sounds > 0,
            unsure: mixed,
        };
        self.items(None, &shape, items)
    }

    fn items(
        &mut self,
        include: Include<'_>,
        zone: &ZoneShape,
        items: &raw::List<raw::Item>,
    ) -> Vec<Item> {
        if items.value().is_empty() && !self.lost_inside(include, items.location()) {
            self.error_at(
                include,
                items,
                "no items",
                Some(
                    "add at least one item, e.g. `- image: { file: promo.png, duration: 10s }`"
                        .into(),
                ),
            );
        }
        let count = self.within_limit(include, items.value(), MAX_ITEMS_PER_RULE, "items per rule");
        items
            .value()
            .iter()
            .take(count)
            .filter_map(|item| self.item(include, zone, item))
            .collect()
    }

    fn item(
        &mut self,
        include: Include<'_>,
        zone: &ZoneShape,
        item: &Located<raw::Item>,
    ) -> Option<Item> {
        self.item_count += 1;
        let origin = Self::origin(include, item.location());
        let automatic_id = format!("item-{}", self.item_count);
        let (id, duration, transition, kind) = match item.value() {
            raw::Item::Image(image) => (&image.id, &image.duration, &image.transition, "image"),
            raw::Item::Video(video) => (&video.id, &video.duration, &video.transition, "video"),
            raw::Item::Audio(audio) => (&audio.id, &audio.duration, &audio.transition, "audio"),
            raw::Item::Text(text) => (&text.id, &text.duration, &text.transition, "text"),
            raw::Item::Clock(clock) => (&clock.id, &clock.duration, &clock.transition, "clock"),
            raw::Item::Offer(offer) => (&offer.id, &offer.duration, &offer.transition, "offer"),
        };
        let mut ok = true;
        if zone.audio_only != (kind == "audio") && !zone.unsure {
            let (message, hint) = if zone.audio_only {
                (
                    format!(
                        "zone `{}` is audio-only and cannot show {} {kind} item",
                        zone.name,
                        if kind == "image" { "an" } else { "a" }
                    ),
                    "put it in a zone with a picture, or remove `audio_only`",
                )
            } else {
                (
                    format!(
                        "audio items play only in an audio-only zone, and `{}` is not one",
                        zone.name
                    ),
                    "add a zone with `audio_only: true` to the layout for music and announcements",
                )
            };
            self.error(&origin, message, Some(hint.into()));
            ok = false;
        }
        let id = match id {
            Some(explicit) => {
                let text = explicit.value().clone();
                let id_origin = Self::origin(include, explicit.location());
                if text.trim().is_empty() {
                    self.error(&id_origin, "item id is empty", None);
                    ok = false;
                } else if let Some(first) = self.explicit_ids.get(&text) {
                    let message = format!(
                        "item id `{text}` is used twice (first in {}:{})",
                        first.file(self.file_name),
                        first.line
                    );
                    self.error(
                        &id_origin,
                        message,
                        Some("item ids must be unique within a playlist".into()),
                    );
                    ok = false;
                } else {
                    self.explicit_ids.insert(text.clone(), id_origin);
                }
                text
            }
            None => automatic_id,
        };
        let duration = match duration {
            Some(duration) => self.duration(include, duration),
            None => match self.defaults.duration {
                Some(duration) => Some(duration),
                None if self.lost_inside(include, item.location()) => None,
                None => {
                    self.error(
                        &origin,
                        format!("this {kind} item has no duration"),
                        Some(
                            "add `duration: 10s` to it, or set `defaults: { duration: 10s }`"
                                .into(),
                        ),
                    );
                    None
                }
            },
        };
        if kind == "audio"
            && let Some(slide) = transition
            && matches!(slide.value(), raw::Transition::Slide(_))
        {
            self.error_at(
                include,
                slide,
                "an audio item cannot slide: slides move pictures",
                Some(
                    "write `transition: { crossfade: 2s }` to blend one track into the next".into(),
                ),
            );
            ok = false;
        }
        let transition = match transition {
            Some(transition) => self.transition(include, transition, duration),
            None => Some(self.defaults.transition),
        };
        let content = self.content(include, item.value());
        let (Some(duration), Some(transition), Some(content), true) =
            (duration, transition, content, ok)
        else {
            return None;
        };
        Some(Item {
            id,
            duration,
            transition,
            content,
            origin,
        })
    }

    fn content(&mut self, include: Include<'_>, item: &raw::Item) -> Option<Content> {
        Some(match item {
            raw::Item::Image(image) => Content::Image {
                media: self.media(include, &image.file)?,
                fit: image
                    .fit
                    .as_ref()
                    .map_or(self.defaults.fit, |fit| *fit.value()),
            },
            raw::Item::Video(video) => {
                let media = self.media(include, &video.file);
                let sound = video.sound.as_ref().is_some_and(|sound| *sound.value());
                let volume = match &video.volume {
                    Some(volume) => {
                        if !sound {
                            self.warning(
                                &Self::origin(include, volume.location()),
                                "this video plays no sound, so its `volume` does nothing",
                                Some("add `sound: true` to hear the clip".into()),
                            );
                        }
                        self.parse(include, volume, Percent::parse)?
                    }
                    None => Percent::HUNDRED,
                };
                Content::Video {
                    media: media?,
                    fit: video
                        .fit
                        .as_ref()
                        .map_or(self.defaults.fit, |fit| *fit.value()),
                    sound,
                    volume,
                }
            }
            raw::Item::Audio(audio) => {
                let media = self.media(include, &audio.file);
                let volume = match &audio.volume {
                    Some(volume) => self.parse(include, volume, Percent::parse)?,
                    None => Percent::HUNDRED,
                };
                Content::Audio {
                    media: media?,
                    volume,
                }
            }
            raw::Item::Text(text) => {
                if text.text.value().trim().is_empty() {
                    self.error_at(include, &text.text, "text is empty", None);
                }
                let style = self.style(
                    include,
                    &text.size,
                    &text.min_size,
                    &text.color,
                    &text.background,
                    &text.align,
                );
                let font = self.item_font(include, &text.font);
                let ticker = match &text.ticker {
                    Some(ticker) => Some(Ticker {
                        speed: match &ticker.value().speed {
                            Some(speed) => {
                                let speed = self.parse(include, speed, Percent::parse)?;
                                if speed == Percent::ZERO {
                                    self.error_at(
                                        include,
                                        ticker,
                                        "a ticker with speed 0% never moves",
                                        Some("leave `ticker` out for still text".into()),
                                    );
                                    return None;
                                }
                                speed
                            }
                            None => DEFAULT_TICKER_SPEED,
                        },
                    }),
                    None => None,
                };
                if text.text.value().trim().is_empty() {
                    return None;
                }
                Content::Text {
                    text: text.text.value().clone(),
                    style: style?,
                    ticker,
                    font,
                }
            }
            raw::Item::Clock(clock) => {
                let format = clock
                    .format
                    .as_ref()
                    .map_or(DEFAULT_CLOCK_FORMAT.to_owned(), |format| {
                        format.value().clone()
                    });
                let probe = jiff::civil::date(2026, 1, 1)
                    .at(12, 0, 0, 0)
                    .to_zoned(TimeZone::UTC)
                    .ok();
                let formats = probe.as_ref().is_some_and(|probe| {
                    jiff::fmt::strtime::format(format.as_bytes(), probe).is_ok()
                });
                if !formats && let Some(written) = &clock.format {
                    self.error_at(
                        include,
                        written,
                        format!("clock format `{format}` cannot be shown"),
                        Some("use strftime codes like `%H:%M`, `%H:%M:%S` or `%A %d %B`".into()),
                    );
                }
                let style = self.style(
                    include,
                    &clock.size,
                    &clock.min_size,
                    &clock.color,
                    &clock.background,
                    &clock.align,
                )?;
                let font = self.item_font(include, &clock.font);
                if !formats {
                    return None;
                }
                Content::Clock {
                    format,
                    style,
                    font,
                }
            }
            raw::Item::Offer(offer) => Content::Offer {
                slot: self.plain_name(include, &offer.slot, "offer slot"),
                font: self.item_font(include, &offer.font),
            },
        })
    }

    /// An item's `font`, else the one from `defaults`.
    fn item_font(
        &mut self,
        include: Include<'_>,
        font: &Option<Located<raw::Font>>,
    ) -> Option<MediaRef> {
        match font {
            Some(font) => self.font(include, font),
            None => self.defaults.font.clone(),
        }
    }

    /// A font file: a media path with a font's extension.
    fn font(&mut self, include: Include<'_>, font: &Located<raw::Font>) -> Option<MediaRef> {
        let file = &font.value().file;
        let media = self.media(include, file)?;
        let extension = media
            .file
            .rsplit_once('.')
            .map(|(_, extension)| extension.to_ascii_lowercase());
        if !matches!(
            extension.as_deref(),
            Some("ttf" | "otf" | "ttc" | "woff" | "woff2")
        ) {
            self.error_at(
                include,
                file,
                format!("`{}` is not a font file", media.file),
                Some("fonts are TTF, OTF, WOFF or WOFF2 files, like `fonts/Brand-Bold.otf`".into()),
            );
            return None;
        }
        Some(media)
    }

    fn style(
        &mut self,
        include: Include<'_>,
        size: &Option<Located<Scalar>>,
        min_size: &Option<Located<Scalar>>,
        color: &Option<Located<Scalar>>,
        background: &Option<Located<Scalar>>,
        align: &Option<Located<Align>>,
    ) -> Option<TextStyle> {
        let size = match size {
            Some(size) => {
                let parsed = self.parse(include, size, Percent::parse);
                if parsed == Some(Percent::ZERO) {
                    self.error_at(include, size, "text of size 0% cannot be seen", None);
                    None
                } else {
                    parsed
                }
            }
            None => Some(DEFAULT_TEXT_SIZE),
        };
        let min_size = match min_size {
            Some(written) => {
                let parsed = self.parse(include, written, Percent::parse);
                if parsed == Some(Percent::ZERO) {
                    self.error_at(
                        include,
                        written,
                        "text of size 0% cannot be seen",
                        Some("leave `min_size` out for the default, 4%".into()),
                    );
                    None
                } else {
                    if let (Some(parsed), Some(size)) = (parsed, size)
                        && parsed > size
                    {
                        self.warning(
                            &Self::origin(include, written.location()),
                            format!("`min_size` {parsed} is above `size` {size}: the text is never shrunk, only cut with an ellipsis"),
                            Some("set `min_size` below `size`".into()),
                        );
                    }
                    parsed
                }
            }
            None => Some(DEFAULT_MIN_TEXT_SIZE.min(size.unwrap_or(DEFAULT_TEXT_SIZE))),
        };
        let color = match color {
            Some(color) => self.parse(include, color, |text| text.parse::<Color>()),
            None => Some(WHITE),
        };
        let background = match background {
            Some(background) => {
                Some(self.parse(include, background, |text| text.parse::<Color>())?)
            }
            None => None,
        };
        Some(TextStyle {
            size: size?,
            min_size: min_size?,
            color: color?,
            background,
            align: align
                .as_ref()
                .map_or_else(Align::default, |align| *align.value()),
        })
    }

    /// Checks a media path as written: relative, inside the playlist's folder.
    pub(crate) fn media(
        &mut self,
        include: Include<'_>,
        file: &Located<String>,
    ) -> Option<MediaRef> {
        let path = file.value();
        let problem = if path.trim().is_empty() {
            Some("media file name is empty")
        } else if path.starts_with('/') || path.contains('\\') || path.contains(':') {
            Some("media paths must be relative, with `/` between folders")
        } else if path.split('/').any(|part| part == ".." || part.is_empty()) {
            Some("media paths must stay inside the playlist's folder (no `..`, no `//`)")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.error_at(
                include,
                file,
                format!("{problem}: `{path}`"),
                Some(
                    "write the path relative to the playlist's folder, like `media/promo.png`"
                        .into(),
                ),
            );
            return None;
        }
        Some(MediaRef {
            file: path.clone(),
            origin: Self::origin(include, file.location()),
        })
    }
}

/// The checked `from`, `until`, `weekdays` and `dayparts` of a rule.
pub(crate) struct Conditions {
    pub(crate) from: Option<jiff::civil::Date>,
    pub(crate) until: Option<jiff::civil::Date>,
    pub(crate) weekdays: Weekdays,
    pub(crate) dayparts: Vec<String>,
}

/// What the items of a zone must fit: its name and whether it only plays sound.
struct ZoneShape {
    name: String,
    audio_only: bool,
    /// The zone's `audio_only` (or something else of the zone) had a mistake, reported already:
    /// whether its items fit it is not known.
    unsure: bool,
}

/// Validates a whole playlist; see [`super::parse_playlist_with_includes`].
pub(super) fn playlist(
    file_name: &str,
    source: &str,
    resolver: IncludeResolver<'_>,
) -> Result<Parsed<Playlist>, Diagnostics> {
    if let Some(too_big) = size_limit(file_name, source) {
        return Err(Diagnostics(vec![too_big]));
    }
    let (raw, outcome) = yaml::read::<raw::Playlist>(file_name, source)
        .map_err(|diagnostic| Diagnostics(vec![diagnostic]))?;
    let mut checker = Checker::new(file_name);
    checker.absorb(None, outcome);
    let Some(raw) = raw else {
        return checker.finish(None);
    };

    if *raw.version.value() != PLAYLIST_VERSION {
        checker.error_at(
            None,
            &raw.version,
            format!(
                "playlist version {} is not supported by this build",
                raw.version.value()
            ),
            Some(format!("write `version: {PLAYLIST_VERSION}`")),
        );
    }
    if raw.name.value().trim().is_empty() {
        checker.error_at(
            None,
            &raw.name,
            "playlist name is empty",
            Some("give the playlist a name, e.g. `name: lobby`".into()),
        );
    }
    let screens = names(&mut checker, raw.screens.as_ref(), "screen");
    let tags = names(&mut checker, raw.tags.as_ref(), "tag");
    let time_zone = raw.timezone.as_ref().and_then(|written| {
        let name = written.value();
        match TimeZone::get(name) {
            Ok(time_zone) => Some((name.clone(), time_zone)),
            Err(_) => {
                let available: Vec<String> = jiff::tz::db()
                    .available()
                    .map(|name| name.as_str().to_owned())
                    .collect();
                let hint = match closest_name(name, available.iter().map(String::as_str)) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => "write an IANA time zone name, like `Europe/Paris`".to_owned(),
                };
                checker.error_at(
                    None,
                    written,
                    format!("unknown time zone `{name}`"),
                    Some(hint),
                );
                None
            }
        }
    });
    checker.set_defaults(raw.defaults.as_ref());
    checker.add_dayparts(None, raw.dayparts.as_ref());

    // Fragments come before the zones so that rules may use the dayparts they define.
    let mut fragments: Vec<(String, raw::Fragment)> = Vec::new();
    if let Some(includes) = &raw.include {
        if includes.value().len() > MAX_INCLUDES {
            checker.error_at(
                None,
                includes,
                format!(
                    "{} includes, over the limit of {MAX_INCLUDES}",
                    includes.value().len()
                ),
                Some("merge some fragments".into()),
            );
        }
        for path in includes.value().iter().take(MAX_INCLUDES) {
            let include_path = path.value().clone();
            if fragments.iter().any(|(known, _)| *known == include_path) {
                checker.error_at(
                    None,
                    path,
                    format!("`{include_path}` is included twice"),
                    None,
                );
                continue;
            }
            let text = match resolver(&include_path) {
                Ok(text) => text,
                Err(reason) => {
                    checker.error_at(
                        None,
                        path,
                        format!("cannot read included file `{include_path}`: {reason}"),
                        Some("include paths are relative to the playlist's folder".into()),
                    );
                    continue;
                }
            };
            if let Some(too_big) = size_limit(&include_path, &text) {
                checker.problems.push(too_big);
                continue;
            }
            match yaml::read::<raw::Fragment>(&include_path, &text) {
                Ok((fragment, outcome)) => {
                    checker.absorb(Some(&include_path), outcome);
                    if let Some(fragment) = fragment {
                        checker.add_dayparts(Some(&include_path), fragment.dayparts.as_ref());
                        fragments.push((include_path, fragment));
                    }
                }
                Err(diagnostic) => checker.problems.push(diagnostic),
            }
        }
    }

    let mut zones: Vec<(Zone, Origin)> = Vec::new();
    match &raw.layout {
        Some(layout) => {
            for (what, present) in [
                ("items", raw.items.as_ref().map(|list| list.location())),
                ("loops", raw.loops.as_ref().map(|list| list.location())),
                (
                    "interrupts",
                    raw.interrupts.as_ref().map(|list| list.location()),
                ),
            ] {
                if let Some(location) = present {
                    checker.error(
                        &Checker::origin(None, location),
                        format!("top-level `{what}` cannot be used with a `layout`"),
                        Some(format!(
                            "move them under the zone they belong to, in `layout:`, as `{what}:`"
                        )),
                    );
                }
            }
            if layout.value().0.is_empty() && layout.value().1.is_empty() {
                checker.error_at(None, layout, "the layout has no zones", None);
            }
            for (index, (name, zone)) in layout.value().0.iter().enumerate() {
                if index == MAX_ZONES {
                    checker.error_at(
                        None,
                        name,
                        format!(
                            "{} zones, over the limit of {MAX_ZONES} zones in a layout",
                            layout.value().0.len()
                        ),
                        Some("a screen shows a few zones; merge some of them".into()),
                    );
                    break;
                }
                let zone_name = checker.plain_name(None, name, "zone");
                let origin = Checker::origin(None, name.location());
                if zones.iter().any(|(known, _)| known.name == zone_name) {
                    checker.error(
                        &origin,
                        format!("zone `{zone_name}` is defined twice"),
                        None,
                    );
                    continue;
                }
                let built = build_zone(&mut checker, zone_name, zone);
                zones.push((built, origin));
            }
        }
        None => {
            let shape = ZoneShape {
                name: MAIN_ZONE.to_owned(),
                audio_only: false,
                unsure: false,
            };
            let mut rules = Vec::new();
            checker.rules(
                None,
                &shape,
                raw.items.as_ref(),
                raw.loops.as_ref(),
                raw.interrupts.as_ref(),
                &mut rules,
            );
            zones.push((
                Zone {
                    name: MAIN_ZONE.to_owned(),
                    area: Some(Area::FULL_SCREEN),
                    z: 0,
                    background: None,
                    background_image: None,
                    audio_only: false,
                    volume: Percent::HUNDRED,
                    rules,
                },
                Checker::origin(None, raw.name.location()),
            ));
        }
    }

    for (include_path, fragment) in &fragments {
        let include = Some(include_path.as_str());
        let Some(fragment_zones) = &fragment.zones else {
            continue;
        };
        for (name, part) in &fragment_zones.value().0 {
            let Some(index) = zones
                .iter()
                .position(|(zone, _)| &zone.name == name.value())
            else {
                let hint = match closest_name(
                    name.value(),
                    zones.iter().map(|(zone, _)| zone.name.as_str()),
                ) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => "fragments add to zones the playlist defines".to_owned(),
                };
                checker.error_at(
                    include,
                    name,
                    format!("unknown zone `{}`", name.value()),
                    Some(hint),
                );
                continue;
            };
            let shape = ZoneShape {
                name: zones[index].0.name.clone(),
                audio_only: zones[index].0.audio_only,
                unsure: false,
            };
            let mut rules = std::mem::take(&mut zones[index].0.rules);
            checker.rules(
                include,
                &shape,
                None,
                part.value().loops.as_ref(),
                part.value().interrupts.as_ref(),
                &mut rules,
            );
            zones[index].0.rules = rules;
        }
    }

    let automatic_clash: Vec<(String, Origin)> = {
        let explicit = &checker.explicit_ids;
        let mut clashes: Vec<(String, Origin)> = (1..=checker.item_count)
            .map(|number| format!("item-{number}"))
            .filter_map(|id| explicit.get(&id).map(|origin| (id, origin.clone())))
            .collect();
        clashes.sort_by_key(|(_, origin)| origin.line);
        clashes
    };
    for (id, origin) in automatic_clash {
        checker.error(
            &origin,
            format!("item id `{id}` is also the automatic id of another item"),
            Some(
                "ids of the form `item-N` are given to items without an id; pick another name"
                    .into(),
            ),
        );
    }

    let has_errors = checker
        .problems
        .iter()
        .any(|problem| problem.severity == crate::Severity::Error);
    for (zone, origin) in &zones {
        if zone.rules.is_empty() && !has_errors {
            checker.error(
                origin,
                format!("zone `{}` has nothing to play", zone.name),
                Some(if zone.name == MAIN_ZONE && raw.layout.is_none() {
                    "add `items:`, like `items: [- image: { file: promo.png, duration: 10s }]`"
                        .to_owned()
                } else {
                    "give it `items:`, `loops:` or `interrupts:`".to_owned()
                }),
            );
        }
        overlap_warnings(&mut checker, zone);
    }

    let playlist = Playlist {
        name: raw.name.value().clone(),
        screens,
        tags,
        orientation: raw
            .orientation
            .as_ref()
            .map_or_else(Orientation::default, |orientation| *orientation.value()),
        timezone: time_zone.as_ref().map(|(name, _)| name.clone()),
        dayparts: checker.dayparts.clone(),
        zones: zones.into_iter().map(|(zone, _)| zone).collect(),
    };
    if let Some((_, time_zone)) = &time_zone {
        let warnings = dst_warnings(&playlist, file_name, time_zone);
        checker.problems.extend(warnings);
    }
    checker.finish(Some(playlist))
}

/// A diagnostic when `source` is over [`MAX_PLAYLIST_BYTES`].
pub(crate) fn size_limit(file_name: &str, source: &str) -> Option<Diagnostic> {
    (source.len() > MAX_PLAYLIST_BYTES).then(|| {
        Diagnostic::error(
            file_name,
            1,
            1,
            format!(
                "file is {} bytes, over the {MAX_PLAYLIST_BYTES}-byte limit",
                source.len()
            ),
        )
        .with_hint("split it into several files")
    })
}

/// Checks a list of screen or tag names.
pub(crate) fn names(
    checker: &mut Checker<'_>,
    list: Option<&raw::List<String>>,
    what: &str,
) -> Vec<String> {
    let list = list.map(|list| list.value().as_slice()).unwrap_or_default();
    let count = checker.within_limit(None, list, MAX_NAMES, &format!("{what} names"));
    list.iter()
        .take(count)
        .map(|name| {
            if name.value().trim().is_empty() {
                checker.error_at(None, name, format!("{what} name is empty"), None);
            }
            name.value().clone()
        })
        .collect()
}

fn build_zone(checker: &mut Checker<'_>, name: String, zone: &Located<raw::Zone>) -> Zone {
    let raw_zone = zone.value();
    let audio_only = raw_zone
        .audio_only
        .as_ref()
        .is_some_and(|audio_only| *audio_only.value());
    let area = if audio_only {
        for (key, present) in [
            ("area", raw_zone.area.as_ref().map(|area| area.location())),
            (
                "background",
                raw_zone.background.as_ref().map(|value| value.location()),
            ),
            (
                "background_image",
                raw_zone
                    .background_image
                    .as_ref()
                    .map(|value| value.location()),
            ),
        ] {
            if let Some(location) = present {
                checker.error(
                    &Checker::origin(None, location),
                    format!("audio-only zone `{name}` has no picture, so `{key}` means nothing"),
                    Some(format!("remove `{key}`, or remove `audio_only`")),
                );
            }
        }
        None
    } else {
        match &raw_zone.area {
            Some(area) => Some(build_area(checker, area).unwrap_or(Area::FULL_SCREEN)),
            None => Some(Area::FULL_SCREEN),
        }
    };
    let background = raw_zone
        .background
        .as_ref()
        .and_then(|color| checker.parse(None, color, |text| text.parse::<Color>()));
    let background_image = raw_zone
        .background_image
        .as_ref()
        .and_then(|file| checker.media(None, file));
    let volume = raw_zone
        .volume
        .as_ref()
        .and_then(|volume| checker.parse(None, volume, Percent::parse))
        .unwrap_or(Percent::HUNDRED);
    let shape = ZoneShape {
        name: name.clone(),
        audio_only,
        unsure: raw_zone.audio_only.is_none() && checker.lost_inside(None, zone.location()),
    };
    let mut rules = Vec::new();
    checker.rules(
        None,
        &shape,
        raw_zone.items.as_ref(),
        raw_zone.loops.as_ref(),
        raw_zone.interrupts.as_ref(),
        &mut rules,
    );
    Zone {
        name,
        area,
        z: raw_zone.z.as_ref().map_or(0, |z| *z.value()),
        background,
        background_image,
        audio_only,
        volume,
        rules,
    }
}

fn build_area(checker: &mut Checker<'_>, area: &Located<raw::Area>) -> Option<Area> {
    let raw_area = area.value();
    let x = checker.parse(None, &raw_area.x, Percent::parse);
    let y = checker.parse(None, &raw_area.y, Percent::parse);
    let width = checker.parse(None, &raw_area.width, Percent::parse);
    let height = checker.parse(None, &raw_area.height, Percent::parse);
    let (x, y, width, height) = (x?, y?, width?, height?);
    let mut ok = true;
    for (size, value, written) in [
        ("width", width, &raw_area.width),
        ("height", height, &raw_area.height),
    ] {
        if value == Percent::ZERO {
            checker.error_at(
                None,
                written,
                format!("a zone of {size} 0% cannot be seen"),
                None,
            );
            ok = false;
        }
    }
    for (what, start, size, written) in [
        ("x + width", x, width, &raw_area.width),
        ("y + height", y, height, &raw_area.height),
    ] {
        let end = start.hundredths() + size.hundredths();
        if end > Percent::HUNDRED.hundredths() {
            checker.error_at(
                None,
                written,
                format!(
                    "the zone goes off the screen: {what} is {}",
                    Percent::from_hundredths(end)
                ),
                Some("keep x + width and y + height at 100% or less".into()),
            );
            ok = false;
        }
    }
    ok.then_some(Area {
        x,
        y,
        width,
        height,
    })
}

/// The minutes of the week (Monday 00:00 = 0) during which a rule may play, ignoring dates and DST:
/// enough to tell whether two rules can ever meet.
fn week_minutes(rule: &Rule, dayparts: &[Daypart]) -> Vec<(u32, u32)> {
    const WEEK: u32 = 7 * 24 * 60;
    let spans: Vec<TimeRange> = if rule.dayparts.is_empty() {
        vec![TimeRange::WHOLE_DAY]
    } else {
        rule.dayparts
            .iter()
            .filter_map(|name| dayparts.iter().find(|daypart| &daypart.name == name))
            .map(|daypart| daypart.span)
            .collect()
    };
    let mut intervals = Vec::new();
    for day in 0..7u32 {
        let Ok(weekday) = jiff::civil::Weekday::from_monday_zero_offset(day as i8) else {
            continue;
        };
        if !rule.weekdays.contains(weekday) {
            continue;
        }
        for span in &spans {
            let start = day * 24 * 60 + u32::from(span.start.minutes_since_midnight());
            let end = start + span.minutes();
            if end > WEEK {
                intervals.push((start, WEEK));
                intervals.push((0, end - WEEK));
            } else {
                intervals.push((start, end));
            }
        }
    }
    intervals
}

/// Whether the dates of two rules leave a day on which both may play.
fn dates_meet(earlier: &Rule, later: &Rule) -> bool {
    let first = earlier.from.max(later.from);
    let last = match (earlier.until, later.until) {
        (Some(one), Some(other)) => Some(one.min(other)),
        (one, other) => one.or(other),
    };
    first.zip(last).is_none_or(|(first, last)| first <= last)
}

/// Two rules of a zone that can play at the same time, and the first minute of the week when they
/// do: `earlier` and `later` are their indices in the zone, in the order written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meeting {
    pub(crate) earlier: usize,
    pub(crate) later: usize,
    pub(crate) minute: u32,
}

/// The pairs of rules of the same kind and priority that can play at the same time, in the order
/// of the later rule, then the earlier. One sweep over the week per kind and priority: rules are
/// grouped, their minutes of the week sorted, and only rules whose minutes are open when another's
/// start are compared, so the work grows with the rules and with the pairs that really meet, not
/// with every pair. `comparisons` counts the pairs of open minutes looked at.
pub(crate) fn meetings(
    rules: &[Rule],
    dayparts: &[Daypart],
    comparisons: &mut usize,
) -> Vec<Meeting> {
    let mut groups: HashMap<(i32, bool), Vec<usize>> = HashMap::new();
    for (index, rule) in rules.iter().enumerate() {
        groups
            .entry((rule.priority, rule.is_interrupt()))
            .or_default()
            .push(index);
    }
    let mut found: HashMap<(usize, usize), u32> = HashMap::new();
    for members in groups.values().filter(|members| members.len() > 1) {
        let mut starts: Vec<(u32, u32, usize)> = members
            .iter()
            .flat_map(|&index| {
                week_minutes(&rules[index], dayparts)
                    .into_iter()
                    .filter(|(start, end)| start < end)
                    .map(move |(start, end)| (start, end, index))
            })
            .collect();
        starts.sort_unstable();
        // The rules whose minutes are open at the sweep's position, with when they close.
        let mut open: Vec<(usize, u32)> = Vec::new();
        for (start, end, index) in starts {
            open.retain(|&(_, open_end)| open_end > start);
            let mut merged = false;
            for entry in &mut open {
                *comparisons += 1;
                if entry.0 == index {
                    entry.1 = entry.1.max(end);
                    merged = true;
                    continue;
                }
                let pair = (entry.0.min(index), entry.0.max(index));
                if !found.contains_key(&pair) && dates_meet(&rules[pair.0], &rules[pair.1]) {
                    found.insert(pair, start);
                }
            }
            if !merged {
                open.push((index, end));
            }
        }
    }
    let mut meetings: Vec<Meeting> = found
        .into_iter()
        .map(|((earlier, later), minute)| Meeting {
            earlier,
            later,
            minute,
        })
        .collect();
    meetings.sort_by_key(|meeting| (meeting.later, meeting.earlier));
    meetings
}

/// Warns about rules of the same kind and priority in a zone that can play at the same time: a
/// tie that the order of writing settles, or (where one plays all day and the other has
/// conditions) the rule with conditions winning, which playlists written before the all-day items
/// became the fallback did not do.
fn overlap_warnings(checker: &mut Checker<'_>, zone: &Zone) {
    let mut comparisons = 0;
    for meeting in meetings(&zone.rules, &checker.dayparts, &mut comparisons) {
        let (earlier, later) = (&zone.rules[meeting.earlier], &zone.rules[meeting.later]);
        let minute = meeting.minute;
        let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(minute / (24 * 60)) as usize];
        let time =
            TimeOfDay::from_hour_minute(((minute % (24 * 60)) / 60) as u16, (minute % 60) as u16)
                .unwrap_or(TimeOfDay::MIDNIGHT);
        let kind = if later.is_interrupt() {
            "interrupts"
        } else {
            "loops"
        };
        match (earlier.plays_all_day(), later.plays_all_day()) {
            (true, false) => checker.warning(
                &later.origin,
                format!(
                    "{} `{}` now wins over `{}` in zone `{}` whenever it applies (e.g. {day} {time}): at equal priority a rule with dates, weekdays or dayparts beats one that plays all day; before, `{}`, written first, won",
                    &kind[..kind.len() - 1],
                    later.name,
                    earlier.name,
                    zone.name,
                    earlier.name
                ),
                Some(format!(
                    "if that is what you want, say so with `priority: {}` on `{}`, which also silences this warning",
                    later.priority.saturating_add(1),
                    later.name
                )),
            ),
            // The rule with conditions was written first and wins either way.
            (false, true) => {}
            _ => checker.warning(
                &later.origin,
                format!(
                    "{kind} `{}` and `{}` in zone `{}` both have priority {} and can play at the same time (e.g. {day} {time}); `{}`, written first, wins",
                    earlier.name, later.name, zone.name, later.priority, earlier.name
                ),
                Some("give the one that should win a higher `priority`".into()),
            ),
        }
    }
}

/// Warnings for daypart boundaries that fall into a DST gap or fold of `time_zone`.
pub(crate) fn dst_warnings(
    playlist: &Playlist,
    file_name: &str,
    time_zone: &TimeZone,
) -> Vec<Diagnostic> {
    let zone_name = time_zone.iana_name().unwrap_or("this time zone");
    let mut warnings = Vec::new();
    for daypart in &playlist.dayparts {
        let start_change = timing::clock_change_at(daypart.span.start, time_zone);
        let end_change = if daypart.span.end == TimeOfDay::END_OF_DAY {
            None
        } else {
            timing::clock_change_at(daypart.span.end, time_zone)
        };
        let name = &daypart.name;
        let (start, end) = (daypart.span.start, daypart.span.end);
        let message = match (&start_change, &end_change) {
            (Some(ClockChange::Gap { example, from, to }), Some(ClockChange::Gap { .. })) => {
                Some(format!(
                    "daypart `{name}` ({start}-{end}) lies in the hour the clocks skip in {zone_name} when they spring forward (e.g. {example}, {from} → {to}); that night it does not play"
                ))
            }
            (Some(ClockChange::Gap { example, from, to }), _) => Some(format!(
                "daypart `{name}` starts at {start}, a time the clocks skip in {zone_name} when they spring forward (e.g. {example}, {from} → {to}); that night it starts at {to}, when the clocks jump"
            )),
            (_, Some(ClockChange::Gap { example, from, to })) => Some(format!(
                "daypart `{name}` ends at {end}, a time the clocks skip in {zone_name} when they spring forward (e.g. {example}, {from} → {to}); that night it ends at {to}, when the clocks jump"
            )),
            (Some(ClockChange::Fold { example, from, to }), _) => Some(format!(
                "daypart `{name}` starts at {start}, a time the clocks show twice in {zone_name} when they fall back (e.g. {example}, {from} → {to}); that night it starts at the first {start}"
            )),
            (_, Some(ClockChange::Fold { example, from, to })) => Some(format!(
                "daypart `{name}` ends at {end}, a time the clocks show twice in {zone_name} when they fall back (e.g. {example}, {from} → {to}); that night it ends at the second {end}"
            )),
            (None, None) => None,
        };
        if let Some(message) = message {
            let diagnostic = Diagnostic::warning(
                daypart.origin.file(file_name),
                daypart.origin.line,
                daypart.origin.column,
                message,
            )
            .with_hint(
                "if that is not what you want, move the daypart out of the night's clock change",
            );
            warnings.push(diagnostic);
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A playlist at the limits: the most rules one zone may hold, each a loop of priority 0 in a
    /// daypart of its own (the most dayparts a playlist may define), every day of the week.
    fn at_the_limits(overlapping: bool) -> String {
        let mut yaml = String::from("version: 1\nname: limits\ndayparts:\n");
        for index in 0..MAX_DAYPARTS {
            // Five minutes each, one after the other; or all the same hour when they overlap.
            let start = if overlapping { 600 } else { index * 5 };
            let end = if overlapping { 660 } else { start + 5 };
            yaml.push_str(&format!(
                "  part-{index}: \"{:02}:{:02}-{:02}:{:02}\"\n",
                start / 60,
                start % 60,
                end / 60,
                end % 60
            ));
        }
        yaml.push_str("loops:\n");
        for index in 0..MAX_RULES_PER_ZONE {
            yaml.push_str(&format!(
                "  - {{ name: rule-{index}, dayparts: [part-{index}], items: [image: {{ file: a.png, duration: 5s }}] }}\n"
            ));
        }
        yaml
    }

    #[test]
    fn the_overlap_check_grows_with_the_rules_not_with_their_pairs() {
        let playlist = super::super::parse_playlist("limits.yaml", &at_the_limits(false))
            .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
        let zone = &playlist.zones[0];
        assert_eq!(zone.rules.len(), MAX_RULES_PER_ZONE);
        let mut comparisons = 0;
        let found = meetings(&zone.rules, &playlist.dayparts, &mut comparisons);
        assert!(found.is_empty(), "{found:?}");
        // Each rule plays on 7 days; comparing every pair of rules and of their intervals, as the
        // check once did, is 256 * 255 / 2 * 49 = 1.6 million comparisons. A sweep looks at the
        // rules open when each interval starts: here at most the one before it.
        let intervals = MAX_RULES_PER_ZONE * 7;
        assert!(
            comparisons <= 2 * intervals,
            "{comparisons} comparisons for {intervals} intervals"
        );
    }

    #[test]
    fn rules_that_all_meet_are_each_warned_about_once_at_their_first_minute() {
        let playlist = super::super::parse_playlist("limits.yaml", &at_the_limits(true)).unwrap();
        let zone = &playlist.zones[0];
        let mut comparisons = 0;
        let found = meetings(&zone.rules[..4], &playlist.dayparts, &mut comparisons);
        let pairs: Vec<(usize, usize, u32)> = found
            .iter()
            .map(|meeting| (meeting.earlier, meeting.later, meeting.minute))
            .collect();
        // Monday 10:00 is minute 600 of the week.
        assert_eq!(
            pairs,
            [
                (0, 1, 600),
                (0, 2, 600),
                (1, 2, 600),
                (0, 3, 600),
                (1, 3, 600),
                (2, 3, 600)
            ]
        );
    }

    #[test]
    fn dates_that_never_meet_are_no_tie() {
        let playlist = super::super::parse_playlist(
            "dates.yaml",
            "version: 1\nname: d\nloops:\n  - { name: a, until: 2026-01-31, items: [image: { file: a.png, duration: 5s }] }\n  - { name: b, from: 2026-02-01, items: [image: { file: b.png, duration: 5s }] }\n  - { name: c, from: 2026-01-15, until: 2026-02-15, items: [image: { file: c.png, duration: 5s }] }\n",
        )
        .unwrap();
        let mut comparisons = 0;
        let found = meetings(&playlist.zones[0].rules, &[], &mut comparisons);
        let pairs: Vec<(usize, usize)> = found
            .iter()
            .map(|meeting| (meeting.earlier, meeting.later))
            .collect();
        assert_eq!(pairs, [(0, 2), (1, 2)]);
    }

    fn errors_of(source: &str) -> Vec<String> {
        let diagnostics = super::super::parse_playlist("big.yaml", source).unwrap_err();
        diagnostics.errors().map(ToString::to_string).collect()
    }

    #[test]
    fn a_rule_over_the_item_limit_is_refused_at_the_first_item_beyond_it() {
        let mut yaml = String::from("version: 1\nname: big\nitems:\n");
        for index in 0..=MAX_ITEMS_PER_RULE {
            yaml.push_str(&format!(
                "  - image: {{ file: a-{index}.png, duration: 5s }}\n"
            ));
        }
        let line = 4 + MAX_ITEMS_PER_RULE;
        assert_eq!(
            errors_of(&yaml),
            [format!(
                "big.yaml:{line}:5: error: 1001 entries here, over the limit of 1000 items per rule\n  help: split it up, or leave out what no screen needs"
            )]
        );
    }

    #[test]
    fn a_zone_over_the_rule_limit_is_refused_at_the_first_rule_beyond_it() {
        let mut yaml = at_the_limits(false);
        yaml.push_str("  - { name: one-more, items: [image: { file: a.png, duration: 5s }] }\n");
        let line = 5 + MAX_DAYPARTS + MAX_RULES_PER_ZONE;
        let errors = errors_of(&yaml);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(&format!(
                "big.yaml:{line}:5: error: 257 entries here, over the limit of 256 rules per zone"
            )),
            "{errors:?}"
        );
    }

    #[test]
    fn dayparts_zones_and_names_over_their_limits_are_refused_with_the_limit() {
        let mut yaml = String::from("version: 1\nname: big\nscreens: [");
        yaml.push_str(&vec!["s"; MAX_NAMES + 1].join(", "));
        yaml.push_str("]\ndayparts:\n");
        for index in 0..=MAX_DAYPARTS {
            yaml.push_str(&format!("  p-{index}: \"08:00-09:00\"\n"));
        }
        yaml.push_str("layout:\n");
        for index in 0..=MAX_ZONES {
            yaml.push_str(&format!(
                "  z-{index}:\n    loops:\n      - dayparts: [{}]\n        items: [image: {{ file: a.png, duration: 5s }}]\n",
                vec!["p-0"; MAX_DAYPARTS_PER_RULE + 1].join(", ")
            ));
        }
        let messages: Vec<String> = errors_of(&yaml)
            .iter()
            .map(|error| error.lines().next().unwrap().to_owned())
            .collect();
        let limits: Vec<&str> = messages
            .iter()
            .map(|message| {
                message
                    .split("over the limit of ")
                    .nth(1)
                    .unwrap_or(message)
            })
            .collect();
        assert_eq!(
            limits[..3],
            [
                "1000 screen names",
                "256 dayparts in one playlist",
                "32 dayparts per rule"
            ]
        );
        assert_eq!(limits.last(), Some(&"32 zones in a layout"));
        // One refusal per rule over the dayparts limit, and one for the zones.
        assert_eq!(limits.len(), 3 + (MAX_ZONES - 1) + 1, "{messages:#?}");
    }
}
