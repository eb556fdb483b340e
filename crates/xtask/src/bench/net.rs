//! The scheduler's network figures, all against one release-built scheduler on loopback:
//!
//! - manifest requests/s under wrk (2 threads, 64 keep-alive connections, 5 s per run) against nginx
//!   serving the same bytes as a static file, A B interleaved;
//! - push propagation, publish to new manifest held, p50/p99 over 1000 simulated players
//!   (`examples/net_bench.rs` of vitrine-scheduler), against the polling anchors Xibo (60-900 s)
//!   and Broadsign (20 min);
//! - impression ingest/s over HTTP in batches of 1000 against the same rows inserted with rusqlite
//!   in one transaction per batch (the storage floor), A B interleaved.
//!
//! Both servers run with a private prefix under `target/bench/net`; nothing system-wide is started.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

use super::{Figure, ROUNDS, median, numbers};
use crate::{cargo, run_command};

const ADMIN_TOKEN: &str = "bench-admin-token";
const WRK_SECONDS: u32 = 5;
const PUSH_CLIENTS: usize = 1000;
const INGEST_BATCHES_PER_ROUND: usize = 20;
/// The fastest polling anchor: Xibo's shortest collection interval, in ms.
const XIBO_FASTEST_POLL_MS: f64 = 60_000.0;

/// A child process killed (and reaped) when dropped, so a failed benchmark leaves nothing running.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `program` with the open-file limit raised to the hard limit: 1000 event streams plus their
/// manifest requests need more than the usual soft limit of 1024 descriptors.
fn with_raised_file_limit(program: &Path) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$0\" \"$@\"")
        .arg(program);
    command
}

