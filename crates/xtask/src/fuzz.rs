//! `cargo xtask fuzz [SECONDS] [TARGET...]`: the `cargo fuzz` targets in `fuzz/` (the playlist YAML
//! parser, the manifest decoder and the impression-batch decoder), each for SECONDS (CI runs a short
//! round of each inside `cargo xtask test`).
//!
//! cargo-fuzz is installed from crates.io when missing. It passes `-Z` flags (AddressSanitizer,
//! coverage counters) that only nightly compilers take; rather than require a second toolchain, the
//! pinned one is allowed them with `RUSTC_BOOTSTRAP=1`, for the fuzz build alone.

use std::process::Command;

use anyhow::{Context, bail};

use crate::{cargo, run_command, workspace_root};

pub const TARGETS: &[&str] = &[
    "playlist_yaml",
    "manifest_json",
    "impression_batch",
    "tokens",
];

/// The cargo-fuzz release this project's fuzz crate is written for.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

pub fn run(arguments: &[String]) -> anyhow::Result<()> {
    let seconds = match arguments.first() {
        Some(text) => text.parse::<u32>().with_context(|| {
            format!(
                "`{text}` is not a number of seconds; e.g. `cargo xtask fuzz 600 manifest_json`"
            )
        })?,
        None => 300,
    };
    let chosen: Vec<&str> = if arguments.len() > 1 {
        arguments[1..].iter().map(String::as_str).collect()
    } else {
        TARGETS.to_vec()
    };
    if let Some(unknown) = chosen.iter().find(|target| !TARGETS.contains(target)) {
        bail!(
            "no fuzz target `{unknown}`; the targets are {}",
            TARGETS.join(", ")
        );
    }
    fuzz(seconds, &chosen)
}

/// Builds the targets once, then runs each for `seconds`; fails on the first crash, naming the input
/// that caused it and how to replay it.
pub fn fuzz(seconds: u32, targets: &[&str]) -> anyhow::Result<()> {
    ensure_cargo_fuzz()?;
    run_command(fuzz_command().arg("build"))?;
    let root = workspace_root();
    for target in targets {
        // New inputs go to a scratch corpus under target/; the committed seeds are only read.
        let scratch = root.join("target").join("fuzz-corpus").join(target);
        std::fs::create_dir_all(&scratch)?;
        let seeds = root.join("fuzz").join("corpus").join(target);
        let output = fuzz_command()
            .args(["run", target])
            .arg(&scratch)
            .arg(&seeds)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-timeout=10",
                "-print_final_stats=1",
            ])
            .current_dir(&root)
            .output()
            .with_context(|| format!("cannot run the fuzz target {target}"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            eprintln!("{log}");
            bail!(
                "fuzz target {target} found a crash; the input is under fuzz/artifacts/{target}/ \
                 (replay it with `RUSTC_BOOTSTRAP=1 cargo fuzz run {target} fuzz/artifacts/{target}/<file>`)"
            );
        }
        eprintln!("xtask: fuzz {target}: {}", summary(&log));
    }
    Ok(())
}

/// libFuzzer's last status line and its final counters: runs, coverage and corpus size.
fn summary(log: &str) -> String {
    let done = log
        .lines()
        .rev()
        .find(|line| line.contains("\tDONE "))
        .and_then(|line| line.split_once("DONE"))
        .map_or("no summary line", |(_, counters)| counters);
    let runs = log
        .lines()
        .find(|line| line.starts_with("stat::number_of_executed_units:"))
        .and_then(|line| line.split(':').nth(3))
        .map(str::trim)
        .unwrap_or("?");
    format!("{runs} inputs, no crash; {}", done.trim())
}

fn fuzz_command() -> Command {
    let mut command = cargo();
    command
        .arg("fuzz")
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(workspace_root());
    command
}

fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .output()
        .map(|output| output.status.success())
        .unwrap_or(false);
    if !installed {
        eprintln!("xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION} from crates.io (once)");
        run_command(cargo().args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            CARGO_FUZZ_VERSION,
        ]))?;
    }
    Ok(())
}
