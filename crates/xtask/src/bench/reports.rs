//! Proof-of-play reports against DuckDB, on the release scheduler over loopback:
//!
//! - a campaign × store × day plays report over 100,080,000 generated plays (500 screens in 50
//!   stores, 30 days, 278 plays per screen and hour): `GET /v1/reports/plays` answered from the
//!   scheduler's rollups, p50/p99 of the whole HTTP round trip, against DuckDB grouping the same
//!   plays from one Parquet file, p50/p99 of the query in process. Both answers are compared group
//!   by group (plays, completed, delivered, seconds) before any time counts. The rollup rows are
//!   written straight into the scheduler's SQLite file, as ingest would have left them after those
//!   plays: 100 M plays through HTTP would take hours here. The tests prove that ingest leaves
//!   exactly these rows (rollups against a recount of the raw plays);
//! - the raw ad log: `GET /v1/reports/plays/export` of the 1,000,800 plays of one day on 150
//!   screens, as CSV, rows per second over loopback, against DuckDB's `COPY … TO` CSV of the same
//!   rows from the Parquet file. The row counts must match.
//!
//! DuckDB is the Python package, installed with pip when missing. The generated Parquet file is
//! kept under `target/bench/reports` between runs.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use rusqlite::params;

use super::net::{ADMIN_TOKEN, start_scheduler};
use super::{Figure, median, numbers, percentile};
use crate::{cargo, run_command};

const SCREENS: u32 = 500;
const STORES: u32 = 50;
const DAYS: u32 = 30;
const PLAYS_PER_HOUR: u32 = 278;
/// The screens and the day whose raw plays the export figure reads.
const EXPORT_SCREENS: u32 = 150;
const REPORT_REQUESTS: usize = 50;
const DUCKDB_QUERIES: usize = 10;
const EXPORT_ROUNDS: usize = 3;

/// One generated play, the `k`-th of its screen's hour; the DuckDB script writes the same.
struct Play {
    item: u32,
    campaign: &'static str,
    completed: bool,
    display_off: bool,
    duration_ms: u64,
}

fn play(k: u32) -> Play {
    let completed = !k.is_multiple_of(7);
    Play {
        item: k % 5,
        campaign: ["", "", "spring", "summer", "autumn"][(k % 5) as usize],
        completed,
        display_off: k.is_multiple_of(11),
        duration_ms: if completed { 10_000 } else { 4_000 },
    }
}

fn screen_name(screen: u32) -> String {
    format!("s{screen:03}")
}

fn store_name(screen: u32) -> String {
    format!("store-{:02}", screen % STORES)
}

fn day_name(day: u32) -> String {
    format!("2026-11-{:02}", day + 1)
}

const DUCKDB_SCRIPT: &str = r#"
import json, os, sys, time
import duckdb

parquet, csv_out, queries, export_rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
connection = duckdb.connect()
if not os.path.exists(parquet):
    connection.execute(f"""
        COPY (
            SELECT 's' || lpad(s.range::VARCHAR, 3, '0') AS screen,
                   'store-' || lpad((s.range % 50)::VARCHAR, 2, '0') AS store,
                   DATE '2026-11-01' + (h.range // 24)::INTEGER AS day,
                   (h.range % 24)::INTEGER AS hour,
                   (k.range % 5)::INTEGER AS item,
                   CASE k.range % 5 WHEN 2 THEN 'spring' WHEN 3 THEN 'summer'
                                    WHEN 4 THEN 'autumn' ELSE '' END AS campaign,
                   k.range % 7 <> 0 AS completed,
                   k.range % 11 = 0 AS display_off,
                   CASE WHEN k.range % 7 <> 0 THEN 10000 ELSE 4000 END AS duration_ms
            FROM range(500) s, range(720) h, range(278) k
        ) TO '{parquet}.part' (FORMAT parquet)""")
    os.rename(parquet + ".part", parquet)
report = f"""
    SELECT campaign, store, strftime(day, '%Y-%m-%d') AS day, count(*) AS plays,
           count(*) FILTER (WHERE completed) AS completed,
           count(*) FILTER (WHERE completed AND NOT display_off) AS delivered,
           sum(duration_ms) AS play_ms
    FROM read_parquet('{parquet}')
    WHERE day BETWEEN DATE '2026-11-01' AND DATE '2026-11-30'
    GROUP BY ALL"""
times, rows = [], []
for _ in range(queries):
    start = time.perf_counter()
    rows = connection.execute(report).fetchall()
    times.append((time.perf_counter() - start) * 1000.0)
