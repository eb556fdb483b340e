//! The heartbeat: what a player tells HQ about itself every minute — what it plays, how well it
//! draws, and how much proof of play waits to be sent — so the fleet view sees a screen that
//! stutters or falls behind before a store calls.

use serde::{Deserialize, Serialize};

/// One report from a screen. The scheduler keeps the newest per screen.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The playlist and version on screen, and the manifest's ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playlist: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playlist_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_etag: Option<String>,
    /// The version of the manifest on screen, to set against the newest HQ built for it: a push
    /// that has not arrived shows as an older number (players before this field send none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_version: Option<u64>,
    /// Seconds since the player started.
    pub uptime_s: u64,
    /// Plays journalled but not yet acknowledged by HQ.
    pub unsent_impressions: u64,
    /// The renderer's telemetry, once it has drawn frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<FrameStats>,
    /// How far the player trusts its clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<crate::ClockState>,
    /// What needs someone's attention, each saying what is wrong and what to do (proof of play
    /// piling up unsent, media that does not fit the disk budget).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
    /// Why the player gets no content from HQ, in the words its screen shows when it has nothing
    /// else to play ("Cannot reach hq.example:443: connection refused", "No playlist is assigned
    /// to this screen, or it has not been pushed yet"); cached content may still be playing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The emergency message from HQ covering the screen, if one does: while it shows, what the
    /// playlist would play is not on screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt: Option<ActiveInterrupt>,
    /// The item each visual zone shows, in drawing order (empty while an interrupt covers the
    /// screen or nothing is ready yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub showing: Vec<ZoneShowing>,
    /// What the screen runs on: the player's version, the OS, the GPU and the video decoder
    /// (players before this field was added send none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemInfo>,
}

/// What a screen runs on, for the fleet view: which version to upgrade, which driver stutters.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemInfo {
    /// The player's version, e.g. `0.1.0`.
    pub version: String,
    /// The operating system as `/etc/os-release` names it, e.g. `Debian GNU/Linux 12 (bookworm)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// The kernel release, e.g. `6.1.0-18-amd64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// The GPU adapter the player draws with, once the renderer has started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuAdapter>,
    /// The GStreamer video decoder element the last video used (`avdec_h264`, `vah264dec`); none
    /// before the first video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_decoder: Option<String>,
}

/// A GPU adapter, as the graphics API describes it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuAdapter {
    /// e.g. `AMD Radeon Graphics (RADV RENOIR)` or `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// `vulkan`, `gl`…
    pub backend: String,
    /// The driver and its version, e.g. `radv Mesa 22.3.6`; empty when the driver does not say.
    #[serde(default)]
    pub driver: String,
}

impl SystemInfo {
    /// One line for people: `0.1.0 on Debian GNU/Linux 12 (bookworm), kernel 6.1.0-18-amd64, GPU
    /// llvmpipe (vulkan, llvmpipe Mesa 22.3.6), video decoder avdec_h264`.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} on {}",
            self.version,
            self.os.as_deref().unwrap_or("an unknown OS")
        );
        if let Some(kernel) = &self.kernel {
            line.push_str(&format!(", kernel {kernel}"));
        }
        match &self.gpu {
            Some(gpu) if gpu.driver.is_empty() => {
                line.push_str(&format!(", GPU {} ({})", gpu.name, gpu.backend));
            }
            Some(gpu) => {
                line.push_str(&format!(
                    ", GPU {} ({}, {})",
                    gpu.name, gpu.backend, gpu.driver
                ));
            }
            None => {}
        }
        line.push_str(&format!(
            ", video decoder {}",
            self.video_decoder.as_deref().unwrap_or("none yet")
        ));
        line
    }
}

/// An interrupt on screen, as the player received it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveInterrupt {
    /// Its id on the push channel: what `vitrine interrupt cancel` takes.
    pub id: u64,
    pub message: String,
    pub until: jiff::Timestamp,
}

/// What one zone shows.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneShowing {
    pub zone: String,
    /// The item's id in the playlist.
    pub item: String,
}

/// Frame telemetry as the renderer measures it: totals since start, percentiles over the last
/// minute.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameStats {
    pub frames: u64,
    pub refresh_ms: f64,
    pub frame_time_p50_ms: f64,
    pub frame_time_p99_ms: f64,
    pub frame_time_max_ms: f64,
    /// Refreshes missed while something moved on screen.
    pub missed_refreshes: u64,
    /// Frames in which a zone was not fully covered.
    pub transition_gaps: u64,
    pub items_started: u64,
    /// Items whose first frame came more than one refresh after their start.
    pub late_items: u64,
    pub first_frame_latency_p50_ms: f64,
    pub first_frame_latency_max_ms: f64,
}
