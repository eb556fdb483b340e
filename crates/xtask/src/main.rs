//! `cargo xtask`: the project's one entry point for setting up a machine, testing and running the demo.
//!
//! - `cargo xtask setup` installs the Debian packages the build, the tests and the demo need.
//! - `cargo xtask test` = setup, `cargo fmt --check`, clippy with `-D warnings`, the dependency
//!   boundary check, the whole test suite (GPU render tests included, on Mesa's software drivers),
//!   the scheduler's suites again on PostgreSQL and its media suites with media in an S3 bucket,
//!   and 20 seconds of each fuzz target.
//! - `cargo xtask postgres` / `cargo xtask s3` = a private PostgreSQL / S3-compatible server for
//!   running those tests by hand.
//! - `cargo xtask dist [--debug] [--check]` = the .deb packages in target/dist/, and their check
//!   (contents, metadata, `systemd-analyze verify`, an install and purge in a scratch root), which
//!   `test` runs on the debug binaries.
//! - `cargo xtask demo` = setup, then a scheduler, the sample playlists and campaigns, and a player.
//! - `cargo xtask kill-loop [N]` = the kill loop with N kills (default 200; CI runs 50).
//! - `cargo xtask fuzz [SECONDS] [TARGET...]` = the cargo-fuzz targets (CI runs 20 s of each).
//! - `cargo xtask bench [render|text|net|video|feed|memory]` = performance against peers and limits, measured in
//!   the same run (../shared/BENCHMARKS.md).

mod bench;
mod demo;
mod dist;
mod fuzz;
mod postgres;
mod s3;
mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = match arguments.first().map(String::as_str) {
        Some("setup") => setup::run(),
        Some("test") => test(&arguments[1..]),
        Some("demo") => demo::run(&arguments[1..]),
        Some("dist") => dist::run(&arguments[1..]),
        Some("deps") => check_core_boundary().and_then(|()| check_storage_boundary()),
        Some("kill-loop") => kill_loop(&arguments[1..]),
        Some("bench") => bench::run(&arguments[1..]),
        Some("fuzz") => fuzz::run(&arguments[1..]),
        Some("postgres") => postgres::serve(),
        Some("s3") => s3::serve(),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 setup   install the Debian packages the build, tests and demo need\n  \
                 test    setup + fmt --check + clippy -D warnings + boundary check + all tests\n  \
                 demo    setup + scheduler + sample playlist + player [--run-for 30s] [--headless]\n  \
                 dist    [--debug] [--check] the .deb packages, to target/dist/, and their check\n  \
                 deps    check that vitrine-core and vitrine-wire depend on no I/O crate\n  \
                 fuzz    [SECONDS] [TARGET...] the fuzz targets (default 300 s each)\n  \
                 postgres a private PostgreSQL for running tests on it by hand, until Enter\n  \
                 s3      a private S3-compatible server for the media tests by hand, until Enter\n  \
                 bench   [render|text|net|scale|video|feed|memory] figures against their peers, to target/bench/latest.json"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of `crates/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("xtask lives in crates/xtask")
        .to_path_buf()
}

/// Runs a command in the workspace root, echoing it, and fails if it fails.
pub fn run_command(command: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {}", describe(command));
    let started = std::time::Instant::now();
    let status = command
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("cannot start `{}`", describe(command)))?;
    // How long each step took, so a slow CI run shows where its time went.
    eprintln!(
        "xtask: {:.0} s for `{}`",
        started.elapsed().as_secs_f64(),
        describe(command).chars().take(80).collect::<String>()
    );
    if !status.success() {
        bail!("`{}` failed ({status})", describe(command));
    }
    Ok(())
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where cargo puts its output: a CARGO_TARGET_DIR of its own, or the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Cargo, as every xtask command runs it.
///
/// Without incremental compilation unless the caller's environment asks for it: on a clean
/// machine nothing is compiled twice, and its caches for every test target of the scheduler and
/// the player come to gigabytes of disk.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    if std::env::var_os("CARGO_INCREMENTAL").is_none() {
        command.env("CARGO_INCREMENTAL", "0");
    }
    command
}

/// An empty, private runtime directory for Mesa and X clients, which warn without one.
pub fn runtime_dir() -> anyhow::Result<PathBuf> {
    let directory = workspace_root().join("target").join("xdg-runtime");
    std::fs::create_dir_all(&directory)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&directory, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(directory)
}

