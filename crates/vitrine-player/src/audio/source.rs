//! A track as the mixer hears it: decoded by [`TrackDecoder`], resampled to the output's rate by
//! rubato when the file's rate differs, and started over at its end while the item lasts (a track
//! shorter than its item loops; the schedule cuts one that is longer).

use std::path::PathBuf;
use std::time::Duration;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use super::AudioError;
use super::decode::TrackDecoder;
use super::mixer::FrameSource;

/// Frames the resampler takes per call: about 20 ms, small enough to keep its delay short.
const RESAMPLE_CHUNK: usize = 1024;

/// A track file playing from a position, looping.
pub struct TrackSource {
    path: PathBuf,
    decoder: TrackDecoder,
    resampler: Option<Resampling>,
    /// Decoded frames at the output rate, not yet given to the mixer, from `read` on.
    pending: Vec<f32>,
    read: usize,
    /// Frames decoded since the track last started over, to tell an empty file from a short one.
    frames_this_pass: u64,
    error: Option<String>,
    ended: bool,
}

struct Resampling {
    resampler: Fft<f32>,
    /// Frames at the file's rate waiting for a full chunk.
    input: Vec<f32>,
    output: Vec<f32>,
    /// Frames of the resampler's own delay still to drop, so the track starts on time.
    delay_left: usize,
}

impl TrackSource {
    /// Opens `path` for output at `output_rate`, `offset` into the track (wrapped around its
    /// length when it is longer than the track, as if it had looped since its turn began).
    pub fn open(path: PathBuf, output_rate: u32, offset: Duration) -> Result<Self, AudioError> {
        let mut decoder = TrackDecoder::open(&path)?;
        let input_rate = decoder.sample_rate();
        let mut offset = offset;
        if let Some(length) = decoder.duration().filter(|length| !length.is_zero()) {
            offset = Duration::from_secs_f64(offset.as_secs_f64() % length.as_secs_f64());
        }
        if offset >= Duration::from_millis(1) {
            // A file that cannot seek starts from its beginning: late music beats none.
            if let Err(error) = decoder.seek(offset) {
                tracing::warn!(path = %path.display(), "{error}; playing from the start");
                decoder = TrackDecoder::open(&path)?;
            }
        }
        let resampler = if input_rate == output_rate {
            None
        } else {
            let resampler = Fft::<f32>::new(
                input_rate as usize,
                output_rate as usize,
                RESAMPLE_CHUNK,
                2,
                FixedSync::Input,
            )
            .map_err(|error| {
                AudioError::Decode(format!(
                    "cannot resample {input_rate} Hz to {output_rate} Hz: {error}"
                ))
            })?;
            let delay_left = resampler.output_delay();
            Some(Resampling {
                output: vec![0.0; resampler.output_frames_max() * 2],
                resampler,
                input: Vec::new(),
                delay_left,
            })
        };
        Ok(Self {
            path,
            decoder,
            resampler,
            pending: Vec::new(),
            read: 0,
            frames_this_pass: 0,
            error: None,
            ended: false,
        })
    }

    /// Decodes more into `pending`. Returns `false` when nothing more will come.
    fn refill(&mut self) -> bool {
        if self.ended {
            return false;
        }
        self.pending.drain(..self.read);
        self.read = 0;
        let mut decoded = Vec::new();
        match self.decoder.next_stereo(&mut decoded) {
            Ok(true) => {
                self.frames_this_pass += (decoded.len() / 2) as u64;
                self.push_resampled(&decoded, false);
                true
            }
            Ok(false) => {
                if self.frames_this_pass == 0 {
                    // Nothing in a whole pass: looping would spin forever.
                    self.push_resampled(&[], true);
                    self.ended = true;
                    self.error = Some("the file holds no sound".into());
                    return !self.pending.is_empty();
                }
                // The next pass follows on in the resampler without a gap, so it is not flushed.
                self.frames_this_pass = 0;
                match self.decoder.seek(Duration::ZERO) {
                    Ok(()) => true,
                    Err(_) => match TrackDecoder::open(&self.path) {
                        Ok(decoder) => {
                            self.decoder = decoder;
                            true
                        }
                        Err(error) => self.fail(error),
                    },
                }
            }
            Err(error) => self.fail(error),
        }
    }

    fn fail(&mut self, error: AudioError) -> bool {
        self.push_resampled(&[], true);
        self.ended = true;
        self.error = Some(error.to_string());
        !self.pending.is_empty()
    }

    /// Passes decoded frames on to `pending`, through the resampler when there is one. `flush`
    /// pushes out what the resampler still holds (the end of a pass through the file).
    fn push_resampled(&mut self, frames: &[f32], flush: bool) {
        let Some(resampling) = &mut self.resampler else {
            self.pending.extend_from_slice(frames);
            return;
        };
        resampling.input.extend_from_slice(frames);
        loop {
            let needed = resampling.resampler.input_frames_next();
            let available = resampling.input.len() / 2;
            if available < needed {
                if !flush || available == 0 {
                    break;
                }
                // The last partial chunk is padded with silence; rubato is told how much is real.
                resampling.input.resize(needed * 2, 0.0);
            }
            let valid = available.min(needed);
            let indexing = Indexing {
                partial_len: (valid < needed).then_some(valid),
                ..Indexing::new()
            };
            let Ok(input) = InterleavedSlice::new(&resampling.input[..needed * 2], 2, needed)
            else {
                break;
            };
            let output_frames = resampling.output.len() / 2;
            let Ok(mut output) =
                InterleavedSlice::new_mut(&mut resampling.output, 2, output_frames)
            else {
                break;
            };
            match resampling
                .resampler
                .process_into_buffer(&input, &mut output, Some(&indexing))
            {
                Ok((_, written)) => {
                    let skip = resampling.delay_left.min(written);
                    resampling.delay_left -= skip;
                    self.pending
                        .extend_from_slice(&resampling.output[skip * 2..written * 2]);
                }
                Err(error) => {
                    self.error = Some(format!("resampling failed: {error}"));
                    self.ended = true;
                    break;
                }
            }
            resampling.input.drain(..needed * 2);
        }
    }
}

impl FrameSource for TrackSource {
    fn fill(&mut self, out: &mut [f32]) -> usize {
        let wanted = out.len() / 2;
        let mut written = 0;
        while written < wanted {
            let available = (self.pending.len() - self.read) / 2;
            if available == 0 {
                if !self.refill() {
                    break;
                }
                continue;
            }
            let take = available.min(wanted - written);
            out[written * 2..(written + take) * 2]
                .copy_from_slice(&self.pending[self.read..self.read + take * 2]);
            self.read += take * 2;
            written += take;
        }
        written
    }

    fn error(&self) -> Option<String> {
        self.error.clone()
    }
}
