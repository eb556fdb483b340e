//! The systemd notify protocol as a service manager sees it: the real player binary, headless on
//! the GPU (lavapipe in CI), talks to a `NOTIFY_SOCKET` this test owns. It says READY once it
//! draws, pets the watchdog while its render loop turns, says what plays in STATUS, says STOPPING
//! when it stops, and stops petting once its render loop hangs (`--simulate-hang-after`). The
//! process that notifies is the one the manager started, though it executed itself again to add
//! glibc's malloc settings for long playback.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The watchdog interval the test's "systemd" asks for: the player pets every half of it.
const WATCHDOG: Duration = Duration::from_secs(2);

/// How long anything the test waits for may take on a busy machine.
const PATIENCE: Duration = Duration::from_secs(90);

/// One datagram from the player, when it arrived.
#[derive(Debug)]
struct Notice {
    at: Instant,
    text: String,
}

/// A fake service manager: the socket the player notifies and everything it said.
struct Manager {
    path: PathBuf,
    notices: mpsc::Receiver<Notice>,
    seen: Vec<Notice>,
}

impl Manager {
    fn bind(directory: &Path) -> Self {
        let path = directory.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        let (sender, notices) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 4096];
            while let Ok(length) = socket.recv(&mut buffer) {
                let text = String::from_utf8_lossy(&buffer[..length]).into_owned();
                // One datagram may carry several assignments, one per line.
                for line in text.lines() {
                    let notice = Notice {
                        at: Instant::now(),
                        text: line.to_owned(),
                    };
                    if sender.send(notice).is_err() {
                        return;
                    }
                }
            }
        });
        Self {
            path,
            notices,
            seen: Vec::new(),
        }
    }

    /// Takes in what arrived, waiting at most `wait` for the first of it.
    fn collect(&mut self, wait: Duration) {
        if let Ok(notice) = self.notices.recv_timeout(wait) {
            self.seen.push(notice);
        }
        while let Ok(notice) = self.notices.try_recv() {
            self.seen.push(notice);
        }
    }

    /// Waits until a notice matches `wanted`; returns its index in `seen`.
    fn wait_for(
        &mut self,
        what: &str,
        player: &mut Player,
        wanted: impl Fn(&str) -> bool,
    ) -> usize {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(index) = self.seen.iter().position(|notice| wanted(&notice.text)) {
                return index;
            }
            player.assert_running(&format!("waiting for {what}"), &self.seen);
            assert!(
                Instant::now() < deadline,
                "no {what} within {PATIENCE:?}; the player said {:?}\n{}",
                self.texts(),
                player.log()
            );
            self.collect(Duration::from_millis(200));
        }
    }

    /// Keeps listening for `duration`.
    fn listen_for(&mut self, duration: Duration) {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            self.collect(until.saturating_duration_since(Instant::now()));
        }
    }

    /// When each WATCHDOG=1 arrived.
    fn pets(&self) -> Vec<Instant> {
        self.seen
            .iter()
            .filter(|notice| notice.text == "WATCHDOG=1")
            .map(|notice| notice.at)
            .collect()
    }

    fn texts(&self) -> Vec<&str> {
        self.seen
            .iter()
            .map(|notice| notice.text.as_str())
            .collect()
    }
}

/// The real player, headless, playing a two-image standalone playlist, with its stdout and stderr
/// read line by line as they come.
struct Player {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    log: Vec<(Instant, String)>,
}

