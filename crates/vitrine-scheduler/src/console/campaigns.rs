//! HQ campaigns in the console: the list, each one's versions, its YAML coloured, the diff between
//! two versions, editing or uploading a new version with every diagnostic at its line, and rolling
//! back (a new version with an earlier one's text; nothing is deleted).
//!
//! Publishing goes through the API's own [`crate::campaigns::store_campaign`], with the same checks
//! as `POST /v1/campaigns`. Campaigns are HQ's: like `GET /v1/campaigns`, every page here needs
//! the admin, and staff get the API's own 403.

use std::collections::BTreeMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use vitrine_core::{Diagnostic, Sha256Hex};

use super::content::{editor_with, refusal};
use super::yaml;
use super::{ConsoleUser, api_problem, html_response, layout, problem, query_escaped, when};
use crate::AppState;
use crate::api::Publish;
use crate::auth::Admin;
use crate::campaigns::{CampaignStored, PushCampaign, store_campaign};
use crate::error::ApiError;
use crate::storage::console::{CampaignText, VersionSummary};

/// The admin, as `GET /v1/campaigns` requires; anyone else gets the API's refusal as a page.
pub(super) fn admin_of(user: &ConsoleUser) -> Result<Admin, Box<Response>> {
    Admin::of(&user.manager).map_err(|error| Box::new(api_problem(user, &error)))
}

fn campaign_path(name: &str) -> String {
    format!("/console/campaigns/{}", query_escaped(name))
}

fn not_found(user: &ConsoleUser, name: &str) -> Response {
    problem(
        Some(user),
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("No campaign called `{name}` has been pushed."),
    )
}

/// `GET /console/campaigns`.
pub async fn list(State(state): State<AppState>, user: ConsoleUser) -> Response {
    if let Err(refused) = admin_of(&user) {
        return *refused;
    }
    let campaigns = match state.storage().campaign_summaries().await {
        Ok(campaigns) => campaigns,
        Err(error) => return api_problem(&user, &error.into()),
    };
    let body = html! {
        div class="scroll" {
            table {
                thead { tr {
                    th scope="col" { "Campaign" } th scope="col" { "Newest version" } th scope="col" { "Updated" }
                } }
                tbody {
                    @for campaign in &campaigns {
                        tr {
                            th scope="row" { a href=(campaign_path(&campaign.name)) { (campaign.name) } }
                            td { "v" (campaign.newest) }
                            td { (when(campaign.updated_at)) }
                        }
                    }
                    @if campaigns.is_empty() { tr { td colspan="3" { "No campaign yet." } } }
                }
            }
        }
        section class="card" aria-labelledby="new-heading" {
            h2 id="new-heading" { "New campaign" }
            p class="help" { "The campaign's name is the one its YAML gives. Media files it names must be uploaded first (Media, or " code { "vitrine campaign push" } ")." }
            (editor_with(&user, "/console/campaigns", "campaign.yaml", "", &[], None, media_field("")))
        }
    };
    html_response(StatusCode::OK, layout(Some(&user), "Campaigns", body))
}

/// The page of one campaign: its current version, the editor (with `edited` text, its problems
/// and what the last action did) and every version.
fn campaign_page(
    user: &ConsoleUser,
    name: &str,
    versions: &[VersionSummary],
    latest: &CampaignText,
    (edited, edited_media): (&str, &str),
    diagnostics: &[Diagnostic],
    outcome: Option<Markup>,
) -> Response {
    let path = campaign_path(name);
    let status = if diagnostics.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = html! {
        section class="card" aria-labelledby="current-heading" {
            h2 id="current-heading" { "Version " span id="current-version" { (latest.version) } " (current)" }
            p class="help" { "Published " (when(latest.created_at)) "." }
            (yaml::highlighted(&latest.source, &latest.file_name, &[]))
        }
        section class="card" aria-labelledby="edit-heading" {
            h2 id="edit-heading" { "Edit or upload a new version" }
            (editor_with(user, &format!("{path}/publish"), &latest.file_name, edited, diagnostics, outcome, media_field(edited_media)))
        }
        (super::content::versions_card(user, &path, versions, latest.version))
    };
    html_response(
        status,
        layout(Some(user), &format!("Campaign {name}"), body),
    )
}

/// The newest version of `name` and every version's summary; `Ok(None)` when there is none.
async fn newest(
    state: &AppState,
    name: &str,
) -> Result<Option<(Vec<VersionSummary>, CampaignText)>, crate::storage::StorageError> {
    let versions = state.storage().campaign_versions(name.to_owned()).await?;
    let Some(newest) = versions.first().map(|version| version.version) else {
        return Ok(None);
    };
    Ok(state
        .storage()
        .campaign_version(name.to_owned(), newest)
        .await?
        .map(|latest| (versions, latest)))
}

