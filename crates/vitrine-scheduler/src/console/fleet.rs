//! The fleet page: every screen the person may see, a page at a time, filtered and searched on the
//! server, with its rows refreshed live as heartbeats arrive.
//!
//! Live updates: the page holds `GET /console/fleet/live` open (server-sent events). Once a second
//! the scheduler asks the database which of the person's screens were heard from since its last
//! look, and sends their names as one `heard` event; the page fetches its rows again when a name it
//! shows (or might show, under a state filter) is among them. The database is asked, not this
//! process's memory, so a heartbeat stored by another replica shows too.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use jiff::{SignedDuration, Timestamp};
use maud::{Markup, html};
use serde::Deserialize;

use super::{ConsoleUser, ago, api_problem, html_response, layout, query_escaped, when};
use crate::AppState;
use crate::error::ApiError;
use crate::storage::console::{FleetPage, FleetQuery, FleetRow, FleetState};

/// Screens on one page.
pub const PAGE_SIZE: u64 = 50;

/// A screen heard from within this is online: a little over two of the player's default
/// 60-second heartbeats.
pub const ONLINE_WITHIN: SignedDuration = SignedDuration::from_secs(150);

/// How often the live stream asks who was heard from.
const LIVE_EVERY: Duration = Duration::from_secs(1);

/// The most names one live event carries; past it the page simply reloads its rows.
const LIVE_NAMES: u64 = 500;

/// The fleet page's filters, as its URL carries them.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FleetFilters {
    #[serde(default)]
    pub store: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub page: Option<u64>,
}

fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

impl FleetFilters {
    /// The storage query for these filters, as `user` may see it.
    pub fn query(&self, user: &ConsoleUser, now: Timestamp) -> Result<FleetQuery, String> {
        let state = match given(&self.state) {
            None => None,
            Some(state) => Some(FleetState::parse(&state).ok_or_else(|| {
                format!(
                    "`{state}` is not a state; choose one of {}",
                    FleetState::ALL.map(FleetState::as_str).join(", ")
                )
            })?),
        };
        let page = self.page.unwrap_or(1).max(1);
        Ok(FleetQuery {
            visible_stores: user.manager.stores().map(<[String]>::to_vec),
            screen: None,
            store: given(&self.store),
            region: given(&self.region),
            tag: given(&self.tag),
            state,
            search: given(&self.q),
            online_since: now - ONLINE_WITHIN,
            offset: (page - 1).saturating_mul(PAGE_SIZE),
            limit: PAGE_SIZE,
        })
    }

    /// The URL query of these filters on another page.
    fn on_page(&self, page: u64) -> String {
        format!(
            "store={}&region={}&tag={}&state={}&q={}&page={page}",
            query_escaped(&self.store),
            query_escaped(&self.region),
            query_escaped(&self.tag),
            query_escaped(&self.state),
            query_escaped(&self.q)
        )
    }
}

/// `GET /console/fleet`.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(filters): Query<FleetFilters>,
) -> Response {
    let now = Timestamp::now();
    let (status, rows) = match fleet_rows(&state, &user, &filters, now).await {
        Ok(rows) => (StatusCode::OK, rows),
        Err(FleetProblem::Filter(message)) => (
            StatusCode::BAD_REQUEST,
            html! { p class="problem" role="alert" { (message) } },
        ),
        Err(FleetProblem::Api(error)) => return api_problem(&user, &error),
    };
    let state_option = |value: &str, label: &str| {
        html! {
            option value=(value) selected[filters.state == value] { (label) }
        }
    };
    let body = html! {
        form method="get" action="/console/fleet" class="filters" role="search" {
            div {
                label for="q" { "Search" }
                input id="q" name="q" type="search" value=(filters.q)
                    placeholder="screen, store or playlist";
            }
            div {
                label for="store" { "Store" }
                input id="store" name="store" value=(filters.store) placeholder="store code";
            }
            div {
                label for="region" { "Region" }
                input id="region" name="region" value=(filters.region);
            }
            div {
                label for="tag" { "Tag" }
                input id="tag" name="tag" value=(filters.tag);
            }
            div {
                label for="state" { "State" }
                select id="state" name="state" {
                    (state_option("", "any"))
                    (state_option("online", "online"))
                    (state_option("offline", "offline"))
                    (state_option("silent", "never heard from"))
                    (state_option("behind", "behind (push not arrived)"))
                    (state_option("alerting", "with alerts"))
                }
            }
            div class="actions" {
                button type="submit" { "Filter" }
                a href="/console/fleet" { "Clear" }
            }
        }
        div id="fleet" data-live="/console/fleet/live"
            data-rows=(format!("/console/fleet/rows?{}", filters.on_page(filters.page.unwrap_or(1).max(1))))
            data-state=(filters.state) {
            (rows)
        }
    };
    html_response(status, layout(Some(&user), "Fleet", body))
}

