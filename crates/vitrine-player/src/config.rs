//! The player's configuration: a TOML file an installer writes once, with command-line flags on top.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

/// Everything the player needs to run. Built from `player.toml` and then the command line.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlayerConfig {
    /// The scheduler's base URL, e.g. `http://hq.example:8080`. Without one the player plays what it
    /// has cached (or the splash) and does not sync.
    pub server: Option<String>,
    /// This screen's device token, from `vitrine screens add`. Without one (and with a
    /// `server`) the player pairs: it shows a code to confirm with `vitrine screens pair CODE`.
    pub token: Option<String>,
    /// The scheduler's manifest-signing key (64 hex characters, printed by `vitrine screens
    /// add`). Without it, pairing brings it, or the first key the scheduler presents is trusted.
    pub server_key: Option<String>,
    /// This screen's name at HQ, as `vitrine screens add` registered it. The player refuses a
    /// manifest or a pushed event made for another screen. Without it, pairing brings it, or the
    /// first manifest the player activates names it.
    pub screen: Option<String>,
    /// A PEM CA certificate to trust, for an https scheduler whose certificate a private CA
    /// signed (the system's roots are trusted too).
    pub ca_cert: Option<PathBuf>,
    /// Where the cache, the journal and the manifest live.
    pub data_dir: PathBuf,
    /// Render offscreen instead of opening a window.
    pub headless: bool,
    /// Offscreen size, and the window size on a display that reports no monitor.
    pub width: u32,
    pub height: u32,
    /// Frames per second of the headless renderer.
    pub headless_fps: u32,
    /// Headless only: write a PNG of the frame every `frame_interval` into this folder.
    pub frames_dir: Option<PathBuf>,
    #[serde(with = "humantime_like")]
    pub frame_interval: Duration,
    /// How often to ask the scheduler for a new manifest.
    #[serde(with = "humantime_like")]
    pub poll_interval: Duration,
    /// How often to upload proof of play.
    #[serde(with = "humantime_like")]
    pub upload_interval: Duration,
    /// Keep the scheduler's event stream (`/v1/events`) open, so pushed changes, interrupts and
    /// triggers arrive in seconds. Without it, changes arrive at the next poll.
    pub push: bool,
    /// The longest a retry waits while the scheduler is unreachable: event stream reconnects and
    /// manifest polls back off with jitter up to this.
    #[serde(with = "humantime_like")]
    pub backoff_max: Duration,
    /// Stop after this long (tests, benchmarks); `None` runs until SIGTERM or Ctrl-C.
    #[serde(with = "humantime_like_option")]
    pub run_for: Option<Duration>,
    /// How the screen is mounted, clockwise: 0, 90, 180 or 270 degrees.
    pub rotation: u32,
    /// Which monitor the window goes on: `primary`, an index from 0, or a name like `HDMI-1`.
    pub monitor: String,
    /// Draw frame statistics in the top-left corner.
    pub show_stats: bool,
    /// At exit, write the frame telemetry here as JSON: the summary, every frame's time and
    /// every item's first-frame offset from its scheduled start (for `cargo xtask bench`).
    pub stats_file: Option<PathBuf>,
    /// How often to tell HQ what plays and how well it draws.
    #[serde(with = "humantime_like")]
    pub heartbeat_interval: Duration,
    /// Standalone mode: play this folder's `playlist.yaml` (or this YAML file) with no scheduler,
    /// reloading it whenever it is saved.
    pub playlist: Option<PathBuf>,
    /// The `[video]` section: how video items are decoded.
    pub video: VideoConfig,
    /// The `[audio]` section: where sound goes (`default`, `null`, `file:/out.wav` or an ALSA
    /// device as `aplay -L` lists it), the master volume and the crossfade between tracks.
    pub audio: crate::audio::AudioConfig,
    /// The `[cache]` section: disk budget, downloads, the pinned fallback.
    pub cache: CacheConfig,
    /// The `[journal]` section: when unsent proof of play raises an alert.
    pub journal: JournalConfig,
    /// The `[metrics]` section: the local Prometheus listener, off unless `listen` is set.
    pub metrics: MetricsConfig,
    /// The `[display]` section: where the display's power state is read for proof of play.
    pub display: DisplayConfig,
    /// The file this configuration was read from, for errors about its settings.
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
    /// Block the render loop forever after this long (`--simulate-hang-after`), to check that a
    /// watchdog restarts the player.
    #[serde(skip)]
    pub simulate_hang_after: Option<Duration>,
}