/// `GET /console/campaigns/{name}`.
pub async fn campaign(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
) -> Response {
    if let Err(refused) = admin_of(&user) {
        return *refused;
    }
    match newest(&state, &name).await {
        Ok(Some((versions, latest))) => {
            let media = media_text(&latest.media);
            campaign_page(
                &user,
                &name,
                &versions,
                &latest,
                (&latest.source, &media),
                &[],
                None,
            )
        }
        Ok(None) => not_found(&user, &name),
        Err(error) => api_problem(&user, &error.into()),
    }
}

/// `GET /console/campaigns/{name}/versions/{version}`.
pub async fn version(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((name, version)): Path<(String, u64)>,
) -> Response {
    if let Err(refused) = admin_of(&user) {
        return *refused;
    }
    let stored = match state
        .storage()
        .campaign_version(name.clone(), version)
        .await
    {
        Ok(Some(stored)) => stored,
        Ok(None) => return not_found(&user, &format!("{name} v{version}")),
        Err(error) => return api_problem(&user, &error.into()),
    };
    let body = html! {
        p { a href=(campaign_path(&name)) { "← All versions" } }
        p class="help" { "Published " (when(stored.created_at)) "." }
        (yaml::highlighted(&stored.source, &stored.file_name, &[]))
        @if !stored.media.is_empty() {
            h2 { "Media" }
            (media_table(&stored.media))
        }
    };
    html_response(
        StatusCode::OK,
        layout(Some(&user), &format!("Campaign {name} v{version}"), body),
    )
}

