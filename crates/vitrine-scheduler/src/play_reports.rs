//! What HQ and the brands buying screen time read back about plays: the plays report (figures
//! grouped by any of campaign, offer, arm, creative, playlist, item, store, region, screen, zone,
//! venue zone, hour and day, from the rollups), the holdout uplift with its confidence interval,
//! and each screen's hash chain per day.
//!
//! Days and hours are the store's: a play's hour is fixed when it reaches HQ (see
//! [`crate::plays`]). Figures come from the rollups, which ingest keeps in the transaction that
//! stores the plays, so a report over years of plays reads a few thousand rows and a re-sent
//! batch changes nothing.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use jiff::civil::Date;
use serde::Deserialize;
use vitrine_core::campaign::Share;
use vitrine_wire::plays::{
    ChainDayRow, ChainReport, HoldoutUplift, PlayFigures, PlayReport, PlayRow, ShareOfVoice,
};

use crate::AppState;
use crate::auth::Manager;
use crate::error::ApiError;
use crate::export::{AdLogWriter, ExportFormat};
use crate::storage::plays::{Dim, Figures, RollupQuery, RollupRow};

/// How gross impressions are computed, printed with every report.
pub const IMPRESSIONS_FORMULA: &str = "gross impressions = delivered plays x audience \
     multiplier; a delivered play is a play on screen for its whole turn on a display not known \
     to be off; the multiplier is the one set for the play's screen (or zone) with `POST \
     /v1/audience` when the play reached HQ (1 where none was set), and its source is listed by \
     `GET /v1/audience`";

/// The longest range one report covers.
pub const MAX_REPORT_DAYS: i64 = 3660;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PlayReportQuery {
    /// Comma-separated dimensions: campaign, offer, arm, creative, playlist, item, store,
    /// region, screen, zone, venue_zone, hour, day. Empty for one row of totals.
    #[serde(default)]
    pub group_by: Option<String>,
    /// The first store-local day, `YYYY-MM-DD`; default six days before `to`.
    #[serde(default)]
    pub from: Option<String>,
    /// The last store-local day (included); default today (UTC).
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub campaign: Option<String>,
    #[serde(default)]
    pub offer: Option<String>,
    #[serde(default)]
    pub arm: Option<String>,
    #[serde(default)]
    pub creative: Option<String>,
    #[serde(default)]
    pub playlist: Option<String>,
    #[serde(default)]
    pub item: Option<String>,
    #[serde(default)]
    pub store: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub screen: Option<String>,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub venue_zone: Option<String>,
}

impl PlayReportQuery {
    fn filters(&self) -> Vec<(Dim, String)> {
        [
            (Dim::Campaign, &self.campaign),
            (Dim::Offer, &self.offer),
            (Dim::Arm, &self.arm),
            (Dim::Creative, &self.creative),
            (Dim::Playlist, &self.playlist),
            (Dim::Item, &self.item),
            (Dim::Store, &self.store),
            (Dim::Region, &self.region),
            (Dim::Screen, &self.screen),
            (Dim::Zone, &self.zone),
            (Dim::VenueZone, &self.venue_zone),
        ]
        .into_iter()
        .filter_map(|(dim, value)| value.clone().map(|value| (dim, value)))
        .collect()
    }
}

fn bad_field(field: &str, message: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "bad_request",
        format!("`{field}`: {message}"),
    )
}

/// Reads `from` and `to` (store-local days, both included) into the hour range
/// `[from T00, to + 1 day T00)`. Without `to`, today in UTC; without `from`, six days before `to`.
pub fn day_range(from: Option<&str>, to: Option<&str>) -> Result<(Date, Date), ApiError> {
    let parse = |field: &str, text: &str| -> Result<Date, ApiError> {
        text.trim().parse::<Date>().map_err(|_| {
            bad_field(
                field,
                format!(
                    "`{}` is not a day; write it like `2026-12-05`",
                    text.chars().take(40).collect::<String>()
                ),
            )
        })
    };
    let to = match to {
        Some(text) => parse("to", text)?,
        // Days are store-local: the day it is where the calendar is furthest ahead (UTC+14), so
        // that every store's today is in the default range (from 23:00 UTC, the UTC day would
        // leave out the plays of a store in Paris, already in its next day).
        None => jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(14)))
            .date(),
    };
    let from = match from {
        Some(text) => parse("from", text)?,
        None => to.saturating_sub(jiff::Span::new().days(6)),
    };
    if to < from {
        return Err(bad_field(
            "to",
            format!("{to} is before `from` ({from}); the range runs from `from` to `to`"),
        ));
    }
    let days = (to - from).get_days() as i64;
    if days >= MAX_REPORT_DAYS {
        return Err(bad_field(
            "from",
            format!(
                "the range covers {} days, over the limit of {MAX_REPORT_DAYS}",
                days + 1
            ),
        ));
    }
    Ok((from, to))
}

