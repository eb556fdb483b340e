//! Video items: one GStreamer pipeline per play at a time (`filesrc ! decodebin`, video through
//! `videoflip` (phone rotation tags) and `videoconvert` into an NV12 or I420 `appsink`, sound
//! through the configured audio output), owned by the render thread through a [`VideoPool`].
//! Pipelines are reused: a play that ends gives its pipeline back (stopped to READY on a thread of
//! its own) and the next play points its `filesrc` at another file, so a zone alternates between
//! two or three pipelines for its whole life instead of building one per play.
//!
//! Frames arrive on GStreamer's streaming threads. Each pipeline keeps only its newest frame in a
//! small shared slot and wakes the render loop with one coalesced [`PlayerEvent::Video`]; the
//! render thread takes the frame and uploads it ([`crate::render::Renderer::upload_video_frame`]).
//! No GStreamer thread touches GPU state.
//!
//! **Gapless:** the next item's pipeline is built and prerolled (PAUSED, its first frame already on
//! the GPU) during the current item, so the switch shows a real frame at once. A clip shorter than
//! its item loops (a flushing seek at end of stream, its last frame held meanwhile); one longer
//! than its item is cut when the item ends, because the schedule, not the clip, decides how long an
//! item lasts.
//!
//! **Never black:** a decode error arrives on the bus, is reported, and the last frame stays.

pub mod decoder;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use crate::events::{PlayerEvent, SharedSink};
use crate::render::{Chroma, ContentKey, Plane, YuvColour, YuvFrame, YuvMatrix};

pub use decoder::DecoderChoice;

/// Why a video cannot play.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error(
        "GStreamer cannot start: {0} (install gstreamer1.0-plugins-base and gstreamer1.0-plugins-good, or run `cargo xtask setup`)"
    )]
    Init(String),
    #[error(
        "the GStreamer element `{0}` is missing (install gstreamer1.0-plugins-base, -good, -bad and gstreamer1.0-libav, or run `cargo xtask setup`)"
    )]
    MissingElement(String),
    #[error(
        "`[video] decoder = \"{0}\"` names a decoder that is not installed (see `gst-inspect-1.0 {0}`); use \"auto\", \"software\" or an installed decoder"
    )]
    UnknownDecoder(String),
    #[error(
        "`[video] decoder = \"{name}\"` is not a decoder (its class is `{klass}`); use \"auto\", \"software\" or a decoder such as avdec_h264"
    )]
    NotADecoder { name: String, klass: String },
    #[error("cannot play {name}: {reason}")]
    Pipeline { name: String, reason: String },
}

/// Where video soundtracks go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AudioOutput {
    /// GStreamer's choice for this machine (`autoaudiosink`).
    #[default]
    Default,
    /// Nowhere, in real time (`fakesink sync=true`): machines without a sound card, and CI.
    Null,
    /// An ALSA device such as `hw:0,3` or `plughw:CARD=PCH`.
    Alsa(String),
}

impl AudioOutput {
    /// Reads the `[audio] device` setting: `default`, `null` or an ALSA device name. A `file:`
    /// device (the audio engine's recording, for tests) gets no video sound: two writers would
    /// garble one file.
    pub fn parse(text: &str) -> Self {
        match text.trim() {
            "" | "default" => AudioOutput::Default,
            "null" | "none" => AudioOutput::Null,
            device if device.starts_with("file:") => AudioOutput::Null,
            device => AudioOutput::Alsa(device.to_owned()),
        }
    }
}

/// How this player plays video.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoSettings {
    pub decoder: DecoderChoice,
    pub audio: AudioOutput,
    /// The `[audio] volume` over every soundtrack, 0 to 1.
    pub master_volume: f64,
}

impl Default for VideoSettings {
    fn default() -> Self {
        Self {
            decoder: DecoderChoice::Auto,
            audio: AudioOutput::Default,
            master_volume: 1.0,
        }
    }
}

