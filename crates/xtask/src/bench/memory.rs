//! The player's memory. **Peak RSS** (`/usr/bin/time`'s maximum resident set size) of the release
//! player over a 10-minute standalone playlist of 4K pictures (JPEG and PNG) and 1080p and 720p
//! H.264 clips, headless at 1920x1080 on lavapipe, against mpv playing the same files in the same
//! order for the same time (`--image-display-duration`, a looped playlist) with `--vo=gpu` in a
//! 1920x1080 Xvfb screen on llvmpipe: both decode every file and draw every frame on a software
//! GPU whose textures live in the process's own memory, so both pay for pictures on the "GPU".
//! Both make the same decoder choice ([`Decoder`]). Five rounds, A B interleaved, median.
//!
//! **RSS growth** over a 30-minute soak of the same playlist: the player's `VmRSS` sampled every
//! five seconds; the growth is the median of the last playlist loop (at least a minute) against
//! the median of the same span after warm-up (from the second minute on, once every item has been
//! shown), as a percentage; the goal is at most 1 %. Its samples are written to
//! `target/bench/memory/soak-rss.csv`.
//!
//! **The work is checked:** the player's journal must hold plays of every item of the playlist on
//! screen for most of their turn, about as many as its time allows, and mpv must exit cleanly
//! after at least nine tenths of the playlist's time.
//!
//! `VITRINE_BENCH_QUICK=1` plays 100 s (the soak 180 s) in two rounds: a check that the bench
//! works, not a figure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::bail;

use super::player::{Decoder, plays, rss_samples, usage, usage_under, write_config};
use super::{Figure, median, quick, rounds};
use crate::{cargo, run_command, runtime_dir};

/// The playlist: (item id, file, seconds on screen). Clips last exactly their item.
const ITEMS: [(&str, &str, u32); 5] = [
    ("still-a", "4k-a.jpg", 10),
    ("clip-1080p", "1080p30.mp4", 8),
    ("still-b", "4k-b.png", 10),
    ("clip-720p", "720p30.mp4", 8),
    ("still-c", "4k-c.jpg", 10),
];

fn loop_seconds() -> u32 {
    ITEMS.iter().map(|(_, _, seconds)| seconds).sum()
}

