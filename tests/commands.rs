//! Remote commands end to end: a real scheduler, the real CLI and a real headless player on
//! loopback, the player showing one known still picture. `vitrine screens screenshot` gets a JPEG
//! of what the screen shows (scaled to 960 wide) that matches the player's own frame;
//! `vitrine screens identify` covers the screen with its name for ten seconds, then the picture is
//! back; `vitrine screens restart` restarts the player process, which plays on and journals new
//! plays. Each wait is for the event, with a generous bound; none asserts how fast.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use vitrine_e2e::{PlayerOptions, Scheduler, Source, frames, hq_rows, start_player, wait_for};

/// How long each wait may take: generous for two busy cores running a software GPU.
const WAIT: Duration = Duration::from_secs(90);

/// The screen's physical size: wider than a screenshot, so the player has to scale it.
const SCREEN: (u32, u32) = (1280, 720);

/// A picture with structure everywhere (gradients and blocks), so that a screenshot of the wrong
/// frame, of the wrong size or squashed does not match it.
fn write_picture(path: &Path) {
    image::RgbImage::from_fn(320, 180, |x, y| {
        let block = ((x / 40) + (y / 45)) % 2 == 0;
        image::Rgb([
            (x * 255 / 319) as u8,
            (y * 255 / 179) as u8,
            if block { 220 } else { 40 },
        ])
    })
    .save_with_format(path, image::ImageFormat::Png)
    .unwrap();
}

/// The mean absolute difference per channel between two pictures of the same size.
fn mean_difference(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}

/// The share of pixels that differ from `reference` by more than 48 in some channel.
fn share_changed(frame: &image::RgbImage, reference: &image::RgbImage) -> f64 {
    let changed = frame
        .pixels()
        .zip(reference.pixels())
        .filter(|(a, b)| (0..3).any(|channel| a[channel].abs_diff(b[channel]) > 48))
        .count();
    changed as f64 / f64::from(frame.width() * frame.height())
}

/// Frames written after `since` (Unix milliseconds), decoded.
fn frames_after(directory: &Path, since: i64) -> Vec<(i64, image::RgbImage)> {
    frames(directory)
        .into_iter()
        .filter(|(millis, _)| *millis > since)
        .filter_map(|(millis, path)| Some((millis, image::open(&path).ok()?.to_rgb8())))
        .collect()
}

/// Whether `frame` is the identify page: its teal, in the corner where the name never reaches.
fn shows_identify_page(frame: &image::RgbImage) -> bool {
    let corner = frame.get_pixel(4, 4).0;
    corner[0] < 30 && (80..=110).contains(&corner[1]) && (80..=110).contains(&corner[2])
}

fn uptime_s(scheduler: &Scheduler) -> Option<u64> {
    let status: serde_json::Value = serde_json::from_str(
        &scheduler
            .cli(&["screens", "status", "shot-screen", "--json"])
            .ok()?,
    )
    .ok()?;
    status["heartbeat"]["uptime_s"].as_u64()
}

fn plays_at_hq(hq: &Path) -> usize {
    hq_rows(
        hq,
        "SELECT id FROM impressions WHERE screen = 'shot-screen'",
    )
    .map(|rows| rows.len())
    .unwrap_or(0)
}