/// What the render loop hears from a pipeline.
#[derive(Debug)]
pub enum VideoEvent {
    /// Some pipeline has a new frame (coalesced: one wake-up for any number of frames).
    Frame,
    /// A pipeline failed; it is torn down and its last frame stays on screen.
    Failed { id: u64, error: String },
}

/// One play of a video file.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoRequest {
    pub key: ContentKey,
    pub path: PathBuf,
    /// The media and item as the staff wrote them, for errors: `` `clip.mp4` (item `promo-3`) ``
    /// ([`vitrine_core::Manifest::media_label`]). Empty: errors name the path.
    pub name: String,
    /// The sound's volume (0 to 1, item times zone) when the item plays its soundtrack.
    pub sound: Option<f64>,
    /// How far into its turn the play already is when it is asked for (zero when it is prepared
    /// ahead): the clip starts that far in, modulo its length, so a restarted player, or one that
    /// got a new playlist mid-turn, shows what every other screen shows at that instant.
    pub start_offset: std::time::Duration,
}

/// The newest frame of one pipeline, waiting for the render thread.
#[derive(Default)]
struct FrameSlot {
    newest: Mutex<Option<gst::Sample>>,
}

/// How many stopped pipelines wait for another play. A zone uses two at a time (the play on screen
/// and the next one, prerolling) and a third while the last one stops; spares beyond these are
/// freed.
const SPARE_DECKS: usize = 4;

/// A pipeline built once and given one play after another: between plays it goes back to READY
/// (which drops the demuxer and decoder `decodebin` plugged for the last file), its `filesrc` is
/// pointed at the next file, and it prerolls again. Building a whole pipeline per play made and
/// freed the same few hundred objects and threads every few seconds, which fragments the heap of
/// a player that runs for months.
struct Deck {
    pipeline: gst::Pipeline,
    source: gst::Element,
    slot: Arc<FrameSlot>,
    play: Arc<Mutex<DeckPlay>>,
}

