//! A bad network between the store and HQ: a proxy resets connections, answers 503, delays and cuts
//! responses short while a real player downloads its media, syncs, listens for pushes and uploads
//! proof of play. The screen must never go black, and once the network heals HQ must hold exactly
//! the plays the journal holds, none twice, with every cached file intact.

use std::time::Duration;

use vitrine_e2e::{
    FaultProxy, PlayerOptions, Scheduler, Seen, Source, assert_cache_verifies,
    assert_hq_holds_exactly_the_journal, assert_no_play_counted_twice, ids_in, seen_frames,
    start_player, wait_for, write_red_blue_playlist,
};

#[test]
fn a_faulty_network_costs_no_play_and_never_a_black_frame() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let playlist = write_red_blue_playlist(&root.join("content")).unwrap();
    // Bigger media, so downloads span several reads and can be cut in the middle.
    let big = root.join("content").join("red.png");
    image::RgbImage::from_fn(640, 360, |x, y| {
        image::Rgb([255, ((x * 7 + y * 13) % 3) as u8, 0])
    })
    .save_with_format(&big, image::ImageFormat::Png)
    .unwrap();
    std::fs::write(
        &playlist,
        "version: 1\nname: e2e\nitems:\n  - image: { file: red.png, duration: 400ms }\n  - image: { file: blue.png, duration: 400ms }\n",
    )
    .unwrap();
    let hq_data = root.join("hq");
    let mut scheduler = Scheduler::start(&hq_data).unwrap();
    let token = scheduler
        .push_and_add_screen(&playlist, "faulty", "e2e")
        .unwrap();

    let proxy = FaultProxy::start(&scheduler.url).unwrap();
    let player_data = root.join("player");
    let frames_dir = root.join("frames");
    let mut player = start_player(
        Source::Scheduler {
            url: &proxy.url,
            token: &token,
        },
        &player_data,
        &frames_dir,
        root,
        &PlayerOptions {
            poll_interval: "300ms",
            ..PlayerOptions::default()
        },
    )
    .unwrap();
    // Through the faults, the content still arrives and plays.
    wait_for(
        "content through the faulty network",
        Duration::from_secs(60),
        || {
            seen_frames(&frames_dir)
                .iter()
                .filter(|(_, seen)| matches!(seen, Seen::Red | Seen::Blue))
                .count()
                >= 20
        },
    )
    .unwrap();
    // Keep playing through the faults until each kind has struck at least twice.
    wait_for(
        "every kind of fault (reset, 503, delay, cut)",
        Duration::from_secs(60),
        || proxy.broken_counts().iter().all(|count| *count >= 2),
    )
    .unwrap();
    let broken = proxy.broken_counts();

    proxy.heal();
    let database = player_data.join("player.sqlite3");
    wait_for(
        "the journal to drain once healed",
        Duration::from_secs(60),
        || {
            ids_in(&database, "SELECT id FROM journal WHERE sent = 0")
                .is_ok_and(|ids| ids.is_empty())
        },
    )
    .unwrap();
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
    scheduler
        .process
        .terminate(Duration::from_secs(30))
        .unwrap();

    let (journalled, at_hq) = assert_hq_holds_exactly_the_journal(&player_data, &hq_data);
    assert_no_play_counted_twice(&hq_data);
    eprintln!(
        "fault proxy: {broken:?} connections broken (reset, 503, delayed, cut); {} plays journalled, {at_hq} at HQ",
        journalled.len()
    );
    assert!(journalled.len() >= 5, "{journalled:?}");
    assert_cache_verifies(&player_data);
    for (millis, seen) in seen_frames(&frames_dir) {
        assert!(
            matches!(seen, Seen::Red | Seen::Blue | Seen::Splash),
            "frame at {millis}: {seen:?}"
        );
    }
}
