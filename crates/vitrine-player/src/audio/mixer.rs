//! The mixer: every audio zone's current track, the tracks fading out under it, each at its own
//! volume, summed into one stereo stream with the master volume on top.
//!
//! Crossfades are equal-power: over `n` frames the incoming track's gain rises as `sin(θ)` while
//! the outgoing one's falls as `cos(θ)`, θ going from 0 to π/2 one step per frame, so the sum of
//! their powers stays 1 and the music neither dips nor swells midway. Fades start on the first
//! frame rendered after the change, so they are exact to the sample.

use std::f32::consts::FRAC_PI_2;

/// Something that makes interleaved stereo frames at the mixer's rate.
pub trait FrameSource: Send {
    /// Fills `out` (interleaved stereo) from the start and returns how many frames it wrote; fewer
    /// than asked means it has ended.
    fn fill(&mut self, out: &mut [f32]) -> usize;

    /// Why it ended early, if it failed rather than ran out.
    fn error(&self) -> Option<String> {
        None
    }
}

/// What happened to a play while mixing.
#[derive(Clone, Debug, PartialEq)]
pub enum MixEvent {
    /// The source ended or failed before it was replaced or stopped; `frames` were heard.
    Ended {
        play_id: u64,
        frames: u64,
        error: Option<String>,
    },
}

/// A gain envelope on the equal-power curve: the gain is `sin(angle)`, and the angle moves to
/// `target` in even steps, one per frame.
#[derive(Clone, Copy, Debug)]
struct Envelope {
    angle: f32,
    target: f32,
    step: f32,
    frames_left: u32,
}

impl Envelope {
    fn full() -> Self {
        Self {
            angle: FRAC_PI_2,
            target: FRAC_PI_2,
            step: 0.0,
            frames_left: 0,
        }
    }

    /// From wherever it is to `target` over `frames` frames (at once for 0).
    fn towards(&mut self, target: f32, frames: u32) {
        if frames == 0 {
            self.angle = target;
            self.frames_left = 0;
        } else {
            self.step = (target - self.angle) / frames as f32;
            self.frames_left = frames;
        }
        self.target = target;
    }

    /// The gain for the next frame, then one step on.
    fn next_gain(&mut self) -> f32 {
        let gain = self.angle.sin();
        if self.frames_left > 0 {
            self.frames_left -= 1;
            self.angle = if self.frames_left == 0 {
                self.target
            } else {
                self.angle + self.step
            };
        }
        gain
    }

    fn is_silent(&self) -> bool {
        self.frames_left == 0 && self.angle <= 0.0
    }
}

struct Voice {
    play_id: u64,
    source: Box<dyn FrameSource>,
    /// The play's own volume: the item's times the zone's.
    gain: f32,
    envelope: Envelope,
    frames_heard: u64,
    ended: bool,
}

#[derive(Default)]
struct ZoneVoices {
    name: String,
    current: Option<Voice>,
    leaving: Vec<Voice>,
}

/// Mixes every audio zone into one stereo stream.
pub struct Mixer {
    zones: Vec<ZoneVoices>,
    master: f32,
    scratch: Vec<f32>,
    events: Vec<MixEvent>,
}

