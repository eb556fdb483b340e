//! Push end to end: a real scheduler and a real headless player on loopback, the player polling only
//! once an hour, so a change that shows within the test's waits (well under that) can only have
//! come over the event stream. How fast a push lands is a figure of `cargo xtask bench`, not
//! something a test on a busy machine can promise.

use std::time::Duration;

use jiff::Timestamp;
use vitrine_e2e::{
    PlayerOptions, Scheduler, Seen, Source, seen_frames, start_player, wait_for, write_solid_png,
};

/// How long each wait may take: generous for two busy cores, and far below the poll interval.
const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_pushed_playlist_an_interrupt_and_its_cancel_reach_the_screen_without_polling() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let content = root.join("content");
    std::fs::create_dir_all(&content).unwrap();
    write_solid_png(&content.join("red.png"), [255, 0, 0]).unwrap();
    write_solid_png(&content.join("blue.png"), [0, 0, 255]).unwrap();
    let playlist = content.join("push.yaml");
    let write_playlist = |file: &str| {
        std::fs::write(
            &playlist,
            format!(
                "version: 1\nname: push\nitems:\n  - image: {{ file: {file}, duration: 5s }}\n"
            ),
        )
        .unwrap();
    };

    let mut scheduler = Scheduler::start(&root.join("hq")).unwrap();
    write_playlist("red.png");
    scheduler
        .cli(&["push", playlist.to_str().unwrap()])
        .unwrap();
    let token = scheduler
        .cli(&["screens", "add", "push-screen", "--playlist", "push"])
        .unwrap()
        .trim()
        .to_owned();
    let frames_dir = root.join("frames");
    let mut player = start_player(
        Source::Scheduler {
            url: &scheduler.url,
            token: &token,
        },
        &root.join("player"),
        &frames_dir,
        root,
        &PlayerOptions {
            poll_interval: "1h",
            ..PlayerOptions::default()
        },
    )
    .unwrap();
    // The first manifest comes from the sync at start-up.
    wait_for("red on screen", Duration::from_secs(60), || {
        seen_frames(&frames_dir)
            .iter()
            .filter(|(_, seen)| *seen == Seen::Red)
            .count()
            >= 5
    })
    .unwrap();
    // Let the event stream settle after the start-up sync, so the push below is the only news.
    std::thread::sleep(Duration::from_millis(500));

    write_playlist("blue.png");
    let pushing_at = Timestamp::now().as_millisecond();
    scheduler
        .cli(&["push", playlist.to_str().unwrap()])
        .unwrap();
    let pushed_at = Timestamp::now().as_millisecond();
    wait_for("blue on screen", WAIT, || {
        seen_frames(&frames_dir)
            .iter()
            .any(|(millis, seen)| *millis > pushed_at && *seen == Seen::Blue)
    })
    .unwrap();
    // In order: red until the push, blue from then on.
    let frames = seen_frames(&frames_dir);
    let first_blue = frames
        .iter()
        .find(|(_, seen)| *seen == Seen::Blue)
        .map(|(millis, _)| *millis)
        .unwrap();
    assert!(
        first_blue >= pushing_at,
        "blue showed at {first_blue}, before the push started at {pushing_at}"
    );
    assert!(
        frames
            .iter()
            .filter(|(millis, _)| *millis >= first_blue)
            .all(|(_, seen)| *seen == Seen::Blue),
        "red came back after the push: {frames:?}"
    );
    eprintln!(
        "push reached the screen {} ms after the push returned",
        first_blue - pushed_at
    );

    // An emergency message from HQ covers the screen, over the same stream.
    let interrupting_at = Timestamp::now().as_millisecond();
    scheduler
        .cli(&[
            "interrupt",
            "Please leave by the nearest exit",
            "--screen",
            "push-screen",
            "--duration",
            "1m",
        ])
        .unwrap();
    wait_for("the interrupt on screen", WAIT, || {
        seen_frames(&frames_dir)
            .iter()
            .any(|(millis, seen)| *millis > interrupting_at && *seen == Seen::Alert)
    })
    .unwrap();

    // HQ sees it in force, cancels it long before its minute is up, and the playlist is back on
    // screen, for good.
    let listed = scheduler.cli(&["interrupt", "list"]).unwrap();
    assert!(
        listed.contains("push-screen") && listed.contains("Please leave by the nearest exit"),
        "{listed}"
    );
    let cancelling_at = Timestamp::now().as_millisecond();
    let cancelled = scheduler
        .cli(&["interrupt", "cancel", "--all", "--screen", "push-screen"])
        .unwrap();
    assert!(cancelled.contains("cancelled on 1 screens"), "{cancelled}");
    wait_for("the playlist back on screen", WAIT, || {
        seen_frames(&frames_dir)
            .iter()
            .any(|(millis, seen)| *millis > cancelling_at && *seen == Seen::Blue)
    })
    .unwrap();
    let frames = seen_frames(&frames_dir);
    let back = frames
        .iter()
        .find(|(millis, seen)| *millis > cancelling_at && *seen == Seen::Blue)
        .map(|(millis, _)| *millis)
        .unwrap();
    let in_order: Vec<Seen> = frames
        .iter()
        .filter(|(millis, _)| *millis > interrupting_at)
        .map(|(_, seen)| *seen)
        .collect();
    assert!(
        in_order.contains(&Seen::Alert),
        "the interrupt was on screen: {in_order:?}"
    );
    assert!(
        frames
            .iter()
            .filter(|(millis, _)| *millis >= back)
            .all(|(_, seen)| *seen == Seen::Blue),
        "the interrupt came back after its cancel: {frames:?}"
    );
    assert_eq!(
        scheduler.cli(&["interrupt", "list"]).unwrap(),
        "no interrupt is in force\n"
    );

    // The scheduler ends its event streams at shutdown, with the player still connected, instead
    // of waiting on them for ever.
    assert!(
        scheduler
            .process
            .terminate(Duration::from_secs(10))
            .unwrap()
            .success()
    );
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
}
