//! Sound for audio items: background music and jingles in audio-only zones.
//!
//! symphonia decodes the files (MP3, AAC in MP4/M4A, FLAC, Ogg Vorbis, WAV) on the audio thread,
//! rubato resamples them when the output runs at another rate, the mixer plays each zone's track
//! at the item's volume times the zone's, crossfading with equal power between tracks, and a sink
//! takes the result: an ALSA device through cpal, the null sink (no sound card) or a WAV file
//! (tests). [`AudioTimeline`] drives it from the schedule and makes the impressions.
//!
//! Video soundtracks do not come through here: GStreamer plays them with their pictures, on the
//! same `[audio] device`.

pub mod decode;
pub mod engine;
pub mod mixer;
pub mod sink;
pub mod source;
pub mod timeline;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use vitrine_core::timing::Percent;

pub use engine::{AudioEngine, AudioReport, PlayRequest};
pub use sink::{AudioSink, DeviceChoice};
pub use timeline::AudioTimeline;

/// Why a track cannot play, or a device cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("cannot open audio file {path}: {error}")]
    Open { path: PathBuf, error: String },
    #[error(
        "audio file {path} is not audio this player reads ({error}); use MP3, AAC/M4A, FLAC, Ogg \
         Vorbis or WAV"
    )]
    Unreadable { path: PathBuf, error: String },
    #[error("audio decoding failed: {0}")]
    Decode(String),
    #[error("cannot open audio device `{device}`: {error}")]
    Device { device: String, error: String },
}

/// The `[audio]` section of the player config.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioConfig {
    /// Where sound goes: `default` (the system's output), `null` (no sound card: samples are
    /// consumed in real time), `file:/path/to/out.wav`, or an ALSA device as `aplay -L` names it,
    /// like `hw:0,0` or `plughw:CARD=PCH,DEV=3`. Video soundtracks use the same device.
    pub device: String,
    /// The master volume, `0%` to `100%`, over every zone's and item's own.
    #[serde(deserialize_with = "percent")]
    pub volume: Percent,
    /// How long consecutive tracks crossfade when their item's transition is `cut`; `0s` for hard
    /// cuts.
    #[serde(deserialize_with = "duration")]
    pub crossfade: Duration,
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self {
            device: "default".into(),
            volume: Percent::HUNDRED,
            crossfade: Duration::from_secs(1),
        }
    }
}

impl AudioConfig {
    pub fn device_choice(&self) -> DeviceChoice {
        DeviceChoice::parse(&self.device)
    }
}

fn percent<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Percent, D::Error> {
    let text = String::deserialize(deserializer)?;
    Percent::parse(&text).map_err(serde::de::Error::custom)
}

fn duration<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim() == "0s" || text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    crate::config::parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_audio_section() {
        let config: AudioConfig = toml::from_str(
            "device = \"file:/tmp/out.wav\"\nvolume = \"40%\"\ncrossfade = \"0s\"\n",
        )
        .unwrap();
        assert_eq!(
            config.device_choice(),
            DeviceChoice::File(PathBuf::from("/tmp/out.wav"))
        );
        assert_eq!(config.volume, Percent::from_hundredths(4_000));
        assert_eq!(config.crossfade, Duration::ZERO);
        let defaults: AudioConfig = toml::from_str("").unwrap();
        assert_eq!(defaults, AudioConfig::default());
        assert_eq!(defaults.device_choice(), DeviceChoice::Default);
        assert_eq!(
            DeviceChoice::parse("plughw:CARD=PCH,DEV=3"),
            DeviceChoice::Alsa("plughw:CARD=PCH,DEV=3".into())
        );
        assert_eq!(DeviceChoice::parse("null"), DeviceChoice::Null);
        let error = toml::from_str::<AudioConfig>("volume = \"loud\"\n").unwrap_err();
        assert!(
            error.to_string().contains("cannot read percentage"),
            "{error}"
        );
    }

    #[test]
    fn the_example_config_sets_every_audio_key() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/player.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let config: crate::config::PlayerConfig = toml::from_str(&text).unwrap();
        assert_eq!(config.audio, AudioConfig::default());
        let section = text.split("[audio]").nth(1).unwrap();
        for key in ["device", "volume", "crossfade"] {
            assert!(section.contains(&format!("\n{key} = ")), "{key}");
        }
    }
}