impl Mixer {
    pub fn new(master: f32) -> Self {
        Self {
            zones: Vec::new(),
            master,
            scratch: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn set_master(&mut self, master: f32) {
        self.master = master;
    }

    fn zone(&mut self, name: &str) -> &mut ZoneVoices {
        let index = match self.zones.iter().position(|zone| zone.name == name) {
            Some(index) => index,
            None => {
                self.zones.push(ZoneVoices {
                    name: name.to_owned(),
                    ..ZoneVoices::default()
                });
                self.zones.len() - 1
            }
        };
        &mut self.zones[index]
    }

    /// Makes `source` the zone's track from the next frame, at `gain`, crossfading from what the
    /// zone played over `crossfade_frames` (a cut for 0).
    pub fn play(
        &mut self,
        zone: &str,
        play_id: u64,
        source: Box<dyn FrameSource>,
        gain: f32,
        crossfade_frames: u32,
    ) {
        let zone = self.zone(zone);
        if let Some(mut leaving) = zone.current.take() {
            leaving.envelope.towards(0.0, crossfade_frames);
            zone.leaving.push(leaving);
        }
        let mut envelope = Envelope::full();
        if crossfade_frames > 0 {
            envelope.angle = 0.0;
            envelope.towards(FRAC_PI_2, crossfade_frames);
        }
        zone.current = Some(Voice {
            play_id,
            source,
            gain,
            envelope,
            frames_heard: 0,
            ended: false,
        });
    }

    /// Fades the zone's track out over `fade_frames` (at once for 0).
    pub fn stop(&mut self, zone: &str, fade_frames: u32) {
        let zone = self.zone(zone);
        if let Some(mut leaving) = zone.current.take() {
            leaving.envelope.towards(0.0, fade_frames);
            zone.leaving.push(leaving);
        }
    }

    /// The play the zone is on, if any.
    pub fn current_play(&self, zone: &str) -> Option<u64> {
        self.zones
            .iter()
            .find(|candidate| candidate.name == zone)
            .and_then(|zone| zone.current.as_ref())
            .filter(|voice| !voice.ended)
            .map(|voice| voice.play_id)
    }

    /// Renders the next frames into `out` (interleaved stereo), replacing what was there.
    pub fn render(&mut self, out: &mut [f32]) {
        out.fill(0.0);
        let frames = out.len() / 2;
        if self.scratch.len() < out.len() {
            self.scratch.resize(out.len(), 0.0);
        }
        for zone in &mut self.zones {
            let voices = zone.current.iter_mut().chain(zone.leaving.iter_mut());
            for voice in voices {
                if voice.ended {
                    continue;
                }
                let scratch = &mut self.scratch[..frames * 2];
                let written = voice.source.fill(scratch);
                for (frame, samples) in scratch.chunks_exact(2).take(written).enumerate() {
                    let gain = voice.gain * voice.envelope.next_gain();
                    out[frame * 2] += samples[0] * gain;
                    out[frame * 2 + 1] += samples[1] * gain;
                }
                voice.frames_heard += written as u64;
                if written < frames {
                    voice.ended = true;
                    self.events.push(MixEvent::Ended {
                        play_id: voice.play_id,
                        frames: voice.frames_heard,
                        error: voice.source.error(),
                    });
                }
            }
            zone.leaving
                .retain(|voice| !voice.ended && !voice.envelope.is_silent());
        }
        if self.master != 1.0 {
            for sample in out.iter_mut() {
                *sample *= self.master;
            }
        }
    }

    /// What happened since the last call.
    pub fn take_events(&mut self) -> Vec<MixEvent> {
        std::mem::take(&mut self.events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A constant level on each side, for `frames` frames (forever for `None`).
    struct Constant {
        left: f32,
        right: f32,
        frames_left: Option<usize>,
    }

    impl FrameSource for Constant {
        fn fill(&mut self, out: &mut [f32]) -> usize {
            let wanted = out.len() / 2;
            let frames = self.frames_left.map_or(wanted, |left| left.min(wanted));
            for frame in out[..frames * 2].chunks_exact_mut(2) {
                frame[0] = self.left;
                frame[1] = self.right;
            }
            if let Some(left) = &mut self.frames_left {
                *left -= frames;
            }
            frames
        }
    }

    fn constant(level: f32) -> Box<dyn FrameSource> {
        Box::new(Constant {
            left: level,
            right: level,
            frames_left: None,
        })
    }

    /// Renders `frames` frames and returns them as (left, right) pairs.
    fn render_pairs(mixer: &mut Mixer, frames: usize) -> Vec<(f32, f32)> {
        let mut out = vec![0.0; frames * 2];
        mixer.render(&mut out);
        out.chunks_exact(2)
            .map(|frame| (frame[0], frame[1]))
            .collect()
    }

    fn render(mixer: &mut Mixer, frames: usize) -> Vec<f32> {
        render_pairs(mixer, frames)
            .into_iter()
            .map(|(left, _)| left)
            .collect()
    }

    #[test]
    fn a_crossfade_is_equal_power_and_exact_to_the_sample() {
        let mut mixer = Mixer::new(1.0);
        // The outgoing track sounds only on the left, the incoming one only on the right, so each
        // side of the mix is one track's gain.
        let left_only = Box::new(Constant {
            left: 1.0,
            right: 0.0,
            frames_left: None,
        });
        let right_only = Box::new(Constant {
            left: 0.0,
            right: 1.0,
            frames_left: None,
        });
        mixer.play("music", 1, left_only, 1.0, 0);
        assert_eq!(render_pairs(&mut mixer, 10), vec![(1.0, 0.0); 10]);
        let fade = 100_usize;
        mixer.play("music", 2, right_only, 1.0, fade as u32);
        let mixed = render_pairs(&mut mixer, 150);
        for (frame, (outgoing, incoming)) in mixed.iter().copied().enumerate() {
            let theta = FRAC_PI_2 * frame.min(fade) as f32 / fade as f32;
            assert!(
                (outgoing - theta.cos().max(0.0)).abs() < 1e-4
                    && (incoming - theta.sin()).abs() < 1e-4,
                "frame {frame}: gains {outgoing} and {incoming}, expected {} and {}",
                theta.cos(),
                theta.sin()
            );
            assert!(
                (outgoing.powi(2) + incoming.powi(2) - 1.0).abs() < 1e-4,
                "frame {frame}: the power dips or swells"
            );
        }
        // The fade starts on the very next frame, and ends exactly `fade` frames later.
        assert_eq!(mixed[0], (1.0, 0.0));
        assert!(mixed[1].1 > 0.0);
        assert!(mixed[fade - 1].0 > 0.0);
        assert!(mixed[fade].0.abs() < 1e-6 && mixed[fade].1 == 1.0);
        assert_eq!(
            mixer.zones[0].leaving.len(),
            0,
            "the faded track is dropped"
        );
    }

    #[test]
    fn a_cut_switches_on_the_next_frame() {
        let mut mixer = Mixer::new(1.0);
        mixer.play("music", 1, constant(1.0), 1.0, 0);
        render(&mut mixer, 5);
        mixer.play("music", 2, constant(0.5), 1.0, 0);
        assert_eq!(render(&mut mixer, 5), vec![0.5; 5]);
    }

    #[test]
    fn item_zone_and_master_volumes_multiply() {
        let mut mixer = Mixer::new(0.5);
        // The caller gives the play item × zone: 80% of 50%.
        mixer.play("music", 1, constant(1.0), 0.8 * 0.5, 0);
        mixer.play("jingles", 2, constant(1.0), 0.25, 0);
        let mixed = render(&mut mixer, 4);
        for value in mixed {
            assert!((value - (0.4 + 0.25) * 0.5).abs() < 1e-6, "{value}");
        }
    }

    #[test]
    fn a_track_that_ends_is_reported_with_what_was_heard() {
        let mut mixer = Mixer::new(1.0);
        mixer.play(
            "music",
            7,
            Box::new(Constant {
                left: 1.0,
                right: 1.0,
                frames_left: Some(30),
            }),
            1.0,
            0,
        );
        let mixed = render(&mut mixer, 50);
        assert_eq!(&mixed[..30], &[1.0; 30]);
        assert_eq!(&mixed[30..], &[0.0; 20]);
        assert_eq!(
            mixer.take_events(),
            vec![MixEvent::Ended {
                play_id: 7,
                frames: 30,
                error: None
            }]
        );
        assert_eq!(mixer.current_play("music"), None);
    }

    #[test]
    fn a_stop_fades_out_and_then_is_silent() {
        let mut mixer = Mixer::new(1.0);
        mixer.play("music", 1, constant(1.0), 1.0, 0);
        mixer.stop("music", 10);
        let mixed = render(&mut mixer, 20);
        assert!((mixed[0] - 1.0).abs() < 1e-6);
        assert!(mixed[1..10].windows(2).all(|pair| pair[1] < pair[0]));
        assert_eq!(&mixed[10..], &[0.0; 10]);
    }
}
