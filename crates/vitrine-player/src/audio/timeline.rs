//! The audio side of the playback timeline: for every audio-only zone it asks the one schedule
//! engine what plays, tells the audio engine at each item change (track, position in the item's
//! turn, volume, crossfade), and makes one impression per play that was heard.
//!
//! A track starts from where the item's turn is (`now - scheduled_start`), so a player that starts
//! or restarts mid-turn rejoins the music where every other screen is. A track shorter than its
//! item loops; a longer one is cut by the next item's crossfade. A file that cannot be decoded is
//! skipped (the zone is silent until its next item) and never counted as played; one that fails
//! midway counts for what was heard, as not completed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use uuid::Uuid;
use vitrine_core::playlist::{Content, Transition};
use vitrine_core::schedule::Schedule;
use vitrine_core::{ClockState, DisplayPower, Impression, Manifest, Sha256Hex};

use super::AudioConfig;
use super::engine::{AudioEngine, AudioReport, PlayRequest};
use crate::cache::media_path;

/// A play the audio engine was asked for.
#[derive(Clone, Debug)]
struct Sounding {
    play_id: u64,
    /// The manifest version, the rule, the item and its turn's start: what makes a play new.
    play_key: (u64, usize, usize, Timestamp),
    zone: String,
    item_id: String,
    sha256: Sha256Hex,
    scheduled_start: Timestamp,
    scheduled_end: Timestamp,
    /// When its first sample went out; `None` until the engine says so.
    started_at: Option<Timestamp>,
    /// When it failed, if it did.
    failed_at: Option<Timestamp>,
    playlist: String,
    playlist_version: u64,
    screen: String,
    clock: ClockState,
    /// The display's power state when the play was asked for.
    display: DisplayPower,
    /// The HQ campaign that put the item on the zone, when its rule is `campaign:NAME`.
    campaign: Option<String>,
    /// The version of the manifest the play came from.
    manifest_version: u64,
}

struct ActiveAudio {
    manifest: Arc<Manifest>,
    schedule: Schedule,
    /// Audio-only zones in the order written, with what each plays.
    zones: Vec<(String, Option<Sounding>)>,
}

/// Drives the audio engine from the schedule.
pub struct AudioTimeline {
    config: AudioConfig,
    /// Started with the first playlist that has an audio-only zone, so a player without music
    /// never opens a sound device.
    engine: Option<AudioEngine>,
    media_dir: PathBuf,
    /// The crossfade between tracks whose item says `cut`.
    default_crossfade: Duration,
    active: Option<ActiveAudio>,
    next_play_id: u64,
    finished: Vec<Impression>,
    clock: ClockState,
    /// Whether the display is on, as the player last read it: audio plays record it as pictures do.
    display: DisplayPower,
    /// An interrupt from HQ silences the music until then.
    silenced_until: Option<Timestamp>,
    /// How late after its turn's start a track may first be heard and still complete the turn.
    start_tolerance: jiff::SignedDuration,
}

/// What a track's start may lag its turn's start by besides the render loop's tick (one refresh):
/// one mixing block and the sink's queue. A player that joins a turn already under way is seconds
/// late, and that play is a glimpse, not a completed one.
const ENGINE_LATENCY: Duration = Duration::from_millis(160);

/// The refresh interval assumed until the player says what its display has.
const DEFAULT_REFRESH: Duration = Duration::from_nanos(16_666_667);

impl AudioTimeline {
    pub fn new(config: AudioConfig, media_dir: PathBuf) -> Self {
        Self {
            default_crossfade: config.crossfade,
            config,
            engine: None,
            media_dir,
            active: None,
            next_play_id: 1,
            finished: Vec::new(),
            clock: ClockState::Synced,
            display: DisplayPower::Unknown,
            silenced_until: None,
            start_tolerance: tolerance_for(DEFAULT_REFRESH),
        }
    }

    /// The refresh interval of the loop that ticks the timeline (the display's).
    pub fn set_refresh(&mut self, refresh: Duration) {
        self.start_tolerance = tolerance_for(refresh);
    }

    /// How far the clock is trusted from now on; impressions record it.
    pub fn set_clock(&mut self, clock: ClockState) {
        self.clock = clock;
    }

    /// Whether the display is on from now on (see [`crate::display_power`]); impressions record
    /// the worst of a play's start and end.
    pub fn set_display(&mut self, display: DisplayPower) {
        self.display = display;
    }

