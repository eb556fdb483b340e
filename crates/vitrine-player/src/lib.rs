//! Vitrine's screen daemon: syncs this screen's manifest and media from the scheduler into a verified
//! cache, plays it with one wgpu renderer (in a fullscreen window or offscreen), and journals every
//! play as proof of play before uploading it.
//!
//! **API boundary:** only this crate knows wgpu and winit. Threads other than the render loop post
//! [`events::PlayerEvent`]s and never touch GPU state.

pub mod audio;
pub mod background;
pub mod cache;
pub mod clock;
pub mod config;
pub mod cover;
pub mod database;
pub mod decode;
pub mod display;
pub mod display_power;
pub mod downloads;
pub mod events;
pub mod headless;
pub mod journal;
pub mod metrics;
pub mod pairing;
pub mod playback;
pub mod player;
pub mod problem;
pub mod push;
pub mod render;
pub mod restart;
pub mod screenshot;
pub mod service;
pub mod standalone;
pub mod status;
pub mod sync;
pub mod telemetry;
pub mod video;
pub mod watch;
pub mod window;

use std::sync::Arc;

use anyhow::Context;

use crate::background::{Background, BackgroundSettings};
use crate::cache::MediaCache;
use crate::config::PlayerConfig;
use crate::events::{PlayerEvent, SharedSink};
use crate::sync::SyncClient;

/// What both front ends start from.
pub struct Startup {
    pub config: PlayerConfig,
    pub sink: SharedSink,
    pub background: Option<Background>,
    /// Standalone mode's folder watch, kept alive as long as the player runs.
    pub standalone: Option<standalone::Standalone>,
    /// What the render loop tells the heartbeat.
    pub status: status::SharedStatus,
    /// HQ's time carried on monotonic time; the render loop reads it every frame.
    pub clock: clock::SharedClock,
}

/// Runs the player until SIGTERM, Ctrl-C or the configured run time. A player that pairs starts
/// again with its new credentials once paired (see [`pairing`]).
pub fn run(mut config: PlayerConfig) -> anyhow::Result<()> {
    // Its uptime counts from here.
    metrics::global();
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data folder {}",
            config.data_dir.display()
        )
    })?;
    pairing::apply_credentials(&mut config)?;
    if let Some(address) = config.metrics.listen {
        metrics::serve(metrics::Listen {
            address,
            config_file: config.config_file.clone(),
            data_dir: config.data_dir.clone(),
            disk_budget: config.cache.disk_budget,
        })?;
    }
    if let Some(after) = config.simulate_hang_after {
        tracing::warn!(
            after_ms = after.as_millis() as u64,
            "the render loop will hang on purpose (--simulate-hang-after)"
        );
        service::simulate_hang_after(after);
    }
    let outcome = if config.headless {
        let (sender, receiver) = std::sync::mpsc::channel();
        let sink: SharedSink = Arc::new(sender);
        let startup = prepare(config, sink)?;
        headless::run(startup, receiver)
    } else {
        let event_loop = window::event_loop()?;
        let sink: SharedSink = Arc::new(event_loop.create_proxy());
        let startup = prepare(config, sink)?;
        window::run(startup, event_loop)
    };
    restart::restart_if_requested(outcome)
}