/// The hour range of a day range: `[from T00, to + 1 day T00)`.
pub fn hour_range(from: Date, to: Date) -> (String, String) {
    let after = to.tomorrow().unwrap_or(to);
    (
        format!("{}T00", from.strftime("%Y-%m-%d")),
        format!("{}T00", after.strftime("%Y-%m-%d")),
    )
}

fn parse_dims(text: Option<&str>) -> Result<Vec<Dim>, ApiError> {
    let mut dims = Vec::new();
    for name in text.unwrap_or("").split(',').map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let dim = Dim::parse(name).ok_or_else(|| {
            bad_field(
                "group_by",
                format!(
                    "`{}` is not a dimension; use any of {}",
                    name.chars().take(40).collect::<String>(),
                    Dim::ALL.map(Dim::name).join(", ")
                ),
            )
        })?;
        if !dims.contains(&dim) {
            dims.push(dim);
        }
    }
    Ok(dims)
}

/// Refuses a filter naming a campaign, store, screen or region that HQ has never known, naming the
/// field, and a staff member's store or screen outside their stores.
async fn check_filters(
    state: &AppState,
    manager: &Manager,
    filters: &[(Dim, String)],
) -> Result<(), ApiError> {
    for (dim, value) in filters {
        if value.is_empty() || value.len() > 200 {
            return Err(bad_field(
                dim.name(),
                "give a value of 1 to 200 characters".to_owned(),
            ));
        }
        if matches!(dim, Dim::Arm) && value != "treatment" && value != "control" {
            return Err(bad_field(
                "arm",
                format!("`{value}` is not an arm; use treatment or control"),
            ));
        }
        if !state.storage().rollups_know(*dim, value.clone()).await? {
            let what = match dim {
                Dim::Campaign => "campaign is named",
                Dim::Store => "store has the code",
                Dim::Screen => "screen is named",
                _ => "store is in the region",
            };
            return Err(bad_field(
                dim.name(),
                format!("no {what} `{}`", value.chars().take(80).collect::<String>()),
            ));
        }
        if *dim == Dim::Store {
            manager.ensure_store(Some(value), &format!("the plays of store `{value}`"))?;
        }
    }
    Ok(())
}

fn to_figures(figures: &Figures) -> PlayFigures {
    PlayFigures {
        plays: figures.plays,
        completed_plays: figures.completed,
        delivered_plays: figures.delivered,
        plays_display_off: figures.display_off,
        play_seconds: figures.play_ms as f64 / 1000.0,
        gross_impressions: figures.impressions_milli as f64 / 1000.0,
        scans: figures.scanned,
        scan_through_rate: (figures.plays > 0)
            .then(|| figures.scanned as f64 / figures.plays as f64),
    }
}

