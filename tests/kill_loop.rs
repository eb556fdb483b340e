//! The kill loop: a real player is killed with SIGKILL (no chance to flush anything) again and again
//! at random moments while it plays and uploads, then restarted. Afterwards HQ must hold exactly
//! the plays the journal holds, none twice; every cached file must still match its digest; and no
//! rendered frame may be black.
//!
//! `VITRINE_KILLS` sets the number of kills (50 by default, what CI runs); `cargo xtask kill-loop`
//! runs a longer one.

use std::time::Duration;

use vitrine_e2e::{
    PlayerOptions, Scheduler, Seen, Source, assert_cache_verifies,
    assert_hq_holds_exactly_the_journal, frames, ids_in, seen_frames, start_player, wait_for,
    write_red_blue_playlist,
};

/// A small deterministic generator, so a failing run can be repeated with the same kill times.
struct Lcg(u64);

impl Lcg {
    fn next_below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

#[test]
fn kill_9_at_any_moment_loses_no_play_counts_none_twice_and_keeps_the_cache_sound() {
    let kills: u32 = std::env::var("VITRINE_KILLS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(50);
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let playlist = write_red_blue_playlist(&root.join("content")).unwrap();
    let hq_data = root.join("hq");
    let mut scheduler = Scheduler::start(&hq_data).unwrap();
    let token = scheduler
        .push_and_add_screen(&playlist, "kill-loop", "e2e")
        .unwrap();
    let player_data = root.join("player");
    let frames_dir = root.join("frames");
    // Items of 300 ms and uploads every 200 ms, so kills land in every phase: mid-item, mid-journal
    // write, mid-upload, mid-download at the first start.
    std::fs::write(
        &playlist,
        "version: 1\nname: e2e\nitems:\n  - image: { file: red.png, duration: 300ms }\n  - image: { file: blue.png, duration: 300ms }\n",
    )
    .unwrap();
    scheduler
        .cli(&["push", playlist.to_str().unwrap()])
        .unwrap();
    let options = PlayerOptions {
        frame_interval: "250ms",
        poll_interval: "500ms",
        ..PlayerOptions::default()
    };
    let source = || Source::Scheduler {
        url: &scheduler.url,
        token: &token,
    };
    let mut random = Lcg(0x5eed_1234);
    for kill in 0..kills {
        let mut player = start_player(source(), &player_data, &frames_dir, root, &options).unwrap();
        std::thread::sleep(Duration::from_millis(200 + random.next_below(1_300)));
        player.child.kill().unwrap();
        player.child.wait().unwrap();
        if kill % 10 == 9 {
            eprintln!("kill loop: {} kills", kill + 1);
        }
    }

    // A last, clean run drains the journal. It must be up (drawing) before it is asked to stop:
    // a SIGTERM that lands before the player has installed its handler ends it the default way.
    let database = player_data.join("player.sqlite3");
    let frames_before = frames(&frames_dir).len();
    let mut player = start_player(source(), &player_data, &frames_dir, root, &options).unwrap();
    wait_for("the last run to draw", Duration::from_secs(60), || {
        frames(&frames_dir).len() > frames_before
    })
    .unwrap();
    wait_for("the journal to drain", Duration::from_secs(60), || {
        ids_in(&database, "SELECT id FROM journal WHERE sent = 0").is_ok_and(|ids| ids.is_empty())
    })
    .unwrap();
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
    scheduler
        .process
        .terminate(Duration::from_secs(30))
        .unwrap();

    let (journalled, at_hq) = assert_hq_holds_exactly_the_journal(&player_data, &hq_data);
    eprintln!(
        "kill loop: {kills} kills, {} plays journalled, {at_hq} received at HQ, 0 duplicates",
        journalled.len()
    );
    assert!(
        journalled.len() as u32 >= kills,
        "plays were journalled between kills"
    );
    assert_cache_verifies(&player_data);

    // No frame of any run was black.
    let frames = seen_frames(&frames_dir);
    assert!(
        frames.len() as u32 >= kills,
        "frames were written: {}",
        frames.len()
    );
    for (millis, seen) in frames {
        assert!(
            matches!(seen, Seen::Red | Seen::Blue | Seen::Splash),
            "frame at {millis}: {seen:?}"
        );
    }
}
