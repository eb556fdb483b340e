//! What HQ reads back: the scan report (impressions and scans per offer and arm, and the uplift the
//! A/B holdout measures) and the explain endpoint (why a screen shows what it shows at an instant).
//!
//! Explain runs the same code as the screen: the manifest is built as `GET /v1/manifest` builds it,
//! the schedule engine says which item each zone plays, and `OfferRotation::pick_explained` says
//! which offer an offer item shows. What was decided when the manifest was built (targeting, store,
//! tags, segments, stock) is reported beside it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use vitrine_core::offer::{Arm, OfferEntry, SlotPlay};
use vitrine_core::playlist::Content;
use vitrine_core::{Manifest, Schedule};

use crate::AppState;
use crate::auth::Manager;
use crate::campaigns::screen_context_from;
use crate::error::ApiError;
use crate::offers::{Exclusion, Inclusion};
use crate::reads::Reads;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanReportQuery {
    pub campaign: Option<String>,
}

/// One offer and arm's numbers.
///
/// A scan belongs to its play: it counts once HQ holds the play's impression (the screen, offer,
/// arm and scheduled start its QR code names), and until then it is pending. So a row never
/// shows more scanned plays than plays.
#[derive(Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ArmRow {
    pub campaign: String,
    pub offer: String,
    pub arm: Arm,
    /// Completed plays: the card was on screen for its whole turn. Only these are delivered spots.
    pub impressions: u64,
    /// Plays that showed only part of their turn (joined late, or cut short): counted apart, never
    /// as impressions.
    pub partial_plays: u64,
    /// Plays HQ holds (completed or partial) whose code was scanned, each counted once however
    /// many phones scanned it; never more than `impressions + partial_plays`.
    pub scans: u64,
    /// Shopper devices that scanned those plays: each play's code counted once per device.
    pub scan_devices: u64,
    /// Every hit of those plays' codes, replays included (at most `qr::MAX_HITS_PER_TOKEN` per
    /// code).
    pub scan_hits: u64,
    /// Scanned plays whose impression has not reached HQ yet (the screen uploads plays in
    /// batches, and keeps them while offline). They move to `scans` when it arrives.
    pub pending_scans: u64,
    /// Scanned plays per play (completed and partial); `None` without plays.
    pub scan_rate: Option<f64>,
}

/// One offer's A/B result.
#[derive(Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Uplift {
    pub campaign: String,
    pub offer: String,
    /// Treatment scan rate minus control scan rate, in scanned plays per play.
    pub absolute: Option<f64>,
    /// The same, relative to the control's rate (0.5 = 50% more scans).
    pub relative: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScanReport {
    pub rows: Vec<ArmRow>,
    pub uplift: Vec<Uplift>,
}

