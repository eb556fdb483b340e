//! What the player knows about itself, shared between the render loop (which fills in what plays and
//! how well it draws) and the network thread (which sends it to HQ as a heartbeat).

use std::sync::{Arc, Mutex};

use vitrine_core::{ActiveInterrupt, FrameStats, GpuAdapter, Heartbeat, SystemInfo, ZoneShowing};

use crate::telemetry::TelemetrySummary;

/// The render loop's side of the heartbeat.
#[derive(Clone, Debug, Default)]
pub struct RenderStatus {
    pub playlist: Option<String>,
    pub playlist_version: Option<u64>,
    /// The version of the manifest on screen.
    pub manifest_version: Option<u64>,
    pub frames: Option<FrameStats>,
    /// The interrupt covering the screen, if one does.
    pub interrupt: Option<ActiveInterrupt>,
    /// The item each visual zone shows while no interrupt covers the screen.
    pub showing: Vec<ZoneShowing>,
    /// What HQ should fix about what the screen plays (a playlist for the other orientation).
    pub alerts: Vec<String>,
    /// The GPU adapter the renderer draws with.
    pub gpu: Option<GpuAdapter>,
    /// The video decoder element the last video used.
    pub video_decoder: Option<String>,
}

/// Shared between threads; each side holds the lock only to copy a few fields.
pub type SharedStatus = Arc<Mutex<RenderStatus>>;

impl RenderStatus {
    /// A heartbeat with the network thread's own facts added.
    pub fn heartbeat(
        &self,
        manifest_etag: Option<String>,
        uptime_s: u64,
        unsent_impressions: u64,
    ) -> Heartbeat {
        Heartbeat {
            playlist: self.playlist.clone(),
            playlist_version: self.playlist_version,
            manifest_etag,
            manifest_version: self.manifest_version,
            uptime_s,
            unsent_impressions,
            frames: self.frames.clone(),
            interrupt: self.interrupt.clone(),
            showing: self.showing.clone(),
            alerts: self.alerts.clone(),
            system: Some(SystemInfo {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                os: HOST.0.clone(),
                kernel: HOST.1.clone(),
                gpu: self.gpu.clone(),
                video_decoder: self.video_decoder.clone(),
            }),
            ..Heartbeat::default()
        }
    }
}

/// The OS's name and the kernel release, read once.
static HOST: std::sync::LazyLock<(Option<String>, Option<String>)> =
    std::sync::LazyLock::new(|| {
        let os = std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .ok()
            .and_then(|text| pretty_name(&text));
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|release| release.trim().to_owned())
            .filter(|release| !release.is_empty());
        (os, kernel)
    });

/// `PRETTY_NAME` from an os-release file (os-release(5)), its quotes removed.
fn pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.trim().strip_prefix("PRETTY_NAME=")?;
        let value = value
            .strip_prefix('"')
            .and_then(|value| value.strip_suffix('"'))
            .or_else(|| {
                value
                    .strip_prefix('\'')
                    .and_then(|value| value.strip_suffix('\''))
            })
            .unwrap_or(value);
        Some(value.replace("\\\"", "\"")).filter(|value| !value.is_empty())
    })
}

impl From<&TelemetrySummary> for FrameStats {
    fn from(summary: &TelemetrySummary) -> Self {
        Self {
            frames: summary.frames,
            refresh_ms: summary.refresh_ms,
            frame_time_p50_ms: summary.frame_time_p50_ms,
            frame_time_p99_ms: summary.frame_time_p99_ms,
            frame_time_max_ms: summary.frame_time_max_ms,
            missed_refreshes: summary.missed_refreshes,
            transition_gaps: summary.transition_gaps,
            items_started: summary.items_started,
            late_items: summary.late_items,
            first_frame_latency_p50_ms: summary.first_frame_latency_p50_ms,
            first_frame_latency_max_ms: summary.first_frame_latency_max_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heartbeat_carries_the_interrupt_and_the_items_on_screen() {
        let status = RenderStatus {
            playlist: Some("lobby".into()),
            playlist_version: Some(2),
            interrupt: Some(ActiveInterrupt {
                id: 41,
                message: "Leave by the main exit".into(),
                until: "2026-12-04T10:05:00Z".parse().unwrap(),
            }),
            showing: vec![ZoneShowing {
                zone: "main".into(),
                item: "promo".into(),
            }],
            alerts: vec!["playlist `tall` is written for portrait screens".into()],
            ..RenderStatus::default()
        };
        let heartbeat = status.heartbeat(None, 60, 0);
        assert_eq!(heartbeat.interrupt, status.interrupt);
        assert_eq!(heartbeat.showing, status.showing);
        assert_eq!(heartbeat.alerts, status.alerts);
        // And they travel: what the scheduler stores reads back the same.
        let json = serde_json::to_string(&heartbeat).unwrap();
        assert_eq!(serde_json::from_str::<Heartbeat>(&json).unwrap(), heartbeat);
    }

    #[test]
    fn the_heartbeat_says_what_the_screen_runs_on() {
        let status = RenderStatus {
            gpu: Some(GpuAdapter {
                name: "llvmpipe".into(),
                backend: "vulkan".into(),
                driver: "llvmpipe Mesa 22.3.6".into(),
            }),
            video_decoder: Some("avdec_h264".into()),
            ..RenderStatus::default()
        };
        let system = status.heartbeat(None, 1, 0).system.expect("always sent");
        assert_eq!(system.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(system.gpu, status.gpu);
        assert_eq!(system.video_decoder.as_deref(), Some("avdec_h264"));
    }

    #[test]
    fn the_os_is_named_as_os_release_says() {
        let debian = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
        assert_eq!(
            pretty_name(debian).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(pretty_name("PRETTY_NAME=Arch\n").as_deref(), Some("Arch"));
        assert_eq!(pretty_name("ID=debian\n"), None);
    }
}
