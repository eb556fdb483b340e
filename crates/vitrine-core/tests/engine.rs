//! The schedule engine, case by case (`check(yaml, zone, at, expect![[...]])`, updated with
//! `UPDATE_EXPECT=1`), across DST in three zones, and by property: a zone's timeline covers every
//! instant exactly once and the highest priority always wins.

use expect_test::{Expect, expect};
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use proptest::prelude::*;
use vitrine_core::timing::TimeRange;
use vitrine_core::{Content, Play, Schedule, parse_playlist};

fn schedule(yaml: &str, time_zone: &str) -> Schedule {
    let playlist = parse_playlist("test.yaml", yaml).unwrap_or_else(|error| panic!("{error}"));
    Schedule::new(playlist, TimeZone::get(time_zone).unwrap())
}

/// An instant written as store-local wall-clock time in `time_zone`, e.g. `2026-03-29T03:00`.
/// Readings in a fold take the earlier instant; tests that care write the offset.
fn local(time_zone: &str, reading: &str) -> Timestamp {
    if reading.ends_with('Z') || reading.contains('+') {
        return reading.parse().unwrap();
    }
    let datetime: DateTime = reading.parse().unwrap();
    datetime
        .to_zoned(TimeZone::get(time_zone).unwrap())
        .unwrap()
        .timestamp()
}

fn describe(play: &Play<'_>, time_zone: &TimeZone) -> String {
    let show = |instant: Timestamp| {
        instant
            .to_zoned(time_zone.clone())
            .strftime("%Y-%m-%d %H:%M:%S%:z")
            .to_string()
    };
    let what = match &play.item.content {
        Content::Image { media, .. } => format!("image {}", media.file),
        Content::Video { media, .. } => format!("video {}", media.file),
        Content::Audio { media, .. } => format!("audio {}", media.file),
        Content::Text { text, .. } => format!("text {text:?}"),
        Content::Clock { format, .. } => format!("clock {format}"),
        Content::Offer { slot, .. } => format!("offer slot {slot}"),
    };
    let cut = if (play.start, play.end) == (play.scheduled_start, play.scheduled_end) {
        String::new()
    } else {
        format!(
            " [cut from its turn {} .. {}]",
            show(play.scheduled_start),
            show(play.scheduled_end)
        )
    };
    format!(
        "{} .. {} {}: {} ({what}){cut}\n  {}",
        show(play.start),
        show(play.end),
        play.zone,
        play.item.id,
        play.reason
    )
}

fn check(yaml: &str, zone: &str, time_zone: &str, at: &str, expected: Expect) {
    let schedule = schedule(yaml, time_zone);
    let actual = match schedule.what_plays(zone, local(time_zone, at)) {
        Some(play) => describe(&play, schedule.time_zone()),
        None => "nothing plays".to_owned(),
    };
    expected.assert_eq(&actual);
}

