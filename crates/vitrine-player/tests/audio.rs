//! Audio items end to end below the player: clips in every supported format, made at test time by
//! ffmpeg, decoded by symphonia to the right length, frequency and level; and the real engine
//! writing a WAV file through its file sink, which proves the order of tracks, the equal-power
//! crossfade between them, the volumes, and that a corrupt file is skipped.
//!
//! CI has no sound card: the file sink stands in for it, and these tests still listen.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use vitrine_player::audio::decode::{DecodedAudio, decode_file};
use vitrine_player::audio::{AudioEngine, AudioReport, DeviceChoice, PlayRequest};

/// Makes a mono sine clip with ffmpeg: `frequency` Hz, `seconds` long, at `rate`, encoded as
/// `file`'s extension says.
fn sine_clip(directory: &Path, file: &str, frequency: u32, seconds: f64, rate: u32) -> PathBuf {
    let path = directory.join(file);
    let mut command = Command::new("ffmpeg");
    command
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!(
            "sine=frequency={frequency}:duration={seconds}:sample_rate={rate}"
        ));
    match path.extension().and_then(|extension| extension.to_str()) {
        Some("m4a") => command.args(["-c:a", "aac", "-b:a", "128k"]),
        Some("ogg") => command.args(["-c:a", "libvorbis"]),
        Some("mp3") => command.args(["-c:a", "libmp3lame", "-b:a", "128k"]),
        _ => &mut command,
    };
    let status = command
        .arg(&path)
        .status()
        .expect("ffmpeg runs (cargo xtask setup installs it)");
    assert!(status.success(), "ffmpeg could not make {file}");
    path
}

/// The strongest frequency of `samples` (the left side of interleaved stereo) among `candidates`,
/// by the Goertzel algorithm, with its amplitude.
fn tone_level(left: &[f32], rate: u32, frequency: f64) -> f64 {
    let omega = 2.0 * std::f64::consts::PI * frequency / f64::from(rate);
    let coefficient = 2.0 * omega.cos();
    let (mut previous, mut before) = (0.0f64, 0.0f64);
    for sample in left {
        let current = f64::from(*sample) + coefficient * previous - before;
        before = previous;
        previous = current;
    }
    let power = previous * previous + before * before - coefficient * previous * before;
    2.0 * power.sqrt() / left.len() as f64
}

fn left(samples: &[f32]) -> Vec<f32> {
    samples.chunks_exact(2).map(|frame| frame[0]).collect()
}

/// ffmpeg's sine source has an amplitude of 1/8.
const SINE_AMPLITUDE: f64 = 0.125;

