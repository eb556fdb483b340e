//! HTTPS end to end with a private CA: a certificate made at test time, the real scheduler serving
//! TLS itself (`--tls-cert`, `--tls-key`), the real CLI pushing and registering a screen with
//! `--ca-cert`, and a real headless player syncing, playing and reporting over https with `ca_cert`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use vitrine_e2e::{
    Process, Seen, binary, hq_database, hq_rows, runtime_dir, seen_frames, wait_for,
    write_red_blue_playlist,
};

#[test]
fn a_player_syncs_and_reports_over_https_with_a_private_ca() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert_path = root.join("cert.pem");
    let key_path = root.join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();

    let admin = "tls-e2e-admin-token";
    let hq_data = root.join("hq");
    let mut command = Command::new(binary("vitrine-scheduler"));
    command
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin-token",
            admin,
            "--data-dir",
        ])
        .arg(&hq_data)
        .arg("--tls-cert")
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&key_path)
        .stdout(Stdio::piped());
    if let Some(url) = hq_database(&hq_data).unwrap() {
        command.args(["--database", &url]);
    }
    let mut scheduler = Process::spawn("vitrine-scheduler", &mut command).unwrap();
    let stdout = scheduler.child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next().unwrap().unwrap();
    std::thread::spawn(move || for _ in lines {});
    let url = line
        .strip_prefix("vitrine-scheduler listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line}"))
        .to_owned();
    assert!(url.starts_with("https://"), "{url}");

    let cli = |arguments: &[&str]| {
        Command::new(binary("vitrine"))
            .args(arguments)
            .args(["--server", &url, "--token", admin])
            .arg("--ca-cert")
            .arg(&cert_path)
            .output()
            .unwrap()
    };
    let playlist = write_red_blue_playlist(&root.join("content")).unwrap();
    let pushed = cli(&["push", playlist.to_str().unwrap()]);
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let added = cli(&["screens", "add", "tls-screen", "--playlist", "e2e"]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let token = String::from_utf8(added.stdout).unwrap().trim().to_owned();
    // The key line `screens add` prints goes into the player's config, with the CA.
    let stderr = String::from_utf8(added.stderr).unwrap();
    let key_line = stderr
        .lines()
        .find(|line| line.starts_with("server_key = "))
        .unwrap_or_else(|| panic!("no server_key line in: {stderr}"));
    // And the screen's name, so the player takes only this screen's manifests and messages.
    let screen_line = stderr
        .lines()
        .find(|line| line.starts_with("screen = "))
        .unwrap_or_else(|| panic!("no screen line in: {stderr}"));
    assert_eq!(screen_line, "screen = \"tls-screen\"");
    let config = root.join("player.toml");
    std::fs::write(
        &config,
        format!(
            "{key_line}\n{screen_line}\nca_cert = \"{}\"\n",
            cert_path.display()
        ),
    )
    .unwrap();

    // Without the CA the CLI refuses the server's certificate.
    let untrusted = Command::new(binary("vitrine"))
        .args(["screens", "list", "--server", &url, "--token", admin])
        .output()
        .unwrap();
    assert!(!untrusted.status.success());

    let frames_dir = root.join("frames");
    let player_data = root.join("player");
    let mut player =
        start_player_with_config(&url, &token, &config, &player_data, &frames_dir, root);
    wait_for("red and blue over https", Duration::from_secs(60), || {
        let seen = seen_frames(&frames_dir);
        seen.iter().any(|(_, seen)| *seen == Seen::Red)
            && seen.iter().any(|(_, seen)| *seen == Seen::Blue)
    })
    .unwrap();
    wait_for("plays reported over https", Duration::from_secs(30), || {
        hq_rows(&hq_data, "SELECT id FROM impressions").is_ok_and(|ids| !ids.is_empty())
    })
    .unwrap();
    player.terminate(Duration::from_secs(30)).unwrap();
}

/// A headless player with a config file (for `server_key` and `ca_cert`) on top of the flags.
fn start_player_with_config(
    url: &str,
    token: &str,
    config: &std::path::Path,
    data_dir: &std::path::Path,
    frames_dir: &std::path::Path,
    scratch: &std::path::Path,
) -> Process {
    let mut command = Command::new(binary("vitrine-player"));
    command
        .arg("--config")
        .arg(config)
        .args(["--headless", "--size", "160x90", "--fps", "20"])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--frames-dir")
        .arg(frames_dir)
        .args(["--frame-interval", "100ms", "--poll-interval", "200ms"])
        .args(["--upload-interval", "500ms"])
        .args(["--server", url, "--token", token])
        .env("XDG_RUNTIME_DIR", runtime_dir(scratch).unwrap());
    Process::spawn("vitrine-player", &mut command).unwrap()
}
