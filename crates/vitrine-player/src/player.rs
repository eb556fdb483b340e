//! The player's state between events and frames, shared by the window and headless front ends:
//! playback timeline, renderer textures, decode and text requests, telemetry and the journal writer.
//! Events update it; frames are drawn from what [`Player::prepare_frame`] decided.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use vitrine_core::{ClockState, Impression, Sha256Hex};

use crate::audio::{AudioConfig, AudioTimeline};
use crate::background::Background;
use crate::cache::media_path;
use crate::clock::SharedClock;
use crate::decode::{DecodeTarget, DecodeWorker, decode_bytes};
use crate::display_power::DisplayPowerProbe;
use crate::events::{PlayerEvent, SharedSink};
use crate::journal::Journal;
use crate::playback::{Frame, NotPlaying, Playback, Want};
use crate::problem::{Persistence, Problem};
use crate::render::{ContentKey, FrameReport, Gpu, OfferTemplate, Renderer, Rotation};
use crate::status::SharedStatus;
use crate::telemetry::FrameTelemetry;
use crate::video::{VideoError, VideoEvent, VideoPool, VideoRequest, VideoSettings};
use vitrine_core::FrameStats;

/// The built-in splash, shown until the first content is ready and whenever nothing else can be.
pub const SPLASH_PNG: &[u8] = include_bytes!("../../../assets/splash.png");

/// How often the `--show-stats` overlay text is refreshed: each change re-lays its texture.
const OVERLAY_PERIOD: Duration = Duration::from_secs(1);

/// How often frame telemetry is written to the log.
const TELEMETRY_LOG_PERIOD: Duration = Duration::from_secs(60);

/// Whether the loop should go on after an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Shutdown,
}

/// How the screen is set up, as the front end found it.
pub struct ScreenSetup {
    /// The target's size in pixels, as the GPU sees it.
    pub physical_px: (u32, u32),
    pub rotation: Rotation,
    /// The display's refresh interval, for telemetry.
    pub refresh: Duration,
    pub show_stats: bool,
    /// The sha256 of this screen's device token: the key its offer cards' QR codes are signed with.
    pub qr_key: Option<[u8; 32]>,
    /// The `[video]` decoder choice and where soundtracks go.
    pub video: VideoSettings,
    /// The `[audio]` section: where audio items play, the master volume, the crossfade.
    pub audio: AudioConfig,
    /// This screen's name at HQ, when the config or pairing gives it.
    pub screen_name: Option<String>,
    /// Where to write the frame telemetry, every frame and item start included, at exit
    /// (`--stats-file`, for benchmarks).
    pub stats_file: Option<PathBuf>,
    /// The `[display] drm_dir`: where the display's power state is read for every play.
    pub drm_dir: PathBuf,
}

/// What `--stats-file` holds: the telemetry summary, every frame's time and every item's
/// first-frame offset, and how long each image took from request to decoded.
#[derive(serde::Serialize)]
struct StatsFile<'a> {
    summary: crate::telemetry::TelemetrySummary,
    #[serde(flatten)]
    log: &'a crate::telemetry::TelemetryLog,
    decode_ms: &'a [f64],
    /// Each text laid out and drawn into its texture (for an item, a clock reading, a cover
    /// page), in milliseconds: what a text costs the first time it shows.
    text_ms: &'a [f64],
    /// The layout part of each: fonts read, shaping and fitting, before any glyph is drawn.
    text_layout_ms: &'a [f64],
    /// For each item started whose picture was decoded for it: its scheduled start minus when
    /// the picture was on the GPU, in milliseconds; negative when it was prepared too late.
    prepare_margin_ms: &'a [f64],
    prepare_ahead_ms: f64,
}

/// How much earlier than its decode estimate the next images are asked for, on top of twice the
/// estimate (one decode may be queued before it): a margin for the upload and the frame itself.
const PREPARE_MARGIN: Duration = Duration::from_millis(100);

