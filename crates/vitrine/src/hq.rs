//! HQ commands that talk to the scheduler: importing stores, segments and product feeds, pushing and
//! reading campaigns, listing screens and reading the scan report.
//!
//! Imports send the file whole (`POST /v1/stores`, `/v1/segments`, `/v1/feed`,
//! `/v1/feed/inventory`); the scheduler reads it row by row, applies every good row and reports
//! each skipped one with its line, which is printed here as `FILE:LINE: reason`. Since a skipped row
//! usually means a broken export, the command then exits 1, after the rest has been applied.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use vitrine_core::{Campaign, Sha256Hex, parse_campaign};

use crate::ServerArgs;
use crate::client::ApiClient;
use crate::push::{media_exists, sha256_of_file, upload_media};

/// What an import sends.
#[derive(Clone, Copy, Debug)]
pub enum ImportKind {
    Stores,
    Segments,
    Feed,
    Inventory,
}

impl ImportKind {
    fn path(self) -> &'static str {
        match self {
            Self::Stores => "/v1/stores",
            Self::Segments => "/v1/segments",
            Self::Feed => "/v1/feed",
            Self::Inventory => "/v1/feed/inventory",
        }
    }
}

#[derive(Debug, Serialize)]
struct ImportFile<'a> {
    file_name: &'a str,
    source: &'a str,
}

#[derive(Debug, Deserialize)]
struct ImportReport {
    applied: usize,
    skipped: Vec<SkippedRow>,
}

#[derive(Debug, Deserialize)]
struct SkippedRow {
    line: u64,
    reason: String,
}

fn file_name_of(path: &Path) -> anyhow::Result<&str> {
    path.file_name()
        .and_then(|name| name.to_str())
        .with_context(|| format!("{} has no file name in UTF-8", path.display()))
}

