//! The screenshot round trip (../shared/BENCHMARKS.md: "command sent → JPEG visible in the
//! console, p99 ≤ 2 s"): the release scheduler and a release headless player at 1920x1080 on
//! loopback, showing a test card; `net_bench screenshot` sends the `screenshot` command and polls
//! `GET /v1/screens/{name}/screenshot` every 25 ms (under the admin token's shipped rate limit)
//! until a JPEG newer than the previous one is there, decodes it and checks its width,
//! [`ROUNDS_OF_COMMANDS`] times in a row. The limit is the peer.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use super::net::{Guard, run_net_bench, start_scheduler};
use super::{Figure, numbers, percentile, quick};
use crate::{cargo, run_command};

/// The promise: a screenshot is in the console within this long of asking for it.
const LIMIT_MS: f64 = 2000.0;

/// Screenshots asked for in a row (fewer in a quick run, never under 30).
const ROUNDS_OF_COMMANDS: usize = 60;

pub fn figures(target: &Path) -> anyhow::Result<Vec<Figure>> {
    super::require_tools(&["ffmpeg"], "ffmpeg")?;
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vitrine-scheduler",
        "--bin",
        "vitrine-scheduler",
        "--example",
        "net_bench",
        "-p",
        "vitrine-player",
        "--bin",
        "vitrine-player",
    ]))?;
    let net_bench = target.join("release/examples/net_bench");
    let scratch = target.join("bench/screenshot");
    let _ = std::fs::remove_dir_all(&scratch);
    let media = scratch.join("media");
    std::fs::create_dir_all(&media)?;
    test_card(&media.join("card.png"))?;

    eprintln!("xtask bench: screenshot round trip with a release scheduler and player");
    let (_scheduler, server) = start_scheduler(
        &target.join("release/vitrine-scheduler"),
        &scratch.join("hq"),
        &[],
    )?;
    let pushed = run_net_bench(
        &net_bench,
        &server,
        &[
            "sync-push",
            "--rounds",
            "1",
            "--dir",
            &media.to_string_lossy(),
            "--register",
        ],
    )?;
    let token = pushed
        .lines()
        .find_map(|line| line.strip_prefix("token "))
        .context("sync-push printed no token")?
        .to_owned();
    let _player = Guard(
        Command::new(target.join("release/vitrine-player"))
            .arg("--headless")
            .args(["--size", "1920x1080", "--data-dir"])
            .arg(scratch.join("player"))
            .args(["--server", &server, "--token", &token])
            .env(
                "WGPU_BACKEND",
                std::env::var("WGPU_BACKEND").unwrap_or_else(|_| "vulkan".into()),
            )
            .env("XDG_RUNTIME_DIR", crate::runtime_dir()?)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start the player")?,
    );
    let rounds = if quick() { 30 } else { ROUNDS_OF_COMMANDS };
    let output = run_net_bench(
        &net_bench,
        &server,
        &[
            "screenshot",
            "--screen",
            "sync-screen",
            "--rounds",
            &rounds.to_string(),
        ],
    )?;
    let round_trips = numbers(&output, "round_trip_ms")?;
    if round_trips.len() != rounds {
        bail!(
            "net_bench timed {} screenshots of {rounds}",
            round_trips.len()
        );
    }
    let figure = |name: &'static str, ours: f64| Figure {
        name,
        unit: "ms",
        ours,
        peer: LIMIT_MS,
        peer_name: "the 2 s limit (command sent -> new JPEG fetchable at HQ, 1920x1080 player)",
        goal: "<= 2000 ms".into(),
        pass: ours <= LIMIT_MS,
    };
    Ok(vec![
        figure("screenshot_round_trip_p50", percentile(&round_trips, 0.5)),
        figure("screenshot_round_trip_p99", percentile(&round_trips, 0.99)),
    ])
}

/// A full-HD test card (ffmpeg's `testsrc2`): colour bars, gradients and text, what a screen's
/// content looks like to a JPEG encoder more than noise or a flat colour does.
fn test_card(path: &Path) -> anyhow::Result<()> {
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=s=1920x1080")
        .args(["-frames:v", "1", "-pix_fmt", "rgb24"])
        .arg(path)
        .status()
        .context("cannot run ffmpeg (`cargo xtask setup` installs it)")?;
    if !status.success() {
        bail!("ffmpeg could not make {}", path.display());
    }
    Ok(())
}
