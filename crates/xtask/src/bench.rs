//! `cargo xtask bench [render|net|video|memory]`: the renderer's, the scheduler's, video's and
//! the player's memory figures,
//! each against a peer or a limit measured in the same run (../shared/BENCHMARKS.md); without an argument, all of them. Ours and the peer run A B A B interleaved, five rounds, and the
//! median is reported. One line per figure: `name  ours  peer  ratio  goal  PASS|MISS`; the same
//! goes to `target/bench/latest.json`.
//!
//! The renderer side is the `render_bench` example of vitrine-player, built with the release
//! profile, as screens run the player (a dev build instantiates the SIMD image scaler's generic
//! code at our crate's opt-level 0, which makes it ten times slower). Machines here have no GPU, so
//! frame times are lavapipe's on shared CPUs: read them as ratios to the floor.
//!
//! The network figures (manifest serving against nginx, push propagation to 1000 simulated players,
//! impression ingest against raw rusqlite) are in [`net`], built with the release profile. The
//! video playback cost (CPU seconds per second of video shown against decode only and mpv) is in
//! [`video`]; the player's memory (peak RSS over a 10-minute playlist of 4K pictures and clips
//! against mpv, and RSS growth over a 30-minute soak) in [`memory`]. `VITRINE_BENCH_QUICK=1` runs
//! the long ones for a minute or two, to check them.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::{cargo, run_command, runtime_dir, target_dir};

mod memory;
mod net;
mod player;
mod video;

const ROUNDS: usize = 5;
const FRAMES_PER_ROUND: usize = 60;
const SWITCHES: usize = 500;
const TIMELINE_ITEMS: usize = 60;
const REFRESH_MS: f64 = 1000.0 / 60.0;

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
        figures.extend(render_figures()?);
        profiles.push("render: release");
    }
    if matches!(which, None | Some("net")) {
        figures.extend(net::figures(&target_dir())?);
        profiles.push("net: release");
    }
    if matches!(which, None | Some("video")) {
        figures.extend(video::figures(&target_dir())?);
        profiles.push("video: release");
    }
    if matches!(which, None | Some("memory")) {
        figures.extend(memory::figures(&target_dir())?);
        profiles.push("memory: release");
    }
    if figures.is_empty() {
        bail!(
            "unknown benchmark set `{}`; use `render`, `net`, `video`, `memory` or nothing for all",
            which.unwrap_or_default()
        );
    }
    report(&figures, &profiles.join("; "))
}

