//! Pairing end to end: a real headless player configured with only the scheduler's address shows a
//! pairing code full screen; the store's staff confirm it with the real CLI (`vitrine screens pair
//! CODE --store S` with a token from `vitrine staff add`, giving it the playlist they pushed); the
//! player picks up its token and the manifest key, keeps them owner-only, and plays the store's
//! playlist. Revoked at HQ, it keeps playing its cache and says it needs pairing again. A player
//! pinned to another key refuses every manifest and never plays what it cannot verify.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use vitrine_e2e::{
    Process, Scheduler, Seen, binary, runtime_dir, seen_frames, wait_for, write_red_blue_playlist,
};

const STORES: &str = "code,name,region,tags,timezone,locale,currency
store-7,Store Seven,west,,Europe/Paris,fr-FR,EUR
";

#[test]
fn a_player_pairs_from_the_code_it_shows_and_plays_its_stores_playlist() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let scheduler = Scheduler::start(&root.join("hq")).unwrap();
    let stores = root.join("stores.csv");
    std::fs::write(&stores, STORES).unwrap();
    scheduler
        .cli(&["stores", "import", stores.to_str().unwrap()])
        .unwrap();
    // The store's staff push the store's playlist: it is theirs to give their screens.
    let staff_token = scheduler
        .cli(&["staff", "add", "sam", "--store", "store-7"])
        .unwrap()
        .trim()
        .to_owned();
    let playlist = write_red_blue_playlist(&root.join("content")).unwrap();
    let pushed = Command::new(binary("vitrine"))
        .arg("push")
        .arg(&playlist)
        .args(["--server", &scheduler.url, "--token", &staff_token])
        .output()
        .unwrap();
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );

    // Only the server: no token, no key.
    let player_data = root.join("player");
    let frames_dir = root.join("frames");
    let log_path = root.join("player.log");
    let mut command = Command::new(binary("vitrine-player"));
    command
        .args(["--headless", "--size", "160x90", "--fps", "20"])
        .arg("--data-dir")
        .arg(&player_data)
        .arg("--frames-dir")
        .arg(&frames_dir)
        .args(["--frame-interval", "100ms", "--poll-interval", "200ms"])
        .args(["--server", &scheduler.url])
        .env("XDG_RUNTIME_DIR", runtime_dir(root).unwrap())
        .env_remove("VITRINE_TOKEN")
        .env_remove("VITRINE_SERVER_KEY")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap());
    let mut player = Process::spawn("vitrine-player", &mut command).unwrap();

    // The code appears on stdout (for installers' scripts) and on screen.
    let stdout = player.child.stdout.take().unwrap();
    let (codes, code_lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("vitrine-player: pair this screen with code ") {
                let code: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                let _ = codes.send(code);
            }
        }
    });
    let code = code_lines
        .recv_timeout(Duration::from_secs(60))
        .expect("the player shows a pairing code");
    assert_eq!(code.len(), 6, "{code}");
    wait_for(
        "the pairing code on screen",
        Duration::from_secs(30),
        || {
            seen_frames(&frames_dir)
                .iter()
                .any(|(_, seen)| *seen == Seen::Pairing)
        },
    )
    .unwrap();
    assert!(
        !seen_frames(&frames_dir)
            .iter()
            .any(|(_, seen)| matches!(seen, Seen::Red | Seen::Blue)),
        "nothing plays before pairing"
    );

    // The store's staff pair it; a stranger may not.
    let pair_as = |token: &str| {
        Command::new(binary("vitrine"))
            .args([
                "screens",
                "pair",
                &code.to_lowercase(),
                "--store",
                "store-7",
            ])
            .args(["--name", "store-7-door", "--playlist", "e2e"])
            .args(["--server", &scheduler.url, "--token", token])
            .output()
            .unwrap()
    };
    let stranger = pair_as("not-a-token");
    assert!(!stranger.status.success());
    assert!(
        String::from_utf8_lossy(&stranger.stderr).contains("HTTP 401"),
        "{}",
        String::from_utf8_lossy(&stranger.stderr)
    );
    let paired = pair_as(&staff_token);
    assert!(
        paired.status.success(),
        "{}",
        String::from_utf8_lossy(&paired.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&paired.stdout).trim(),
        "store-7-door"
    );

    wait_for(
        "the paired player to play red and blue",
        Duration::from_secs(60),
        || {
            let seen = seen_frames(&frames_dir);
            seen.iter().any(|(_, seen)| *seen == Seen::Red)
                && seen.iter().any(|(_, seen)| *seen == Seen::Blue)
        },
    )
    .unwrap();

    // The token is kept owner-only with the scheduler's key, and the database knows the screen in
    // its store.
    let credentials_path = player_data.join("credentials.toml");
    let credentials = std::fs::read_to_string(&credentials_path).unwrap();
    assert!(
        credentials.contains("screen = \"store-7-door\""),
        "{credentials}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&credentials_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let listed = scheduler.cli(&["screens", "list", "--json"]).unwrap();
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let screen = listed["screens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|screen| screen["name"] == "store-7-door")
        .expect("registered")
        .clone();
    assert_eq!(screen["store"], "store-7");

    // Revoked: the screen keeps playing what it has and says why it stopped syncing.
    scheduler
        .cli(&["screens", "revoke", "store-7-door"])
        .unwrap();
    wait_for(
        "the player to report its revocation",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&log_path)
                .is_ok_and(|log| log.contains("HQ revoked this screen's token"))
        },
    )
    .unwrap();
    let before = seen_frames(&frames_dir).len();
    wait_for(
        "more frames of content after the revocation",
        Duration::from_secs(30),
        || {
            let seen = seen_frames(&frames_dir);
            seen.len() > before + 20
                && seen[before..]
                    .iter()
                    .filter(|(_, seen)| matches!(seen, Seen::Red | Seen::Blue))
                    .count()
                    > 15
        },
    )
    .unwrap();
    assert!(
        !seen_frames(&frames_dir)
            .iter()
            .any(|(_, seen)| *seen == Seen::Black),
        "never a black frame"
    );
    player.terminate(Duration::from_secs(30)).unwrap();
}