/// `GET /v1/reports/scans[?campaign=NAME]`. The admin reads every screen's figures, staff only
/// those of their stores' screens.
#[utoipa::path(
    get,
    path = "/v1/reports/scans",
    tag = "reports",
    params(
        crate::reports::ScanReportQuery,
    ),
    responses(
        (status = 200, description = "Plays and QR scans by campaign, offer and arm", body = crate::reports::ScanReport),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn scans(
    State(state): State<AppState>,
    manager: Manager,
    query: Result<Query<ScanReportQuery>, QueryRejection>,
) -> Result<Json<ScanReport>, ApiError> {
    let Query(query) = query?;
    let stores = manager.stores().map(<[String]>::to_vec);
    let counts = state.storage().offer_counts(query.campaign, stores).await?;
    let rows: Vec<ArmRow> = counts
        .into_iter()
        .map(|((campaign, offer, arm), counts)| {
            let plays = counts.impressions + counts.partial_plays;
            ArmRow {
                campaign,
                offer,
                arm,
                impressions: counts.impressions,
                partial_plays: counts.partial_plays,
                scans: counts.scans,
                scan_devices: counts.scan_devices,
                scan_hits: counts.scan_hits,
                pending_scans: counts.pending_scans,
                scan_rate: (plays > 0).then(|| counts.scans as f64 / plays as f64),
            }
        })
        .collect();
    let mut uplift = Vec::new();
    for treatment in rows.iter().filter(|row| row.arm == Arm::Treatment) {
        let control = rows.iter().find(|row| {
            row.arm == Arm::Control
                && row.campaign == treatment.campaign
                && row.offer == treatment.offer
        });
        let Some(control) = control else {
            continue;
        };
        let absolute = treatment
            .scan_rate
            .zip(control.scan_rate)
            .map(|(treated, held_out)| treated - held_out);
        let relative = treatment
            .scan_rate
            .zip(control.scan_rate)
            .filter(|(_, held_out)| *held_out > 0.0)
            .map(|(treated, held_out)| treated / held_out - 1.0);
        uplift.push(Uplift {
            campaign: treatment.campaign.clone(),
            offer: treatment.offer.clone(),
            absolute,
            relative,
        });
    }
    Ok(Json(ScanReport { rows, uplift }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExplainQuery {
    pub screen: String,
    /// An instant, like `2026-12-05T09:30:00Z` or `2026-12-05T10:30:00+01:00`.
    pub at: String,
    /// Only this offer slot (and it is explained even if no zone plays it at `at`).
    #[serde(default)]
    pub slot: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Explanation {
    pub screen: String,
    pub at: Timestamp,
    pub timezone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Campaigns that target the screen, with why.
    pub campaigns: Vec<TargetedCampaign>,
    /// Campaigns that do not target it.
    pub not_targeted: Vec<String>,
    pub zones: Vec<ZoneExplanation>,
    pub offers: Vec<SlotExplanation>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TargetedCampaign {
    pub name: String,
    /// Why it targets the screen.
    pub because: String,
    /// Whether its dates, weekdays and dayparts hold at the instant asked about: a campaign that
    /// targets the screen but is outside its dayparts does not apply then.
    pub applies: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ZoneExplanation {
    pub zone: String,
    /// The item on screen, or `None` when nothing plays (the fallback shows).
    pub item: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// The schedule engine's reason, in words.
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play_start: Option<Timestamp>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SlotExplanation {
    pub slot: String,
    /// The instant the pick was made for: the start of the play, or `at`.
    pub play_start: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shows: Option<OfferEntry>,
    /// Every step of the pick: each entry's verdict, the weighted draw and the holdout roll.
    pub pick: serde_json::Value,
    /// Offers in the manifest, with segment score and weight.
    pub eligible: Vec<Inclusion>,
    /// Offers left out of this screen's manifest, with why.
    pub excluded: Vec<Exclusion>,
    /// How many plays of each offer the screen reported in the hour before, which caps count.
    pub shown_last_hour: BTreeMap<String, usize>,
}

fn not_found(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, code, message)
}

/// Whether a campaign's dates, weekdays and dayparts hold at `at`, as the screen decides it: by
/// the schedule engine on the campaign's rule in the manifest, and for a campaign that only fills
/// offer slots (it has no rule), by its offers' validity windows.
fn campaign_applies(
    schedule: &Schedule,
    build: &crate::offers::OfferBuild,
    campaign: &str,
    at: Timestamp,
) -> bool {
    let rule = format!("campaign:{campaign}");
    let in_rule_window: Vec<bool> = schedule
        .zone_names()
        .filter_map(|zone| schedule.rule_in_window(zone, &rule, at))
        .collect();
    if !in_rule_window.is_empty() {
        return in_rule_window.contains(&true);
    }
    build
        .rotations
        .values()
        .flat_map(|rotation| &rotation.entries)
        .any(|entry| entry.campaign.as_deref() == Some(campaign) && entry.is_valid_at(at))
}

/// `GET /v1/explain?screen=S&at=T[&slot=X]`.
#[utoipa::path(
    get,
    path = "/v1/explain",
    tag = "reports",
    params(
        crate::reports::ExplainQuery,
    ),
    responses(
        (status = 200, description = "What the screen shows at that instant, and why", body = crate::reports::Explanation),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `no_playlist`, `screen_not_found`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn explain(
    State(state): State<AppState>,
    manager: Manager,
    query: Result<Query<ExplainQuery>, QueryRejection>,
) -> Result<Json<Explanation>, ApiError> {
    let Query(query) = query?;
    let at: Timestamp = query.at.parse().map_err(|error| {
        ApiError::bad_request(format!(
            "`at={}` is not an instant ({error}); write it like `2026-12-05T09:30:00Z` or with an \
             offset, `2026-12-05T10:30:00+01:00`",
            query.at
        ))
    })?;
    // Staff first: their answer for an unknown screen is the same 403 as for another store's.
    manager
        .ensure_screens(&state, std::slice::from_ref(&query.screen))
        .await?;
    let Some(screen) = state.storage().screen_by_name(query.screen.clone()).await? else {
        return Err(not_found(
            "screen_not_found",
            format!("no screen called `{}` is registered", query.screen),
        ));
    };
    let reads = Reads::new(&state);
    let Some(body) = crate::manifest::manifest_from(&state, &reads, &screen).await? else {
        return Err(not_found(
            "no_playlist",
            format!(
                "screen `{}` plays playlist `{}`, which has not been pushed yet",
                screen.name, screen.playlist
            ),
        ));
    };
    let manifest: &Manifest = &body.manifest;
    let context = screen_context_from(&state, &reads, &screen.name)
        .await?
        .ok_or_else(|| {
            not_found(
                "screen_not_found",
                format!("screen `{}` is gone", screen.name),
            )
        })?;
    let build = crate::offers::build(&state, &reads, &context, manifest, at).await?;
    let schedule: Schedule = manifest
        .schedule()
        .map_err(|error| ApiError::internal("making the schedule", error))?;

    let mut zones = Vec::new();
    let mut slot_plays: BTreeMap<String, Timestamp> = BTreeMap::new();
    for zone in schedule.zone_names() {
        match schedule.what_plays(zone, at) {
            Some(play) => {
                let slot = match &play.item.content {
                    Content::Offer { slot, .. } => Some(slot.clone()),
                    _ => None,
                };
                if let Some(slot) = &slot {
                    slot_plays.insert(slot.clone(), play.scheduled_start);
                }
                zones.push(ZoneExplanation {
                    zone: zone.to_owned(),
                    item: Some(play.item.id.clone()),
                    slot,
                    reason: play.reason.to_string(),
                    play_start: Some(play.scheduled_start),
                });
            }
            None => zones.push(ZoneExplanation {
                zone: zone.to_owned(),
                item: None,
                slot: None,
                reason: "no rule applies: the fallback shows".into(),
                play_start: None,
            }),
        }
    }
    if let Some(slot) = &query.slot {
        slot_plays.entry(slot.clone()).or_insert(at);
    }
    // Caps count the hour before each play's start, which may be before `at`.
    let earliest = slot_plays.values().copied().min().unwrap_or(at).min(at);
    let hour_ago = earliest
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .unwrap_or(Timestamp::MIN);
    let recent = state
        .storage()
        .recent_offer_plays(screen.name.clone(), hour_ago, at)
        .await?;
    let mut offers = Vec::new();
    for (slot, play_start) in slot_plays {
        if query.slot.as_ref().is_some_and(|wanted| wanted != &slot) {
            continue;
        }
        // Built for `at`, not for now: the manifest's windows cover the week around today only.
        let rotation = build.rotations.get(&slot).cloned().unwrap_or_default();
        // The trigger the screen follows for this play, as it heard it from the hub.
        let trigger = state.hub().trigger_at(&screen.name, play_start);
        let pick = rotation.pick_explained(&SlotPlay {
            screen: &screen.name,
            slot: &slot,
            start: play_start,
            recent: &recent,
            trigger: trigger.as_deref(),
        });
        let shows = pick.entry.cloned();
        // Serialised here, while the rotation it borrows from is alive.
        let pick_json = serde_json::to_value(&pick)
            .map_err(|error| ApiError::internal("serialising a pick", error))?;
        let play_hour_ago = play_start
            .checked_sub(jiff::SignedDuration::from_hours(1))
            .unwrap_or(Timestamp::MIN);
        let mut shown_last_hour = BTreeMap::new();
        for (offer, started) in &recent {
            if (play_hour_ago..play_start).contains(started) {
                *shown_last_hour.entry(offer.clone()).or_default() += 1;
            }
        }
        offers.push(SlotExplanation {
            slot: slot.clone(),
            play_start,
            shows,
            pick: pick_json,
            eligible: build
                .included
                .iter()
                .filter(|inclusion| inclusion.slot == slot)
                .cloned()
                .collect(),
            excluded: build
                .excluded
                .iter()
                .filter(|exclusion| exclusion.slot == slot)
                .cloned()
                .collect(),
            shown_last_hour,
        });
    }
    Ok(Json(Explanation {
        screen: screen.name.clone(),
        at,
        timezone: manifest.timezone.clone(),
        store: context.store.as_ref().map(|store| store.code.clone()),
        campaigns: context
            .campaigns
            .iter()
            .map(|(stored, because)| TargetedCampaign {
                name: stored.campaign.name.clone(),
                because: because.clone(),
                applies: campaign_applies(&schedule, &build, &stored.campaign.name, at),
            })
            .collect(),
        not_targeted: context.not_targeted.clone(),
        zones,
        offers,
    }))
}