/// Starts what both front ends share: the cached manifest (so a restart plays at once, offline),
/// signal handling, the run-time limit and the network thread.
fn prepare(config: PlayerConfig, sink: SharedSink) -> anyhow::Result<Startup> {
    let cache = MediaCache::open(&config.data_dir)?;
    if let Err(error) = cache.integrity_check() {
        // Keep going: the journal in it may still hold plays to upload, and SQLite reads what it can.
        tracing::error!("{error:#}");
    }
    let dropped = cache.verify_all()?;
    if !dropped.is_empty() {
        tracing::warn!(
            count = dropped.len(),
            "damaged media dropped from the cache at start-up"
        );
    }
    match &config.cache.fallback {
        Some(fallback) => match cache.pin_fallback(fallback) {
            Ok(sha256) => tracing::info!(%sha256, "fallback image pinned in the cache"),
            // The built-in splash stands in; a bad fallback setting must not stop the screen.
            Err(error) => tracing::error!("{error:#}; the built-in splash is the fallback"),
        },
        None => cache.unpin_fallback()?,
    }
    let mut active_etag = None;
    match cache.active_manifest() {
        Ok(Some(active)) => {
            let missing = cache.missing_media(&active.manifest)?;
            if missing.is_empty() {
                tracing::info!(playlist = %active.manifest.playlist.name, "playing the cached manifest");
                let digests: Vec<_> = active
                    .manifest
                    .media_entries()
                    .into_iter()
                    .map(|entry| entry.sha256.clone())
                    .collect();
                cache.touch(&digests)?;
                active_etag = Some(active.etag);
                sink.post(PlayerEvent::ManifestActivated(Arc::new(active.manifest)));
            } else {
                tracing::warn!(
                    missing = missing.len(),
                    "the cached manifest lacks media; waiting for the scheduler"
                );
            }
        }
        Ok(None) => tracing::info!("no cached manifest yet; showing the splash"),
        Err(error) => tracing::warn!("ignoring the cached manifest: {error:#}"),
    }
    drop(cache);

    forward_signals(sink.clone())?;
    if let Some(run_for) = config.run_for {
        let sink = sink.clone();
        std::thread::Builder::new()
            .name("vitrine-run-for".into())
            .spawn(move || {
                std::thread::sleep(run_for);
                sink.post(PlayerEvent::Shutdown);
            })?;
    }

    let standalone = match &config.playlist {
        Some(path) => {
            tracing::info!(playlist = %path.display(), "standalone mode: no scheduler");
            Some(standalone::start(path, &config.data_dir, sink.clone())?)
        }
        None => None,
    };
    let status = status::SharedStatus::default();
    service::start(status.clone())?;
    let clock = clock::Clock::open(&config.data_dir)?;
    let ca_cert = match &config.ca_cert {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read `ca_cert` {}", path.display()))?,
        ),
        None => None,
    };
    let background = match (&config.server, &config.token) {
        (Some(server), Some(token)) => Some(Background::start(
            BackgroundSettings {
                client: SyncClient::new(server, token, ca_cert.as_deref())?
                    .with_trust(pairing::ManifestTrust::for_config(&config)?)
                    .with_screen(config.screen.clone())
                    .with_clock(clock.clone())
                    .with_bandwidth_limit(config.cache.bandwidth_limit),
                sync_policy: sync::SyncPolicy {
                    parallel_downloads: config.cache.parallel_downloads,
                    disk_budget: config.cache.disk_budget,
                },
                clock: clock.clone(),
                journal_alert: journal::BacklogLimit {
                    rows: config.journal.alert_rows,
                    bytes: config.journal.alert_bytes,
                },
                data_dir: config.data_dir.clone(),
                active_etag,
                poll_interval: config.poll_interval,
                upload_interval: config.upload_interval,
                push: config.push,
                backoff_max: config.backoff_max,
                heartbeat_interval: config.heartbeat_interval,
                status: status.clone(),
            },
            sink.clone(),
        )?),
        (Some(server), None) => {
            // No token yet: show a pairing code and wait for HQ to confirm it.
            pairing::start(server, ca_cert.as_deref(), &config.data_dir, sink.clone())?;
            None
        }
        _ => {
            if standalone.is_none() {
                tracing::info!("no scheduler configured; playing the cache only");
            }
            None
        }
    };
    Ok(Startup {
        config,
        sink,
        background,
        standalone,
        status,
        clock,
    })
}

/// SIGTERM (systemd stop) and SIGINT (Ctrl-C) become a clean shutdown that journals the play on screen
/// and uploads what it can.
fn forward_signals(sink: SharedSink) -> anyhow::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])?;
    std::thread::Builder::new()
        .name("vitrine-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                tracing::info!(signal, "shutting down");
                sink.post(PlayerEvent::Shutdown);
            }
        })?;
    Ok(())
}
