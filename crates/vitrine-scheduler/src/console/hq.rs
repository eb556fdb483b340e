//! HQ's lists and imports in the console: stores (and their customers' segment mix), product
//! feeds, staff tokens, and confirming a screen's pairing code.
//!
//! Every page and form calls the API's own handler with the session's authority, the way the
//! CLI calls the API: `catalog::import_stores` for a stores file pasted or loaded here,
//! `tokens::create_staff` for a new staff token, `pairing::confirm` for a code shown on a screen.
//! So a report, a refusal or a 403 is the API's, word for word. A staff token's value is shown
//! once, right after it is made (only its hash is kept), as `vitrine staff add` prints it.
//!
//! [`routes`] holds every route of HQ's pages, those of campaigns and the media library too, so
//! the console's own router only merges them.

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use vitrine_wire::imports::{
    FeedImportRequest, FeedRegistration, FetchOutcome, ImportFile, SkippedRow,
};
use vitrine_wire::pairing::ConfirmPairing;
use vitrine_wire::staff::NewStaff;

use super::campaigns::admin_of;
use super::{ConsoleUser, api_problem, html_response, layout, query_escaped};
use super::{campaigns, media};
use crate::error::ApiError;
use crate::{AppState, catalog, feed, pairing, tokens};

/// The routes of campaigns, the media library, stores, feeds, staff and pairing.
pub(super) fn routes() -> Router<AppState> {
    let import_limit = DefaultBodyLimit::max(crate::catalog::IMPORT_BODY_LIMIT);
    Router::new()
        .route(
            "/console/campaigns",
            get(campaigns::list).post(campaigns::create),
        )
        .route("/console/campaigns/{name}", get(campaigns::campaign))
        .route(
            "/console/campaigns/{name}/versions/{version}",
            get(campaigns::version),
        )
        .route("/console/campaigns/{name}/diff", get(campaigns::diff))
        .route(
            "/console/campaigns/{name}/publish",
            post(campaigns::publish),
        )
        .route(
            "/console/campaigns/{name}/rollback",
            post(campaigns::rollback),
        )
        .route("/console/media", get(media::list))
        .route("/console/media/upload", post(media::upload_without_script))
        // The upload streams its body itself and enforces the media limit as it goes.
        .route("/console/media/upload/{sha256}", post(media::upload))
        .route("/console/media/{sha256}/thumbnail", get(media::thumbnail))
        .route("/console/stores", get(stores))
        .route(
            "/console/stores/import",
            post(import_stores).layer(import_limit),
        )
        .route(
            "/console/segments/import",
            post(import_segments).layer(import_limit),
        )
        .route("/console/feeds", get(feeds).post(register_feed))
        .route(
            "/console/feeds/import",
            post(import_feed).layer(import_limit),
        )
        .route(
            "/console/inventory/import",
            post(import_inventory).layer(import_limit),
        )
        .route("/console/feeds/{name}/fetch", post(fetch_feed_now))
        .route("/console/feeds/{name}/remove", post(remove_feed))
        .route("/console/staff", get(staff).post(create_staff))
        .route("/console/staff/{name}/revoke", post(revoke_staff))
        .route("/console/pairing", get(pairing).post(confirm_pairing))
}

