//! The player's figures, measured on the real `vitrine-player` (release) doing its job, each
//! against a peer or a limit in the same run, A B interleaved, five rounds:
//!
//! - **Crossfade frame time**: the player in standalone mode plays two 1920x1080 pictures with
//!   crossfades, headless at 60 fps and in a window under Xvfb, and writes its own telemetry
//!   (`--stats-file`). Frame times are those of the frames that moved (the crossfades); p50 and p99
//!   per run, median of the runs, against the renderer's floor (the `render_bench` example drawing
//!   one textured quad per frame, the same clock: work started to GPU done) and the 16.7 ms budget.
//!   Missed refreshes are the player's own count, summed over the runs.
//! - **Item start accuracy**: the same runs' first-frame offsets (presented minus scheduled, either
//!   way), every item but the first two of each run (they wait for the start-up decodes: that is
//!   cold start's figure), p99 over all runs, against one refresh.
//! - **Transition gaps and items prepared late with slow decodes**: the headless player at 1920x1080 plays
//!   distinct 4K PNGs, short and long items alternating, each decode slowed by
//!   `VITRINE_BENCH_DECODE_DELAY_MS` (read by the decode worker, for benchmarks only); more
//!   pictures than the texture budget holds, so every switch needs a decode. Gaps are the
//!   player's count of frames in which a zone was not fully covered (the outgoing item stays up,
//!   fully drawn, while the next is not ready, so a slow decode shows as a late start instead);
//!   items prepared late are those whose picture reached the GPU after their scheduled start,
//!   which delays their start whatever the frame rate (the first three of each run are excluded:
//!   they wait for the start-up decodes, and the player has not measured a decode yet).
//! - **Image decode**: whole processes on both sides: `render_bench decode` (file to GPU texture:
//!   GPU set-up, decode, scale to 1920x1080, upload) against `djpeg` (full decode to /dev/null)
//!   and `vipsthumbnail` writing vips's own `.v` format (raw pixels: no PNG encoding).
//! - **Cold start**: process spawn until the picture is on the X screen, polled with `xwd` the same
//!   way for both: `vitrine-player` offline from a warm cache, against `mpv --vo=x11` showing the
//!   same file, under the same Xvfb (mpv's GPU outputs refuse a software renderer and fall back to
//!   x11 anyway; naming it spares mpv the tries).
//!
//! `VITRINE_BENCH_QUICK=1` runs fewer items and switches per round (for a check on a busy machine);
//! its figures are not the ones to quote.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Figure, ROUNDS, median, numbers, percentile, time_command};
use crate::{cargo, run_command, runtime_dir};

const REFRESH_MS: f64 = 1000.0 / 60.0;
const SCREEN: &str = "1920x1080";
/// Crossfade runs: each item lasts this long, most of it crossfading into it.
const CROSSFADE_ITEM_MS: u64 = 250;
const CROSSFADE_MS: u64 = 200;
/// Slow-decode runs: short and long items alternate, so a short item is followed by a picture
/// whose decode takes longer than it lasts; each decode is slowed by this much.
const SHORT_ITEM_MS: u64 = 300;
const LONG_ITEM_MS: u64 = 900;
const SLOW_DECODE_FADE_MS: u64 = 150;
const DECODE_DELAY_MS: u64 = 250;
/// What the player needs before its first item: GPU, cache, manifest, first decodes.
const STARTUP_ALLOWANCE_MS: u64 = 2_000;
/// The cold-start picture's colour, looked for in the middle of the screen.
const COLD_START_COLOUR: [u8; 3] = [200, 40, 90];

/// How much each round does.
struct Plan {
    crossfade_items: usize,
    switches: usize,
    photos: u32,
}

fn plan() -> Plan {
    let quick = std::env::var("VITRINE_BENCH_QUICK").is_ok_and(|value| value != "0");
    if quick {
        Plan {
            crossfade_items: 24,
            switches: 20,
            photos: 24,
        }
    } else {
        // 500 items and 500 switches over the five rounds; more pictures than the 512 MiB texture
        // budget holds at 1080p (62), so pictures are decoded again on every pass.
        Plan {
            crossfade_items: 100,
            switches: 100,
            photos: 72,
        }
    }
}