fn render_figures() -> anyhow::Result<Vec<Figure>> {
    for tool in ["djpeg", "vipsthumbnail"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|output| !output.status.success())
            .unwrap_or(true)
        {
            bail!(
                "`{tool}` is missing; `cargo xtask setup` installs libjpeg-turbo-progs and libvips-tools"
            );
        }
    }
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vitrine-player",
        "--example",
        "render_bench",
    ]))?;
    let target = target_dir();
    let bench = target.join("release/examples/render_bench");
    let images = target.join("bench/images");
    let runtime = runtime_dir()?;
    let ours = |arguments: &[&str]| -> anyhow::Result<String> {
        let output = Command::new(&bench)
            .args(arguments)
            .env(
                "WGPU_BACKEND",
                std::env::var("WGPU_BACKEND").unwrap_or_else(|_| "vulkan".into()),
            )
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("RUST_LOG", "warn")
            .output()
            .context("cannot run render_bench")?;
        if !output.status.success() {
            bail!(
                "render_bench {} failed: {}",
                arguments.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    ours(&["make-images", &images.to_string_lossy()])?;
    let jpeg = images.join("4k.jpg");
    let png = images.join("4k.png");

    let mut crossfade_p50 = Vec::new();
    let mut crossfade_p99 = Vec::new();
    let mut floor_p50 = Vec::new();
    let mut missed = Vec::new();
    let mut ours_jpeg = Vec::new();
    let mut djpeg = Vec::new();
    let mut ours_png = Vec::new();
    let mut vips = Vec::new();
    let frames = FRAMES_PER_ROUND.to_string();
    for round in 1..=ROUNDS {
        eprintln!("xtask bench: round {round} of {ROUNDS}");
        let times = numbers(
            &ours(&["frames", "crossfade", "1920x1080", &frames])?,
            "frame_ms",
        )?;
        crossfade_p50.push(percentile(&times, 0.50));
        crossfade_p99.push(percentile(&times, 0.99));
        missed.push(times.iter().filter(|time| **time > REFRESH_MS).count() as f64);
        let times = numbers(
            &ours(&["frames", "floor", "1920x1080", &frames])?,
            "frame_ms",
        )?;
        floor_p50.push(percentile(&times, 0.50));

        ours_jpeg.push(
            numbers(
                &ours(&["decode", &jpeg.to_string_lossy(), "1920x1080"])?,
                "file_to_texture_ms",
            )?[0],
        );
        djpeg.push(time_command(
            Command::new("djpeg")
                .args(["-outfile", "/dev/null"])
                .arg(&jpeg),
        )?);
        ours_png.push(
            numbers(
                &ours(&["decode", &png.to_string_lossy(), "1920x1080"])?,
                "file_to_texture_ms",
            )?[0],
        );
        let thumbnail = images.join("thumbnail.png");
        vips.push(time_command(
            Command::new("vipsthumbnail")
                .arg(&png)
                .args(["--size", "1920x1080", "-o"])
                .arg(&thumbnail),
        )?);
    }
    eprintln!("xtask bench: {SWITCHES} switches for transition gaps");
    let gaps = numbers(&ours(&["gaps", &SWITCHES.to_string()])?, "transition_gaps")?[0];
    eprintln!("xtask bench: item start accuracy over {TIMELINE_ITEMS} items");
    let latencies = numbers(
        &ours(&["start-accuracy", &TIMELINE_ITEMS.to_string()])?,
        "latency_ms",
    )?;

    let crossfade_p50 = median(&crossfade_p50);
    let crossfade_p99 = median(&crossfade_p99);
    let floor_p50 = median(&floor_p50);
    let start_p99 = percentile(&latencies, 0.99);
    let (ours_jpeg, djpeg, ours_png, vips) = (
        median(&ours_jpeg),
        median(&djpeg),
        median(&ours_png),
        median(&vips),
    );
    Ok(vec![
        Figure {
            name: "frame_p50_crossfade_1080p",
            unit: "ms",
            ours: crossfade_p50,
            peer: floor_p50,
            peer_name: "textured-quad floor p50",
            goal: format!("<= {REFRESH_MS:.1} ms"),
            pass: crossfade_p50 <= REFRESH_MS,
        },
        Figure {
            name: "frame_p99_crossfade_1080p",
            unit: "ms",
            ours: crossfade_p99,
            peer: REFRESH_MS,
            peer_name: "60 Hz budget",
            goal: format!("<= {REFRESH_MS:.1} ms"),
            pass: crossfade_p99 <= REFRESH_MS,
        },
        Figure {
            name: "frames_missed_at_60hz_per_round",
            unit: "frames",
            ours: median(&missed),
            peer: 0.0,
            peer_name: "limit",
            goal: "0".into(),
            pass: median(&missed) == 0.0,
        },
        Figure {
            name: "transition_gaps_500_switches",
            unit: "frames",
            ours: gaps,
            peer: 0.0,
            peer_name: "limit",
            goal: "0".into(),
            pass: gaps == 0.0,
        },
        Figure {
            name: "item_start_p99_presented_minus_scheduled",
            unit: "ms",
            ours: start_p99,
            peer: REFRESH_MS,
            peer_name: "one refresh",
            goal: format!("<= {REFRESH_MS:.1} ms"),
            pass: start_p99 <= REFRESH_MS,
        },
        Figure {
            name: "jpeg_4k_file_to_texture",
            unit: "ms",
            ours: ours_jpeg,
            peer: djpeg,
            peer_name: "djpeg (full decode)",
            goal: "ratio <= 2.0".into(),
            pass: ours_jpeg <= 2.0 * djpeg,
        },
        Figure {
            name: "png_4k_file_to_texture",
            unit: "ms",
            ours: ours_png,
            peer: vips,
            peer_name: "vipsthumbnail to 1080p",
            goal: "ratio <= 2.0".into(),
            pass: ours_png <= 2.0 * vips,
        },
    ])
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

/// Rounds per figure: five, or two in a quick run.
fn rounds() -> usize {
    if quick() { 2 } else { ROUNDS }
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