/// Sends one file to an import endpoint and prints what it did.
pub async fn import(
    kind: ImportKind,
    path: &Path,
    server: &ServerArgs,
) -> anyhow::Result<ExitCode> {
    let source = std::fs::read_to_string(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let file_name = file_name_of(path)?;
    let client = ApiClient::new(server)?;
    let request = client.request(Method::POST, kind.path()).json(&ImportFile {
        file_name,
        source: &source,
    });
    let response = client.send(request).await?;
    let report: ImportReport = ApiClient::read_json(response, None)
        .await
        .with_context(|| format!("the server refused {}", path.display()))?;
    for row in &report.skipped {
        eprintln!("{}:{}: skipped: {}", path.display(), row.line, row.reason);
    }
    println!(
        "{}: {} applied, {} skipped",
        path.display(),
        report.applied,
        report.skipped.len()
    );
    Ok(if report.skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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

#[derive(Debug, Serialize)]
struct CampaignUpload<'a> {
    file_name: &'a str,
    source: &'a str,
    media: &'a BTreeMap<String, Sha256Hex>,
}

#[derive(Debug, Deserialize)]
struct CampaignStored {
    name: String,
    version: u64,
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
    let client = ApiClient::new(server)?;
    let mut media = BTreeMap::new();
    let mut uploaded = 0;
    for name in campaign_media(&parsed.value) {
        let media_path = folder.join(&name);
        let digest = sha256_of_file(&media_path)
            .await
            .with_context(|| format!("could not read media file {}", media_path.display()))?;
        if !media_exists(&client, &digest).await? {
            upload_media(&client, &digest, &name, &media_path)
                .await
                .with_context(|| format!("could not upload {name}"))?;
            uploaded += 1;
        }
        media.insert(name, digest);
    }
    let request = client
        .request(Method::POST, "/v1/campaigns")
        .json(&CampaignUpload {
            file_name,
            source: &source,
            media: &media,
        });
    let response = client.send(request).await?;
    let stored: CampaignStored = ApiClient::read_json(response, Some(&source))
        .await
        .with_context(|| format!("the server refused {display}"))?;
    println!(
        "pushed campaign \"{}\" version {} ({} media files, {uploaded} uploaded)",
        stored.name,
        stored.version,
        media.len()
    );
    Ok(())
}

async fn get_json(server: &ServerArgs, path: &str) -> anyhow::Result<Value> {
    let client = ApiClient::new(server)?;
    let response = client.send(client.request(Method::GET, path)).await?;
    ApiClient::read_json(response, None).await
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// `vitrine campaign list`.
pub async fn list_campaigns(server: &ServerArgs, json: bool) -> anyhow::Result<()> {
    let list = get_json(server, "/v1/campaigns").await?;
    if json {
        println!("{list:#}");
        return Ok(());
    }
    println!(
        "{:<24} {:>7} {:<8} {:>8} {:<10} {:<10} {:>6}",
        "NAME", "VERSION", "LAYER", "PRIORITY", "FROM", "UNTIL", "OFFERS"
    );
    for campaign in list["campaigns"].as_array().into_iter().flatten() {
        println!(
            "{:<24} {:>7} {:<8} {:>8} {:<10} {:<10} {:>6}",
            text(&campaign["name"]),
            text(&campaign["version"]),
            text(&campaign["layer"]),
            text(&campaign["priority"]),
            text(&campaign["from"]),
            text(&campaign["until"]),
            text(&campaign["offers"]),
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
    let detail = get_json(server, &path).await?;
    if json {
        println!("{detail:#}");
        return Ok(());
    }
    eprintln!(
        "campaign \"{}\" version {} from {} ({} media files)",
        text(&detail["name"]),
        text(&detail["version"]),
        text(&detail["file_name"]),
        detail["media"].as_object().map_or(0, |media| media.len())
    );
    for version in detail["versions"].as_array().into_iter().flatten() {
        eprintln!(
            "  version {} pushed {}",
            text(&version["version"]),
            text(&version["created_at"])
        );
    }
    print!("{}", text(&detail["source"]));
    Ok(())
}

/// `vitrine screens list`.
pub async fn screen_status(name: &str, server: &ServerArgs, json: bool) -> anyhow::Result<()> {
    let status = get_json(server, &format!("/v1/screens/{name}/status")).await?;
    if json {
        println!("{status:#}");
        return Ok(());
    }
    let Some(last_seen) = status["last_seen"].as_str() else {
        println!(
            "{name}: no heartbeat yet (is the player running and configured with this screen's token?)"
        );
        return Ok(());
    };
    let heartbeat = &status["heartbeat"];
    println!("{name}: last seen {last_seen}");
    println!(
        "  playing {} version {}, up {} s, {} plays waiting to be sent",
        text(&heartbeat["playlist"]),
        text(&heartbeat["playlist_version"]),
        text(&heartbeat["uptime_s"]),
        text(&heartbeat["unsent_impressions"]),
    );
    if let Some(clock) = heartbeat["clock"].as_str() {
        println!("  clock {clock}");
    }
    for alert in heartbeat["alerts"].as_array().into_iter().flatten() {
        println!("  ALERT: {}", text(alert));
    }
    let frames = &heartbeat["frames"];
    if frames.is_object() {
        println!(
            "  frames {}: p50 {:.1} ms, p99 {:.1} ms, {} missed refreshes, {} transition gaps, {} late items",
            text(&frames["frames"]),
            frames["frame_time_p50_ms"].as_f64().unwrap_or_default(),
            frames["frame_time_p99_ms"].as_f64().unwrap_or_default(),
            text(&frames["missed_refreshes"]),
            text(&frames["transition_gaps"]),
            text(&frames["late_items"]),
        );
    }
    Ok(())
}

pub async fn list_screens(server: &ServerArgs, json: bool) -> anyhow::Result<()> {
    let list = get_json(server, "/v1/screens").await?;
    if json {
        println!("{list:#}");
        return Ok(());
    }
    println!(
        "{:<28} {:<16} {:<12} {:<18} TAGS",
        "NAME", "PLAYLIST", "STORE", "TIMEZONE"
    );
    for screen in list["screens"].as_array().into_iter().flatten() {
        let tags: Vec<String> = screen["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        let timezone = match text(&screen["timezone"]).as_str() {
            "" => "(store's)".to_owned(),
            zone => zone.to_owned(),
        };
        println!(
            "{:<28} {:<16} {:<12} {:<18} {}",
            text(&screen["name"]),
            text(&screen["playlist"]),
            text(&screen["store"]),
            timezone,
            tags.join(",")
        );
    }
    Ok(())
}

/// `vitrine reports scans [--campaign NAME]`.
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
    let report = get_json(server, &path).await?;
    if json {
        println!("{report:#}");
        return Ok(());
    }
    // IMPRESSIONS are completed plays (the whole turn on screen); PARTIAL are plays that showed
    // only part of theirs, never counted as delivered. SCANS counts each play's code once per
    // shopper device; HITS counts every request, replays of a photographed code included.
    println!(
        "{:<20} {:<20} {:<10} {:>11} {:>7} {:>6} {:>6} {:>9}",
        "CAMPAIGN", "OFFER", "ARM", "IMPRESSIONS", "PARTIAL", "SCANS", "HITS", "RATE"
    );
    for row in report["rows"].as_array().into_iter().flatten() {
        let rate = row["scan_rate"]
            .as_f64()
            .map_or("-".to_owned(), |rate| format!("{:.2}%", rate * 100.0));
        println!(
            "{:<20} {:<20} {:<10} {:>11} {:>7} {:>6} {:>6} {:>9}",
            text(&row["campaign"]),
            text(&row["offer"]),
            text(&row["arm"]),
            text(&row["impressions"]),
            text(&row["partial_plays"]),
            text(&row["scans"]),
            text(&row["scan_hits"]),
            rate
        );
    }
    for uplift in report["uplift"].as_array().into_iter().flatten() {
        let relative = uplift["relative"]
            .as_f64()
            .map_or("-".to_owned(), |relative| {
                format!("{:+.0}%", relative * 100.0)
            });
        println!(
            "uplift of {} / {}: {relative} scans per impression against the control",
            text(&uplift["campaign"]),
            text(&uplift["offer"])
        );
    }
    Ok(())
}
