//! The web console's fleet page with 10,000 screens, on the release scheduler over loopback:
//! the whole request for the first page and for a filtered page (one store's online screens), p50
//! and p99, signed in with a session cookie as a browser is, against the floor: the same rows read
//! with one raw SQLite query each (the count and the page) on the same database file.
//!
//! The 10,000 screens, their stores and their heartbeats are written straight into the scheduler's
//! SQLite file before it starts, as registration and heartbeats would have left them: that is the
//! set-up, not what is timed. Before any time counts, each page must hold the rows the generator
//! says it should (50 on the first page; every online screen of the store on the filtered one) and
//! name the total. The scheduler runs without rate limits for this.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use rusqlite::params;

use super::net::{ADMIN_TOKEN, start_scheduler};
use super::{Figure, median, percentile};
use crate::{cargo, run_command};

const SCREENS: u32 = 10_000;
const STORES: u32 = 100;
const REQUESTS: usize = 200;
/// The store the filtered page asks for.
const FILTER_STORE: u32 = 42;

fn store_code(store: u32) -> String {
    format!("store-{store:03}")
}

/// Every other screen of each store heard from a few seconds ago (online), the rest an hour ago.
fn online(screen: u32) -> bool {
    (screen / STORES).is_multiple_of(2)
}

pub fn figures(target: &Path) -> anyhow::Result<Vec<Figure>> {
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vitrine-scheduler",
        "--bin",
        "vitrine-scheduler",
    ]))?;
    let binary = target.join("release/vitrine-scheduler");
    let scratch = target.join("bench/console");
    let data_dir = scratch.join("hq");
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&scratch)?;
    // The scheduler makes its database, then stops while the fleet is written into it.
    drop(start_scheduler(&binary, &data_dir, &[])?);
    let database = data_dir.join("vitrine.sqlite3");
    eprintln!("xtask bench: writing {SCREENS} screens in {STORES} stores, with heartbeats");
    write_fleet(&database)?;

    // Without rate limits: the bench's hundreds of pages a second from one address are not a
    // person's.
    let (scheduler, server) =
        start_scheduler(&binary, &data_dir, &["--rate-limit-per-second", "0"])?;
    let address = server
        .strip_prefix("http://")
        .context("the scheduler serves plain HTTP here")?
        .to_owned();
    let cookie = sign_in(&address)?;
    let first_path = "/console/fleet";
    let filtered_path = format!(
        "/console/fleet?store={}&state=online",
        store_code(FILTER_STORE)
    );
    let expected_filtered = (0..SCREENS)
        .filter(|screen| screen % STORES == FILTER_STORE && online(*screen))
        .count();

    // Work done: the pages hold what the generator wrote.
    let first = page(&address, first_path, &cookie)?;
    check_page(&first, 50, SCREENS as usize)?;
    let filtered = page(&address, &filtered_path, &cookie)?;
    check_page(&filtered, expected_filtered.min(50), expected_filtered)?;

    let floor = rusqlite::Connection::open_with_flags(
        &database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    // Read as the scheduler's connections read: through a memory map of the file.
    floor.pragma_update(None, "mmap_size", 1i64 << 30)?;
    let online_since = jiff_like_now_minus_minutes(2);
    // The floor's rows must be the page's rows.
    let (floor_total, floor_rows) = floor_page(&floor, None, &online_since)?;
    if floor_total != u64::from(SCREENS) || floor_rows != 50 {
        bail!("the floor read {floor_rows} rows of {floor_total}");
    }
    let (floor_filtered, _) = floor_page(&floor, Some(FILTER_STORE), &online_since)?;
    if floor_filtered != expected_filtered as u64 {
        bail!("the floor counted {floor_filtered} filtered screens, not {expected_filtered}");
    }

    eprintln!("xtask bench: {REQUESTS} fleet pages of each kind, ours and the floor interleaved");
    let mut times = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..REQUESTS {
        let start = Instant::now();
        let body = page(&address, first_path, &cookie)?;
        times[0].push(start.elapsed().as_secs_f64() * 1000.0);
        if body.matches("data-screen=").count() != 50 {
            bail!("a first page without its 50 rows");
        }
        let start = Instant::now();
        floor_page(&floor, None, &online_since)?;
        times[1].push(start.elapsed().as_secs_f64() * 1000.0);
        let start = Instant::now();
        let body = page(&address, &filtered_path, &cookie)?;
        times[2].push(start.elapsed().as_secs_f64() * 1000.0);
        if body.matches("data-screen=").count() != expected_filtered.min(50) {
            bail!("a filtered page without its rows");
        }
        let start = Instant::now();
        floor_page(&floor, Some(FILTER_STORE), &online_since)?;
        times[3].push(start.elapsed().as_secs_f64() * 1000.0);
    }
    drop(scheduler);

    let figure = |name, unit, ours: &[f64], peer: &[f64], p99: bool| {
        let (ours, peer) = if p99 {
            (percentile(ours, 0.99), percentile(peer, 0.99))
        } else {
            (median(ours), median(peer))
        };
        Figure {
            name,
            unit,
            ours,
            peer,
            peer_name: "the same rows by one raw SQLite query (count + page)",
            goal: if p99 {
                "<= 3x floor, < 100 ms".into()
            } else {
                "<= 3x floor".into()
            },
            pass: ours <= 3.0 * peer && (!p99 || ours < 100.0),
        }
    };
    Ok(vec![
        figure(
            "console_fleet_10k_first_page_p50",
            "ms, HTTP round trip with a session vs in-process query",
            &times[0],
            &times[1],
            false,
        ),
        figure(
            "console_fleet_10k_first_page_p99",
            "ms",
            &times[0],
            &times[1],
            true,
        ),
        figure(
            "console_fleet_10k_filtered_page_p50",
            "ms, one store's online screens",
            &times[2],
            &times[3],
            false,
        ),
        figure(
            "console_fleet_10k_filtered_page_p99",
            "ms",
            &times[2],
            &times[3],
            true,
        ),
    ])
}

