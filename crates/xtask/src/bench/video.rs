//! The video playback cost: CPU seconds (user + system, from `/usr/bin/time`) per second of video
//! shown, for a 1080p30 H.264 clip through the headless player at 1920x1080, against the same clip
//! decoded by `gst-launch-1.0 filesrc ! decodebin ! fakesink` (pure decode: the floor) and played
//! by `mpv --vo=null --ao=null` (the peer), A B C interleaved, median of five rounds. Both sides
//! make the same decoder choice: the player's `[video] decoder` is `software` and mpv gets
//! `--hwdec=no` (or `auto` and `--hwdec=auto` with `VITRINE_BENCH_DECODER=auto`); the figure's
//! peer says which.
//!
//! The player runs in standalone mode on a one-item playlist for four turns of the clip plus a
//! start-up allowance, so its figure includes start-up (GPU, cache, manifest) as well as every
//! frame's upload and composite. **The work is checked:** the player's journal must hold a
//! completed play of the clip, and its CPU seconds are divided by the seconds of video the
//! journal says were on screen; a player that fails to decode journals no completed play and the
//! bench stops rather than report it cheap. The peers' CPU seconds are divided by the clip's
//! length, which they play (or decode) to the end with a successful exit.
//!
//! On these machines the GPU is Mesa's lavapipe, so GPU work is CPU work and shows in the figure;
//! on a real GPU it would not. To tell the two apart, each round also runs the same player for the
//! same time on a still picture of the clip's size (the third figure): when playing the clip costs
//! about what showing a picture costs, the renderer, not video, is what the first two figures
//! measure.

use std::path::Path;
use std::process::Command;

use anyhow::bail;

use super::player::{Decoder, seconds_shown, usage, write_config};
use super::{Figure, median, rounds};
use crate::{cargo, run_command, runtime_dir};

const CLIP_SECONDS: u32 = 8;
/// How many turns of the clip the player runs for.
const TURNS: u32 = 4;
/// What the player needs before the clip's first frame: GPU, cache copy, manifest, preroll.
const STARTUP_ALLOWANCE_MS: u32 = 1_500;