pub struct Player {
    playback: Playback,
    /// Audio-only zones: their tracks, through the audio thread.
    audio: AudioTimeline,
    renderer: Renderer,
    decoder: DecodeWorker,
    media_dir: PathBuf,
    requested: HashSet<ContentKey>,
    /// What text items had to give way for (shrunk, cut, characters no font has), by item: told
    /// once in the log, and carried in the heartbeat's alerts while the playlist plays.
    text_alerts: std::collections::BTreeMap<String, String>,
    telemetry: FrameTelemetry,
    /// Offer card templates: landscape, and portrait for zones taller than wide.
    offer_templates: (OfferTemplate, OfferTemplate),
    show_stats: bool,
    overlay: Option<(Instant, String)>,
    last_telemetry_log: Instant,
    journal: Option<mpsc::Sender<Impression>>,
    journal_thread: Option<JoinHandle<()>>,
    background: Option<Background>,
    status: SharedStatus,
    last_status_update: Instant,
    /// What time it is and how far to trust it; without one (previews, tests) the front end's
    /// time is taken as synced.
    clock: Option<SharedClock>,
    /// Video pipelines; `None` when GStreamer is missing, and then video items are skipped.
    videos: Option<VideoPool>,
    /// Why there is no video pool, told once per video item that cannot play.
    videos_missing: Option<String>,
    /// Video pictures the renderer holds, dropped once their play is neither on screen nor next.
    video_pictures: HashSet<ContentKey>,
    /// Why the sync gets no content, as it last said.
    sync_problem: Option<Problem>,
    /// This screen's name: from the config or pairing, else as the sync learned it.
    screen_name: Option<String>,
    /// How long there has been a problem, so the screen says it only once it lasts.
    problem_persistence: Persistence,
    /// The problem the screen said in the last frame: a change is logged once.
    said: Option<Problem>,
    /// When each image now decoding was asked for.
    decode_requested_at: HashMap<ContentKey, Instant>,
    /// When the decode worker last finished one: it decodes one image at a time, so an image's
    /// decode started at the later of its request and that instant.
    last_decode_done: Option<Instant>,
    /// A running estimate of one decode's time, without the wait in the queue (that would make
    /// asking earlier lengthen the estimate); playback asks for images ahead by twice this (see
    /// [`Playback::set_prepare_ahead`]).
    decode_estimate: Duration,
    /// Every measured decode time, for `--stats-file`.
    decode_times_ms: Vec<f64>,
    text_times_ms: Vec<f64>,
    text_layout_times_ms: Vec<f64>,
    /// When each decoded picture reached the GPU, until its item starts.
    uploaded_at: HashMap<ContentKey, Instant>,
    /// How long before its scheduled start each item's picture was ready, for `--stats-file`.
    prepare_margins_ms: Vec<f64>,
    stats_file: Option<PathBuf>,
    /// Whether the first playlist item has been presented yet (said once on stdout).
    first_item_presented: bool,
    /// Whether the display is on, read from DRM at most once a second; plays record it.
    display_power: DisplayPowerProbe,
    /// HQ asked for a screenshot: the next frame presented is read back (see
    /// [`Player::wants_screenshot`]).
    screenshot_requested: bool,
}

