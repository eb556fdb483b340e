//! Audio items in a real player: a standalone folder with a picture zone and an audio-only zone, a
//! headless player whose `[audio] device` is a WAV file, and the file listened to afterwards. It
//! proves the tracks play in the schedule's order and for their turns, that a track shorter than
//! its turn loops, that consecutive tracks crossfade, that item and zone volumes multiply, that a
//! corrupt file is skipped (silence, no crash, no impression) and that proof of play records what
//! was heard.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sha2::Digest;
use vitrine_e2e::{Process, Seen, binary, ids_in, runtime_dir, seen_frames, write_solid_png};

/// Makes a mono sine clip with ffmpeg, encoded as `file`'s extension says.
fn sine_clip(directory: &Path, file: &str, frequency: u32, seconds: f64) -> PathBuf {
    let path = directory.join(file);
    let status = Command::new("ffmpeg")
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
            "sine=frequency={frequency}:duration={seconds}:sample_rate=44100"
        ))
        .arg(&path)
        .status()
        .expect("ffmpeg runs (cargo xtask setup installs it)");
    assert!(status.success(), "ffmpeg could not make {file}");
    path
}

/// The amplitude of `frequency` in `samples`, by the Goertzel algorithm.
fn tone_level(samples: &[f32], rate: u32, frequency: f64) -> f64 {
    let omega = 2.0 * std::f64::consts::PI * frequency / f64::from(rate);
    let coefficient = 2.0 * omega.cos();
    let (mut previous, mut before) = (0.0f64, 0.0f64);
    for sample in samples {
        let current = f64::from(*sample) + coefficient * previous - before;
        before = previous;
        previous = current;
    }
    let power = previous * previous + before * before - coefficient * previous * before;
    2.0 * power.sqrt() / samples.len() as f64
}

/// ffmpeg's sine source has an amplitude of 1/8.
const SINE_AMPLITUDE: f64 = 0.125;

const PLAYLIST: &str = "\
version: 1
name: shop
layout:
  main:
    items:
      - image: { file: red.png, duration: 1h }
  music:
    audio_only: true
    volume: 80%
    items:
      - audio: { id: tone-low, file: low.mp3, duration: 2s, volume: 50% }
      - audio: { id: tone-high, file: high.flac, duration: 2s }
      - audio: { id: broken, file: broken.ogg, duration: 1s }
";

