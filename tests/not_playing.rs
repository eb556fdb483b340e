//! A screen with nothing to play says why, on screen: a real scheduler and real headless players
//! with no cached content and a wrong token, a revoked one, a playlist that was never pushed, no
//! scheduler at all on the port they were given, or a scheduler whose TLS certificate they do not
//! trust. Each shows the not-playing page (its amber fills the frames) saying the problem in the
//! words the log repeats; HQ hears of a missing playlist in the heartbeat too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use vitrine_e2e::{
    Process, Scheduler, Seen, binary, runtime_dir, seen_frames, wait_for, write_red_blue_playlist,
};

/// A headless player of `server` with `token` and no cache, named `door` in its config; returns it
/// with its frames folder and its log.
fn start_player(root: &Path, server: &str, token: &str) -> (Process, PathBuf, PathBuf) {
    let frames_dir = root.join("frames");
    let log_path = root.join("player.log");
    let config = root.join("player.toml");
    std::fs::write(&config, "screen = \"door\"\n").unwrap();
    let mut command = Command::new(binary("vitrine-player"));
    command
        .arg("--config")
        .arg(&config)
        .args(["--headless", "--size", "160x90", "--fps", "20"])
        .arg("--data-dir")
        .arg(root.join("player"))
        .arg("--frames-dir")
        .arg(&frames_dir)
        .args(["--frame-interval", "100ms", "--poll-interval", "200ms"])
        .args(["--heartbeat-interval", "500ms"])
        .args(["--server", server, "--token", token])
        .env("XDG_RUNTIME_DIR", runtime_dir(root).unwrap())
        .env_remove("VITRINE_SERVER_KEY")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    let player = Process::spawn("vitrine-player", &mut command).unwrap();
    (player, frames_dir, log_path)
}

/// Waits until the screen shows the not-playing page and the player logs that it says `words`,
/// then checks that the page stays: every frame after the first one of it is the page, and only
/// the splash came before it.
fn assert_the_screen_says(frames_dir: &Path, log_path: &Path, words: &str) {
    let log = || std::fs::read_to_string(log_path).unwrap_or_default();
    let first_page = || {
        seen_frames(frames_dir)
            .iter()
            .position(|(_, seen)| *seen == Seen::NotPlaying)
    };
    wait_for("the not-playing page", Duration::from_secs(90), || {
        first_page().is_some()
    })
    .unwrap_or_else(|error| panic!("{error:#}\nlog:\n{}", log()));
    wait_for(
        &format!("the player to log that the screen says `{words}`"),
        Duration::from_secs(30),
        || log().contains(&format!("the screen says: {words}")),
    )
    .unwrap_or_else(|error| panic!("{error:#}\nlog:\n{}", log()));
    let first = first_page().unwrap();
    wait_for("more frames of the page", Duration::from_secs(30), || {
        seen_frames(frames_dir).len() > first + 10
    })
    .unwrap();
    let seen = seen_frames(frames_dir);
    assert!(
        seen[first..]
            .iter()
            .all(|(_, seen)| *seen == Seen::NotPlaying),
        "the page stays while the problem does: {:?}",
        &seen[first..]
    );
    assert!(
        seen[..first].iter().all(|(_, seen)| *seen == Seen::Splash),
        "only the splash before it, never black: {:?}",
        &seen[..first]
    );
}

#[test]
fn a_token_the_scheduler_does_not_know_is_said_on_screen() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let scheduler = Scheduler::start(&root.join("hq")).unwrap();
    let (mut player, frames_dir, log_path) = start_player(root, &scheduler.url, "not-a-token");
    assert_the_screen_says(
        &frames_dir,
        &log_path,
        "This screen's token was refused by the server",
    );
    player.terminate(Duration::from_secs(30)).unwrap();
}

#[test]
fn a_revoked_token_is_said_on_screen() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let scheduler = Scheduler::start(&root.join("hq")).unwrap();
    let playlist = write_red_blue_playlist(&root.join("content")).unwrap();
    let token = scheduler
        .push_and_add_screen(&playlist, "door", "e2e")
        .unwrap();
    scheduler.cli(&["screens", "revoke", "door"]).unwrap();
    let (mut player, frames_dir, log_path) = start_player(root, &scheduler.url, &token);
    assert_the_screen_says(
        &frames_dir,
        &log_path,
        "This screen's token was revoked at HQ",
    );
    player.terminate(Duration::from_secs(30)).unwrap();
}

#[test]
fn a_playlist_never_pushed_is_said_on_screen_and_in_the_heartbeat() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let scheduler = Scheduler::start(&root.join("hq")).unwrap();
    let token = scheduler
        .cli(&[
            "screens",
            "add",
            "door",
            "--playlist",
            "never-pushed",
            "--not-pushed-yet",
        ])
        .unwrap()
        .trim()
        .to_owned();
    let (mut player, frames_dir, log_path) = start_player(root, &scheduler.url, &token);
    let words = "No playlist is assigned to this screen, or it has not been pushed yet";
    assert_the_screen_says(&frames_dir, &log_path, words);
    wait_for(
        "the problem in HQ's status",
        Duration::from_secs(30),
        || {
            scheduler
                .cli(&["screens", "status", "door"])
                .is_ok_and(|status| status.contains(&format!("NOT SYNCING: {words}")))
        },
    )
    .unwrap();
    player.terminate(Duration::from_secs(30)).unwrap();
}

#[test]
fn a_port_nothing_listens_on_is_said_on_screen_as_connection_refused() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    // A port that was free a moment ago: nothing listens on it now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("http://127.0.0.1:{port}");
    let (mut player, frames_dir, log_path) = start_player(root, &server, "a-token");
    assert_the_screen_says(
        &frames_dir,
        &log_path,
        &format!("Cannot reach 127.0.0.1:{port}: connection refused"),
    );
    player.terminate(Duration::from_secs(30)).unwrap();
}

#[test]
fn a_certificate_the_player_does_not_trust_is_said_on_screen() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    // The scheduler serves TLS with a certificate of its own making; the player is not given it.
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert_path = root.join("cert.pem");
    let key_path = root.join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    let mut scheduler = Process::spawn(
        "vitrine-scheduler",
        Command::new(binary("vitrine-scheduler"))
            .args(["--listen", "127.0.0.1:0", "--admin-token", "admin"])
            .arg("--data-dir")
            .arg(root.join("hq"))
            .arg("--tls-cert")
            .arg(&cert_path)
            .arg("--tls-key")
            .arg(&key_path)
            .stdout(Stdio::piped()),
    )
    .unwrap();
    let stdout = scheduler.child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let line = lines.next().unwrap().unwrap();
    std::thread::spawn(move || for _ in lines {});
    let url = line
        .strip_prefix("vitrine-scheduler listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line}"))
        .to_owned();
    let address = url.strip_prefix("https://").unwrap().to_owned();

    let (mut player, frames_dir, log_path) = start_player(root, &url, "a-token");
    assert_the_screen_says(
        &frames_dir,
        &log_path,
        &format!("Cannot reach {address}: TLS certificate not trusted"),
    );
    player.terminate(Duration::from_secs(30)).unwrap();
}