/// What the GStreamer callbacks of a deck need to know about its current play; set afresh for
/// every play.
#[derive(Default)]
struct DeckPlay {
    id: u64,
    /// The media and item as the staff wrote them (`` `clip.mp4` (item `promo-3`) ``), for errors.
    name: String,
    sound: Option<f64>,
    audio: AudioOutput,
    /// When the play's turn started, for a play joined midway.
    join_at: Option<std::time::Instant>,
    prerolled: bool,
    video_linked: bool,
    audio_linked: bool,
    /// The elements added for this play's sound, taken out again when the deck is recycled.
    audio_elements: Vec<gst::Element>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl Deck {
    /// Gives the deck its next play (the deck is in READY or new).
    fn load(&self, id: u64, request: &VideoRequest, sound: Option<f64>, audio: &AudioOutput) {
        *lock(&self.slot.newest) = None;
        {
            let mut play = lock(&self.play);
            play.id = id;
            play.name = name_of(request);
            play.sound = sound;
            play.audio = audio.clone();
            play.join_at = (!request.start_offset.is_zero())
                .then(|| std::time::Instant::now().checked_sub(request.start_offset))
                .flatten();
            play.prerolled = false;
            play.video_linked = false;
            play.audio_linked = false;
        }
        self.source
            .set_property("location", request.path.to_string_lossy().as_ref());
    }

    /// Stops the play (waiting for the streaming threads) and takes its sound chain out, so the
    /// deck can take another play. False when GStreamer refused to stop it: the deck is dropped.
    fn recycle(&self) -> bool {
        let stopped = self.pipeline.set_state(gst::State::Ready).is_ok();
        let elements = std::mem::take(&mut lock(&self.play).audio_elements);
        for element in &elements {
            let _ = element.set_state(gst::State::Null);
        }
        let removed = self.pipeline.remove_many(&elements).is_ok();
        *lock(&self.slot.newest) = None;
        stopped && removed
    }
}

impl Drop for Deck {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// How errors name a play: as the staff wrote it, else by its file's path.
fn name_of(request: &VideoRequest) -> String {
    if request.name.is_empty() {
        format!("`{}`", request.path.display())
    } else {
        request.name.clone()
    }
}

struct Video {
    id: u64,
    deck: Deck,
    playing: bool,
}

/// A decoded frame ready for the GPU, still in GStreamer's buffer.
pub struct VideoFrame {
    pub key: ContentKey,
    sample: gst::Sample,
}

impl VideoFrame {
    /// Maps the frame and hands its planes to `upload`. Errors say why the frame is unusable.
    pub fn with_planes<R>(&self, upload: impl FnOnce(&YuvFrame<'_>) -> R) -> Result<R, String> {
        let caps = self.sample.caps().ok_or("a frame came without caps")?;
        let info = gst_video::VideoInfo::from_caps(caps)
            .map_err(|error| format!("unreadable video caps {caps}: {error}"))?;
        let planar = match info.format() {
            gst_video::VideoFormat::Nv12 => false,
            gst_video::VideoFormat::I420 => true,
            other => return Err(format!("expected NV12 or I420 frames, got {other:?}")),
        };
        let buffer = self
            .sample
            .buffer()
            .ok_or("a frame came without a buffer")?;
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
            .map_err(|error| format!("cannot map a video frame: {error}"))?;
        let strides = frame.plane_stride();
        let plane = |index: u32| -> Result<Plane<'_>, String> {
            Ok(Plane {
                data: frame.plane_data(index).map_err(|error| error.to_string())?,
                stride: u32::try_from(strides[index as usize])
                    .map_err(|_| "a plane has a negative stride".to_owned())?,
            })
        };
        let chroma = if planar {
            Chroma::Planar {
                u: plane(1)?,
                v: plane(2)?,
            }
        } else {
            Chroma::Interleaved(plane(1)?)
        };
        let planes = YuvFrame {
            width: frame.width(),
            height: frame.height(),
            luma: plane(0)?,
            chroma,
            colour: colour_of(&info),
        };
        Ok(upload(&planes))
    }
}

/// The stream's colour matrix and range. When the stream does not say, HD and larger frames are
/// taken as BT.709 and smaller ones as BT.601, as players and TVs do.
fn colour_of(info: &gst_video::VideoInfo) -> YuvColour {
    let colorimetry = info.colorimetry();
    let matrix = match colorimetry.matrix() {
        gst_video::VideoColorMatrix::Bt601 => YuvMatrix::Bt601,
        gst_video::VideoColorMatrix::Bt709 => YuvMatrix::Bt709,
        gst_video::VideoColorMatrix::Bt2020 => YuvMatrix::Bt2020,
        _ if info.height() >= 720 => YuvMatrix::Bt709,
        _ => YuvMatrix::Bt601,
    };
    YuvColour {
        matrix,
        full_range: colorimetry.range() == gst_video::VideoColorRange::Range0_255,
    }
}

/// Every video pipeline of the player, owned by the render thread.
pub struct VideoPool {
    sink: SharedSink,
    settings: VideoSettings,
    videos: HashMap<ContentKey, Video>,
    next_id: u64,
    /// Whether `settings.audio` has been tried yet. It is tried when the first soundtrack plays,
    /// not at start-up: opening a sound device is slow, and players with silent playlists (most)
    /// should neither wait for it nor log a missing sound card.
    audio_checked: bool,
    /// Set when a frame arrived and the render loop has not been woken for it yet.
    wake_pending: Arc<AtomicBool>,
    /// Decks stopped and ready for another play.
    spare: Arc<Mutex<Vec<Deck>>>,
    /// How many decks were ever built.
    built: usize,
    /// Decks are stopped on their own thread: stopping waits for streaming threads, which must
    /// never cost a frame. Stopped decks go to `spare`.
    reaper: mpsc::Sender<Deck>,
}

impl VideoPool {
    /// Starts GStreamer with `settings`. Fails when GStreamer or a needed element is missing, or
    /// the configured decoder is unknown, so a misconfigured player says so at start-up.
    pub fn new(sink: SharedSink, settings: VideoSettings) -> Result<Self, VideoError> {
        gst::init().map_err(|error| VideoError::Init(error.to_string()))?;
        for element in [
            "filesrc",
            "decodebin",
            "videoconvert",
            "videoflip",
            "appsink",
            "audioconvert",
            "audioresample",
            "volume",
            "fakesink",
        ] {
            if gst::ElementFactory::find(element).is_none() {
                return Err(VideoError::MissingElement(element.to_owned()));
            }
        }
        decoder::apply(&settings.decoder)?;
        let (reaper, decks) = mpsc::channel::<Deck>();
        let spare = Arc::new(Mutex::new(Vec::new()));
        {
            let spare = spare.clone();
            std::thread::Builder::new()
                .name("vitrine-video-stop".into())
                .spawn(move || {
                    for deck in decks {
                        if deck.recycle() {
                            let mut spare = lock(&spare);
                            if spare.len() < SPARE_DECKS {
                                spare.push(deck);
                                continue;
                            }
                        }
                        // Dropped here, on this thread: dropping stops it.
                    }
                })
                .map_err(|error| VideoError::Init(error.to_string()))?;
        }
        Ok(Self {
            sink,
            settings,
            videos: HashMap::new(),
            next_id: 0,
            audio_checked: false,
            wake_pending: Arc::new(AtomicBool::new(false)),
            spare,
            built: 0,
            reaper,
        })
    }