/// `GET /v1/reports/plays`: plays, completed and delivered plays, play seconds, gross
/// impressions, scans and scan-through rate, grouped by the dimensions asked for, over store-local
/// days; share of voice for rows of one campaign; the uplift of each offer with a holdout. The
/// admin reads every screen's plays, staff only those of their stores.
#[utoipa::path(
    get,
    path = "/v1/reports/plays",
    tag = "reports",
    params(crate::play_reports::PlayReportQuery),
    responses(
        (status = 200, description = "Plays grouped as asked, with impressions, share of voice and uplift", body = vitrine_wire::plays::PlayReport),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn plays(
    State(state): State<AppState>,
    manager: Manager,
    query: Result<Query<PlayReportQuery>, QueryRejection>,
) -> Result<Json<PlayReport>, ApiError> {
    let Query(query) = query?;
    Ok(Json(plays_report(&state, &manager, &query).await?))
}

/// The plays report `query` asks for, as `manager` may read it: what `GET /v1/reports/plays`
/// answers, and what the console's report page shows.
pub async fn plays_report(
    state: &AppState,
    manager: &Manager,
    query: &PlayReportQuery,
) -> Result<PlayReport, ApiError> {
    let dims = parse_dims(query.group_by.as_deref())?;
    let (from, to) = day_range(query.from.as_deref(), query.to.as_deref())?;
    let filters = query.filters();
    check_filters(state, manager, &filters).await?;
    play_report(state, manager, &dims, filters, from, to).await
}

/// The plays report: the rows, totals and uplift, from the rollups.
pub async fn play_report(
    state: &AppState,
    manager: &Manager,
    dims: &[Dim],
    filters: Vec<(Dim, String)>,
    from: Date,
    to: Date,
) -> Result<PlayReport, ApiError> {
    let (from_hour, to_hour) = hour_range(from, to);
    let stores = manager.stores().map(<[String]>::to_vec);
    // Grouped by the dimensions asked for and, for share of voice, by zone and campaign too.
    let with_campaign = dims.contains(&Dim::Campaign);
    let mut fetched: Vec<Dim> = dims.to_vec();
    if with_campaign && !fetched.contains(&Dim::Zone) {
        fetched.push(Dim::Zone);
    }
    let rollup = state
        .storage()
        .rollup(RollupQuery {
            dims: fetched.clone(),
            filters: filters.clone(),
            from_hour: from_hour.clone(),
            to_hour: to_hour.clone(),
            stores: stores.clone(),
        })
        .await?;
    let mut groups: BTreeMap<Vec<String>, Figures> = BTreeMap::new();
    for row in &rollup {
        groups
            .entry(row.values[..dims.len()].to_vec())
            .or_default()
            .add(&row.figures);
    }
    let share_of_voice = if with_campaign {
        share_of_voice(
            state,
            dims,
            &fetched,
            &filters,
            &rollup,
            &from_hour,
            &to_hour,
            stores.clone(),
        )
        .await?
    } else {
        BTreeMap::new()
    };
    let mut totals = Figures::default();
    let rows = groups
        .into_iter()
        .map(|(key, figures)| {
            totals.add(&figures);
            PlayRow {
                share_of_voice: share_of_voice.get(&key).cloned(),
                key,
                figures: to_figures(&figures),
            }
        })
        .collect();
    let uplift = uplift(state, &filters, &from_hour, &to_hour, stores).await?;
    Ok(PlayReport {
        from: from.to_string(),
        to: to.to_string(),
        group_by: dims.iter().map(|dim| dim.name().to_owned()).collect(),
        formula: IMPRESSIONS_FORMULA.to_owned(),
        rows,
        totals: to_figures(&totals),
        uplift,
    })
}

/// For each row of one campaign: its seconds ÷ all plays' seconds on the zones it played on, in
/// the same group of the other dimensions; and the share it booked.
#[allow(clippy::too_many_arguments)]
async fn share_of_voice(
    state: &AppState,
    dims: &[Dim],
    fetched: &[Dim],
    filters: &[(Dim, String)],
    rollup: &[RollupRow],
    from_hour: &str,
    to_hour: &str,
    stores: Option<Vec<String>>,
) -> Result<BTreeMap<Vec<String>, ShareOfVoice>, ApiError> {
    let campaign_at = dims.iter().position(|dim| *dim == Dim::Campaign);
    // The rows are grouped by zone too, so each campaign row's airtime is its own zones'.
    let (Some(campaign_at), true) = (campaign_at, fetched.contains(&Dim::Zone)) else {
        return Ok(BTreeMap::new());
    };
    // Every play on the same zones, whatever its campaign: the same query without the campaign.
    let others: Vec<Dim> = fetched
        .iter()
        .copied()
        .filter(|dim| *dim != Dim::Campaign)
        .collect();
    let all_filters: Vec<(Dim, String)> = filters
        .iter()
        .filter(|(dim, _)| !matches!(dim, Dim::Campaign | Dim::Offer | Dim::Arm))
        .cloned()
        .collect();
    let airtime = state
        .storage()
        .rollup(RollupQuery {
            dims: others.clone(),
            filters: all_filters,
            from_hour: from_hour.to_owned(),
            to_hour: to_hour.to_owned(),
            stores,
        })
        .await?;
    let airtime: BTreeMap<Vec<String>, u64> = airtime
        .into_iter()
        .map(|row| (row.values, row.figures.play_ms))
        .collect();
    let mut sums: BTreeMap<Vec<String>, (u64, u64)> = BTreeMap::new();
    for row in rollup {
        if row.values[campaign_at].is_empty() {
            continue;
        }
        let other_key: Vec<String> = row
            .values
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != campaign_at)
            .map(|(_, value)| value.clone())
            .collect();
        let zone_total = airtime.get(&other_key).copied().unwrap_or(0);
        let entry = sums.entry(row.values[..dims.len()].to_vec()).or_default();
        entry.0 += row.figures.play_ms;
        entry.1 += zone_total;
    }
    let booked: BTreeMap<String, Option<f64>> = state
        .storage()
        .latest_campaigns()
        .await?
        .into_iter()
        .map(|stored| {
            let booked = match stored.campaign.share {
                Share::Voice(percent) => Some(f64::from(percent.fraction())),
                Share::LoopSlots(_) => None,
            };
            (stored.campaign.name, booked)
        })
        .collect();
    Ok(sums
        .into_iter()
        .filter(|(_, (_, total))| *total > 0)
        .map(|(key, (campaign_ms, total))| {
            let booked = booked.get(&key[campaign_at]).copied().flatten();
            (
                key,
                ShareOfVoice {
                    achieved: campaign_ms as f64 / total as f64,
                    booked,
                },
            )
        })
        .collect())
}