/// The time two minutes ago, as the scheduler stores times (fixed-width RFC 3339, UTC).
fn jiff_like_now_minus_minutes(minutes: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .saturating_sub(minutes * 60);
    sortable(now)
}

/// Seconds since the epoch as the scheduler's stored time text.
fn sortable(seconds: u64) -> String {
    let days = seconds / 86_400;
    let (hour, minute, second) = (seconds % 86_400 / 3600, seconds % 3600 / 60, seconds % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.000000000Z")
}

fn write_fleet(database: &Path) -> anyhow::Result<()> {
    let mut connection = rusqlite::Connection::open(database)?;
    let transaction = connection.transaction()?;
    {
        let mut store = transaction.prepare(
            "INSERT INTO stores (code, name, region, tags, timezone, locale, currency)
             VALUES (?1, ?1, ?2, '[]', 'Europe/Paris', 'fr-FR', 'EUR')",
        )?;
        for index in 0..STORES {
            store.execute(params![store_code(index), format!("region-{}", index % 7)])?;
        }
        let mut screen = transaction.prepare(
            "INSERT INTO screens (name, token_sha256, playlist, store, tags)
             VALUES (?1, ?2, 'lobby', ?3, ?4)",
        )?;
        let mut status = transaction
            .prepare("INSERT INTO screen_status (screen, received_at, body) VALUES (?1, ?2, ?3)")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        for index in 0..SCREENS {
            let name = format!("screen-{index:05}");
            screen.execute(params![
                name,
                format!("{index:064x}"),
                store_code(index % STORES),
                if index % 3 == 0 {
                    r#"["entrance"]"#
                } else {
                    r#"["aisle"]"#
                }
            ])?;
            let heard = if online(index) { now - 5 } else { now - 3600 };
            let body = serde_json::json!({
                "playlist": "lobby",
                "playlist_version": 1,
                "uptime_s": 3600,
                "unsent_impressions": index % 4,
                "manifest_version": 1,
                "showing": [{"zone": "main", "item": format!("item-{}", index % 9)}],
                "frames": {
                    "frames": 100_000, "refresh_ms": 16.7, "frame_time_p50_ms": 4.0,
                    "frame_time_p99_ms": 9.5, "frame_time_max_ms": 20.0,
                    "missed_refreshes": index % 5, "transition_gaps": 0,
                    "items_started": 900, "late_items": 0,
                    "first_frame_latency_p50_ms": 3.0, "first_frame_latency_max_ms": 8.0
                },
                "alerts": if index % 50 == 0 { vec!["proof of play is piling up"] } else { vec![] },
            });
            status.execute(params![name, sortable(heard), body.to_string()])?;
        }
    }
    transaction.commit()?;
    Ok(())
}

/// The fleet query the console makes, run raw: the count, then the page, every column read.
fn floor_page(
    connection: &rusqlite::Connection,
    store: Option<u32>,
    online_since: &str,
) -> anyhow::Result<(u64, usize)> {
    let (condition, values): (&str, Vec<String>) = match store {
        None => ("1 = 1", Vec::new()),
        Some(store) => (
            "s.store = ?1 AND h.received_at >= ?2",
            vec![store_code(store), online_since.to_owned()],
        ),
    };
    let from = "FROM screens s LEFT JOIN stores st ON st.code = s.store
                LEFT JOIN screen_status h ON h.screen = s.name";
    let total: i64 = connection
        .prepare_cached(&format!("SELECT COUNT(*) {from} WHERE {condition}"))?
        .query_row(rusqlite::params_from_iter(values.iter()), |row| row.get(0))?;
    let mut statement = connection.prepare_cached(&format!(
        "SELECT s.name, s.playlist, s.store, COALESCE(st.region, ''), s.tags,
                COALESCE(st.tags, '[]'), s.revoked_at IS NOT NULL, h.received_at, h.body,
                (SELECT MAX(version) FROM playlists p WHERE p.name = s.playlist)
         {from} WHERE {condition} ORDER BY s.name LIMIT 50 OFFSET 0"
    ))?;
    let mut rows = statement.query(rusqlite::params_from_iter(values.iter()))?;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        let _: (String, String, Option<String>, String, String, String, bool) = (
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
            row.get(6)?,
        );
        let _: (Option<String>, Option<String>, Option<i64>) =
            (row.get(7)?, row.get(8)?, row.get(9)?);
        count += 1;
    }
    Ok((u64::try_from(total)?, count))
}