/// A word list typed in a field: split at commas and spaces, blanks dropped.
fn words(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n', '\t'])
        .map(str::trim)
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A field left blank is no value.
fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// What an import did, or why it was refused, above the page's lists.
fn refusal_notice(error: &ApiError) -> Markup {
    html! { p class="problem" role="alert" id="outcome" { (error.message()) } }
}

/// The rows an import applied and each one it skipped, with its line and why.
fn report_markup(what: &str, applied: usize, skipped: &[SkippedRow], more: usize) -> Markup {
    html! {
        div class="notice" role="status" id="outcome" {
            p { (what) ": " strong id="applied" { (applied) } " row" @if applied != 1 { "s" } " applied, "
                strong id="skipped" { (skipped.len() + more) } " skipped." }
            @if !skipped.is_empty() {
                div class="scroll" {
                    table class="skipped" {
                        caption { "Rows skipped" }
                        thead { tr { th scope="col" { "Line" } th scope="col" { "Why" } } }
                        tbody {
                            @for row in skipped {
                                tr { td class="number" { (row.line) } td { (row.reason) } }
                            }
                        }
                    }
                }
                @if more > 0 { p class="help" { "… and " (more) " more." } }
            }
        }
    }
}

/// A form that sends a CSV or TSV file's text: a file picker that loads into the text box, and
/// the text box to paste into. `id` makes its fields' ids unique on the page.
fn import_form(
    user: &ConsoleUser,
    id: &str,
    action: &str,
    file_name: &str,
    help: Markup,
) -> Markup {
    let text_id = format!("{id}-source");
    let name_id = format!("{id}-file-name");
    html! {
        form method="post" action=(action) class="editor" {
            (user.csrf_field())
            (help)
            div {
                label for=(format!("{id}-file")) { "Load a file" }
                input id=(format!("{id}-file")) type="file" accept=".csv,.tsv,.txt,text/csv,text/tab-separated-values"
                    data-load-into=(text_id) data-name-into=(name_id);
            }
            div {
                label for=(name_id) { "File name" }
                input id=(name_id) name="file_name" value=(file_name) required aria-describedby=(format!("{id}-name-help"));
                p class="help" id=(format!("{id}-name-help")) { "A name ending in .csv is read as CSV, any other as TSV where both are accepted." }
            }
            label for=(text_id) { "Rows (CSV or TSV, with the header line)" }
            textarea id=(text_id) name="source" rows="8" spellcheck="false" required {}
            div class="actions" { button type="submit" class="primary" { "Import" } }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ImportForm {
    csrf: Option<String>,
    #[serde(default)]
    file_name: String,
    source: String,
    /// A checkbox: present when ticked.
    replace: Option<String>,
}

impl ImportForm {
    fn file(&self, default_name: &str) -> ImportFile {
        ImportFile {
            file_name: given(&self.file_name).unwrap_or_else(|| default_name.to_owned()),
            // Browsers send text areas with CRLF line ends.
            source: self.source.replace("\r\n", "\n"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stores and segments

/// The stores page, with what the last action did above it.
async fn stores_page(
    state: &AppState,
    user: &ConsoleUser,
    outcome: Option<Markup>,
    status: StatusCode,
) -> Response {
    let admin = match admin_of(user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let stores = match catalog::list_stores(State(state.clone()), admin).await {
        Ok(Json(list)) => list.stores,
        Err(error) => return api_problem(user, &error),
    };
    let body = html! {
        @if let Some(outcome) = outcome { (outcome) }
        div class="scroll" {
            table id="stores" {
                thead { tr {
                    th scope="col" { "Code" } th scope="col" { "Name" } th scope="col" { "Region" }
                    th scope="col" { "Tags" } th scope="col" { "Time zone" } th scope="col" { "Locale" }
                    th scope="col" { "Currency" }
                } }
                tbody {
                    @for store in &stores {
                        tr {
                            th scope="row" { (store.code) }
                            td { (store.name) }
                            td { (store.region) }
                            td { (store.tags.join(", ")) }
                            td { (store.timezone) }
                            td { (store.locale) }
                            td { (store.currency) }
                        }
                    }
                    @if stores.is_empty() { tr { td colspan="7" { "No store yet: import them below." } } }
                }
            }
        }
        section class="card" aria-labelledby="stores-import-heading" {
            h2 id="stores-import-heading" { "Import stores" }
            (import_form(user, "stores", "/console/stores/import", "stores.csv", html! {
                p class="help" { "Columns: " code { "code,name,region,tags,timezone,locale,currency" } " (tags separated by " code { ";" } "). A store already known is updated; none is removed." }
            }))
        }
        section class="card" aria-labelledby="segments-import-heading" {
            h2 id="segments-import-heading" { "Import customer segments" }
            (import_form(user, "segments", "/console/segments/import", "segments.csv", html! {
                p class="help" { "Columns: " code { "store_code,segment,share" } ", the share as " code { "0.35" } " or " code { "35%" } ". An import replaces the whole mix of each store it names." }
            }))
        }
    };
    html_response(status, layout(Some(user), "Stores", body))
}

/// `GET /console/stores`.
pub async fn stores(State(state): State<AppState>, user: ConsoleUser) -> Response {
    stores_page(&state, &user, None, StatusCode::OK).await
}

/// `POST /console/stores/import`: `POST /v1/stores` with the text of the form.
pub async fn import_stores(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<ImportForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let admin = match admin_of(&user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let request = form.file("stores.csv");
    let (outcome, status) =
        match catalog::import_stores(State(state.clone()), admin, Ok(Json(request))).await {
            Ok(Json(report)) => (
                report_markup("Stores", report.applied, &report.skipped, 0),
                StatusCode::OK,
            ),
            Err(error) => (refusal_notice(&error), error.status()),
        };
    stores_page(&state, &user, Some(outcome), status).await
}

/// `POST /console/segments/import`: `POST /v1/segments` with the text of the form.
pub async fn import_segments(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<ImportForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let admin = match admin_of(&user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let request = form.file("segments.csv");
    let (outcome, status) =
        match catalog::import_segments(State(state.clone()), admin, Ok(Json(request))).await {
            Ok(Json(report)) => (
                report_markup("Segments", report.applied, &report.skipped, 0),
                StatusCode::OK,
            ),
            Err(error) => (refusal_notice(&error), error.status()),
        };
    stores_page(&state, &user, Some(outcome), status).await
}

// ---------------------------------------------------------------------------------------------
// Feeds

async fn feeds_page(
    state: &AppState,
    user: &ConsoleUser,
    outcome: Option<Markup>,
    status: StatusCode,
) -> Response {
    let admin = match admin_of(user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let feeds = match feed::fetch::list_feeds(State(state.clone()), admin).await {
        Ok(Json(list)) => list.feeds,
        Err(error) => return api_problem(user, &error),
    };
    let body = html! {
        @if let Some(outcome) = outcome { (outcome) }
        div class="scroll" {
            table id="feeds" {
                thead { tr {
                    th scope="col" { "Feed" } th scope="col" { "URL" } th scope="col" { "Every" }
                    th scope="col" { "State" } th scope="col" { "Last fetched" } th scope="col" { "Last error" }
                    th scope="col" { "Actions" }
                } }
                tbody {
                    @for record in &feeds {
                        @let path = format!("/console/feeds/{}", query_escaped(&record.name));
                        tr {
                            th scope="row" { (record.name) }
                            td { code { (record.url) } }
                            td class="number" { (record.interval_seconds / 60) " min" }
                            td {
                                @if record.alert.is_some() { span class="problem" { "failing" } }
                                @else if record.last_success_at.is_some() { "ok" }
                                @else { span class="muted" { "not fetched yet" } }
                            }
                            td { (record.last_success_at.as_deref().unwrap_or("never")) }
                            td { @if let Some(alert) = &record.alert { (alert) } }
                            td {
                                form method="post" action=(format!("{path}/fetch")) class="inline" {
                                    (user.csrf_field())
                                    button type="submit" aria-label=(format!("Fetch {} now", record.name)) { "Fetch now" }
                                }
                                " "
                                form method="post" action=(format!("{path}/remove")) class="inline" {
                                    (user.csrf_field())
                                    button type="submit" aria-label=(format!("Remove {}", record.name)) { "Remove" }
                                }
                            }
                        }
                    }
                    @if feeds.is_empty() { tr { td colspan="7" { "No feed is fetched by URL." } } }
                }
            }
        }
        section class="card" aria-labelledby="register-heading" {
            h2 id="register-heading" { "Fetch a feed from a URL" }
            form method="post" action="/console/feeds" class="editor" {
                (user.csrf_field())
                label for="feed-name" { "Name" }
                input id="feed-name" name="name" required;
                label for="feed-url" { "URL" }
                input id="feed-url" name="url" type="url" required placeholder="https://…/feed.xml";
                label for="feed-every" { "Every" }
                input id="feed-every" name="every" value="1h" required aria-describedby="feed-every-help";
                p class="help" id="feed-every-help" { "Like " code { "15m" } " or " code { "1h" } "; at least a minute. A name already registered is changed." }
                div class="actions" { button type="submit" class="primary" { "Register" } }
            }
        }
        section class="card" aria-labelledby="feed-import-heading" {
            h2 id="feed-import-heading" { "Import a product feed file" }
            form method="post" action="/console/feeds/import" class="editor" {
                (user.csrf_field())
                div {
                    label for="feed-file" { "Load a file" }
                    input id="feed-file" type="file" accept=".xml,.csv,.tsv,.txt" data-load-into="feed-source" data-name-into="feed-file-name";
                }
                label for="feed-file-name" { "File name" }
                input id="feed-file-name" name="file_name" value="feed.xml" required;
                label for="feed-source" { "Feed (Google Merchant Center: RSS XML for a name ending in .xml, else TSV)" }
                textarea id="feed-source" name="source" rows="8" spellcheck="false" required {}
                div {
                    input id="feed-replace" name="replace" type="checkbox" value="on";
                    label for="feed-replace" class="inline" { " This is the whole feed: remove products it does not list" }
                }
                div class="actions" { button type="submit" class="primary" { "Import" } }
            }
        }
        section class="card" aria-labelledby="inventory-import-heading" {
            h2 id="inventory-import-heading" { "Import store inventory" }
            (import_form(user, "inventory", "/console/inventory/import", "inventory.tsv", html! {
                p class="help" { "Columns: " code { "store_code,id,quantity,price,sale_price" } " (TSV, or CSV for a name ending in .csv); empty prices keep the feed's." }
            }))
        }
    };
    html_response(status, layout(Some(user), "Feeds", body))
}

/// `GET /console/feeds`.
pub async fn feeds(State(state): State<AppState>, user: ConsoleUser) -> Response {
    feeds_page(&state, &user, None, StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
pub struct FeedForm {
    csrf: Option<String>,
    name: String,
    url: String,
    every: String,
}

/// `POST /console/feeds`: `POST /v1/feeds`.
pub async fn register_feed(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<FeedForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let admin = match admin_of(&user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let request = FeedRegistration {
        name: form.name.trim().to_owned(),
        url: form.url.trim().to_owned(),
        every: form.every.trim().to_owned(),
    };
    match feed::fetch::register_feed(State(state.clone()), admin, Ok(Json(request))).await {
        Ok((_, Json(record))) => {
            let outcome = html! { p class="notice" role="status" id="outcome" { "Registered feed " (record.name) ", fetched every " (record.interval_seconds / 60) " min. “Fetch now” fetches it at once." } };
            feeds_page(&state, &user, Some(outcome), StatusCode::OK).await
        }
        Err(error) => feeds_page(&state, &user, Some(refusal_notice(&error)), error.status()).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /console/feeds/{name}/remove`: `DELETE /v1/feeds/{name}`.
pub async fn remove_feed(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let admin = match admin_of(&user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    match feed::fetch::remove_feed(State(state.clone()), admin, Path(name)).await {
        Ok(_) => Redirect::to("/console/feeds").into_response(),
        Err(error) => feeds_page(&state, &user, Some(refusal_notice(&error)), error.status()).await,
    }
}

/// `POST /console/feeds/{name}/fetch`: `POST /v1/feeds/{name}/fetch`, and what it came to.
pub async fn fetch_feed_now(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let admin = match admin_of(&user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let (outcome, status) = match feed::fetch::fetch_feed_now(
        State(state.clone()),
        admin,
        Path(name.clone()),
    )
    .await
    {
        Ok(Json(FetchOutcome::NotModified)) => (
            html! { p class="notice" role="status" id="outcome" { "Feed " (name) " has not changed since it was last fetched." } },
            StatusCode::OK,
        ),
        Ok(Json(FetchOutcome::Imported { report })) => (
            report_markup(
                &format!("Feed {name}"),
                report.applied,
                &report.skipped,
                report.skipped_more,
            ),
            StatusCode::OK,
        ),
        Ok(Json(FetchOutcome::Failed { error })) => (
            html! { p class="problem" role="alert" id="outcome" { "Feed " (name) " could not be fetched: " (error) ". The last good data stays." } },
            StatusCode::BAD_GATEWAY,
        ),
        Err(error) => (refusal_notice(&error), error.status()),
    };
    feeds_page(&state, &user, Some(outcome), status).await
}

/// `POST /console/feeds/import`: `POST /v1/feed` with the text of the form.
pub async fn import_feed(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<ImportForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let admin = match admin_of(&user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let file = form.file("feed.xml");
    let request = FeedImportRequest {
        file_name: file.file_name,
        source: file.source,
        replace: form.replace.is_some(),
    };
    let (outcome, status) =
        match catalog::import_feed(State(state.clone()), admin, Ok(Json(request))).await {
            Ok(Json(report)) => (
                report_markup(
                    "Products",
                    report.applied,
                    &report.skipped,
                    report.skipped_more,
                ),
                StatusCode::OK,
            ),
            Err(error) => (refusal_notice(&error), error.status()),
        };
    feeds_page(&state, &user, Some(outcome), status).await
}

/// `POST /console/inventory/import`: `POST /v1/inventory` with the text of the form.
pub async fn import_inventory(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<ImportForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let admin = match admin_of(&user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let request = form.file("inventory.tsv");
    let (outcome, status) =
        match catalog::import_inventory(State(state.clone()), admin, Ok(Json(request))).await {
            Ok(Json(report)) => (
                report_markup(
                    "Inventory",
                    report.applied,
                    &report.skipped,
                    report.skipped_more,
                ),
                StatusCode::OK,
            ),
            Err(error) => (refusal_notice(&error), error.status()),
        };
    feeds_page(&state, &user, Some(outcome), status).await
}

// ---------------------------------------------------------------------------------------------
// Staff

async fn staff_page(
    state: &AppState,
    user: &ConsoleUser,
    outcome: Option<Markup>,
    status: StatusCode,
) -> Response {
    let admin = match admin_of(user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let staff = match tokens::list_staff(State(state.clone()), admin).await {
        Ok(Json(list)) => list.staff,
        Err(error) => return api_problem(user, &error),
    };
    let body = html! {
        @if let Some(outcome) = outcome { (outcome) }
        div class="scroll" {
            table id="staff" {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Stores" } th scope="col" { "Created" }
                    th scope="col" { "State" }
                } }
                tbody {
                    @for member in &staff {
                        tr {
                            th scope="row" { (member.name) }
                            td { (member.stores.join(", ")) }
                            td { (member.created_at) }
                            td {
                                @if let Some(revoked_at) = &member.revoked_at {
                                    span class="muted" { "revoked " (revoked_at) }
                                } @else {
                                    form method="post" action=(format!("/console/staff/{}/revoke", query_escaped(&member.name))) class="inline" {
                                        (user.csrf_field())
                                        button type="submit" aria-label=(format!("Revoke {}'s token", member.name)) { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                    @if staff.is_empty() { tr { td colspan="4" { "No staff token yet." } } }
                }
            }
        }
        section class="card" aria-labelledby="new-staff-heading" {
            h2 id="new-staff-heading" { "New staff token" }
            form method="post" action="/console/staff" class="editor" {
                (user.csrf_field())
                label for="staff-name" { "Name" }
                input id="staff-name" name="name" required autocomplete="off";
                label for="staff-stores" { "Stores" }
                input id="staff-stores" name="stores" required aria-describedby="staff-stores-help";
                p class="help" id="staff-stores-help" { "Store codes, separated by commas: the only stores the token acts on." }
                label for="staff-tags" { "Screen tags they may set" }
                input id="staff-tags" name="tags" aria-describedby="staff-tags-help";
                p class="help" id="staff-tags-help" { "Optional, separated by commas. Campaigns target tags, so tags are HQ's to hand out." }
                div class="actions" { button type="submit" class="primary" { "Create" } }
            }
        }
    };
    html_response(status, layout(Some(user), "Staff", body))
}

/// `GET /console/staff`.
pub async fn staff(State(state): State<AppState>, user: ConsoleUser) -> Response {
    staff_page(&state, &user, None, StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
pub struct StaffForm {
    csrf: Option<String>,
    name: String,
    #[serde(default)]
    stores: String,
    #[serde(default)]
    tags: String,
}

/// `POST /console/staff`: `POST /v1/staff`. The token is on this answer only: the page is not
/// cached, and the list never shows it again.
pub async fn create_staff(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<StaffForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let admin = match admin_of(&user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let request = NewStaff {
        name: form.name.trim().to_owned(),
        stores: words(&form.stores),
        tags: words(&form.tags),
    };
    let (outcome, status) = match tokens::create_staff(
        State(state.clone()),
        admin,
        Ok(Json(request)),
    )
    .await
    {
        Ok((_, Json(created))) => (
            html! {
                div class="notice" role="status" id="outcome" {
                    p { "Made a token for " strong { (created.name) } " (store" @if created.stores.len() != 1 { "s" } " " (created.stores.join(", ")) "). "
                        "It is shown this once: only its hash is kept. Give it to them now." }
                    label for="new-token" { "Token" }
                    input id="new-token" readonly value=(created.token) autocomplete="off" spellcheck="false";
                }
            },
            StatusCode::CREATED,
        ),
        Err(error) => (refusal_notice(&error), error.status()),
    };
    staff_page(&state, &user, Some(outcome), status).await
}

/// `POST /console/staff/{name}/revoke`: `DELETE /v1/staff/{name}`; their console sessions end
/// with the token.
pub async fn revoke_staff(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let admin = match admin_of(&user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    match tokens::revoke_staff(State(state.clone()), admin, Ok(Path(name))).await {
        Ok(_) => Redirect::to("/console/staff").into_response(),
        Err(error) => staff_page(&state, &user, Some(refusal_notice(&error)), error.status()).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Pairing

fn pairing_page(
    user: &ConsoleUser,
    form: &PairingForm,
    outcome: Option<Markup>,
    status: StatusCode,
) -> Response {
    let body = html! {
        @if let Some(outcome) = outcome { (outcome) }
        section class="card" aria-labelledby="pair-heading" {
            h2 id="pair-heading" { "Confirm the code a screen shows" }
            p class="help" { "A new player shows a code until someone here confirms it; it then becomes this screen, with its own token." }
            form method="post" action="/console/pairing" class="editor" {
                (user.csrf_field())
                label for="pair-code" { "Code shown on the screen" }
                input id="pair-code" name="code" required autocomplete="off" autocapitalize="characters" spellcheck="false" value=(form.code);
                label for="pair-name" { "Screen name" }
                input id="pair-name" name="name" value=(form.name) aria-describedby="pair-name-help";
                p class="help" id="pair-name-help" { "Optional: by default the store's code and the screen's code, in lower case." }
                label for="pair-store" { "Store" }
                input id="pair-store" name="store" value=(form.store) aria-describedby="pair-store-help";
                p class="help" id="pair-store-help" {
                    @match user.manager.stores() {
                        Some(stores) => { "One of your stores: " (stores.join(", ")) "." },
                        None => { "A store's code." },
                    }
                }
                label for="pair-playlist" { "Playlist" }
                input id="pair-playlist" name="playlist" value=(form.playlist) aria-describedby="pair-playlist-help";
                p class="help" id="pair-playlist-help" { "Optional: by default the one named " code { "default" } "." }
                label for="pair-tags" { "Tags" }
                input id="pair-tags" name="tags" value=(form.tags) aria-describedby="pair-tags-help";
                p class="help" id="pair-tags-help" { "Optional, separated by commas." }
                div class="actions" { button type="submit" class="primary" { "Pair" } }
            }
        }
    };
    html_response(status, layout(Some(user), "Pair a screen", body))
}

#[derive(Debug, Default, Deserialize)]
pub struct PairingForm {
    csrf: Option<String>,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    store: String,
    #[serde(default)]
    playlist: String,
    #[serde(default)]
    tags: String,
}

/// `GET /console/pairing`: for HQ and staff alike, as `POST /v1/pairings/{code}` is.
pub async fn pairing(user: ConsoleUser) -> Response {
    pairing_page(&user, &PairingForm::default(), None, StatusCode::OK)
}

/// `POST /console/pairing`: `POST /v1/pairings/{code}`.
pub async fn confirm_pairing(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<PairingForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let request = ConfirmPairing {
        name: given(&form.name),
        store: given(&form.store),
        playlist: given(&form.playlist),
        allow_unpushed: false,
        tags: words(&form.tags),
        timezone: None,
    };
    let code = form.code.trim().to_owned();
    match pairing::confirm(
        State(state),
        user.manager.clone(),
        Ok(Path(code)),
        Ok(Json(request)),
    )
    .await
    {
        Ok((_, Json(confirmed))) => {
            let outcome = html! {
                div class="notice" role="status" id="outcome" {
                    p { "Paired: the screen is now "
                        a href=(format!("/console/screens/{}", query_escaped(&confirmed.screen))) { (confirmed.screen) }
                        ", playing " (confirmed.playlist)
                        @if let Some(store) = &confirmed.store { " in store " (store) }
                        ". It fetches its token and starts within seconds." }
                    @if let Some(warning) = &confirmed.warning { p class="help" { (warning) } }
                }
            };
            pairing_page(
                &user,
                &PairingForm::default(),
                Some(outcome),
                StatusCode::CREATED,
            )
        }
        Err(error) => {
            let status = error.status();
            pairing_page(&user, &form, Some(refusal_notice(&error)), status)
        }
    }
}
