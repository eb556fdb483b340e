//! HQ commands that talk to the scheduler: importing stores, segments and product feeds, pushing and
//! reading campaigns, listing screens and reading the scan report.
//!
//! Imports send the file whole (`POST /v1/stores`, `/v1/segments`, `/v1/feed/inventory`; a product
//! feed streams as the raw body of `/v1/feed/upload`); the scheduler reads it row by row, applies every good row and reports
//! each skipped one with its line, which is printed here as `FILE:LINE: reason`. Since a skipped row
//! usually means a broken export, the command then exits 1, after the rest has been applied.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde::de::DeserializeOwned;
use serde_json::Value;
use vitrine_core::campaign::Layer;
use vitrine_core::{Campaign, Heartbeat, parse_campaign};
use vitrine_wire::campaigns::{CampaignDetail, CampaignList, PushCampaign};
use vitrine_wire::imports::{
    FeedDiff, FeedList, FeedRegistration, FeedReport, FetchOutcome, ImportFile, RefusedStore,
    SkippedRow,
};
use vitrine_wire::plays::ScanReport;
use vitrine_wire::screens::{ScreenList, ScreenStatus};

use crate::ServerArgs;
use crate::client::{connect, print_server_diagnostics};
use crate::push::{sha256_of_file, upload_media};

/// What an import sends.
#[derive(Clone, Copy, Debug)]
pub enum ImportKind {
    Stores,
    Segments,
    Audience,
    Feed,
    Inventory,
}

/// How many ids of each kind of change an import prints.
const SHOWN_IDS: usize = 10;

/// One line per kind of change that happened, like `  price changed: 2 (a, b)`.
fn diff_lines(diff: &FeedDiff) -> Vec<String> {
    let mut lines = Vec::new();
    for (label, changed) in [
        ("added", &diff.added),
        ("removed", &diff.removed),
        ("price changed", &diff.price_changed),
        ("out of stock", &diff.out_of_stock),
        ("back in stock", &diff.back_in_stock),
        ("other changes", &diff.other_changes),
    ] {
        if changed.count == 0 {
            continue;
        }
        // A few ids say enough on a terminal; `--json` callers read the server's list.
        let shown = &changed.ids[..changed.ids.len().min(SHOWN_IDS)];
        let more = changed.count.saturating_sub(shown.len());
        let mut ids = shown.join(", ");
        if more > 0 {
            ids.push_str(&format!(" and {more} more"));
        }
        lines.push(format!("  {label}: {} ({ids})", changed.count));
    }
    lines.push(format!("  unchanged: {}", diff.unchanged));
    lines
}

fn file_name_of(path: &Path) -> anyhow::Result<&str> {
    path.file_name()
        .and_then(|name| name.to_str())
        .with_context(|| format!("{} has no file name in UTF-8", path.display()))
}