#[test]
fn screenshot_identify_and_restart_act_on_a_real_player() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let content = root.join("content");
    std::fs::create_dir_all(&content).unwrap();
    write_picture(&content.join("still.png"));
    let playlist = content.join("still.yaml");
    // Two-second turns of the same picture: the screen never changes, the plays go on.
    std::fs::write(
        &playlist,
        "version: 1\nname: still\nitems:\n  - image: { file: still.png, duration: 2s }\n",
    )
    .unwrap();

    let hq = root.join("hq");
    let scheduler = Scheduler::start(&hq).unwrap();
    scheduler
        .cli(&["push", playlist.to_str().unwrap()])
        .unwrap();
    let token = scheduler
        .cli(&["screens", "add", "shot-screen", "--playlist", "still"])
        .unwrap()
        .trim()
        .to_owned();
    // Nothing before the first screenshot, and the refusal says what to do.
    let error = scheduler
        .cli(&[
            "screens",
            "screenshot",
            "no-such-screen",
            "--out",
            root.join("none.jpg").to_str().unwrap(),
        ])
        .expect_err("an unknown screen");
    assert!(format!("{error:#}").contains("no-such-screen"), "{error:#}");

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
            size: SCREEN,
            fps: 10,
            frame_interval: "500ms",
            poll_interval: "1h",
        },
    )
    .unwrap();

    // The picture on screen: frames whose colours follow its gradient.
    let picture = image::open(content.join("still.png")).unwrap().to_rgb8();
    let expected = image::imageops::resize(
        &picture,
        SCREEN.0,
        SCREEN.1,
        image::imageops::FilterType::Triangle,
    );
    let on_screen = |frame: &image::RgbImage| mean_difference(frame, &expected) < 12.0;
    wait_for("the picture on screen", WAIT, || {
        frames_after(&frames_dir, 0)
            .iter()
            .any(|(_, frame)| on_screen(frame))
    })
    .unwrap();

    // Screenshot: the CLI sends the command and waits for a JPEG newer than its request.
    let shot = root.join("shot.jpg");
    let said = scheduler
        .cli(&[
            "screens",
            "screenshot",
            "shot-screen",
            "--out",
            shot.to_str().unwrap(),
            "--timeout",
            "90s",
        ])
        .unwrap();
    assert!(said.is_empty(), "what the CLI says goes to stderr: {said}");
    let jpeg = std::fs::read(&shot).unwrap();
    assert_eq!(
        image::guess_format(&jpeg).unwrap(),
        image::ImageFormat::Jpeg
    );
    let screenshot = image::load_from_memory(&jpeg).unwrap().to_rgb8();
    assert!(screenshot.width() <= 960, "{:?}", screenshot.dimensions());
    assert_eq!(screenshot.dimensions(), (960, 540), "16:9 kept");
    // The player's own frame, scaled the same way, is what the screenshot shows.
    let (_, own_frame) = frames_after(&frames_dir, 0)
        .into_iter()
        .rev()
        .find(|(_, frame)| on_screen(frame))
        .expect("a frame of the picture");
    let own_scaled =
        image::imageops::resize(&own_frame, 960, 540, image::imageops::FilterType::Triangle);
    let difference = mean_difference(&screenshot, &own_scaled);
    assert!(
        difference < 6.0,
        "the screenshot differs from the player's frame by {difference:.2} on average"
    );

    // Identify: the name covers the screen, then the picture is back.
    let identifying_at = Timestamp::now().as_millisecond();
    scheduler
        .cli(&["screens", "identify", "shot-screen"])
        .unwrap();
    wait_for("the screen's name over the picture", WAIT, || {
        frames_after(&frames_dir, identifying_at)
            .iter()
            .any(|(_, frame)| share_changed(frame, &expected) > 0.8)
    })
    .unwrap();
    let covered = frames_after(&frames_dir, identifying_at)
        .into_iter()
        .find(|(_, frame)| share_changed(frame, &expected) > 0.8)
        .unwrap();
    assert!(
        shows_identify_page(&covered.1),
        "{:?}",
        covered.1.get_pixel(4, 4)
    );
    wait_for("the picture back after the name", WAIT, || {
        frames_after(&frames_dir, covered.0)
            .iter()
            .any(|(_, frame)| on_screen(frame))
    })
    .unwrap();

    // Restart: the process starts again (its uptime starts from zero) and plays on.
    wait_for("a heartbeat with an uptime", WAIT, || {
        uptime_s(&scheduler).is_some_and(|uptime| uptime >= 3)
    })
    .unwrap();
    let plays_before = plays_at_hq(&hq);
    let restarting_at = Timestamp::now().as_millisecond();
    let before = uptime_s(&scheduler).unwrap();
    scheduler
        .cli(&["screens", "restart", "shot-screen"])
        .unwrap();
    wait_for("a heartbeat from the restarted player", WAIT, || {
        uptime_s(&scheduler).is_some_and(|uptime| uptime < before)
    })
    .unwrap();
    assert!(
        player.child.try_wait().unwrap().is_none(),
        "the player restarted in place: the same process, still running"
    );
    wait_for("the picture on screen after the restart", WAIT, || {
        frames_after(&frames_dir, restarting_at)
            .iter()
            .any(|(_, frame)| on_screen(frame))
    })
    .unwrap();
    // Once: the command, replayed to the new process as still in force, is not carried out again.
    wait_for("the restarted player to stay up", WAIT, || {
        uptime_s(&scheduler).is_some_and(|uptime| uptime >= 8)
    })
    .unwrap();
    wait_for("new plays journalled at HQ after the restart", WAIT, || {
        plays_at_hq(&hq) >= plays_before + 2
    })
    .unwrap();
    // The commands still in force that the scheduler replays to the new process were carried out
    // already: it does not show its name again.
    assert!(
        !frames_after(&frames_dir, restarting_at)
            .iter()
            .any(|(_, frame)| shows_identify_page(frame)),
        "the restarted player showed its name again"
    );

    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
}
