//! `cargo xtask bench [render|text|net|scale|video|feed|reports|console|screenshot|memory]`: the renderer's, text's, the
//! scheduler's, video's, the product feed's and the player's memory figures,
//! each against a peer or a limit measured in the same run (../shared/BENCHMARKS.md); without an argument, all of them. Ours and the peer run A B A B interleaved, five rounds, and the
//! median is reported. One line per figure: `name  ours  peer  ratio  goal  PASS|MISS`; the same
//! goes to `target/bench/latest.json`.
//!
//! The renderer's figures are in [`render`]: the real `vitrine-player`, built with the release
//! profile as screens run it (a dev build instantiates the SIMD image scaler's generic code at our
//! crate's opt-level 0, which makes it ten times slower), headless and under Xvfb, reading its own
//! telemetry (`--stats-file`); the `render_bench` example gives the one-quad floor and the
//! file-to-texture process. Machines here have no GPU, so frame times are lavapipe's on shared
//! CPUs: read them as ratios to the floor.
//!
//! The text figures (frame time with a long mixed-script ticker and emoji against short Latin
//! lines, and the first layout of 2,000 characters against one refresh) are in [`text`].
//!
//! The network figures (manifest serving against nginx, push propagation to 1000 simulated players,
//! impression ingest against raw rusqlite) are in [`net`], built with the release profile; the
//! same past one machine (two replicas on PostgreSQL behind nginx, 10,000 players, ingest against
//! `COPY`) in [`scale`]. The
//! video playback cost (CPU seconds per second of video shown against decode only and mpv) is in
//! [`video`]; the player's memory (peak RSS over a 10-minute playlist of 4K pictures and clips
//! against mpv, and RSS growth over a 30-minute soak) in [`memory`]; the product feed's (import of a
//! generated 1,000,000-item feed against quick-xml alone, the scheduler's peak RSS, and price change
//! to a simulated player) in [`feed`]; the plays report over 100 M plays and the raw ad log export
//! against DuckDB in [`reports`]; the web console's fleet page with 10,000 screens against the same
//! rows read by one raw SQLite query in [`console`]; the screenshot round trip (command sent → the
//! new JPEG at HQ, with a real player) in [`screenshot`]. `VITRINE_BENCH_QUICK=1` runs
//! the long ones for a minute or two, to check them.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::target_dir;

mod console;
mod feed;
mod memory;
mod net;
mod player;
mod render;
mod reports;
mod scale;
mod screenshot;
mod text;
mod video;

const ROUNDS: usize = 5;

pub(crate) struct Figure {
    name: &'static str,
    unit: &'static str,
    ours: f64,
    peer: f64,
    peer_name: &'static str,
    goal: String,
    pass: bool,
}

pub fn run(arguments: &[String]) -> anyhow::Result<()> {
    let which = arguments.first().map(String::as_str);
    let mut figures = Vec::new();
    let mut profiles = Vec::new();
    if matches!(which, None | Some("render")) {
        figures.extend(render::figures(&target_dir())?);
        profiles.push("render: release");
    }
    if matches!(which, None | Some("text")) {
        figures.extend(text::figures(&target_dir())?);
        profiles.push("text: release");
    }
    if matches!(which, None | Some("net")) {
        figures.extend(net::figures(&target_dir())?);
        profiles.push("net: release");
    }
    if matches!(which, None | Some("scale")) {
        figures.extend(scale::figures(&target_dir())?);
        profiles.push("scale: release");
    }
    if matches!(which, None | Some("video")) {
        figures.extend(video::figures(&target_dir())?);
        profiles.push("video: release");
    }
    if matches!(which, None | Some("feed")) {
        figures.extend(feed::figures(&target_dir())?);
        profiles.push("feed: release");
    }
    if matches!(which, None | Some("reports")) {
        figures.extend(reports::figures(&target_dir())?);
        profiles.push("reports: release");
    }
    if matches!(which, None | Some("console")) {
        figures.extend(console::figures(&target_dir())?);
        profiles.push("console: release");
    }
    if matches!(which, None | Some("memory")) {
        figures.extend(memory::figures(&target_dir())?);
        profiles.push("memory: release");
    }
    if matches!(which, None | Some("screenshot")) {
        figures.extend(screenshot::figures(&target_dir())?);
        profiles.push("screenshot: release");
    }
    if figures.is_empty() {
        bail!(
            "unknown benchmark set `{}`; use `render`, `text`, `net`, `scale`, `video`, `feed`, \
             `reports`, `console`, `screenshot`, `memory` or nothing for all",
            which.unwrap_or_default()
        );
    }
    report(&figures, &profiles.join("; "))
}