/// Sends one file to an import endpoint and prints what it did. `replace` is for product feeds
/// only: products of earlier uploads the file leaves out are removed.
pub async fn import(
    kind: ImportKind,
    path: &Path,
    replace: bool,
    server: &ServerArgs,
) -> anyhow::Result<ExitCode> {
    let file_name = file_name_of(path)?;
    let client = connect(server)?;
    let read_file = || -> anyhow::Result<ImportFile> {
        let source = std::fs::read_to_string(path)
            .with_context(|| format!("could not read {}", path.display()))?;
        Ok(ImportFile {
            file_name: file_name.to_owned(),
            source,
        })
    };
    let refused = || format!("the server refused {}", path.display());
    let report = match kind {
        ImportKind::Stores | ImportKind::Segments | ImportKind::Audience => {
            let file = read_file()?;
            let report = match kind {
                ImportKind::Stores => client.import_stores(&file).await,
                ImportKind::Segments => client.import_segments(&file).await,
                _ => client.import_audience(&file).await,
            }
            .with_context(refused)?;
            FeedReport {
                applied: report.applied,
                skipped: report.skipped,
                ..FeedReport::default()
            }
        }
        ImportKind::Inventory => client
            .import_inventory(&read_file()?)
            .await
            .with_context(refused)?,
        ImportKind::Feed => {
            // A product feed goes as the raw body, streamed from the file: however large,
            // neither side holds it whole.
            let file = tokio::fs::File::open(path)
                .await
                .with_context(|| format!("could not read {}", path.display()))?;
            let length = file
                .metadata()
                .await
                .with_context(|| format!("could not read the size of {}", path.display()))?
                .len();
            let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
                file,
                256 * 1024,
            ));
            client
                .upload_feed(file_name, replace, length, body)
                .await
                .with_context(refused)?
        }
    };
    let label = path.display().to_string();
    let with_diff = !matches!(
        kind,
        ImportKind::Stores | ImportKind::Segments | ImportKind::Audience
    );
    print_report(&label, &report, with_diff);
    Ok(if report.skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints what an import did: each skipped row on stderr as `LABEL:LINE: skipped: reason`, the
/// stores that will not show some products, the counts and, with `with_diff`, what changed.
fn print_report(label: &str, report: &FeedReport, with_diff: bool) {
    print_skipped(label, &report.skipped, &report.refused_stores);
    if report.skipped_more > 0 {
        eprintln!("{label}: {} more rows skipped", report.skipped_more);
    }
    println!(
        "{label}: {} applied, {} skipped",
        report.applied,
        report.skipped.len() + report.skipped_more
    );
    if with_diff {
        for line in diff_lines(&report.diff) {
            println!("{line}");
        }
    }
}

fn print_skipped(label: &str, skipped: &[SkippedRow], refused_stores: &[RefusedStore]) {
    for row in skipped {
        eprintln!("{label}:{}: skipped: {}", row.line, row.reason);
    }
    for store in refused_stores {
        eprintln!("{label}: warning: {}", store.reason);
    }
}

/// Every media file a campaign names: fill items, offer images and control images.
fn campaign_media(campaign: &Campaign) -> BTreeSet<String> {
    let mut files: BTreeSet<String> = campaign
        .fill
        .iter()
        .filter_map(|item| item.file().map(str::to_owned))
        .collect();
    for offer in campaign.offer_pools.iter().flat_map(|pool| &pool.offers) {
        files.extend(offer.image.clone());
        if let Some(control) = &offer.control {
            files.extend(control.image.clone());
        }
    }
    files
}

/// `vitrine campaign push FILE`: validates, uploads the media the server lacks, and stores it.
pub async fn push_campaign(path: &Path, server: &ServerArgs) -> anyhow::Result<()> {
    let source = std::fs::read_to_string(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let file_name = file_name_of(path)?;
    let display = path.display().to_string();
    let parsed = match parse_campaign(&display, &source) {
        Ok(parsed) => parsed,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            bail!("refusing to push {display}: fix the errors above first");
        }
    };
    if !parsed.warnings.is_empty() {
        eprint!("{}", parsed.warnings);
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    let client = connect(server)?;
    let mut media = BTreeMap::new();
    let mut uploaded = 0;
    for name in campaign_media(&parsed.value) {
        let media_path = folder.join(&name);
        let digest = sha256_of_file(&media_path)
            .await
            .with_context(|| format!("could not read media file {}", media_path.display()))?;
        if !client.media_exists(&digest).await? {
            upload_media(&client, &digest, &name, &media_path)
                .await
                .with_context(|| format!("could not upload {name}"))?;
            uploaded += 1;
        }
        media.insert(name, digest);
    }
    let campaign = PushCampaign {
        file_name: file_name.to_owned(),
        source,
        media,
    };
    let stored = client
        .push_campaign(&campaign)
        .await
        .inspect_err(|error| print_server_diagnostics(error, Some(&campaign.source)))
        .with_context(|| format!("the server refused {display}"))?;
    println!(
        "pushed campaign \"{}\" version {} ({} media files, {uploaded} uploaded)",
        stored.name,
        stored.version,
        campaign.media.len()
    );
    Ok(())
}

/// The answer to `GET path` as `T`, to print for people; or, with `json`, `None` after printing
/// the answer as the server wrote it. `--json` reads the answer as plain JSON rather than
/// re-serialising `T`, so fields this CLI does not know still come through, and the keys keep
/// the order `--json` has always printed them in.
pub(crate) async fn get_or_print_json<T: DeserializeOwned>(
    server: &ServerArgs,
    path: &str,
    json: bool,
) -> anyhow::Result<Option<T>> {
    let client = connect(server)?;
    if json {
        let answer: Value = client.get(path).await?;
        println!("{answer:#}");
        return Ok(None);
    }
    Ok(Some(client.get(path).await?))
}

/// An optional value as a table cell: `-` when absent.
pub(crate) fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| value.to_string())
}

fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::Locked => "locked",
        Layer::Default => "default",
    }
}

/// `vitrine campaign list`.
pub async fn list_campaigns(server: &ServerArgs, json: bool) -> anyhow::Result<()> {
    let Some(list) = get_or_print_json::<CampaignList>(server, "/v1/campaigns", json).await? else {
        return Ok(());
    };
    println!(
        "{:<24} {:>7} {:<8} {:>8} {:<10} {:<10} {:>6}",
        "NAME", "VERSION", "LAYER", "PRIORITY", "FROM", "UNTIL", "OFFERS"
    );
    for campaign in &list.campaigns {
        println!(
            "{:<24} {:>7} {:<8} {:>8} {:<10} {:<10} {:>6}",
            campaign.name,
            campaign.version,
            layer_name(campaign.layer),
            campaign.priority,
            campaign.from.to_string(),
            or_dash(campaign.until),
            campaign.offers,
        );
    }
    Ok(())
}

/// `vitrine campaign show NAME`: the stored source of the newest version, and its history.
pub async fn show_campaign(name: &str, server: &ServerArgs, json: bool) -> anyhow::Result<()> {
    let path = format!(
        "/v1/campaigns/{}",
        crate::hq_explain::encode_component(name)
    );
    let Some(detail) = get_or_print_json::<CampaignDetail>(server, &path, json).await? else {
        return Ok(());
    };
    eprintln!(
        "campaign \"{}\" version {} from {} ({} media files)",
        detail.name,
        detail.version,
        detail.file_name,
        detail.media.len()
    );
    for version in &detail.versions {
        eprintln!(
            "  version {} pushed {}",
            version.version, version.created_at
        );
    }
    print!("{}", detail.source);
    Ok(())
}

/// `vitrine screens status NAME`.
pub async fn screen_status(name: &str, server: &ServerArgs, json: bool) -> anyhow::Result<()> {
    let path = format!("/v1/screens/{name}/status");
    let Some(status) = get_or_print_json::<ScreenStatus>(server, &path, json).await? else {
        return Ok(());
    };
    print!("{}", status_report(name, &status));
    Ok(())
}

/// `text` fit for a terminal: control characters (escape sequences, carriage returns, C1 controls
/// like CSI) and the invisible marks that reorder text on screen (bidirectional overrides) are
/// written as `\u{..}` escapes, so a screen's heartbeat cannot move the cursor, retitle the window
/// or hide part of a line.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|character| {
            let reorders = matches!(
                character,
                '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            );
            if character.is_control() || reorders {
                character.escape_unicode().to_string()
            } else {
                character.to_string()
            }
        })
        .collect()
}

