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
use serde::Deserialize;
use vitrine_core::offer::{Arm, Pick, SlotPlay, Verdict};
use vitrine_core::playlist::Content;
use vitrine_core::{Manifest, Schedule};

use crate::AppState;
use crate::auth::Manager;
use crate::campaigns::screen_context_from;
use crate::error::ApiError;
use crate::reads::Reads;
pub use vitrine_wire::explain::{
    ConsideredOffer, Explanation, OfferPick, SlotExplanation, TargetedCampaign, TriggerOutcome,
    ZoneExplanation,
};
pub use vitrine_wire::plays::{ArmRow, ScanReport, Uplift};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanReportQuery {
    pub campaign: Option<String>,
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

/// The wire form of a pick, which owns what the engine's borrows from the rotation.
fn offer_pick(pick: &Pick<'_>) -> OfferPick {
    OfferPick {
        considered: pick
            .considered
            .iter()
            .map(|considered| {
                let (verdict, shown_last_hour, cap) = match considered.verdict {
                    Verdict::Drawn => ("drawn", None, None),
                    Verdict::OutsideWindows => ("outside_windows", None, None),
                    Verdict::Capped {
                        shown_last_hour,
                        cap,
                    } => ("capped", Some(shown_last_hour), Some(cap)),
                    Verdict::LowerPriority => ("lower_priority", None, None),
                    Verdict::NotForTrigger => ("not_for_trigger", None, None),
                };
                ConsideredOffer {
                    offer_id: considered.offer_id.to_owned(),
                    campaign: considered.campaign.map(str::to_owned),
                    weight: considered.weight,
                    priority: considered.priority,
                    verdict: verdict.to_owned(),
                    shown_last_hour,
                    cap,
                }
            })
            .collect(),
        trigger: pick.trigger.as_ref().map(|trigger| TriggerOutcome {
            segment: trigger.segment.clone(),
            followed: trigger.followed,
        }),
        draw: pick.draw,
        total_weight: pick.total_weight,
        holdout_roll: pick.holdout_roll,
        fallback: pick.fallback,
    }
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
        // Copied here, while the rotation it borrows from is alive.
        let pick = offer_pick(&pick);
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
            pick,
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

#[cfg(test)]
mod tests {
    use vitrine_core::offer::{Considered, TriggerOutcome as EngineTrigger};

    use super::*;

    #[test]
    fn a_pick_is_answered_as_the_engine_writes_it() {
        let considered = |offer_id, verdict| Considered {
            offer_id,
            campaign: Some("winter"),
            weight: 3,
            priority: 1,
            verdict,
        };
        let pick = Pick {
            entry: None,
            considered: vec![
                considered("a", Verdict::Drawn),
                considered("b", Verdict::OutsideWindows),
                considered(
                    "c",
                    Verdict::Capped {
                        shown_last_hour: 4,
                        cap: 4,
                    },
                ),
                considered("d", Verdict::LowerPriority),
                Considered {
                    campaign: None,
                    ..considered("e", Verdict::NotForTrigger)
                },
            ],
            trigger: Some(EngineTrigger {
                segment: "families".to_owned(),
                followed: true,
            }),
            draw: Some(2),
            total_weight: 3,
            holdout_roll: Some(1234),
            fallback: false,
        };
        assert_eq!(
            serde_json::to_value(offer_pick(&pick)).unwrap(),
            serde_json::to_value(&pick).unwrap()
        );
    }
}