    /// Switches to a new manifest. Zones that keep their name keep their track until the schedule
    /// says otherwise; a new playlist version is a new play, as for pictures.
    pub fn activate(&mut self, manifest: Arc<Manifest>, now: Timestamp) {
        let schedule = match manifest.schedule() {
            Ok(schedule) => schedule,
            Err(error) => {
                tracing::error!(
                    "time zone `{}` is unknown here, the music keeps playing: {error}",
                    manifest.timezone
                );
                return;
            }
        };
        if self.engine.is_none() && manifest.playlist.zones.iter().any(|zone| zone.audio_only) {
            match AudioEngine::start(self.config.device_choice(), self.config.volume.fraction()) {
                Ok(engine) => self.engine = Some(engine),
                Err(error) => tracing::error!("cannot start the audio thread: {error}"),
            }
        }
        let mut previous = self
            .active
            .take()
            .map(|active| active.zones)
            .unwrap_or_default();
        let zones: Vec<(String, Option<Sounding>)> = manifest
            .playlist
            .zones
            .iter()
            .filter(|zone| zone.audio_only)
            .map(|zone| {
                let sounding = previous
                    .iter_mut()
                    .find(|(name, _)| *name == zone.name)
                    .and_then(|(_, sounding)| sounding.take());
                (zone.name.clone(), sounding)
            })
            .collect();
        for (zone, sounding) in previous {
            if let Some(sounding) = sounding {
                stop_zone(self.engine.as_ref(), &zone, self.default_crossfade);
                self.end(sounding, now);
            }
        }
        self.active = Some(ActiveAudio {
            manifest,
            schedule,
            zones,
        });
    }

    /// Silences every zone until `until` (an interrupt from HQ covers the screen); the plays that
    /// are cut count as not completed.
    pub fn interrupt(&mut self, until: Timestamp, now: Timestamp) {
        if until <= now {
            return;
        }
        self.silenced_until = Some(until);
        self.end_all(now, Duration::from_millis(200));
    }

    /// The interrupts covering the screen changed (one was cancelled): silent until `until`, or
    /// playing again from the next tick when none is left.
    pub fn silence_until(&mut self, until: Option<Timestamp>) {
        self.silenced_until = until;
    }

    /// Follows the schedule at `now`. Returns when the next audio item starts, for the caller's
    /// deadline.
    pub fn tick(&mut self, now: Timestamp) -> Option<Timestamp> {
        self.apply_reports();
        if let Some(until) = self.silenced_until {
            if now < until {
                return Some(until);
            }
            self.silenced_until = None;
        }
        let active = self.active.as_mut()?;
        let mut next_deadline: Option<Timestamp> = None;
        let mut ended = Vec::new();
        for (zone_name, sounding) in &mut active.zones {
            let Some(play) = active.schedule.what_plays(zone_name, now) else {
                if let Some(leaving) = sounding.take() {
                    stop_zone(self.engine.as_ref(), zone_name, self.default_crossfade);
                    ended.push(leaving);
                }
                continue;
            };
            next_deadline = Some(next_deadline.map_or(play.end, |known| known.min(play.end)));
            let play_key = (
                active.manifest.playlist_version,
                play.rule_index,
                play.item_index,
                play.scheduled_start,
            );
            if sounding
                .as_ref()
                .is_some_and(|current| current.play_key == play_key)
            {
                continue;
            }
            let Content::Audio { media, volume } = &play.item.content else {
                continue;
            };
            let zone_volume = active
                .manifest
                .playlist
                .zone(zone_name)
                .map_or(1.0, |zone| zone.volume.fraction());
            let crossfade = match play.item.transition {
                Transition::Crossfade { duration } | Transition::Slide { duration } => {
                    duration.as_std()
                }
                Transition::Cut => self.default_crossfade,
            };
            let Some(sha256) = active.manifest.sha256_of_file(&media.file).cloned() else {
                continue;
            };
            let play_id = self.next_play_id;
            self.next_play_id += 1;
            let Some(engine) = &self.engine else {
                continue;
            };
            engine.play(PlayRequest {
                zone: zone_name.clone(),
                play_id,
                path: media_path(&self.media_dir, &sha256),
                offset: now.duration_since(play.scheduled_start).unsigned_abs(),
                gain: volume.fraction() * zone_volume,
                crossfade,
            });
            let incoming = Sounding {
                play_id,
                play_key,
                zone: zone_name.clone(),
                item_id: play.item.id.clone(),
                sha256,
                scheduled_start: play.scheduled_start,
                scheduled_end: play.scheduled_end,
                started_at: None,
                failed_at: None,
                playlist: active.manifest.playlist.name.clone(),
                playlist_version: active.manifest.playlist_version,
                screen: active.manifest.screen.clone(),
                clock: self.clock,
                display: self.display,
                campaign: crate::playback::campaign_of(&play),
                manifest_version: active.manifest.version,
            };
            if let Some(leaving) = sounding.replace(incoming) {
                ended.push(leaving);
            }
        }
        for sounding in ended {
            self.end(sounding, now);
        }
        next_deadline
    }

