//! A week without HQ: the player is restarted under libfaketime seven days in the future with HQ
//! gone, plays its cached manifest for that day and journals every play as `estimated`; a clock
//! set before the last good time shows the fallback and counts nothing; HQ comes back and receives
//! every play once. Real scheduler, real CLI, real headless player, real libfaketime.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use vitrine_core::Loop;
use vitrine_e2e::{
    PlayerExtras, PlayerOptions, Scheduler, Seen, Source, assert_cache_verifies,
    assert_hq_holds_exactly_the_journal, classify, hq_rows, ids_in, libfaketime, seen_frames,
    start_headless_player, start_player_with, wait_for, write_red_blue_playlist, write_solid_png,
};

/// The colour the schedule engine says a red/blue frame at `millis` shows.
fn scheduled(millis: i64) -> Seen {
    let slot = Loop::new(vec![1_000, 1_000])
        .what_plays(Timestamp::from_millisecond(millis).unwrap())
        .unwrap();
    [Seen::Red, Seen::Blue][slot.item_index]
}

fn journal_ids(player_data: &Path, clock: &str) -> Vec<String> {
    ids_in(
        &player_data.join("player.sqlite3"),
        &format!("SELECT id FROM journal WHERE json_extract(body, '$.clock') = '{clock}'"),
    )
    // Before the player's first start there is no database yet.
    .unwrap_or_default()
}

/// Starts the player as if the machine's clock were `offset` away (libfaketime's `FAKETIME`).
fn start_faked(
    offset: &str,
    url: &str,
    token: &str,
    player_data: &Path,
    frames: &Path,
    scratch: &Path,
    config: Option<PathBuf>,
) -> vitrine_e2e::Process {
    start_player_with(
        Source::Scheduler { url, token },
        player_data,
        frames,
        scratch,
        &PlayerOptions::default(),
        &PlayerExtras {
            config,
            env: vec![
                (
                    "LD_PRELOAD".into(),
                    libfaketime().to_string_lossy().into_owned(),
                ),
                ("FAKETIME".into(), offset.into()),
                // Timers and timeouts keep real monotonic time; only the wall clock moves.
                ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
                ("FAKETIME_NO_CACHE".into(), "1".into()),
            ],
        },
    )
    .unwrap()
}

