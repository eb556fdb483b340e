//! The cache under a disk budget on a small filesystem: the player's data folder is an 8 MiB tmpfs
//! and its `[cache] disk_budget` is 4 MB, while the media of successive playlist versions add up
//! to far more. Eviction takes the least recently used file no manifest needs, the playing
//! manifest's media stays, the cache verifies, the screen never goes black, and a version that can
//! never fit is refused with an alert HQ sees while the current one plays on. Real scheduler, real
//! CLI, real headless player, a real mount.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vitrine_core::Sha256Hex;
use vitrine_e2e::{
    PlayerExtras, PlayerOptions, Scheduler, Seen, Source, assert_cache_verifies, seen_frames,
    start_player_with, wait_for,
};

const YELLOW: Seen = Seen::Other([255, 255, 0]);

/// A tmpfs mounted for the test's life. Mounting needs root, which the test machines and CI give;
/// when it is refused the test fails with the reason rather than quietly testing nothing.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("cannot run mount");
        assert!(
            output.status.success(),
            "mounting a {size} tmpfs at {} failed (this test needs root): {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        Self {
            path: path.to_owned(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// A PNG whose top half is `rgb` (what the frame classifier reads) and whose bottom half is noise
/// that does not compress, so the file weighs about `width * rows * 3` bytes.
fn write_heavy_png(path: &Path, rgb: [u8; 3], noise_rows: u32, seed: u32) -> u64 {
    let width = 1000;
    let solid_rows = 300;
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let image = image::RgbImage::from_fn(width, solid_rows + noise_rows, |_, y| {
        if y < solid_rows {
            image::Rgb(rgb)
        } else {
            // xorshift: cheap bytes no compressor can shrink.
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let [a, b, c, _] = state.to_le_bytes();
            image::Rgb([a, b, c])
        }
    });
    image
        .save_with_format(path, image::ImageFormat::Png)
        .unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn write_playlist(content: &Path, files: &[&str]) -> PathBuf {
    let mut yaml = String::from("version: 1\nname: e2e\nitems:\n");
    for file in files {
        yaml.push_str(&format!("  - image: {{ file: {file}, duration: 1s }}\n"));
    }
    let path = content.join("e2e.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn digest_of(path: &Path) -> Sha256Hex {
    Sha256Hex::of_bytes(&std::fs::read(path).unwrap())
}

#[test]
fn the_cache_stays_within_its_budget_on_a_small_disk_and_the_screen_never_goes_black() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let content = root.join("content");
    std::fs::create_dir_all(&content).unwrap();
    let mut sizes = 0;
    for (name, rgb, seed) in [
        ("red.png", [255, 0, 0], 1),
        ("blue.png", [0, 0, 255], 2),
        ("green.png", [0, 255, 0], 3),
        ("yellow.png", [255, 255, 0], 4),
    ] {
        sizes += write_heavy_png(&content.join(name), rgb, 300, seed);
    }
    // Too big for the budget next to what plays: 3.7 MB of noise.
    write_heavy_png(&content.join("huge.png"), [0, 255, 0], 900, 5);
    assert!(sizes > 4_000_000, "the media outgrow the budget: {sizes}");

    let player_data = root.join("player");
    let _tmpfs = Tmpfs::mount(&player_data, "8m");
    let config = root.join("player.toml");
    std::fs::write(&config, "[cache]\ndisk_budget = 4000000\n").unwrap();

    let mut scheduler = Scheduler::start(&root.join("hq")).unwrap();
    let token = scheduler
        .push_and_add_screen(
            &write_playlist(&content, &["red.png", "blue.png"]),
            "store-1",
            "e2e",
        )
        .unwrap();
    let frames = root.join("frames");
    let mut player = start_player_with(
        Source::Scheduler {
            url: &scheduler.url,
            token: &token,
        },
        &player_data,
        &frames,
        root,
        &PlayerOptions::default(),
        &PlayerExtras {
            config: Some(config),
            env: Vec::new(),
        },
    )
    .unwrap();
    let shows = |colour: Seen| {
        seen_frames(&frames)
            .iter()
            .rev()
            .take(30)
            .any(|(_, seen)| *seen == colour)
    };
    wait_for("version 1 on screen", Duration::from_secs(60), || {
        shows(Seen::Red)
    })
    .unwrap();

    // Version 2 adds green: 3.7 MB in all, within the budget.
    scheduler
        .cli(&[
            "push",
            write_playlist(&content, &["green.png", "blue.png"])
                .to_str()
                .unwrap(),
        ])
        .unwrap();
    wait_for("version 2 on screen", Duration::from_secs(60), || {
        shows(Seen::Green)
    })
    .unwrap();

    // Version 3 adds yellow: only room if something goes. Red, used longest ago and needed by
    // neither the playing version nor the new one, is evicted; blue and green stay.
    scheduler
        .cli(&[
            "push",
            write_playlist(&content, &["yellow.png", "blue.png"])
                .to_str()
                .unwrap(),
        ])
        .unwrap();
    wait_for("version 3 on screen", Duration::from_secs(60), || {
        shows(YELLOW)
    })
    .unwrap();
    let media = player_data.join("media");
    assert!(
        !media
            .join(digest_of(&content.join("red.png")).as_str())
            .exists(),
        "red was evicted"
    );
    for kept in ["blue.png", "green.png", "yellow.png"] {
        assert!(
            media.join(digest_of(&content.join(kept)).as_str()).exists(),
            "{kept} stays"
        );
    }
    let cached: u64 = std::fs::read_dir(&media)
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .sum();
    assert!(cached <= 4_000_000, "the cache holds {cached} bytes");

    // Version 4 can never fit next to what plays: refused with an alert HQ sees, and version 3
    // plays on.
    scheduler
        .cli(&[
            "push",
            write_playlist(&content, &["huge.png"]).to_str().unwrap(),
        ])
        .unwrap();
    wait_for("the budget alert at HQ", Duration::from_secs(60), || {
        scheduler
            .cli(&["screens", "status", "store-1"])
            .is_ok_and(|status| status.contains("ALERT") && status.contains("disk_budget"))
    })
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let recent: Vec<Seen> = seen_frames(&frames)
        .iter()
        .rev()
        .take(20)
        .map(|(_, seen)| *seen)
        .collect();
    assert!(
        recent
            .iter()
            .all(|seen| *seen == YELLOW || *seen == Seen::Blue),
        "version 3 plays on: {recent:?}"
    );
    assert!(
        !media
            .join(digest_of(&content.join("huge.png")).as_str())
            .exists()
    );

    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
    scheduler
        .process
        .terminate(Duration::from_secs(30))
        .unwrap();
    assert_cache_verifies(&player_data);
    let all = seen_frames(&frames);
    assert!(all.len() > 30, "{} frames", all.len());
    assert!(
        all.iter().all(|(_, seen)| *seen != Seen::Black),
        "never a black frame"
    );
}