    pub fn contains(&self, key: &ContentKey) -> bool {
        self.videos.contains_key(key)
    }

    /// Gives `request` a pipeline (a spare one when there is one) and prerolls it (PAUSED): its
    /// first frame arrives as a [`VideoEvent::Frame`]. Nothing happens for a play already
    /// prepared.
    pub fn prepare(&mut self, request: &VideoRequest) -> Result<(), VideoError> {
        if self.videos.contains_key(&request.key) {
            return Ok(());
        }
        if request.sound.is_some() && !self.audio_checked {
            self.settings.audio = usable_audio_output(self.settings.audio.clone());
            self.audio_checked = true;
        }
        self.next_id += 1;
        let id = self.next_id;
        let spare = lock(&self.spare).pop();
        let deck = match spare {
            Some(deck) => deck,
            None => {
                let deck =
                    build_deck(self.sink.clone(), self.wake_pending.clone()).map_err(|reason| {
                        VideoError::Pipeline {
                            name: name_of(request),
                            reason,
                        }
                    })?;
                self.built += 1;
                deck
            }
        };
        deck.load(
            id,
            request,
            request
                .sound
                .map(|volume| volume * self.settings.master_volume),
            &self.settings.audio,
        );
        if deck.pipeline.set_state(gst::State::Paused).is_err() {
            let _ = self.reaper.send(deck);
            return Err(VideoError::Pipeline {
                name: name_of(request),
                reason: "it refused to start (see the log for GStreamer's reason)".into(),
            });
        }
        tracing::debug!(key = %request.key, path = %request.path.display(), "video prerolling");
        self.videos.insert(
            request.key.clone(),
            Video {
                id,
                deck,
                playing: false,
            },
        );
        Ok(())
    }

    /// Starts the plays now on screen; prerolled ones not yet on screen wait, paused.
    pub fn play(&mut self, on_screen: &HashSet<ContentKey>) {
        for (key, video) in &mut self.videos {
            if !video.playing && on_screen.contains(key) {
                video.playing = true;
                if let Err(error) = video.deck.pipeline.set_state(gst::State::Playing) {
                    tracing::warn!(%key, "a video did not start: {error}");
                }
            }
        }
    }