impl Player {
    fn start(
        root: &Path,
        manager: &Manager,
        arguments: &[&str],
        environment: &[(&str, &str)],
    ) -> Self {
        let shop = root.join("shop");
        std::fs::create_dir_all(&shop).unwrap();
        for (name, rgb) in [("red", [255, 0, 0]), ("blue", [0, 0, 255])] {
            image::RgbImage::from_pixel(64, 36, image::Rgb(rgb))
                .save(shop.join(format!("{name}.png")))
                .unwrap();
        }
        std::fs::write(
            shop.join("playlist.yaml"),
            "version: 1\nname: shop\nitems:\n  - image: { id: red, file: red.png, duration: 1s }\n  - image: { id: blue, file: blue.png, duration: 1s }\n",
        )
        .unwrap();
        let runtime = root.join("xdg-runtime");
        std::fs::create_dir_all(&runtime).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_vitrine-player"))
            .args([
                "--headless",
                "--size",
                "160x90",
                "--fps",
                "20",
                "--data-dir",
            ])
            .arg(root.join("data"))
            .arg("--playlist")
            .arg(&shop)
            .args(arguments)
            .env("NOTIFY_SOCKET", &manager.path)
            .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string())
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM")
            .env_remove("MALLOC_ARENA_MAX")
            .env_remove("MALLOC_MMAP_THRESHOLD_")
            .envs(environment.iter().copied())
            .env("XDG_RUNTIME_DIR", &runtime)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = sender.send((Instant::now(), line));
                }
            });
        }
        Self {
            child,
            lines,
            log: Vec::new(),
        }
    }

    fn read_log(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
    }

    fn log(&mut self) -> String {
        self.read_log();
        self.log
            .iter()
            .map(|(_, line)| line.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// When a log line containing `text` arrived, waiting for it.
    fn wait_for_line(&mut self, text: &str) -> Instant {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.read_log();
            if let Some((at, _)) = self.log.iter().find(|(_, line)| line.contains(text)) {
                return *at;
            }
            self.assert_running(&format!("waiting for `{text}` in its log"), &[]);
            assert!(
                Instant::now() < deadline,
                "the player never logged `{text}`:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process the service manager started is the one that plays, with exactly these glibc
    /// malloc settings: the player executes itself again (same pid) to add those it lacks.
    fn assert_malloc_settings(&mut self, expected: &[&str]) {
        let environment = std::fs::read(format!("/proc/{}/environ", self.child.id()))
            .expect("the player's environment");
        let mut found: Vec<String> = environment
            .split(|byte| *byte == 0)
            .map(|variable| String::from_utf8_lossy(variable).into_owned())
            .filter(|variable| variable.starts_with("MALLOC_"))
            .collect();
        found.sort_unstable();
        let mut expected = expected.to_vec();
        expected.sort_unstable();
        assert_eq!(found, expected, "{}", self.log());
    }

    fn assert_running(&mut self, doing: &str, seen: &[Notice]) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "the player exited ({status}) while {doing}; it said {:?}\n{}",
                seen.iter().map(|notice| &notice.text).collect::<Vec<_>>(),
                self.log()
            );
        }
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_stalled_render_loop_stops_petting_the_watchdog() {
    let scratch = tempfile::tempdir().unwrap();
    let mut manager = Manager::bind(scratch.path());
    let mut player = Player::start(
        scratch.path(),
        &manager,
        &["--simulate-hang-after", "8s"],
        &[],
    );

    let ready = manager.wait_for("READY=1", &mut player, |text| text == "READY=1");
    // Started without them, it plays with both of its malloc settings.
    player.assert_malloc_settings(&["MALLOC_ARENA_MAX=2", "MALLOC_MMAP_THRESHOLD_=1048576"]);
    // What plays, in words, once the playlist is on screen.
    let status = manager.wait_for("a STATUS naming the playlist", &mut player, |text| {
        text.starts_with("STATUS=playing shop")
            && text.contains(": zone ")
            && (text.contains(" → red") || text.contains(" → blue"))
    });
    assert!(ready < status, "READY comes first: {:?}", manager.texts());

    // The stall: the render loop blocks for good, which the player logs just before.
    let stalled = player.wait_for_line("the render loop now hangs on purpose");
    // Listen for four watchdog intervals after it while the process is still alive.
    manager.listen_for(WATCHDOG * 4);
    player.assert_running("stalled", &manager.seen);

    let pets = manager.pets();
    let before: Vec<&Instant> = pets.iter().filter(|at| **at < stalled).collect();
    let after: Vec<&Instant> = pets.iter().filter(|at| **at >= stalled).collect();
    assert!(
        before.len() >= 3,
        "the watchdog is petted repeatedly while frames come: {} pets before the stall ({:?})",
        before.len(),
        manager.texts()
    );
    assert!(
        manager.texts()[..ready]
            .iter()
            .all(|text| *text != "WATCHDOG=1"),
        "no pet before READY: {:?}",
        manager.texts()
    );
    // The check that was already under way may still see the last turns; nothing comes later
    // than one interval after the stall began.
    assert!(
        after.len() <= 1,
        "{} pets after the loop stalled: {:?}",
        after.len(),
        manager.texts()
    );
    assert!(
        after
            .iter()
            .all(|at| at.duration_since(stalled) <= WATCHDOG),
        "a pet came more than one watchdog interval after the stall"
    );
    // And the stalled player said so in its log, for whoever reads it before the restart.
    assert!(
        player.log().contains("watchdog not petted"),
        "{}",
        player.log()
    );
}

#[test]
fn a_playing_player_keeps_petting_and_says_stopping_at_exit() {
    let scratch = tempfile::tempdir().unwrap();
    let mut manager = Manager::bind(scratch.path());
    let mut player = Player::start(
        scratch.path(),
        &manager,
        &["--run-for", "12s"],
        &[("MALLOC_MMAP_THRESHOLD_", "4194304")],
    );

    let ready = manager.wait_for("READY=1", &mut player, |text| text == "READY=1");
    let ready_at = manager.seen[ready].at;
    // A threshold set by hand is kept; the arena limit is added.
    player.assert_malloc_settings(&["MALLOC_ARENA_MAX=2", "MALLOC_MMAP_THRESHOLD_=4194304"]);
    let stopping = manager.wait_for("STOPPING=1", &mut player, |text| text == "STOPPING=1");
    let stopping_at = manager.seen[stopping].at;
    let status = player
        .child
        .wait_timeout_or_kill(PATIENCE)
        .expect("the player exits after --run-for");
    assert!(status.success(), "{status}\n{}", player.log());

    // Pets kept coming the whole time it played: one every half interval, so at least one per
    // interval between READY and STOPPING.
    let pets = manager.seen[ready..stopping]
        .iter()
        .filter(|notice| notice.text == "WATCHDOG=1")
        .count();
    let intervals = (stopping_at - ready_at).as_secs_f64() / WATCHDOG.as_secs_f64();
    assert!(
        pets >= 4 && pets as f64 >= intervals.floor(),
        "{pets} pets in {intervals:.1} watchdog intervals of play: {:?}",
        manager.texts()
    );
    assert_eq!(
        manager.texts().last(),
        Some(&"STOPPING=1"),
        "STOPPING is the last word"
    );
}

#[test]
fn a_player_that_hangs_before_its_first_frame_never_says_ready() {
    let scratch = tempfile::tempdir().unwrap();
    let mut manager = Manager::bind(scratch.path());
    let mut player = Player::start(
        scratch.path(),
        &manager,
        // Armed before the GPU and the playlist are set up, which take longer than this: the
        // loop hangs at its very first turn.
        &["--simulate-hang-after", "1ms"],
        &[],
    );
    player.wait_for_line("the render loop now hangs on purpose");
    // The loop hung before drawing: three watchdog intervals later it has said nothing at all.
    manager.listen_for(WATCHDOG * 3);
    player.assert_running("hung before its first frame", &manager.seen);
    assert!(
        manager.seen.is_empty(),
        "a player that never drew said {:?}",
        manager.texts()
    );
}

trait WaitTimeout {
    fn wait_timeout_or_kill(&mut self, timeout: Duration) -> Option<std::process::ExitStatus>;
}

impl WaitTimeout for Child {
    fn wait_timeout_or_kill(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