/// The `[cache]` section of the player config.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// The most bytes the media cache may hold. Files that neither the playing nor the incoming
    /// manifest uses are evicted, least recently used first, to make room; `None` means no limit.
    pub disk_budget: Option<u64>,
    /// How many files download at once.
    pub parallel_downloads: usize,
    /// The most bytes per second all downloads together may take; `None` means no cap.
    pub bandwidth_limit: Option<u64>,
    /// An image shown when nothing else can play (before the first manifest, when the clock is
    /// unknown); copied into the cache and never evicted. Without it the built-in splash shows.
    pub fallback: Option<PathBuf>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            disk_budget: None,
            parallel_downloads: 3,
            bandwidth_limit: None,
            fallback: None,
        }
    }
}

/// The `[journal]` section of the player config.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// Past this many unsent plays the player raises an alert (log and heartbeat); it keeps
    /// every play regardless.
    pub alert_rows: u64,
    /// Past this many bytes of unsent plays, likewise.
    pub alert_bytes: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        let limit = crate::journal::BacklogLimit::default();
        Self {
            alert_rows: limit.rows,
            alert_bytes: limit.bytes,
        }
    }
}

/// The `[metrics]` section of the player config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve Prometheus metrics at `http://ADDRESS/metrics`, e.g. `127.0.0.1:9464`; off when
    /// unset. Port 0 takes a free port (printed at start-up).
    #[serde(deserialize_with = "listen_address")]
    pub listen: Option<std::net::SocketAddr>,
}

/// The `[display]` section of the player config.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisplayConfig {
    /// The kernel's DRM directory, whose connectors (`card0-HDMI-A-1/status`, `dpms`, `enabled`)
    /// say whether the display is on: every play records it (see [`crate::display_power`]). A
    /// machine without one records `unknown`. Tests point it at a folder laid out the same way.
    pub drm_dir: PathBuf,
}

impl Default for DisplayConfig {
    fn default() -> Self {
        Self {
            drm_dir: PathBuf::from(crate::display_power::DEFAULT_DRM_DIR),
        }
    }
}

/// The `[video]` section of the player config.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VideoConfig {
    /// `auto` (GStreamer's ranking: a hardware decoder such as VA-API or V4L2 when present),
    /// `software` (never a hardware decoder), or the name of a decoder element to prefer, as
    /// `gst-inspect-1.0` lists it (`vah264dec`, `avdec_h264`).
    pub decoder: String,
}

impl Default for VideoConfig {
    fn default() -> Self {
        Self {
            decoder: "auto".into(),
        }
    }
}

impl Default for PlayerConfig {
    fn default() -> Self {
        Self {
            server: None,
            token: None,
            server_key: None,
            screen: None,
            ca_cert: None,
            data_dir: PathBuf::from("/var/lib/vitrine-player"),
            headless: false,
            width: 1920,
            height: 1080,
            headless_fps: 30,
            frames_dir: None,
            frame_interval: Duration::from_secs(1),
            poll_interval: Duration::from_secs(10),
            upload_interval: Duration::from_secs(10),
            push: true,
            backoff_max: Duration::from_secs(30),
            run_for: None,
            rotation: 0,
            monitor: "primary".into(),
            show_stats: false,
            stats_file: None,
            heartbeat_interval: Duration::from_secs(60),
            playlist: None,
            video: VideoConfig::default(),
            audio: crate::audio::AudioConfig::default(),
            cache: CacheConfig::default(),
            journal: JournalConfig::default(),
            metrics: MetricsConfig::default(),
            display: DisplayConfig::default(),
            config_file: None,
            simulate_hang_after: None,
        }
    }
}