pub fn figures(target: &Path) -> anyhow::Result<Vec<Figure>> {
    super::require_tools(
        &["djpeg", "vipsthumbnail", "mpv", "Xvfb", "xwd"],
        "libjpeg-turbo-progs, libvips-tools, mpv, xvfb and x11-apps",
    )?;
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vitrine-player",
        "--bin",
        "vitrine-player",
        "--example",
        "render_bench",
    ]))?;
    let plan = plan();
    let bench = Tools::new(target)?;
    let directory = target.join("bench/render");
    let images = target.join("bench/images");
    bench.example(&["make-images", &images.to_string_lossy()])?;
    let (jpeg, png) = (images.join("4k.jpg"), images.join("4k.png"));

    // Two 1080p photos crossfading into each other, item after item.
    let crossfade = directory.join("crossfade");
    bench.example(&["make-photos", &crossfade.to_string_lossy(), "2", SCREEN])?;
    let items: String = (0..2)
        .map(|index| {
            format!(
                "  - image: {{ file: photo-{index:03}.png, duration: {CROSSFADE_ITEM_MS}ms, \
                 transition: {{ crossfade: {CROSSFADE_MS}ms }} }}\n"
            )
        })
        .collect();
    std::fs::write(
        crossfade.join("playlist.yaml"),
        format!("version: 1\nname: crossfade-bench\nitems:\n{items}"),
    )?;
    // Distinct 4K pictures, short and long items alternating.
    let slow = directory.join("slow-decodes");
    eprintln!(
        "xtask bench: {} 4K pictures for the slow-decode runs",
        plan.photos
    );
    bench.example(&[
        "make-photos",
        &slow.to_string_lossy(),
        &plan.photos.to_string(),
        "3840x2160",
    ])?;
    let items: String = (0..plan.photos)
        .map(|index| {
            let duration = if index % 2 == 0 {
                SHORT_ITEM_MS
            } else {
                LONG_ITEM_MS
            };
            format!(
                "  - image: {{ file: photo-{index:03}.png, duration: {duration}ms, \
                 transition: {{ crossfade: {SLOW_DECODE_FADE_MS}ms }} }}\n"
            )
        })
        .collect();
    std::fs::write(
        slow.join("playlist.yaml"),
        format!("version: 1\nname: slow-decode-bench\nitems:\n{items}"),
    )?;
    // One picture of one colour, for the cold start.
    let cold = directory.join("cold-start");
    std::fs::create_dir_all(&cold)?;
    let picture = cold.join("colour.png");
    let colour = COLD_START_COLOUR
        .map(|channel| channel.to_string())
        .join(",");
    bench.example(&["make-solid", &picture.to_string_lossy(), SCREEN, &colour])?;
    std::fs::write(
        cold.join("playlist.yaml"),
        "version: 1\nname: cold-start-bench\nitems:\n  - image: { file: colour.png, duration: 1h }\n",
    )?;

    let xvfb = Xvfb::start()?;
    // The cold start is from a warm cache: one run brings the picture into it.
    let warm_cache = directory.join("cold-start-data");
    let _ = std::fs::remove_dir_all(&warm_cache);
    let warmed = bench
        .player(&warm_cache, Some(&xvfb.display))
        .arg("--playlist")
        .arg(&cold)
        .args(["--run-for", "4s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !warmed.success() {
        bail!("the player could not warm its cache for the cold start ({warmed})");
    }

    let crossfade_run_ms = plan.crossfade_items as u64 * CROSSFADE_ITEM_MS + STARTUP_ALLOWANCE_MS;
    let switches_run_ms =
        (plan.switches as u64).div_ceil(2) * (SHORT_ITEM_MS + LONG_ITEM_MS) + STARTUP_ALLOWANCE_MS;
    let mut floor = Percentiles::default();
    let mut headless = PlayerRuns::default();
    let mut window = PlayerRuns::default();
    let mut gaps = 0.0;
    let mut prepared_late = 0.0;
    let mut slow_items = 0usize;
    let mut switches = 0.0;
    let (mut ours_jpeg, mut djpeg, mut ours_png, mut vips) = (vec![], vec![], vec![], vec![]);
    let (mut ours_cold, mut mpv_cold) = (vec![], vec![]);
    for round in 1..=ROUNDS {
        eprintln!("xtask bench: render round {round} of {ROUNDS}");
        let times = numbers(
            &bench.example(&["frames", "floor", SCREEN, "120"])?,
            "frame_ms",
        )?;
        floor.push(&times);

        for (runs, display, mode) in [
            (&mut headless, None, "headless"),
            (&mut window, Some(xvfb.display.as_str()), "xvfb"),
        ] {
            let stats = bench.run_player(
                &crossfade,
                &directory.join(format!("crossfade-{mode}-{round}")),
                display,
                crossfade_run_ms,
                None,
            )?;
            stats.check_items(plan.crossfade_items, &format!("the {mode} crossfade run"))?;
            runs.push(&stats)?;
        }

        let stats = bench.run_player(
            &slow,
            &directory.join(format!("slow-decodes-{round}")),
            None,
            switches_run_ms,
            Some(DECODE_DELAY_MS),
        )?;
        stats.check_items(plan.switches, "the slow-decode run")?;
        gaps += stats.summary("transition_gaps")?;
        switches += stats.summary("items_started")?;
        let margins = stats.list("prepare_margin_ms")?;
        slow_items += margins.len().saturating_sub(3);
        prepared_late += margins
            .iter()
            .skip(3)
            .filter(|margin| **margin < 0.0)
            .count() as f64;

        ours_jpeg.push(bench.decode(&jpeg)?);
        djpeg.push(time_command(
            Command::new("djpeg")
                .args(["-outfile", "/dev/null"])
                .arg(&jpeg),
        )?);
        ours_png.push(bench.decode(&png)?);
        let thumbnail = images.join("thumbnail.v");
        let _ = std::fs::remove_file(&thumbnail);
        vips.push(time_command(
            Command::new("vipsthumbnail")
                .arg(&png)
                .args(["--size", SCREEN, "-o"])
                .arg(&thumbnail),
        )?);
        // Raw pixels of a 1920x1080 picture at least: the peer did the work.
        if std::fs::metadata(&thumbnail).map_or(0, |metadata| metadata.len()) < 1920 * 1080 * 3 {
            bail!("vipsthumbnail wrote no 1920x1080 picture");
        }

        ours_cold.push(time_to_colour(
            bench.player(&warm_cache, Some(&xvfb.display)),
            &xvfb.display,
        )?);
        mpv_cold.push(time_to_colour(
            {
                let mut command = Command::new("mpv");
                command
                    .args([
                        "--no-config",
                        "--really-quiet",
                        "--fs",
                        "--geometry=1920x1080+0+0",
                        "--image-display-duration=inf",
                        "--no-audio",
                        // Its fastest output here: mpv's GPU outputs refuse a software
                        // renderer, and trying them first would count against it.
                        "--vo=x11",
                    ])
                    .arg(&picture)
                    .env("DISPLAY", &xvfb.display)
                    .env("XDG_RUNTIME_DIR", &bench.runtime)
                    .env_remove("WAYLAND_DISPLAY");
                command
            },
            &xvfb.display,
        )?);
    }
    drop(xvfb);

    let item_count = |runs: &PlayerRuns| runs.start_offsets.len();
    let mut figures = Vec::new();
    for (runs, mode) in [(&headless, "headless"), (&window, "xvfb")] {
        let (p50, p99) = (median(&runs.p50), median(&runs.p99));
        let start_p99 = percentile(&runs.start_offsets, 0.99);
        let names = if mode == "headless" {
            [
                "frame_p50_crossfade_1080p_player_headless",
                "frame_p99_crossfade_1080p_player_headless",
                "missed_refreshes_crossfade_player_headless",
                "item_start_p99_player_headless",
            ]
        } else {
            [
                "frame_p50_crossfade_1080p_player_xvfb",
                "frame_p99_crossfade_1080p_player_xvfb",
                "missed_refreshes_crossfade_player_xvfb",
                "item_start_p99_player_xvfb",
            ]
        };
        figures.push(Figure {
            name: names[0],
            unit: "ms",
            ours: p50,
            peer: median(&floor.p50),
            peer_name: "one-quad floor p50 (renderer)",
            goal: format!("<= {REFRESH_MS:.1} ms"),
            pass: p50 <= REFRESH_MS,
        });
        figures.push(Figure {
            name: names[1],
            unit: "ms",
            ours: p99,
            peer: median(&floor.p99),
            peer_name: "one-quad floor p99 (renderer)",
            goal: format!("<= {REFRESH_MS:.1} ms"),
            pass: p99 <= REFRESH_MS,
        });
        figures.push(Figure {
            name: names[2],
            unit: "refreshes, all runs",
            ours: runs.missed,
            peer: 0.0,
            peer_name: "limit",
            goal: "0".into(),
            pass: runs.missed == 0.0,
        });
        figures.push(Figure {
            name: names[3],
            unit: "ms |presented - scheduled|",
            ours: start_p99,
            peer: REFRESH_MS,
            peer_name: leak(format!("one refresh; {} items", item_count(runs))),
            goal: format!("<= {REFRESH_MS:.1} ms"),
            pass: start_p99 <= REFRESH_MS,
        });
    }
    figures.push(Figure {
        name: "transition_gaps_slow_decodes_1080p",
        unit: "frames, all runs",
        ours: gaps,
        peer: 0.0,
        peer_name: leak(format!("limit; {switches} switches")),
        goal: "0".into(),
        pass: gaps == 0.0,
    });
    figures.push(Figure {
        name: "items_prepared_late_slow_decodes_1080p",
        unit: "items, all runs",
        ours: prepared_late,
        peer: 0.0,
        peer_name: leak(format!("limit; {slow_items} decoded items")),
        goal: "0".into(),
        pass: prepared_late == 0.0,
    });
    let (ours_jpeg, djpeg, ours_png, vips) = (
        median(&ours_jpeg),
        median(&djpeg),
        median(&ours_png),
        median(&vips),
    );
    figures.push(Figure {
        name: "jpeg_4k_file_to_texture_whole_process",
        unit: "ms",
        ours: ours_jpeg,
        peer: djpeg,
        peer_name: "djpeg full decode, whole process",
        goal: "ratio <= 2.0".into(),
        pass: ours_jpeg <= 2.0 * djpeg,
    });
    figures.push(Figure {
        name: "png_4k_file_to_texture_whole_process",
        unit: "ms",
        ours: ours_png,
        peer: vips,
        peer_name: "vipsthumbnail to 1080p .v, whole process",
        goal: "ratio <= 2.0".into(),
        pass: ours_png <= 2.0 * vips,
    });
    let (ours_cold, mpv_cold) = (median(&ours_cold), median(&mpv_cold));
    figures.push(Figure {
        name: "cold_start_to_first_frame_xvfb",
        unit: "ms",
        ours: ours_cold,
        peer: mpv_cold,
        peer_name: "mpv, same picture, same Xvfb",
        goal: "ratio <= 1.0".into(),
        pass: ours_cold <= mpv_cold,
    });
    Ok(figures)
}