#[test]
fn every_format_decodes_to_the_right_length_frequency_and_level() {
    let directory = tempfile::tempdir().unwrap();
    // (file, sample rate, how far the length may be off: one codec frame, since lossy encoders
    // add frames of their own that not every container lets the decoder remove; for AAC in MP4,
    // the encoder's 1024 frames of priming, which an edit list symphonia 0.6 does not read skips)
    let cases = [
        ("tone.wav", 48_000, 0.0),
        ("tone.flac", 44_100, 0.0),
        ("tone.mp3", 44_100, 1152.0 / 44_100.0),
        ("tone.m4a", 48_000, 1024.0 / 48_000.0),
        ("tone.ogg", 44_100, 2048.0 / 44_100.0),
    ];
    let mut failures = Vec::new();
    for (file, rate, tolerance) in cases {
        let path = sine_clip(directory.path(), file, 440, 2.5, rate);
        let decoded: DecodedAudio = match decode_file(&path) {
            Ok(decoded) => decoded,
            Err(error) => {
                failures.push(format!("{file}: {error}"));
                continue;
            }
        };
        let seconds = decoded.duration().as_secs_f64();
        if decoded.sample_rate != rate {
            failures.push(format!(
                "{file}: {} Hz instead of {rate}",
                decoded.sample_rate
            ));
        }
        if (seconds - 2.5).abs() > tolerance + 1e-6 {
            failures.push(format!(
                "{file}: {seconds:.4} s instead of 2.5 s (± {tolerance:.4})"
            ));
        }
        // Away from the encoder's ramps at either end, the tone is 440 Hz at its level.
        let middle = &left(&decoded.samples)[rate as usize / 2..rate as usize * 2];
        let at_440 = tone_level(middle, rate, 440.0);
        let at_880 = tone_level(middle, rate, 880.0);
        if (at_440 - SINE_AMPLITUDE).abs() > 0.01 || at_880 > 0.01 {
            failures.push(format!(
                "{file}: 440 Hz at {at_440:.4} (expected {SINE_AMPLITUDE}), 880 Hz at {at_880:.4}"
            ));
        }
        // Mono plays on both sides.
        let (l, r): (Vec<f32>, Vec<f32>) = decoded
            .samples
            .chunks_exact(2)
            .map(|frame| (frame[0], frame[1]))
            .unzip();
        if l != r {
            failures.push(format!("{file}: the two sides differ"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_file_that_is_not_audio_is_refused_with_the_formats_named() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("broken.mp3");
    std::fs::write(
        &path,
        b"this is not an mp3 at all, just text that claims to be one",
    )
    .unwrap();
    let error = decode_file(&path).unwrap_err().to_string();
    assert!(error.contains("broken.mp3"), "{error}");
    assert!(
        error.contains("MP3, AAC/M4A, FLAC, Ogg Vorbis or WAV"),
        "{error}"
    );
}

/// Reads a 16-bit stereo WAV the file sink wrote, as `f32` frames.
fn read_wav(path: &Path) -> (u32, Vec<f32>) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.bits_per_sample), (2, 16));
    let samples = reader
        .samples::<i16>()
        .map(|sample| f32::from(sample.unwrap()) / f32::from(i16::MAX))
        .collect();
    (spec.sample_rate, samples)
}

fn wait_for_reports(engine: &AudioEngine, count: usize) -> Vec<AudioReport> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut reports = Vec::new();
    while reports.len() < count && Instant::now() < deadline {
        reports.extend(engine.take_reports());
        std::thread::sleep(Duration::from_millis(10));
    }
    reports
}