impl Player {
    /// Sets up playback on `gpu`, drawing into targets of `format`.
    pub fn new(
        gpu: &Gpu,
        format: wgpu::TextureFormat,
        screen: &ScreenSetup,
        data_dir: &Path,
        sink: SharedSink,
        background: Option<Background>,
        status: SharedStatus,
    ) -> anyhow::Result<Self> {
        let mut renderer = Renderer::new(gpu, format);
        renderer.set_font_dir(&data_dir.join("media"));
        let logical_px = screen.rotation.logical_size(screen.physical_px);
        // The pinned fallback from `[cache] fallback` when there is one that decodes, else the
        // built-in splash: what shows before content and whenever nothing else can.
        let pinned = crate::cache::MediaCache::open(data_dir)
            .ok()
            .and_then(|cache| {
                let sha256 = cache.pinned_fallback().ok().flatten()?;
                let bytes = std::fs::read(cache.path_of(&sha256)).ok()?;
                decode_bytes(&bytes, sha256, logical_px.0, logical_px.1)
                    .inspect_err(|error| {
                        tracing::error!("the fallback image does not decode: {error:#}")
                    })
                    .ok()
            });
        let fallback_pinned = pinned.is_some();
        let splash = match pinned {
            Some(decoded) => decoded,
            None => decode_bytes(
                SPLASH_PNG,
                Sha256Hex::of_bytes(SPLASH_PNG),
                logical_px.0,
                logical_px.1,
            )?,
        };
        let splash_digest = splash.sha256.clone();
        renderer.upload(gpu, &splash);
        let splash_key = ContentKey::Media(splash_digest.clone());
        renderer.pin(splash_key.clone());
        let mut playback = Playback::new(splash_digest, logical_px, screen.rotation);
        if fallback_pinned {
            playback.set_fallback_pinned();
        }
        playback.set_refresh(screen.refresh);
        if let Some(key) = screen.qr_key {
            playback.set_qr_key(key);
        }
        playback.mark_ready(splash_key);
        let mut telemetry = FrameTelemetry::new(screen.refresh);
        if screen.stats_file.is_some() {
            telemetry.keep_log();
        }
        // Caps per hour count the offers shown before a restart too.
        let two_hours_ago = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_hours(2))
            .unwrap_or(jiff::Timestamp::MIN);
        match crate::journal::Journal::open(data_dir)
            .and_then(|journal| journal.offers_since(two_hours_ago))
        {
            Ok(shown) => playback.remember_offers(shown),
            Err(error) => {
                tracing::warn!("cannot read the offers shown before a restart: {error:#}")
            }
        }
        let adapter = gpu.adapter.get_info();
        let gpu_adapter = vitrine_core::GpuAdapter {
            name: adapter.name.clone(),
            backend: adapter.backend.to_string(),
            driver: [adapter.driver.as_str(), adapter.driver_info.as_str()]
                .iter()
                .filter(|part| !part.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
        };
        crate::metrics::global().set_gpu(&gpu_adapter);
        status
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .gpu = Some(gpu_adapter);
        let (journal, journal_thread) = start_journal_writer(data_dir)?;
        let (videos, videos_missing) = match VideoPool::new(sink.clone(), screen.video.clone()) {
            Ok(pool) => (Some(pool), None),
            // A decoder the configuration names but this machine lacks is a setup mistake: say
            // so at start-up rather than skip every video.
            Err(error @ (VideoError::UnknownDecoder(_) | VideoError::NotADecoder { .. })) => {
                return Err(error.into());
            }
            Err(error) => {
                tracing::error!("video items will be skipped: {error}");
                (None, Some(error.to_string()))
            }
        };
        Ok(Self {
            playback,
            audio: {
                let mut audio = AudioTimeline::new(screen.audio.clone(), data_dir.join("media"));
                audio.set_refresh(screen.refresh);
                audio
            },
            renderer,
            decoder: DecodeWorker::start(sink)?,
            media_dir: data_dir.join("media"),
            requested: HashSet::new(),
            text_alerts: std::collections::BTreeMap::new(),
            telemetry,
            offer_templates: (OfferTemplate::builtin(), OfferTemplate::builtin_portrait()),
            show_stats: screen.show_stats,
            overlay: None,
            last_telemetry_log: Instant::now(),
            journal: Some(journal),
            journal_thread: Some(journal_thread),
            background,
            status,
            last_status_update: Instant::now(),
            clock: None,
            videos,
            videos_missing,
            video_pictures: HashSet::new(),
            sync_problem: None,
            screen_name: screen.screen_name.clone(),
            problem_persistence: Persistence::default(),
            said: None,
            decode_requested_at: HashMap::new(),
            last_decode_done: None,
            decode_estimate: Duration::ZERO,
            decode_times_ms: Vec::new(),
            text_times_ms: Vec::new(),
            text_layout_times_ms: Vec::new(),
            uploaded_at: HashMap::new(),
            prepare_margins_ms: Vec::new(),
            stats_file: screen.stats_file.clone(),
            first_item_presented: false,
            display_power: DisplayPowerProbe::new(&screen.drm_dir),
            screenshot_requested: false,
        })
    }