    /// Stops and forgets every play not in `keep`; returns their keys. Their pipelines are kept
    /// for later plays.
    pub fn retain(&mut self, keep: &HashSet<ContentKey>) -> Vec<ContentKey> {
        let gone: Vec<ContentKey> = self
            .videos
            .keys()
            .filter(|key| !keep.contains(*key))
            .cloned()
            .collect();
        for key in &gone {
            if let Some(video) = self.videos.remove(key) {
                tracing::debug!(%key, "video stopped");
                let _ = self.reaper.send(video.deck);
            }
        }
        gone
    }

    /// The newest frame of every pipeline that has one the render thread has not taken yet.
    pub fn take_frames(&mut self) -> Vec<VideoFrame> {
        self.wake_pending.store(false, Ordering::Release);
        self.videos
            .iter()
            .filter_map(|(key, video)| {
                let sample = lock(&video.deck.slot.newest).take()?;
                Some(VideoFrame {
                    key: key.clone(),
                    sample,
                })
            })
            .collect()
    }

    /// The play whose pipeline `id` failed: it is stopped and forgotten.
    pub fn fail(&mut self, id: u64) -> Option<ContentKey> {
        let key = self
            .videos
            .iter()
            .find(|(_, video)| video.id == id)
            .map(|(key, _)| key.clone())?;
        self.stop(&key);
        Some(key)
    }

    /// Stops the play under `key` (its frames cannot be shown); says whether it existed.
    pub fn stop(&mut self, key: &ContentKey) -> bool {
        match self.videos.remove(key) {
            Some(video) => {
                let _ = self.reaper.send(video.deck);
                true
            }
            None => false,
        }
    }

    /// How many plays have a pipeline: tests check that plays do not leak them.
    pub fn len(&self) -> usize {
        self.videos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.videos.is_empty()
    }

