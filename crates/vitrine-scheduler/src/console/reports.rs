//! The report page: proof of play as HQ and the brands read it. The plays report grouped and
//! filtered as the person asks, with its impressions formula, share of voice and holdout uplift,
//! and the raw ad log of its days to download as CSV or Parquet; and, on a page of its own since it
//! reads the raw plays rather than the rollups, each screen's hash chain per day.
//!
//! Every figure comes from the API's own functions (`crate::play_reports`) with the person's
//! [`crate::auth::Manager`], so staff read exactly their stores' plays, and a filter naming
//! another store is the API's 403.

use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use vitrine_wire::plays::{ChainReport, PlayFigures, PlayReport};

use super::{ConsoleUser, api_problem, html_response, layout, query_escaped};
use crate::AppState;
use crate::play_reports::{
    ChainQuery, ExportQuery, PlayReportQuery, chain_report, export_log, plays_report,
};
use crate::storage::plays::Dim;

/// The most chain rows the page lists: the days that are not intact come first.
const CHAIN_ROWS: usize = 200;

/// The report form's fields, as its URL carries them. `group_by` comes once per ticked box.
#[derive(Debug, Default)]
struct ReportForm {
    group_by: Vec<String>,
    from: String,
    to: String,
    /// Each filter's field name and value, in [`FILTERS`] order.
    filters: Vec<(&'static str, String)>,
}

/// The filters the form offers, with their labels; the first six are always shown.
const FILTERS: [(&str, &str); 11] = [
    ("campaign", "Campaign"),
    ("store", "Store"),
    ("region", "Region"),
    ("screen", "Screen"),
    ("offer", "Offer"),
    ("arm", "Arm"),
    ("creative", "Creative (media sha256)"),
    ("playlist", "Playlist"),
    ("item", "Playlist item"),
    ("zone", "Zone"),
    ("venue_zone", "Venue zone (IAB)"),
];

impl ReportForm {
    /// Reads the URL's query. A page opened without one shows the last seven days by day.
    fn parse(raw: Option<&str>) -> Self {
        let raw = raw.unwrap_or("");
        let mut form = ReportForm::default();
        if raw.is_empty() {
            form.group_by.push("day".to_owned());
        }
        for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            let value = value.trim().to_owned();
            match key.as_ref() {
                "group_by" if !value.is_empty() => form.group_by.push(value),
                "from" => form.from = value,
                "to" => form.to = value,
                key => {
                    if let Some((name, _)) = FILTERS.iter().find(|(name, _)| *name == key)
                        && !value.is_empty()
                    {
                        form.filters.push((name, value));
                    }
                }
            }
        }
        form.filters.sort_by_key(|(name, _)| {
            FILTERS
                .iter()
                .position(|(filter, _)| filter == name)
                .unwrap_or(usize::MAX)
        });
        form
    }

    fn filter(&self, name: &str) -> Option<String> {
        self.filters
            .iter()
            .find(|(filter, _)| *filter == name)
            .map(|(_, value)| value.clone())
    }

    fn range(&self, text: &str) -> Option<String> {
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// The API's query for this form.
    fn plays_query(&self) -> PlayReportQuery {
        PlayReportQuery {
            group_by: Some(self.group_by.join(",")),
            from: self.range(&self.from),
            to: self.range(&self.to),
            campaign: self.filter("campaign"),
            offer: self.filter("offer"),
            arm: self.filter("arm"),
            creative: self.filter("creative"),
            playlist: self.filter("playlist"),
            item: self.filter("item"),
            store: self.filter("store"),
            region: self.filter("region"),
            screen: self.filter("screen"),
            zone: self.filter("zone"),
            venue_zone: self.filter("venue_zone"),
        }
    }
}

/// The console page `page` (`export`, `chain`) of the report's days, with `extra` after them.
fn days_link(report: &PlayReport, page: &str, extra: &str) -> String {
    format!(
        "/console/reports/{page}?from={}&to={}{extra}",
        query_escaped(&report.from),
        query_escaped(&report.to)
    )
}

/// `GET /console/reports`.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut form = ReportForm::parse(raw.as_deref());
    let report = plays_report(&state, &user.manager, &form.plays_query()).await;
    if let Ok(report) = &report {
        // The form shows the days counted, defaults included.
        form.from.clone_from(&report.from);
        form.to.clone_from(&report.to);
    }
    let (status, results) = match &report {
        Ok(report) => (StatusCode::OK, results(report)),
        // A person's mistake in the form is said above the form they can fix it in; anything
        // else (another store's plays, a database that is down) is the API's own page.
        Err(error) if error.status() == StatusCode::BAD_REQUEST => (
            StatusCode::BAD_REQUEST,
            html! { p class="problem" role="alert" id="report-problem" { (error.message()) } },
        ),
        Err(error) => return api_problem(&user, error),
    };
    let body = html! {
        (report_form(&form))
        (results)
    };
    html_response(status, layout(Some(&user), "Reports", body))
}

