//! Support for the end-to-end tests: finding the built binaries, starting them as child processes that
//! are stopped when a test ends (passed or failed), and making test media.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The folder holding the workspace's binaries: the test executable lives in `target/<profile>/deps`.
pub fn binaries_dir() -> PathBuf {
    let executable = std::env::current_exe().expect("the test executable's path");
    executable
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_path_buf()
}

/// A built binary of the workspace; a clear message if it was not built.
pub fn binary(name: &str) -> PathBuf {
    let path = binaries_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`, which `cargo xtask test` does)",
        path.display()
    );
    path
}

/// A child process that is killed if the test ends while it still runs.
pub struct Process {
    pub child: Child,
    name: String,
}

impl Process {
    pub fn spawn(name: &str, command: &mut Command) -> anyhow::Result<Self> {
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Self {
            child,
            name: name.to_owned(),
        })
    }

    /// Sends SIGTERM (what systemd sends) and waits for a clean exit.
    pub fn terminate(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("cannot signal {}", self.name);
        }
        self.wait(timeout)
    }

    pub fn wait(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("{} did not exit within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A scheduler on `127.0.0.1:0` (or the address given) with its own data folder.
pub struct Scheduler {
    pub process: Process,
    pub url: String,
    pub admin_token: String,
    pub data_dir: PathBuf,
}

impl Scheduler {
    pub fn start(data_dir: &Path) -> anyhow::Result<Self> {
        let admin_token = "e2e-admin-token".to_owned();
        let mut command = Command::new(binary("vitrine-scheduler"));
        command
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--admin-token", &admin_token])
            .stdout(Stdio::piped());
        if let Some(url) = hq_database(data_dir)? {
            command.args(["--database", &url]);
        }
        let mut process = Process::spawn("vitrine-scheduler", &mut command)?;
        let stdout = process.child.stdout.take().context("scheduler stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = lines
            .next()
            .context("the scheduler exited before listening")??;
        let url = line
            .strip_prefix("vitrine-scheduler listening on ")
            .with_context(|| format!("unexpected first line from the scheduler: {line}"))?
            .to_owned();
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            process,
            url,
            admin_token,
            data_dir: data_dir.to_owned(),
        })
    }

    /// Runs the real `vitrine` CLI against this scheduler as HQ admin; returns its stdout.
    pub fn cli(&self, arguments: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(binary("vitrine"))
            .args(arguments)
            .args(["--server", &self.url, "--token", &self.admin_token])
            .output()
            .context("cannot run vitrine")?;
        if !output.status.success() {
            bail!(
                "`vitrine {}` failed ({}):\n{}{}",
                arguments.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8(output.stdout)?)
    }
}

/// Writes a solid-colour 16:9 PNG.
pub fn write_solid_png(path: &Path, rgb: [u8; 3]) -> anyhow::Result<()> {
    image::RgbImage::from_pixel(64, 36, image::Rgb(rgb))
        .save_with_format(path, image::ImageFormat::Png)?;
    Ok(())
}

/// A private runtime folder for Mesa, which complains without one.
pub fn runtime_dir(parent: &Path) -> anyhow::Result<PathBuf> {
    let directory = parent.join("xdg-runtime");
    std::fs::create_dir_all(&directory)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&directory, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(directory)
}

/// The environment variable naming a PostgreSQL server for the end-to-end tests' second pass
/// (`cargo xtask test` starts one and sets it).
pub const POSTGRES_ENV: &str = "VITRINE_TEST_POSTGRES";

/// The file in a scheduler's data folder that holds the PostgreSQL URL its tests gave it, so a
/// scheduler restarted on that folder finds the same database.
const DATABASE_URL_FILE: &str = "test-database-url";

/// The `--database` a scheduler on `data_dir` is given: None (its SQLite file) unless
/// [`POSTGRES_ENV`] names a server, where each data folder gets a schema of its own, made once.
pub fn hq_database(data_dir: &Path) -> anyhow::Result<Option<String>> {
    let server = match std::env::var(POSTGRES_ENV) {
        Ok(server) if !server.is_empty() => server,
        _ => return Ok(None),
    };
    let file = data_dir.join(DATABASE_URL_FILE);
    if let Ok(url) = std::fs::read_to_string(&file) {
        return Ok(Some(url));
    }
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|error| anyhow::anyhow!("randomness: {error}"))?;
    let schema = format!("e2e_{}", hex::encode(suffix));
    on_postgres(&server, &format!("CREATE SCHEMA {schema}"))?;
    let separator = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{separator}options=-c%20search_path%3D{schema}");
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&file, &url)?;
    Ok(Some(url))
}

/// The rows `query` returns from the database of the scheduler on `hq_data` (its SQLite file, or
/// its PostgreSQL schema), each value as text: `query` must be valid on both.
pub fn hq_rows(hq_data: &Path, query: &str) -> anyhow::Result<Vec<String>> {
    match std::fs::read_to_string(hq_data.join(DATABASE_URL_FILE)) {
        Ok(url) => on_postgres(&url, query),
        Err(_) => ids_in(&hq_data.join("vitrine.sqlite3"), query),
    }
}

/// The first column of every row of `sql` (which may be several statements) on the PostgreSQL
/// database at `url`, as text; on a thread of its own, since tests may hold a tokio runtime.
fn on_postgres(url: &str, sql: &str) -> anyhow::Result<Vec<String>> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || -> anyhow::Result<Vec<String>> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async move {
                let (client, connection) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                let connection = tokio::spawn(connection);
                let messages = client.simple_query(&sql).await;
                drop(client);
                let _ = connection.await;
                Ok(messages?
                    .into_iter()
                    .filter_map(|message| match message {
                        tokio_postgres::SimpleQueryMessage::Row(row) => {
                            row.get(0).map(str::to_owned)
                        }
                        _ => None,
                    })
                    .collect())
            })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the PostgreSQL query panicked"))?
}

/// The first column of every row `query` returns, from a SQLite file opened read-only.
pub fn ids_in(database: &Path, query: &str) -> anyhow::Result<Vec<String>> {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open {}", database.display()))?;
    let mut statement = connection.prepare(query)?;
    let ids = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

/// What the centre-top of a rendered frame shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    Red,
    Blue,
    Green,
    Splash,
    /// The red bands of the emergency page (an interrupt from HQ).
    Alert,
    /// The navy behind a pairing code.
    Pairing,
    /// The dark amber of the page that says why the screen is not playing.
    NotPlaying,
    Black,
    Other([u8; 3]),
}

/// Classifies a pixel of a frame into the colours the tests use.
pub fn classify(pixel: [u8; 4]) -> Seen {
    let [red, green, blue, _] = pixel;
    match (red, green, blue) {
        (250..=255, 0..=5, 0..=5) => Seen::Red,
        (0..=5, 0..=5, 250..=255) => Seen::Blue,
        (0..=5, 250..=255, 0..=5) => Seen::Green,
        (0..=8, 0..=8, 0..=8) => Seen::Black,
        (195..=220, 5..=30, 18..=42) => Seen::Alert,
        (20..=45, 45..=70, 135..=160) => Seen::Pairing,
        (125..=150, 62..=88, 0..=20) => Seen::NotPlaying,
        // The splash is a dark blue-grey gradient.
        (10..=60, 15..=80, 30..=110) => Seen::Splash,
        _ => Seen::Other([red, green, blue]),
    }
}

/// Frames written by a headless player, by the instant each one shows (Unix milliseconds).
pub fn frames(directory: &Path) -> Vec<(i64, PathBuf)> {
    let mut frames: Vec<(i64, PathBuf)> = std::fs::read_dir(directory)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let name = entry.file_name().into_string().ok()?;
                    let millis = name.strip_prefix("frame-")?.strip_suffix(".png")?;
                    Some((millis.parse().ok()?, entry.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    frames.sort();
    frames
}

/// What each frame shows, with its instant.
pub fn seen_frames(directory: &Path) -> Vec<(i64, Seen)> {
    frames(directory)
        .into_iter()
        .filter_map(|(millis, path)| {
            let frame = image::open(&path).ok()?.to_rgba8();
            // The full-screen pages are known by their corner, which their text never reaches
            // (the emergency page's heading is centred in its band); content by its centre-top.
            let corner = classify(frame.get_pixel(2, 2).0);
            if matches!(corner, Seen::Alert | Seen::Pairing | Seen::NotPlaying) {
                return Some((millis, corner));
            }
            Some((millis, classify(frame.get_pixel(frame.width() / 2, 8).0)))
        })
        .collect()
}

/// Waits until `condition` holds, checking every 100 ms, or fails with `what` after `timeout`.
pub fn wait_for(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !condition() {
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Writes the two-image playlist (red then blue, 1 s each) the end-to-end tests push.
pub fn write_red_blue_playlist(content: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(content)?;
    write_solid_png(&content.join("red.png"), [255, 0, 0])?;
    write_solid_png(&content.join("blue.png"), [0, 0, 255])?;
    let playlist = content.join("e2e.yaml");
    std::fs::write(
        &playlist,
        "version: 1\nname: e2e\nitems:\n  - image: { file: red.png, duration: 1s }\n  - image: { file: blue.png, duration: 1s }\n",
    )?;
    Ok(playlist)
}

/// How a test's headless player runs.
#[derive(Clone, Debug)]
pub struct PlayerOptions {
    pub size: (u32, u32),
    pub fps: u32,
    pub frame_interval: &'static str,
    pub poll_interval: &'static str,
}

impl Default for PlayerOptions {
    /// Small frames, often: enough to tell colours apart and time switches to 100 ms.
    fn default() -> Self {
        Self {
            size: (160, 90),
            fps: 20,
            frame_interval: "100ms",
            poll_interval: "200ms",
        }
    }
}

/// Where a test's player takes its content from.
pub enum Source<'a> {
    /// A scheduler, with this screen's device token.
    Scheduler { url: &'a str, token: &'a str },
    /// Standalone mode: a folder (or YAML file) on disk.
    Folder(&'a Path),
}

/// Starts a headless player that writes frames into `frames_dir`.
pub fn start_player(
    source: Source<'_>,
    data_dir: &Path,
    frames_dir: &Path,
    scratch: &Path,
    options: &PlayerOptions,
) -> anyhow::Result<Process> {
    start_player_with(
        source,
        data_dir,
        frames_dir,
        scratch,
        options,
        &PlayerExtras::default(),
    )
}

/// What some tests add to a player's start: a config file and environment variables (such as
/// libfaketime's).
#[derive(Clone, Debug, Default)]
pub struct PlayerExtras {
    pub config: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

/// libfaketime's preload library, which Debian's `faketime` package installs (`cargo xtask
/// setup`). A test that needs it fails, never skips, when it is missing.
pub fn libfaketime() -> PathBuf {
    let candidates = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .expect("libfaketime is missing: install Debian's `faketime` (cargo xtask setup)")
}

/// [`start_player`] with a config file and extra environment.
pub fn start_player_with(
    source: Source<'_>,
    data_dir: &Path,
    frames_dir: &Path,
    scratch: &Path,
    options: &PlayerOptions,
    extras: &PlayerExtras,
) -> anyhow::Result<Process> {
    let mut command = Command::new(binary("vitrine-player"));
    if let Some(config) = &extras.config {
        command.arg("--config").arg(config);
    }
    command.envs(extras.env.iter().map(|(name, value)| (name, value)));
    command
        .arg("--headless")
        .args(["--size", &format!("{}x{}", options.size.0, options.size.1)])
        .args(["--fps", &options.fps.to_string()])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--frames-dir")
        .arg(frames_dir)
        .args(["--frame-interval", options.frame_interval])
        .env("XDG_RUNTIME_DIR", runtime_dir(scratch)?);
    match source {
        Source::Scheduler { url, token } => command
            .args(["--server", url, "--token", token])
            .args(["--poll-interval", options.poll_interval])
            .args([
                "--upload-interval",
                "500ms",
                "--heartbeat-interval",
                "500ms",
            ]),
        Source::Folder(folder) => command.arg("--playlist").arg(folder),
    };
    Process::spawn("vitrine-player", &mut command)
}

/// Starts a headless player against a scheduler with the default [`PlayerOptions`].
pub fn start_headless_player(
    server: &str,
    device_token: &str,
    data_dir: &Path,
    frames_dir: &Path,
    scratch: &Path,
) -> anyhow::Result<Process> {
    start_player(
        Source::Scheduler {
            url: server,
            token: device_token,
        },
        data_dir,
        frames_dir,
        scratch,
        &PlayerOptions::default(),
    )
}

/// An in-process TCP proxy in front of the scheduler that, while faults are on, breaks connections
/// the ways networks do: it resets them, answers 503, delays them, or cuts a response short.
pub struct FaultProxy {
    pub url: String,
    faults: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// How many connections were broken, by kind: reset, 503, delayed, truncated.
    pub broken: std::sync::Arc<[std::sync::atomic::AtomicU64; 4]>,
}

impl FaultProxy {
    /// Proxies to `upstream` (`http://host:port`), with faults on from the start.
    pub fn start(upstream: &str) -> anyhow::Result<Self> {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

        let upstream = upstream
            .strip_prefix("http://")
            .context("the proxy speaks plain HTTP")?
            .to_owned();
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let faults = Arc::new(AtomicBool::new(true));
        let broken: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
        let (faults_in_thread, broken_in_thread) = (faults.clone(), broken.clone());
        std::thread::spawn(move || {
            let mut seed: u64 = 0x0bad_5eed;
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                // Two connections in three are broken while faults are on.
                let roll = (seed >> 33) % 6;
                let fault = if faults_in_thread.load(Ordering::Relaxed) && roll < 4 {
                    Some(roll as usize)
                } else {
                    None
                };
                if let Some(kind) = fault {
                    broken_in_thread[kind].fetch_add(1, Ordering::Relaxed);
                }
                let cut_after = 100 + (seed >> 40) % 4_000;
                // Clients keep connections alive; closing each after a short life makes them
                // reconnect often, so the faults land on every kind of request.
                let lifetime = Duration::from_millis(300 + (seed >> 20) % 1_200);
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    let _ = serve_with_fault(client, &upstream, fault, cut_after, lifetime);
                });
            }
        });
        Ok(Self {
            url,
            faults,
            broken,
        })
    }

    /// From now on every connection goes through untouched.
    pub fn heal(&self) {
        self.faults
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn broken_counts(&self) -> [u64; 4] {
        std::array::from_fn(|kind| self.broken[kind].load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// One proxied connection: 0 resets it, 1 answers 503, 2 delays it, 3 cuts the response short.
fn serve_with_fault(
    mut client: std::net::TcpStream,
    upstream: &str,
    fault: Option<usize>,
    cut_after: u64,
    lifetime: Duration,
) -> std::io::Result<()> {
    use std::io::{Read, Write};
    match fault {
        Some(0) => return Ok(()),
        Some(1) => {
            // Read the request head, then refuse it.
            let mut buffer = [0u8; 4096];
            let _ = client.read(&mut buffer)?;
            client.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        }
        Some(2) => std::thread::sleep(Duration::from_millis(400)),
        _ => {}
    }
    let server = std::net::TcpStream::connect(upstream)?;
    let (client_end, server_end) = (client.try_clone()?, server.try_clone()?);
    std::thread::spawn(move || {
        std::thread::sleep(lifetime);
        let _ = client_end.shutdown(std::net::Shutdown::Both);
        let _ = server_end.shutdown(std::net::Shutdown::Both);
    });
    let mut client_to_server = client.try_clone()?;
    let mut server_to_client = server.try_clone()?;
    let mut server_writer = server;
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_to_server, &mut server_writer);
        let _ = server_writer.shutdown(std::net::Shutdown::Write);
    });
    if fault == Some(3) {
        let mut limited = (&mut server_to_client).take(cut_after);
        let _ = std::io::copy(&mut limited, &mut client);
        let _ = client.shutdown(std::net::Shutdown::Both);
        let _ = server_to_client.shutdown(std::net::Shutdown::Both);
    } else {
        let _ = std::io::copy(&mut server_to_client, &mut client);
        let _ = client.shutdown(std::net::Shutdown::Write);
    }
    Ok(())
}