    /// Ends every play (shutdown); their impressions join the finished ones.
    pub fn finish(&mut self, now: Timestamp) {
        self.apply_reports();
        self.end_all(now, Duration::ZERO);
    }

    /// Impressions of plays that ended since the last call.
    pub fn take_finished(&mut self) -> Vec<Impression> {
        std::mem::take(&mut self.finished)
    }

    /// Stops the engine (a WAV file sink is completed).
    pub fn shutdown(self) {
        if let Some(engine) = self.engine {
            engine.shutdown();
        }
    }

    fn end_all(&mut self, now: Timestamp, fade: Duration) {
        let mut ended = Vec::new();
        if let Some(active) = &mut self.active {
            for (zone, sounding) in &mut active.zones {
                if let Some(sounding) = sounding.take() {
                    stop_zone(self.engine.as_ref(), zone, fade);
                    ended.push(sounding);
                }
            }
        }
        for sounding in ended {
            self.end(sounding, now);
        }
    }

    fn apply_reports(&mut self) {
        let Some(engine) = &self.engine else {
            return;
        };
        let reports = engine.take_reports();
        if reports.is_empty() {
            return;
        }
        let Some(active) = &mut self.active else {
            return;
        };
        for report in reports {
            let (play_id, at, error) = match report {
                AudioReport::Started { play_id, at } => (play_id, at, None),
                AudioReport::Failed { play_id, at, error } => (play_id, at, Some(error)),
            };
            let Some((zone, sounding)) = active.zones.iter_mut().find_map(|(zone, sounding)| {
                sounding
                    .as_mut()
                    .filter(|sounding| sounding.play_id == play_id)
                    .map(|sounding| (zone, sounding))
            }) else {
                continue;
            };
            match error {
                None => sounding.started_at = Some(at),
                Some(error) => {
                    tracing::error!(
                        zone = %zone,
                        item = %sounding.item_id,
                        sha256 = %sounding.sha256,
                        "audio item skipped, the zone stays silent until its next item: {error}"
                    );
                    sounding.failed_at = Some(at);
                }
            }
        }
    }

    /// Journals a play that ended at `now`, if any of it was heard.
    fn end(&mut self, sounding: Sounding, now: Timestamp) {
        let Some(started_at) = sounding.started_at else {
            // Never heard: a broken file, or cut before its first sample.
            return;
        };
        let ended_at = sounding.failed_at.unwrap_or(now).max(started_at);
        self.finished.push(Impression {
            id: Uuid::now_v7(),
            sequence: 0,
            screen: sounding.screen,
            playlist: sounding.playlist,
            playlist_version: sounding.playlist_version,
            zone: sounding.zone,
            item_id: sounding.item_id,
            media_sha256: Some(sounding.sha256),
            scheduled_start: sounding.scheduled_start,
            scheduled_end: Some(sounding.scheduled_end),
            started_at,
            ended_at,
            completed: sounding.failed_at.is_none()
                && vitrine_core::impression::covers_turn(
                    sounding.scheduled_start,
                    sounding.scheduled_end,
                    started_at,
                    now,
                    self.start_tolerance,
                ),
            clock: sounding.clock.max(self.clock),
            offer: None,
            campaign: sounding.campaign,
            manifest_version: sounding.manifest_version,
            player_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            display: sounding.display.worst(self.display),
            previous: None,
        });
    }
}