fn check_page(body: &str, rows: usize, total: usize) -> anyhow::Result<()> {
    let found = body.matches("data-screen=").count();
    let total_text = format!("{total} screen");
    if found != rows || !body.contains(&total_text) {
        bail!("the fleet page has {found} rows (wanted {rows}) and does not say `{total_text}`");
    }
    Ok(())
}

/// Signs in to the console with the admin token; returns the session cookie.
fn sign_in(address: &str) -> anyhow::Result<String> {
    let body = format!("token={ADMIN_TOKEN}&next=%2Fconsole%2Ffleet");
    let (status, head, _) = send(
        address,
        &format!(
            "POST /console/sign-in HTTP/1.1\r\nHost: {address}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ),
    )?;
    if status != 303 {
        bail!("signing in answered {status}");
    }
    head.lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .and_then(|cookie| cookie.split(';').next())
        .map(str::to_owned)
        .context("signing in set no cookie")
}

fn page(address: &str, path: &str, cookie: &str) -> anyhow::Result<String> {
    let (status, _, body) = send(
        address,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\n\
             Connection: close\r\n\r\n"
        ),
    )?;
    if status != 200 {
        bail!("{path} answered {status}");
    }
    Ok(String::from_utf8(body)?)
}

/// Sends one raw HTTP/1.1 request; returns the status, the head in lower case (cookies keep
/// their case in the value, which is all that is used of it) and the body.
fn send(address: &str, request: &str) -> anyhow::Result<(u16, String, Vec<u8>)> {
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .context("no end of headers")?;
    let head: String = String::from_utf8_lossy(&response[..split])
        .lines()
        .map(|line| match line.split_once(": ") {
            Some((name, value)) => format!("{}: {value}\n", name.to_ascii_lowercase()),
            None => format!("{line}\n"),
        })
        .collect();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no status")?;
    let body = &response[split + 4..];
    if head.contains("transfer-encoding: chunked") {
        Ok((status, head, super::reports::dechunk(body)?))
    } else {
        Ok((status, head, body.to_vec()))
    }
}