/// Each offer's treatment against its control: scans per play, the difference and its 95 %
/// confidence interval (normal approximation of the difference of two proportions).
async fn uplift(
    state: &AppState,
    filters: &[(Dim, String)],
    from_hour: &str,
    to_hour: &str,
    stores: Option<Vec<String>>,
) -> Result<Vec<HoldoutUplift>, ApiError> {
    let filters: Vec<(Dim, String)> = filters
        .iter()
        .filter(|(dim, _)| *dim != Dim::Arm)
        .cloned()
        .collect();
    let rows = state
        .storage()
        .rollup(RollupQuery {
            dims: vec![Dim::Campaign, Dim::Offer, Dim::Arm],
            filters,
            from_hour: from_hour.to_owned(),
            to_hour: to_hour.to_owned(),
            stores,
        })
        .await?;
    let mut arms: BTreeMap<(String, String), [Option<Figures>; 2]> = BTreeMap::new();
    for row in rows {
        let [campaign, offer, arm] = <[String; 3]>::try_from(row.values).unwrap_or_default();
        let slot = match arm.as_str() {
            "treatment" => 0,
            "control" => 1,
            _ => continue,
        };
        arms.entry((campaign, offer)).or_default()[slot] = Some(row.figures);
    }
    Ok(arms
        .into_iter()
        .filter_map(|((campaign, offer), [treatment, control])| {
            let (treatment, control) = (treatment?, control?);
            if treatment.plays == 0 || control.plays == 0 {
                return None;
            }
            let estimate = two_proportions(
                treatment.scanned,
                treatment.plays,
                control.scanned,
                control.plays,
            );
            Some(HoldoutUplift {
                campaign,
                offer,
                treatment_plays: treatment.plays,
                treatment_scans: treatment.scanned,
                control_plays: control.plays,
                control_scans: control.scanned,
                uplift: estimate.difference,
                confidence_95: estimate.interval,
                relative: estimate.relative,
            })
        })
        .collect())
}

/// The difference of two proportions with its 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Difference {
    pub difference: f64,
    pub interval: [f64; 2],
    pub relative: Option<f64>,
}