impl PlayerConfig {
    /// Reads a config file; every problem names the file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read player config {}", path.display()))?;
        let mut config: Self = toml::from_str(&text)
            .with_context(|| format!("invalid player config {}", path.display()))?;
        config.config_file = Some(path.to_owned());
        Ok(config)
    }

    /// The key offer cards' QR codes are signed with: the sha256 of the device token, which the
    /// scheduler keeps (and only that) to check them.
    pub fn qr_key(&self) -> Option<[u8; 32]> {
        use sha2::Digest;
        self.token
            .as_ref()
            .map(|token| sha2::Sha256::digest(token.as_bytes()).into())
    }

    /// How video plays: the `[video] decoder` choice, and the sound output.
    pub fn video_settings(&self) -> crate::video::VideoSettings {
        crate::video::VideoSettings {
            decoder: crate::video::DecoderChoice::parse(&self.video.decoder),
            audio: crate::video::AudioOutput::parse(&self.audio.device),
            master_volume: f64::from(self.audio.volume.fraction()),
        }
    }

    /// Checks the combination of settings before anything starts.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.token.is_some() && self.server.is_none() {
            anyhow::bail!(
                "`token` needs a `server`: set both to sync with a scheduler, only `server` to \
                 pair this screen, or neither to play the cache"
            );
        }
        if let Some(key) = &self.server_key {
            crate::pairing::parse_key(key)?;
        }
        if self.width == 0 || self.height == 0 || self.width > 8192 || self.height > 8192 {
            anyhow::bail!(
                "screen size {}x{} is out of range (1..=8192 on each side)",
                self.width,
                self.height
            );
        }
        if crate::render::Rotation::from_degrees(self.rotation).is_none() {
            anyhow::bail!(
                "rotation {} is not one of 0, 90, 180 or 270 (degrees, clockwise)",
                self.rotation
            );
        }
        if self.playlist.is_some() && self.server.is_some() {
            anyhow::bail!(
                "`playlist` (standalone mode) and `server` exclude each other: a standalone player \
                 plays its local folder, a managed one what the scheduler sends"
            );
        }
        if !(1..=16).contains(&self.cache.parallel_downloads) {
            anyhow::bail!(
                "[cache] parallel_downloads {} is out of range (1..=16)",
                self.cache.parallel_downloads
            );
        }
        if self.cache.bandwidth_limit == Some(0) {
            anyhow::bail!(
                "[cache] bandwidth_limit 0 would stop every download; leave it out for no cap"
            );
        }
        if self.display.drm_dir.as_os_str().is_empty() {
            anyhow::bail!(
                "[display] drm_dir is empty; leave it out for {}",
                crate::display_power::DEFAULT_DRM_DIR
            );
        }
        if self.headless_fps == 0 || self.headless_fps > 240 {
            anyhow::bail!(
                "headless_fps {} is out of range (1..=240)",
                self.headless_fps
            );
        }
        Ok(())
    }
}

/// Parses durations written like the playlist's (`10s`, `500ms`) for the config file and the flags.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    vitrine_core::ItemDuration::parse(text)
        .map(|duration| duration.as_std())
        .map_err(|error| error.to_string())
}

mod humantime_like {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// `[metrics] listen`: an IP address and a port.
fn listen_address<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "`[metrics] listen` should be an IP address and a port, like \"127.0.0.1:9464\" (only \
             this machine) or \"0.0.0.0:9464\" (every interface); `{text}` is not"
        ))
    })
}