pub fn figures(target: &Path) -> anyhow::Result<Vec<Figure>> {
    for tool in ["wrk", "nginx"] {
        let found = Command::new("sh")
            .args([
                "-c",
                &format!("command -v {tool} || test -x /usr/sbin/{tool}"),
            ])
            .output()
            .map(|output| output.status.success())
            .unwrap_or(false);
        if !found {
            bail!("`{tool}` is missing; `cargo xtask setup` installs it");
        }
    }
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vitrine-scheduler",
        "--bin",
        "vitrine-scheduler",
        "--example",
        "net_bench",
    ]))?;
    let scheduler_binary = target.join("release/vitrine-scheduler");
    let net_bench = target.join("release/examples/net_bench");
    let scratch = target.join("bench/net");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(scratch.join("nginx/html"))?;
    std::fs::create_dir_all(scratch.join("nginx/logs"))?;

    eprintln!("xtask bench: starting a release scheduler");
    let mut scheduler = Guard(
        with_raised_file_limit(&scheduler_binary)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(scratch.join("hq"))
            .args(["--admin-token", ADMIN_TOKEN])
            // wrk drives the manifest with one token at tens of thousands of requests a second;
            // the per-token limit would measure itself, not the serving path.
            .args(["--rate-limit-per-second", "0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start the scheduler")?,
    );
    let stdout = scheduler.0.stdout.take().context("scheduler stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next().context("the scheduler exited at once")??;
    let server = line
        .strip_prefix("vitrine-scheduler listening on ")
        .with_context(|| format!("unexpected scheduler output: {line}"))?
        .to_owned();
    std::thread::spawn(move || for _ in lines {});

    let bench = |arguments: &[&str]| -> anyhow::Result<String> {
        let output = with_raised_file_limit(&net_bench)
            .args(arguments)
            .args(["--server", &server, "--admin", ADMIN_TOKEN])
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run net_bench")?;
        if !output.status.success() {
            bail!(
                "net_bench {} failed ({})",
                arguments.join(" "),
                output.status
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };

    // Manifest serving: the same bytes from the scheduler and from nginx.
    let manifest_file = scratch.join("nginx/html/manifest.json");
    let prepared = bench(&[
        "prepare-manifest",
        "--rounds",
        "1",
        "--out",
        &manifest_file.to_string_lossy(),
    ])?;
    let token = json_string(&prepared, "token")?;
    let nginx = Nginx::start(&scratch.join("nginx"))?;
    let mut ours_rps = Vec::new();
    let mut nginx_rps = Vec::new();
    for round in 1..=ROUNDS {
        eprintln!("xtask bench: manifest round {round} of {ROUNDS}");
        ours_rps.push(wrk(&format!("{server}/v1/manifest"), &token)?);
        nginx_rps.push(wrk(&format!("{}/manifest.json", nginx.url), &token)?);
    }
    drop(nginx);

    eprintln!("xtask bench: push propagation to {PUSH_CLIENTS} simulated players");
    let push = bench(&[
        "push",
        "--clients",
        &PUSH_CLIENTS.to_string(),
        "--rounds",
        &ROUNDS.to_string(),
    ])?;
    let push_p50 = median(&numbers(&push, "p50_ms")?);
    let push_p99 = median(&numbers(&push, "p99_ms")?);

    eprintln!("xtask bench: impression ingest");
    let ingest = bench(&[
        "ingest",
        "--batches",
        &INGEST_BATCHES_PER_ROUND.to_string(),
        "--rounds",
        &ROUNDS.to_string(),
    ])?;
    let http_ingest = median(&numbers(&ingest, "http_per_s")?);
    let floor_ingest = median(&numbers(&ingest, "rusqlite_per_s")?);
    drop(scheduler);

    let (ours_rps, nginx_rps) = (median(&ours_rps), median(&nginx_rps));
    Ok(vec![
        Figure {
            name: "manifest_requests_per_s",
            unit: "req/s",
            ours: ours_rps,
            peer: nginx_rps,
            peer_name: "nginx, same bytes as a static file (wrk -t2 -c64)",
            goal: "ratio >= 0.8".into(),
            pass: ours_rps >= 0.8 * nginx_rps,
        },
        Figure {
            name: "push_propagation_p50_1000_players",
            unit: "ms",
            ours: push_p50,
            peer: XIBO_FASTEST_POLL_MS,
            peer_name: "polling anchors: Xibo 60-900 s, Broadsign 20 min",
            goal: "<= 1000 ms".into(),
            pass: push_p50 <= 1000.0,
        },
        Figure {
            name: "push_propagation_p99_1000_players",
            unit: "ms",
            ours: push_p99,
            peer: XIBO_FASTEST_POLL_MS,
            peer_name: "polling anchors: Xibo 60-900 s, Broadsign 20 min",
            goal: "<= 1000 ms".into(),
            pass: push_p99 <= 1000.0,
        },
        Figure {
            name: "impression_ingest_per_s_batches_of_1000",
            unit: "rows/s",
            ours: http_ingest,
            peer: floor_ingest,
            peer_name: "rusqlite, one transaction per batch",
            goal: "ratio >= 0.5".into(),
            pass: http_ingest >= 0.5 * floor_ingest,
        },
    ])
}

/// The string under `"key":` in a line of JSON.
fn json_string(json: &str, key: &str) -> anyhow::Result<String> {
    let start = json
        .find(&format!("\"{key}\":\""))
        .with_context(|| format!("no `{key}` in {json}"))?
        + key.len()
        + 4;
    let end = json[start..].find('"').context("unterminated string")?;
    Ok(json[start..start + end].to_owned())
}

/// Requests per second of one wrk run: 2 threads, 64 keep-alive connections. The token is sent to
/// both servers, so both parse the same request.
fn wrk(url: &str, token: &str) -> anyhow::Result<f64> {
    let output = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{WRK_SECONDS}s")])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(url)
        .output()
        .context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk {url} failed: {text}");
    }
    if text.contains("Non-2xx") {
        bail!("wrk {url} got error responses: {text}");
    }
    text.lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|value| value.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output: {text}"))
}

/// nginx with a private prefix and configuration, on a free loopback port, in the foreground.
struct Nginx {
    binary: PathBuf,
    prefix: PathBuf,
    config: PathBuf,
    process: Option<Child>,
    url: String,
}

impl Nginx {
    fn start(prefix: &Path) -> anyhow::Result<Self> {
        let port = {
            // nginx cannot listen on port 0 and report the port, so one is picked here and let go.
            let listener = TcpListener::bind("127.0.0.1:0")?;
            listener.local_addr()?.port()
        };
        let prefix = prefix.canonicalize()?;
        let config = prefix.join("nginx.conf");
        std::fs::write(
            &config,
            format!(
                "daemon off;\n\
                 worker_processes auto;\n\
                 pid {prefix}/nginx.pid;\n\
                 error_log {prefix}/logs/error.log warn;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n\
                 \x20 access_log off;\n\
                 \x20 default_type application/json;\n\
                 \x20 keepalive_requests 1000000;\n\
                 \x20 client_body_temp_path {prefix}/tmp;\n\
                 \x20 proxy_temp_path {prefix}/tmp;\n\
                 \x20 fastcgi_temp_path {prefix}/tmp;\n\
                 \x20 uwsgi_temp_path {prefix}/tmp;\n\
                 \x20 scgi_temp_path {prefix}/tmp;\n\
                 \x20 server {{\n\
                 \x20   listen 127.0.0.1:{port};\n\
                 \x20   root {prefix}/html;\n\
                 \x20   add_header Cache-Control no-cache;\n\
                 \x20 }}\n\
                 }}\n",
                prefix = prefix.display()
            ),
        )?;
        std::fs::create_dir_all(prefix.join("tmp"))?;
        let nginx = if Path::new("/usr/sbin/nginx").exists() {
            PathBuf::from("/usr/sbin/nginx")
        } else {
            PathBuf::from("nginx")
        };
        let process = Command::new(&nginx)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&config)
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start nginx")?;
        let url = format!("http://127.0.0.1:{port}");
        // Ready when it accepts connections.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                bail!("nginx did not start listening on port {port}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(Self {
            binary: nginx,
            prefix,
            config,
            process: Some(process),
            url,
        })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // `-s quit` reaches the master through its pid file and lets the workers finish; killing
        // only the master could leave workers behind.
        let _ = Command::new(&self.binary)
            .arg("-p")
            .arg(&self.prefix)
            .arg("-c")
            .arg(&self.config)
            .args(["-s", "quit"])
            .stderr(Stdio::null())
            .status();
        if let Some(mut process) = self.process.take() {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while matches!(process.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}
