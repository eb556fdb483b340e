//! Where the mixed sound goes: an ALSA device through cpal, nowhere (a machine with no sound card),
//! or a WAV file (tests listen to it). Every sink takes interleaved stereo `f32` and paces its
//! caller to real time, so the engine's clock is the sound's clock whichever sink it has.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::AudioError;

/// The rate of the null and file sinks: what most music is mastered and most devices run at.
pub const DEFAULT_RATE: u32 = 48_000;

/// How much mixed sound a device sink keeps queued ahead of the hardware.
const DEVICE_QUEUE: Duration = Duration::from_millis(150);

/// A destination for mixed stereo frames.
pub trait AudioSink {
    /// Frames per second it plays.
    fn sample_rate(&self) -> u32;

    /// Plays `frames` (interleaved stereo), returning once they are due: the sink sets the pace.
    fn write(&mut self, frames: &[f32]);

    /// Ends playback; a file sink completes its file here.
    fn finish(&mut self) {}

    /// What it plays to, for logs.
    fn describe(&self) -> String;
}

/// Which sink the `[audio] device` setting names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The system's default output.
    Default,
    /// No sound: samples are consumed in real time and dropped.
    Null,
    /// A WAV file, for tests and checks.
    File(PathBuf),
    /// An ALSA device by name, as `aplay -L` lists them (`hw:0,0`, `plughw:CARD=PCH,DEV=3`).
    Alsa(String),
}

impl DeviceChoice {
    pub fn parse(text: &str) -> Self {
        match text.trim() {
            "" | "default" => DeviceChoice::Default,
            "null" | "none" => DeviceChoice::Null,
            other => match other.strip_prefix("file:") {
                Some(path) => DeviceChoice::File(PathBuf::from(path)),
                None => DeviceChoice::Alsa(other.to_owned()),
            },
        }
    }
}

/// Opens the sink `choice` names. A device that cannot be opened is logged, saying how to list
/// the devices, and the null sink stands in: a player without sound still shows its pictures.
pub fn open_sink(choice: &DeviceChoice) -> Box<dyn AudioSink> {
    let opened: Result<Box<dyn AudioSink>, AudioError> = match choice {
        DeviceChoice::Null => Ok(Box::new(NullSink::new(DEFAULT_RATE))),
        DeviceChoice::File(path) => {
            WavFileSink::create(path, DEFAULT_RATE).map(|sink| Box::new(sink) as Box<dyn AudioSink>)
        }
        DeviceChoice::Default => CpalSink::open(None).map(|sink| Box::new(sink) as _),
        DeviceChoice::Alsa(name) => CpalSink::open(Some(name)).map(|sink| Box::new(sink) as _),
    };
    match opened {
        Ok(sink) => {
            tracing::info!(sink = %sink.describe(), rate = sink.sample_rate(), "audio output");
            sink
        }
        Err(error) => {
            tracing::error!(
                "{error}; audio items play silently. List the devices with `aplay -L` and set \
                 `[audio] device` in the player config (or `null` on a machine with no sound card)"
            );
            Box::new(NullSink::new(DEFAULT_RATE))
        }
    }
}

/// Paces a caller to real time from the first frame it wrote.
struct Pace {
    rate: u32,
    started: Option<Instant>,
    frames: u64,
}

impl Pace {
    fn new(rate: u32) -> Self {
        Self {
            rate,
            started: None,
            frames: 0,
        }
    }

    /// Counts `frames` and sleeps until they are due.
    fn advance(&mut self, frames: usize) {
        let started = *self.started.get_or_insert_with(Instant::now);
        self.frames += frames as u64;
        let due = started + Duration::from_secs_f64(self.frames as f64 / f64::from(self.rate));
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > Duration::from_secs(1) {
            // Far behind (a suspended machine): start counting afresh rather than rush to catch up.
            self.started = Some(now);
            self.frames = 0;
        }
    }
}

/// Plays nothing, in real time.
pub struct NullSink {
    pace: Pace,
}

impl NullSink {
    pub fn new(rate: u32) -> Self {
        Self {
            pace: Pace::new(rate),
        }
    }
}

impl AudioSink for NullSink {
    fn sample_rate(&self) -> u32 {
        self.pace.rate
    }

    fn write(&mut self, frames: &[f32]) {
        self.pace.advance(frames.len() / 2);
    }

    fn describe(&self) -> String {
        "null (no sound card)".into()
    }
}

/// Writes 16-bit stereo WAV, in real time.
pub struct WavFileSink {
    path: PathBuf,
    writer: Option<hound::WavWriter<std::io::BufWriter<std::fs::File>>>,
    pace: Pace,
}

impl WavFileSink {
    pub fn create(path: &Path, rate: u32) -> Result<Self, AudioError> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec).map_err(|error| AudioError::Device {
            device: format!("file:{}", path.display()),
            error: error.to_string(),
        })?;
        Ok(Self {
            path: path.to_owned(),
            writer: Some(writer),
            pace: Pace::new(rate),
        })
    }
}

impl AudioSink for WavFileSink {
    fn sample_rate(&self) -> u32 {
        self.pace.rate
    }

