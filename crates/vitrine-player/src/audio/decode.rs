//! Audio files into samples: symphonia reads the container (MP3, MP4/M4A, FLAC, Ogg, WAV) and
//! decodes the codec, and the result comes out as interleaved stereo `f32` at the file's rate.
//!
//! Media in the cache are named by their sha256 with no extension, so the format is found by
//! probing the bytes, never from a name.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::Time;

use super::AudioError;

/// How many undecodable packets in a row make a file count as broken rather than scratched.
const MAX_BAD_PACKETS_IN_A_ROW: u32 = 32;

/// One audio file being decoded, packet by packet.
pub struct TrackDecoder {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    sample_rate: u32,
    /// Frames still to drop after a seek landed before the position asked for.
    skip_frames: u64,
    /// Where the next frame is, in frames from the start.
    position: u64,
    /// The track's length in frames when the container says it: decoding stops there, so an
    /// encoder's padding after the end is not played (symphonia 0.6 reads no MP4 edit lists).
    frame_limit: Option<u64>,
    scratch: Vec<f32>,
    /// The file's length when its container says it.
    duration: Option<Duration>,
}

impl TrackDecoder {
    /// Opens `path` and gets ready to decode its first audio track.
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let file = File::open(path).map_err(|error| AudioError::Open {
            path: path.to_owned(),
            error: error.to_string(),
        })?;
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let unreadable = |error: SymphoniaError| AudioError::Unreadable {
            path: path.to_owned(),
            error: error.to_string(),
        };
        let format = symphonia::default::get_probe()
            .probe(
                &Hint::new(),
                stream,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(unreadable)?;
        let track =
            format
                .default_track(TrackType::Audio)
                .ok_or_else(|| AudioError::Unreadable {
                    path: path.to_owned(),
                    error: "the file has no audio track".into(),
                })?;
        let parameters = track
            .codec_params
            .as_ref()
            .and_then(|parameters| parameters.audio())
            .ok_or_else(|| AudioError::Unreadable {
                path: path.to_owned(),
                error: "the audio track does not say how it is encoded".into(),
            })?;
        let sample_rate = parameters
            .sample_rate
            .filter(|rate| *rate > 0)
            .ok_or_else(|| AudioError::Unreadable {
                path: path.to_owned(),
                error: "the audio track has no sample rate".into(),
            })?;
        let duration = match (track.time_base, track.num_frames) {
            (Some(time_base), Some(frames)) => {
                let time = time_base
                    .calc_time(symphonia::core::units::Timestamp::new(frames as i64))
                    .map(|time| time.as_secs_f64());
                time.filter(|seconds| seconds.is_finite() && *seconds > 0.0)
                    .map(Duration::from_secs_f64)
            }
            _ => None,
        };
        let frame_limit = match (track.time_base, track.num_frames) {
            (Some(time_base), Some(frames))
                if time_base.numer.get() == 1 && time_base.denom.get() == sample_rate =>
            {
                Some(frames)
            }
            _ => None,
        };
        let track_id = track.id;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(parameters, &AudioDecoderOptions::default())
            .map_err(unreadable)?;
        Ok(Self {
            format,
            decoder,
            track_id,
            sample_rate,
            skip_frames: 0,
            position: 0,
            frame_limit,
            scratch: Vec::new(),
            duration,
        })
    }

    /// The file's sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The file's length, when its container says it.
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    /// Appends the next packet's audio to `out` as interleaved stereo frames. Returns `false` at
    /// the end of the file. A packet that does not decode is skipped, as a scratch on a record;
    /// a file that is nothing but scratches is an error.
    pub fn next_stereo(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        let mut bad_packets = 0;
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) | Err(SymphoniaError::ResetRequired) => return Ok(false),
                Err(SymphoniaError::IoError(error))
                    if error.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(false);
                }
                Err(error) => return Err(AudioError::Decode(error.to_string())),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(buffer) => {
                    let channels = buffer.spec().channels().count().max(1);
                    buffer.copy_to_vec_interleaved(&mut self.scratch);
                    let frames = self.scratch.len() / channels;
                    let skip = (self.skip_frames.min(frames as u64)) as usize;
                    self.skip_frames -= skip as u64;
                    let mut keep = frames - skip;
                    if let Some(limit) = self.frame_limit {
                        let left = limit.saturating_sub(self.position);
                        if left == 0 {
                            return Ok(false);
                        }
                        keep = keep.min(usize::try_from(left).unwrap_or(usize::MAX));
                    }
                    self.position += keep as u64;
                    out.reserve(keep * 2);
                    for frame in self.scratch.chunks_exact(channels).skip(skip).take(keep) {
                        // Mono plays on both sides; of more channels, the front pair plays.
                        let left = frame[0];
                        let right = if channels > 1 { frame[1] } else { frame[0] };
                        out.push(left);
                        out.push(right);
                    }
                    return Ok(true);
                }
                Err(SymphoniaError::DecodeError(_) | SymphoniaError::IoError(_)) => {
                    bad_packets += 1;
                    if bad_packets >= MAX_BAD_PACKETS_IN_A_ROW {
                        return Err(AudioError::Decode(format!(
                            "{MAX_BAD_PACKETS_IN_A_ROW} packets in a row do not decode"
                        )));
                    }
                }
                Err(error) => return Err(AudioError::Decode(error.to_string())),
            }
        }
    }

    /// Moves to `position` from the start; the next samples are from there, to the frame.
    pub fn seek(&mut self, position: Duration) -> Result<(), AudioError> {
        let time = Time::try_from_secs_f64(position.as_secs_f64())
            .ok_or_else(|| AudioError::Decode(format!("cannot seek to {position:?}")))?;
        let seeked = self
            .format
            .seek(
                SeekMode::Accurate,
                SeekTo::Time {
                    time,
                    track_id: Some(self.track_id),
                },
            )
            .map_err(|error| AudioError::Decode(format!("cannot seek: {error}")))?;
        self.decoder.reset();
        self.position = (position.as_secs_f64() * f64::from(self.sample_rate)).round() as u64;
        let time_base = self
            .format
            .tracks()
            .iter()
            .find(|track| track.id == self.track_id)
            .and_then(|track| track.time_base);
        let behind = seeked.required_ts.get() - seeked.actual_ts.get();
        self.skip_frames = match time_base {
            Some(time_base) if behind > 0 => {
                let seconds = f64::from(time_base.numer.get()) * behind as f64
                    / f64::from(time_base.denom.get());
                (seconds * f64::from(self.sample_rate)).round() as u64
            }
            _ => 0,
        };
        Ok(())
    }
}

/// A whole file decoded at once: for tests and tools, never for playback (a 45-minute track
/// would take half a gigabyte).
#[derive(Debug)]
pub struct DecodedAudio {
    pub sample_rate: u32,
    /// Interleaved stereo.
    pub samples: Vec<f32>,
}

impl DecodedAudio {
    pub fn frames(&self) -> usize {
        self.samples.len() / 2
    }

    /// How long it plays.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.frames() as f64 / f64::from(self.sample_rate))
    }
}

/// Decodes all of `path`.
pub fn decode_file(path: &Path) -> Result<DecodedAudio, AudioError> {
    let mut decoder = TrackDecoder::open(path)?;
    let mut samples = Vec::new();
    while decoder.next_stereo(&mut samples)? {}
    Ok(DecodedAudio {
        sample_rate: decoder.sample_rate(),
        samples,
    })
}
