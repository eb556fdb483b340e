//! The kill loop: a real player is killed with SIGKILL (no chance to flush anything) again and again
//! at random moments while it plays and uploads, then restarted. Afterwards HQ must hold exactly
//! the plays the journal holds, none twice (not under its id, its sequence number or its scheduled
//! turn); every play the frames show finished on screen must be in the journal; every cached file
//! must still match its digest; no rendered frame may be black, and the splash may only come
//! before a run's content, never after it, and cannot be all most runs show.
//!
//! `VITRINE_KILLS` sets the number of kills (50 by default, what CI runs); `cargo xtask kill-loop`
//! runs a longer one.

use std::time::Duration;

use jiff::Timestamp;
use vitrine_e2e::{
    JournalledPlay, PlayerOptions, Scheduler, Seen, Source, assert_cache_verifies,
    assert_hq_holds_exactly_the_journal, assert_no_play_counted_twice, frames, ids_in,
    journalled_plays, seen_frames, sha256_of_file, start_player, wait_for, write_red_blue_playlist,
};

/// How far a frame's instant may sit outside the play that showed it: the frame is stamped with
/// the instant the player drew it for, the play with its first frame's, a few ms apart at most.
/// Far less than an item's 300 ms, so a frame cannot be put down to the previous play of its
/// colour.
const FRAME_SLACK_MS: i64 = 100;

/// The span of one run of the player, from just before its start to just after its end (and the
/// one refresh its last frame may be stamped ahead), in Unix ms.
#[derive(Clone, Copy, Debug)]
struct Run {
    from: i64,
    to: i64,
}

/// What one run's frames show, in order.
fn frames_of(all: &[(i64, Seen)], run: Run) -> Vec<(i64, Seen)> {
    all.iter()
        .copied()
        .filter(|(millis, _)| (run.from..=run.to).contains(millis))
        .collect()
}