    /// Applies one event. GPU uploads happen here, on the render thread.
    pub fn handle(&mut self, gpu: &Gpu, event: PlayerEvent) -> Flow {
        match event {
            PlayerEvent::ManifestActivated(manifest) => {
                let (name, version, manifest_version) = (
                    manifest.playlist.name.clone(),
                    manifest.playlist_version,
                    manifest.version,
                );
                // Plays of zones the new playlist drops end here.
                self.update_display_power();
                let for_audio = manifest.clone();
                match self.playback.activate(manifest) {
                    Ok(()) => {
                        self.audio.activate(for_audio, Timestamp::now());
                        // The new playlist's texts are told about afresh.
                        self.text_alerts.clear();
                        tracing::info!(playlist = %name, version, "playing manifest");
                        let mut status = self
                            .status
                            .lock()
                            .unwrap_or_else(|poison| poison.into_inner());
                        status.playlist = Some(name.clone());
                        status.playlist_version = Some(version);
                        status.manifest_version = Some(manifest_version);
                        drop(status);
                        let in_use = self.playback.content_in_use();
                        for dropped in self.renderer.retain(&in_use) {
                            self.playback.mark_evicted(&dropped);
                            self.requested.remove(&dropped);
                        }
                    }
                    Err(error) => tracing::error!(
                        playlist = %name,
                        "cannot play this manifest, keeping the current one: {error:#}"
                    ),
                }
            }
            PlayerEvent::MediaDecoded(image) => {
                let key = ContentKey::Media(image.sha256.clone());
                if let Some(asked) = self.decode_requested_at.remove(&key) {
                    self.learn_decode_time(asked);
                }
                if self.playback.content_in_use().contains(&key) {
                    self.renderer.upload(gpu, &image);
                    if self.stats_file.is_some() {
                        self.uploaded_at.insert(key.clone(), Instant::now());
                    }
                    self.playback.mark_ready(key);
                } else {
                    self.requested.remove(&key);
                }
            }
            PlayerEvent::DecodeFailed { sha256, error } => {
                if self
                    .decode_requested_at
                    .remove(&ContentKey::Media(sha256.clone()))
                    .is_some()
                {
                    self.last_decode_done = Some(Instant::now());
                }
                crate::metrics::global().record_decode_failure("image");
                tracing::error!(
                    %sha256,
                    "cannot show {}, the screen keeps its content: {error}",
                    self.media_label(&sha256)
                );
                self.playback.mark_failed(ContentKey::Media(sha256));
            }
            // Interrupts and triggers arrive from HQ through the push client (`push.rs`).
            PlayerEvent::Interrupt { id, message, until } => {
                tracing::warn!(id, %until, %message, "interrupt from HQ");
                let now = Timestamp::now();
                self.update_display_power();
                self.playback.interrupt(id, message, until, now);
                if let Some(covered_until) = self.playback.covered_until(now) {
                    self.audio.interrupt(covered_until, now);
                }
                self.journal_finished();
                self.update_status(now);
            }
            PlayerEvent::InterruptCancelled { id } => {
                let now = Timestamp::now();
                if self.playback.cancel_interrupt(id) {
                    tracing::warn!(id, "HQ cancelled the interrupt; it is off the screen");
                    self.audio.silence_until(self.playback.covered_until(now));
                } else {
                    tracing::info!(id, "HQ cancelled an interrupt this screen does not show");
                }
                self.update_status(now);
            }
            PlayerEvent::Screenshot => {
                if self.background.is_some() {
                    self.screenshot_requested = true;
                } else {
                    tracing::warn!(
                        "asked for a screenshot, but there is no scheduler to send it to"
                    );
                }
            }
            PlayerEvent::Identify { until } => {
                let name = self
                    .screen_name
                    .clone()
                    .unwrap_or_else(|| crate::cover::UNNAMED_SCREEN.to_owned());
                tracing::info!(screen = %name, %until, "showing the screen's name (identify)");
                self.playback.identify(name, until);
            }
            PlayerEvent::PairingCode { code, until } => {
                self.playback.show_pairing_code(code, until);
            }
            PlayerEvent::Trigger { segment, until } => {
                tracing::info!(%segment, %until, "trigger from HQ: offer slots target a segment");
                self.playback.trigger(segment, until, Timestamp::now());
            }
            PlayerEvent::SyncProblem { problem, screen } => {
                self.sync_problem = problem;
                if screen.is_some() {
                    self.screen_name = screen;
                }
            }
            // New frames are taken when the next frame is prepared; the event only wakes the loop.
            PlayerEvent::Video(VideoEvent::Frame) => {}
            PlayerEvent::Video(VideoEvent::Failed { id, error }) => {
                if let Some(key) = self.videos.as_mut().and_then(|pool| pool.fail(id)) {
                    crate::metrics::global().record_decode_failure("video");
                    tracing::error!(%key, "video stopped, its last frame stays on screen: {error}");
                    self.playback.video_failed(key, Timestamp::now());
                }
            }
            PlayerEvent::Shutdown => return Flow::Shutdown,
        }
        Flow::Continue
    }

    /// Decides the frame for `now`: prepares the text it needs, asks for the media it needs, and
    /// journals finished plays.
    /// Reads time from `clock` from now on (see [`crate::clock`]).
    pub fn set_clock(&mut self, clock: SharedClock) {
        self.clock = Some(clock);
    }

