//! The product-feed figures, on the release scheduler binary:
//!
//! - import throughput: a generated Merchant Center RSS feed of [`ITEMS`] products, served over
//!   HTTP on loopback and fetched by the scheduler as a feed registered by URL (the real job:
//!   download, stream parse, check, store and diff), in items per second from the fetch request
//!   to its answer, against quick-xml alone reading every event of the same file (the floor,
//!   `examples/feed_bench.rs floor`), A B interleaved. Each round starts a fresh scheduler, so each
//!   import stores every product anew, and checks that all of them were applied;
//! - the scheduler's peak RSS over that import (`VmHWM`), against the 200 MB limit;
//! - price change → screen: HQ uploads a feed with a new price and one simulated player on an
//!   offer screen holds a verified manifest whose card shows it, p50/p99 over [`PRICE_CHANGES`]
//!   changes, against the 2 s limit.
//!
//! `VITRINE_BENCH_QUICK=1` imports [`QUICK_ITEMS`] products instead, to check the bench works.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

use super::net::{ADMIN_TOKEN, Guard, start_scheduler};
use super::{Figure, median, numbers, quick, rounds};
use crate::{cargo, run_command};

const ITEMS: usize = 1_000_000;
const QUICK_ITEMS: usize = 100_000;
const PRICE_CHANGES: usize = 100;
const RSS_LIMIT_MB: f64 = 200.0;
const PRICE_LIMIT_MS: f64 = 2000.0;
/// The scheduler may fetch the feed from the bench's own server on loopback, and HQ's uploads
/// are not rate-limited.
const FEED_SCHEDULER: &[&str] = &["--feed-allow", "127.0.0.1", "--rate-limit-per-second", "0"];

/// The peak resident set of a process so far, in MB.
fn peak_rss_mb(process: &Child) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", process.id()))?;
    let kilobytes: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/PID/status")?;
    Ok(kilobytes / 1024.0)
}

pub fn figures(target: &Path) -> anyhow::Result<Vec<Figure>> {
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vitrine-scheduler",
        "--bin",
        "vitrine-scheduler",
        "--example",
        "feed_bench",
    ]))?;
    let scheduler_binary = target.join("release/vitrine-scheduler");
    let feed_bench = target.join("release/examples/feed_bench");
    let scratch = target.join("bench/feed");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let items = if quick() { QUICK_ITEMS } else { ITEMS };
    let feed = scratch.join("feed.xml");
    eprintln!("xtask bench: generating a feed of {items} products");
    let generated = Command::new(&feed_bench)
        .args(["generate", "--items", &items.to_string(), "--out"])
        .arg(&feed)
        .output()?;
    if !generated.status.success() {
        bail!("feed_bench generate failed");
    }

    let mut served = Guard(
        Command::new(&feed_bench)
            .args(["serve", "--file"])
            .arg(&feed)
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start the feed server")?,
    );
    let url = BufReader::new(served.0.stdout.take().context("server stdout")?)
        .lines()
        .next()
        .context("the feed server exited at once")??;

    let mut ours = Vec::new();
    let mut floor = Vec::new();
    let mut rss = Vec::new();
    for round in 1..=rounds() {
        eprintln!("xtask bench: feed import round {round} of {}", rounds());
        let (scheduler, server) = start_scheduler(
            &scheduler_binary,
            &scratch.join(format!("hq-{round}")),
            FEED_SCHEDULER,
        )?;
        let output = Command::new(&feed_bench)
            .args([
                "import-url",
                "--server",
                &server,
                "--admin",
                ADMIN_TOKEN,
                "--url",
                &url,
            ])
            .stderr(Stdio::inherit())
            .output()?;
        if !output.status.success() {
            bail!("feed_bench import-url failed ({})", output.status);
        }
        let output = String::from_utf8_lossy(&output.stdout);
        let (seconds, applied, added) = (
            numbers(&output, "seconds")?[0],
            numbers(&output, "applied")?[0],
            numbers(&output, "added")?[0],
        );
        if applied != items as f64 || added != items as f64 {
            bail!("the import applied {applied} and added {added} of {items} products");
        }
        ours.push(items as f64 / seconds);
        rss.push(peak_rss_mb(&scheduler.0)?);
        drop(scheduler);
        let output = Command::new(&feed_bench)
            .args(["floor", "--file"])
            .arg(&feed)
            .output()?;
        let output = String::from_utf8_lossy(&output.stdout);
        let counted = numbers(&output, "items")?;
        if counted.first().copied() != Some(items as f64) {
            bail!("the floor counted {counted:?} items of {items}");
        }
        floor.push(items as f64 / numbers(&output, "seconds")?[0]);
    }
    drop(served);

    eprintln!("xtask bench: price change to a simulated player, {PRICE_CHANGES} changes");
    let (scheduler, server) =
        start_scheduler(&scheduler_binary, &scratch.join("hq-price"), FEED_SCHEDULER)?;
    let output = Command::new(&feed_bench)
        .args(["price-push", "--server", &server, "--admin", ADMIN_TOKEN])
        .args(["--changes", &PRICE_CHANGES.to_string()])
        .stderr(Stdio::inherit())
        .output()?;
    drop(scheduler);
    if !output.status.success() {
        bail!("feed_bench price-push failed ({})", output.status);
    }
    let output = String::from_utf8_lossy(&output.stdout);
    let (p50, p99) = (
        numbers(&output, "p50_ms")?[0],
        numbers(&output, "p99_ms")?[0],
    );

    let (ours, floor, rss) = (median(&ours), median(&floor), median(&rss));
    let name_items: &'static str = if quick() {
        "feed_import_items_per_s_100k_quick"
    } else {
        "feed_import_items_per_s_1m"
    };
    let name_rss: &'static str = if quick() {
        "feed_import_peak_rss_mb_100k_quick"
    } else {
        "feed_import_peak_rss_mb_1m"
    };
    Ok(vec![
        Figure {
            name: name_items,
            unit: "items/s",
            ours,
            peer: floor,
            peer_name: "quick-xml alone reading the same file (the floor)",
            goal: "ratio >= 0.5".into(),
            pass: ours >= 0.5 * floor,
        },
        Figure {
            name: name_rss,
            unit: "MB",
            ours: rss,
            peer: RSS_LIMIT_MB,
            peer_name: "the 200 MB limit",
            goal: "< 200 MB".into(),
            pass: rss < RSS_LIMIT_MB,
        },
        Figure {
            name: "price_change_p50_simulated_player",
            unit: "ms",
            ours: p50,
            peer: PRICE_LIMIT_MS,
            peer_name: "the 2 s limit",
            goal: "<= 2000 ms".into(),
            pass: p50 <= PRICE_LIMIT_MS,
        },
        Figure {
            name: "price_change_p99_simulated_player",
            unit: "ms",
            ours: p99,
            peer: PRICE_LIMIT_MS,
            peer_name: "the 2 s limit",
            goal: "<= 2000 ms".into(),
            pass: p99 <= PRICE_LIMIT_MS,
        },
    ])
}
