//! A screen's page: how it is doing, its remote commands, its next 24 hours per zone from the
//! schedule engine, and "why did this play at T?" from the same engine (`GET /v1/explain`).

use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::{SignedDuration, Timestamp};
use maud::{Markup, html};
use serde::Deserialize;
use vitrine_core::Schedule;

use super::fleet::{FleetFilters, ONLINE_WITHIN};
use super::{ConsoleUser, ago, api_problem, html_response, layout, query_escaped, when};
use crate::AppState;
use crate::error::ApiError;
use crate::reads::Reads;
use crate::reports::{ExplainQuery, Explanation};

/// How far ahead the timeline looks.
const TIMELINE: SignedDuration = SignedDuration::from_hours(24);

/// The commands the page offers, with their buttons' words and what each does.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "screenshot",
        "Take a screenshot",
        "The screen sends the frame it shows now.",
    ),
    (
        "identify",
        "Identify",
        "Shows this screen's name full screen for 10 seconds.",
    ),
    (
        "resync",
        "Reload content",
        "Asks HQ for its manifest now and fetches what changed.",
    ),
    (
        "restart",
        "Restart player",
        "Restarts the player program; the screen goes dark for a few seconds.",
    ),
];

#[derive(Debug, Default, Deserialize)]
pub struct ScreenQuery {
    /// "Why did this play at T?": the instant asked about.
    at: Option<String>,
    /// The command just sent, to say so.
    sent: Option<String>,
}

