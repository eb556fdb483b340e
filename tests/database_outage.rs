//! PostgreSQL going away under load, as in a restart: a real player keeps playing and uploading
//! through a scheduler whose database connections are all cut for a few seconds. Requests that need
//! the database answer 503 `database_unavailable` meanwhile, the scheduler reconnects by itself,
//! and once the journal drains HQ holds exactly the plays the player journalled, none twice.

use std::time::{Duration, Instant};

use vitrine_e2e::{
    CuttableRelay, PlayerOptions, Scheduler, Seen, Source, assert_hq_holds_exactly_the_journal,
    assert_no_play_counted_twice, hq_rows, ids_in, postgres_address, seen_frames, start_player,
    use_database_through, wait_for, write_red_blue_playlist,
};

/// How long the database stays away.
const OUTAGE: Duration = Duration::from_secs(4);

#[test]
#[ignore = "needs PostgreSQL: cargo xtask test runs it on its private server"]
fn a_database_restart_under_load_costs_no_play_and_counts_none_twice() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let playlist = write_red_blue_playlist(&root.join("content")).unwrap();
    std::fs::write(
        &playlist,
        "version: 1\nname: e2e\nitems:\n  - image: { file: red.png, duration: 300ms }\n  - image: { file: blue.png, duration: 300ms }\n",
    )
    .unwrap();
    let hq_data = root.join("hq");
    let relay = CuttableRelay::start(&postgres_address().unwrap()).unwrap();
    use_database_through(&hq_data, &relay).unwrap();
    let mut scheduler = Scheduler::start(&hq_data).unwrap();
    let token = scheduler
        .push_and_add_screen(&playlist, "outage", "e2e")
        .unwrap();

    let player_data = root.join("player");
    let frames_dir = root.join("frames");
    let mut player = start_player(
        Source::Scheduler {
            url: &scheduler.url,
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
    wait_for("plays stored at HQ", Duration::from_secs(60), || {
        hq_rows(&hq_data, "SELECT id FROM impressions").is_ok_and(|ids| ids.len() >= 3)
    })
    .unwrap();

    // The restart: every connection to PostgreSQL drops and none opens for a while.
    relay.cut();
    let cut_at = Instant::now();
    let mut unavailable = 0;
    while cut_at.elapsed() < OUTAGE {
        let answer = admin_get(&scheduler, "/v1/screens");
        // What needs the database must fail clearly, with when to try again.
        if !answer.starts_with("HTTP/1.1 200") {
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            assert!(
                answer.to_ascii_lowercase().contains("\r\nretry-after: "),
                "{answer}"
            );
            assert!(
                answer.contains("\"code\":\"database_unavailable\""),
                "{answer}"
            );
            unavailable += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(unavailable > 0, "no request noticed the database was away");
    relay.restore();

    // It recovers by itself: the admin's list answers again, and the journal drains.
    wait_for(
        "the scheduler to answer again",
        Duration::from_secs(30),
        || admin_get(&scheduler, "/v1/screens").starts_with("HTTP/1.1 200"),
    )
    .unwrap();
    let journal = player_data.join("player.sqlite3");
    let plays_after_outage = ids_in(&journal, "SELECT id FROM journal").unwrap().len();
    wait_for(
        "more plays, and the journal drained",
        Duration::from_secs(60),
        || {
            ids_in(&journal, "SELECT id FROM journal")
                .is_ok_and(|ids| ids.len() > plays_after_outage + 3)
                && ids_in(&journal, "SELECT id FROM journal WHERE sent = 0")
                    .is_ok_and(|ids| ids.is_empty())
        },
    )
    .unwrap();
    // The screen played through it: from its first item on, every frame shows one of the two.
    let frames = seen_frames(&frames_dir);
    let first_item = frames
        .iter()
        .position(|(_, seen)| matches!(seen, Seen::Red | Seen::Blue))
        .expect("the items were shown");
    let off: Vec<_> = frames[first_item..]
        .iter()
        .filter(|(_, seen)| !matches!(seen, Seen::Red | Seen::Blue))
        .collect();
    assert!(off.is_empty(), "frames that were neither item: {off:?}");
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
    scheduler
        .process
        .terminate(Duration::from_secs(30))
        .unwrap();
    let (journalled, at_hq) = assert_hq_holds_exactly_the_journal(&player_data, &hq_data);
    assert_no_play_counted_twice(&hq_data);
    eprintln!(
        "database outage: {unavailable} requests answered 503 during {OUTAGE:?}; {} plays \
         journalled, {at_hq} at HQ",
        journalled.len()
    );
}

/// The whole answer to an admin `GET path`, head and body, over a connection of its own.
fn admin_get(scheduler: &Scheduler, path: &str) -> String {
    use std::io::{Read, Write};
    let address = scheduler.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Connection: close\r\n\r\n",
        scheduler.admin_token
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}