#[test]
fn a_player_plays_the_audio_zone_in_order_with_crossfades_and_skips_a_corrupt_file() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let shop = root.join("shop");
    std::fs::create_dir_all(&shop).unwrap();
    write_solid_png(&shop.join("red.png"), [255, 0, 0]).unwrap();
    // The low track is shorter than its 2 s turn, so it must loop to fill it.
    let low = sine_clip(&shop, "low.mp3", 440, 1.3);
    let high = sine_clip(&shop, "high.flac", 1000, 3.0);
    std::fs::write(shop.join("broken.ogg"), vec![0x4f_u8; 8192]).unwrap();
    std::fs::write(shop.join("playlist.yaml"), PLAYLIST).unwrap();

    let output = root.join("sound.wav");
    let config = root.join("player.toml");
    std::fs::write(
        &config,
        format!(
            "[audio]\ndevice = \"file:{}\"\ncrossfade = \"300ms\"\n",
            output.display()
        ),
    )
    .unwrap();
    let data = root.join("player");
    let frames = root.join("frames");
    let mut command = Command::new(binary("vitrine-player"));
    command
        .arg("--config")
        .arg(&config)
        .arg("--playlist")
        .arg(&shop)
        .args(["--headless", "--size", "160x90", "--fps", "20"])
        .arg("--data-dir")
        .arg(&data)
        .arg("--frames-dir")
        .arg(&frames)
        .args(["--frame-interval", "500ms", "--run-for", "13s"])
        .env("XDG_RUNTIME_DIR", runtime_dir(root).unwrap());
    let mut player = Process::spawn("vitrine-player", &mut command).unwrap();
    let status = player.wait(Duration::from_secs(60)).unwrap();
    assert!(status.success(), "the player exits cleanly: {status}");

    // The picture zone was never disturbed by the sound, nor by the broken file.
    let seen = seen_frames(&frames);
    assert!(seen.len() >= 15, "{} frames", seen.len());
    assert!(
        seen.iter().skip(4).all(|(_, frame)| *frame == Seen::Red),
        "{seen:?}"
    );

    let mut reader = hound::WavReader::open(&output).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.bits_per_sample), (2, 16));
    let rate = spec.sample_rate;
    let left: Vec<f32> = reader
        .samples::<i16>()
        .map(|sample| f32::from(sample.unwrap()) / f32::from(i16::MAX))
        .step_by(2)
        .collect();
    let seconds = left.len() as f64 / f64::from(rate);
    assert!(seconds > 8.0, "only {seconds:.1} s of sound");

    // Which tone each 50 ms holds: L(ow), H(igh) or silence.
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
    let tones: String = levels
        .iter()
        .map(|(low, high)| match (low.max(*high) < 0.004, low > high) {
            (true, _) => '.',
            (false, true) => 'L',
            (false, false) => 'H',
        })
        .collect();
    // The sink runs from the moment the audio thread starts, a little before the first track is
    // open: that silence is not a turn.
    let lead = tones.len() - tones.trim_start_matches('.').len();
    let (tones, levels) = (&tones[lead..], &levels[lead..]);
    // Runs of the same tone, with their length in windows.
    let mut runs: Vec<(char, usize)> = Vec::new();
    for tone in tones.chars() {
        match runs.last_mut() {
            Some((last, count)) if *last == tone => *count += 1,
            _ => runs.push((tone, 1)),
        }
    }
    // The loop is low, high, broken (silent), anchored to the wall clock, so the recording may
    // start anywhere in it; the first and last runs are cut by the recording's ends.
    let order: String = runs.iter().map(|(tone, _)| *tone).collect();
    assert!(order.contains("LH.LH"), "tones per 50 ms: {tones}");
    for pair in order.as_bytes().windows(2) {
        let expected_next = match pair[0] {
            b'L' => b'H',
            b'H' => b'.',
            _ => b'L',
        };
        assert_eq!(pair[1], expected_next, "out of order: {tones}");
    }
    // Whole turns, from where each tone takes over to where the next does, with 300 ms
    // crossfades: the low tone (half as loud as the high one) is heard 15 ms into its fade-in and
    // loses to the high tone 90 ms into the next fade, so 2.07 s (41 windows); the high tone wins
    // 90 ms into its fade-in and is heard until 290 ms into its fade-out (the broken file fades
    // it to silence), so 2.2 s (44 windows); the silence lasts the rest of the broken file's
    // 1 s turn, 0.72 s (14 windows). Two windows either way: the player changes items on frames
    // 50 ms apart.
    for (tone, count) in &runs[1..runs.len() - 1] {
        let expected = match tone {
            'L' => 39..=43,
            'H' => 42..=46,
            _ => 12..=16,
        };
        assert!(
            expected.contains(count),
            "a {tone} run of {count} windows: {tones}"
        );
    }

    // Levels: the low item at 50% in a zone at 80%, the high one at 100% in the same zone.
    let middle_of = |tone: char| {
        let mut start = 0;
        for (run_tone, count) in &runs {
            if *run_tone == tone && start > 0 && *count > 30 {
                return levels[start + count / 2];
            }
            start += count;
        }
        panic!("no whole {tone} run: {tones}");
    };
    let (low_level, _) = middle_of('L');
    let (_, high_level) = middle_of('H');
    assert!(
        (low_level - SINE_AMPLITUDE * 0.5 * 0.8).abs() < 0.006,
        "low tone at {low_level:.4}"
    );
    assert!(
        (high_level - SINE_AMPLITUDE * 0.8).abs() < 0.006,
        "high tone at {high_level:.4}"
    );

    // The crossfade from low to high: around the switch, windows where both sound, each at a
    // fraction of its own level whose squares sum to about one (equal power, no dip).
    let mut start = 0;
    let mut crossfade_windows = 0;
    for pair in runs.windows(2) {
        start += pair[0].1;
        if pair[0].0 == 'L' && pair[1].0 == 'H' && start > 10 {
            for (low, high) in &levels[start - 6..start + 6] {
                let outgoing = low / (SINE_AMPLITUDE * 0.4);
                let incoming = high / (SINE_AMPLITUDE * 0.8);
                if outgoing > 0.15 && incoming > 0.15 {
                    crossfade_windows += 1;
                    let power = outgoing.powi(2) + incoming.powi(2);
                    assert!(
                        (0.75..1.25).contains(&power),
                        "power {power:.2} mid-crossfade: {tones}"
                    );
                }
            }
            break;
        }
    }
    assert!(
        (3..=7).contains(&crossfade_windows),
        "{crossfade_windows} windows of crossfade (300 ms is 6)"
    );

    // Proof of play: the audio plays are journalled with their zone and file; the broken file
    // never is; whole turns are complete and about 2 s long.
    let bodies = ids_in(&data.join("player.sqlite3"), "SELECT body FROM journal").unwrap();
    let plays: Vec<serde_json::Value> = bodies
        .iter()
        .map(|body| serde_json::from_str(body).unwrap())
        .filter(|play: &serde_json::Value| play["zone"] == "music")
        .collect();
    let digest = |path: &Path| hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()));
    assert!(plays.len() >= 4, "{plays:#?}");
    for play in &plays {
        let item = play["item_id"].as_str().unwrap();
        let file = match item {
            "tone-low" => &low,
            "tone-high" => &high,
            other => panic!("{other} was journalled: {play:#}"),
        };
        assert_eq!(play["media_sha256"], digest(file), "{play:#}");
    }
    // Each play records what was heard: from its first sample to the end of its turn (complete),
    // or to the shutdown that cut the last one short (not complete). The first may have joined its
    // turn late, as a player that starts mid-loop does; every later one starts on time.
    let at = |play: &serde_json::Value, key: &str| -> jiff::Timestamp {
        play[key].as_str().unwrap().parse().unwrap()
    };
    let mut plays = plays;
    plays.sort_by_key(|play| at(play, "started_at"));
    let turn = jiff::SignedDuration::from_secs(2);
    for (index, play) in plays.iter().enumerate() {
        let scheduled = at(play, "scheduled_start");
        let (started, ended) = (at(play, "started_at"), at(play, "ended_at"));
        // Heard within its turn, never before it; the journal's clock is the player's, so these
        // are orders, not budgets a busy machine could miss.
        assert!(started >= scheduled, "heard before its turn: {play:#}");
        assert!(ended > started, "{play:#}");
        if index > 0 {
            // Turns follow the loop with nothing left out: low (2 s), high (2 s), then the broken
            // file's second of silence, which is never journalled.
            let previous = &plays[index - 1];
            let gap = match previous["item_id"].as_str() {
                Some("tone-low") => turn,
                _ => turn + jiff::SignedDuration::from_secs(1),
            };
            assert_eq!(
                scheduled,
                at(previous, "scheduled_start") + gap,
                "a turn went missing: {plays:#?}"
            );
            assert_ne!(previous["item_id"], play["item_id"], "{plays:#?}");
        }
        let late = started.duration_since(scheduled).as_millis();
        let lasted = ended.duration_since(scheduled).as_millis();
        if index == 0 {
            // Joined wherever the turn was: a glimpse unless heard from (within a refresh at
            // 20 fps and the engine's latency of) the turn's start.
            assert_eq!(
                play["completed"],
                late <= 210 && lasted >= 2_000,
                "{late} ms late: {play:#}"
            );
        } else if index + 1 < plays.len() {
            // A whole turn, heard to its end, and over once the next one is heard.
            assert_eq!(play["completed"], true, "{play:#}");
            assert!(ended >= scheduled + turn, "cut short: {play:#}");
            let next = at(&plays[index + 1], "started_at");
            assert!(
                next >= scheduled + turn,
                "the next began inside this turn: {plays:#?}"
            );
        } else {
            // The run ended with the player, so the last play may be cut short.
            assert_eq!(play["completed"], lasted >= 2_000, "{lasted} ms: {play:#}");
        }
    }
}