/// What `vitrine screens status` prints for a `GET /v1/screens/{name}/status` answer. Everything
/// in a heartbeat was written by the screen, so every text goes through [`printable`].
fn status_report(name: &str, status: &ScreenStatus) -> String {
    use std::fmt::Write as _;
    let name = printable(name);
    let mut report = String::new();
    let (Some(last_seen), Some(heartbeat)) = (&status.last_seen, &status.heartbeat) else {
        let _ = writeln!(
            report,
            "{name}: no heartbeat yet (is the player running and configured with this screen's token?)"
        );
        return report;
    };
    let Heartbeat {
        playlist,
        playlist_version,
        uptime_s,
        unsent_impressions,
        ..
    } = heartbeat;
    let playlist = printable(&or_dash(playlist.as_deref()));
    let playlist_version = or_dash(*playlist_version);
    let _ = writeln!(report, "{name}: last seen {}", printable(last_seen));
    if let Some(interrupt) = &heartbeat.interrupt {
        // The playlist is not what people see now: say what is, first.
        let _ = writeln!(
            report,
            "  INTERRUPT {} on screen until {}: {}",
            interrupt.id,
            interrupt.until,
            printable(&interrupt.message),
        );
        let _ = writeln!(
            report,
            "  under it: {playlist} version {playlist_version}, up {uptime_s} s, \
             {unsent_impressions} plays waiting to be sent",
        );
    } else {
        let _ = writeln!(
            report,
            "  playing {playlist} version {playlist_version}, up {uptime_s} s, \
             {unsent_impressions} plays waiting to be sent",
        );
        for zone in &heartbeat.showing {
            let _ = writeln!(
                report,
                "  zone {}: {}",
                printable(&zone.zone),
                printable(&zone.item)
            );
        }
    }
    if let Some(clock) = heartbeat.clock {
        let _ = writeln!(report, "  clock {}", clock.as_str());
    }
    if let Some(problem) = &heartbeat.problem {
        // Said on the screen too when it has nothing else to play.
        let _ = writeln!(report, "  NOT SYNCING: {}", printable(problem));
    }
    for alert in &heartbeat.alerts {
        let _ = writeln!(report, "  ALERT: {}", printable(alert));
    }
    if let Some(frames) = &heartbeat.frames {
        let _ = writeln!(
            report,
            "  frames {}: p50 {:.1} ms, p99 {:.1} ms, {} missed refreshes, {} transition gaps, {} late items",
            frames.frames,
            frames.frame_time_p50_ms,
            frames.frame_time_p99_ms,
            frames.missed_refreshes,
            frames.transition_gaps,
            frames.late_items,
        );
    }
    if let Some(system) = &heartbeat.system {
        let _ = writeln!(report, "  runs {}", printable(&system.summary()));
    }
    report
}

/// `vitrine screens list`.
pub async fn list_screens(server: &ServerArgs, json: bool) -> anyhow::Result<()> {
    let Some(list) = get_or_print_json::<ScreenList>(server, "/v1/screens", json).await? else {
        return Ok(());
    };
    println!(
        "{:<28} {:<16} {:<12} {:<18} TAGS",
        "NAME", "PLAYLIST", "STORE", "TIMEZONE"
    );
    for screen in &list.screens {
        let timezone = match screen.timezone.as_str() {
            "" => "(store's)",
            zone => zone,
        };
        println!(
            "{:<28} {:<16} {:<12} {:<18} {}",
            screen.name,
            screen.playlist,
            or_dash(screen.store.as_deref()),
            timezone,
            screen.tags.join(",")
        );
    }
    Ok(())
}