fn test(arguments: &[String]) -> anyhow::Result<()> {
    setup::run()?;
    run_command(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run_command(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    check_core_boundary()?;
    check_storage_boundary()?;
    // The end-to-end tests start the real binaries; build them first so they are current.
    run_command(cargo().args(["build", "--workspace", "--bins"]))?;
    // The .deb packages of those debug binaries: contents, metadata, units, install and purge.
    dist::build_and_check_debug()?;
    let runtime_dir = runtime_dir()?;
    // Everything on lavapipe (Vulkan), the way CI has it; a missing adapter fails, never skips.
    run_command(
        cargo()
            .args(["test", "--workspace"])
            .args(arguments)
            .env("WGPU_BACKEND", "vulkan")
            .env("XDG_RUNTIME_DIR", &runtime_dir),
    )?;
    // The render, window and video tests once more on llvmpipe (OpenGL through EGL): drivers
    // differ, pixels must not.
    run_command(
        cargo()
            // `--workspace` keeps feature unification as above, so nothing is rebuilt.
            .args([
                "test",
                "--workspace",
                "--test",
                "render",
                "--test",
                "window",
                "--test",
                "video",
            ])
            .env("WGPU_BACKEND", "gl")
            .env("XDG_RUNTIME_DIR", &runtime_dir),
    )?;
    // The scheduler's suite and the end-to-end tests that store anything at HQ once more on
    // PostgreSQL, the second backend: the same tests, each scheduler on a schema of its own.
    // In the temporary folder: as root, the server's own user must reach it, and a checkout
    // under /root is closed to it.
    let server = postgres::Server::start_with_tls(
        &std::env::temp_dir().join(format!("vitrine-postgres-{}", std::process::id())),
    )?;
    let server_ca = server.ca.clone().unwrap_or_default();
    let mut on_postgres = cargo();
    on_postgres.args(["test", "--workspace"]);
    for test in POSTGRES_TESTS {
        on_postgres.args(["--test", test]);
    }
    run_command(
        on_postgres
            .args(arguments)
            .env("VITRINE_TEST_POSTGRES", &server.url)
            .env("WGPU_BACKEND", "vulkan")
            .env("XDG_RUNTIME_DIR", &runtime_dir),
    )?;
    // What only PostgreSQL has, ignored in the first pass: two schedulers on one database (in
    // process: pushes, interrupts and a shared rate limit; and as replicas behind a balancer with
    // a real player and one replica killed), its storage's own tests (version races between
    // schedulers), and a database restart under load.
    run_command(
        cargo()
            .args([
                "test",
                "--workspace",
                "--lib",
                "--test",
                "events",
                "--test",
                "hardening",
            ])
            .args([
                "--test",
                "database_outage",
                "--test",
                "replicas",
                "--",
                "--ignored",
            ])
            .args(["replica", "storage::postgres", "database_restart"])
            .env("VITRINE_TEST_POSTGRES", &server.url)
            .env("VITRINE_TEST_POSTGRES_CA", &server_ca)
            .env("WGPU_BACKEND", "vulkan")
            .env("XDG_RUNTIME_DIR", &runtime_dir),
    )?;
    drop(server);
    // Media in an S3-compatible bucket (moto's server on loopback): the scheduler's suites that
    // store media once more, each scheduler under a prefix of its own in the test bucket.
    let s3 = s3::Server::start(
        &std::env::temp_dir().join(format!("vitrine-s3-{}", std::process::id())),
    )?;
    let mut on_s3 = cargo();
    // `--workspace`, as above, keeps feature unification, so nothing is rebuilt; only the
    // scheduler has these targets.
    on_s3.args(["test", "--workspace"]);
    for test in S3_TESTS {
        on_s3.args(["--test", test]);
    }
    run_command(on_s3.args(arguments).envs(s3.env()))?;
    drop(s3);
    // A short round of every fuzz target; `cargo xtask fuzz` runs the long one.
    fuzz::fuzz(20, fuzz::TARGETS)?;
    eprintln!("xtask: all checks passed");
    Ok(())
}

/// The test targets run a second time on PostgreSQL. `--test NAME` picks that target in every
/// package: the scheduler's API suites by name, and the end-to-end tests whose scheduler stores
/// plays, campaigns or pairings. Left out, as they check nothing a database changes: the
/// scheduler's `binary` (its SQLite file and flags) and `notify` (it locks the SQLite file to
/// see readiness fail), `connections` and `openapi`, and the end-to-end tests of the player alone.
const POSTGRES_TESTS: &[&str] = &[
    // crates/vitrine-scheduler/tests
    "api",
    "auth",
    "console",
    "console_hq",
    "events",
    "feed_fetch",
    "feeds",
    "hardening",
    "hq",
    "manifest_versions",
    "metrics",
    "plays",
    "screenshots",
    // tests/ (also the scheduler's own `tls`)
    "commands",
    "end_to_end",
    "fault_proxy",
    "kill_loop",
    "offline",
    "omnichannel",
    "pairing",
    "push",
    "resilience",
    "tls",
];

/// The scheduler's test targets run a third time with media in an S3-compatible bucket: those that
/// upload, download or collect media. The end-to-end tests keep the data folder's `media/` (one of
/// them corrupts a blob there by hand).
const S3_TESTS: &[&str] = &["media", "api", "auth", "feed_fetch", "hardening"];

/// The long kill loop: the end-to-end `kill_loop` test with more kills than CI runs.
fn kill_loop(arguments: &[String]) -> anyhow::Result<()> {
    let kills = arguments.first().map(String::as_str).unwrap_or("200");
    if kills.parse::<u32>().is_err() {
        bail!("kill-loop takes a number of kills, e.g. `cargo xtask kill-loop 200`");
    }
    setup::run()?;
    run_command(cargo().args(["build", "--workspace", "--bins"]))?;
    run_command(
        cargo()
            .args([
                "test",
                "--workspace",
                "--test",
                "kill_loop",
                "--",
                "--nocapture",
            ])
            .env("VITRINE_KILLS", kills)
            .env("WGPU_BACKEND", "vulkan")
            .env("XDG_RUNTIME_DIR", runtime_dir()?),
    )
}

/// The scheduler reaches its database only through the storage traits: no file outside
/// `src/storage/sqlite/` names the SQLite crates, none outside `src/storage/postgres/` the
/// PostgreSQL ones, and the traits in `src/storage/` name no HTTP type, so
/// another backend can sit behind them and handlers cannot reach around them.
fn check_storage_boundary() -> anyhow::Result<()> {
    const SQLITE: &[&str] = &["rusqlite", "deadpool_sqlite", "rusqlite_migration"];
    const POSTGRES: &[&str] = &["tokio_postgres", "deadpool_postgres", "refinery"];
    const HTTP: &[&str] = &["axum", "hyper", "tower"];
    let source = workspace_root().join("crates/vitrine-scheduler/src");
    let sqlite = source.join("storage/sqlite");
    let postgres = source.join("storage/postgres");
    let storage = source.join("storage");
    let mut offenders = Vec::new();
    let mut folders = vec![source.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)
            .with_context(|| format!("cannot list {}", folder.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut forbidden: Vec<&str> = Vec::new();
            if !path.starts_with(&sqlite) {
                forbidden.extend(SQLITE);
            }
            if !path.starts_with(&postgres) {
                forbidden.extend(POSTGRES);
            }
            if path.starts_with(&storage) {
                forbidden.extend(HTTP);
            }
            for (number, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for name in &forbidden {
                    if code.contains(&format!("{name}::")) {
                        offenders.push(format!(
                            "{}:{}: names `{name}`",
                            path.strip_prefix(workspace_root())
                                .unwrap_or(&path)
                                .display(),
                            number + 1
                        ));
                    }
                }
            }
        }
    }
    if !offenders.is_empty() {
        offenders.sort();
        bail!(
            "the scheduler's storage layer was bypassed; SQLite belongs in src/storage/sqlite/, \
             PostgreSQL in src/storage/postgres/ and HTTP types outside src/storage/:\n  {}",
            offenders.join("\n  ")
        );
    }
    eprintln!(
        "xtask: the scheduler reaches its databases only through src/storage/sqlite/ and \
         src/storage/postgres/"
    );
    Ok(())
}

/// vitrine-core and vitrine-wire do no I/O: their dependency trees must not contain a runtime, a
/// GPU, a window, a database or an HTTP crate.
fn check_core_boundary() -> anyhow::Result<()> {
    const FORBIDDEN: &[&str] = &[
        "tokio", "wgpu", "winit", "rusqlite", "reqwest", "axum", "hyper",
    ];
    // The domain and the HTTP bodies: every program links them, players included, so neither
    // may pull in a runtime, a network stack, a database or a window system (with every feature
    // on, since the scheduler builds them with `openapi`).
    for package in ["vitrine-core", "vitrine-wire"] {
        let output = cargo()
            .args([
                "tree",
                "-p",
                package,
                "--all-features",
                "--edges",
                "normal,build",
                "--prefix",
                "none",
                "--format",
                "{p}",
            ])
            .current_dir(workspace_root())
            .output()
            .context("cannot run cargo tree")?;
        if !output.status.success() {
            bail!(
                "cargo tree failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        let offenders: Vec<&str> = tree
            .lines()
            .filter(|line| {
                let name = line.split_whitespace().next().unwrap_or_default();
                FORBIDDEN.contains(&name)
            })
            .collect();
        if !offenders.is_empty() {
            bail!(
                "{package} must do no I/O, but its dependency tree now holds: {}",
                offenders.join(", ")
            );
        }
        eprintln!("xtask: {package}'s dependency tree is free of I/O crates");
    }
    Ok(())
}