    /// How many pipelines were ever built: plays reuse stopped ones, so this stays at the most
    /// plays alive at once plus the few stopping, however many plays there were.
    pub fn pipelines_built(&self) -> usize {
        self.built
    }
}

impl Drop for VideoPool {
    fn drop(&mut self) {
        // Dropping a deck stops it.
        self.videos.clear();
        lock(&self.spare).clear();
    }
}

/// The configured sound output if it opens, else the null output: a machine without a sound card
/// (or a wrong device name) still plays its videos, silently, and the log says how to fix it.
fn usable_audio_output(audio: AudioOutput) -> AudioOutput {
    let sink = match &audio {
        AudioOutput::Null => return audio,
        AudioOutput::Default => make("autoaudiosink"),
        AudioOutput::Alsa(device) => make("alsasink").inspect(|alsasink| {
            alsasink.set_property("device", device.as_str());
        }),
    };
    let opened = sink.and_then(|sink| {
        let result = sink
            .set_state(gst::State::Ready)
            .map(|_| ())
            .map_err(|_| "it cannot be opened".to_owned());
        let _ = sink.set_state(gst::State::Null);
        result
    });
    match opened {
        Ok(()) => audio,
        Err(error) => {
            tracing::error!(
                ?audio,
                "video soundtracks play silently: the audio output {error}. List the devices \
                 with `aplay -L` and set `[audio] device` in the player config (or `null` on a \
                 machine with no sound card)"
            );
            AudioOutput::Null
        }
    }
}

fn make(factory: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| format!("the GStreamer element `{factory}` is missing"))
}

/// A sample of our own holding the frame's buffer and caps. appsink hands out one sample object,
/// reused for every frame, and sets the stream's caps on it in place whenever caps are announced
/// again (after every flushing seek, so at every loop, and at every new clip): while the render
/// thread still held that object (a frame waiting in its slot, or one being uploaded) it was not
/// writable, GStreamer 1.22 logged `gst_sample_set_caps: assertion 'gst_sample_is_writable
/// (sample)' failed`, and the frames after it kept the old caps. Holding our own leaves appsink's
/// object free to change.
fn detached(sample: &gst::Sample) -> gst::Sample {
    let buffer = sample.buffer_owned();
    let caps = sample.caps_owned();
    gst::Sample::builder()
        .buffer_if_some(buffer.as_ref())
        .caps_if_some(caps.as_ref())
        .build()
}

/// The video decoder element the last video used (`avdec_h264`, `vah264dec`…).
static DECODER_IN_USE: Mutex<Option<String>> = Mutex::new(None);

/// The video decoder element the last video used, if a video played yet.
pub fn decoder_in_use() -> Option<String> {
    lock(&DECODER_IN_USE).clone()
}

/// Whether an element's class (`Codec/Decoder/Video/Hardware`) is a video decoder's.
fn is_video_decoder(klass: &str) -> bool {
    let parts: Vec<&str> = klass.split('/').collect();
    parts.contains(&"Decoder") && parts.contains(&"Video")
}

/// `filesrc ! decodebin`, then per stream: video through `videoflip` (rotation tags) and
/// `videoconvert` into the NV12 appsink; audio through conversion and volume into the configured
/// output, or into a fakesink when the item is silent. The file and the sound come with each play
/// ([`Deck::load`]).
fn build_deck(sink: SharedSink, wake_pending: Arc<AtomicBool>) -> Result<Deck, String> {
    static DECKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let number = DECKS.fetch_add(1, Ordering::Relaxed) + 1;
    let pipeline = gst::Pipeline::with_name(&format!("video-{number}"));
    let source = make("filesrc")?;
    let decodebin = make("decodebin")?;
    // Which decoder decodebin plugs for each file: what the heartbeat and metrics report.
    decodebin
        .downcast_ref::<gst::Bin>()
        .ok_or("decodebin is not a bin")?
        .connect_deep_element_added(|_, _, element| {
            if let Some(factory) = element.factory()
                && is_video_decoder(factory.klass())
            {
                let decoder = factory.name().to_string();
                crate::metrics::global().set_video_decoder(&decoder);
                *lock(&DECODER_IN_USE) = Some(decoder);
            }
        });
    let flip = make("videoflip")?;
    flip.set_property_from_str("video-direction", "auto");
    let convert = make("videoconvert")?;
    // NV12 or I420, whichever the decoder makes: software decoders give I420 and hardware ones
    // NV12, and either way `videoconvert` passes frames through untouched.
    let caps = gst_video::VideoCapsBuilder::new()
        .format_list([gst_video::VideoFormat::I420, gst_video::VideoFormat::Nv12])
        .build();
    let slot = Arc::new(FrameSlot::default());
    let play = Arc::new(Mutex::new(DeckPlay::default()));
    let wake = {
        let sink = sink.clone();
        move || {
            if !wake_pending.swap(true, Ordering::AcqRel) {
                sink.post(PlayerEvent::Video(VideoEvent::Frame));
            }
        }
    };
    let store = {
        let slot = slot.clone();
        move |sample: gst::Sample| {
            *lock(&slot.newest) = Some(detached(&sample));
            wake();
        }
    };
    let store_preroll = store.clone();
    let appsink = gst_app::AppSink::builder()
        .caps(&caps)
        .sync(true)
        .qos(true)
        .enable_last_sample(false)
        .callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_preroll(move |appsink| {
                    let sample = appsink.pull_preroll().map_err(|_| gst::FlowError::Eos)?;
                    store_preroll(sample);
                    Ok(gst::FlowSuccess::Ok)
                })
                .new_sample(move |appsink| {
                    let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    store(sample);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        )
        .build();
    let appsink: gst::Element = appsink.upcast();
    pipeline
        .add_many([&source, &decodebin, &flip, &convert, &appsink])
        .map_err(|error| error.to_string())?;
    source.link(&decodebin).map_err(|error| error.to_string())?;
    gst::Element::link_many([&flip, &convert, &appsink]).map_err(|error| error.to_string())?;

    let pipeline_weak = pipeline.downgrade();
    let flip_sink = flip.static_pad("sink").ok_or("videoflip has no sink pad")?;
    {
        let play = play.clone();
        decodebin.connect_pad_added(move |_, pad| {
            let Some(caps) = pad.current_caps().or_else(|| Some(pad.query_caps(None))) else {
                return;
            };
            let Some(kind) = caps
                .structure(0)
                .map(|structure| structure.name().to_string())
            else {
                return;
            };
            if kind.starts_with("video/") {
                if std::mem::replace(&mut lock(&play).video_linked, true) {
                    return;
                }
                if let Err(error) = pad.link(&flip_sink) {
                    tracing::warn!("cannot link the video stream: {error:?}");
                }
            } else if kind.starts_with("audio/") {
                // The lock is not held while linking: state changes post bus messages, whose
                // handler takes it.
                let (sound, audio) = {
                    let mut play = lock(&play);
                    if std::mem::replace(&mut play.audio_linked, true) {
                        return;
                    }
                    (play.sound, play.audio.clone())
                };
                let Some(pipeline) = pipeline_weak.upgrade() else {
                    return;
                };
                match link_audio(&pipeline, pad, sound, &audio) {
                    Ok(elements) => lock(&play).audio_elements.extend(elements),
                    Err(error) => tracing::warn!("the video's sound is not played: {error}"),
                }
            }
        });
    }
    {
        // A file with no video stream would never preroll: say so instead of waiting forever.
        let sink = sink.clone();
        let play = play.clone();
        decodebin.connect_no_more_pads(move |_| {
            let (linked, id, name) = {
                let play = lock(&play);
                (play.video_linked, play.id, play.name.clone())
            };
            if !linked {
                sink.post(PlayerEvent::Video(VideoEvent::Failed {
                    id,
                    error: format!("cannot play {name}: the file has no video stream"),
                }));
            }
        });
    }

    watch_bus(&pipeline, sink, play.clone())?;
    Ok(Deck {
        pipeline,
        source,
        slot,
        play,
    })
}

/// Links a decoded audio stream: to the configured output at `sound`'s volume, or to a fakesink
/// that keeps the stream flowing for a silent item.
fn link_audio(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    sound: Option<f64>,
    audio: &AudioOutput,
) -> Result<Vec<gst::Element>, String> {
    let elements: Vec<gst::Element> = match sound {
        None => {
            let fakesink = make("fakesink")?;
            fakesink.set_property("sync", false);
            fakesink.set_property("async", false);
            vec![fakesink]
        }
        Some(volume_level) => {
            let queue = make("queue")?;
            let convert = make("audioconvert")?;
            let resample = make("audioresample")?;
            let volume = make("volume")?;
            volume.set_property("volume", volume_level.clamp(0.0, 10.0));
            let output = match audio {
                AudioOutput::Default => make("autoaudiosink")?,
                AudioOutput::Null => {
                    let fakesink = make("fakesink")?;
                    fakesink.set_property("sync", true);
                    fakesink
                }
                AudioOutput::Alsa(device) => {
                    let alsasink = make("alsasink")?;
                    alsasink.set_property("device", device.as_str());
                    alsasink
                }
            };
            vec![queue, convert, resample, volume, output]
        }
    };
    pipeline
        .add_many(&elements)
        .map_err(|error| error.to_string())?;
    let linked = (|| {
        gst::Element::link_many(&elements).map_err(|error| error.to_string())?;
        for element in &elements {
            element
                .sync_state_with_parent()
                .map_err(|error| error.to_string())?;
        }
        let sink_pad = elements[0]
            .static_pad("sink")
            .ok_or("the audio chain has no sink pad")?;
        pad.link(&sink_pad)
            .map_err(|error| format!("cannot link the audio stream: {error:?}"))?;
        Ok::<(), String>(())
    })();
    if let Err(error) = linked {
        // Taken out again: the pipeline is reused for other plays.
        for element in &elements {
            let _ = element.set_state(gst::State::Null);
        }
        let _ = pipeline.remove_many(&elements);
        return Err(error);
    }
    Ok(elements)
}

/// Handles the pipeline's messages where they are posted: errors go to the render loop; looping
/// is GStreamer's business and stays on its threads.
///
/// A loop is a flushing seek back to the start at end of stream. End of stream comes once the last
/// frame has had its full time on screen (the decoder drains at EOS, so B-frame streams lose no
/// frame), and the re-preroll keeps that frame up for the few milliseconds it takes: no black
/// frame and no lost one. (Segment seeks, the other way, lose a clip's last frame at each loop:
/// the next pass is timed from the last frame's start, not its end.) A play joined midway is
/// sought to where its turn is once it has prerolled.
fn watch_bus(
    pipeline: &gst::Pipeline,
    sink: SharedSink,
    play: Arc<Mutex<DeckPlay>>,
) -> Result<(), String> {
    let bus = pipeline.bus().ok_or("the pipeline has no bus")?;
    let weak = pipeline.downgrade();
    bus.set_sync_handler(move |_, message| {
        use gst::MessageView;
        // `join_at`: a play joined late starts as far in as its turn is when the seek runs.
        let seek = |flags: gst::SeekFlags, join_at: Option<std::time::Instant>| {
            if let Some(pipeline) = weak.upgrade() {
                pipeline.call_async(move |pipeline| {
                    let end = pipeline.query_duration::<gst::ClockTime>();
                    let start = match (join_at, end) {
                        (Some(turn_start), Some(end)) if !end.is_zero() => {
                            let into_turn = turn_start.elapsed().as_nanos() as u64;
                            gst::ClockTime::from_nseconds(into_turn % end.nseconds())
                        }
                        _ => gst::ClockTime::ZERO,
                    };
                    let sought = pipeline.seek(
                        1.0,
                        flags,
                        gst::SeekType::Set,
                        start,
                        gst::SeekType::None,
                        gst::ClockTime::NONE,
                    );
                    if let Err(error) = sought {
                        tracing::debug!("a video loop seek was refused: {error}");
                    }
                });
            }
        };
        match message.view() {
            MessageView::AsyncDone(_) => {
                let join_at = {
                    let mut play = lock(&play);
                    let first = play.join_at.is_some() && !std::mem::replace(&mut play.prerolled, true);
                    if first { play.join_at } else { None }
                };
                if join_at.is_some() {
                    seek(gst::SeekFlags::FLUSH, join_at);
                }
            }
            MessageView::Eos(_) => seek(gst::SeekFlags::FLUSH, None),
            MessageView::Error(error) => {
                let source = error
                    .src()
                    .map(|source| source.name().to_string())
                    .unwrap_or_default();
                let debug = error
                    .debug()
                    .map(|debug| format!(" ({debug})"))
                    .unwrap_or_default();
                let (id, name) = {
                    let play = lock(&play);
                    (play.id, play.name.clone())
                };
                sink.post(PlayerEvent::Video(VideoEvent::Failed {
                    id,
                    error: format!("cannot play {name}: {source}: {}{debug}", error.error()),
                }));
            }
            MessageView::Warning(warning) => {
                tracing::debug!(pipeline = %message.src().map(|source| source.name().to_string()).unwrap_or_default(), "GStreamer warning: {}", warning.error());
            }
            _ => {}
        }
        gst::BusSyncReply::Drop
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audio_device_setting_maps_to_an_output() {
        assert_eq!(AudioOutput::parse("default"), AudioOutput::Default);
        assert_eq!(AudioOutput::parse("null"), AudioOutput::Null);
        assert_eq!(AudioOutput::parse("file:/tmp/out.wav"), AudioOutput::Null);
        assert_eq!(
            AudioOutput::parse("hw:0,3"),
            AudioOutput::Alsa("hw:0,3".into())
        );
    }

    #[test]
    fn an_alsa_device_that_does_not_open_falls_back_to_silence() {
        gst::init().unwrap();
        assert_eq!(
            usable_audio_output(AudioOutput::Alsa("hw:97,0".into())),
            AudioOutput::Null
        );
        assert_eq!(usable_audio_output(AudioOutput::Null), AudioOutput::Null);
    }
}
