//! `vitrine-player`: the screen daemon's command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use vitrine_player::config::{PlayerConfig, parse_duration};

/// Plays this screen's Vitrine content: syncs from the scheduler, caches media, shows it fullscreen
/// (or offscreen with --headless) and reports every play.
#[derive(Debug, Parser)]
#[command(version)]
struct Arguments {
    /// A TOML config file; the flags below override it.
    #[arg(long, env = "VITRINE_PLAYER_CONFIG")]
    config: Option<PathBuf>,
    /// The scheduler's URL, e.g. http://hq.example:8080.
    #[arg(long, env = "VITRINE_SERVER")]
    server: Option<String>,
    /// This screen's device token (from `vitrine screens add`). Without one, the player shows a
    /// pairing code to confirm at HQ with `vitrine screens pair CODE`.
    #[arg(long, env = "VITRINE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The scheduler's manifest-signing key, as `vitrine screens add` prints it.
    #[arg(long, env = "VITRINE_SERVER_KEY")]
    server_key: Option<String>,
    /// A PEM CA certificate to trust for an https scheduler with a private CA.
    #[arg(long, env = "VITRINE_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// Where the cache, journal and manifest are kept.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Render offscreen instead of opening a window.
    #[arg(long)]
    headless: bool,
    /// Screen size for headless mode, e.g. 1920x1080.
    #[arg(long, value_parser = parse_size)]
    size: Option<(u32, u32)>,
    /// Headless: frames per second.
    #[arg(long)]
    fps: Option<u32>,
    /// Headless: write a PNG frame into this folder every --frame-interval.
    #[arg(long)]
    frames_dir: Option<PathBuf>,
    /// Headless: how often to write a frame, e.g. 1s or 250ms.
    #[arg(long, value_parser = parse_duration)]
    frame_interval: Option<Duration>,
    /// How often to ask the scheduler for a new manifest.
    #[arg(long, value_parser = parse_duration)]
    poll_interval: Option<Duration>,
    /// How often to upload proof of play.
    #[arg(long, value_parser = parse_duration)]
    upload_interval: Option<Duration>,
    /// Stop after this long (for trials and tests).
    #[arg(long, value_parser = parse_duration)]
    run_for: Option<Duration>,
    /// Standalone mode: play this folder's playlist.yaml (or this YAML file) with no scheduler,
    /// reloading it on every save.
    #[arg(long, conflicts_with_all = ["server", "token"])]
    playlist: Option<PathBuf>,
    /// How the screen is mounted, clockwise: 0, 90, 180 or 270.
    #[arg(long)]
    rotation: Option<u32>,
    /// The monitor for the window: primary, an index from 0, or a name like HDMI-1.
    #[arg(long)]
    monitor: Option<String>,
    /// Draw frame statistics on screen.
    #[arg(long)]
    show_stats: bool,
    /// At exit, write frame telemetry (summary, every frame's time, every item's first-frame
    /// offset) to this JSON file.
    #[arg(long)]
    stats_file: Option<PathBuf>,
    /// How often to tell HQ what plays and how well it draws, e.g. 60s.
    #[arg(long, value_parser = parse_duration)]
    heartbeat_interval: Option<Duration>,
    /// Serve Prometheus metrics at http://ADDRESS/metrics, e.g. 127.0.0.1:9464 (port 0 picks a
    /// free port, printed at start-up).
    #[arg(long, value_name = "ADDRESS")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Block the render loop forever after this long, e.g. 30s: with `WatchdogSec=` in the unit,
    /// systemd should restart the player within that interval. For checking a watchdog set-up.
    #[arg(long, value_parser = parse_duration, hide_short_help = true)]
    simulate_hang_after: Option<Duration>,
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (width, height) = text
        .split_once('x')
        .ok_or_else(|| format!("size `{text}` should look like 1920x1080"))?;
    let parse = |side: &str| {
        side.parse::<u32>()
            .map_err(|_| format!("size `{text}` should look like 1920x1080"))
    };
    Ok((parse(width)?, parse(height)?))
}

