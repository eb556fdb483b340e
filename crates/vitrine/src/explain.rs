//! `vitrine explain` and `vitrine preview`: what a playlist plays, asked of the same schedule engine
//! the player runs. `explain` answers "what plays at this instant, and why"; `preview` prints the
//! timeline of a period, zone by zone.
//!
//! Times are read as the store's wall clock (`2026-03-29T02:30`) in the chosen time zone, or as an
//! exact instant with an offset (`2026-03-29T00:30Z`). A wall-clock time that a DST change skips or
//! repeats is said so, with the instant the engine used.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use vitrine_core::Playlist;
use vitrine_core::playlist::Content;
use vitrine_core::schedule::{Play, Schedule};
use vitrine_core::timing::{Boundary, instant_of};

use crate::render::DiagnosticPrinter;
use crate::validate;

/// The most plays `preview` prints per zone before it says how many it left out.
const PREVIEW_LINES_PER_ZONE: usize = 500;

/// An instant as the user gave it, with what the engine made of it.
struct Instant {
    timestamp: Timestamp,
    /// Set when the wall-clock time fell into a DST gap or fold.
    note: Option<String>,
}

pub fn explain(
    file: &Path,
    at: &str,
    time_zone: Option<&str>,
    zone: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (playlist, time_zone) = load(file, time_zone)?;
    let instant = read_instant(at, &time_zone)?;
    let schedule = Schedule::new(playlist, time_zone.clone());
    let zones = chosen_zones(&schedule, zone)?;
    if json {
        let plays: Vec<serde_json::Value> = zones
            .iter()
            .map(|zone| {
                serde_json::json!({
                    "zone": zone,
                    "play": schedule.what_plays(zone, instant.timestamp),
                })
            })
            .collect();
        let report = serde_json::json!({
            "at": instant.timestamp,
            "time_zone": time_zone.iana_name(),
            "note": instant.note,
            "zones": plays,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "at {} ({})",
        local(instant.timestamp, &time_zone),
        time_zone.iana_name().unwrap_or("local time")
    );
    if let Some(note) = &instant.note {
        println!("  note: {note}");
    }
    for zone in zones {
        match schedule.what_plays(&zone, instant.timestamp) {
            Some(play) => {
                println!(
                    "zone {zone}: {} ({}), on screen {} to {}",
                    play.item.id,
                    describe(&play),
                    clock(play.start, &time_zone),
                    clock(play.end, &time_zone),
                );
                println!("  why: {}", play.reason);
            }
            None => println!("zone {zone}: nothing plays (no rule applies at this time)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn preview(
    file: &Path,
    from: &str,
    to: &str,
    time_zone: Option<&str>,
    zone: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (playlist, time_zone) = load(file, time_zone)?;
    let from = read_instant(from, &time_zone)?;
    let to = read_instant(to, &time_zone)?;
    if to.timestamp <= from.timestamp {
        bail!("--to must be after --from");
    }
    let schedule = Schedule::new(playlist, time_zone.clone());
    let zones = chosen_zones(&schedule, zone)?;
    if json {
        let timelines: Vec<serde_json::Value> = zones
            .iter()
            .map(|zone| {
                serde_json::json!({
                    "zone": zone,
                    "plays": schedule.timeline(zone, from.timestamp, to.timestamp),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&timelines)?);
        return Ok(ExitCode::SUCCESS);
    }
    for note in [&from.note, &to.note].into_iter().flatten() {
        println!("note: {note}");
    }
    for zone in zones {
        let plays = schedule.timeline(&zone, from.timestamp, to.timestamp);
        println!("zone {zone} ({} plays)", plays.len());
        for play in plays.iter().take(PREVIEW_LINES_PER_ZONE) {
            println!(
                "  {} – {}  {:<16} {:<40} [{}]",
                local(play.start, &time_zone),
                clock(play.end, &time_zone),
                play.item.id,
                describe(play),
                play.reason.rule.name,
            );
        }
        if plays.len() > PREVIEW_LINES_PER_ZONE {
            println!(
                "  … and {} more; narrow --from/--to or use --json",
                plays.len() - PREVIEW_LINES_PER_ZONE
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads and validates the playlist (refusing one with errors, shown as `validate` shows them), and
/// picks the time zone: the flag, else the playlist's own, else this computer's.
fn load(file: &Path, time_zone: Option<&str>) -> anyhow::Result<(Playlist, TimeZone)> {
    let checked = validate::check_file(file)?;
    checked.print_diagnostics(&DiagnosticPrinter::for_stderr());
    let Some(playlist) = checked.valid_playlist().cloned() else {
        bail!(
            "{} has errors; fix them first (they are listed above)",
            checked.display_path
        );
    };
    let name = time_zone
        .map(str::to_owned)
        .or_else(|| playlist.timezone.clone());
    let time_zone = match name {
        Some(name) => TimeZone::get(&name).with_context(|| {
            format!("`{name}` is not an IANA time zone; write it like `Europe/Paris`")
        })?,
        None => TimeZone::system(),
    };
    Ok((playlist, time_zone))
}

fn chosen_zones(schedule: &Schedule, zone: Option<&str>) -> anyhow::Result<Vec<String>> {
    let all: Vec<String> = schedule.zone_names().map(str::to_owned).collect();
    match zone {
        None => Ok(all),
        Some(zone) if all.iter().any(|known| known == zone) => Ok(vec![zone.to_owned()]),
        Some(zone) => bail!(
            "the playlist has no zone `{zone}`; its zones are: {}",
            all.join(", ")
        ),
    }
}

/// `2026-03-29T02:30` in the store's zone, or an instant with an offset.
fn read_instant(text: &str, time_zone: &TimeZone) -> anyhow::Result<Instant> {
    if let Ok(timestamp) = text.parse::<Timestamp>() {
        return Ok(Instant {
            timestamp,
            note: None,
        });
    }
    let wall_clock: DateTime = text.parse().with_context(|| {
        format!("cannot read the time `{text}`; write it like 2026-03-29T08:30 (store time)")
    })?;
    let note = match time_zone.to_ambiguous_timestamp(wall_clock).offset() {
        AmbiguousOffset::Unambiguous { .. } => None,
        AmbiguousOffset::Gap { before, after } => Some(format!(
            "{wall_clock} does not exist in this zone: the clocks jump from UTC{before} to \
             UTC{after}; the instant of the jump is used, as for dayparts"
        )),
        AmbiguousOffset::Fold { before, after } => Some(format!(
            "{wall_clock} happens twice in this zone (UTC{before}, then UTC{after}); the first \
             is used; give an offset like `{wall_clock}{after}` for the second"
        )),
    };
    // The same reading of wall-clock times as the engine's for the start of a daypart.
    let timestamp = instant_of(wall_clock, time_zone, Boundary::Start);
    Ok(Instant { timestamp, note })
}

fn local(timestamp: Timestamp, time_zone: &TimeZone) -> String {
    timestamp
        .to_zoned(time_zone.clone())
        .strftime("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

fn clock(timestamp: Timestamp, time_zone: &TimeZone) -> String {
    timestamp
        .to_zoned(time_zone.clone())
        .strftime("%H:%M:%S")
        .to_string()
}

/// One line about what an item shows.
fn describe(play: &Play<'_>) -> String {
    match &play.item.content {
        Content::Image { media, .. } => format!("image {}", media.file),
        Content::Video { media, .. } => format!("video {}", media.file),
        Content::Audio { media, .. } => format!("audio {}", media.file),
        Content::Text { text, ticker, .. } => {
            let shown: String = text.chars().take(30).collect();
            let kind = if ticker.is_some() { "ticker" } else { "text" };
            format!("{kind} \"{shown}\"")
        }
        Content::Clock { format, .. } => format!("clock {format}"),
        Content::Offer { slot, .. } => format!("offer slot {slot}"),
    }
}