pub fn figures(target: &Path) -> anyhow::Result<Vec<Figure>> {
    super::require_tools(
        &["mpv", "ffmpeg", "xvfb-run", "/usr/bin/time"],
        "mpv, ffmpeg, xvfb and time",
    )?;
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vitrine-player",
        "--bin",
        "vitrine-player",
    ]))?;
    let player = target.join("release/vitrine-player");
    let directory = target.join("bench/memory");
    let shop = directory.join("shop");
    make_media(&shop)?;
    let decoder = Decoder::from_env()?;
    let config = write_config(&directory, decoder)?;
    let runtime = runtime_dir()?;
    let backend = std::env::var("WGPU_BACKEND").unwrap_or_else(|_| "vulkan".into());

    let (playlist_seconds, soak_seconds): (u32, u32) =
        if quick() { (100, 180) } else { (600, 1800) };
    let player_run = |data: &Path, seconds: u32| {
        let _ = std::fs::remove_dir_all(data);
        let mut command = Command::new(&player);
        command
            .arg("--config")
            .arg(&config)
            .args(["--headless", "--size", "1920x1080", "--fps", "30"])
            .arg("--run-for")
            .arg(format!("{seconds}s"))
            .arg("--data-dir")
            .arg(data)
            .arg("--playlist")
            .arg(&shop)
            .env("WGPU_BACKEND", &backend)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("RUST_LOG", "warn")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE");
        command
    };

    // mpv: the same files in the same order, looped for at least the same time.
    let mpv_list = directory.join("mpv-playlist.txt");
    std::fs::write(
        &mpv_list,
        ITEMS
            .iter()
            .map(|(_, file, _)| format!("{}\n", shop.join(file).display()))
            .collect::<String>(),
    )?;
    let loops = playlist_seconds.div_ceil(loop_seconds());
    let mpv_seconds = loops * loop_seconds();

    let mut ours = Vec::new();
    let mut peer = Vec::new();
    eprintln!(
        "xtask bench memory: {} round(s) of {playlist_seconds} s, then a {soak_seconds} s soak",
        rounds()
    );
    for round in 1..=rounds() {
        let data = directory.join(format!("player-{round}"));
        ours.push(usage(&mut player_run(&data, playlist_seconds))?.peak_rss_mib);
        check_plays(&data, playlist_seconds)?;
        let run = usage_under(
            &["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24"],
            Command::new("mpv")
                .args([
                    "--no-config",
                    "--really-quiet",
                    "--vo=gpu",
                    "--gpu-context=x11egl",
                    "--fullscreen",
                    "--ao=null",
                ])
                .arg(decoder.mpv_hwdec())
                .arg("--image-display-duration=10")
                .arg(format!("--loop-playlist={loops}"))
                .arg(format!("--playlist={}", mpv_list.display()))
                .env("XDG_RUNTIME_DIR", &runtime),
        )?;
        if run.wall_seconds < 0.9 * f64::from(mpv_seconds) {
            bail!(
                "bench memory: mpv stopped after {:.0} s of a {mpv_seconds} s playlist; it did not \
                 play it",
                run.wall_seconds
            );
        }
        peer.push(run.peak_rss_mib);
        eprintln!(
            "xtask bench memory: round {round}: peak RSS player {:.1} MiB, mpv {:.1} MiB",
            ours[round - 1],
            peer[round - 1]
        );
    }
    let (ours, peer) = (median(&ours), median(&peer));

    let growth = soak(&directory, soak_seconds, |data| {
        player_run(data, soak_seconds)
    })?;
    let (peak_name, soak_name) = if quick() {
        (
            "player_peak_rss_quick_100s_4k_pictures_clips",
            "player_rss_growth_quick_180s_soak",
        )
    } else {
        (
            "player_peak_rss_10min_4k_pictures_clips",
            "player_rss_growth_30min_soak",
        )
    };
    Ok(vec![
        Figure {
            name: peak_name,
            unit: "MiB",
            ours,
            peer,
            peer_name: match decoder {
                Decoder::Software => {
                    "mpv --vo=gpu --hwdec=no, same files, Xvfb 1920x1080 on llvmpipe"
                }
                Decoder::Auto => {
                    "mpv --vo=gpu --hwdec=auto, same files, Xvfb 1920x1080 on llvmpipe"
                }
            },
            // A run with fewer rounds than the record's five says so wherever the figure goes.
            goal: if rounds() < super::ROUNDS && !quick() {
                format!("ratio <= 1.0 ({} rounds, not {})", rounds(), super::ROUNDS)
            } else {
                "ratio <= 1.0".into()
            },
            pass: ours <= peer,
        },
        Figure {
            name: soak_name,
            unit: "%",
            ours: growth,
            peer: 1.0,
            peer_name: "limit: 1 % (last loop vs after warm-up, medians)",
            goal: "<= 1 %".into(),
            pass: growth <= 1.0,
        },
    ])
}