/// `GET /console/fleet/rows`: the table alone, for the live refresh.
pub async fn rows(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(filters): Query<FleetFilters>,
) -> Response {
    match fleet_rows(&state, &user, &filters, Timestamp::now()).await {
        Ok(rows) => html_response(StatusCode::OK, rows),
        Err(FleetProblem::Filter(message)) => (StatusCode::BAD_REQUEST, message).into_response(),
        Err(FleetProblem::Api(error)) => error.into_response(),
    }
}

enum FleetProblem {
    Filter(String),
    Api(ApiError),
}

/// The table of one fleet page, with its pager.
async fn fleet_rows(
    state: &AppState,
    user: &ConsoleUser,
    filters: &FleetFilters,
    now: Timestamp,
) -> Result<Markup, FleetProblem> {
    let query = filters.query(user, now).map_err(FleetProblem::Filter)?;
    let page = filters.page.unwrap_or(1).max(1);
    let FleetPage { rows, total } = state
        .storage()
        .fleet_page(query)
        .await
        .map_err(|error| FleetProblem::Api(error.into()))?;
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    Ok(html! {
        p class="count" aria-live="polite" {
            (total) " screen" @if total != 1 { "s" }
            " · page " (page) " of " (pages)
            " · updated " span class="updated" { (when(now)) }
        }
        div class="scroll" {
            table class="fleet" {
                thead {
                    tr {
                        th scope="col" { "Screen" }
                        th scope="col" { "Store" }
                        th scope="col" { "State" }
                        th scope="col" { "Showing" }
                        th scope="col" { "Content" }
                        th scope="col" { "Unsent plays" }
                        th scope="col" { "Frames" }
                        th scope="col" { "Alerts" }
                    }
                }
                tbody {
                    @for row in &rows {
                        (fleet_row(row, now))
                    }
                    @if rows.is_empty() {
                        tr { td colspan="8" { "No screen matches these filters." } }
                    }
                }
            }
        }
        nav class="pager" aria-label="Pages" {
            @if page > 1 {
                a href=(format!("/console/fleet?{}", filters.on_page(page - 1))) rel="prev" { "← Previous" }
            }
            @if page < pages {
                a href=(format!("/console/fleet?{}", filters.on_page(page + 1))) rel="next" { "Next →" }
            }
        }
    })
}

/// Whether a screen's reported manifest is older than the newest HQ built for it.
pub fn behind(row: &FleetRow) -> Option<bool> {
    let reported = row.heard.as_ref()?.1.manifest_version?;
    Some(row.newest_manifest? > reported)
}

/// A manifest version as the time its content was first built (versions count microseconds; see
/// `crate::manifest_versions`).
fn version_time(version: u64) -> Option<Timestamp> {
    Timestamp::from_microsecond(i64::try_from(version).ok()?).ok()
}