fn check_timeline(yaml: &str, zone: &str, time_zone: &str, from: &str, to: &str, expected: Expect) {
    let schedule = schedule(yaml, time_zone);
    let plays = schedule.timeline(zone, local(time_zone, from), local(time_zone, to));
    let lines: Vec<String> = plays
        .iter()
        .map(|play| {
            describe(play, schedule.time_zone())
                .lines()
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    expected.assert_eq(&lines.join("\n"));
}

const STORE: &str = r#"
version: 1
name: store
defaults: { duration: 10s }
dayparts:
  breakfast: "08:00-10:00"
  late: "22:00-02:00"
  night: "02:30-04:00"
items:
  - image: { id: sale, file: sale.png }
  - image: { id: bread, file: bread.png, duration: 20s }
loops:
  - name: breakfast
    dayparts: [breakfast]
    weekdays: [mon-fri]
    priority: 10
    items:
      - image: { id: croissant, file: croissant.png }
  - name: late
    dayparts: [late]
    weekdays: [fri]
    priority: 10
    items:
      - text: { id: closing, text: "Open late on Fridays" }
  - name: night
    dayparts: [night]
    priority: 30
    items:
      - clock: { id: night-clock, format: "%H:%M" }
interrupts:
  - name: reminder
    every: 15m
    priority: 5
    items:
      - image: { id: reminder, file: reminder.png, duration: 30s }
"#;

#[test]
fn the_default_loop_is_anchored_to_the_epoch() {
    // A 30 s loop; 12:01:05 UTC is 5 s into a turn of the loop (every multiple of 30 s since the
    // epoch starts one), so `sale` is on screen from 12:01:00 to 12:01:10.
    check(
        STORE,
        "main",
        "UTC",
        "2026-01-03T12:01:05",
        expect![[r#"
            2026-01-03 12:01:00+00:00 .. 2026-01-03 12:01:10+00:00 main: sale (image sale.png)
              loop `loop-1` (priority 0) applies at all times; no other rule applies"#]],
    );
}

#[test]
fn a_higher_priority_loop_wins_and_names_what_it_shadows() {
    check(
        STORE,
        "main",
        "Europe/Paris",
        "2026-01-05T08:00:03",
        expect![[r#"
            2026-01-05 08:00:00+01:00 .. 2026-01-05 08:00:10+01:00 main: croissant (image croissant.png)
              loop `breakfast` (priority 10) applies: daypart `breakfast` 08:00-10:00, mon, tue, wed, thu, fri; it wins over interrupt `reminder` (every 15m, priority 5) (lower priority), loop `loop-1` (priority 0) (lower priority)"#]],
    );
}

#[test]
fn an_interrupt_cuts_in_and_cuts_the_item_before_it() {
    // Saturday: no breakfast loop, so the interrupt wins over the default loop.
    check(
        STORE,
        "main",
        "Europe/Paris",
        "2026-01-10T08:15:10",
        expect![[r#"
            2026-01-10 08:15:00+01:00 .. 2026-01-10 08:15:30+01:00 main: reminder (image reminder.png)
              interrupt `reminder` (every 15m, priority 5) applies at all times; it wins over loop `loop-1` (priority 0) (lower priority)"#]],
    );
    // A 7 s loop does not divide a minute, so the item on screen when the interrupt starts is cut,
    // and the loop comes back mid-turn, where it would have been: screens stay in step.
    check_timeline(
        "version: 1\nname: cut\nitems: [image: { id: long, file: long.png, duration: 7s }]\ninterrupts:\n  - { name: news, every: 1m, items: [text: { id: headline, text: News, duration: 5s }] }\n",
        "main",
        "Europe/Paris",
        "2026-01-10T08:00:55",
        "2026-01-10T08:01:10",
        expect![[r#"
            2026-01-10 08:00:51+01:00 .. 2026-01-10 08:00:58+01:00 main: long (image long.png)
            2026-01-10 08:00:58+01:00 .. 2026-01-10 08:01:00+01:00 main: long (image long.png) [cut from its turn 2026-01-10 08:00:58+01:00 .. 2026-01-10 08:01:05+01:00]
            2026-01-10 08:01:00+01:00 .. 2026-01-10 08:01:05+01:00 main: headline (text "News")
            2026-01-10 08:01:05+01:00 .. 2026-01-10 08:01:12+01:00 main: long (image long.png)"#]],
    );
}

/// Playlists refuse an interrupt longer than its period, but a manifest is only JSON: one made by
/// hand (or by the fuzzer) may carry a 3-minute item every 2 minutes. Each turn is cut where the
/// next begins, so plays never overlap.
#[test]
fn an_interrupt_longer_than_its_period_is_cut_where_its_next_turn_begins() {
    let mut playlist = parse_playlist(
        "test.yaml",
        "version: 1\nname: long\nitems: [image: { id: base, file: a.png, duration: 10s }]\n\
         interrupts:\n  - { name: promo, every: 2m, items: [text: { id: promo, text: Sale, duration: 1m }] }\n",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let rule = playlist.zones[0]
        .rules
        .iter_mut()
        .find(|rule| rule.name == "promo")
        .expect("the interrupt");
    rule.items[0].duration = vitrine_core::ItemDuration::from_millis(180_000);
    let schedule = Schedule::new(playlist, TimeZone::get("Europe/Paris").unwrap());
    let from = local("Europe/Paris", "2026-01-10T08:00:30");
    let to = local("Europe/Paris", "2026-01-10T08:10:00");
    let plays = schedule.timeline("main", from, to);
    for pair in plays.windows(2) {
        assert!(
            pair[0].end <= pair[1].start,
            "{} > {}",
            pair[0].end,
            pair[1].start
        );
    }
    let promo = schedule
        .what_plays("main", local("Europe/Paris", "2026-01-10T08:03:59"))
        .expect("a play");
    assert_eq!(promo.item.id, "promo");
    assert_eq!(promo.end, local("Europe/Paris", "2026-01-10T08:04:00"));
}

#[test]
fn a_daypart_that_crosses_midnight_belongs_to_the_day_it_starts() {
    // Friday 22:00 to Saturday 02:00.
    check(
        STORE,
        "main",
        "Europe/Paris",
        "2026-01-10T01:05:01",
        expect![[r#"
            2026-01-10 01:05:00+01:00 .. 2026-01-10 01:05:10+01:00 main: closing (text "Open late on Fridays")
              loop `late` (priority 10) applies: daypart `late` 22:00-02:00, fri; it wins over loop `loop-1` (priority 0) (lower priority)"#]],
    );
    // Saturday 22:00 to Sunday 02:00 is not a Friday night.
    check(
        STORE,
        "main",
        "Europe/Paris",
        "2026-01-11T01:05:01",
        expect![[r#"
            2026-01-11 01:05:00+01:00 .. 2026-01-11 01:05:10+01:00 main: sale (image sale.png)
              loop `loop-1` (priority 0) applies at all times; no other rule applies"#]],
    );
}

/// A morning loop written below the zone's all-day items, both at priority 0.
const FALLBACK: &str = "version: 1\nname: x\ndayparts: { morning: \"07:00-11:00\" }\nitems: [image: { id: all-day, file: a.png, duration: 10s }]\nloops:\n  - { name: morning, dayparts: [morning], items: [image: { id: coffee, file: c.png, duration: 10s }] }\n";

#[test]
fn the_all_day_items_are_the_fallback() {
    // In the morning the loop with a daypart wins over the all-day items at equal priority.
    check(
        FALLBACK,
        "main",
        "Europe/Paris",
        "2026-01-05T08:00:03",
        expect![[r#"
            2026-01-05 08:00:00+01:00 .. 2026-01-05 08:00:10+01:00 main: coffee (image c.png)
              loop `morning` (priority 0) applies: daypart `morning` 07:00-11:00; it wins over loop `loop-1` (priority 0) (it plays all day: the fallback when no rule with dates, weekdays or dayparts applies)"#]],
    );
    // Outside it the all-day items play.
    check(
        FALLBACK,
        "main",
        "Europe/Paris",
        "2026-01-05T12:00:03",
        expect![[r#"
            2026-01-05 12:00:00+01:00 .. 2026-01-05 12:00:10+01:00 main: all-day (image a.png)
              loop `loop-1` (priority 0) applies at all times; no other rule applies"#]],
    );
    // A loop that plays all day too is still a tie, settled by the order of writing.
    check(
        "version: 1\nname: x\nitems: [image: { id: first, file: a.png, duration: 10s }]\nloops:\n  - { name: second, items: [image: { id: second, file: b.png, duration: 10s }] }\n",
        "main",
        "UTC",
        "2026-01-05T08:00:03",
        expect![[r#"
            2026-01-05 08:00:00+00:00 .. 2026-01-05 08:00:10+00:00 main: first (image a.png)
              loop `loop-1` (priority 0) applies at all times; it wins over loop `second` (priority 0) (same priority, written later)"#]],
    );
}

#[test]
fn validation_names_the_rule_whose_meaning_changed() {
    let parsed =
        vitrine_core::parse_playlist_with_includes("x.yaml", FALLBACK, &|_| Err(String::new()))
            .unwrap();
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    expect![[r#"
        [
            "x.yaml:6:5: warning: loop `morning` now wins over `loop-1` in zone `main` whenever it applies (e.g. mon 07:00): at equal priority a rule with dates, weekdays or dayparts beats one that plays all day; before, `loop-1`, written first, won\n  help: if that is what you want, say so with `priority: 1` on `morning`, which also silences this warning",
        ]
    "#]].assert_debug_eq(&warnings);
    // Saying so with a priority silences it.
    let explicit = FALLBACK.replace("name: morning,", "name: morning, priority: 1,");
    let parsed =
        vitrine_core::parse_playlist_with_includes("x.yaml", &explicit, &|_| Err(String::new()))
            .unwrap();
    assert!(parsed.warnings.is_empty(), "{}", parsed.warnings);
}

#[test]
fn nothing_plays_where_no_rule_applies() {
    check(
        "version: 1\nname: x\ndayparts: { open: \"09:00-19:00\" }\nloops:\n  - dayparts: [open]\n    items: [image: { file: a.png, duration: 10s }]\n",
        "main",
        "Europe/Paris",
        "2026-01-05T20:00:00",
        expect!["nothing plays"],
    );
}

#[test]
fn the_engine_ends_a_play_where_the_rule_stops() {
    check_timeline(
        STORE,
        "main",
        "Europe/Paris",
        "2026-01-05T09:59:45",
        "2026-01-05T10:00:25",
        expect![[r#"
            2026-01-05 09:59:40+01:00 .. 2026-01-05 09:59:50+01:00 main: croissant (image croissant.png)
            2026-01-05 09:59:50+01:00 .. 2026-01-05 10:00:00+01:00 main: croissant (image croissant.png)
            2026-01-05 10:00:00+01:00 .. 2026-01-05 10:00:30+01:00 main: reminder (image reminder.png)"#]],
    );
}

// DST: a daypart at 02:30 on the spring-forward night starts when the clocks jump.

#[test]
fn paris_spring_forward_night() {
    // 2026-03-29: 02:00 CET → 03:00 CEST. `night` (02:30-04:00) starts at the jump, 03:00 CEST.
    check(
        STORE,
        "main",
        "Europe/Paris",
        "2026-03-29T01:00:00Z",
        expect![[r#"
            2026-03-29 03:00:00+02:00 .. 2026-03-29 03:00:10+02:00 main: night-clock (clock %H:%M)
              loop `night` (priority 30) applies: daypart `night` 02:30-04:00; it wins over interrupt `reminder` (every 15m, priority 5) (lower priority), loop `loop-1` (priority 0) (lower priority)"#]],
    );
    // One millisecond before the jump the default loop plays.
    check(
        STORE,
        "main",
        "Europe/Paris",
        "2026-03-29T00:59:59.999Z",
        expect![[r#"
            2026-03-29 01:59:40+01:00 .. 2026-03-29 03:00:00+02:00 main: bread (image bread.png)
              loop `loop-1` (priority 0) applies at all times; no other rule applies"#]],
    );
}

#[test]
fn paris_fall_back_night() {
    // 2026-10-25: 03:00 CEST → 02:00 CET. `night` starts at the first 02:30 (CEST) and ends at 04:00
    // CET, 2 h 30 m of real time.
    check_timeline(
        "version: 1\nname: x\ndayparts: { night: \"02:30-04:00\" }\nloops:\n  - dayparts: [night]\n    items: [image: { file: a.png, duration: 1h }]\n",
        "main",
        "Europe/Paris",
        "2026-10-24T23:00:00Z",
        "2026-10-25T04:00:00Z",
        expect![[r#"
            2026-10-25 02:30:00+02:00 .. 2026-10-25 02:00:00+01:00 main: item-1 (image a.png) [cut from its turn 2026-10-25 02:00:00+02:00 .. 2026-10-25 02:00:00+01:00]
            2026-10-25 02:00:00+01:00 .. 2026-10-25 03:00:00+01:00 main: item-1 (image a.png)
            2026-10-25 03:00:00+01:00 .. 2026-10-25 04:00:00+01:00 main: item-1 (image a.png)"#]],
    );
}

#[test]
fn new_york_spring_forward_and_fall_back() {
    let yaml = "version: 1\nname: x\ndayparts: { early: \"02:30-03:30\", fold: \"01:15-01:45\" }\nitems: [image: { file: base.png, duration: 1h }]\nloops:\n  - { name: early, dayparts: [early], priority: 1, items: [image: { file: early.png, duration: 1h }] }\n  - { name: fold, dayparts: [fold], priority: 2, items: [image: { file: fold.png, duration: 1h }] }\n";
    // 2026-03-08: 02:00 EST → 03:00 EDT. `early` runs 03:00-03:30 EDT.
    check_timeline(
        yaml,
        "main",
        "America/New_York",
        "2026-03-08T01:30:00",
        "2026-03-08T04:00:00",
        expect![[r#"
            2026-03-08 01:15:00-05:00 .. 2026-03-08 01:45:00-05:00 main: item-3 (image fold.png) [cut from its turn 2026-03-08 01:00:00-05:00 .. 2026-03-08 03:00:00-04:00]
            2026-03-08 01:45:00-05:00 .. 2026-03-08 03:00:00-04:00 main: item-1 (image base.png) [cut from its turn 2026-03-08 01:00:00-05:00 .. 2026-03-08 03:00:00-04:00]
            2026-03-08 03:00:00-04:00 .. 2026-03-08 03:30:00-04:00 main: item-2 (image early.png) [cut from its turn 2026-03-08 03:00:00-04:00 .. 2026-03-08 04:00:00-04:00]
            2026-03-08 03:30:00-04:00 .. 2026-03-08 04:00:00-04:00 main: item-1 (image base.png) [cut from its turn 2026-03-08 03:00:00-04:00 .. 2026-03-08 04:00:00-04:00]"#]],
    );
    // 2026-11-01: 02:00 EDT → 01:00 EST. `fold` runs from the first 01:15 (EDT) to the second
    // 01:45 (EST).
    check_timeline(
        yaml,
        "main",
        "America/New_York",
        "2026-11-01T05:00:00Z",
        "2026-11-01T07:00:00Z",
        expect![[r#"
            2026-11-01 01:00:00-04:00 .. 2026-11-01 01:15:00-04:00 main: item-1 (image base.png) [cut from its turn 2026-11-01 01:00:00-04:00 .. 2026-11-01 01:00:00-05:00]
            2026-11-01 01:15:00-04:00 .. 2026-11-01 01:00:00-05:00 main: item-3 (image fold.png) [cut from its turn 2026-11-01 01:00:00-04:00 .. 2026-11-01 01:00:00-05:00]
            2026-11-01 01:00:00-05:00 .. 2026-11-01 01:45:00-05:00 main: item-3 (image fold.png) [cut from its turn 2026-11-01 01:00:00-05:00 .. 2026-11-01 02:00:00-05:00]
            2026-11-01 01:45:00-05:00 .. 2026-11-01 02:00:00-05:00 main: item-1 (image base.png) [cut from its turn 2026-11-01 01:00:00-05:00 .. 2026-11-01 02:00:00-05:00]"#]],
    );
}

#[test]
fn lord_howe_shifts_by_thirty_minutes() {
    // Lord Howe Island: +10:30 in winter, +11:00 in summer. 2026-10-04 02:00 → 02:30.
    let yaml = "version: 1\nname: x\ndayparts: { gap: \"02:15-03:00\", fold: \"01:40-01:50\" }\nitems: [image: { file: base.png, duration: 1h }]\nloops:\n  - { name: gap, dayparts: [gap], priority: 1, items: [image: { file: gap.png, duration: 1h }] }\n  - { name: fold, dayparts: [fold], priority: 1, items: [image: { file: fold.png, duration: 1h }] }\n";
    check_timeline(
        yaml,
        "main",
        "Australia/Lord_Howe",
        "2026-10-04T01:30:00",
        "2026-10-04T03:30:00",
        expect![[r#"
            2026-10-04 01:30:00+10:30 .. 2026-10-04 01:40:00+10:30 main: item-1 (image base.png) [cut from its turn 2026-10-04 01:30:00+10:30 .. 2026-10-04 03:00:00+11:00]
            2026-10-04 01:40:00+10:30 .. 2026-10-04 01:50:00+10:30 main: item-3 (image fold.png) [cut from its turn 2026-10-04 01:30:00+10:30 .. 2026-10-04 03:00:00+11:00]
            2026-10-04 01:50:00+10:30 .. 2026-10-04 02:30:00+11:00 main: item-1 (image base.png) [cut from its turn 2026-10-04 01:30:00+10:30 .. 2026-10-04 03:00:00+11:00]
            2026-10-04 02:30:00+11:00 .. 2026-10-04 03:00:00+11:00 main: item-2 (image gap.png) [cut from its turn 2026-10-04 01:30:00+10:30 .. 2026-10-04 03:00:00+11:00]
            2026-10-04 03:00:00+11:00 .. 2026-10-04 04:00:00+11:00 main: item-1 (image base.png)"#]],
    );
    // 2026-04-05: 02:00 (+11) → 01:30 (+10:30): 01:40-01:50 shows twice; the daypart spans both.
    check_timeline(
        yaml,
        "main",
        "Australia/Lord_Howe",
        "2026-04-04T14:00:00Z",
        "2026-04-04T15:30:00Z",
        expect![[r#"
            2026-04-05 01:00:00+11:00 .. 2026-04-05 01:40:00+11:00 main: item-1 (image base.png) [cut from its turn 2026-04-05 01:00:00+11:00 .. 2026-04-05 01:30:00+10:30]
            2026-04-05 01:40:00+11:00 .. 2026-04-05 01:30:00+10:30 main: item-3 (image fold.png) [cut from its turn 2026-04-05 01:00:00+11:00 .. 2026-04-05 01:30:00+10:30]
            2026-04-05 01:30:00+10:30 .. 2026-04-05 01:50:00+10:30 main: item-3 (image fold.png) [cut from its turn 2026-04-05 01:30:00+10:30 .. 2026-04-05 02:30:00+10:30]
            2026-04-05 01:50:00+10:30 .. 2026-04-05 02:15:00+10:30 main: item-1 (image base.png) [cut from its turn 2026-04-05 01:30:00+10:30 .. 2026-04-05 02:30:00+10:30]"#]],
    );
}

#[test]
fn validation_warns_about_a_daypart_in_a_dst_gap() {
    for (time_zone, expected) in [
        (
            "Europe/Paris",
            "lies in the hour the clocks skip in Europe/Paris when they spring forward (e.g. 2026-03-29, 02:00 → 03:00); that night it does not play",
        ),
        (
            "America/New_York",
            "(e.g. 2026-03-08, 02:00 → 03:00); that night it does not play",
        ),
        (
            "Australia/Lord_Howe",
            "that night it starts at 02:30, when the clocks jump",
        ),
    ] {
        let yaml = format!(
            "version: 1\nname: x\ntimezone: {time_zone}\ndayparts:\n  night: \"02:15-02:45\"\nitems: [image: {{ file: a.png, duration: 1s }}]\n"
        );
        let parsed =
            vitrine_core::parse_playlist_with_includes("x.yaml", &yaml, &|_| Err(String::new()))
                .unwrap();
        let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(warnings.len(), 1, "{time_zone}: {warnings:?}");
        assert!(
            warnings[0].starts_with("x.yaml:5:3: warning: daypart `night`"),
            "{warnings:?}"
        );
        assert!(warnings[0].contains(expected), "{time_zone}: {warnings:?}");
    }
}

// Properties.

const ZONES: [&str; 4] = [
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "UTC",
];

/// A generated rule: (priority, is interrupt, daypart start and end in quarter hours, weekday
/// bits, item durations in seconds).
type RuleSpec = (i32, bool, u16, u16, u8, Vec<u16>);

fn playlist_yaml(rules: &[RuleSpec]) -> String {
    let mut yaml = String::from("version: 1\nname: generated\ndayparts:\n");
    for (index, (_, _, start, end, _, _)) in rules.iter().enumerate() {
        let end = if end == start { (end + 1) % 96 } else { *end };
        yaml.push_str(&format!(
            "  part-{index}: \"{:02}:{:02}-{:02}:{:02}\"\n",
            start / 4,
            start % 4 * 15,
            end / 4,
            end % 4 * 15
        ));
    }
    // A fallback loop with no conditions, so that something always plays.
    yaml.push_str("items:\n  - image: { file: base-1.png, duration: 7s }\n  - image: { file: base-2.png, duration: 13s }\n");
    let mut loops = String::from("loops:\n");
    let mut interrupts = String::from("interrupts:\n");
    for (index, (priority, is_interrupt, _, _, weekday_bits, durations)) in rules.iter().enumerate()
    {
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let mut days: Vec<&str> = (0..7)
            .filter(|bit| weekday_bits & (1 << bit) != 0)
            .map(|bit| names[bit])
            .collect();
        if days.is_empty() {
            days.push("sun");
        }
        let items: Vec<String> = durations
            .iter()
            .enumerate()
            .map(|(item, seconds)| {
                format!("image: {{ file: r{index}-{item}.png, duration: {seconds}s }}")
            })
            .collect();
        let body = format!(
            "  - name: rule-{index}\n    priority: {priority}\n    dayparts: [part-{index}]\n    weekdays: [{}]\n    items: [{}]\n",
            days.join(", "),
            items.join(", ")
        );
        if *is_interrupt {
            interrupts.push_str(&body);
            interrupts.push_str("    every: 10m\n");
        } else {
            loops.push_str(&body);
        }
    }
    if loops.len() > "loops:\n".len() {
        yaml.push_str(&loops);
    }
    if interrupts.len() > "interrupts:\n".len() {
        yaml.push_str(&interrupts);
    }
    yaml
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        0..4i32,
        any::<bool>(),
        0..96u16,
        0..96u16,
        any::<u8>(),
        prop::collection::vec(1..120u16, 1..4),
    )
}

/// Instants near the DST changes of 2026 in the zones above, and ordinary ones.
fn start_instant() -> impl Strategy<Value = i64> {
    let anchors = [
        "2026-03-08T06:00:00Z",
        "2026-03-28T22:00:00Z",
        "2026-04-04T13:00:00Z",
        "2026-10-03T14:00:00Z",
        "2026-10-24T22:00:00Z",
        "2026-11-01T04:00:00Z",
        "2026-06-15T10:00:00Z",
    ];
    (0..anchors.len(), -3 * 3600i64..3 * 3600).prop_map(move |(anchor, offset)| {
        anchors[anchor].parse::<Timestamp>().unwrap().as_second() + offset
    })
}

/// Whether a rule's conditions hold at an instant, computed directly from its dayparts, without
/// the engine's windows and cuts.
fn applies(schedule: &Schedule, rule: &vitrine_core::Rule, at: Timestamp) -> bool {
    let time_zone = schedule.time_zone();
    let date = time_zone.to_datetime(at).date();
    let spans: Vec<TimeRange> = if rule.dayparts.is_empty() {
        vec![TimeRange::WHOLE_DAY]
    } else {
        rule.dayparts
            .iter()
            .map(|name| schedule.playlist().daypart(name).unwrap().span)
            .collect()
    };
    let in_window = [date.yesterday().unwrap(), date].into_iter().any(|day| {
        rule.weekdays.contains(day.weekday())
            && spans.iter().any(|span| {
                span.occurrence(day, time_zone)
                    .is_some_and(|(start, end)| start <= at && at < end)
            })
    });
    let in_phase = match rule.kind {
        vitrine_core::playlist::RuleKind::Loop => true,
        vitrine_core::playlist::RuleKind::Interrupt { every } => {
            (at.as_millisecond().rem_euclid(every.as_millis() as i64) as u64)
                < rule.total_duration_ms()
        }
    };
    in_window && in_phase
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_instant_is_covered_exactly_once(
        rules in prop::collection::vec(rule_spec(), 0..4),
        zone in 0..ZONES.len(),
        start in start_instant(),
        hours in 1..5i64,
    ) {
        let schedule = schedule(&playlist_yaml(&rules), ZONES[zone]);
        let from = Timestamp::from_second(start).unwrap();
        let to = Timestamp::from_second(start + hours * 3600).unwrap();
        let plays = schedule.timeline("main", from, to);
        prop_assert!(!plays.is_empty());
        prop_assert!(plays[0].start <= from);
        prop_assert!(plays.last().unwrap().end >= to);
        for pair in plays.windows(2) {
            prop_assert_eq!(pair[0].end, pair[1].start, "a gap or an overlap");
        }
        for play in &plays {
            prop_assert!(play.start < play.end);
            prop_assert!(play.scheduled_start <= play.start && play.end <= play.scheduled_end);
            // Every instant of the play, probed at its edges and middle, gives the same answer.
            let middle = Timestamp::from_millisecond((play.start.as_millisecond() + play.end.as_millisecond()) / 2).unwrap();
            let last = Timestamp::from_millisecond(play.end.as_millisecond() - 1).unwrap();
            for probe in [play.start, middle, last] {
                let again = schedule.what_plays("main", probe).unwrap();
                prop_assert_eq!((again.rule_index, again.item_index, again.start, again.end),
                    (play.rule_index, play.item_index, play.start, play.end));
            }
        }
    }

    #[test]
    fn the_highest_priority_always_wins(
        rules in prop::collection::vec(rule_spec(), 1..5),
        zone in 0..ZONES.len(),
        start in start_instant(),
        probes in prop::collection::vec(0..6 * 3_600_000_i64, 20),
    ) {
        let schedule = schedule(&playlist_yaml(&rules), ZONES[zone]);
        let zone_rules = &schedule.playlist().zones[0].rules;
        for probe in probes {
            let at = Timestamp::from_millisecond(start * 1000 + probe).unwrap();
            let play = schedule.what_plays("main", at).unwrap();
            let applying: Vec<usize> = (0..zone_rules.len()).filter(|&index| applies(&schedule, &zone_rules[index], at)).collect();
            prop_assert!(applying.contains(&play.rule_index), "the winner does not apply at {}", at);
            let best = applying.iter().map(|&index| zone_rules[index].priority).max().unwrap();
            prop_assert_eq!(play.reason.rule.priority, best);
            // Then interrupts over loops, then rules with conditions over the all-day items,
            // then the one written first.
            let winner = applying.iter().copied().max_by_key(|&index| {
                let rule = &zone_rules[index];
                (rule.priority, rule.is_interrupt(), !rule.plays_all_day(), std::cmp::Reverse(index))
            });
            prop_assert_eq!(Some(play.rule_index), winner);
            prop_assert_eq!(play.reason.shadowed.len() + 1, applying.len());
        }
    }
}

#[test]
fn a_fragments_zones_add_their_rules_to_the_including_playlists_zones() {
    let fragment = "dayparts:\n  closing: \"19:45-20:00\"\nzones:\n  main:\n    interrupts:\n      - { name: closing-soon, dayparts: [closing], every: 5m, items: [text: { text: Closing, duration: 30s }] }\n";
    let playlist = "version: 1\nname: shop\ninclude: [closing.yaml]\nitems:\n  - image: { file: a.png, duration: 10s }\n";
    let parsed = vitrine_core::parse_playlist_with_includes("shop.yaml", playlist, &|name| {
        (name == "closing.yaml")
            .then(|| fragment.to_owned())
            .ok_or_else(|| "no such file".to_owned())
    })
    .unwrap_or_else(|error| panic!("{error}"));
    let schedule = Schedule::new(parsed.value, TimeZone::get("Europe/Paris").unwrap());
    let item_at = |reading: &str| {
        let play = schedule
            .what_plays("main", local("Europe/Paris", reading))
            .expect("something plays");
        (play.reason.rule.name.clone(), play.item.id.clone())
    };
    assert_eq!(
        item_at("2026-03-02T19:45:05"),
        ("closing-soon".to_owned(), "item-2".to_owned())
    );
    assert_eq!(
        item_at("2026-03-02T12:00:05"),
        ("loop-1".to_owned(), "item-1".to_owned())
    );
}

#[test]
fn an_interrupts_weekdays_limit_it_to_those_days() {
    let schedule = schedule(
        "version: 1\nname: shop\nitems:\n  - image: { file: a.png, duration: 10s }\ninterrupts:\n  - name: weekend\n    weekdays: [sat, sun]\n    every: 1m\n    items:\n      - text: { text: Weekend, duration: 10s }\n",
        "Europe/Paris",
    );
    let rule_at = |reading: &str| {
        schedule
            .what_plays("main", local("Europe/Paris", reading))
            .expect("something plays")
            .reason
            .rule
            .name
            .clone()
    };
    // 2026-03-07 is a Saturday, 2026-03-09 a Monday; both at the start of a minute.
    assert_eq!(rule_at("2026-03-07T12:00:01"), "weekend");
    assert_eq!(rule_at("2026-03-09T12:00:01"), "loop-1");
}