    /// `now` is the instant the frame will be presented, as the front end expects it (see
    /// [`Player::presentation_lead`]): the schedule is asked about that instant, so an item starts
    /// in the frame that reaches the screen nearest its start.
    pub fn prepare_frame(&mut self, gpu: &Gpu, now: Timestamp) -> Frame {
        // The same instant on the monotonic clock, for the player's clock and for telemetry.
        let ahead = now
            .duration_since(Timestamp::now())
            .try_into()
            .unwrap_or(Duration::ZERO);
        let presented_at = Instant::now() + ahead;
        // The front end's time is the local clock; the player's clock corrects it when HQ says
        // otherwise, and says how far it can be trusted.
        let local_now = now;
        let mut clock_problem = None;
        let now = match &self.clock {
            Some(clock) => {
                let reading = clock.reading_at(now, presented_at);
                self.playback.set_clock(reading.state);
                self.audio.set_clock(reading.state);
                if reading.state == ClockState::Unknown {
                    // The reading is the last good time; the local clock is behind it. In whole
                    // minutes, so the page (and the log) changes once a minute, not every frame.
                    let behind = reading.at.duration_since(local_now);
                    clock_problem = Some(Problem::ClockOff {
                        behind: SignedDuration::from_mins(behind.as_mins()),
                    });
                }
                reading.at
            }
            None => now,
        };
        // A wrong clock stops everything, whatever the sync says, so it is what the screen says.
        let problem = clock_problem.or_else(|| self.sync_problem.clone());
        let (to_say, say_in) = self.problem_persistence.observe(problem, Instant::now());
        self.playback
            .set_not_playing(to_say.map(|problem| NotPlaying {
                problem,
                screen: self.screen_name.clone(),
            }));
        for evicted in self.renderer.take_evicted() {
            self.uploaded_at.remove(&evicted);
            self.playback.mark_evicted(&evicted);
            self.requested.remove(&evicted);
        }
        let new_video_frames = self.upload_video_frames(gpu);
        // Sound starts when it is played, not when the frame is presented: the audio timeline
        // runs on the clock's time now.
        let sound_now = SignedDuration::try_from(ahead)
            .ok()
            .and_then(|ahead| now.checked_sub(ahead).ok())
            .unwrap_or(now);
        // Plays that start or end in this frame record the display's state; the files are read
        // at most once a second.
        self.update_display_power();
        let audio_deadline = self.audio.tick(sound_now);
        let mut frame = self.playback.tick(now);
        if !frame.started.is_empty() {
            // A window redraws only when something changes, so the heartbeat hears of a new item
            // here rather than waiting for the next frame.
            self.update_status(now);
        }
        frame.next_deadline = match (frame.next_deadline, audio_deadline) {
            (Some(picture), Some(sound)) => Some(picture.min(sound)),
            (picture, sound) => picture.or(sound),
        };
        let mut prepared_any = false;
        for want in &frame.wanted {
            let key = want.key();
            if self.renderer.has(&key) {
                if !self.playback.is_ready(&key) {
                    self.playback.mark_ready(key);
                }
                continue;
            }
            match want {
                Want::Media {
                    sha256,
                    fit,
                    zone_px,
                } => {
                    if self.requested.insert(key.clone()) {
                        self.decode_requested_at.insert(key, Instant::now());
                        self.decoder.request_for(
                            sha256.clone(),
                            media_path(&self.media_dir, sha256),
                            DecodeTarget::new(zone_px.0, zone_px.1, *fit),
                        );
                    }
                }
                Want::Video {
                    key,
                    sha256,
                    sound,
                    scheduled_start,
                    ..
                } => {
                    let request = VideoRequest {
                        key: key.clone(),
                        path: media_path(&self.media_dir, sha256),
                        name: self.media_label(sha256),
                        sound: sound.map(f64::from),
                        start_offset: now
                            .duration_since(*scheduled_start)
                            .try_into()
                            .unwrap_or_default(),
                    };
                    let prepared = match &mut self.videos {
                        Some(pool) => pool.prepare(&request).map_err(|error| error.to_string()),
                        None => Err(self.videos_missing.clone().unwrap_or_default()),
                    };
                    if let Err(error) = prepared {
                        tracing::error!(%sha256, "video item skipped: {error}");
                        self.playback.mark_failed(key.clone());
                    }
                }
                Want::Text {
                    key,
                    spec,
                    zone_px,
                    item,
                } => {
                    let started = Instant::now();
                    let prepared = self.renderer.prepare_text(gpu, key.clone(), spec, *zone_px);
                    if self.stats_file.is_some() {
                        self.text_times_ms
                            .push(started.elapsed().as_secs_f64() * 1000.0);
                        if let Ok(report) = &prepared {
                            self.text_layout_times_ms
                                .push(report.layout_time.as_secs_f64() * 1000.0);
                        }
                    }
                    match prepared {
                        Ok(report) => {
                            if let (Some(item), Some(alert)) = (item, report.alert())
                                && self.text_alerts.get(item) != Some(&alert)
                            {
                                tracing::warn!(item = %item, "text item `{item}` {alert}");
                                self.text_alerts.insert(item.clone(), alert);
                            }
                            self.playback.mark_ready(key.clone());
                            prepared_any = true;
                        }
                        Err(error) => {
                            tracing::error!("text item skipped: {error:#}");
                            self.playback.mark_failed(key.clone());
                        }
                    }
                }
                Want::OfferCard { key, card, zone_px } => {
                    // The product picture comes first; until it is decoded the card waits.
                    if card
                        .image
                        .as_ref()
                        .is_some_and(|image| !self.renderer.has(image))
                    {
                        continue;
                    }
                    let template = if zone_px.1 > zone_px.0 {
                        &self.offer_templates.1
                    } else {
                        &self.offer_templates.0
                    };
                    match self.renderer.prepare_offer_card(
                        gpu,
                        key.clone(),
                        card,
                        template,
                        *zone_px,
                    ) {
                        Ok(()) => {
                            self.playback.mark_ready(key.clone());
                            prepared_any = true;
                        }
                        Err(error) => {
                            tracing::error!("offer card skipped: {error:#}");
                            self.playback.mark_failed(key.clone());
                        }
                    }
                }
            }
        }
        if prepared_any {
            // Text and cards composed just now can show in this very frame.
            frame = self.playback.tick(now);
        }
        self.run_videos(&frame);
        // A new video frame must reach the screen even when nothing else changed.
        frame.animating |= new_video_frames;
        if let Some(say_at) = say_in
            .and_then(|wait| SignedDuration::try_from(wait).ok())
            .and_then(|wait| now.checked_add(wait).ok())
        {
            // Woken when the problem has lasted long enough to be said.
            frame.next_deadline = Some(frame.next_deadline.map_or(say_at, |at| at.min(say_at)));
        }
        let said = self.playback.said().cloned();
        if said != self.said {
            match &said {
                Some(problem) => tracing::warn!(
                    hint = problem.hint(),
                    "nothing to play; the screen says: {problem}"
                ),
                None => tracing::info!("the screen no longer says it is not playing"),
            }
            self.said = said;
        }
        for (key, scheduled) in &frame.started {
            // The scheduled start on the monotonic clock: the frame's presentation instant, less
            // how far into the item that instant is (negative when the item starts after it).
            let into_item = now.duration_since(*scheduled);
            let magnitude = into_item.unsigned_abs();
            let scheduled_at = if into_item.is_negative() {
                presented_at.checked_add(magnitude)
            } else {
                presented_at.checked_sub(magnitude)
            };
            let scheduled_at = scheduled_at.unwrap_or(presented_at);
            self.telemetry.expect_item(key.clone(), scheduled_at);
            if let Some(uploaded) = self.uploaded_at.remove(key) {
                let margin_ms = if scheduled_at >= uploaded {
                    (scheduled_at - uploaded).as_secs_f64() * 1000.0
                } else {
                    -(uploaded - scheduled_at).as_secs_f64() * 1000.0
                };
                self.prepare_margins_ms.push(margin_ms);
            }
        }
        if self.show_stats {
            let stale = self
                .overlay
                .as_ref()
                .is_none_or(|(at, _)| at.elapsed() >= OVERLAY_PERIOD);
            if stale {
                self.overlay = Some((Instant::now(), self.telemetry.overlay_text()));
            }
            frame.scene.overlay = self.overlay.as_ref().map(|(_, text)| text.clone());
        }
        self.journal_finished();
        frame
    }