#[test]
fn a_player_pinned_to_another_key_refuses_every_manifest() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let scheduler = Scheduler::start(&root.join("hq")).unwrap();
    let playlist = write_red_blue_playlist(&root.join("content")).unwrap();
    let token = scheduler
        .push_and_add_screen(&playlist, "pinned", "e2e")
        .unwrap();

    let frames_dir = root.join("frames");
    let log_path = root.join("player.log");
    // A well-formed key that is not the scheduler's: whatever answers is not trusted.
    let foreign_key = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    let mut command = Command::new(binary("vitrine-player"));
    command
        .args(["--headless", "--size", "160x90", "--fps", "20"])
        .arg("--data-dir")
        .arg(root.join("player"))
        .arg("--frames-dir")
        .arg(&frames_dir)
        .args(["--frame-interval", "100ms", "--poll-interval", "200ms"])
        .args(["--server", &scheduler.url, "--token", &token])
        .args(["--server-key", foreign_key])
        .args(["--heartbeat-interval", "500ms"])
        .env("XDG_RUNTIME_DIR", runtime_dir(root).unwrap())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    let mut player = Process::spawn("vitrine-player", &mut command).unwrap();
    wait_for(
        "the player to refuse the manifest",
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(&log_path)
                .is_ok_and(|log| log.contains("signature does not verify"))
        },
    )
    .unwrap();
    // HQ hears of it in the screen's heartbeat, which `vitrine screens status` shows.
    wait_for(
        "the refusal in HQ's status",
        Duration::from_secs(30),
        || {
            scheduler
                .cli(&["screens", "status", "pinned", "--json"])
                .is_ok_and(|status| status.contains("signature does not verify"))
        },
    )
    .unwrap();
    wait_for("frames", Duration::from_secs(30), || {
        seen_frames(&frames_dir).len() > 20
    })
    .unwrap();
    let seen = seen_frames(&frames_dir);
    assert!(
        seen.iter().all(|(_, seen)| *seen == Seen::Splash),
        "only the splash shows while nothing verifies: {:?}",
        seen.iter()
            .map(|(_, seen)| format!("{seen:?}"))
            .collect::<std::collections::BTreeSet<_>>()
    );
    player.terminate(Duration::from_secs(30)).unwrap();
}