/// `GET /console/reports/chain`: each screen's chain per day over the report's days. A page of
/// its own, asked for from the report: it reads the raw plays, where the report reads rollups.
pub async fn chain(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(query): Query<ChainQuery>,
) -> Response {
    match chain_report(&state, &user.manager, &query).await {
        Ok(chain) => {
            let back = format!(
                "/console/reports?from={}&to={}",
                query_escaped(&chain.from),
                query_escaped(&chain.to)
            );
            html_response(
                StatusCode::OK,
                layout(
                    Some(&user),
                    "Tamper evidence",
                    html! {
                        (chain_section(chain))
                        p { a href=(back) { "Back to the plays report of these days" } }
                    },
                ),
            )
        }
        Err(error) => api_problem(&user, &error),
    }
}

/// `GET /console/reports/export`: the raw ad log, downloaded with the session.
pub async fn export(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(query): Query<ExportQuery>,
) -> Response {
    match export_log(state, &user.manager, &query).await {
        Ok(response) => response,
        Err(error) => api_problem(&user, &error),
    }
}

fn dim_label(dim: Dim) -> &'static str {
    match dim {
        Dim::Campaign => "Campaign",
        Dim::Offer => "Offer",
        Dim::Arm => "Arm",
        Dim::Creative => "Creative",
        Dim::Playlist => "Playlist",
        Dim::Item => "Item",
        Dim::Store => "Store",
        Dim::Region => "Region",
        Dim::Screen => "Screen",
        Dim::Zone => "Zone",
        Dim::VenueZone => "Venue zone",
        Dim::Hour => "Hour",
        Dim::Day => "Day",
    }
}

fn report_form(form: &ReportForm) -> Markup {
    let filter_input = |(name, label): &(&str, &str)| {
        let value = form.filter(name).unwrap_or_default();
        html! {
            div {
                label for=(format!("filter-{name}")) { (label) }
                @if *name == "arm" {
                    select id="filter-arm" name="arm" {
                        option value="" selected[value.is_empty()] { "any" }
                        option value="treatment" selected[value == "treatment"] { "treatment" }
                        option value="control" selected[value == "control"] { "control (holdout)" }
                    }
                } @else {
                    input id=(format!("filter-{name}")) name=(name) value=(value);
                }
            }
        }
    };
    html! {
        form method="get" action="/console/reports" class="card" id="report-form" {
            div class="filters" {
                div {
                    label for="from" { "From (store-local day)" }
                    input id="from" name="from" type="date" value=(form.from);
                }
                div {
                    label for="to" { "To (included)" }
                    input id="to" name="to" type="date" value=(form.to);
                }
            }
            fieldset class="group-by" {
                legend { "Group by" }
                @for dim in Dim::ALL {
                    label class="check" {
                        input type="checkbox" name="group_by" value=(dim.name())
                            checked[form.group_by.iter().any(|name| name == dim.name())];
                        " " (dim_label(dim))
                    }
                }
            }
            div class="filters" {
                @for filter in &FILTERS[..6] { (filter_input(filter)) }
            }
            details open[form.filters.iter().any(|(name, _)| FILTERS[6..].iter().any(|(more, _)| more == name))] {
                summary { "More filters" }
                div class="filters" {
                    @for filter in &FILTERS[6..] { (filter_input(filter)) }
                }
            }
            p class="help" {
                "Days are each store's own. Without dates, the last seven days up to today (UTC)."
            }
            div class="actions" {
                button type="submit" class="primary" { "Run the report" }
                a href="/console/reports" { "Reset" }
            }
        }
    }
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |rate| format!("{:.1} %", rate * 100.0))
}

fn figure_cells(figures: &PlayFigures) -> Markup {
    html! {
        td class="number" { (figures.plays) }
        td class="number" { (figures.completed_plays) }
        td class="number" { (figures.delivered_plays) }
        td class="number" { (figures.plays_display_off) }
        td class="number" { (format!("{:.0}", figures.play_seconds)) }
        td class="number" { (format!("{:.1}", figures.gross_impressions)) }
        td class="number" { (figures.scans) }
        td class="number" { (rate(figures.scan_through_rate)) }
    }
}