    /// Draws `frame` into `target`.
    pub fn draw(
        &mut self,
        gpu: &Gpu,
        target: &wgpu::TextureView,
        target_size: (u32, u32),
        frame: &Frame,
    ) -> FrameReport {
        self.renderer.render(gpu, target, target_size, &frame.scene)
    }

    /// How far ahead of now to decide the next frame: when it will be presented, give or take
    /// (see [`FrameTelemetry::presentation_lead`]). `on_refresh_grid` when frames are due every
    /// refresh (headless; a window while something moves).
    pub fn presentation_lead(&self, on_refresh_grid: bool) -> Duration {
        self.telemetry.presentation_lead(on_refresh_grid)
    }

    /// Tells playback and the audio timeline whether the display is on now, for the plays that
    /// start or end next.
    fn update_display_power(&mut self) {
        let power = self.display_power.reading(Instant::now());
        self.playback.set_display(power);
        self.audio.set_display(power);
    }

    /// Takes the decode just finished (asked for at `asked`) into the running estimate, and has
    /// playback ask for images that much earlier.
    fn learn_decode_time(&mut self, asked: Instant) {
        let done = Instant::now();
        let began = self
            .last_decode_done
            .map_or(asked, |previous| previous.max(asked));
        self.last_decode_done = Some(done);
        let took = done.saturating_duration_since(began);
        self.decode_times_ms.push(took.as_secs_f64() * 1000.0);
        // Rises at once to a slower decode, falls slowly: a late item costs more than an early
        // decode.
        self.decode_estimate = if took > self.decode_estimate {
            took
        } else {
            (self.decode_estimate * 7 + took) / 8
        };
        self.playback
            .set_prepare_ahead(self.decode_estimate * 2 + PREPARE_MARGIN);
    }