mod humantime_like_option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_duration(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_listener_is_off_unless_an_address_is_given() {
        assert_eq!(PlayerConfig::default().metrics.listen, None);
        let config: PlayerConfig =
            toml::from_str("[metrics]\nlisten = \"127.0.0.1:9464\"\n").unwrap();
        assert_eq!(
            config.metrics.listen,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        let error = toml::from_str::<PlayerConfig>("[metrics]\nlisten = \"localhost\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(
            error.contains(
                "`[metrics] listen` should be an IP address and a port, like \"127.0.0.1:9464\""
            ),
            "{error}"
        );
    }

    #[test]
    fn reads_a_config_file() {
        let config: PlayerConfig = toml::from_str(
            "server = \"http://127.0.0.1:8080\"\ntoken = \"abc\"\ndata_dir = \"/tmp/v\"\npoll_interval = \"2s\"\n",
        )
        .unwrap();
        assert_eq!(config.poll_interval, Duration::from_secs(2));
        assert_eq!(config.upload_interval, Duration::from_secs(10));
        config.validate().unwrap();
    }

    #[test]
    fn the_video_section_names_the_decoder_and_sound_follows_the_audio_device() {
        let config: PlayerConfig =
            toml::from_str("[video]\ndecoder = \"software\"\n[audio]\ndevice = \"null\"\n")
                .unwrap();
        let video = config.video_settings();
        assert_eq!(video.decoder, crate::video::DecoderChoice::Software);
        assert_eq!(video.audio, crate::video::AudioOutput::Null);
        assert_eq!(
            PlayerConfig::default().video_settings().decoder,
            crate::video::DecoderChoice::Auto
        );
        let error = toml::from_str::<PlayerConfig>("[video]\ndecodr = \"auto\"\n").unwrap_err();
        assert!(
            error.to_string().contains("unknown field `decodr`"),
            "{error}"
        );
    }

    #[test]
    fn refuses_unknown_keys_and_half_configured_servers() {
        let error = toml::from_str::<PlayerConfig>("sever = \"x\"\n").unwrap_err();
        assert!(
            error.to_string().contains("unknown field `sever`"),
            "{error}"
        );
        let config = PlayerConfig {
            token: Some("abc".into()),
            ..PlayerConfig::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("needs a `server`")
        );
        // A server without a token pairs; a malformed key is refused before anything starts.
        let pairing = PlayerConfig {
            server: Some("http://x".into()),
            ..PlayerConfig::default()
        };
        pairing.validate().unwrap();
        let bad_key = PlayerConfig {
            server_key: Some("abcd".into()),
            ..pairing
        };
        assert!(
            bad_key
                .validate()
                .unwrap_err()
                .to_string()
                .contains("64 hex")
        );
    }

    #[test]
    fn the_example_config_documents_the_cache_and_journal_sections() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/player.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let config: PlayerConfig = toml::from_str(&text).unwrap();
        assert_eq!(config.cache, CacheConfig::default());
        assert_eq!(config.journal, JournalConfig::default());
        assert_eq!(config.display, DisplayConfig::default());
        assert!(
            text.contains("\n[display]\ndrm_dir = \"/sys/class/drm\"\n"),
            "the example names the display section's default"
        );
        // The metrics listener stays off until its line is uncommented, and then reads as given.
        assert_eq!(config.metrics, MetricsConfig::default());
        let uncommented = text.replace("# listen = ", "listen = ");
        let listening: PlayerConfig = toml::from_str(&uncommented).unwrap();
        assert_eq!(
            listening.metrics.listen,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        config.validate().unwrap();
        let bad: PlayerConfig = toml::from_str("[cache]\nparallel_downloads = 0\n").unwrap();
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("parallel_downloads")
        );
    }

    #[test]
    fn the_display_section_names_where_drm_connectors_are_read() {
        assert_eq!(
            PlayerConfig::default().display.drm_dir,
            PathBuf::from("/sys/class/drm")
        );
        let config: PlayerConfig =
            toml::from_str("[display]\ndrm_dir = \"/tmp/fake-drm\"\n").unwrap();
        assert_eq!(config.display.drm_dir, PathBuf::from("/tmp/fake-drm"));
        config.validate().unwrap();
        let empty: PlayerConfig = toml::from_str("[display]\ndrm_dir = \"\"\n").unwrap();
        let error = empty.validate().unwrap_err().to_string();
        assert!(error.contains("[display] drm_dir"), "{error}");
        let error = toml::from_str::<PlayerConfig>("[display]\ndrm = \"/x\"\n").unwrap_err();
        assert!(error.to_string().contains("unknown field `drm`"), "{error}");
    }
}