fn results(report: &PlayReport) -> Markup {
    let with_share = report.rows.iter().any(|row| row.share_of_voice.is_some());
    let points = |value: f64| format!("{:+.2} pts", value * 100.0);
    html! {
        section class="card" id="plays-report" aria-labelledby="plays-heading" {
            h2 id="plays-heading" { "Plays, " (report.from) " to " (report.to) }
            p class="help" id="formula" { "How impressions are counted: " (report.formula) "." }
            p class="actions" {
                "Raw ad log of these days, one row per play: "
                a href=(days_link(report, "export", "&format=csv")) download { "CSV" }
                a href=(days_link(report, "export", "&format=parquet")) download { "Parquet" }
            }
            p {
                a id="chain-link" href=(days_link(report, "chain", "")) {
                    "Tamper evidence: each screen's chain of plays on these days"
                }
            }
            div class="scroll" {
                table class="report" {
                    thead {
                        tr {
                            @for name in &report.group_by {
                                th scope="col" {
                                    @match Dim::parse(name) {
                                        Some(dim) => (dim_label(dim)),
                                        None => (name),
                                    }
                                }
                            }
                            th scope="col" { "Plays" }
                            th scope="col" { "Completed" }
                            th scope="col" { "Delivered" }
                            th scope="col" { "Display off" }
                            th scope="col" { "Play seconds" }
                            th scope="col" { "Gross impressions" }
                            th scope="col" { "Scans" }
                            th scope="col" { "Scan-through" }
                            @if with_share { th scope="col" { "Share of voice (booked)" } }
                        }
                    }
                    tbody {
                        @for row in &report.rows {
                            tr data-key=(row.key.join("|")) {
                                @for (index, value) in row.key.iter().enumerate() {
                                    @if index == 0 {
                                        th scope="row" { (shown(value)) }
                                    } @else {
                                        td { (shown(value)) }
                                    }
                                }
                                (figure_cells(&row.figures))
                                @if with_share {
                                    td class="number" {
                                        @if let Some(share) = &row.share_of_voice {
                                            (rate(Some(share.achieved)))
                                            @if let Some(booked) = share.booked {
                                                " (" (rate(Some(booked))) ")"
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        @if report.rows.is_empty() {
                            tr {
                                td colspan=(report.group_by.len() + 8) {
                                    "No plays match these filters on these days."
                                }
                            }
                        }
                    }
                    tfoot {
                        tr id="report-totals" {
                            @if !report.group_by.is_empty() {
                                th scope="row" colspan=(report.group_by.len()) { "Total" }
                            }
                            (figure_cells(&report.totals))
                            @if with_share { td {} }
                        }
                    }
                }
            }
        }
        @if !report.uplift.is_empty() {
            section class="card" id="uplift" aria-labelledby="uplift-heading" {
                h2 id="uplift-heading" { "Holdout uplift (scans per play)" }
                div class="scroll" {
                    table {
                        thead {
                            tr {
                                th scope="col" { "Campaign" }
                                th scope="col" { "Offer" }
                                th scope="col" { "Treatment plays / scans" }
                                th scope="col" { "Control plays / scans" }
                                th scope="col" { "Uplift" }
                                th scope="col" { "95 % confidence interval" }
                                th scope="col" { "Relative" }
                            }
                        }
                        tbody {
                            @for uplift in &report.uplift {
                                tr {
                                    th scope="row" { (uplift.campaign) }
                                    td { (uplift.offer) }
                                    td class="number" { (uplift.treatment_plays) " / " (uplift.treatment_scans) }
                                    td class="number" { (uplift.control_plays) " / " (uplift.control_scans) }
                                    td class="number" { (points(uplift.uplift)) }
                                    td class="number" {
                                        (points(uplift.confidence_95[0])) " to " (points(uplift.confidence_95[1]))
                                    }
                                    td class="number" { (rate(uplift.relative)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A group's value as a person reads it: an empty one is "none".
fn shown(value: &str) -> Markup {
    html! {
        @if value.is_empty() { span class="muted" { "none" } } @else { (value) }
    }
}

fn chain_section(mut chain: ChainReport) -> Markup {
    // The days that need a look first.
    chain.days.sort_by_key(|day| day.intact);
    let intact = chain.days.iter().filter(|day| day.intact).count();
    let days = &chain.days;
    html! {
        section class="card" id="chain" aria-labelledby="chain-heading" {
            h2 id="chain-heading" { "Each screen's chain of plays, " (chain.from) " to " (chain.to) }
            p id="chain-summary" {
                (intact) " of " (days.len()) " screen-days intact"
                @if intact == days.len() && !days.is_empty() { ": chain intact." }
            }
            @if !days.is_empty() {
                div class="scroll" {
                    table {
                        thead {
                            tr {
                                th scope="col" { "Screen" }
                                th scope="col" { "Day" }
                                th scope="col" { "Plays" }
                                th scope="col" { "Chain" }
                            }
                        }
                        tbody {
                            @for day in days.iter().take(CHAIN_ROWS) {
                                tr {
                                    th scope="row" { (day.screen) }
                                    td { (day.day) }
                                    td class="number" { (day.plays) }
                                    td {
                                        @if day.intact { span class="ok" { "intact" } }
                                        @else {
                                            span class="warn" {
                                                (day.first_break.as_deref().unwrap_or("not intact"))
                                            }
                                            @if day.pending > 0 {
                                                " · " (day.pending) " waiting for an earlier play"
                                            }
                                            @if day.unchained > 0 {
                                                " · " (day.unchained) " from a player that does not chain"
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if days.len() > CHAIN_ROWS {
                    p class="help" {
                        "The first " (CHAIN_ROWS) " are listed, those not intact first; "
                        code { "vitrine reports chain" } " lists them all."
                    }
                }
            }
        }
    }
}