export_rates, exported = [], 0
for _ in range(export_rounds):
    start = time.perf_counter()
    exported = connection.execute(f"""
        COPY (SELECT * FROM read_parquet('{parquet}')
              WHERE day = DATE '2026-11-01' AND screen < 's150')
        TO '{csv_out}' (HEADER)""").fetchone()[0]
    export_rates.append(exported / (time.perf_counter() - start))
print(json.dumps({
    "report_ms": times,
    "groups": [[c, s, d, p, co, de, ms] for (c, s, d, p, co, de, ms) in rows],
    "export_rows_per_s": export_rates,
    "exported": exported,
}))
"#;

pub fn figures(target: &Path) -> anyhow::Result<Vec<Figure>> {
    ensure_duckdb()?;
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vitrine-scheduler",
        "--bin",
        "vitrine-scheduler",
    ]))?;
    let scheduler_binary = target.join("release/vitrine-scheduler");
    let scratch = target.join("bench/reports");
    let data_dir = scratch.join("hq");
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&scratch)?;

    // The scheduler makes its database, then stops while the rollups are written into it.
    drop(start_scheduler(&scheduler_binary, &data_dir, &[])?);
    eprintln!(
        "xtask bench: writing the rollups of {} plays and the raw plays of one day",
        u64::from(SCREENS) * u64::from(DAYS) * 24 * u64::from(PLAYS_PER_HOUR)
    );
    let expected = write_rollups(&data_dir.join("vitrine.sqlite3"))?;

    eprintln!("xtask bench: DuckDB over the same plays from Parquet (made once, then kept)");
    let parquet = scratch.join("plays.parquet");
    let script = scratch.join("duckdb_peer.py");
    std::fs::write(&script, DUCKDB_SCRIPT)?;
    let output = Command::new("python3")
        .arg(&script)
        .arg(&parquet)
        .arg(scratch.join("duckdb-export.csv"))
        .arg(DUCKDB_QUERIES.to_string())
        .arg(EXPORT_ROUNDS.to_string())
        .output()
        .context("cannot run python3")?;
    if !output.status.success() {
        bail!(
            "the DuckDB peer failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let peer = String::from_utf8(output.stdout)?;
    let peer_json: serde_json::Value = serde_json::from_str(peer.trim())?;
    let peer_times = numbers(&peer, "report_ms")?;
    let peer_export = numbers(&peer, "export_rows_per_s")?;

    let (scheduler, server) = start_scheduler(&scheduler_binary, &data_dir, &[])?;
    let address = server
        .strip_prefix("http://")
        .context("the scheduler serves plain HTTP here")?
        .to_owned();
    let report_path = "/v1/reports/plays?group_by=campaign,store,day&from=2026-11-01&to=2026-11-30";

    // Work done: ours and DuckDB's answers agree, group by group, and with the generator.
    let (_, body) = get(&address, report_path)?;
    let ours: serde_json::Value = serde_json::from_slice(&body)?;
    check_report(&ours, &peer_json, &expected)?;

    eprintln!("xtask bench: {REPORT_REQUESTS} plays reports");
    let mut our_times = Vec::with_capacity(REPORT_REQUESTS);
    for _ in 0..REPORT_REQUESTS {
        let start = Instant::now();
        let (status, _) = get(&address, report_path)?;
        our_times.push(start.elapsed().as_secs_f64() * 1000.0);
        if status != 200 {
            bail!("the plays report answered {status}");
        }
    }

    let export_path = "/v1/reports/plays/export?from=2026-11-01&to=2026-11-01&format=csv";
    let expected_rows = u64::from(EXPORT_SCREENS) * 24 * u64::from(PLAYS_PER_HOUR);
    let mut our_export = Vec::new();
    for round in 1..=EXPORT_ROUNDS {
        eprintln!("xtask bench: raw ad log export, round {round} of {EXPORT_ROUNDS}");
        let start = Instant::now();
        let (status, body) = get(&address, export_path)?;
        let seconds = start.elapsed().as_secs_f64();
        if status != 200 {
            bail!("the export answered {status}");
        }
        let rows = body.iter().filter(|byte| **byte == b'\n').count() as u64 - 1;
        if rows != expected_rows {
            bail!("the export gave {rows} rows, not the {expected_rows} stored");
        }
        our_export.push(rows as f64 / seconds);
    }
    let peer_exported = peer_json["exported"].as_u64().unwrap_or(0);
    if peer_exported != expected_rows {
        bail!("DuckDB exported {peer_exported} rows, not {expected_rows}");
    }
    drop(scheduler);

    let (ours_p50, ours_p99) = (median(&our_times), percentile(&our_times, 0.99));
    let (peer_p50, peer_p99) = (median(&peer_times), percentile(&peer_times, 0.99));
    let (ours_rate, peer_rate) = (median(&our_export), median(&peer_export));
    Ok(vec![
        Figure {
            name: "plays_report_100M_campaign_store_day_p50",
            unit: "ms, HTTP round trip vs in-process query",
            ours: ours_p50,
            peer: peer_p50,
            peer_name: "DuckDB over the same plays in Parquet",
            goal: "<= 1x DuckDB".into(),
            pass: ours_p50 <= peer_p50,
        },
        Figure {
            name: "plays_report_100M_campaign_store_day_p99",
            unit: "ms",
            ours: ours_p99,
            peer: peer_p99,
            peer_name: "DuckDB over the same plays in Parquet",
            goal: "<= 1x DuckDB".into(),
            pass: ours_p99 <= peer_p99,
        },
        Figure {
            name: "ad_log_export_csv_rows_per_s",
            unit: "rows/s, 1,000,800 plays; ours 30 columns over HTTP, DuckDB's 9 to a file",
            ours: ours_rate,
            peer: peer_rate,
            peer_name: "DuckDB COPY TO csv",
            goal: ">= 0.5x DuckDB".into(),
            pass: ours_rate >= 0.5 * peer_rate,
        },
    ])
}

/// Installs DuckDB's Python package when it is missing.
fn ensure_duckdb() -> anyhow::Result<()> {
    let present = Command::new("python3")
        .args(["-c", "import duckdb"])
        .output()
        .map(|output| output.status.success())
        .unwrap_or(false);
    if !present {
        run_command(Command::new("python3").args(["-m", "pip", "install", "--quiet", "duckdb"]))
            .context("cannot install DuckDB's Python package with pip")?;
    }
    Ok(())
}

/// Per campaign, store and day: plays, completed, delivered, milliseconds.
type Expected = std::collections::BTreeMap<(String, String, String), [u64; 4]>;

/// Writes the hourly and daily rollups of every generated play, and the raw plays of the export's
/// screens and day, as ingest stores them; returns the campaign × store × day figures.
fn write_rollups(database: &Path) -> anyhow::Result<Expected> {
    // Every screen's hour is alike: its plays per item (and so per campaign).
    let mut per_item = [[0u64; 5]; 5];
    for k in 0..PLAYS_PER_HOUR {
        let play = play(k);
        let sums = &mut per_item[play.item as usize];
        sums[0] += 1;
        sums[1] += u64::from(play.completed);
        sums[2] += u64::from(play.completed && !play.display_off);
        sums[3] += u64::from(play.display_off);
        sums[4] += play.duration_ms;
    }
    let campaign_of = |item: usize| play(item as u32).campaign;
    let mut connection = rusqlite::Connection::open(database)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "OFF")?;
    // The generated screens are not registered: no report or export reads the screens table.
    connection.pragma_update(None, "foreign_keys", "OFF")?;
    let transaction = connection.transaction()?;
    let mut expected = Expected::new();
    {
        let mut hourly = transaction.prepare(
            "INSERT INTO play_rollups VALUES
                 (?1, ?2, ?3, 'main', 'lobby', ?4, '', ?5, '', '', 'other',
                  ?6, ?7, ?8, ?9, ?10, ?8 * 1000, 0)",
        )?;
        let mut daily = transaction.prepare(
            "INSERT INTO play_rollups_daily VALUES
                 (?1, ?2, ?3, 'main', ?4, '', '', 'other', ?5, ?6, ?7, ?8, ?9, ?7 * 1000, 0)",
        )?;
        for screen in 0..SCREENS {
            let (name, store) = (screen_name(screen), store_name(screen));
            for day in 0..DAYS {
                let day_text = day_name(day);
                let mut by_campaign: std::collections::BTreeMap<&str, [u64; 5]> =
                    Default::default();
                for hour in 0..24 {
                    let local_hour = format!("{day_text}T{hour:02}");
                    for (item, sums) in per_item.iter().enumerate() {
                        hourly.execute(params![
                            local_hour,
                            name,
                            store,
                            format!("item-{item}"),
                            campaign_of(item),
                            sums[0] as i64,
                            sums[1] as i64,
                            sums[2] as i64,
                            sums[3] as i64,
                            sums[4] as i64,
                        ])?;
                        let day_sums = by_campaign.entry(campaign_of(item)).or_default();
                        for (total, value) in day_sums.iter_mut().zip(sums) {
                            *total += value;
                        }
                    }
                }
                for (campaign, sums) in by_campaign {
                    daily.execute(params![
                        day_text,
                        name,
                        store,
                        campaign,
                        sums[0] as i64,
                        sums[1] as i64,
                        sums[2] as i64,
                        sums[3] as i64,
                        sums[4] as i64,
                    ])?;
                    let entry = expected
                        .entry((campaign.to_owned(), store.clone(), day_text.clone()))
                        .or_default();
                    entry[0] += sums[0];
                    entry[1] += sums[1];
                    entry[2] += sums[2];
                    entry[3] += sums[4];
                }
            }
        }
        let mut raw = transaction.prepare(
            "INSERT INTO impressions (id, screen, playlist, playlist_version, item_id,
                 media_sha256, started_at, duration_ms, sequence, zone, scheduled_start, ended_at,
                 completed, clock, store, local_hour, campaign, display, manifest_version,
                 player_version, chain)
             VALUES (?1, ?2, 'lobby', 1, ?3, NULL, ?4, ?5, ?6, 'main', ?4, ?7, ?8, 'synced', ?9,
                     ?10, ?11, ?12, 1, '0.1.0', 'linked')",
        )?;
        for screen in 0..EXPORT_SCREENS {
            let (name, store) = (screen_name(screen), store_name(screen));
            for hour in 0..24u32 {
                for k in 0..PLAYS_PER_HOUR {
                    let play = play(k);
                    let second = k * 12;
                    let start = format!(
                        "2026-11-01T{hour:02}:{:02}:{:02}.000000000Z",
                        second / 60,
                        second % 60
                    );
                    let end_second = second + (play.duration_ms / 1000) as u32;
                    let end = format!(
                        "2026-11-01T{hour:02}:{:02}:{:02}.000000000Z",
                        (end_second / 60).min(59),
                        end_second % 60
                    );
                    let sequence = hour * PLAYS_PER_HOUR + k + 1;
                    raw.execute(params![
                        format!("{name}-{sequence:07}"),
                        name,
                        format!("item-{}", play.item),
                        start,
                        play.duration_ms as i64,
                        sequence,
                        end,
                        play.completed,
                        store,
                        format!("2026-11-01T{hour:02}"),
                        play.campaign,
                        if play.display_off { "off" } else { "on" },
                    ])?;
                }
            }
        }
    }
    transaction.commit()?;
    Ok(expected)
}

