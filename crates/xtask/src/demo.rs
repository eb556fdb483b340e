//! `cargo xtask demo`: the main job on one machine. It builds the binaries, starts a scheduler on the
//! embedded SQLite default and, with the real CLI, does what HQ and a store do: imports the sample
//! stores, customer segments, product feed and local inventory (`playlists/hq/`), pushes the store
//! playlists (`playlists/demo.yaml`, `playlists/lobby.yaml`) and the campaigns
//! (`playlists/campaigns/`), registers a screen in the Paris Oberkampf store playing `lobby`, and runs
//! a player against it: in a fullscreen window where a display exists, headless (writing frames to a
//! folder it names) where none does. Ctrl-C stops everything cleanly.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::{cargo, run_command, runtime_dir, workspace_root};

const SCREEN: &str = "demo-screen";
/// The store the demo screen stands in; the demo campaign targets it.
const STORE: &str = "paris-11";

pub fn run(arguments: &[String]) -> anyhow::Result<()> {
    let mut run_for: Option<String> = None;
    let mut force_headless = false;
    let mut rest = arguments.iter();
    while let Some(argument) = rest.next() {
        match argument.as_str() {
            "--run-for" => {
                run_for = Some(
                    rest.next()
                        .context("--run-for needs a duration, e.g. 30s")?
                        .clone(),
                )
            }
            "--headless" => force_headless = true,
            other => bail!("unknown demo option `{other}`; use --run-for DURATION or --headless"),
        }
    }
    crate::setup::run()?;
    run_command(cargo().args(["build", "--workspace", "--bins"]))?;

    let root = workspace_root();
    let binaries = crate::target_dir().join("debug");
    let demo_dir = root.join("target").join("demo");
    if demo_dir.exists() {
        std::fs::remove_dir_all(&demo_dir)
            .with_context(|| format!("cannot clear {}", demo_dir.display()))?;
    }
    std::fs::create_dir_all(&demo_dir)?;
    let admin_token = format!("demo-admin-{}", std::process::id());

    // Ctrl-C reaches the scheduler and the player too (same process group); they stop cleanly, and
    // the demo waits for them instead of dying first.
    let interrupted = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, interrupted.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, interrupted.clone())?;

    let mut scheduler = Guard(
        Command::new(binaries.join("vitrine-scheduler"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(demo_dir.join("scheduler"))
            .args(["--admin-token", &admin_token])
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start vitrine-scheduler")?,
    );
    let server = read_listen_url(&mut scheduler.0)?;
    eprintln!("xtask demo: scheduler at {server}");

    let cli = binaries.join("vitrine");
    let playlists = root.join("playlists");
    let hq = playlists.join("hq");
    let as_admin = |command: &mut Command| -> anyhow::Result<()> {
        run_command(command.args(["--server", &server, "--token", &admin_token]))
    };
    as_admin(
        Command::new(&cli)
            .args(["stores", "import"])
            .arg(hq.join("stores.csv")),
    )?;
    as_admin(
        Command::new(&cli)
            .args(["segments", "import"])
            .arg(hq.join("segments.csv")),
    )?;
    as_admin(
        Command::new(&cli)
            .args(["feed", "import"])
            .arg(hq.join("products.tsv")),
    )?;
    as_admin(
        Command::new(&cli)
            .args(["feed", "import", "--inventory"])
            .arg(hq.join("inventory.tsv")),
    )?;
    for playlist in ["demo.yaml", "lobby.yaml"] {
        as_admin(Command::new(&cli).arg("push").arg(playlists.join(playlist)))?;
    }
    for campaign in [
        "demo-offers.yaml",
        "winter-sale.yaml",
        "breakfast-deals.yaml",
    ] {
        as_admin(
            Command::new(&cli)
                .args(["campaign", "push"])
                .arg(playlists.join("campaigns").join(campaign)),
        )?;
    }
    let registered = Command::new(&cli)
        .args([
            "screens",
            "add",
            SCREEN,
            "--playlist",
            "lobby",
            "--store",
            STORE,
        ])
        .args(["--tag", "entrance"])
        .args(["--server", &server, "--token", &admin_token])
        .output()
        .context("cannot run `vitrine screens add`")?;
    let registration_notes = String::from_utf8_lossy(&registered.stderr);
    eprint!("{registration_notes}");
    if !registered.status.success() {
        bail!("`vitrine screens add` failed");
    }
    let device_token = String::from_utf8(registered.stdout)?.trim().to_owned();
    // Where the screen stands and how many people see each play: its plays' gross impressions.
    let audience = demo_dir.join("audience.csv");
    std::fs::write(
        &audience,
        format!(
            "screen,zone,venue_zone,multiplier,source\n{SCREEN},,entrance,14.2,door counter: \
             visitors per play\n"
        ),
    )
    .with_context(|| format!("cannot write {}", audience.display()))?;
    as_admin(
        Command::new(&cli)
            .args(["audience", "import"])
            .arg(&audience),
    )?;
    // Pin the scheduler's manifest key the way an installer would: from the `server_key = "…"`
    // line `screens add` prints beside the token.
    let server_key = registration_notes
        .lines()
        .find_map(|line| line.trim().strip_prefix("server_key = "))
        .map(|quoted| quoted.trim_matches('"').to_owned())
        .context("`vitrine screens add` printed no `server_key` line")?;

    let has_display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let headless = force_headless || !has_display;
    let mut player_command = Command::new(binaries.join("vitrine-player"));
    player_command
        .args(["--server", &server, "--token", &device_token])
        .args(["--server-key", &server_key, "--data-dir"])
        .arg(demo_dir.join("player"))
        .args(["--poll-interval", "2s", "--upload-interval", "5s"])
        .env("XDG_RUNTIME_DIR", runtime_dir()?);
    if headless {
        let frames = demo_dir.join("frames");
        if !has_display {
            eprintln!("xtask demo: no display found (DISPLAY is unset); the player runs headless");
        }
        player_command
            .args([
                "--headless",
                "--size",
                "1280x720",
                "--frame-interval",
                "1s",
                "--frames-dir",
            ])
            .arg(&frames);
    }
    if let Some(run_for) = &run_for {
        player_command.args(["--run-for", run_for]);
    }
    // The web console, served by the scheduler itself.
    eprintln!(
        "xtask demo: web console at {server}/console (sign in with the admin token {admin_token})"
    );
    eprintln!(
        "xtask demo: playing; stop with Ctrl-C{}",
        run_for
            .as_ref()
            .map(|run_for| format!(" (or wait {run_for})"))
            .unwrap_or_default()
    );
    let mut player = Guard(
        player_command
            .spawn()
            .context("cannot start vitrine-player")?,
    );
    let status = loop {
        if let Some(status) = player.0.try_wait()? {
            break status;
        }
        if interrupted.load(Ordering::Relaxed) {
            // The player got the same Ctrl-C; give it time to journal and upload.
            break player.0.wait()?;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let proof_of_play = count_impressions(&server, &admin_token);
    // What HQ and the brands read back: the screen's plays and its hash chain.
    for report in [
        &["reports", "plays", "--group-by", "screen,zone"][..],
        &["reports", "chain"][..],
    ] {
        if let Err(error) = as_admin(Command::new(&cli).args(report)) {
            eprintln!("xtask demo: {error:#}");
        }
    }
    stop(&mut scheduler.0);
    summarise(&demo_dir, proof_of_play);
    if !status.success() && !interrupted.load(Ordering::Relaxed) {
        bail!("vitrine-player exited with {status}");
    }
    Ok(())
}

/// The scheduler prints `vitrine-scheduler listening on http://…` once it has bound its port.
fn read_listen_url(scheduler: &mut Child) -> anyhow::Result<String> {
    let stdout = scheduler.stdout.take().context("no scheduler stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .next()
        .context("the scheduler exited before listening")??;
    let url = line
        .rsplit(' ')
        .next()
        .filter(|url| url.starts_with("http"))
        .with_context(|| format!("unexpected scheduler output: {line}"))?
        .to_owned();
    // Keep draining its stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(url)
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Asks the scheduler how many plays of the demo screen it holds. A plain HTTP/1.1 request on
/// loopback is enough here, and keeps an HTTP client out of xtask.
fn count_impressions(server: &str, admin_token: &str) -> anyhow::Result<usize> {
    use std::io::{Read, Write};
    let address = server
        .strip_prefix("http://")
        .context("the demo scheduler speaks plain HTTP")?;
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET /v1/impressions?screen={SCREEN} HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {admin_token}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!(
            "the scheduler answered {}",
            head.lines().next().unwrap_or_default()
        );
    }
    // The body may be chunked; every impression carries exactly one `"item_id"` key.
    Ok(body.matches("\"item_id\"").count())
}

fn summarise(demo_dir: &Path, proof_of_play: anyhow::Result<usize>) {
    eprintln!("\nxtask demo: finished.");
    match proof_of_play {
        Ok(count) => eprintln!("  proof of play at HQ: {count} plays of {SCREEN}"),
        Err(error) => eprintln!("  proof of play could not be read: {error:#}"),
    }
    let frames = demo_dir.join("frames");
    if frames.exists() {
        let count = std::fs::read_dir(&frames)
            .map(|entries| entries.count())
            .unwrap_or(0);
        eprintln!("  frames written: {count} in {}", frames.display());
    }
    eprintln!(
        "  scheduler data: {}\n  player data:    {}",
        demo_dir.join("scheduler").display(),
        demo_dir.join("player").display()
    );
}

/// Kills a child process that is still running when the demo unwinds on an error.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