fn main() -> ExitCode {
    apply_malloc_settings();
    // wgpu probes every backend; on a machine without a GL driver that probe logs an EGL error
    // that means nothing when Vulkan works, so it is silenced (a real failure is reported below).
    // Under systemd the log goes to journald with its fields (item, zone, media, error) as
    // journal fields; anywhere else, to stderr as text.
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        "info,wgpu_core=warn,wgpu_hal=error,wgpu_hal::gles::egl=off,naga=warn".into()
    });
    let journald = vitrine_player::service::journald();
    let stderr = journald
        .is_none()
        .then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    tracing_subscriber::registry()
        .with(filter)
        .with(journald)
        .with(stderr)
        .init();
    let arguments = Arguments::parse();
    match configure(arguments).and_then(vitrine_player::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vitrine-player: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn configure(arguments: Arguments) -> anyhow::Result<PlayerConfig> {
    let mut config = match &arguments.config {
        Some(path) => PlayerConfig::load(path)?,
        None => PlayerConfig::default(),
    };
    if arguments.server.is_some() {
        config.server = arguments.server;
    }
    if arguments.token.is_some() {
        config.token = arguments.token;
    }
    if arguments.server_key.is_some() {
        config.server_key = arguments.server_key;
    }
    if arguments.ca_cert.is_some() {
        config.ca_cert = arguments.ca_cert;
    }
    if let Some(data_dir) = arguments.data_dir {
        config.data_dir = data_dir;
    }
    config.headless |= arguments.headless;
    if let Some((width, height)) = arguments.size {
        config.width = width;
        config.height = height;
    }
    if let Some(fps) = arguments.fps {
        config.headless_fps = fps;
    }
    if arguments.frames_dir.is_some() {
        config.frames_dir = arguments.frames_dir;
    }
    if let Some(interval) = arguments.frame_interval {
        config.frame_interval = interval;
    }
    if let Some(interval) = arguments.poll_interval {
        config.poll_interval = interval;
    }
    if let Some(interval) = arguments.upload_interval {
        config.upload_interval = interval;
    }
    if arguments.run_for.is_some() {
        config.run_for = arguments.run_for;
    }
    if arguments.playlist.is_some() {
        config.playlist = arguments.playlist;
    }
    if let Some(rotation) = arguments.rotation {
        config.rotation = rotation;
    }
    if let Some(monitor) = arguments.monitor {
        config.monitor = monitor;
    }
    config.show_stats |= arguments.show_stats;
    if arguments.stats_file.is_some() {
        config.stats_file = arguments.stats_file;
    }
    if let Some(interval) = arguments.heartbeat_interval {
        config.heartbeat_interval = interval;
    }
    if arguments.metrics_listen.is_some() {
        config.metrics.listen = arguments.metrics_listen;
    }
    config.simulate_hang_after = arguments.simulate_hang_after;
    Ok(config)
}

/// glibc's malloc settings the player runs with, as environment variables (glibc reads them only
/// when the process starts, and this workspace forbids the `unsafe` a `mallopt` call would need).
///
/// - `MALLOC_ARENA_MAX=2`: by default every thread that allocates may get an arena of its own, up
///   to eight per core, and GStreamer runs streaming and decoder threads for video: freed frames
///   and pictures then stay spread over arenas that are rarely reused, and resident memory crept
///   up loop after loop (a playlist of 4K pictures and clips: 463 MiB peak after 150 s and still
///   climbing, against 319 MiB with two arenas). The allocations that matter (frames, pictures)
///   are large and few, so threads sharing two arenas do not wait on each other measurably.
/// - `MALLOC_MMAP_THRESHOLD_=1048576`: every block of 1 MiB or more gets pages of its own and gives
///   them back when freed. glibc's default threshold starts at 128 KiB but rises to the size of
///   any mapped block freed, up to 32 MiB; a decoded 4K picture is 31.6 MiB, so after the first
///   one every picture, frame and texture copy came from the heap, where the small allocations
///   made between them keep the freed space from going back: the same playlist stepped from 310
///   to 334 MiB within minutes, and grew 7 % over a half-hour soak. With the fixed threshold
///   it stays between about 215 and 270 MiB, following what is on screen.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_SETTINGS: [(&str, &str); 2] = [
    ("MALLOC_ARENA_MAX", "2"),
    ("MALLOC_MMAP_THRESHOLD_", "1048576"),
];

/// Runs the player with [`MALLOC_SETTINGS`], by executing itself again with those of them not
/// already in its environment (a value set there, by the systemd unit or by hand, is kept).
/// `exec` keeps the process id, which systemd's watchdog follows.
fn apply_malloc_settings() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let missing: Vec<_> = MALLOC_SETTINGS
            .iter()
            .filter(|(name, _)| std::env::var_os(name).is_none())
            .collect();
        if missing.is_empty() {
            return;
        }
        let Ok(executable) = std::env::current_exe() else {
            return;
        };
        use std::os::unix::process::CommandExt;
        let mut arguments = std::env::args_os();
        let name = arguments
            .next()
            .unwrap_or_else(|| executable.clone().into());
        let error = std::process::Command::new(&executable)
            .arg0(name)
            .args(arguments)
            .envs(missing.iter().map(|(name, value)| (name, value)))
            .exec();
        // Only returns on failure: play on with glibc's defaults.
        eprintln!(
            "vitrine-player: cannot restart with glibc malloc settings for long playback \
             ({error}); going on without"
        );
    }
}