/// `GET /console/screens/{name}`.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
    Query(query): Query<ScreenQuery>,
) -> Response {
    // The API's own check first: staff asking for another store's screen get its 403.
    if let Err(error) = user
        .manager
        .ensure_screens(&state, std::slice::from_ref(&name))
        .await
    {
        return api_problem(&user, &error);
    }
    let now = Timestamp::now();
    let row = match FleetFilters::default().query(&user, now) {
        Ok(mut fleet_query) => {
            fleet_query.screen = Some(name.clone());
            match state.storage().fleet_page(fleet_query).await {
                Ok(page) => page.rows.into_iter().next(),
                Err(error) => return api_problem(&user, &error.into()),
            }
        }
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    let Some(row) = row else {
        return api_problem(
            &user,
            &ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_screen",
                format!("no screen called `{name}` is registered"),
            ),
        );
    };
    let timeline = timeline(&state, &name, now).await;
    let why = match &query.at {
        Some(at) => Some(why(&state, &user, &name, at).await),
        None => None,
    };
    let heartbeat = row.heard.as_ref().map(|(_, heartbeat)| heartbeat);
    let escaped = query_escaped(&name);
    let body = html! {
        @if let Some(sent) = &query.sent {
            p class="notice" role="status" { "Sent “" (sent) "” to the screen." }
        }
        section class="card" aria-labelledby="status-heading" {
            h2 id="status-heading" { "Status" }
            dl class="facts" {
                dt { "Store" } dd { (row.store.as_deref().unwrap_or("none")) }
                dt { "Playlist" } dd {
                    a href=(format!("/console/playlists/{}", query_escaped(&row.playlist))) { (row.playlist) }
                    @if let Some(version) = heartbeat.and_then(|heartbeat| heartbeat.playlist_version) {
                        " v" (version) " on screen"
                    }
                    @if let Some(newest) = row.newest_playlist { " · newest v" (newest) }
                }
                dt { "Heard from" } dd id="heard" {
                    @match &row.heard {
                        Some((at, _)) => {
                            (ago(*at, now)) " (" (when(*at)) ")"
                            @if now.duration_since(*at) > ONLINE_WITHIN { " · " span class="warn" { "offline" } }
                        }
                        None => "never",
                    }
                }
                dt { "Content" } dd {
                    @match super::fleet::behind(&row) {
                        Some(true) => span class="warn" { "behind: the newest manifest has not reached the screen" },
                        Some(false) => span class="ok" { "up to date" },
                        None => span class="muted" { "not reported" },
                    }
                }
                dt { "Showing" } dd id="showing" {
                    @if let Some(heartbeat) = heartbeat {
                        @for zone in &heartbeat.showing { div { (zone.zone) ": " (zone.item) } }
                        @if let Some(interrupt) = &heartbeat.interrupt { div class="warn" { "emergency message: " (interrupt.message) } }
                    }
                }
                dt { "Unsent plays" } dd { @if let Some(heartbeat) = heartbeat { (heartbeat.unsent_impressions) } }
                @if let Some(system) = heartbeat.and_then(|heartbeat| heartbeat.system.as_ref()) {
                    dt { "Player" } dd {
                        (system.version)
                        @if let Some(os) = &system.os { " · " (os) }
                        @if let Some(gpu) = &system.gpu { " · " (gpu.name) }
                    }
                }
                @if let Some(frames) = heartbeat.and_then(|heartbeat| heartbeat.frames.as_ref()) {
                    dt { "Frames" } dd {
                        "p50 " (format!("{:.1}", frames.frame_time_p50_ms)) " ms · p99 "
                        (format!("{:.1}", frames.frame_time_p99_ms)) " ms · "
                        (frames.missed_refreshes) " missed refreshes"
                    }
                }
                @if let Some(heartbeat) = heartbeat {
                    @if !heartbeat.alerts.is_empty() {
                        dt { "Alerts" } dd { @for alert in &heartbeat.alerts { div class="warn" { (alert) } } }
                    }
                }
            }
        }
        section class="card" aria-labelledby="commands-heading" {
            h2 id="commands-heading" { "Commands" }
            div class="commands" {
                @for (command, label, help) in COMMANDS {
                    form method="post" action=(format!("/console/screens/{escaped}/command")) class="command" {
                        (user.csrf_field())
                        input type="hidden" name="command" value=(command);
                        button type="submit" data-command=(command) aria-describedby=(format!("help-{command}")) { (label) }
                        p class="help" id=(format!("help-{command}")) { (help) }
                    }
                }
            }
        }
        section class="card" aria-labelledby="screenshot-heading" {
            h2 id="screenshot-heading" { "Screenshot" }
            div id="screenshot" data-src=(format!("/console/screens/{escaped}/screenshot")) {
                p class="muted" { "Press “Take a screenshot” to see what the screen shows." }
            }
        }
        section class="card" aria-labelledby="why-heading" {
            h2 id="why-heading" { "Why did this play?" }
            form method="get" action=(format!("/console/screens/{escaped}")) class="inline-form" {
                label for="at" { "At (UTC, or with an offset)" }
                input id="at" name="at" value=(query.at.clone().unwrap_or_else(|| now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
                button type="submit" { "Explain" }
            }
            @if let Some(why) = why { (why) }
        }
        section class="card" aria-labelledby="timeline-heading" {
            h2 id="timeline-heading" { "Next 24 hours" }
            (timeline)
        }
    };
    html_response(StatusCode::OK, layout(Some(&user), &name, body))
}

/// One stretch of a zone's day played by one rule.
struct Block {
    rule: String,
    start: Timestamp,
    end: Timestamp,
    items: Vec<String>,
}

/// The next 24 hours of every zone, as the stretches each rule plays, from the schedule engine
/// the players run on the screen's current manifest.
async fn timeline(state: &AppState, name: &str, now: Timestamp) -> Markup {
    let screen = match state.storage().screen_by_name(name.to_owned()).await {
        Ok(Some(screen)) => screen,
        Ok(None) => return html! { p class="muted" { "This screen is gone." } },
        Err(error) => return html! { p class="problem" { (ApiError::from(error).message()) } },
    };
    let reads = Reads::new(state);
    let body = match crate::manifest::manifest_from(state, &reads, &screen).await {
        Ok(Some(body)) => body,
        Ok(None) => {
            return html! {
                p class="muted" { "Playlist " (screen.playlist) " has not been pushed yet: nothing is scheduled." }
            };
        }
        Err(error) => return html! { p class="problem" { (error.message()) } },
    };
    let schedule: Schedule = match body.manifest.schedule() {
        Ok(schedule) => schedule,
        Err(error) => {
            return html! { p class="problem" { "The schedule cannot be made: " (error.to_string()) } };
        }
    };
    let end = now + TIMELINE;
    let span = end.duration_since(now).as_secs_f64();
    let position =
        |time: Timestamp| (time.duration_since(now).as_secs_f64() / span * 100.0).clamp(0.0, 100.0);
    let zones: Vec<(String, Vec<Block>)> = schedule
        .zone_names()
        .map(|zone| {
            let mut blocks: Vec<Block> = Vec::new();
            for play in schedule.timeline(zone, now, end) {
                let rule = play.reason.rule.name.clone();
                match blocks.last_mut() {
                    Some(block) if block.rule == rule && block.end == play.start => {
                        block.end = play.end;
                        if !block.items.contains(&play.item.id) {
                            block.items.push(play.item.id.clone());
                        }
                    }
                    _ => blocks.push(Block {
                        rule,
                        start: play.start,
                        end: play.end,
                        items: vec![play.item.id.clone()],
                    }),
                }
            }
            (zone.to_owned(), blocks)
        })
        .collect();
    html! {
        p class="help" { "From " (when(now)) " to " (when(end)) ", in the screen's schedule (time zone " (schedule.time_zone().iana_name().unwrap_or("UTC")) ")." }
        @for (zone, blocks) in &zones {
            h3 { "Zone " (zone) }
            div class="timeline" role="img" aria-label=(format!("Zone {zone}: {} stretches in the next 24 hours", blocks.len())) {
                @for (index, block) in blocks.iter().enumerate() {
                    span class={ "block b" (index % 6) }
                        style=(format!("left:{:.3}%;width:{:.3}%", position(block.start), (position(block.end) - position(block.start)).max(0.2)))
                        title=(format!("{} · {} → {}", block.rule, when(block.start), when(block.end))) {}
                }
            }
            table class="compact" {
                thead { tr { th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Rule" } th scope="col" { "Items" } } }
                tbody {
                    @for block in blocks.iter().take(48) {
                        tr {
                            td { (block.start.max(now).strftime("%a %H:%M").to_string()) }
                            td { (block.end.min(end).strftime("%a %H:%M").to_string()) }
                            td { (block.rule) }
                            td { (block.items.join(", ")) }
                        }
                    }
                    @if blocks.is_empty() { tr { td colspan="4" { "Nothing scheduled: the fallback shows." } } }
                }
            }
        }
    }
}

/// "Why did this play at `at`?", answered by `GET /v1/explain` itself.
async fn why(state: &AppState, user: &ConsoleUser, name: &str, at: &str) -> Markup {
    let answer = crate::reports::explain(
        State(state.clone()),
        user.manager.clone(),
        Ok(Query(ExplainQuery {
            screen: name.to_owned(),
            at: at.trim().to_owned(),
            slot: None,
        })),
    )
    .await;
    let Json(explanation): Json<Explanation> = match answer {
        Ok(explanation) => explanation,
        Err(error) => return html! { p class="problem" role="alert" { (error.message()) } },
    };
    html! {
        div id="why" {
            p { "At " (when(explanation.at)) " (" (explanation.timezone) "):" }
            ul {
                @for zone in &explanation.zones {
                    li {
                        strong { "Zone " (zone.zone) ": " }
                        @match &zone.item { Some(item) => { "item " code { (item) } }, None => "nothing (fallback)" }
                        " — " (zone.reason)
                    }
                }
            }
            @for slot in &explanation.offers {
                h3 { "Offer slot " (slot.slot) }
                @if let Some(shows) = &slot.shows { p { "Shows offer " code { (shows.offer_id) } } }
                @if !slot.eligible.is_empty() {
                    p { "Eligible: " (slot.eligible.iter().map(|offer| offer.offer_id.as_str()).collect::<Vec<_>>().join(", ")) }
                }
                @if !slot.excluded.is_empty() {
                    ul { @for excluded in &slot.excluded { li { code { (excluded.offer_id) } ": " (excluded.reason) } } }
                }
                details { summary { "Every step of the pick (caps, weights, holdout)" } pre { (serde_json::to_string_pretty(&slot.pick).unwrap_or_default()) } }
            }
            @if !explanation.campaigns.is_empty() {
                h3 { "Campaigns targeting this screen" }
                ul { @for campaign in &explanation.campaigns {
                    li { (campaign.name) ": " (campaign.because) @if !campaign.applies { " (not in its dates or dayparts now)" } }
                } }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CommandForm {
    csrf: Option<String>,
    command: String,
}

/// `POST /console/screens/{name}/command`: sends a command through `POST /v1/commands` itself.
pub async fn command(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CommandForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let request = vitrine_wire::events::CommandRequest {
        screens: vec![name.clone()],
        region: None,
        stores: Vec::new(),
        tags: Vec::new(),
        command: form.command.clone(),
    };
    let sent =
        crate::events::post_command(State(state), user.manager.clone(), Ok(Json(request))).await;
    let wants_json = headers
        .get("x-console")
        .is_some_and(|value| value.as_bytes() == b"fetch");
    match sent {
        Ok((status, published)) if wants_json => (status, published).into_response(),
        Ok(_) => Redirect::to(&format!(
            "/console/screens/{}?sent={}",
            query_escaped(&name),
            query_escaped(&form.command)
        ))
        .into_response(),
        Err(error) if wants_json => error.into_response(),
        Err(error) => api_problem(&user, &error),
    }
}

/// `GET /console/screens/{name}/screenshot`: the screen's latest screenshot, through
/// `GET /v1/screens/{name}/screenshot` itself (its JPEG, `X-Vitrine-Taken-At`, or the API's error).
pub async fn screenshot(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
) -> Response {
    crate::screenshots::get_screenshot(State(state), user.manager, Path(name))
        .await
        .unwrap_or_else(IntoResponse::into_response)
}