    /// Records a presented frame for telemetry, and logs a summary now and then.
    pub fn presented(&mut self, started: Instant, report: &FrameReport) {
        self.telemetry.record_frame(started, Instant::now(), report);
        if !self.first_item_presented && self.telemetry.items_started() > 0 {
            self.first_item_presented = true;
            // A line a supervisor or a benchmark can wait for: the playlist is on screen.
            println!("vitrine-player: first item presented");
        }
        if self.last_status_update.elapsed() >= OVERLAY_PERIOD {
            self.last_status_update = Instant::now();
            let frames = FrameStats::from(&self.telemetry.summary());
            self.status
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .frames = Some(frames);
            self.update_status(Timestamp::now());
        }
        if self.last_telemetry_log.elapsed() >= TELEMETRY_LOG_PERIOD {
            self.last_telemetry_log = Instant::now();
            tracing::info!(telemetry = %self.telemetry.summary(), "frames");
        }
    }

    /// Tells the heartbeat what is on screen: the interrupt covering it, or each zone's item.
    fn update_status(&mut self, now: Timestamp) {
        let interrupt = self.playback.active_interrupt(now).cloned();
        let showing = if interrupt.is_some() {
            Vec::new()
        } else {
            self.playback.showing()
        };
        let video_decoder = crate::video::decoder_in_use();
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        status.video_decoder = video_decoder;
        status.interrupt = interrupt;
        status.showing = showing;
        status.alerts = self
            .playback
            .layout_alert()
            .map(str::to_owned)
            .into_iter()
            .chain(
                self.text_alerts
                    .iter()
                    .map(|(item, alert)| format!("text item `{item}` {alert}")),
            )
            .collect();
    }

    /// Ends playback: journals the plays on screen, waits for the journal to commit, then lets the
    /// network thread make its last upload.
    /// Whether the frame about to be presented should be read back for HQ: the front end reads
    /// it back after drawing it and hands it to [`Player::screenshot_taken`].
    pub fn wants_screenshot(&self) -> bool {
        self.screenshot_requested
    }