#[test]
fn a_week_offline_plays_the_cached_manifest_and_hq_gets_every_play_once() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let playlist = write_red_blue_playlist(&root.join("content")).unwrap();
    let hq_data = root.join("hq");
    let mut scheduler = Scheduler::start(&hq_data).unwrap();
    let token = scheduler
        .push_and_add_screen(&playlist, "store-9", "e2e")
        .unwrap();
    let player_data = root.join("player");

    // Online: HQ's Date headers set the clock; plays are `synced`.
    let online_frames = root.join("frames-online");
    let mut player =
        start_headless_player(&scheduler.url, &token, &player_data, &online_frames, root).unwrap();
    wait_for("synced plays", Duration::from_secs(60), || {
        journal_ids(&player_data, "synced").len() >= 3
    })
    .unwrap();
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());

    // HQ is gone for good; the player starts a week later by its clock.
    scheduler
        .process
        .terminate(Duration::from_secs(30))
        .unwrap();
    let week_later = Timestamp::now() + SignedDuration::from_hours(7 * 24);
    let faked_frames = root.join("frames-week-later");
    let mut player = start_faked(
        "+7d",
        &scheduler.url,
        &token,
        &player_data,
        &faked_frames,
        root,
        None,
    );
    wait_for("plays a week later", Duration::from_secs(60), || {
        journal_ids(&player_data, "estimated").len() >= 4
    })
    .unwrap();
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());

    let frames = seen_frames(&faked_frames);
    let first_content = frames
        .iter()
        .position(|(_, seen)| matches!(seen, Seen::Red | Seen::Blue))
        .expect("content a week later");
    assert!(
        frames[first_content].0 - frames[0].0 <= 1_000,
        "the cached manifest plays at once: {frames:?}"
    );
    for (millis, seen) in &frames[first_content..] {
        assert!(
            *millis >= week_later.as_millisecond() - 60_000,
            "the frame at {millis} was drawn on the faked day"
        );
        assert_eq!(*seen, scheduled(*millis), "frame at {millis}, a week later");
    }
    let estimated_starts = ids_in(
        &player_data.join("player.sqlite3"),
        "SELECT json_extract(body, '$.started_at') FROM journal
         WHERE json_extract(body, '$.clock') = 'estimated'",
    )
    .unwrap();
    for started_at in &estimated_starts {
        let started_at: Timestamp = started_at.parse().unwrap();
        assert!(
            started_at >= week_later - SignedDuration::from_mins(1),
            "an estimated play starts on the faked day: {started_at}"
        );
    }

    // A clock set before the last good time (a dead clock battery) and no HQ: the time is
    // unknown, the pinned fallback image (`[cache] fallback`, green here) shows with a line that
    // says why, never black, and nothing is counted by a clock known wrong.
    let fallback = root.join("fallback.png");
    write_solid_png(&fallback, [0, 255, 0]).unwrap();
    let config = root.join("player.toml");
    std::fs::write(
        &config,
        format!("[cache]\nfallback = {:?}\n", fallback.to_str().unwrap()),
    )
    .unwrap();
    let journalled_before = ids_in(
        &player_data.join("player.sqlite3"),
        "SELECT id FROM journal",
    )
    .unwrap()
    .len();
    let wrong_frames = root.join("frames-wrong-clock");
    let mut player = start_faked(
        "-30d",
        &scheduler.url,
        &token,
        &player_data,
        &wrong_frames,
        root,
        Some(config),
    );
    wait_for("fallback frames", Duration::from_secs(60), || {
        vitrine_e2e::frames(&wrong_frames).len() >= 20
    })
    .unwrap();
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
    // The middle of the frame: the top-left corner carries the "clock unknown" line.
    let wrong: Vec<(i64, Seen)> = vitrine_e2e::frames(&wrong_frames)
        .into_iter()
        .map(|(millis, path)| {
            let frame = image::open(&path).unwrap().to_rgba8();
            let centre = frame.get_pixel(frame.width() / 2, frame.height() / 2).0;
            (millis, classify(centre))
        })
        .collect();
    assert!(
        wrong.iter().all(|(_, seen)| *seen == Seen::Green),
        "only the pinned fallback while the clock is unknown: {wrong:?}"
    );
    assert_eq!(
        ids_in(
            &player_data.join("player.sqlite3"),
            "SELECT id FROM journal"
        )
        .unwrap()
        .len(),
        journalled_before,
        "no play is counted while the time is unknown"
    );

    // HQ returns (and the clock is right again): every play arrives, none twice, with its
    // clock state.
    let scheduler = Scheduler::start(&hq_data).unwrap();
    let back_frames = root.join("frames-back");
    let mut player =
        start_headless_player(&scheduler.url, &token, &player_data, &back_frames, root).unwrap();
    let database = player_data.join("player.sqlite3");
    wait_for("the journal to drain", Duration::from_secs(60), || {
        ids_in(&database, "SELECT id FROM journal WHERE sent = 0").is_ok_and(|ids| ids.is_empty())
    })
    .unwrap();
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
    let mut scheduler = scheduler;
    scheduler
        .process
        .terminate(Duration::from_secs(30))
        .unwrap();
    assert_hq_holds_exactly_the_journal(&player_data, &hq_data);
    assert_cache_verifies(&player_data);
    let estimated_at_hq = hq_rows(
        &hq_data,
        "SELECT id FROM impressions WHERE clock = 'estimated'",
    )
    .unwrap();
    assert!(
        estimated_at_hq.len() >= journal_ids(&player_data, "estimated").len(),
        "HQ holds the week-later plays as estimated"
    );
    // Sequence numbers run without a gap or a repeat across the three runs.
    let sequences = hq_rows(
        &hq_data,
        // Qualified: PostgreSQL would otherwise order by the text column the cast is named as.
        "SELECT CAST(sequence AS TEXT) FROM impressions ORDER BY impressions.sequence",
    )
    .unwrap();
    let expected: Vec<String> = (1..=sequences.len()).map(|n| n.to_string()).collect();
    assert_eq!(sequences, expected, "per-device sequence numbers");
}
