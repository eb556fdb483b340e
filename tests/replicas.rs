//! Two schedulers on one PostgreSQL database behind a load balancer, with a real player: a push
//! made through the replica the player is not connected to reaches its screen over the event
//! stream, and when the player's replica is killed it moves to the other, resyncs by ETag, hears
//! the next push there, and every play reaches HQ once.

use std::time::Duration;

use vitrine_e2e::{
    FailoverRelay, PlayerOptions, Scheduler, Seen, Source, assert_hq_holds_exactly_the_journal,
    assert_no_play_counted_twice, ids_in, seen_frames, start_player, wait_for, write_solid_png,
};

/// How long a pushed change may take to show: generous for two busy cores, far below the poll.
const WAIT: Duration = Duration::from_secs(30);

#[test]
#[ignore = "needs PostgreSQL: cargo xtask test runs it on its private server"]
fn two_replicas_push_across_each_other_and_survive_the_loss_of_one() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let content = root.join("content");
    std::fs::create_dir_all(&content).unwrap();
    for (name, rgb) in [("red.png", [255, 0, 0]), ("blue.png", [0, 0, 255])] {
        write_solid_png(&content.join(name), rgb).unwrap();
    }
    let playlist = content.join("replicas.yaml");
    let write_playlist = |file: &str| {
        std::fs::write(
            &playlist,
            format!(
                "version: 1\nname: replicas\nitems:\n  - image: {{ file: {file}, duration: 500ms }}\n"
            ),
        )
        .unwrap();
    };

    // Both replicas on one data folder (the signing key and media) and one database schema.
    let hq_data = root.join("hq");
    let first = Scheduler::start(&hq_data).unwrap();
    let mut second = Scheduler::start(&hq_data).unwrap();
    assert!(
        hq_data.join("test-database-url").exists(),
        "set VITRINE_TEST_POSTGRES: replicas share a PostgreSQL database"
    );
    let balancer = FailoverRelay::start(&[first.url.clone(), second.url.clone()]).unwrap();

    write_playlist("red.png");
    first.cli(&["push", playlist.to_str().unwrap()]).unwrap();
    let token = first
        .cli(&["screens", "add", "replica-screen", "--playlist", "replicas"])
        .unwrap()
        .trim()
        .to_owned();
    let frames_dir = root.join("frames");
    let player_data = root.join("player");
    let mut player = start_player(
        Source::Scheduler {
            url: &balancer.url,
            token: &token,
        },
        &player_data,
        &frames_dir,
        root,
        &PlayerOptions {
            // Changes can only come over the event stream within the test's waits.
            poll_interval: "1h",
            ..PlayerOptions::default()
        },
    )
    .unwrap();
    let frames = frames_dir.as_path();
    let shows = |colour: Seen, since: i64| {
        move || {
            seen_frames(frames)
                .iter()
                .filter(|(at, seen)| *at >= since && *seen == colour)
                .count()
                >= 3
        }
    };
    wait_for(
        "red, through the first replica",
        Duration::from_secs(60),
        shows(Seen::Red, 0),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));

    // Published on the second replica; the player's stream is on the first.
    write_playlist("blue.png");
    let pushed = jiff::Timestamp::now().as_millisecond();
    second.cli(&["push", playlist.to_str().unwrap()]).unwrap();
    wait_for(
        "blue, pushed through the other replica",
        WAIT,
        shows(Seen::Blue, pushed),
    )
    .unwrap();

    // The first replica dies mid-run; the player reconnects through the balancer to the second.
    let mut first = first;
    first.process.child.kill().unwrap();
    first.process.child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    write_playlist("red.png");
    let pushed = jiff::Timestamp::now().as_millisecond();
    second.cli(&["push", playlist.to_str().unwrap()]).unwrap();
    wait_for(
        "red again, from the surviving replica",
        WAIT,
        shows(Seen::Red, pushed),
    )
    .unwrap();

    // Every play reaches HQ once, whichever replica took it.
    let journal = player_data.join("player.sqlite3");
    wait_for("the journal to drain", Duration::from_secs(60), || {
        ids_in(&journal, "SELECT id FROM journal WHERE sent = 0").is_ok_and(|ids| ids.is_empty())
    })
    .unwrap();
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
    second.process.terminate(Duration::from_secs(30)).unwrap();
    let (journalled, at_hq) = assert_hq_holds_exactly_the_journal(&player_data, &hq_data);
    assert_no_play_counted_twice(&hq_data);
    assert!(journalled.len() >= 5, "{journalled:?}");
    eprintln!(
        "two replicas: {} plays journalled, {at_hq} at HQ",
        journalled.len()
    );
}