fn stop_zone(engine: Option<&AudioEngine>, zone: &str, fade: Duration) {
    if let Some(engine) = engine {
        engine.stop(zone, fade);
    }
}

fn tolerance_for(refresh: Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(refresh + ENGINE_LATENCY).unwrap_or(jiff::SignedDuration::ZERO)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use vitrine_core::MediaEntry;

    use super::*;
    use crate::audio::AudioConfig;

    fn at(milliseconds: i64) -> Timestamp {
        Timestamp::from_millisecond(milliseconds).unwrap()
    }

    /// A timeline on the null sink for a music zone whose song loops all day, with a jingle that
    /// HQ's campaign `spring` puts on the zone for the first 500 ms of every 10 s (campaigns reach
    /// a screen as rules named `campaign:NAME`), in manifest version 9.
    fn campaign_timeline(media_dir: &std::path::Path) -> AudioTimeline {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let scratch = media_dir.join("tone.wav");
        let mut writer = hound::WavWriter::create(&scratch, spec).unwrap();
        for index in 0..24_000 {
            let phase = 2.0 * std::f64::consts::PI * 440.0 * f64::from(index) / 48_000.0;
            writer.write_sample((phase.sin() * 8_000.0) as i16).unwrap();
        }
        writer.finalize().unwrap();
        let sha256 = Sha256Hex::of_bytes(&std::fs::read(&scratch).unwrap());
        std::fs::rename(&scratch, media_path(media_dir, &sha256)).unwrap();

        let playlist = vitrine_core::parse_playlist(
            "shop.yaml",
            "version: 1\nname: shop\nlayout:\n  music:\n    audio_only: true\n    items:\n      - audio: { id: song, file: tone.wav, duration: 1s }\n    interrupts:\n      - name: jingle\n        every: 10s\n        priority: 5\n        items:\n          - audio: { id: jingle, file: tone.wav, duration: 500ms }\n",
        )
        .unwrap();
        let mut manifest = Manifest::build("lobby", "Europe/Paris", &playlist, 4, |_| {
            Some(MediaEntry {
                sha256: sha256.clone(),
                size: 1,
            })
        })
        .unwrap();
        manifest.version = 9;
        let rule = manifest.playlist.zones[0]
            .rules
            .iter_mut()
            .find(|rule| rule.name == "jingle")
            .expect("the interrupt rule");
        rule.name = "campaign:spring".into();
        let config = AudioConfig {
            device: "null".into(),
            ..AudioConfig::default()
        };
        let mut timeline = AudioTimeline::new(config, media_dir.to_owned());
        timeline.activate(Arc::new(manifest), at(0));
        timeline
    }

    /// Ticks at `now` until the audio thread says the zone's track was heard.
    fn tick_until_heard(timeline: &mut AudioTimeline, now: Timestamp) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            timeline.tick(now);
            let heard = timeline.active.as_ref().is_some_and(|active| {
                active
                    .zones
                    .iter()
                    .all(|(_, sounding)| sounding.as_ref().is_some_and(|s| s.started_at.is_some()))
            });
            if heard {
                return;
            }
            assert!(Instant::now() < deadline, "the track was never heard");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn audio_plays_carry_their_campaign_versions_and_the_display_state() {
        let directory = tempfile::tempdir().unwrap();
        let mut timeline = campaign_timeline(directory.path());
        timeline.set_display(DisplayPower::On);
        // The jingle's turn, then the song's once the campaign gives the zone back.
        tick_until_heard(&mut timeline, at(0));
        tick_until_heard(&mut timeline, at(600));
        // The display went to sleep during the song.
        timeline.set_display(DisplayPower::Off);
        timeline.finish(at(900));
        let plays = timeline.take_finished();
        timeline.shutdown();

        let summary: Vec<(&str, Option<&str>, DisplayPower)> = plays
            .iter()
            .map(|play| {
                (
                    play.item_id.as_str(),
                    play.campaign.as_deref(),
                    play.display,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("jingle", Some("spring"), DisplayPower::On),
                ("song", None, DisplayPower::Off)
            ]
        );
        for play in &plays {
            assert_eq!(play.manifest_version, 9);
            assert_eq!(play.playlist_version, 4);
            assert_eq!(
                play.player_version.as_deref(),
                Some(env!("CARGO_PKG_VERSION"))
            );
            assert_eq!(play.previous, None, "the journal links records");
        }
    }
}
