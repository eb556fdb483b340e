//! Prometheus metrics for the screen, on a local listener that is off unless `[metrics] listen` (or
//! `--metrics-listen`) names an address: `GET /metrics` answers in the Prometheus text format.
//!
//! The counters are fed where the player already measures: frame telemetry (frame times, missed
//! refreshes, transition gaps, items started), the sync (downloads), the decode paths (failures).
//! What lives on disk (cache bytes, unsent plays) is read from the player's SQLite files at each
//! scrape, so the numbers are the journal's and the cache's own.
//!
//! Series, all prefixed `vitrine_player_`:
//! - `frame_time_seconds` (histogram), `frames_total`, `missed_refreshes_total`,
//!   `transition_gaps_total`, `items_started_total`, `late_items_total`
//! - `downloads_total{result="ok"|"failed"}`, `download_bytes_total`
//! - `decode_failures_total{kind="image"|"video"}`
//! - `cache_bytes`, `cache_budget_bytes` (absent without a budget), `unsent_plays`
//! - `gpu_adapter_info{name,backend,driver}`, `video_decoder_info{decoder}`, `build_info{version}`
//! - `uptime_seconds`

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::Context;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GpuLabels {
    name: String,
    backend: String,
    driver: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecoderLabel {
    decoder: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// The process's metrics. There is one player per process, so they are process-wide: any thread
/// that measures something records it here, and the listener encodes them.
pub struct Metrics {
    registry: Registry,
    started: Instant,
    frame_time: Histogram,
    frames: Counter,
    missed_refreshes: Counter,
    transition_gaps: Counter,
    items_started: Counter,
    late_items: Counter,
    downloads: Family<ResultLabel, Counter>,
    download_bytes: Counter,
    decode_failures: Family<KindLabel, Counter>,
    cache_bytes: Gauge,
    cache_budget_bytes: Gauge,
    unsent_plays: Gauge,
    gpu_adapter: Family<GpuLabels, Gauge>,
    video_decoder: Family<DecoderLabel, Gauge>,
    uptime: Gauge<f64, AtomicU64>,
}

/// Frame time buckets, in seconds: around the common refresh intervals (240, 120, 60, 30 Hz) and
/// the stalls worth seeing.
const FRAME_TIME_BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.004, 0.008, 0.0125, 0.0167, 0.025, 0.0334, 0.05, 0.1, 0.25, 1.0,
];

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn global() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let frame_time = Histogram::new(FRAME_TIME_BUCKETS);
        let frames = Counter::default();
        let missed_refreshes = Counter::default();
        let transition_gaps = Counter::default();
        let items_started = Counter::default();
        let late_items = Counter::default();
        let downloads = Family::<ResultLabel, Counter>::default();
        let download_bytes = Counter::default();
        let decode_failures = Family::<KindLabel, Counter>::default();
        let cache_bytes = Gauge::default();
        let cache_budget_bytes = Gauge::default();
        let unsent_plays = Gauge::default();
        let gpu_adapter = Family::<GpuLabels, Gauge>::default();
        let video_decoder = Family::<DecoderLabel, Gauge>::default();
        let uptime = Gauge::<f64, AtomicU64>::default();
        let build = Family::<VersionLabel, Gauge>::default();
        build
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        let player = registry.sub_registry_with_prefix("vitrine_player");
        player.register(
            "frame_time_seconds",
            "Time from the start of a frame's work to its presentation",
            frame_time.clone(),
        );
        player.register("frames", "Frames presented", frames.clone());
        player.register(
            "missed_refreshes",
            "Display refreshes missed while something moved on screen",
            missed_refreshes.clone(),
        );
        player.register(
            "transition_gaps",
            "Frames in which a zone was not fully covered",
            transition_gaps.clone(),
        );
        player.register(
            "items_started",
            "Playlist items whose first frame was presented",
            items_started.clone(),
        );
        player.register(
            "late_items",
            "Items whose first frame came more than one refresh from their scheduled start",
            late_items.clone(),
        );
        player.register(
            "downloads",
            "Media downloads from the scheduler, by result",
            downloads.clone(),
        );
        player.register(
            "download_bytes",
            "Bytes of media downloaded and verified",
            download_bytes.clone(),
        );
        player.register(
            "decode_failures",
            "Media that could not be decoded, by kind (image or video)",
            decode_failures.clone(),
        );
        player.register(
            "cache_bytes",
            "Bytes of verified media in the cache",
            cache_bytes.clone(),
        );
        player.register(
            "cache_budget_bytes",
            "The cache's disk budget (`[cache] disk_budget`), when one is set",
            cache_budget_bytes.clone(),
        );
        player.register(
            "unsent_plays",
            "Plays journalled but not yet acknowledged by HQ",
            unsent_plays.clone(),
        );
        player.register(
            "gpu_adapter_info",
            "The GPU adapter the player draws with",
            gpu_adapter.clone(),
        );
        player.register(
            "video_decoder_info",
            "The video decoder element the last video used",
            video_decoder.clone(),
        );
        player.register("build_info", "The player's version", build);
        player.register(
            "uptime_seconds",
            "Seconds since the player started",
            uptime.clone(),
        );
        Self {
            registry,
            started: Instant::now(),
            frame_time,
            frames,
            missed_refreshes,
            transition_gaps,
            items_started,
            late_items,
            downloads,
            download_bytes,
            decode_failures,
            cache_bytes,
            cache_budget_bytes,
            unsent_plays,
            gpu_adapter,
            video_decoder,
            uptime,
        }
    }

    /// One presented frame, as frame telemetry counted it.
    pub fn record_frame(&self, frame_time: Duration, frame: FrameCounts) {
        self.frame_time.observe(frame_time.as_secs_f64());
        self.frames.inc();
        self.missed_refreshes.inc_by(frame.missed_refreshes);
        if frame.gap {
            self.transition_gaps.inc();
        }
        self.items_started.inc_by(frame.items_started);
        self.late_items.inc_by(frame.late_items);
    }

    /// One media download finished: verified (`Ok` with its size) or failed.
    pub fn record_download(&self, verified_bytes: Option<u64>) {
        let result = if verified_bytes.is_some() {
            "ok"
        } else {
            "failed"
        };
        self.downloads.get_or_create(&ResultLabel { result }).inc();
        if let Some(bytes) = verified_bytes {
            self.download_bytes.inc_by(bytes);
        }
    }

    /// A picture (`image`) or a video (`video`) did not decode.
    pub fn record_decode_failure(&self, kind: &'static str) {
        self.decode_failures
            .get_or_create(&KindLabel { kind })
            .inc();
    }

    /// The GPU adapter the renderer uses.
    pub fn set_gpu(&self, gpu: &vitrine_core::GpuAdapter) {
        self.gpu_adapter.clear();
        self.gpu_adapter
            .get_or_create(&GpuLabels {
                name: gpu.name.clone(),
                backend: gpu.backend.clone(),
                driver: gpu.driver.clone(),
            })
            .set(1);
    }

    /// The video decoder element the last video used: the one series of `video_decoder_info`.
    pub fn set_video_decoder(&self, decoder: &str) {
        let label = DecoderLabel {
            decoder: decoder.to_owned(),
        };
        if self.video_decoder.get(&label).is_none() {
            self.video_decoder.clear();
            self.video_decoder.get_or_create(&label).set(1);
        }
    }

    /// The text exposition, with what lives on disk read from `data_dir` now.
    fn encode(&self, data_dir: &Path, disk_budget: Option<u64>) -> String {
        self.uptime.set(self.started.elapsed().as_secs_f64());
        match crate::cache::MediaCache::open(data_dir).and_then(|cache| cache.used_bytes()) {
            Ok(bytes) => {
                self.cache_bytes
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
            Err(error) => tracing::warn!("metrics: cannot read the cache's size: {error:#}"),
        }
        if let Some(budget) = disk_budget {
            self.cache_budget_bytes
                .set(i64::try_from(budget).unwrap_or(i64::MAX));
        }
        match crate::journal::Journal::open(data_dir).and_then(|journal| journal.unsent_count()) {
            Ok(unsent) => {
                self.unsent_plays
                    .set(i64::try_from(unsent).unwrap_or(i64::MAX));
            }
            Err(error) => tracing::warn!("metrics: cannot read the journal: {error:#}"),
        }
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!("metrics: cannot encode: {error}");
        }
        text
    }
}

