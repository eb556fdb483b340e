//! The audio engine thread: it opens the sink, takes commands from the render loop (play this
//! track in that zone from this position, stop, master volume), decodes and mixes in blocks of
//! 10 ms, and reports back when a track started or failed. The render loop never waits on it.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use jiff::Timestamp;

use super::mixer::{MixEvent, Mixer};
use super::sink::{DeviceChoice, open_sink};
use super::source::TrackSource;

/// One play for a zone.
#[derive(Clone, Debug, PartialEq)]
pub struct PlayRequest {
    pub zone: String,
    /// Chosen by the caller; reports name it.
    pub play_id: u64,
    pub path: PathBuf,
    /// How far into the track to start (wrapped around its length).
    pub offset: Duration,
    /// The play's volume: the item's times the zone's, from 0 to 1.
    pub gain: f32,
    /// How long to crossfade from what the zone played (a cut for zero).
    pub crossfade: Duration,
}

enum Command {
    Play(PlayRequest),
    Stop { zone: String, fade: Duration },
    Shutdown,
}

/// What the engine tells the render loop about a play.
#[derive(Clone, Debug, PartialEq)]
pub enum AudioReport {
    /// Its first sample went to the sink.
    Started { play_id: u64, at: Timestamp },
    /// It could not play (or stopped playing) because of `error`; `at` is when it fell silent.
    Failed {
        play_id: u64,
        at: Timestamp,
        error: String,
    },
}

/// The handle the render loop keeps.
pub struct AudioEngine {
    commands: mpsc::Sender<Command>,
    reports: mpsc::Receiver<AudioReport>,
    thread: Option<JoinHandle<()>>,
}

/// Frames per mixing block: 10 ms at 48 kHz.
const BLOCK_SECONDS: f64 = 0.01;

impl AudioEngine {
    /// Starts the engine on `device` with the master volume `master` (0 to 1).
    pub fn start(device: DeviceChoice, master: f32) -> std::io::Result<Self> {
        let (commands, command_receiver) = mpsc::channel();
        let (report_sender, reports) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("vitrine-audio".into())
            .spawn(move || run(device, master, command_receiver, report_sender))?;
        Ok(Self {
            commands,
            reports,
            thread: Some(thread),
        })
    }

    pub fn play(&self, request: PlayRequest) {
        let _ = self.commands.send(Command::Play(request));
    }

    pub fn stop(&self, zone: &str, fade: Duration) {
        let _ = self.commands.send(Command::Stop {
            zone: zone.to_owned(),
            fade,
        });
    }

    /// Reports since the last call.
    pub fn take_reports(&self) -> Vec<AudioReport> {
        self.reports.try_iter().collect()
    }

    /// Stops the sound and waits for the sink to finish (a WAV file is completed).
    pub fn shutdown(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the audio thread panicked");
        }
    }
}

impl Drop for AudioEngine {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn frames_of(duration: Duration, rate: u32) -> u32 {
    (duration.as_secs_f64() * f64::from(rate)).round() as u32
}

fn run(
    device: DeviceChoice,
    master: f32,
    commands: mpsc::Receiver<Command>,
    reports: mpsc::Sender<AudioReport>,
) {
    let mut sink = open_sink(&device);
    let rate = sink.sample_rate();
    let block_frames = ((f64::from(rate) * BLOCK_SECONDS) as usize).max(1);
    let mut block = vec![0.0f32; block_frames * 2];
    let mut mixer = Mixer::new(master);
    let mut announce = Vec::new();
    loop {
        loop {
            let command = match commands.try_recv() {
                Ok(command) => command,
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    sink.finish();
                    return;
                }
            };
            match command {
                Command::Play(request) => {
                    match TrackSource::open(request.path.clone(), rate, request.offset) {
                        Ok(source) => {
                            mixer.play(
                                &request.zone,
                                request.play_id,
                                Box::new(source),
                                request.gain,
                                frames_of(request.crossfade, rate),
                            );
                            announce.push(request.play_id);
                        }
                        Err(error) => {
                            // What played before fades out: a broken file never leaves the last
                            // track looping over the zone's next item.
                            mixer.stop(&request.zone, frames_of(request.crossfade, rate));
                            let _ = reports.send(AudioReport::Failed {
                                play_id: request.play_id,
                                at: Timestamp::now(),
                                error: error.to_string(),
                            });
                        }
                    }
                }
                Command::Stop { zone, fade } => mixer.stop(&zone, frames_of(fade, rate)),
                Command::Shutdown => {
                    sink.finish();
                    return;
                }
            }
        }
        mixer.render(&mut block);
        for play_id in announce.drain(..) {
            let _ = reports.send(AudioReport::Started {
                play_id,
                at: Timestamp::now(),
            });
        }
        for event in mixer.take_events() {
            let MixEvent::Ended {
                play_id,
                frames,
                error,
            } = event;
            if let Some(error) = error {
                tracing::debug!(play_id, frames, "track failed: {error}");
                let _ = reports.send(AudioReport::Failed {
                    play_id,
                    at: Timestamp::now(),
                    error,
                });
            }
        }
        sink.write(&block);
    }
}