/// `vitrine reports scans [--campaign NAME]`.
/// `name=value&…`, each value percent-encoded.
fn encode_query(query: &[(&str, String)]) -> String {
    query
        .iter()
        .map(|(name, value)| format!("{name}={}", crate::hq_explain::encode_component(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `vitrine reports plays`: the plays report as a table, or the server's JSON.
pub async fn play_report(
    query: &[(&str, String)],
    server: &ServerArgs,
    json: bool,
) -> anyhow::Result<()> {
    let report = connect(server)?
        .play_report(&encode_query(query))
        .await
        .context("the server refused the report")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("plays from {} to {} (store time)", report.from, report.to);
    let mut header: Vec<String> = report
        .group_by
        .iter()
        .map(|name| name.to_uppercase())
        .collect();
    header.extend(
        [
            "PLAYS",
            "COMPLETED",
            "DELIVERED",
            "OFF",
            "SECONDS",
            "IMPRESSIONS",
            "SCANS",
            "SOV",
        ]
        .map(str::to_owned),
    );
    println!("{}", header.join("\t"));
    for row in &report.rows {
        let mut cells: Vec<String> = row
            .key
            .iter()
            .map(|value| {
                if value.is_empty() {
                    "-".to_owned()
                } else {
                    value.clone()
                }
            })
            .collect();
        let figures = &row.figures;
        cells.extend([
            figures.plays.to_string(),
            figures.completed_plays.to_string(),
            figures.delivered_plays.to_string(),
            figures.plays_display_off.to_string(),
            format!("{:.0}", figures.play_seconds),
            format!("{:.1}", figures.gross_impressions),
            figures.scans.to_string(),
            row.share_of_voice
                .as_ref()
                .map_or("-".to_owned(), |share| match share.booked {
                    Some(booked) => {
                        format!("{:.1}% of {:.1}%", share.achieved * 100.0, booked * 100.0)
                    }
                    None => format!("{:.1}%", share.achieved * 100.0),
                }),
        ]);
        println!("{}", cells.join("\t"));
    }
    for uplift in &report.uplift {
        println!(
            "uplift {}/{}: {:+.2} points (95% CI {:+.2} to {:+.2}) over {} treatment and {} control plays",
            uplift.campaign,
            uplift.offer,
            uplift.uplift * 100.0,
            uplift.confidence_95[0] * 100.0,
            uplift.confidence_95[1] * 100.0,
            uplift.treatment_plays,
            uplift.control_plays
        );
    }
    println!("{}", report.formula);
    Ok(())
}

/// `vitrine reports chain`: each screen's hash chain per day.
pub async fn chain_report(
    query: &[(&str, String)],
    server: &ServerArgs,
    json: bool,
) -> anyhow::Result<()> {
    let report = connect(server)?
        .chain_report(&encode_query(query))
        .await
        .context("the server refused the report")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    for day in &report.days {
        let verdict = if day.intact {
            "chain intact".to_owned()
        } else {
            day.first_break.clone().unwrap_or_else(|| {
                format!(
                    "{} plays wait for an earlier play",
                    day.pending + day.unchained
                )
            })
        };
        println!(
            "{}\t{}\t{} plays\t{verdict}",
            day.screen, day.day, day.plays
        );
    }
    Ok(())
}

pub async fn scan_report(
    campaign: Option<&str>,
    server: &ServerArgs,
    json: bool,
) -> anyhow::Result<()> {
    let path = match campaign {
        Some(name) => format!(
            "/v1/reports/scans?campaign={}",
            crate::hq_explain::encode_component(name)
        ),
        None => "/v1/reports/scans".to_owned(),
    };
    let Some(report) = get_or_print_json::<ScanReport>(server, &path, json).await? else {
        return Ok(());
    };
    // IMPRESSIONS are completed plays (the whole turn on screen); PARTIAL are plays that showed
    // only part of theirs, never counted as delivered. SCANS counts the plays HQ holds whose code
    // was scanned, once each; PHONES the shopper devices that scanned them; HITS every request,
    // replays of a photographed code included. PENDING counts scanned plays whose impression has
    // not arrived yet: they move to SCANS when it does. RATE is scanned plays per play.
    println!(
        "{:<20} {:<20} {:<10} {:>11} {:>7} {:>6} {:>6} {:>6} {:>7} {:>9}",
        "CAMPAIGN",
        "OFFER",
        "ARM",
        "IMPRESSIONS",
        "PARTIAL",
        "SCANS",
        "PHONES",
        "HITS",
        "PENDING",
        "RATE"
    );
    for row in &report.rows {
        let rate = row
            .scan_rate
            .map_or("-".to_owned(), |rate| format!("{:.2}%", rate * 100.0));
        println!(
            "{:<20} {:<20} {:<10} {:>11} {:>7} {:>6} {:>6} {:>6} {:>7} {:>9}",
            row.campaign,
            row.offer,
            row.arm.as_str(),
            row.impressions,
            row.partial_plays,
            row.scans,
            row.scan_devices,
            row.scan_hits,
            row.pending_scans,
            rate
        );
    }
    for uplift in &report.uplift {
        let relative = uplift.relative.map_or("-".to_owned(), |relative| {
            format!("{:+.0}%", relative * 100.0)
        });
        println!(
            "uplift of {} / {}: {relative} scanned plays per play against the control",
            uplift.campaign, uplift.offer
        );
    }
    Ok(())
}

/// `vitrine feed add NAME URL --every 15m`: registers a feed the scheduler fetches on a schedule.
pub async fn add_feed(
    name: &str,
    url: &str,
    every: &str,
    server: &ServerArgs,
) -> anyhow::Result<()> {
    connect(server)?
        .register_feed(&FeedRegistration {
            name: name.to_owned(),
            url: url.to_owned(),
            every: every.to_owned(),
        })
        .await
        .with_context(|| format!("the server refused feed `{name}`"))?;
    println!("feed `{name}`: fetched from {url} every {every}, the first time now");
    Ok(())
}

/// `vitrine feed list`: each feed registered by URL, its last fetch and its alert.
pub async fn list_feeds(server: &ServerArgs, json: bool) -> anyhow::Result<()> {
    let Some(list) = get_or_print_json::<FeedList>(server, "/v1/feeds", json).await? else {
        return Ok(());
    };
    println!(
        "{:<20} {:>9} {:<28} {:<28} URL",
        "NAME", "EVERY (S)", "LAST FETCH", "LAST SUCCESS"
    );
    for feed in &list.feeds {
        println!(
            "{:<20} {:>9} {:<28} {:<28} {}",
            feed.name,
            feed.interval_seconds,
            or_dash(feed.last_attempt_at.as_deref()),
            or_dash(feed.last_success_at.as_deref()),
            feed.url,
        );
        if let Some(alert) = &feed.alert {
            println!("  alert: {alert}");
        }
    }
    Ok(())
}

/// `vitrine feed remove NAME`: stops fetching a feed (its products stay).
pub async fn remove_feed(name: &str, server: &ServerArgs) -> anyhow::Result<()> {
    connect(server)?.remove_feed(name).await?;
    println!("feed `{name}`: no longer fetched; its products stay");
    Ok(())
}

/// `vitrine feed fetch NAME`: fetches a feed now and prints what changed.
pub async fn fetch_feed(name: &str, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    match connect(server)?.fetch_feed(name).await? {
        FetchOutcome::NotModified => {
            println!("feed `{name}`: not modified since the last fetch");
            Ok(ExitCode::SUCCESS)
        }
        FetchOutcome::Imported { report } => {
            print_skipped(name, &report.skipped, &report.refused_stores);
            println!(
                "feed `{name}`: {} applied, {} skipped",
                report.applied,
                report.skipped.len() + report.skipped_more
            );
            for line in diff_lines(&report.diff) {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        FetchOutcome::Failed { error } => {
            eprintln!("feed `{name}`: the fetch failed, the last good data stays: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use vitrine_core::{
        ActiveInterrupt, ClockState, FrameStats, GpuAdapter, SystemInfo, ZoneShowing,
    };

    use super::*;

    fn seen(last_seen: &str, heartbeat: Heartbeat) -> ScreenStatus {
        ScreenStatus {
            screen: "door".to_owned(),
            last_seen: Some(last_seen.to_owned()),
            heartbeat: Some(heartbeat),
        }
    }

    #[test]
    fn a_heartbeat_cannot_write_escape_sequences_to_the_terminal() {
        let status = seen(
            "2026-12-04T10:00:00Z\r\u{1b}[2K",
            Heartbeat {
                playlist: Some("lobby\u{1b}]0;owned\u{7}".to_owned()),
                playlist_version: Some(3),
                uptime_s: 60,
                unsent_impressions: 0,
                clock: Some(ClockState::Synced),
                problem: Some("offline\u{9b}31m".to_owned()),
                alerts: vec![
                    "disk \u{202e}lluf".to_owned(),
                    "fine\nALERT: forged line".to_owned(),
                ],
                frames: Some(FrameStats {
                    frames: 10,
                    frame_time_p50_ms: 1.0,
                    frame_time_p99_ms: 2.0,
                    ..FrameStats::default()
                }),
                ..Heartbeat::default()
            },
        );
        let report = status_report("door", &status);
        for line in report.lines() {
            assert!(
                !line.chars().any(|character| character.is_control()),
                "{line:?}"
            );
        }
        assert!(!report.contains('\u{202e}'), "{report}");
        assert!(report.contains("lobby\\u{1b}]0;owned\\u{7}"), "{report}");
        assert!(report.contains("offline\\u{9b}31m"), "{report}");
        assert!(report.contains("disk \\u{202e}lluf"), "{report}");
        assert!(report.contains("\n  clock synced\n"), "{report}");
        assert!(
            report.contains(
                "\n  frames 10: p50 1.0 ms, p99 2.0 ms, 0 missed refreshes, 0 transition gaps, 0 \
                 late items\n"
            ),
            "{report}"
        );
        // A newline in an alert cannot forge a line of its own.
        assert_eq!(report.matches("\n  ALERT: ").count(), 2, "{report}");
        assert!(report.contains("fine\\u{a}ALERT: forged line"), "{report}");
        // Plain text passes unchanged.
        assert_eq!(printable("Café 5 € — 日本"), "Café 5 € — 日本");
    }

    #[test]
    fn a_screen_that_never_reported_says_so() {
        let status = ScreenStatus {
            screen: "door".to_owned(),
            last_seen: None,
            heartbeat: None,
        };
        assert_eq!(
            status_report("door", &status),
            "door: no heartbeat yet (is the player running and configured with this screen's \
             token?)\n"
        );
    }

    #[test]
    fn the_status_says_what_the_screen_runs_on() {
        let mut heartbeat = Heartbeat {
            uptime_s: 60,
            ..Heartbeat::default()
        };
        let report = status_report("door", &seen("2026-12-04T10:00:00Z", heartbeat.clone()));
        assert!(!report.contains("runs"), "an older player says nothing");
        assert!(
            report.contains("\n  playing - version -, up 60 s, 0 plays waiting to be sent\n"),
            "{report}"
        );
        heartbeat.system = Some(SystemInfo {
            version: "0.1.0".to_owned(),
            os: Some("Debian GNU/Linux 12 (bookworm)".to_owned()),
            kernel: Some("6.1.0-18-amd64".to_owned()),
            gpu: Some(GpuAdapter {
                name: "llvmpipe\u{1b}[2J".to_owned(),
                backend: "vulkan".to_owned(),
                driver: "llvmpipe Mesa 22.3.6".to_owned(),
            }),
            video_decoder: None,
        });
        let report = status_report("door", &seen("2026-12-04T10:00:00Z", heartbeat));
        assert!(
            report.contains(
                "\n  runs 0.1.0 on Debian GNU/Linux 12 (bookworm), kernel 6.1.0-18-amd64, GPU \
                 llvmpipe\\u{1b}[2J (vulkan, llvmpipe Mesa 22.3.6), video decoder none yet\n"
            ),
            "{report}"
        );
    }

    #[test]
    fn the_status_says_what_is_on_screen_an_interrupt_first() {
        let mut heartbeat = Heartbeat {
            playlist: Some("lobby".to_owned()),
            playlist_version: Some(2),
            uptime_s: 60,
            showing: vec![
                ZoneShowing {
                    zone: "main".to_owned(),
                    item: "spring-sale".to_owned(),
                },
                ZoneShowing {
                    zone: "ticker".to_owned(),
                    item: "news\u{1b}[2J".to_owned(),
                },
            ],
            ..Heartbeat::default()
        };
        let report = status_report("door", &seen("2026-12-04T10:00:00Z", heartbeat.clone()));
        assert!(report.contains("  playing lobby version 2,"), "{report}");
        assert!(report.contains("\n  zone main: spring-sale\n"), "{report}");
        assert!(
            report.contains("  zone ticker: news\\u{1b}[2J\n"),
            "{report}"
        );

        heartbeat.showing = Vec::new();
        heartbeat.interrupt = Some(ActiveInterrupt {
            id: 1733300000000001,
            message: "Leave by the main exit\nplaying lobby".to_owned(),
            until: "2026-12-04T10:05:00Z".parse().unwrap(),
        });
        let report = status_report("door", &seen("2026-12-04T10:00:00Z", heartbeat));
        assert!(
            report.contains(
                "  INTERRUPT 1733300000000001 on screen until 2026-12-04T10:05:00Z: Leave by the \
                 main exit\\u{a}playing lobby\n"
            ),
            "{report}"
        );
        assert!(!report.contains("  playing lobby"), "{report}");
        assert!(report.contains("  under it: lobby version 2,"), "{report}");
    }

    #[test]
    fn a_status_answer_reads_as_the_wire_type() {
        // What the scheduler writes, with a field this CLI does not know, reads as the type the
        // scheduler serves.
        let status: ScreenStatus = serde_json::from_value(serde_json::json!({
            "screen": "door",
            "last_seen": "2026-12-04T10:00:00Z",
            "heartbeat": {"uptime_s": 60, "unsent_impressions": 0, "clock": "estimated"},
            "added_later": true,
        }))
        .unwrap();
        assert!(
            status_report("door", &status).contains("\n  clock estimated\n"),
            "{status:?}"
        );
    }
}