/// A peer's description that names a count measured in this run.
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

pub(super) struct Tools {
    player: PathBuf,
    render_bench: PathBuf,
    runtime: PathBuf,
    backend: String,
}

impl Tools {
    /// The release player and `render_bench` in `target`, on `WGPU_BACKEND` (lavapipe's Vulkan
    /// unless set).
    pub(super) fn new(target: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            player: target.join("release/vitrine-player"),
            render_bench: target.join("release/examples/render_bench"),
            runtime: runtime_dir()?,
            backend: std::env::var("WGPU_BACKEND").unwrap_or_else(|_| "vulkan".into()),
        })
    }

    fn example(&self, arguments: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(&self.render_bench)
            .args(arguments)
            .env("WGPU_BACKEND", &self.backend)
            .env("XDG_RUNTIME_DIR", &self.runtime)
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
    }

    /// `render_bench decode` as a whole process, checked to have made a 1920x1080 texture.
    fn decode(&self, file: &Path) -> anyhow::Result<f64> {
        let started = Instant::now();
        let output = self.example(&["decode", &file.to_string_lossy(), SCREEN])?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        if numbers(&output, "texture")? != [1920.0, 1080.0] {
            bail!("render_bench decode made no 1920x1080 texture: {output}");
        }
        Ok(elapsed)
    }

    /// The player on `data`, headless at 1920x1080 and 60 fps or in a window on `display`.
    fn player(&self, data: &Path, display: Option<&str>) -> Command {
        let mut command = Command::new(&self.player);
        command
            .arg("--data-dir")
            .arg(data)
            .env("WGPU_BACKEND", &self.backend)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("RUST_LOG", "warn")
            .env_remove("WAYLAND_DISPLAY");
        match display {
            Some(display) => {
                command.env("DISPLAY", display);
            }
            None => {
                command.args(["--headless", "--size", SCREEN, "--fps", "60"]);
            }
        }
        command
    }

    /// Plays `folder` for `run_ms` on a fresh data folder and reads the player's stats file.
    pub(super) fn run_player(
        &self,
        folder: &Path,
        data: &Path,
        display: Option<&str>,
        run_ms: u64,
        decode_delay_ms: Option<u64>,
    ) -> anyhow::Result<Stats> {
        let _ = std::fs::remove_dir_all(data);
        std::fs::create_dir_all(data)?;
        let stats_file = data.join("stats.json");
        let mut command = self.player(data, display);
        command
            .arg("--playlist")
            .arg(folder)
            .arg("--run-for")
            .arg(format!("{run_ms}ms"))
            .arg("--stats-file")
            .arg(&stats_file)
            .stdout(Stdio::null());
        if let Some(delay) = decode_delay_ms {
            command.env("VITRINE_BENCH_DECODE_DELAY_MS", delay.to_string());
        }
        let output = command.output().context("cannot run vitrine-player")?;
        if !output.status.success() {
            bail!(
                "vitrine-player on {} failed: {}",
                folder.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let json = std::fs::read_to_string(&stats_file)
            .with_context(|| format!("the player wrote no {}", stats_file.display()))?;
        let stats = Stats {
            json: serde_json::from_str(&json).context("the stats file is not JSON")?,
        };
        // The data folder holds a copy of every picture: gone once read.
        let _ = std::fs::remove_dir_all(data);
        Ok(stats)
    }
}

/// What `vitrine-player --stats-file` wrote.
pub(super) struct Stats {
    json: serde_json::Value,
}

impl Stats {
    pub(super) fn summary(&self, key: &str) -> anyhow::Result<f64> {
        self.json["summary"][key]
            .as_f64()
            .with_context(|| format!("no summary.{key} in the stats file"))
    }

    pub(super) fn list(&self, key: &str) -> anyhow::Result<Vec<f64>> {
        self.json[key]
            .as_array()
            .with_context(|| format!("no {key} in the stats file"))?
            .iter()
            .map(|value| value.as_f64().context("not a number"))
            .collect()
    }

    pub(super) fn flags(&self, key: &str) -> anyhow::Result<Vec<bool>> {
        self.json[key]
            .as_array()
            .with_context(|| format!("no {key} in the stats file"))?
            .iter()
            .map(|value| value.as_bool().context("not a boolean"))
            .collect()
    }

    /// The work happened: frames were presented and at least half the items asked for started
    /// (start-up takes its share of the run, and on a loaded machine decodes fall behind: the
    /// figures then say how many items they cover, and fewer than asked is said here).
    fn check_items(&self, expected: usize, what: &str) -> anyhow::Result<()> {
        let frames = self.summary("frames")?;
        let started = self.summary("items_started")?;
        if frames < 1.0 || started < expected as f64 * 0.5 {
            bail!("{what} presented {frames} frames and started {started} of {expected} items");
        }
        if started < expected as f64 * 0.8 {
            eprintln!(
                "xtask bench: {what} started only {started} of {expected} items: the machine is busy"
            );
        }
        Ok(())
    }
}

#[derive(Default)]
struct Percentiles {
    p50: Vec<f64>,
    p99: Vec<f64>,
}

impl Percentiles {
    fn push(&mut self, times: &[f64]) {
        self.p50.push(percentile(times, 0.50));
        self.p99.push(percentile(times, 0.99));
    }
}

/// The crossfade runs of one mode.
#[derive(Default)]
struct PlayerRuns {
    /// Per run, over the frames that moved.
    p50: Vec<f64>,
    p99: Vec<f64>,
    missed: f64,
    /// |presented - scheduled| of every item but each run's first two.
    start_offsets: Vec<f64>,
}

impl PlayerRuns {
    fn push(&mut self, stats: &Stats) -> anyhow::Result<()> {
        let times = stats.list("frame_ms")?;
        let moving = stats.flags("frame_animating")?;
        let crossfading: Vec<f64> = times
            .iter()
            .zip(moving)
            .filter(|(_, moving)| *moving)
            .map(|(time, _)| *time)
            .collect();
        if crossfading.is_empty() {
            bail!("the crossfade run drew no moving frame");
        }
        self.p50.push(percentile(&crossfading, 0.50));
        self.p99.push(percentile(&crossfading, 0.99));
        self.missed += stats.summary("missed_refreshes")?;
        self.start_offsets.extend(
            stats
                .list("first_frame_offset_ms")?
                .into_iter()
                .skip(2)
                .map(f64::abs),
        );
        Ok(())
    }
}

/// An Xvfb server of its own, 1920x1080, black root window; stopped when dropped.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> anyhow::Result<Self> {
        for number in 140..200 {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
            if socket.exists() || Path::new(&format!("/tmp/.X{number}-lock")).exists() {
                continue;
            }
            let display = format!(":{number}");
            let child = Command::new("Xvfb")
                .arg(&display)
                .args(["-screen", "0", "1920x1080x24", "-nolisten", "tcp", "-br"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start Xvfb")?;
            let server = Self { child, display };
            let deadline = Instant::now() + Duration::from_secs(10);
            while !socket.exists() {
                if Instant::now() > deadline {
                    bail!("Xvfb {} did not start", server.display);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return Ok(server);
        }
        bail!("no free X display between :140 and :199")
    }
}

impl Drop for Xvfb {
    /// SIGTERM, so the server removes its lock file and socket (SIGKILL would leave them, and
    /// the next run would take another display number); SIGKILL only if it does not go.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Milliseconds from spawning `command` until the middle of the X screen shows the cold-start
/// colour, by `xwd` screenshots taken one after another (the same for every program timed: each
/// reading comes up to one screenshot late). The program is then stopped.
fn time_to_colour(mut command: Command, display: &str) -> anyhow::Result<f64> {
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let started = Instant::now();
    let mut child = command.spawn().context("cannot start a cold-start run")?;
    let outcome = loop {
        if started.elapsed() > Duration::from_secs(30) {
            break Err(anyhow::anyhow!(
                "the picture did not appear within 30 s (program: {:?})",
                command.get_program()
            ));
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(anyhow::anyhow!(
                "{:?} exited ({status}) before its picture appeared",
                command.get_program()
            ));
        }
        let screenshot = Command::new("xwd")
            .args(["-root", "-silent"])
            .env("DISPLAY", display)
            .output()
            .context("cannot run xwd")?;
        if middle_pixel(&screenshot.stdout).is_some_and(|pixel| {
            pixel
                .iter()
                .zip(COLD_START_COLOUR)
                .all(|(seen, wanted)| seen.abs_diff(wanted) <= 12)
        }) {
            break Ok(started.elapsed().as_secs_f64() * 1000.0);
        }
    };
    // SIGTERM, as systemd stops a player; then make sure.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    // The screen goes back to the black root window before the next run.
    std::thread::sleep(Duration::from_millis(300));
    outcome
}

/// The RGB of the middle pixel of an XWD screenshot of a 24-bit screen (`xwd -root`).
fn middle_pixel(bytes: &[u8]) -> Option<[u8; 3]> {
    let field = |index: usize| -> Option<u32> {
        Some(u32::from_be_bytes(
            bytes.get(index * 4..index * 4 + 4)?.try_into().ok()?,
        ))
    };
    let header_size = field(0)? as usize;
    let (width, height) = (field(4)?, field(5)?);
    let byte_order = field(7)?;
    if field(11)? != 32 {
        return None;
    }
    let bytes_per_line = field(12)? as usize;
    let masks = [field(14)?, field(15)?, field(16)?];
    let colour_map_entries = field(19)? as usize;
    let pixels = bytes.get(header_size + colour_map_entries * 12..)?;
    let at = (height / 2) as usize * bytes_per_line + (width / 2) as usize * 4;
    let raw: [u8; 4] = pixels.get(at..at + 4)?.try_into().ok()?;
    let value = if byte_order == 0 {
        u32::from_le_bytes(raw)
    } else {
        u32::from_be_bytes(raw)
    };
    Some(masks.map(|mask| ((value & mask) >> mask.trailing_zeros()) as u8))
}