/// Prints one line per figure and writes the same to `target/bench/latest.json`.
fn report(figures: &[Figure], profile: &str) -> anyhow::Result<()> {
    let target = target_dir();
    let mut json =
        format!("{{\n  \"rounds\": {ROUNDS},\n  \"profile\": \"{profile}\",\n  \"figures\": [\n");
    println!(
        "{:<42} {:>10} {:>10} {:>7}  {:<14} result",
        "name", "ours", "peer", "ratio", "goal"
    );
    for (index, figure) in figures.iter().enumerate() {
        let ratio = if figure.peer > 0.0 {
            figure.ours / figure.peer
        } else {
            f64::NAN
        };
        let verdict = if figure.pass { "PASS" } else { "MISS" };
        println!(
            "{:<42} {:>10.2} {:>10.2} {:>7.2}  {:<14} {verdict}   ({}; peer: {})",
            figure.name,
            figure.ours,
            figure.peer,
            ratio,
            figure.goal,
            figure.unit,
            figure.peer_name
        );
        json.push_str(&format!(
            "    {{\"name\": \"{}\", \"unit\": \"{}\", \"ours\": {:.3}, \"peer\": {:.3}, \"peer_name\": \"{}\", \
             \"ratio\": {}, \"goal\": \"{}\", \"result\": \"{verdict}\"}}{}\n",
            figure.name,
            figure.unit,
            figure.ours,
            figure.peer,
            figure.peer_name,
            if ratio.is_finite() { format!("{ratio:.3}") } else { "null".into() },
            figure.goal,
            if index + 1 < figures.len() { "," } else { "" }
        ));
    }
    json.push_str("  ]\n}\n");
    let output = target.join("bench/latest.json");
    std::fs::create_dir_all(output.parent().unwrap_or(Path::new(".")))?;
    std::fs::write(&output, json)?;
    eprintln!("xtask bench: wrote {}", output.display());
    Ok(())
}

/// Wall time of a whole command, process start included, in milliseconds.
/// Fails, naming the Debian packages `cargo xtask setup` installs, when one of `tools` is not on
/// the PATH.
fn require_tools(tools: &[&str], packages: &str) -> anyhow::Result<()> {
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|output| output.status.success());
        if !found {
            bail!("`{tool}` is missing; `cargo xtask setup` installs {packages}");
        }
    }
    Ok(())
}

fn time_command(command: &mut Command) -> anyhow::Result<f64> {
    let started = Instant::now();
    let status = command.status().context("cannot run a peer")?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    if !status.success() {
        bail!("a peer failed ({status})");
    }
    Ok(elapsed)
}

/// The numbers under `"key":` in the one-line JSON render_bench prints: a number or a list.
fn numbers(json: &str, key: &str) -> anyhow::Result<Vec<f64>> {
    let start = json
        .find(&format!("\"{key}\":"))
        .with_context(|| format!("no `{key}` in {json}"))?
        + key.len()
        + 3;
    let rest = json[start..].trim_start();
    let text = if let Some(list) = rest.strip_prefix('[') {
        &list[..list.find(']').context("unterminated list")?]
    } else {
        &rest[..rest.find([',', '}']).unwrap_or(rest.len())]
    };
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<f64>()
                .with_context(|| format!("`{item}` is not a number"))
        })
        .collect()
}

/// Whether `VITRINE_BENCH_QUICK=1` asks for a short run: the long figures (a 10-minute playlist,
/// a 30-minute soak) run a minute or two and fewer rounds, to check that the bench works. Its
/// figures are not the record.
fn quick() -> bool {
    std::env::var("VITRINE_BENCH_QUICK").is_ok_and(|value| value == "1")
}

/// Rounds of the long memory figure: five, two in a quick run, or `VITRINE_BENCH_ROUNDS` (a
/// 10-minute round for the player and one for mpv make five rounds last over an hour and a half).
fn rounds() -> usize {
    let asked = std::env::var("VITRINE_BENCH_ROUNDS")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
        .filter(|rounds| *rounds > 0);
    asked.unwrap_or(if quick() { 2 } else { ROUNDS })
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

/// Nearest-rank percentile; 0 for no values.
fn percentile(values: &[f64], fraction: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
