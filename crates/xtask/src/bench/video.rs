//! The video playback cost: CPU seconds (user + system, from `/usr/bin/time`) to play one 1080p30
//! H.264 clip through the headless player at 1920x1080, against the same clip decoded by
//! `gst-launch-1.0 filesrc ! decodebin ! fakesink` (pure decode: the floor) and played by
//! `mpv --vo=null --ao=null` (the peer), A B C interleaved, median of five rounds.
//!
//! The player runs in standalone mode on a one-item playlist for the clip's length plus a start-up
//! allowance, so its figure includes start-up (GPU, cache, manifest) as well as every frame's
//! upload and composite. On these machines the GPU is Mesa's lavapipe, so GPU work is CPU work and
//! shows in the figure; on a real GPU it would not. To tell the two apart, each round also runs the
//! same player for the same time on a still picture of the clip's size (the third figure): when
//! playing the clip costs about what showing a picture costs, the renderer, not video, is what the
//! first two figures measure.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::{Figure, ROUNDS, median};
use crate::{cargo, run_command, runtime_dir};

const CLIP_SECONDS: u32 = 8;
/// What the player needs before the clip's first frame: GPU, cache copy, manifest, preroll.
const STARTUP_ALLOWANCE_MS: u32 = 1_500;

pub fn figures(target: &Path) -> anyhow::Result<Vec<Figure>> {
    for tool in ["gst-launch-1.0", "mpv", "ffmpeg", "/usr/bin/time"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|output| output.status.success())
            .unwrap_or(false);
        if !found {
            bail!(
                "`{tool}` is missing; `cargo xtask setup` installs gstreamer1.0-tools, mpv, ffmpeg and time"
            );
        }
    }
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
            "version: 1\nname: still-bench\nitems:\n  - image: {{ file: still.png, duration: {CLIP_SECONDS}s }}\n"
        ),
    )?;
    std::fs::write(
        shop.join("playlist.yaml"),
        format!(
            "version: 1\nname: video-bench\nitems:\n  - video: {{ file: 1080p30.mp4, duration: {CLIP_SECONDS}s }}\n"
        ),
    )?;
    let runtime = runtime_dir()?;
    let backend = std::env::var("WGPU_BACKEND").unwrap_or_else(|_| "vulkan".into());

    let player_run = |folder: &Path, data: &Path| {
        let _ = std::fs::remove_dir_all(data);
        let mut command = Command::new(&player);
        command
            .args(["--headless", "--size", "1920x1080", "--fps", "30"])
            .arg("--run-for")
            .arg(format!("{}ms", CLIP_SECONDS * 1000 + STARTUP_ALLOWANCE_MS))
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

    let mut ours = Vec::new();
    let mut still_player = Vec::new();
    let mut decode_only = Vec::new();
    let mut mpv = Vec::new();
    for round in 1..=ROUNDS {
        ours.push(cpu_seconds(&mut player_run(
            &shop,
            &directory.join(format!("player-{round}")),
        ))?);
        still_player.push(cpu_seconds(&mut player_run(
            &still_shop,
            &directory.join(format!("still-{round}")),
        ))?);
        decode_only.push(cpu_seconds(
            Command::new("gst-launch-1.0")
                .arg("-q")
                .arg("filesrc")
                .arg(format!("location={}", clip.display()))
                .args(["!", "decodebin", "!", "fakesink"]),
        )?);
        mpv.push(cpu_seconds(
            Command::new("mpv")
                .args([
                    "--no-config",
                    "--really-quiet",
                    "--vo=null",
                    "--ao=null",
                    "--hwdec=no",
                ])
                .arg(&clip),
        )?);
        eprintln!(
            "xtask bench video: round {round}: player {:.2} s, same player on a still {:.2} s, \
             decode only {:.2} s, mpv {:.2} s of CPU",
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
    Ok(vec![
        Figure {
            name: "video_1080p30_cpu_vs_decode_only",
            unit: "CPU s",
            ours,
            peer: decode_only,
            peer_name: "gst-launch-1.0 filesrc ! decodebin ! fakesink",
            goal: "ratio <= 1.15".into(),
            pass: ours <= 1.15 * decode_only,
        },
        Figure {
            name: "video_1080p30_cpu_vs_mpv",
            unit: "CPU s",
            ours,
            peer: mpv,
            peer_name: "mpv --vo=null --ao=null --hwdec=no",
            goal: "ratio < 1.0".into(),
            pass: ours < mpv,
        },
        Figure {
            name: "video_1080p30_cpu_vs_still_picture",
            unit: "CPU s",
            ours,
            peer: still_player,
            peer_name: "the same player showing a still 1080p picture",
            goal: "ratio <= 1.15".into(),
            pass: ours <= 1.15 * still_player,
        },
    ])
}

/// User plus system CPU seconds of a whole command and its children, from `/usr/bin/time`.
fn cpu_seconds(command: &mut Command) -> anyhow::Result<f64> {
    let report = tempfile_path("cpu")?;
    let program = command.get_program().to_owned();
    let arguments: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%U %S", "-o"])
        .arg(&report)
        .arg(&program)
        .args(&arguments)
        .envs(
            command
                .get_envs()
                .filter_map(|(key, value)| value.map(|value| (key, value))),
        );
    let output = timed
        .output()
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}",
            program.to_string_lossy(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = std::fs::read_to_string(&report)?;
    let _ = std::fs::remove_file(&report);
    let seconds: Vec<f64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("unreadable /usr/bin/time output `{text}`"))?;
    Ok(seconds.iter().sum())
}

fn tempfile_path(stem: &str) -> anyhow::Result<PathBuf> {
    let directory = std::env::temp_dir();
    Ok(directory.join(format!("vitrine-bench-{stem}-{}.txt", std::process::id())))
}