#[test]
fn the_engine_plays_tracks_in_order_with_an_equal_power_crossfade_at_their_volumes() {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    // A 44.1 kHz MP3 into a 48 kHz sink goes through the resampler; the FLAC is shorter than its
    // turn, so it loops.
    let low = sine_clip(root, "low.mp3", 440, 3.0, 44_100);
    let high = sine_clip(root, "high.flac", 1000, 0.7, 48_000);
    let corrupt = root.join("corrupt.ogg");
    std::fs::write(&corrupt, vec![0x4f; 4096]).unwrap();
    let output = root.join("out.wav");

    let engine = AudioEngine::start(DeviceChoice::File(output.clone()), 0.5).unwrap();
    let crossfade = Duration::from_millis(400);
    let play = |play_id, path: &Path, gain| PlayRequest {
        zone: "music".into(),
        play_id,
        path: path.to_owned(),
        offset: Duration::ZERO,
        gain,
        crossfade,
    };
    // The low track at 80% (an item at 100% in a zone at 80%), then the high one at 40%.
    engine.play(play(1, &low, 0.8));
    std::thread::sleep(Duration::from_millis(1500));
    engine.play(play(2, &high, 0.4));
    std::thread::sleep(Duration::from_millis(2000));
    engine.play(play(3, &corrupt, 1.0));
    std::thread::sleep(Duration::from_millis(800));
    let reports = wait_for_reports(&engine, 3);
    engine.shutdown();

    let started: Vec<u64> = reports
        .iter()
        .filter_map(|report| match report {
            AudioReport::Started { play_id, .. } => Some(*play_id),
            AudioReport::Failed { .. } => None,
        })
        .collect();
    assert_eq!(started, vec![1, 2], "{reports:?}");
    assert!(
        reports.iter().any(|report| matches!(
            report,
            AudioReport::Failed { play_id: 3, error, .. } if error.contains("corrupt.ogg")
        )),
        "{reports:?}"
    );

    let (rate, samples) = read_wav(&output);
    assert_eq!(rate, 48_000);
    let left = left(&samples);
    let seconds = left.len() as f64 / f64::from(rate);
    assert!((4.0..5.5).contains(&seconds), "{seconds} s of sound");
    // Windows of 50 ms: which tone dominates, and how loud each is.
    let window = rate as usize / 20;
    let levels: Vec<(f64, f64)> = left
        .chunks_exact(window)
        .map(|chunk| {
            (
                tone_level(chunk, rate, 440.0),
                tone_level(chunk, rate, 1000.0),
            )
        })
        .collect();
    let dominant: String = levels
        .iter()
        .map(|(low, high)| {
            if low.max(*high) < 0.005 {
                '.'
            } else if low > high {
                'L'
            } else {
                'H'
            }
        })
        .collect();
    // Low, then high, then silence once the corrupt file's crossfade has faded the high one out.
    // The sink runs from the engine's start, a moment before the first track is open.
    let dominant = dominant.trim_start_matches('.').to_owned();
    let levels = &levels[levels.len() - dominant.len()..];
    let squeezed: String = dominant.chars().fold(String::new(), |mut runs, tone| {
        if !runs.ends_with(tone) {
            runs.push(tone);
        }
        runs
    });
    assert_eq!(squeezed, "LH.", "tones per 50 ms: {dominant}");
    let low_windows = dominant.chars().filter(|tone| *tone == 'L').count();
    let high_windows = dominant.chars().filter(|tone| *tone == 'H').count();
    assert!((26..=36).contains(&low_windows), "{dominant}");
    assert!(
        (36..=46).contains(&high_windows),
        "the looping track held: {dominant}"
    );

    // Levels: tone × play gain × master 0.5.
    let steady = |tone: char| {
        let first = dominant.find(tone).unwrap();
        levels[first + 12]
    };
    let (low_level, _) = steady('L');
    let (_, high_level) = steady('H');
    let expected_low = SINE_AMPLITUDE * 0.8 * 0.5;
    let expected_high = SINE_AMPLITUDE * 0.4 * 0.5;
    assert!(
        (low_level - expected_low).abs() < 0.004,
        "low tone at {low_level:.4}, expected {expected_low:.4}"
    );
    assert!(
        (high_level - expected_high).abs() < 0.004,
        "high tone at {high_level:.4}, expected {expected_high:.4}"
    );

    // The crossfade: find where the high tone starts, and check the gains across the 400 ms
    // follow cos and sin of the same angle (equal power), relative to each track's own level.
    let start = dominant.find('H').unwrap().saturating_sub(8);
    let mut fade_windows = 0;
    for (low, high) in &levels[start..start + 16] {
        let outgoing = low / expected_low;
        let incoming = high / expected_high;
        if outgoing > 0.1 && incoming > 0.1 {
            fade_windows += 1;
            let power = outgoing.powi(2) + incoming.powi(2);
            assert!(
                (0.8..1.2).contains(&power),
                "power {power:.3} mid-crossfade ({outgoing:.3}, {incoming:.3})"
            );
        }
    }
    // 400 ms is 8 windows; the ends are below a tenth.
    assert!(
        (5..=9).contains(&fade_windows),
        "{fade_windows} windows of crossfade"
    );
}

/// Writes a 16-bit mono WAV of a sine at `frequency`, `seconds` long.
fn write_sine_wav(path: &Path, frequency: f64, seconds: f64) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for index in 0..(seconds * 48_000.0) as usize {
        let phase = 2.0 * std::f64::consts::PI * frequency * index as f64 / 48_000.0;
        writer
            .write_sample((phase.sin() * SINE_AMPLITUDE * f64::from(i16::MAX)) as i16)
            .unwrap();
    }
    writer.finalize().unwrap();
}