/// `x1/n1 - x2/n2`, with the Wald 95 % interval `± 1.96 √(p1(1-p1)/n1 + p2(1-p2)/n2)`.
pub fn two_proportions(x1: u64, n1: u64, x2: u64, n2: u64) -> Difference {
    let (n1f, n2f) = (n1.max(1) as f64, n2.max(1) as f64);
    let p1 = x1 as f64 / n1f;
    let p2 = x2 as f64 / n2f;
    let difference = p1 - p2;
    let error = (p1 * (1.0 - p1) / n1f + p2 * (1.0 - p2) / n2f).sqrt();
    Difference {
        difference,
        interval: [difference - 1.96 * error, difference + 1.96 * error],
        relative: (p2 > 0.0).then(|| difference / p2),
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChainQuery {
    /// The first store-local day, `YYYY-MM-DD`; default six days before `to`.
    #[serde(default)]
    pub from: Option<String>,
    /// The last store-local day (included); default today (UTC).
    #[serde(default)]
    pub to: Option<String>,
}

/// `GET /v1/reports/chain`: per screen and store-local day, whether its plays' hash chain is
/// intact, and where it first breaks. Read from the raw plays, so only over their retention.
#[utoipa::path(
    get,
    path = "/v1/reports/chain",
    tag = "reports",
    params(crate::play_reports::ChainQuery),
    responses(
        (status = 200, description = "Each screen's chain per day", body = vitrine_wire::plays::ChainReport),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn chain(
    State(state): State<AppState>,
    manager: Manager,
    query: Result<Query<ChainQuery>, QueryRejection>,
) -> Result<Json<ChainReport>, ApiError> {
    let Query(query) = query?;
    Ok(Json(chain_report(&state, &manager, &query).await?))
}

/// Each screen's chain per day over `query`'s range, as `manager` may read it: what
/// `GET /v1/reports/chain` answers, and what the console's report page shows.
pub async fn chain_report(
    state: &AppState,
    manager: &Manager,
    query: &ChainQuery,
) -> Result<ChainReport, ApiError> {
    let (from, to) = day_range(query.from.as_deref(), query.to.as_deref())?;
    check_retention(state, from)?;
    let (from_hour, to_hour) = hour_range(from, to);
    let stores = manager.stores().map(<[String]>::to_vec);
    let days = state
        .storage()
        .chain_days(from_hour, to_hour, stores)
        .await?
        .into_iter()
        .map(|day| {
            ChainDayRow {
            intact: day.broken == 0 && day.restarts == 0 && day.pending == 0 && day.unchained == 0,
            first_break: day.first_break.map(|(sequence, state)| match state.as_str() {
                "restart" => format!(
                    "play {sequence} starts a new chain: the player's journal was made anew"
                ),
                _ => format!(
                    "play {sequence} does not link to play {}: a record was altered or replaced",
                    sequence.saturating_sub(1)
                ),
            }),
            screen: day.screen,
            day: day.day,
            plays: day.plays,
            linked: day.linked,
            broken: day.broken,
            restarts: day.restarts,
            pending: day.pending,
            unchained: day.unchained,
        }
        })
        .collect();
    Ok(ChainReport {
        from: from.to_string(),
        to: to.to_string(),
        days,
    })
}

/// Refuses a range that starts before the raw plays' retention: those plays are gone (their
/// figures are in the rollups, which the plays report reads).
pub fn check_retention(state: &AppState, from: Date) -> Result<(), ApiError> {
    let Some(days) = state.raw_play_retention_days() else {
        return Ok(());
    };
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let oldest = today.saturating_sub(jiff::Span::new().days(i64::from(days)));
    if from < oldest {
        return Err(bad_field(
            "from",
            format!(
                "{from} is before {oldest}: raw plays are kept for {days} days \
                 (`--raw-play-retention-days`); the plays report (`/v1/reports/plays`) still has \
                 their figures"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_effect_lies_inside_its_interval() {
        // 10 % against 5 % over 20,000 plays each: the interval is about ± 0.5 points.
        let estimate = two_proportions(2_000, 20_000, 1_000, 20_000);
        assert!((estimate.difference - 0.05).abs() < 1e-12);
        assert!(estimate.interval[0] < 0.05 && 0.05 < estimate.interval[1]);
        assert!(estimate.interval[0] > 0.04 && estimate.interval[1] < 0.06);
        assert_eq!(estimate.relative, Some(1.0));
        // No effect on few plays: the interval straddles zero.
        let none = two_proportions(3, 50, 3, 50);
        assert!(none.interval[0] < 0.0 && none.interval[1] > 0.0);
    }

    #[test]
    fn a_simulated_effect_is_found_inside_the_interval() {
        // Plays scanned with a chance of 12 % in the treatment and 8 % in the control, drawn by
        // a fixed generator: the true effect, 4 points, lies inside the 95 % interval, and zero
        // does not.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut draw = |chance: f64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 / (1u64 << 53) as f64) < chance
        };
        let plays = 30_000u64;
        let treated = (0..plays).filter(|_| draw(0.12)).count() as u64;
        let held_out = (0..plays).filter(|_| draw(0.08)).count() as u64;
        let estimate = two_proportions(treated, plays, held_out, plays);
        assert!(
            estimate.interval[0] < 0.04 && 0.04 < estimate.interval[1],
            "{estimate:?}"
        );
        assert!(estimate.interval[0] > 0.0, "{estimate:?}");
        let relative = estimate.relative.unwrap();
        assert!((relative - 0.5).abs() < 0.1, "{estimate:?}");
    }

    #[test]
    fn ranges_are_checked_naming_the_field() {
        let error = day_range(Some("2026-12-05"), Some("2026-12-01")).unwrap_err();
        assert!(error.to_string().contains("`to`"), "{error}");
        let error = day_range(Some("yesterday"), Some("2026-12-01")).unwrap_err();
        assert!(error.to_string().contains("`from`"), "{error}");
        let (from, to) = day_range(Some("2026-12-01"), Some("2026-12-07")).unwrap();
        assert_eq!(
            hour_range(from, to),
            ("2026-12-01T00".to_owned(), "2026-12-08T00".to_owned())
        );
        assert!(parse_dims(Some("campaign,weekday")).is_err());
        assert_eq!(
            parse_dims(Some("campaign, store,day,store")).unwrap(),
            vec![Dim::Campaign, Dim::Store, Dim::Day]
        );
    }
}

/// How many plays one page of the export reads.
const EXPORT_PAGE: usize = 10_000;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// The first store-local day, `YYYY-MM-DD`; default six days before `to`.
    #[serde(default)]
    pub from: Option<String>,
    /// The last store-local day (included); default today (UTC).
    #[serde(default)]
    pub to: Option<String>,
    /// `csv` (the default) or `parquet`.
    #[serde(default)]
    pub format: Option<String>,
}

/// `GET /v1/reports/plays/export`: the raw ad log, one row per play, as CSV or Parquet, streamed
/// page by page however long the range (within the raw plays' retention). Staff get their stores'
/// screens' plays.
#[utoipa::path(
    get,
    path = "/v1/reports/plays/export",
    tag = "reports",
    params(crate::play_reports::ExportQuery),
    responses(
        (status = 200, description = "One row per play: CSV (formula-injection safe) or Parquet", content_type = "text/csv"),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn export(
    State(state): State<AppState>,
    manager: Manager,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    let Query(query) = query?;
    export_log(state, &manager, &query).await
}

/// The raw ad log `query` asks for, streamed, as `manager` may read it: what
/// `GET /v1/reports/plays/export` answers, and what the console's export links download.
pub async fn export_log(
    state: AppState,
    manager: &Manager,
    query: &ExportQuery,
) -> Result<axum::response::Response, ApiError> {
    let format: ExportFormat = query.format.as_deref().unwrap_or("csv").parse().map_err(
        |error: crate::export::UnknownExportFormat| bad_field("format", error.to_string()),
    )?;
    let (from, to) = day_range(query.from.as_deref(), query.to.as_deref())?;
    check_retention(&state, from)?;
    let (from_hour, to_hour) = hour_range(from, to);
    let stores = manager.stores().map(<[String]>::to_vec);
    // Read the first page before answering, so a database that is down is a clean 503.
    let first = state
        .storage()
        .play_log(
            from_hour.clone(),
            to_hour.clone(),
            stores.clone(),
            None,
            EXPORT_PAGE,
        )
        .await?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::spawn(async move {
        let failed = |error: String| Err(std::io::Error::other(error));
        let mut writer = AdLogWriter::new(format);
        let mut page = first;
        loop {
            match writer.write_rows(&page.rows) {
                Ok(bytes) if bytes.is_empty() => {}
                Ok(bytes) => {
                    if sender.send(Ok(bytes)).await.is_err() {
                        return;
                    }
                }
                Err(error) => {
                    let _ = sender.send(failed(error.to_string())).await;
                    return;
                }
            }
            let Some(after) = page.next.take() else {
                break;
            };
            page = match state
                .storage()
                .play_log(
                    from_hour.clone(),
                    to_hour.clone(),
                    stores.clone(),
                    Some(after),
                    EXPORT_PAGE,
                )
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "the ad log export stopped: the database failed");
                    let _ = sender.send(failed(error.to_string())).await;
                    return;
                }
            };
        }
        match writer.finish() {
            Ok(bytes) => {
                let _ = sender.send(Ok(bytes)).await;
            }
            Err(error) => {
                let _ = sender.send(failed(error.to_string())).await;
            }
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let file_name = format!("plays-{from}-{to}.{}", format.extension());
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, format.content_type())
        .header(
            axum::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file_name}\""),
        )
        .body(axum::body::Body::from_stream(stream))
        .map_err(|error| ApiError::internal("the export's answer", error))
}