/// What one frame added to the telemetry's totals.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameCounts {
    pub missed_refreshes: u64,
    pub gap: bool,
    pub items_started: u64,
    pub late_items: u64,
}

/// Where the listener listens, and where the setting came from (for its errors).
#[derive(Clone, Debug)]
pub struct Listen {
    pub address: SocketAddr,
    /// The config file that set `[metrics] listen`, if a file did (a flag may have).
    pub config_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub disk_budget: Option<u64>,
}

/// Binds `listen.address` now (so a mistake stops the start with a clear error) and serves
/// `GET /metrics` from a thread of its own. Prints the bound address, which tells the port when
/// the setting asked for port 0.
pub fn serve(listen: Listen) -> anyhow::Result<SocketAddr> {
    let origin = match &listen.config_file {
        Some(path) => format!(
            "`[metrics] listen` in {} (or --metrics-listen)",
            path.display()
        ),
        None => "--metrics-listen".to_owned(),
    };
    let listener = std::net::TcpListener::bind(listen.address).with_context(|| {
        format!(
            "cannot listen for metrics on {} as {origin} asks; choose a free address and port, \
             or remove the setting to turn the metrics listener off",
            listen.address
        )
    })?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("vitrine-metrics".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::error!("metrics listener failed: {error}");
                        return;
                    }
                };
                let data_dir = listen.data_dir.clone();
                let disk_budget = listen.disk_budget;
                let router = axum::Router::new().route(
                    "/metrics",
                    axum::routing::get(move || {
                        let data_dir = data_dir.clone();
                        async move {
                            let text = global().encode(&data_dir, disk_budget);
                            (
                                [(
                                    axum::http::header::CONTENT_TYPE,
                                    "text/plain; version=0.0.4; charset=utf-8",
                                )],
                                text,
                            )
                        }
                    }),
                );
                if let Err(error) = axum::serve(listener, router).await {
                    tracing::error!("metrics listener failed: {error}");
                }
            });
        })?;
    tracing::info!(address = %bound, "metrics listener started");
    println!("vitrine-player: metrics on http://{bound}/metrics");
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_follow_prometheus_naming() {
        let data = tempfile::tempdir().unwrap();
        let metrics = Metrics::new();
        metrics.record_frame(
            Duration::from_millis(5),
            FrameCounts {
                missed_refreshes: 2,
                gap: true,
                items_started: 1,
                late_items: 0,
            },
        );
        metrics.record_download(Some(100));
        metrics.record_download(None);
        let text = metrics.encode(data.path(), Some(1000));
        for line in [
            "# TYPE vitrine_player_frame_time_seconds histogram",
            "vitrine_player_frame_time_seconds_bucket{le=\"0.008\"} 1",
            "vitrine_player_frame_time_seconds_bucket{le=\"0.004\"} 0",
            "vitrine_player_frames_total 1",
            "vitrine_player_missed_refreshes_total 2",
            "vitrine_player_transition_gaps_total 1",
            "vitrine_player_items_started_total 1",
            "vitrine_player_downloads_total{result=\"ok\"} 1",
            "vitrine_player_downloads_total{result=\"failed\"} 1",
            "vitrine_player_download_bytes_total 100",
            "vitrine_player_cache_budget_bytes 1000",
            "vitrine_player_unsent_plays 0",
            "vitrine_player_cache_bytes 0",
            "vitrine_player_build_info{version=\"",
        ] {
            assert!(text.contains(line), "`{line}` missing from:\n{text}");
        }
    }
}