/// An audio timeline for `playlist` (a low tone `low.wav` and a high one `high.wav`, each
/// `seconds` long, in the media cache as the player keeps it), playing into a WAV file. Returns
/// the timeline, the file, the digest of each file by name, and the folder that holds them.
fn tone_timeline(
    playlist: &str,
    seconds: f64,
    crossfade: Option<Duration>,
) -> (
    vitrine_player::audio::AudioTimeline,
    std::path::PathBuf,
    std::collections::HashMap<String, vitrine_core::Sha256Hex>,
    tempfile::TempDir,
) {
    use std::sync::Arc;
    use vitrine_core::{Manifest, MediaEntry, Sha256Hex};
    use vitrine_player::audio::{AudioConfig, AudioTimeline};

    let directory = tempfile::tempdir().unwrap();
    let media_dir = directory.path().join("media");
    std::fs::create_dir_all(&media_dir).unwrap();
    // Files in the cache are named by their digest, without an extension.
    let mut digests = std::collections::HashMap::new();
    for (name, frequency) in [("low.wav", 440.0), ("high.wav", 1000.0)] {
        let scratch = directory.path().join(name);
        write_sine_wav(&scratch, frequency, seconds);
        let digest = Sha256Hex::of_bytes(&std::fs::read(&scratch).unwrap());
        std::fs::rename(&scratch, media_dir.join(digest.as_str())).unwrap();
        digests.insert(name.to_owned(), digest);
    }
    let playlist = vitrine_core::parse_playlist("shop.yaml", playlist).unwrap();
    let manifest = Manifest::build("lobby", "Europe/Paris", &playlist, 1, |file| {
        Some(MediaEntry {
            sha256: digests[file].clone(),
            size: 1,
        })
    })
    .unwrap();
    let output = directory.path().join("out.wav");
    let mut config = AudioConfig {
        device: format!("file:{}", output.display()),
        ..AudioConfig::default()
    };
    if let Some(crossfade) = crossfade {
        config.crossfade = crossfade;
    }
    let mut timeline = AudioTimeline::new(config, media_dir);
    timeline.activate(Arc::new(manifest), jiff::Timestamp::now());
    (timeline, output, digests, directory)
}

#[test]
fn the_timeline_follows_the_schedule_and_an_interrupt_cuts_the_music_short() {
    let (mut timeline, output, digests, _directory) = tone_timeline(
        "version: 1\nname: shop\nlayout:\n  music:\n    audio_only: true\n    items:\n      - audio: { id: low, file: low.wav, duration: 1s }\n      - audio: { id: high, file: high.wav, duration: 1s }\n",
        0.4,
        None,
    );
    // Three seconds of frames at 50 per second: at least two whole turns go by.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        timeline.tick(jiff::Timestamp::now());
        std::thread::sleep(Duration::from_millis(20));
    }
    let now = jiff::Timestamp::now();
    let until = now + jiff::SignedDuration::from_secs(60);
    timeline.interrupt(until, now);
    assert_eq!(
        timeline.tick(now),
        Some(until),
        "silent until the interrupt ends"
    );
    let plays = timeline.take_finished();
    timeline.shutdown();

    assert!(plays.len() >= 3, "{plays:#?}");
    for pair in plays.windows(2) {
        assert_ne!(pair[0].item_id, pair[1].item_id, "the items alternate");
        assert_eq!(
            pair[0].scheduled_start + jiff::SignedDuration::from_secs(1),
            pair[1].scheduled_start
        );
    }
    for play in &plays {
        assert_eq!(play.zone, "music");
        let file = format!("{}.wav", play.item_id);
        assert_eq!(play.media_sha256.as_ref(), Some(&digests[&file]));
    }
    // The first play joined its turn wherever the clock was: it completed only if it was heard
    // from (within a refresh and the engine's latency of) the turn's start. Every later play but
    // the last ran its whole turn.
    let first = &plays[0];
    let joined_late_by = first.started_at.duration_since(first.scheduled_start);
    assert_eq!(
        first.completed,
        joined_late_by <= jiff::SignedDuration::from_nanos(16_666_667 + 160_000_000),
        "joined {joined_late_by:?} into its turn: {first:#?}"
    );
    // The last was cut by the interrupt, and says so; unless the interrupt came as a turn ended,
    // before the next turn's track was heard (within a refresh and the engine's latency): then
    // the last ran its whole turn and nothing was playing to cut.
    let last = plays.last().unwrap();
    let turn_end = last.scheduled_start + jiff::SignedDuration::from_secs(1);
    if last.completed {
        assert!(
            last.ended_at <= now
                && now.duration_since(turn_end)
                    <= jiff::SignedDuration::from_nanos(16_666_667 + 160_000_000),
            "a whole turn ended long before the interrupt at {now}, and the next was not journalled: \
             {last:#?}"
        );
    } else {
        assert_eq!(last.ended_at, now, "{last:#?}");
    }
    // Each ran to its turn's end and gave way to the next: orders on the timeline's own clock,
    // not a budget that a busy machine's late frames could miss.
    for (index, pair) in plays.windows(2).enumerate() {
        let (play, next) = (&pair[0], &pair[1]);
        assert!(index == 0 || play.completed, "{play:#?}");
        let turn_end = play.scheduled_start + jiff::SignedDuration::from_secs(1);
        assert!(
            play.ended_at >= turn_end,
            "cut before its turn ended: {play:#?}"
        );
        assert!(
            play.ended_at <= next.started_at,
            "still journalled as playing after the next began: {pair:#?}"
        );
    }
    // The 0.4 s files loop through their 1 s turns, and the crossfades between turns never dip:
    // from the first track to the interrupt, no 50 ms of the recording is silent.
    let (rate, samples) = read_wav(&output);
    let left = left(&samples);
    let window = rate as usize / 20;
    let first_sound = left.iter().position(|sample| sample.abs() > 0.01).unwrap();
    // The first track fades in over the crossfade, so its first 200 ms are not counted.
    let until_interrupt = &left[first_sound + window * 4..left.len() - window * 6];
    let silent_windows = until_interrupt
        .chunks_exact(window)
        .filter(|chunk| tone_level(chunk, rate, 440.0).max(tone_level(chunk, rate, 1000.0)) < 0.01)
        .count();
    assert_eq!(
        silent_windows, 0,
        "the music never stopped before the interrupt"
    );
}