    /// The frame read back for the screenshot HQ asked for (or why it could not be): handed to
    /// the network thread, which scales, encodes and sends it. Never blocks the render loop.
    pub fn screenshot_taken(&mut self, frame: anyhow::Result<image::RgbaImage>) {
        self.screenshot_requested = false;
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                tracing::error!("cannot read back the frame for HQ's screenshot: {error:#}");
                return;
            }
        };
        match &self.background {
            Some(background) => background.send_screenshot(frame),
            None => {
                tracing::warn!("a screenshot was taken, but there is no scheduler to send it to")
            }
        }
    }

    pub fn shutdown(mut self, now: Timestamp) {
        crate::service::stopping();
        self.update_display_power();
        self.playback.finish(now);
        self.audio.finish(now);
        self.journal_finished();
        if let Some(path) = &self.stats_file {
            self.write_stats(path);
        }
        // The sound stops with the plays it was journalled for (a WAV file sink is completed).
        self.audio.shutdown();
        tracing::info!(telemetry = %self.telemetry.summary(), "frames");
        drop(self.journal.take());
        if let Some(thread) = self.journal_thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the journal thread panicked");
        }
        if let Some(background) = self.background.take() {
            background.shutdown();
        }
        tracing::info!("player stopped");
    }

    /// Writes `--stats-file`; a failure is logged, never fatal.
    fn write_stats(&self, path: &Path) {
        let empty = crate::telemetry::TelemetryLog::default();
        let stats = StatsFile {
            summary: self.telemetry.summary(),
            log: self.telemetry.log().unwrap_or(&empty),
            decode_ms: &self.decode_times_ms,
            text_ms: &self.text_times_ms,
            text_layout_ms: &self.text_layout_times_ms,
            prepare_margin_ms: &self.prepare_margins_ms,
            prepare_ahead_ms: self.playback.prepare_ahead().as_secs_f64() * 1000.0,
        };
        let written = serde_json::to_vec(&stats)
            .map_err(anyhow::Error::from)
            .and_then(|json| Ok(std::fs::write(path, json)?));
        if let Err(error) = written {
            tracing::error!("cannot write the stats file {}: {error:#}", path.display());
        }
    }

    /// Uploads the newest frame of every video that has one; says whether there was any.
    fn upload_video_frames(&mut self, gpu: &Gpu) -> bool {
        let Some(pool) = &mut self.videos else {
            return false;
        };
        let frames = pool.take_frames();
        let mut uploaded = false;
        for frame in frames {
            let shown = frame
                .with_planes(|planes| self.renderer.upload_video_frame(gpu, &frame.key, planes));
            match shown.and_then(|result| result) {
                Ok(()) => {
                    uploaded = true;
                    self.video_pictures.insert(frame.key.clone());
                    if !self.playback.is_ready(&frame.key) {
                        self.playback.mark_ready(frame.key.clone());
                    }
                }
                // A frame the GPU cannot take (larger than its textures, malformed) means the
                // next will not fit either: the play stops once, the screen keeps what it shows.
                Err(error) => {
                    if let Some(pool) = &mut self.videos
                        && pool.stop(&frame.key)
                    {
                        tracing::error!(key = %frame.key, "video skipped: {error}");
                        self.playback
                            .video_failed(frame.key.clone(), Timestamp::now());
                    }
                }
            }
        }
        uploaded
    }

    /// Plays the videos on screen, keeps the next ones prerolled, and stops the rest: a play's
    /// pipeline and picture live exactly as long as it is on screen or next.
    fn run_videos(&mut self, frame: &Frame) {
        let on_screen: HashSet<ContentKey> = frame
            .scene
            .zones
            .iter()
            .flat_map(|zone| &zone.layers)
            .map(|layer| layer.content.clone())
            .filter(|key| self.video_pictures.contains(key) || self.is_video(key))
            .collect();
        let mut live = on_screen.clone();
        live.extend(frame.wanted.iter().filter_map(|want| match want {
            Want::Video { key, .. } => Some(key.clone()),
            _ => None,
        }));
        if let Some(pool) = &mut self.videos {
            pool.play(&on_screen);
            pool.retain(&live);
        }
        let gone: Vec<ContentKey> = self
            .video_pictures
            .iter()
            .filter(|key| !live.contains(*key))
            .cloned()
            .collect();
        for key in gone {
            self.renderer.remove_video(&key);
            self.playback.mark_evicted(&key);
            self.video_pictures.remove(&key);
        }
    }

    /// A media file as the staff wrote it (`` `bomb.png` (item `promo-3`) ``), for the log.
    fn media_label(&self, sha256: &Sha256Hex) -> String {
        match self.playback.manifest() {
            Some(manifest) => manifest.media_label(sha256),
            None => format!("media {sha256}"),
        }
    }

    fn is_video(&self, key: &ContentKey) -> bool {
        self.videos.as_ref().is_some_and(|pool| pool.contains(key))
    }

    /// How many video pipelines exist now.
    pub fn video_pipelines(&self) -> usize {
        self.videos.as_ref().map_or(0, VideoPool::len)
    }

    fn journal_finished(&mut self) {
        if let Some(journal) = &self.journal {
            for impression in self
                .playback
                .take_finished()
                .into_iter()
                .chain(self.audio.take_finished())
            {
                let _ = journal.send(impression);
            }
        }
    }
}

/// The journal writer: commits each impression (synchronous=FULL) off the render thread, so a slow
/// disk never costs a frame. It exits once every sender is gone and every impression is committed.
fn start_journal_writer(
    data_dir: &Path,
) -> anyhow::Result<(mpsc::Sender<Impression>, JoinHandle<()>)> {
    let journal = Journal::open(data_dir)?;
    let (sender, receiver) = mpsc::channel::<Impression>();
    let thread = std::thread::Builder::new()
        .name("vitrine-journal".into())
        .spawn(move || {
            for impression in receiver {
                // A failed commit is retried, never dropped: the play only counts once it is stored.
                let mut attempt = 0u32;
                while let Err(error) = journal.record(&impression) {
                    attempt += 1;
                    tracing::error!(
                        id = %impression.id,
                        attempt,
                        "cannot journal a play, retrying: {error:#}"
                    );
                    std::thread::sleep(Duration::from_millis(500));
                }
                tracing::debug!(id = %impression.id, item = %impression.item_id, "play journalled");
            }
        })?;
    Ok((sender, thread))
}
