//! The one closed set of events that the player's threads post to the render loop. Sync, decode and
//! signal threads never touch GPU state; they post one of these and the loop acts on it.

use std::sync::Arc;

use jiff::Timestamp;
use vitrine_core::{Manifest, Sha256Hex};

use crate::decode::DecodedImage;

#[derive(Debug)]
pub enum PlayerEvent {
    /// A manifest whose media are all verified in the cache is now the one to play.
    ManifestActivated(Arc<Manifest>),
    /// An image finished decoding and waits to be uploaded to the GPU.
    MediaDecoded(DecodedImage),
    /// A media file could not be decoded; the item is skipped and the screen keeps what it shows.
    DecodeFailed { sha256: Sha256Hex, error: String },
    /// HQ pushed an emergency message: show it full screen, over everything, until `until` or
    /// until HQ cancels it. `id` is its event id, which the cancel names.
    Interrupt {
        id: u64,
        message: String,
        until: Timestamp,
    },
    /// HQ withdrew the interrupt with this id: take it off the screen now.
    InterruptCancelled { id: u64 },
    /// HQ asked for a screenshot: read back the next frame presented and send it (see
    /// [`crate::screenshot`]).
    Screenshot,
    /// HQ asked the screen to say who it is: show its name full screen, over whatever plays,
    /// until `until`. Not a play: nothing is journalled for it.
    Identify { until: Timestamp },
    /// A player waiting to be paired shows this code full screen until `until`.
    PairingCode { code: String, until: Timestamp },
    /// HQ pushed a trigger (a loyalty-app check-in, say): until `until`, the next offer slots
    /// should target `segment`.
    Trigger { segment: String, until: Timestamp },
    /// Why the sync gets no content (`None` once it does again), and the screen's name as far as
    /// the sync knows it. The screen says it only while it has nothing else to show.
    SyncProblem {
        problem: Option<crate::problem::Problem>,
        screen: Option<String>,
    },
    /// A video pipeline has a new frame, or failed.
    Video(crate::video::VideoEvent),
    /// SIGTERM, Ctrl-C, or the configured run time has passed.
    Shutdown,
}

/// Where threads post events: a channel in headless mode, winit's `EventLoopProxy` with a window.
pub trait EventSink: Send + Sync + 'static {
    fn post(&self, event: PlayerEvent);
}

impl EventSink for std::sync::mpsc::Sender<PlayerEvent> {
    fn post(&self, event: PlayerEvent) {
        // The loop is gone only while the process shuts down; nothing is left to tell.
        let _ = self.send(event);
    }
}

impl EventSink for winit::event_loop::EventLoopProxy<PlayerEvent> {
    fn post(&self, event: PlayerEvent) {
        let _ = self.send_event(event);
    }
}

pub type SharedSink = Arc<dyn EventSink>;
