//! Standalone mode as a shop with one screen uses it: a folder of YAML and images, edited in place,
//! played by a real headless player with no scheduler.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use vitrine_e2e::{
    PlayerOptions, Seen, Source, binary, frames, ids_in, journalled_plays, runtime_dir,
    seen_frames, sha256_of_file, start_player, wait_for, write_solid_png,
};

/// Saves the way editors do: a temporary file renamed over the playlist.
fn save(folder: &Path, text: &str) {
    let temporary = folder.join(".playlist.yaml.swp-new");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, folder.join("playlist.yaml")).unwrap();
}

fn only(colour: &str) -> String {
    format!("version: 1\nname: shop\nitems:\n  - image: {{ file: {colour}.png, duration: 1h }}\n")
}

/// Frames after `since` (Unix ms) that show `seen`.
fn shown_since(frames_dir: &Path, since: i64, seen: Seen) -> usize {
    seen_frames(frames_dir)
        .iter()
        .filter(|(millis, frame)| *millis > since && *frame == seen)
        .count()
}

#[test]
fn edits_are_played_on_save_and_a_broken_edit_keeps_the_last_good_playlist() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let shop = root.join("shop");
    std::fs::create_dir_all(&shop).unwrap();
    write_solid_png(&shop.join("red.png"), [255, 0, 0]).unwrap();
    write_solid_png(&shop.join("blue.png"), [0, 0, 255]).unwrap();
    save(&shop, &only("red"));

    let frames = root.join("frames");
    let data = root.join("player");
    let mut player = start_player(
        Source::Folder(&shop),
        &data,
        &frames,
        root,
        &PlayerOptions::default(),
    )
    .unwrap();
    wait_for("red on screen", Duration::from_secs(60), || {
        shown_since(&frames, 0, Seen::Red) >= 3
    })
    .unwrap();

    let saved_at = Timestamp::now().as_millisecond();
    save(&shop, &only("blue"));
    wait_for("blue after the save", Duration::from_secs(30), || {
        shown_since(&frames, saved_at, Seen::Blue) >= 3
    })
    .unwrap();

    // A typo: the player says why in its log and keeps blue on screen.
    let broken_at = Timestamp::now().as_millisecond();
    save(
        &shop,
        "version: 1\nname: shop\nitems:\n  - image: { file: red.png, durration: 1h }\n",
    );
    let after_typo = || -> Vec<(i64, Seen)> {
        seen_frames(&frames)
            .into_iter()
            .filter(|(millis, _)| *millis > broken_at)
            .collect()
    };
    wait_for("ten frames after the typo", Duration::from_secs(30), || {
        after_typo().len() >= 10
    })
    .unwrap();
    let after_typo = after_typo();
    assert!(
        after_typo.iter().all(|(_, seen)| *seen == Seen::Blue),
        "the last good playlist stays: {after_typo:?}"
    );

    // The fix is picked up: the watch survived the broken save.
    let fixed_at = Timestamp::now().as_millisecond();
    save(&shop, &only("red"));
    wait_for("red after the fix", Duration::from_secs(30), || {
        shown_since(&frames, fixed_at, Seen::Red) >= 3
    })
    .unwrap();
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());

    // Every item that was on screen is journalled, as with a scheduler: red, blue, then red
    // again, each once, the last cut short at shutdown, and each covering every frame of its
    // colour while it was on.
    let screens = ids_in(
        &data.join("player.sqlite3"),
        "SELECT json_extract(body, '$.screen') FROM journal",
    )
    .unwrap();
    assert!(
        screens.iter().all(|screen| screen == "standalone"),
        "{screens:?}"
    );
    let colour_of_media = [
        (sha256_of_file(&shop.join("red.png")).unwrap(), Seen::Red),
        (sha256_of_file(&shop.join("blue.png")).unwrap(), Seen::Blue),
    ];
    let plays = journalled_plays(&data).unwrap();
    let colours: Vec<Seen> = plays
        .iter()
        .map(|play| {
            colour_of_media
                .iter()
                .find(|(sha256, _)| play.media_sha256.as_deref() == Some(sha256))
                .map_or(Seen::Other([0; 3]), |(_, colour)| *colour)
        })
        .collect();
    assert_eq!(
        colours,
        [Seen::Red, Seen::Blue, Seen::Red],
        "one play per item on screen: {plays:#?}"
    );
    // A frame's instant and its play's first frame may differ by a few ms.
    const SLACK_MS: i64 = 100;
    for (millis, seen) in seen_frames(&frames) {
        if seen == Seen::Splash {
            continue;
        }
        let covered = plays.iter().zip(&colours).any(|(play, colour)| {
            *colour == seen
                && play.started_at - SLACK_MS <= millis
                && millis <= play.ended_at + SLACK_MS
        });
        assert!(
            covered,
            "the frame at {millis} shows {seen:?}, which no play covers: {plays:#?}"
        );
    }
}

/// The texts a new employee tries first, on small screens: "Open until 19:00" at the default size
/// is set smaller so that all of it shows (and the player says so), Japanese and an emoji draw
/// in their own glyphs, and no frame has a letter cut at its edge.
#[test]
fn first_texts_show_whole_in_every_script_on_small_screens() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let shop = root.join("shop");
    std::fs::create_dir_all(&shop).unwrap();
    std::fs::write(
        shop.join("playlist.yaml"),
        "version: 1\nname: texts\nitems:\n  \
         - text: { id: hours, text: \"Open until 19:00\", duration: 1s }\n  \
         - text: { id: japanese, text: \"営業時間 10:00–20:00\", duration: 1s }\n  \
         - text: { id: noel, text: \"Noël 🎄\", duration: 1s }\n",
    )
    .unwrap();
    for (width, height) in [(960, 540), (640, 360)] {
        let frames_dir = root.join(format!("frames-{width}"));
        let output = std::process::Command::new(binary("vitrine-player"))
            .arg("--headless")
            .args(["--size", &format!("{width}x{height}"), "--fps", "10"])
            .arg("--data-dir")
            .arg(root.join(format!("player-{width}")))
            .arg("--frames-dir")
            .arg(&frames_dir)
            .args(["--frame-interval", "100ms", "--run-for", "8s"])
            .arg("--playlist")
            .arg(&shop)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .env("XDG_RUNTIME_DIR", runtime_dir(root).unwrap())
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{log}");
        assert!(
            log.contains(&format!("text item `hours` shrunk from {} px", height / 2)),
            "{width}×{height}: the shrink is not told:\n{log}"
        );
        assert!(!log.contains("no font has"), "{width}×{height}:\n{log}");
        let written = frames(&frames_dir);
        assert!(written.len() >= 20, "{} frames", written.len());
        let mut lit_frames = 0;
        for (_, path) in written {
            let frame = image::open(&path).unwrap().to_rgba8();
            let lit = |x: u32, y: u32| {
                let pixel = frame.get_pixel(x, y).0;
                pixel[0] > 160 && pixel[1] > 160 && pixel[2] > 160
            };
            let edge = (0..width).any(|x| lit(x, 0) || lit(x, height - 1))
                || (0..height).any(|y| lit(0, y) || lit(width - 1, y));
            assert!(
                !edge,
                "{}: a letter touches the screen's edge",
                path.display()
            );
            if (0..width)
                .step_by(2)
                .any(|x| (0..height).step_by(2).any(|y| lit(x, y)))
            {
                lit_frames += 1;
            }
        }
        assert!(lit_frames >= 10, "only {lit_frames} frames show text");
    }
}