/// The stretches of one colour in a run's frames, each with its first and last frame's instant,
/// that the frames show finished: a different content colour came after them in the same run.
fn finished_on_screen(frames: &[(i64, Seen)]) -> Vec<(Seen, i64, i64)> {
    let content: Vec<(i64, Seen)> = frames
        .iter()
        .copied()
        .filter(|(_, seen)| matches!(seen, Seen::Red | Seen::Blue))
        .collect();
    let mut stretches: Vec<(Seen, i64, i64)> = Vec::new();
    for (millis, seen) in content {
        match stretches.last_mut() {
            Some((colour, _, last)) if *colour == seen => *last = millis,
            _ => stretches.push((seen, millis, millis)),
        }
    }
    // The last stretch was still on screen when the run ended.
    stretches.pop();
    stretches
}

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
    let content = root.join("content");
    let colour_of_media = [
        (sha256_of_file(&content.join("red.png")).unwrap(), Seen::Red),
        (
            sha256_of_file(&content.join("blue.png")).unwrap(),
            Seen::Blue,
        ),
    ];
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
    // A frame every 100 ms: each 300 ms item shows in about three, so the frames tell which plays
    // finished on screen.
    let options = PlayerOptions {
        frame_interval: "100ms",
        poll_interval: "500ms",
        ..PlayerOptions::default()
    };
    let source = || Source::Scheduler {
        url: &scheduler.url,
        token: &token,
    };
    let mut random = Lcg(0x5eed_1234);
    // A frame is stamped with the instant it is drawn for, up to one refresh ahead: frames
    // stamped within that of a kill are the killed run's, and the next run draws nothing that
    // soon after its start.
    let lead_ms = 1000 / i64::from(options.fps);
    let mut runs: Vec<Run> = Vec::new();
    for kill in 0..kills {
        let from = Timestamp::now().as_millisecond();
        let mut player = start_player(source(), &player_data, &frames_dir, root, &options).unwrap();
        // Killed once it has drawn a random number of frames (none: still starting) and a random
        // part of a frame more: the moment is set by the player's progress, not the wall clock,
        // so a busy machine moves the kills but does not change what they hit.
        let drawn = random.next_below(21) as usize;
        wait_for("the run to draw", Duration::from_secs(60), || {
            frames(&frames_dir)
                .iter()
                .filter(|(millis, _)| *millis >= from)
                .count()
                >= drawn
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(random.next_below(100)));
        player.child.kill().unwrap();
        player.child.wait().unwrap();
        let previous_end = runs.last().map_or(i64::MIN, |run| run.to);
        runs.push(Run {
            from: from.max(previous_end + 1),
            to: Timestamp::now().as_millisecond() + lead_ms,
        });
        if kill % 10 == 9 {
            eprintln!("kill loop: {} kills", kill + 1);
        }
    }

    // A last, clean run drains the journal. It must be up (drawing) before it is asked to stop:
    // a SIGTERM that lands before the player has installed its handler ends it the default way.
    let database = player_data.join("player.sqlite3");
    let last_from = Timestamp::now().as_millisecond();
    let mut player = start_player(source(), &player_data, &frames_dir, root, &options).unwrap();
    wait_for(
        "the last run to show both items",
        Duration::from_secs(60),
        || {
            let shown = frames_of(
                &seen_frames(&frames_dir),
                Run {
                    from: last_from,
                    to: i64::MAX,
                },
            );
            [Seen::Red, Seen::Blue]
                .iter()
                .all(|colour| shown.iter().any(|(_, seen)| seen == colour))
        },
    )
    .unwrap();
    wait_for("the journal to drain", Duration::from_secs(60), || {
        ids_in(&database, "SELECT id FROM journal WHERE sent = 0").is_ok_and(|ids| ids.is_empty())
    })
    .unwrap();
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
    let previous_end = runs.last().map_or(i64::MIN, |run| run.to);
    runs.push(Run {
        from: last_from.max(previous_end + 1),
        to: Timestamp::now().as_millisecond() + lead_ms,
    });
    scheduler
        .process
        .terminate(Duration::from_secs(30))
        .unwrap();

    let (journalled, at_hq) = assert_hq_holds_exactly_the_journal(&player_data, &hq_data);
    assert_no_play_counted_twice(&hq_data);
    eprintln!(
        "kill loop: {kills} kills, {} plays journalled, {at_hq} received at HQ, 0 duplicates",
        journalled.len()
    );
    assert!(
        journalled.len() as u32 >= kills,
        "plays were journalled between kills"
    );
    assert_cache_verifies(&player_data);

    // No frame of any run was black, and the splash only ever came before a run's content.
    let frames = seen_frames(&frames_dir);
    assert!(
        frames.len() as u32 >= kills,
        "frames were written: {}",
        frames.len()
    );
    for (millis, seen) in &frames {
        assert!(
            matches!(seen, Seen::Red | Seen::Blue | Seen::Splash),
            "frame at {millis}: {seen:?}"
        );
    }
    let (mut runs_drawing, mut runs_with_content) = (0, 0);
    for run in &runs {
        let shown = frames_of(&frames, *run);
        if shown.is_empty() {
            continue;
        }
        runs_drawing += 1;
        if let Some(first_content) = shown.iter().position(|(_, seen)| *seen != Seen::Splash) {
            runs_with_content += 1;
            assert!(
                shown[first_content..]
                    .iter()
                    .all(|(_, seen)| *seen != Seen::Splash),
                "the splash came back after content in run {run:?}: {shown:?}"
            );
        }
    }
    // Content is in the cache after the first run, so a restart shows it within a few frames;
    // runs killed before that are the exception. A player stuck on its splash fails here.
    eprintln!("kill loop: {runs_with_content} of {runs_drawing} runs that drew showed content");
    assert!(
        runs_with_content * 2 > runs_drawing,
        "only {runs_with_content} of {runs_drawing} runs that drew showed content; the rest \
         showed only the splash"
    );

    // Every play the frames show finished on screen is in the journal: a frame of its colour
    // during its span, with the play's item covering the frame's instant.
    let plays = journalled_plays(&player_data).unwrap();
    let colour_of = |play: &JournalledPlay| {
        colour_of_media
            .iter()
            .find(|(sha256, _)| play.media_sha256.as_deref() == Some(sha256))
            .map(|(_, colour)| *colour)
    };
    let mut stretches_checked = 0;
    for run in &runs {
        for (colour, first, last) in finished_on_screen(&frames_of(&frames, *run)) {
            stretches_checked += 1;
            let journalled = plays.iter().any(|play| {
                colour_of(play) == Some(colour)
                    && play.started_at - FRAME_SLACK_MS <= first
                    && last <= play.ended_at + FRAME_SLACK_MS
            });
            assert!(
                journalled,
                "{colour:?} was on screen from {first} to {last} and replaced, but no play in \
                 the journal covers it (run {run:?}); journal: {plays:#?}"
            );
        }
    }
    eprintln!("kill loop: {stretches_checked} plays seen finished on screen, all journalled");
    assert!(
        stretches_checked as u32 >= kills / 2,
        "the frames show few finished plays: {stretches_checked}"
    );
}