#[test]
fn an_audio_item_s_crossfade_transition_sets_how_it_comes_in() {
    // The high track comes in over 500 ms; the low one has no transition of its own, and the
    // player's default crossfade is off, so it cuts in.
    let (mut timeline, output, _digests, _directory) = tone_timeline(
        "version: 1\nname: shop\nlayout:\n  music:\n    audio_only: true\n    items:\n      - audio: { id: low, file: low.wav, duration: 1s }\n      - audio: { id: high, file: high.wav, duration: 1s, transition: { crossfade: 500ms } }\n",
        1.0,
        Some(Duration::ZERO),
    );
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(4_500) {
        timeline.tick(jiff::Timestamp::now());
        std::thread::sleep(Duration::from_millis(20));
    }
    timeline.shutdown();

    // Each 25 ms of the recording: which tones sound in it.
    let (rate, samples) = read_wav(&output);
    let left = left(&samples);
    let window = rate as usize / 40;
    let heard: Vec<(bool, bool)> = left
        .chunks_exact(window)
        .map(|chunk| {
            (
                tone_level(chunk, rate, 440.0) > 0.01,
                tone_level(chunk, rate, 1000.0) > 0.01,
            )
        })
        .collect();
    // Every switch between the tones: how many windows both sounded in, and which one came in.
    let mut switches = Vec::new();
    let mut last_alone: Option<(usize, bool)> = None;
    for (index, &(low, high)) in heard.iter().enumerate() {
        if low != high {
            if let Some((since, was_high)) = last_alone
                && was_high != high
            {
                let overlap = heard[since + 1..index]
                    .iter()
                    .filter(|(low, high)| *low && *high)
                    .count();
                switches.push((if high { "into high" } else { "into low" }, overlap));
            }
            last_alone = Some((index, high));
        }
    }
    let overlaps = |into: &str| -> Vec<usize> {
        switches
            .iter()
            .filter(|(to, _)| *to == into)
            .map(|(_, overlap)| *overlap)
            .collect()
    };
    let (into_high, into_low) = (overlaps("into high"), overlaps("into low"));
    assert!(
        !into_high.is_empty() && !into_low.is_empty(),
        "{switches:?}"
    );
    // 500 ms is 20 windows; the tails of an equal-power fade are too quiet to be heard.
    for overlap in into_high {
        assert!((12..=22).contains(&overlap), "{switches:?}");
    }
    for overlap in into_low {
        assert!(overlap <= 1, "a cut, not a crossfade: {switches:?}");
    }
}
