//! The player's state between events and frames, shared by the window and headless front ends:
//! playback timeline, renderer textures, decode requests and the journal writer. Events update it;
//! frames are drawn from what [`Player::prepare_frame`] decided.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use jiff::Timestamp;
use vitrine_core::{Impression, Sha256Hex};

use crate::background::Background;
use crate::cache::media_path;
use crate::decode::{DecodeWorker, decode_bytes};
use crate::events::{PlayerEvent, SharedSink};
use crate::journal::Journal;
use crate::playback::{Playback, Tick};
use crate::render::{Gpu, Renderer};

/// The built-in splash, shown until the first content is ready and whenever nothing else can be.
pub const SPLASH_PNG: &[u8] = include_bytes!("../../../assets/splash.png");

/// Whether the loop should go on after an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Shutdown,
}

pub struct Player {
    playback: Playback,
    renderer: Renderer,
    decoder: DecodeWorker,
    media_dir: PathBuf,
    requested: HashSet<Sha256Hex>,
    decode_size: (u32, u32),
    journal: Option<mpsc::Sender<Impression>>,
    journal_thread: Option<JoinHandle<()>>,
    background: Option<Background>,
}

impl Player {
    /// Sets up playback on `gpu`, drawing into targets of `format` and `screen_size`.
    pub fn new(
        gpu: &Gpu,
        format: wgpu::TextureFormat,
        screen_size: (u32, u32),
        data_dir: &Path,
        sink: SharedSink,
        background: Option<Background>,
    ) -> anyhow::Result<Self> {
        let mut renderer = Renderer::new(gpu, format);
        let splash_digest = Sha256Hex::of_bytes(SPLASH_PNG);
        let splash = decode_bytes(
            SPLASH_PNG,
            splash_digest.clone(),
            screen_size.0,
            screen_size.1,
        )?;
        renderer.upload(gpu, &splash);
        let mut playback = Playback::new(splash_digest.clone());
        playback.mark_ready(splash_digest);
        let (journal, journal_thread) = start_journal_writer(data_dir)?;
        Ok(Self {
            playback,
            renderer,
            decoder: DecodeWorker::start(sink)?,
            media_dir: data_dir.join("media"),
            requested: HashSet::new(),
            decode_size: screen_size,
            journal: Some(journal),
            journal_thread: Some(journal_thread),
            background,
        })
    }

    /// Applies one event. GPU uploads happen here, on the render thread.
    pub fn handle(&mut self, gpu: &Gpu, event: PlayerEvent) -> Flow {
        match event {
            PlayerEvent::ManifestActivated(manifest) => {
                tracing::info!(
                    playlist = %manifest.playlist,
                    version = manifest.playlist_version,
                    items = manifest.items.len(),
                    "playing manifest"
                );
                self.playback.activate(manifest);
                let in_use = self.playback.media_in_use();
                for dropped in self.renderer.retain(&in_use) {
                    self.playback.mark_evicted(&dropped);
                    self.requested.remove(&dropped);
                }
            }
            PlayerEvent::MediaDecoded(image) => {
                if self.playback.media_in_use().contains(&image.sha256) {
                    self.renderer.upload(gpu, &image);
                    self.playback.mark_ready(image.sha256);
                }
            }
            PlayerEvent::DecodeFailed { sha256, error } => {
                tracing::error!(%sha256, "media skipped, the screen keeps its content: {error}");
                self.playback.mark_failed(sha256);
            }
            PlayerEvent::Shutdown => return Flow::Shutdown,
        }
        Flow::Continue
    }

    /// Decides the frame for `now`: asks for the media it needs and journals finished plays.
    pub fn prepare_frame(&mut self, now: Timestamp) -> Tick {
        let tick = self.playback.tick(now);
        for sha256 in &tick.wanted {
            if !self.renderer.has(sha256) && self.requested.insert(sha256.clone()) {
                self.decoder.request(
                    sha256.clone(),
                    media_path(&self.media_dir, sha256),
                    self.decode_size.0,
                    self.decode_size.1,
                );
            }
        }
        self.journal_finished();
        tick
    }

    /// Draws `content` into `target`.
    pub fn draw(
        &self,
        gpu: &Gpu,
        target: &wgpu::TextureView,
        target_size: (u32, u32),
        content: &Sha256Hex,
    ) {
        self.renderer.render(gpu, target, target_size, content);
    }

    /// Ends playback: journals the play on screen, waits for the journal to commit, then lets the
    /// network thread make its last upload.
    pub fn shutdown(mut self, now: Timestamp) {
        self.playback.finish(now);
        self.journal_finished();
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

    fn journal_finished(&mut self) {
        if let Some(journal) = &self.journal {
            for impression in self.playback.take_finished() {
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
