//! Text figures, on the real `vitrine-player` (release), headless at 1920x1080 and 60 fps, A B
//! interleaved, five rounds:
//!
//! - **Frame time with heavy text**: a full-width ticker of 2,000 characters in a dozen scripts
//!   and a line of colour emoji, against the same two zones holding one short Latin line each
//!   (the floor: the same draws with the least text). p99 over the frames that moved (the
//!   ticker scrolls in both), after the first second, median of the runs. Goal ≤ 1.1× the floor:
//!   once laid out, text costs no more per frame however long or mixed it is.
//! - **First layout of 2,000 mixed-script characters**: the player's own measure of laying out
//!   the ticker (reading the fonts it needs, shaping, fitting: `text_layout_ms` in its stats
//!   file), the longest of each run (every run is a new process, so every layout is a first one),
//!   median of the runs, against one refresh.
//! - **First draw of the same text**: the layout plus rasterising every glyph and drawing the
//!   strip into its textures (`text_ms`), against one refresh: what the first frame after a new
//!   ticker costs. Text is drawn once, ahead of its start, so this delays no frame.

use std::path::Path;

use anyhow::bail;

use super::render::{Stats, Tools};
use super::{Figure, median, percentile};
use crate::{cargo, run_command};

const REFRESH_MS: f64 = 1000.0 / 60.0;
/// Frames of the first second are left out: they include the layouts themselves.
const WARM_UP_FRAMES: usize = 60;

/// What shops write, in the scripts the player's fonts cover.
const PHRASES: &[&str] = &[
    "Soldes d'hiver : -30 % sur tout",
    "Открыто до 19:00",
    "Ανοιχτό έως 19:00",
    "مفتوح حتى 19:00",
    "פתוח עד 19:00",
    "19:00 तक खुला",
    "เปิดถึง 19:00",
    "营业时间 10:00–20:00",
    "営業時間 10:00–20:00",
    "영업시간 10:00–20:00",
    "Noël 🎄 Cadeaux 🎁",
];

/// A ticker of exactly `characters` characters cycling through [`PHRASES`].
fn mixed_text(characters: usize) -> String {
    let mut text = String::new();
    for phrase in PHRASES.iter().cycle() {
        if text.chars().count() >= characters {
            break;
        }
        text.push_str(phrase);
        text.push_str(" • ");
    }
    text.chars().take(characters).collect()
}

/// A standalone playlist: a ticker band and a line, full width.
fn playlist(name: &str, ticker: &str, line: &str) -> String {
    let quoted = |text: &str| serde_json::to_string(text).expect("a string is JSON");
    format!(
        "version: 1\nname: {name}\nlayout:\n  \
         line:\n    area: {{ x: 0%, y: 40%, width: 100%, height: 15% }}\n    items:\n      \
         - text: {{ text: {}, duration: 1h }}\n  \
         ticker:\n    area: {{ x: 0%, y: 88%, width: 100%, height: 8% }}\n    items:\n      \
         - text: {{ text: {}, ticker: {{ speed: 20% }}, duration: 1h }}\n",
        quoted(line),
        quoted(ticker),
    )
}

/// p99 of the frames that moved, after the warm-up.
fn moving_p99(stats: &Stats) -> anyhow::Result<f64> {
    let times = stats.list("frame_ms")?;
    let moving = stats.flags("frame_animating")?;
    let frames: Vec<f64> = times
        .iter()
        .zip(moving)
        .skip(WARM_UP_FRAMES)
        .filter(|(_, moving)| *moving)
        .map(|(time, _)| *time)
        .collect();
    if frames.len() < 60 {
        bail!(
            "the text run drew {} moving frames after its first second: the ticker did not scroll",
            frames.len()
        );
    }
    Ok(percentile(&frames, 0.99))
}

/// Both items started and were laid out: the work a figure times happened. The longest layout
/// and the longest draw.
fn check(stats: &Stats, what: &str) -> anyhow::Result<(f64, f64)> {
    let started = stats.summary("items_started")?;
    let layouts = stats.list("text_layout_ms")?;
    let draws = stats.list("text_ms")?;
    if started < 2.0 || layouts.len() < 2 || draws.len() < 2 {
        bail!(
            "{what} started {started} of 2 items and laid out {} texts",
            layouts.len()
        );
    }
    let longest = |times: Vec<f64>| times.into_iter().fold(0.0, f64::max);
    Ok((longest(layouts), longest(draws)))
}

pub fn figures(target: &Path) -> anyhow::Result<Vec<Figure>> {
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vitrine-player",
        "--bin",
        "vitrine-player",
    ]))?;
    let bench = Tools::new(target)?;
    let directory = target.join("bench/text");
    let (heavy, floor) = (directory.join("heavy"), directory.join("floor"));
    for folder in [&heavy, &floor] {
        std::fs::create_dir_all(folder)?;
    }
    std::fs::write(
        heavy.join("playlist.yaml"),
        playlist(
            "text-heavy",
            &mixed_text(2000),
            "Noël 🎄 Cadeaux 🎁 Soldes 🛍️ -50 % ⭐ Merci 🙏",
        ),
    )?;
    std::fs::write(
        floor.join("playlist.yaml"),
        playlist("text-floor", "Open until 19:00", "Open until 19:00"),
    )?;
    let run_ms = if super::quick() { 3_000 } else { 6_000 };
    let (mut heavy_p99, mut floor_p99) = (vec![], vec![]);
    let (mut layouts, mut draws) = (vec![], vec![]);
    let rounds = super::rounds();
    for round in 1..=rounds {
        eprintln!("xtask bench: text round {round} of {rounds}");
        let stats = bench.run_player(
            &heavy,
            &directory.join(format!("heavy-{round}")),
            None,
            run_ms,
            None,
        )?;
        let (layout, draw) = check(&stats, "the heavy-text run")?;
        heavy_p99.push(moving_p99(&stats)?);
        layouts.push(layout);
        draws.push(draw);
        let stats = bench.run_player(
            &floor,
            &directory.join(format!("floor-{round}")),
            None,
            run_ms,
            None,
        )?;
        check(&stats, "the floor run")?;
        floor_p99.push(moving_p99(&stats)?);
    }
    let (ours, peer) = (median(&heavy_p99), median(&floor_p99));
    let (layout, draw) = (median(&layouts), median(&draws));
    Ok(vec![
        Figure {
            name: "frame_p99_1080p_mixed_script_ticker_and_emoji_player_headless",
            unit: "ms",
            ours,
            peer,
            peer_name: "the same zones with one short Latin line each",
            goal: "≤ 1.1× floor".into(),
            pass: ours <= peer * 1.1,
        },
        Figure {
            name: "text_first_layout_2000_mixed_script_chars_player",
            unit: "ms",
            ours: layout,
            peer: REFRESH_MS,
            peer_name: "one refresh at 60 Hz",
            goal: "≤ 16.7 ms".into(),
            pass: layout <= REFRESH_MS,
        },
        Figure {
            name: "text_first_draw_2000_mixed_script_chars_player",
            unit: "ms",
            ours: draw,
            peer: REFRESH_MS,
            peer_name: "one refresh at 60 Hz",
            goal: "≤ 16.7 ms".into(),
            pass: draw <= REFRESH_MS,
        },
    ])
}