    fn write(&mut self, frames: &[f32]) {
        if let Some(writer) = &mut self.writer {
            for sample in frames {
                let value = (sample.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16;
                if let Err(error) = writer.write_sample(value) {
                    tracing::error!(path = %self.path.display(), "cannot write audio: {error}");
                    self.writer = None;
                    break;
                }
            }
        }
        self.pace.advance(frames.len() / 2);
    }

    fn finish(&mut self) {
        if let Some(writer) = self.writer.take()
            && let Err(error) = writer.finalize()
        {
            tracing::error!(path = %self.path.display(), "cannot complete the WAV file: {error}");
        }
    }

    fn describe(&self) -> String {
        format!("file:{}", self.path.display())
    }
}

impl Drop for WavFileSink {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The queue between the engine and the device's callback.
#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<f32>>,
    drained: Condvar,
}

/// An output device through cpal (ALSA on Linux).
pub struct CpalSink {
    name: String,
    rate: u32,
    capacity: usize,
    shared: Arc<Shared>,
    /// Kept alive while playing; dropping it stops the device.
    _stream: cpal::Stream,
    /// Set when the device stopped taking sound, so the engine falls back to pacing itself.
    stalled: Option<Pace>,
}

impl CpalSink {
    /// Opens the default output, or the ALSA device called `name`.
    pub fn open(name: Option<&str>) -> Result<Self, AudioError> {
        let label = name.unwrap_or("default").to_owned();
        let failed = |error: String| AudioError::Device {
            device: label.clone(),
            error,
        };
        let host = cpal::default_host();
        let device = match name {
            None => host.default_output_device(),
            Some(name) => host.device_by_id(&cpal::DeviceId::new(host.id(), name)),
        }
        .ok_or_else(|| failed("no such output device".into()))?;
        let config = device
            .default_output_config()
            .map_err(|error| failed(error.to_string()))?;
        let rate = config.sample_rate();
        let channels = usize::from(config.channels()).max(1);
        let shared = Arc::new(Shared::default());
        let callback_shared = shared.clone();
        let on_error = |error: cpal::Error| tracing::error!("audio device error: {error}");
        let stream_config: cpal::StreamConfig = config.config();
        let stream = match config.sample_format() {
            cpal::SampleFormat::F32 => device.build_output_stream(
                stream_config,
                move |data: &mut [f32], _| fill_device(&callback_shared, data, channels, |v| v),
                on_error,
                None,
            ),
            cpal::SampleFormat::I16 => device.build_output_stream(
                stream_config,
                move |data: &mut [i16], _| {
                    fill_device(&callback_shared, data, channels, |value| {
                        (value.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16
                    })
                },
                on_error,
                None,
            ),
            cpal::SampleFormat::I32 => device.build_output_stream(
                stream_config,
                move |data: &mut [i32], _| {
                    fill_device(&callback_shared, data, channels, |value| {
                        (f64::from(value.clamp(-1.0, 1.0)) * f64::from(i32::MAX)) as i32
                    })
                },
                on_error,
                None,
            ),
            other => {
                return Err(failed(format!(
                    "its sample format {other} is not supported (f32, i16 or i32 are)"
                )));
            }
        }
        .map_err(|error| failed(error.to_string()))?;
        stream.play().map_err(|error| failed(error.to_string()))?;
        let capacity = (DEVICE_QUEUE.as_secs_f64() * f64::from(rate)) as usize * 2;
        Ok(Self {
            name: label,
            rate,
            capacity,
            shared,
            _stream: stream,
            stalled: None,
        })
    }
}

/// The device callback: stereo from the queue onto the device's channels, silence when empty.
fn fill_device<T: Copy>(
    shared: &Shared,
    data: &mut [T],
    channels: usize,
    convert: impl Fn(f32) -> T,
) {
    let mut queue = shared
        .queue
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    for frame in data.chunks_mut(channels) {
        let (left, right) = if queue.len() >= 2 {
            (
                queue.pop_front().unwrap_or(0.0),
                queue.pop_front().unwrap_or(0.0),
            )
        } else {
            (0.0, 0.0)
        };
        match frame {
            [mono] => *mono = convert((left + right) / 2.0),
            [first, second, rest @ ..] => {
                *first = convert(left);
                *second = convert(right);
                for other in rest {
                    *other = convert(0.0);
                }
            }
            [] => {}
        }
    }
    drop(queue);
    shared.drained.notify_all();
}

impl AudioSink for CpalSink {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn write(&mut self, frames: &[f32]) {
        if let Some(pace) = &mut self.stalled {
            pace.advance(frames.len() / 2);
            return;
        }
        let mut queue = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        while queue.len() + frames.len() > self.capacity {
            let (guard, timeout) = self
                .shared
                .drained
                .wait_timeout(queue, Duration::from_secs(1))
                .unwrap_or_else(|poison| poison.into_inner());
            queue = guard;
            if timeout.timed_out() {
                tracing::error!(
                    device = %self.name,
                    "the audio device stopped taking sound; audio items play silently until restart"
                );
                queue.clear();
                self.stalled = Some(Pace::new(self.rate));
                return;
            }
        }
        queue.extend(frames.iter().copied());
    }

    fn describe(&self) -> String {
        format!("ALSA device `{}`", self.name)
    }
}