/// Compares the scheduler's report with DuckDB's and with the generator, group by group.
fn check_report(
    ours: &serde_json::Value,
    peer: &serde_json::Value,
    expected: &Expected,
) -> anyhow::Result<()> {
    let mut reported = Expected::new();
    for row in ours["rows"].as_array().context("the report has no rows")? {
        let key = &row["key"];
        let text = |index: usize| key[index].as_str().unwrap_or_default().to_owned();
        reported.insert(
            (text(0), text(1), text(2)),
            [
                row["plays"].as_u64().unwrap_or(0),
                row["completed_plays"].as_u64().unwrap_or(0),
                row["delivered_plays"].as_u64().unwrap_or(0),
                (row["play_seconds"].as_f64().unwrap_or(0.0) * 1000.0).round() as u64,
            ],
        );
    }
    let mut duckdb = Expected::new();
    for group in peer["groups"].as_array().context("DuckDB gave no groups")? {
        let text = |index: usize| group[index].as_str().unwrap_or_default().to_owned();
        let number = |index: usize| group[index].as_u64().unwrap_or(0);
        duckdb.insert(
            (text(0), text(1), text(2)),
            [number(3), number(4), number(5), number(6)],
        );
    }
    if &reported != expected {
        bail!("the plays report does not give the generated plays' figures");
    }
    if &duckdb != expected {
        bail!("DuckDB does not give the generated plays' figures");
    }
    let plays: u64 = reported.values().map(|sums| sums[0]).sum();
    eprintln!(
        "xtask bench: both answers agree on {} groups and {plays} plays",
        reported.len()
    );
    Ok(())
}

/// `GET path` over HTTP/1.1 as the admin; the status and the whole body (chunked bodies decoded).
fn get(address: &str, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut stream = std::net::TcpStream::connect(address)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Connection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no status")?;
    let body = &response[split + 4..];
    if head.contains("transfer-encoding: chunked") {
        Ok((status, dechunk(body)?))
    } else {
        Ok((status, body.to_vec()))
    }
}

pub(super) fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|window| window == b"\r\n")
            .context("a chunk without its size line")?;
        let size_text = std::str::from_utf8(&body[..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(body.get(..size).context("a chunk cut short")?);
        body = body.get(size + 2..).context("a chunk cut short")?;
    }
}
