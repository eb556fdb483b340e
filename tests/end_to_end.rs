//! One real path through every part: the CLI pushes a playlist of two images to a real scheduler on
//! loopback; a real headless player syncs it, renders it on the GPU (lavapipe in CI) and reports every
//! play; the frames it rendered and the proof of play that reached HQ are checked.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use vitrine_core::Loop;
use vitrine_e2e::{
    Scheduler, Seen, assert_hq_holds_exactly_the_journal, assert_no_play_counted_twice, classify,
    frames, hq_rows, ids_in, seen_frames, start_headless_player, write_red_blue_playlist,
};

#[test]
fn a_pushed_playlist_plays_on_a_headless_player_and_every_play_reaches_hq() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();

    // Content as store staff would write it.
    let playlist = write_red_blue_playlist(&root.join("content")).unwrap();

    let mut scheduler = Scheduler::start(&root.join("hq")).unwrap();
    let pushed = scheduler
        .cli(&["push", playlist.to_str().unwrap()])
        .unwrap();
    assert!(
        pushed.contains("pushed playlist \"e2e\" version 1"),
        "{pushed}"
    );
    let device_token = scheduler
        .cli(&["screens", "add", "e2e-screen", "--playlist", "e2e"])
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(
        device_token.len(),
        64,
        "a 32-byte hex device token: {device_token}"
    );

    let frames_dir = root.join("frames");
    let player_data = root.join("player");
    let mut player = start_headless_player(
        &scheduler.url,
        &device_token,
        &player_data,
        &frames_dir,
        root,
    )
    .unwrap();

    // Play until the frames show more than three full items of content (or give up after a minute).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let content_frames = seen_frames(&frames_dir)
            .iter()
            .filter(|(_, seen)| matches!(seen, Seen::Red | Seen::Blue))
            .count();
        if content_frames >= 35 {
            break;
        }
        if let Some(status) = player.child.try_wait().unwrap() {
            panic!("the player exited early ({status}); see its log above");
        }
        assert!(
            Instant::now() < deadline,
            "no content on screen after a minute ({content_frames} frames)"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // The fleet view: the screen's heartbeat says what it plays and how well it draws.
    let status: serde_json::Value = serde_json::from_str(
        &scheduler
            .cli(&["screens", "status", "e2e-screen", "--json"])
            .unwrap(),
    )
    .unwrap();
    let heartbeat = &status["heartbeat"];
    assert_eq!(heartbeat["playlist"], "e2e", "{status}");
    assert_eq!(heartbeat["playlist_version"], 1, "{status}");
    assert!(
        heartbeat["frames"]["frames"].as_u64().unwrap_or(0) > 10,
        "{status}"
    );
    assert_eq!(heartbeat["frames"]["transition_gaps"], 0, "{status}");
    let status = player.terminate(Duration::from_secs(30)).unwrap();
    assert!(
        status.success(),
        "the player stops cleanly on SIGTERM: {status}"
    );

    // The frames: splash until content is ready, then exactly what the schedule engine says.
    let schedule = Loop::new(vec![1_000, 1_000]);
    let mut sequence: Vec<Seen> = Vec::new();
    let mut content_started = false;
    let mut checked = 0;
    for (millis, path) in frames(&frames_dir) {
        let frame = image::open(&path).unwrap().to_rgba8();
        let seen = classify(frame.get_pixel(80, 8).0);
        assert_ne!(
            seen,
            Seen::Black,
            "black frame at {millis}: {}",
            path.display()
        );
        assert!(
            !matches!(seen, Seen::Other(_)),
            "unexpected frame at {millis}: {seen:?}"
        );
        // The corners show the same thing: full screen, no letterbox for a 16:9 image in 16:9.
        assert_eq!(
            seen,
            classify(frame.get_pixel(2, 2).0),
            "corner of frame {millis}"
        );
        if seen == Seen::Splash {
            assert!(
                !content_started,
                "the splash came back at {millis} after content had started"
            );
            continue;
        }
        content_started = true;
        let at = Timestamp::from_millisecond(millis).unwrap();
        let slot = schedule.what_plays(at).unwrap();
        let expected = [Seen::Red, Seen::Blue][slot.item_index];
        if seen != expected {
            // Only allowed while the next image is still being prepared, right after a switch.
            let since_switch = at.duration_since(slot.start).as_millis();
            assert!(
                since_switch < 150,
                "frame at {millis} shows {seen:?}, the schedule says {expected:?}"
            );
        } else {
            checked += 1;
        }
        if sequence.last() != Some(&seen) {
            sequence.push(seen);
        }
    }
    assert!(checked >= 30, "only {checked} frames matched the schedule");
    assert!(
        sequence
            .windows(3)
            .any(|window| window == [Seen::Red, Seen::Blue, Seen::Red]),
        "expected red, then blue, then red; saw {sequence:?}"
    );

    // The buyer's view, through the real CLI: the plays report counts every play HQ holds, and
    // the screen's hash chain arrived whole.
    let held: u64 = hq_rows(
        &scheduler.data_dir,
        "SELECT CAST(COUNT(*) AS TEXT) FROM impressions",
    )
    .unwrap()[0]
        .parse()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(
        &scheduler
            .cli(&["reports", "plays", "--group-by", "screen", "--json"])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(report["rows"][0]["key"][0], "e2e-screen", "{report}");
    assert_eq!(report["totals"]["plays"], held, "{report}");
    let chain: serde_json::Value =
        serde_json::from_str(&scheduler.cli(&["reports", "chain", "--json"]).unwrap()).unwrap();
    let days = chain["days"].as_array().unwrap();
    assert!(!days.is_empty(), "{chain}");
    for day in days {
        assert_eq!(day["intact"], true, "{day}");
    }

    scheduler
        .process
        .terminate(Duration::from_secs(30))
        .unwrap();

    // Proof of play: HQ holds exactly what the player journalled, once each, all acknowledged.
    let unacknowledged = ids_in(
        &player_data.join("player.sqlite3"),
        "SELECT id FROM journal WHERE sent = 0",
    )
    .unwrap();
    assert!(
        unacknowledged.is_empty(),
        "unacknowledged: {unacknowledged:?}"
    );
    let (journalled, _) = assert_hq_holds_exactly_the_journal(&player_data, &scheduler.data_dir);
    assert_no_play_counted_twice(&scheduler.data_dir);
    assert!(
        journalled.len() >= 3,
        "at least three plays: {journalled:?}"
    );
}