/// Runs the soak and returns the RSS growth in percent.
fn soak(
    directory: &Path,
    seconds: u32,
    player_run: impl Fn(&Path) -> Command,
) -> anyhow::Result<f64> {
    let data = directory.join("soak");
    let total = f64::from(seconds);
    let interval = Duration::from_secs_f64(total / 360.0);
    eprintln!("xtask bench memory: {seconds} s soak, RSS every {interval:?}");
    let samples = rss_samples(&mut player_run(&data), interval)?;
    check_plays(&data, seconds)?;
    // A span of one loop at least (so every item is in it) and a thirtieth of the run (a minute of
    // 30); warm-up ends after the first minute, or the first thirtieth.
    let span = (total / 30.0).max(f64::from(loop_seconds()));
    let warm_start = (total / 30.0).max(60.0);
    let window = |from: f64, to: f64| -> Vec<f64> {
        samples
            .iter()
            .filter(|(at, _)| (from..to).contains(at))
            .map(|(_, mib)| *mib)
            .collect()
    };
    let warm = window(warm_start, warm_start + span);
    let end = window(total - span, total + 1.0);
    if warm.len() < 5 || end.len() < 5 || warm_start + span > total - span {
        bail!(
            "bench memory: too few RSS samples for the soak ({} after warm-up, {} at the end)",
            warm.len(),
            end.len()
        );
    }
    let csv: String = std::iter::once("seconds,rss_mib\n".to_owned())
        .chain(
            samples
                .iter()
                .map(|(at, mib)| format!("{at:.1},{mib:.2}\n")),
        )
        .collect();
    std::fs::write(directory.join("soak-rss.csv"), csv)?;
    let (warm, end) = (median(&warm), median(&end));
    eprintln!(
        "xtask bench memory: soak RSS {warm:.1} MiB after warm-up, {end:.1} MiB at the end, \
         peak {:.1} MiB",
        samples.iter().map(|(_, mib)| *mib).fold(0.0, f64::max)
    );
    Ok((end - warm) / warm * 100.0)
}

/// Every item of the playlist must have been on screen for nine tenths of its turn or more about
/// as often as `seconds` allows (one turn fewer: the first is joined midway, the last cut by the
/// run's end). A picture that fails to decode is skipped and a clip that fails is cut short, so
/// either shows here. (Whether each turn started within one refresh, the journal's `completed`,
/// is the item start figure's business: on a busy lavapipe some miss it by milliseconds.)
fn check_plays(data: &Path, seconds: u32) -> anyhow::Result<()> {
    let plays = plays(data)?;
    let expected = (seconds / loop_seconds()).saturating_sub(1).max(1) as usize;
    for (item, file, turn) in ITEMS {
        let shown = plays
            .iter()
            .filter(|play| play.item_id == item && play.seconds >= 0.9 * f64::from(turn))
            .count();
        if shown < expected {
            bail!(
                "bench memory: the player journalled {shown} play(s) of `{file}` (item `{item}`) \
                 on screen for most of their turn in {seconds} s, not {expected}: the work did \
                 not happen, so its memory would measure a failure (see its log above)"
            );
        }
    }
    Ok(())
}

/// Makes the pictures and clips once (kept under `target/bench/memory/shop`) and writes the
/// playlist.
fn make_media(shop: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(shop)?;
    let ffmpeg = |file: &str, input: &str, output: &[&str]| -> anyhow::Result<()> {
        let path: PathBuf = shop.join(file);
        if path.is_file() {
            return Ok(());
        }
        run_command(
            Command::new("ffmpeg")
                .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i", input])
                .args(output)
                .arg(&path),
        )
    };
    ffmpeg("4k-a.jpg", "testsrc2=s=3840x2160", &["-frames:v", "1"])?;
    ffmpeg("4k-b.png", "mandelbrot=s=3840x2160", &["-frames:v", "1"])?;
    ffmpeg("4k-c.jpg", "smptehdbars=s=3840x2160", &["-frames:v", "1"])?;
    let clip = [
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast",
    ];
    ffmpeg("1080p30.mp4", "testsrc2=s=1920x1080:r=30:d=8", &clip)?;
    ffmpeg("720p30.mp4", "testsrc=s=1280x720:r=30:d=8", &clip)?;
    let items: String = ITEMS
        .iter()
        .map(|(id, file, seconds)| {
            let kind = if file.ends_with(".mp4") {
                "video"
            } else {
                "image"
            };
            format!("  - {kind}: {{ file: {file}, duration: {seconds}s, id: {id} }}\n")
        })
        .collect();
    std::fs::write(
        shop.join("playlist.yaml"),
        format!("version: 1\nname: memory-bench\nitems:\n{items}"),
    )?;
    Ok(())
}