fn media_table(media: &BTreeMap<String, Sha256Hex>) -> Markup {
    html! {
        div class="scroll" {
            table {
                thead { tr { th scope="col" { "File" } th scope="col" { "sha256" } } }
                tbody {
                    @for (file, sha256) in media {
                        tr { th scope="row" { (file) } td { code { (sha256.as_str()) } } }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    from: u64,
    to: u64,
}

/// `GET /console/campaigns/{name}/diff?from=A&to=B`.
pub async fn diff(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
    Query(query): Query<DiffQuery>,
) -> Response {
    if let Err(refused) = admin_of(&user) {
        return *refused;
    }
    let read = |version| state.storage().campaign_version(name.clone(), version);
    let (from, to) = match (read(query.from).await, read(query.to).await) {
        (Ok(Some(from)), Ok(Some(to))) => (from, to),
        (Ok(None), _) => return not_found(&user, &format!("{name} v{}", query.from)),
        (_, Ok(None)) => return not_found(&user, &format!("{name} v{}", query.to)),
        (Err(error), _) | (_, Err(error)) => return api_problem(&user, &error.into()),
    };
    let body = html! {
        p { a href=(campaign_path(&name)) { "← All versions" } }
        p { "Lines removed from v" (query.from) " are marked −, lines added in v" (query.to) " +." }
        (yaml::diff(&from.source, &to.source))
    };
    html_response(
        StatusCode::OK,
        layout(
            Some(&user),
            &format!("Campaign {name}: v{} → v{}", query.from, query.to),
            body,
        ),
    )
}

/// The field that gives the campaign's media map, one file a line.
fn media_field(text: &str) -> Markup {
    html! {
        label for="media" { "Media files" }
        textarea id="media" name="media" rows="3" spellcheck="false" aria-describedby="media-help" { (text) }
        p class="help" id="media-help" {
            "One a line: the file name the campaign gives, then its sha256 (upload the file under "
            a href="/console/media" { "Media" } " first)."
        }
    }
}

/// A media map as the field shows it.
fn media_text(media: &BTreeMap<String, Sha256Hex>) -> String {
    media
        .iter()
        .map(|(file, sha256)| format!("{file} {}\n", sha256.as_str()))
        .collect()
}

/// The media map the field gives, or why it cannot be read.
fn parse_media(text: &str) -> Result<BTreeMap<String, Sha256Hex>, ApiError> {
    let mut media = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = line
            .rsplit_once(char::is_whitespace)
            .map(|(file, sha256)| (file.trim().trim_end_matches('=').trim(), sha256))
            .filter(|(file, _)| !file.is_empty())
            .and_then(|(file, sha256)| Some((file, sha256.parse::<Sha256Hex>().ok()?)));
        let Some((file, sha256)) = parsed else {
            return Err(ApiError::bad_request(format!(
                "media files, line {}: `{line}` is not a file name followed by a sha256 (64 \
                 lowercase hexadecimal characters)",
                index + 1
            )));
        };
        media.insert(file.to_owned(), sha256);
    }
    Ok(media)
}

#[derive(Debug, Deserialize)]
pub struct PublishForm {
    csrf: Option<String>,
    #[serde(default)]
    file_name: String,
    source: String,
    /// The media map, one file a line; the current version's when the form has no such field.
    media: Option<String>,
    #[serde(default)]
    action: String,
}

impl PublishForm {
    fn publish(&self) -> Publish {
        if self.action == "validate" {
            Publish::Check
        } else {
            Publish::Store
        }
    }
}

/// The request a console edit makes: the new text, with the media map the form gives (else the
/// current version's).
fn request_from(
    latest: Option<&CampaignText>,
    form: &PublishForm,
) -> Result<PushCampaign, ApiError> {
    let media = match &form.media {
        Some(text) => parse_media(text)?,
        None => latest
            .map(|latest| latest.media.clone())
            .unwrap_or_default(),
    };
    Ok(PushCampaign {
        file_name: file_name_of(latest, &form.file_name),
        // Browsers send text areas with CRLF line ends.
        source: form.source.replace("\r\n", "\n"),
        media,
    })
}

/// The file name a form gives, else the current version's.
fn file_name_of(latest: Option<&CampaignText>, file_name: &str) -> String {
    if file_name.trim().is_empty() {
        latest.map_or_else(
            || "campaign.yaml".to_owned(),
            |latest| latest.file_name.clone(),
        )
    } else {
        file_name.trim().to_owned()
    }
}

fn outcome_of(stored: &CampaignStored, publish: Publish) -> Markup {
    html! {
        div class="notice" role="status" id="outcome" {
            @match publish {
                Publish::Check => { "No problem found. Press Publish to make it campaign " (stored.name) "’s next version." },
                Publish::Store => { "Published " (stored.name) " v" (stored.version) ". The screens it targets are being told now." },
            }
            @if !stored.warnings.is_empty() {
                ul class="diagnostics" { @for warning in &stored.warnings.0 { li { (yaml::diagnostic_markup(warning)) } } }
            }
        }
    }
}

/// `POST /console/campaigns/{name}/publish`: validates, or publishes, an edited or uploaded
/// version. A refused one shows every problem at its line and changes nothing.
pub async fn publish(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<PublishForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let admin = match admin_of(&user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let (versions, latest) = match newest(&state, &name).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(&user, &name),
        Err(error) => return api_problem(&user, &error.into()),
    };
    let (source, file_name) = (
        form.source.replace("\r\n", "\n"),
        file_name_of(Some(&latest), &form.file_name),
    );
    let media = form
        .media
        .clone()
        .unwrap_or_else(|| media_text(&latest.media));
    let publish = form.publish();
    let result = match request_from(Some(&latest), &form) {
        Ok(request) => store_campaign(&state, &admin, request, publish).await,
        Err(error) => Err(error),
    };
    let (outcome, diagnostics) = match result {
        Ok(stored) if publish == Publish::Store => {
            // Stored under the name its text gives, which may be another campaign's.
            return Redirect::to(&campaign_path(&stored.name)).into_response();
        }
        Ok(stored) => (Some(outcome_of(&stored, publish)), Vec::new()),
        Err(error) => refusal(&error, &file_name),
    };
    campaign_page(
        &user,
        &name,
        &versions,
        &latest,
        (&source, &media),
        &diagnostics,
        outcome,
    )
}

/// `POST /console/campaigns`: a campaign's first version (or any version, by the name its text
/// gives).
pub async fn create(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<PublishForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let admin = match admin_of(&user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let (source, file_name) = (
        form.source.replace("\r\n", "\n"),
        file_name_of(None, &form.file_name),
    );
    let publish = form.publish();
    let result = match request_from(None, &form) {
        Ok(request) => store_campaign(&state, &admin, request, publish).await,
        Err(error) => Err(error),
    };
    let (outcome, diagnostics) = match result {
        Ok(stored) if publish == Publish::Store => {
            return Redirect::to(&campaign_path(&stored.name)).into_response();
        }
        Ok(stored) => (Some(outcome_of(&stored, publish)), Vec::new()),
        Err(error) => refusal(&error, &file_name),
    };
    let status = if diagnostics.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    html_response(
        status,
        layout(
            Some(&user),
            "New campaign",
            editor_with(
                &user,
                "/console/campaigns",
                &file_name,
                &source,
                &diagnostics,
                outcome,
                media_field(form.media.as_deref().unwrap_or_default()),
            ),
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct RollbackForm {
    csrf: Option<String>,
    version: u64,
}

/// `POST /console/campaigns/{name}/rollback`: publishes an earlier version's text and media again
/// as a new version. Nothing is deleted.
pub async fn rollback(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<RollbackForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    let admin = match admin_of(&user) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let earlier = match state
        .storage()
        .campaign_version(name.clone(), form.version)
        .await
    {
        Ok(Some(earlier)) => earlier,
        Ok(None) => return not_found(&user, &format!("{name} v{}", form.version)),
        Err(error) => return api_problem(&user, &error.into()),
    };
    let request = PushCampaign {
        file_name: earlier.file_name,
        source: earlier.source,
        media: earlier.media,
    };
    match store_campaign(&state, &admin, request, Publish::Store).await {
        Ok(_) => Redirect::to(&campaign_path(&name)).into_response(),
        Err(error) => api_problem(&user, &error),
    }
}