fn fleet_row(row: &FleetRow, now: Timestamp) -> Markup {
    let (state_class, state_text) = match (&row.heard, row.revoked) {
        (_, true) => ("revoked", "revoked".to_owned()),
        (None, false) => ("silent", "never heard from".to_owned()),
        (Some((at, _)), false) if now.duration_since(*at) <= ONLINE_WITHIN => {
            ("online", format!("online · {}", ago(*at, now)))
        }
        (Some((at, _)), false) => ("offline", format!("offline · {}", ago(*at, now))),
    };
    let heartbeat = row.heard.as_ref().map(|(_, heartbeat)| heartbeat);
    html! {
        tr data-screen=(row.name) {
            th scope="row" {
                a href=(format!("/console/screens/{}", query_escaped(&row.name))) { (row.name) }
                @if !row.tags.is_empty() {
                    div class="tags" { @for tag in &row.tags { span class="tag" { (tag) } } }
                }
            }
            td {
                @if let Some(store) = &row.store { (store) } @else { span class="muted" { "none" } }
                @if !row.region.is_empty() { div class="muted" { (row.region) } }
            }
            td { span class={ "state " (state_class) } { (state_text) } }
            td class="showing" {
                @match heartbeat {
                    Some(heartbeat) if heartbeat.interrupt.is_some() => {
                        span class="warn" { "emergency message" }
                    }
                    Some(heartbeat) if !heartbeat.showing.is_empty() => {
                        @for zone in &heartbeat.showing {
                            div { span class="muted" { (zone.zone) ": " } (zone.item) }
                        }
                    }
                    Some(heartbeat) => {
                        @if let Some(problem) = &heartbeat.problem { span class="warn" { (problem) } }
                        @else { span class="muted" { "nothing yet" } }
                    }
                    None => span class="muted" { "unknown" },
                }
            }
            td class="content" {
                (row.playlist)
                @if let Some(version) = heartbeat.and_then(|heartbeat| heartbeat.playlist_version) {
                    " v" span class="playlist-version" { (version) }
                }
                @if let (Some(newest), Some(shown)) = (row.newest_playlist, heartbeat.and_then(|heartbeat| heartbeat.playlist_version)) {
                    @if newest > shown { span class="warn" { " (newest v" (newest) ")" } }
                }
                @match behind(row) {
                    Some(true) => div class="manifest warn" {
                        "behind: content of "
                        (row.newest_manifest.and_then(version_time).map(when).unwrap_or_default())
                        " not on screen"
                    },
                    Some(false) => div class="manifest ok" { "up to date" },
                    None => {}
                }
            }
            td class="number" {
                @match heartbeat { Some(heartbeat) => (heartbeat.unsent_impressions), None => "–" }
            }
            td class="frames" {
                @if let Some(frames) = heartbeat.and_then(|heartbeat| heartbeat.frames.as_ref()) {
                    "p99 " (format!("{:.1}", frames.frame_time_p99_ms)) " ms"
                    @if frames.missed_refreshes > 0 { div class="warn" { (frames.missed_refreshes) " missed" } }
                } @else { span class="muted" { "–" } }
            }
            td class="alerts" {
                @if let Some(heartbeat) = heartbeat {
                    @for alert in &heartbeat.alerts { div class="warn" { (alert) } }
                }
            }
        }
    }
}

/// `GET /console/fleet/live`: server-sent events, one `heard` event a second at most, naming
/// the person's screens heard from since the last one.
pub async fn live(
    State(state): State<AppState>,
    user: ConsoleUser,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let visible = user.manager.stores().map(<[String]>::to_vec);
    let mut closing = state.hub().closing();
    let stream = async_stream_of(move |sender| async move {
        let mut since = Timestamp::now();
        let mut tick = tokio::time::interval(LIVE_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = closing.wait_for(|closing| *closing) => return,
            }
            if sender.is_closed() {
                return;
            }
            let heard = match state
                .storage()
                .heard_since(since, visible.clone(), LIVE_NAMES)
                .await
            {
                Ok(heard) => heard,
                // The database is away: say nothing, and ask again in a second.
                Err(_) => continue,
            };
            let Some((_, newest)) = heard.last() else {
                continue;
            };
            since = *newest;
            let names: Vec<&str> = heard.iter().map(|(name, _)| name.as_str()).collect();
            let data = serde_json::to_string(&names).unwrap_or_else(|_| "[]".into());
            if sender
                .send(Ok(Event::default().event("heard").data(data)))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// A stream fed by a task: the task ends when the stream is dropped (the browser went away).
fn async_stream_of<F, Fut>(task: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Event, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    tokio::spawn(task(sender));
    tokio_stream_of(receiver)
}

fn tokio_stream_of<T>(receiver: tokio::sync::mpsc::Receiver<T>) -> impl Stream<Item = T> {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}