pub fn figures(target: &Path) -> anyhow::Result<Vec<Figure>> {
    super::require_tools(
        &["gst-launch-1.0", "mpv", "ffmpeg", "/usr/bin/time"],
        "gstreamer1.0-tools, mpv, ffmpeg and time",
    )?;
    // Release, as screens run it: a dev build keeps wgpu's debug assertions, whose lock tracing
    // alone costs more than decoding.
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vitrine-player",
        "--bin",
        "vitrine-player",
    ]))?;
    let player = target.join("release/vitrine-player");
    let directory = target.join("bench/video");
    let shop = directory.join("shop");
    std::fs::create_dir_all(&shop)?;
    let clip = shop.join("1080p30.mp4");
    if !clip.is_file() {
        // A moving test pattern, so the encoder and the decoder do real work on every frame.
        run_command(
            Command::new("ffmpeg")
                .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
                .arg(format!("testsrc2=s=1920x1080:r=30:d={CLIP_SECONDS}"))
                .args([
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "medium",
                ])
                .args(["-colorspace", "bt709", "-color_range", "tv"])
                .arg(&clip),
        )?;
    }
    let still_shop = directory.join("still");
    std::fs::create_dir_all(&still_shop)?;
    let still = still_shop.join("still.png");
    if !still.is_file() {
        run_command(
            Command::new("ffmpeg")
                .args(["-loglevel", "error", "-y", "-i"])
                .arg(&clip)
                .args(["-frames:v", "1"])
                .arg(&still),
        )?;
    }
    std::fs::write(
        still_shop.join("playlist.yaml"),
        format!(
            "version: 1\nname: still-bench\nitems:\n  - image: {{ file: still.png, duration: {CLIP_SECONDS}s, id: bench-still }}\n"
        ),
    )?;
    std::fs::write(
        shop.join("playlist.yaml"),
        format!(
            "version: 1\nname: video-bench\nitems:\n  - video: {{ file: 1080p30.mp4, duration: {CLIP_SECONDS}s, id: bench-clip }}\n"
        ),
    )?;
    let runtime = runtime_dir()?;
    let backend = std::env::var("WGPU_BACKEND").unwrap_or_else(|_| "vulkan".into());
    let decoder = Decoder::from_env()?;
    let config = write_config(&directory, decoder)?;

    // Four turns of the clip: the loop is anchored to the epoch, so the first turn is joined
    // midway, and of the three whole ones at least one must count as completed (its first frame
    // within one refresh of its start: at 30 fps on a busy lavapipe a turn can miss that by a few
    // milliseconds, and the journal then rightly says it did not complete).
    let player_run = |folder: &Path, data: &Path| {
        let _ = std::fs::remove_dir_all(data);
        let mut command = Command::new(&player);
        command
            .arg("--config")
            .arg(&config)
            .args(["--headless", "--size", "1920x1080", "--fps", "30"])
            .arg("--run-for")
            .arg(format!(
                "{}ms",
                TURNS * CLIP_SECONDS * 1000 + STARTUP_ALLOWANCE_MS
            ))
            .arg("--data-dir")
            .arg(data)
            .arg("--playlist")
            .arg(folder)
            .env("WGPU_BACKEND", &backend)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("RUST_LOG", "warn")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE");
        command
    };
    // CPU seconds per second on screen, from the journal.
    let per_second_shown = |folder: &Path, data: &Path, item: &str| -> anyhow::Result<f64> {
        let cpu = usage(&mut player_run(folder, data))?.cpu_seconds;
        let shown = seconds_shown(data, item, 1, "bench video")?;
        if shown <= 0.0 {
            bail!("bench video: the journal says nothing of `{item}` was on screen");
        }
        Ok(cpu / shown)
    };
    // A peer plays or decodes the clip to its end (or fails the bench).
    let per_clip_second = |command: &mut Command| -> anyhow::Result<f64> {
        let run = usage(command)?;
        if run.wall_seconds < 0.2 {
            bail!("bench video: a peer exited at once; it cannot have played the clip");
        }
        Ok(run.cpu_seconds / f64::from(CLIP_SECONDS))
    };

    let mut ours = Vec::new();
    let mut still_player = Vec::new();
    let mut decode_only = Vec::new();
    let mut mpv = Vec::new();
    let rounds = rounds();
    for round in 1..=rounds {
        ours.push(per_second_shown(
            &shop,
            &directory.join(format!("player-{round}")),
            "bench-clip",
        )?);
        still_player.push(per_second_shown(
            &still_shop,
            &directory.join(format!("still-{round}")),
            "bench-still",
        )?);
        decode_only.push(per_clip_second(
            Command::new("gst-launch-1.0")
                .arg("-q")
                .arg("filesrc")
                .arg(format!("location={}", clip.display()))
                .args(["!", "decodebin", "!", "fakesink"]),
        )?);
        mpv.push(per_clip_second(
            Command::new("mpv")
                .args(["--no-config", "--really-quiet", "--vo=null", "--ao=null"])
                .arg(decoder.mpv_hwdec())
                .arg(&clip),
        )?);
        eprintln!(
            "xtask bench video: round {round}: CPU seconds per second shown: player {:.3}, same \
             player on a still {:.3}, decode only {:.3}, mpv {:.3}",
            ours[round - 1],
            still_player[round - 1],
            decode_only[round - 1],
            mpv[round - 1]
        );
    }
    let (ours, still_player, decode_only, mpv) = (
        median(&ours),
        median(&still_player),
        median(&decode_only),
        median(&mpv),
    );
    let (decode_name, mpv_name) = match decoder {
        Decoder::Software => (
            "gst-launch-1.0 filesrc ! decodebin ! fakesink (decoders by GStreamer rank)",
            "mpv --vo=null --ao=null --hwdec=no (software, as ours; draws nothing)",
        ),
        Decoder::Auto => (
            "gst-launch-1.0 filesrc ! decodebin ! fakesink (decoders by GStreamer rank)",
            "mpv --vo=null --ao=null --hwdec=auto (as ours; draws nothing)",
        ),
    };
    Ok(vec![
        Figure {
            name: "video_1080p30_cpu_per_shown_s_vs_decode_only",
            unit: "CPU s/s",
            ours,
            peer: decode_only,
            peer_name: decode_name,
            goal: "ratio <= 1.15".into(),
            pass: ours <= 1.15 * decode_only,
        },
        Figure {
            name: "video_1080p30_cpu_per_shown_s_vs_mpv",
            unit: "CPU s/s",
            ours,
            peer: mpv,
            peer_name: mpv_name,
            goal: "ratio < 1.0".into(),
            pass: ours < mpv,
        },
        Figure {
            name: "video_1080p30_cpu_per_shown_s_vs_still",
            unit: "CPU s/s",
            ours,
            peer: still_player,
            peer_name: "the same player showing a still 1080p picture",
            goal: "ratio <= 1.15".into(),
            pass: ours <= 1.15 * still_player,
        },
    ])
}
