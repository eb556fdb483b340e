//! What a store sees when things go wrong: the network to HQ disappears, the player restarts
//! offline, or a media file arrives corrupted. Real scheduler, real CLI, real headless player.

use std::time::Duration;

use jiff::Timestamp;
use vitrine_core::{Loop, Sha256Hex};
use vitrine_e2e::{
    Scheduler, Seen, assert_hq_holds_exactly_the_journal, assert_no_play_counted_twice, ids_in,
    seen_frames, start_headless_player, wait_for, write_red_blue_playlist,
};

fn content_frames(frames_dir: &std::path::Path) -> usize {
    seen_frames(frames_dir)
        .iter()
        .filter(|(_, seen)| matches!(seen, Seen::Red | Seen::Blue))
        .count()
}

/// The colour the schedule engine says a red/blue frame at `millis` shows.
fn scheduled(millis: i64) -> Seen {
    let slot = Loop::new(vec![1_000, 1_000])
        .what_plays(Timestamp::from_millisecond(millis).unwrap())
        .unwrap();
    [Seen::Red, Seen::Blue][slot.item_index]
}

#[test]
fn a_player_that_loses_hq_keeps_playing_restarts_offline_and_loses_no_play() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let playlist = write_red_blue_playlist(&root.join("content")).unwrap();
    let hq_data = root.join("hq");
    let mut scheduler = Scheduler::start(&hq_data).unwrap();
    let token = scheduler
        .push_and_add_screen(&playlist, "store-7", "e2e")
        .unwrap();
    let player_data = root.join("player");

    // Online: play until content shows.
    let online_frames = root.join("frames-online");
    let mut player =
        start_headless_player(&scheduler.url, &token, &player_data, &online_frames, root).unwrap();
    wait_for("content on screen", Duration::from_secs(60), || {
        content_frames(&online_frames) >= 5
    })
    .unwrap();

    // HQ vanishes without a goodbye. The screen goes on with what it has.
    scheduler.process.child.kill().unwrap();
    scheduler.process.child.wait().unwrap();
    let cut_at = Timestamp::now().as_millisecond();
    std::thread::sleep(Duration::from_millis(3_000));
    let after_cut: Vec<(i64, Seen)> = seen_frames(&online_frames)
        .into_iter()
        .filter(|(millis, _)| *millis > cut_at)
        .collect();
    assert!(
        after_cut.len() >= 20,
        "frames kept coming: {}",
        after_cut.len()
    );
    for (millis, seen) in &after_cut {
        assert_eq!(*seen, scheduled(*millis), "offline frame at {millis}");
    }
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
    let database = player_data.join("player.sqlite3");
    let waiting = ids_in(&database, "SELECT id FROM journal WHERE sent = 0").unwrap();
    assert!(
        !waiting.is_empty(),
        "plays after the cut wait in the journal"
    );

    // A restart with HQ still gone plays from the cache, never waiting on HQ: the frames show the
    // splash at most until the cached content, which then matches the schedule frame by frame.
    // (How soon it shows is the cold-start figure of `cargo xtask bench`.)
    let offline_frames = root.join("frames-offline");
    let mut player =
        start_headless_player(&scheduler.url, &token, &player_data, &offline_frames, root).unwrap();
    wait_for(
        "cached content after an offline restart",
        Duration::from_secs(30),
        || content_frames(&offline_frames) >= 10,
    )
    .unwrap();
    let offline = seen_frames(&offline_frames);
    let first_content = offline
        .iter()
        .position(|(_, seen)| *seen != Seen::Splash)
        .unwrap();
    for (millis, seen) in &offline[first_content..] {
        assert_eq!(
            *seen,
            scheduled(*millis),
            "offline restart frame at {millis}"
        );
    }
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());

    // HQ comes back (on another port, as after a move): every journalled play arrives, once.
    let scheduler = Scheduler::start(&hq_data).unwrap();
    let back_frames = root.join("frames-back");
    let mut player =
        start_headless_player(&scheduler.url, &token, &player_data, &back_frames, root).unwrap();
    wait_for("the journal to drain", Duration::from_secs(30), || {
        ids_in(&database, "SELECT id FROM journal WHERE sent = 0").is_ok_and(|ids| ids.is_empty())
    })
    .unwrap();
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
    let mut scheduler = scheduler;
    scheduler
        .process
        .terminate(Duration::from_secs(30))
        .unwrap();
    let (journalled, _) = assert_hq_holds_exactly_the_journal(&player_data, &hq_data);
    assert_no_play_counted_twice(&hq_data);
    for id in &waiting {
        assert!(
            journalled.contains(id),
            "a play journalled offline reached HQ"
        );
    }
}

#[test]
fn a_corrupted_download_is_never_shown_and_heals_when_the_file_is_fixed() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let content = root.join("content");
    let playlist = write_red_blue_playlist(&content).unwrap();
    let hq_data = root.join("hq");
    let scheduler = Scheduler::start(&hq_data).unwrap();
    let token = scheduler
        .push_and_add_screen(&playlist, "store-8", "e2e")
        .unwrap();

    // The blue file rots on HQ's disk: its bytes no longer match the digest it is served under.
    let blue = std::fs::read(content.join("blue.png")).unwrap();
    let digest = Sha256Hex::of_bytes(&blue);
    let stored = hq_data
        .join("media")
        .join(&digest.as_str()[..2])
        .join(digest.as_str());
    assert!(stored.is_file(), "blob at {}", stored.display());
    vitrine_e2e::write_solid_png(&stored, [0, 255, 0]).unwrap();

    let frames_dir = root.join("frames");
    let player_data = root.join("player");
    let mut player =
        start_headless_player(&scheduler.url, &token, &player_data, &frames_dir, root).unwrap();
    wait_for("frames", Duration::from_secs(30), || {
        seen_frames(&frames_dir).len() >= 25
    })
    .unwrap();
    // Red is fine, but the manifest needs blue too: nothing of it plays until all of it verifies.
    for (millis, seen) in seen_frames(&frames_dir) {
        assert_eq!(
            seen,
            Seen::Splash,
            "frame at {millis} before the manifest could verify"
        );
    }
    let cached = player_data.join("media");
    assert!(
        !cached.join(digest.as_str()).exists(),
        "the bad file never took its name"
    );
    // The player keeps retrying, so a `.part` exists during each attempt; it must not linger.
    let part = cached.join(format!("{digest}.part"));
    wait_for(
        "the bad download to be removed",
        Duration::from_secs(5),
        || !part.exists(),
    )
    .unwrap();

    // HQ's file is repaired; the next poll downloads, verifies and switches.
    std::fs::write(&stored, &blue).unwrap();
    let repaired_at = Timestamp::now().as_millisecond();
    wait_for("content after the repair", Duration::from_secs(30), || {
        seen_frames(&frames_dir)
            .iter()
            .filter(|(millis, seen)| *millis > repaired_at && *seen != Seen::Splash)
            .count()
            >= 15
    })
    .unwrap();
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
    let frames = seen_frames(&frames_dir);
    let first_content = frames
        .iter()
        .position(|(_, seen)| *seen != Seen::Splash)
        .unwrap();
    for (millis, seen) in &frames[first_content..] {
        assert_eq!(*seen, scheduled(*millis), "frame at {millis}");
    }
    assert!(cached.join(digest.as_str()).is_file());
}