/// A TCP relay to `upstream` that can be cut like a database restart: every open connection is
/// closed at once and new ones are closed as soon as they arrive, until it is restored.
pub struct CuttableRelay {
    /// `127.0.0.1:PORT`, where clients connect instead of `upstream`.
    pub address: String,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl CuttableRelay {
    pub fn start(upstream: &str) -> anyhow::Result<Self> {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?.to_string();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (cut_in_thread, open_in_thread) = (cut.clone(), open.clone());
        let upstream = upstream.to_owned();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if cut_in_thread.load(Ordering::SeqCst) {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let (Ok(client_copy), Ok(server_copy)) = (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                if let Ok(mut open) = open_in_thread.lock() {
                    open.extend([client_copy, server_copy]);
                }
                for (mut from, mut to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ]
                .into_iter()
                .filter_map(|(from, to)| Some((from.ok()?, to.ok()?)))
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Ok(Self { address, cut, open })
    }

    /// Closes every relayed connection and refuses new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut open) = self.open.lock() {
            for stream in open.drain(..) {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A TCP load balancer in front of scheduler replicas: each connection goes to the first of
/// `upstreams` (`127.0.0.1:PORT`) that accepts it, so every client is on the first replica while it
/// lives and moves to the next when it dies, as a balancer's health check moves them.
pub struct FailoverRelay {
    /// `http://127.0.0.1:PORT`, where players connect.
    pub url: String,
}

impl FailoverRelay {
    pub fn start(upstreams: &[String]) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let upstreams: Vec<String> = upstreams
            .iter()
            .map(|upstream| upstream.trim_start_matches("http://").to_owned())
            .collect();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Some(server) = upstreams
                    .iter()
                    .find_map(|upstream| std::net::TcpStream::connect(upstream).ok())
                else {
                    continue;
                };
                for (from, to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ] {
                    let (Ok(mut from), Ok(mut to)) = (from, to) else {
                        continue;
                    };
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Ok(Self { url })
    }
}

/// Gives the scheduler on `data_dir` (not started yet) a fresh PostgreSQL schema on the server
/// [`POSTGRES_ENV`] names, reached through `relay`, which must relay to that server (start it on
/// [`postgres_address`]).
pub fn use_database_through(data_dir: &Path, relay: &CuttableRelay) -> anyhow::Result<()> {
    let url = hq_database(data_dir)?.with_context(|| format!("{POSTGRES_ENV} is not set"))?;
    let direct = postgres_address()?;
    std::fs::write(
        data_dir.join(DATABASE_URL_FILE),
        url.replacen(&direct, &relay.address, 1),
    )?;
    Ok(())
}

/// The `host:port` of the server [`POSTGRES_ENV`] names.
pub fn postgres_address() -> anyhow::Result<String> {
    let server =
        std::env::var(POSTGRES_ENV).with_context(|| format!("{POSTGRES_ENV} is not set"))?;
    let after_at = server
        .split_once('@')
        .map_or(server.as_str(), |(_, rest)| rest);
    let address = after_at.split('/').next().unwrap_or_default();
    anyhow::ensure!(!address.is_empty(), "no host:port in {server}");
    Ok(address.to_owned())
}

impl Scheduler {
    /// Pushes a playlist file and registers a screen playing it; returns the device token.
    pub fn push_and_add_screen(
        &self,
        playlist_file: &Path,
        screen: &str,
        playlist_name: &str,
    ) -> anyhow::Result<String> {
        let file = playlist_file.to_str().context("a UTF-8 path")?;
        self.cli(&["push", file])?;
        Ok(self
            .cli(&["screens", "add", screen, "--playlist", playlist_name])?
            .trim()
            .to_owned())
    }
}

/// Proof of play after the fact: HQ (its data folder) holds exactly the plays the player (its data
/// folder) journalled, none twice. Returns the journalled ids and how many rows HQ holds.
pub fn assert_hq_holds_exactly_the_journal(
    player_data: &Path,
    hq_data: &Path,
) -> (Vec<String>, usize) {
    let journalled = ids_in(
        &player_data.join("player.sqlite3"),
        "SELECT id FROM journal",
    )
    .unwrap();
    let at_hq = hq_rows(hq_data, "SELECT id FROM impressions").unwrap();
    let hq_set: std::collections::BTreeSet<&String> = at_hq.iter().collect();
    assert_eq!(hq_set.len(), at_hq.len(), "no play counted twice at HQ");
    assert_eq!(
        journalled.iter().collect::<std::collections::BTreeSet<_>>(),
        hq_set,
        "HQ holds exactly the journal"
    );
    (journalled, at_hq.len())
}

/// Every finished file in the player's media cache is what its name (its sha256) says.
pub fn assert_cache_verifies(player_data: &Path) {
    for entry in std::fs::read_dir(player_data.join("media")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".part") {
            continue;
        }
        use sha2::Digest;
        let actual = hex::encode(sha2::Sha256::digest(std::fs::read(&path).unwrap()));
        assert_eq!(actual, name, "cached file {name} does not match its digest");
    }
}

/// One play as the player journalled it, with its instants in Unix milliseconds.
#[derive(Clone, Debug)]
pub struct JournalledPlay {
    /// The journal's own number for the play.
    pub sequence: i64,
    pub id: String,
    pub item_id: String,
    /// The media file shown; None for content the player generates.
    pub media_sha256: Option<String>,
    pub scheduled_start: i64,
    pub started_at: i64,
    pub ended_at: i64,
    pub completed: bool,
}

/// Every play in a player's journal (its data folder), in journal order.
pub fn journalled_plays(player_data: &Path) -> anyhow::Result<Vec<JournalledPlay>> {
    let database = player_data.join("player.sqlite3");
    let connection = rusqlite::Connection::open_with_flags(
        &database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .with_context(|| format!("cannot open {}", database.display()))?;
    let mut statement = connection.prepare(
        "SELECT sequence, id, json_extract(body, '$.item_id'), json_extract(body, '$.media_sha256'),
                json_extract(body, '$.scheduled_start'), json_extract(body, '$.started_at'),
                json_extract(body, '$.ended_at'), json_extract(body, '$.completed')
         FROM journal ORDER BY sequence",
    )?;
    let millis = |text: String| -> rusqlite::Result<i64> {
        text.parse::<jiff::Timestamp>()
            .map(|instant| instant.as_millisecond())
            .map_err(|error| {
                rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    Box::new(error),
                )
            })
    };
    let plays = statement
        .query_map([], |row| {
            Ok(JournalledPlay {
                sequence: row.get(0)?,
                id: row.get(1)?,
                item_id: row.get(2)?,
                media_sha256: row.get(3)?,
                scheduled_start: millis(row.get(4)?)?,
                started_at: millis(row.get(5)?)?,
                ended_at: millis(row.get(6)?)?,
                completed: row.get::<_, i64>(7)? != 0,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(plays)
}

/// A double count is the same play stored under a new id, which the id's primary key cannot
/// catch: HQ (its data folder) must hold no two plays with one screen's sequence number, and no two
/// of one screen's plays of an item in one zone for one scheduled turn that are both completed or
/// overlap in time (a restart within a turn leaves two partial records, which is no double count).
pub fn assert_no_play_counted_twice(hq_data: &Path) {
    let same_sequence = hq_rows(
        hq_data,
        "SELECT screen || ' #' || sequence || ' x' || COUNT(*) FROM impressions
         GROUP BY screen, sequence HAVING COUNT(*) > 1",
    )
    .unwrap();
    assert!(
        same_sequence.is_empty(),
        "one screen's sequence number held twice at HQ: {same_sequence:?}"
    );
    // A turn may have several records when the player restarted within it (each then says how
    // long it showed, and at most one covered the turn), but never two that claim the same time
    // on screen or two completed ones.
    let same_turn = hq_rows(
        hq_data,
        "SELECT a.screen || ' ' || a.zone || ' ' || a.item_id || ' @' ||
                COALESCE(a.scheduled_start, a.started_at) || ': ' || a.id || ' and ' || b.id
         FROM impressions a JOIN impressions b
           ON a.screen = b.screen AND a.zone = b.zone AND a.item_id = b.item_id
          AND COALESCE(a.scheduled_start, a.started_at) = COALESCE(b.scheduled_start, b.started_at)
          AND a.id < b.id
         WHERE (a.completed AND b.completed)
            OR (a.started_at < COALESCE(b.ended_at, b.started_at)
                AND b.started_at < COALESCE(a.ended_at, a.started_at))",
    )
    .unwrap();
    assert!(
        same_turn.is_empty(),
        "one scheduled turn counted twice at HQ (both completed, or on screen at the same time): \
         {same_turn:?}"
    );
}

/// The hex sha256 of a file, as manifests and impressions name media.
pub fn sha256_of_file(path: &Path) -> anyhow::Result<String> {
    use sha2::Digest;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(sha2::Sha256::digest(bytes)))
}
