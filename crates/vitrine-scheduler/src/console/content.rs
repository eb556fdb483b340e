//! Playlists in the console: the list, each one's versions, its YAML coloured, the diff between two
//! versions, editing or uploading a new version with every diagnostic at its line, and rolling
//! back (a new version with an earlier one's text; nothing is deleted).
//!
//! Publishing goes through the API's own [`crate::api::store_playlist`], with the same checks,
//! staff rules and quotas as `POST /v1/playlists`.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use vitrine_core::Diagnostic;
use vitrine_wire::playlists::PushPlaylist;

use super::yaml;
use super::{ConsoleUser, api_problem, html_response, layout, problem, query_escaped, when};
use crate::AppState;
use crate::api::{Publish, store_playlist};
use crate::error::ApiError;
use crate::storage::playlists::StoredPlaylist;

/// Whether `user` may see the playlist: HQ sees all, staff their stores' own (the rule the API
/// applies to pushes).
async fn ensure_visible(state: &AppState, user: &ConsoleUser, name: &str) -> Result<(), Response> {
    user.manager
        .ensure_playlist(state, name)
        .await
        .map_err(|error| api_problem(user, &error))
}

/// `GET /console/playlists`.
pub async fn list(State(state): State<AppState>, user: ConsoleUser) -> Response {
    let summaries = match state.storage().playlist_summaries().await {
        Ok(summaries) => summaries,
        Err(error) => return api_problem(&user, &error.into()),
    };
    let visible: Vec<_> = summaries
        .into_iter()
        .filter(|summary| match user.manager.stores() {
            None => true,
            Some(stores) => summary
                .owner_stores
                .as_ref()
                .is_some_and(|owners| owners.iter().all(|owner| stores.contains(owner))),
        })
        .collect();
    let body = html! {
        div class="scroll" {
            table {
                thead { tr {
                    th scope="col" { "Playlist" } th scope="col" { "Newest version" }
                    th scope="col" { "Updated" } th scope="col" { "Screens" } th scope="col" { "Owner" }
                } }
                tbody {
                    @for summary in &visible {
                        tr {
                            th scope="row" { a href=(format!("/console/playlists/{}", query_escaped(&summary.name))) { (summary.name) } }
                            td { "v" (summary.newest) }
                            td { (when(summary.updated_at)) }
                            td class="number" { (summary.screens) }
                            td { @match &summary.owner_stores { Some(stores) => (stores.join(", ")), None => "HQ" } }
                        }
                    }
                    @if visible.is_empty() { tr { td colspan="5" { "No playlist yet." } } }
                }
            }
        }
        section class="card" aria-labelledby="new-heading" {
            h2 id="new-heading" { "New playlist" }
            (editor(&user, "/console/playlists", "playlist.yaml", "", &[], None))
        }
    };
    html_response(StatusCode::OK, layout(Some(&user), "Playlists", body))
}

/// The edit-or-upload form: a file picker that loads into the text box, Validate and Publish.
pub(super) fn editor(
    user: &ConsoleUser,
    action: &str,
    file_name: &str,
    source: &str,
    diagnostics: &[Diagnostic],
    outcome: Option<Markup>,
) -> Markup {
    editor_with(
        user,
        action,
        file_name,
        source,
        diagnostics,
        outcome,
        html! {},
    )
}

/// [`editor`] with more fields, after the YAML.
pub(super) fn editor_with(
    user: &ConsoleUser,
    action: &str,
    file_name: &str,
    source: &str,
    diagnostics: &[Diagnostic],
    outcome: Option<Markup>,
    more_fields: Markup,
) -> Markup {
    html! {
        @if let Some(outcome) = outcome { (outcome) }
        @if !diagnostics.is_empty() {
            div class="card problems" role="alert" aria-labelledby="problems-heading" {
                h3 id="problems-heading" { (diagnostics.len()) " problem" @if diagnostics.len() != 1 { "s" } " found — nothing was published" }
                (yaml::highlighted(source, file_name, diagnostics))
            }
        }
        form method="post" action=(action) class="editor" {
            (user.csrf_field())
            div {
                label for="file" { "Upload a YAML file" }
                input id="file" type="file" accept=".yaml,.yml,text/yaml" data-load-into="source";
            }
            div {
                label for="file_name" { "File name" }
                input id="file_name" name="file_name" value=(file_name) required;
            }
            label for="source" { "YAML" }
            textarea id="source" name="source" rows="18" spellcheck="false" required { (source) }
            (more_fields)
            div class="actions" {
                button type="submit" name="action" value="validate" { "Validate" }
                button type="submit" name="action" value="publish" class="primary" { "Publish" }
            }
        }
    }
}

/// `GET /console/playlists/{name}`.
pub async fn playlist(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
) -> Response {
    if let Err(refused) = ensure_visible(&state, &user, &name).await {
        return refused;
    }
    let (versions, latest) = match (
        state.storage().playlist_versions(name.clone()).await,
        state.storage().latest_playlist(name.clone()).await,
    ) {
        (Ok(versions), Ok(Some(latest))) => (versions, latest),
        (Ok(_), Ok(None)) => return not_found(&user, &name),
        (Err(error), _) | (_, Err(error)) => return api_problem(&user, &error.into()),
    };
    playlist_page(&user, &name, &versions, &latest, &latest.source, &[], None)
}

fn not_found(user: &ConsoleUser, name: &str) -> Response {
    problem(
        Some(user),
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("No playlist called `{name}` has been pushed."),
    )
}

fn playlist_page(
    user: &ConsoleUser,
    name: &str,
    versions: &[crate::storage::console::VersionSummary],
    latest: &StoredPlaylist,
    edited: &str,
    diagnostics: &[Diagnostic],
    outcome: Option<Markup>,
) -> Response {
    let escaped = query_escaped(name);
    let status = if diagnostics.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = html! {
        section class="card" aria-labelledby="current-heading" {
            h2 id="current-heading" { "Version " span id="current-version" { (latest.version) } " (current)" }
            (yaml::highlighted(&latest.source, &latest.file_name, &[]))
        }
        section class="card" aria-labelledby="edit-heading" {
            h2 id="edit-heading" { "Edit or upload a new version" }
            p class="help" { "The media files the playlist names keep the uploads of the current version; upload new files with " code { "vitrine push" } "." }
            (editor(user, &format!("/console/playlists/{escaped}/publish"), &latest.file_name, edited, diagnostics, outcome))
        }
        (versions_card(user, &format!("/console/playlists/{escaped}"), versions, latest.version))
    };
    html_response(
        status,
        layout(Some(user), &format!("Playlist {name}"), body),
    )
}

/// The versions of a playlist or campaign (at `path`), each with a link to its text, a diff with
/// the newest and a rollback button.
pub(super) fn versions_card(
    user: &ConsoleUser,
    path: &str,
    versions: &[crate::storage::console::VersionSummary],
    newest: u64,
) -> Markup {
    html! {
        section class="card" aria-labelledby="versions-heading" {
            h2 id="versions-heading" { "Versions" }
            div class="scroll" {
                table {
                    thead { tr { th scope="col" { "Version" } th scope="col" { "Published" } th scope="col" { "Size" } th scope="col" { "Compare" } th scope="col" { "Roll back" } } }
                    tbody {
                        @for version in versions {
                            tr {
                                th scope="row" { a href=(format!("{path}/versions/{}", version.version)) { "v" (version.version) } }
                                td { (when(version.created_at)) }
                                td class="number" { (version.bytes) " B" }
                                td {
                                    @if version.version < newest {
                                        a href=(format!("{path}/diff?from={}&to={newest}", version.version)) { "diff with v" (newest) }
                                    }
                                }
                                td {
                                    @if version.version < newest {
                                        form method="post" action=(format!("{path}/rollback")) class="inline" {
                                            (user.csrf_field())
                                            input type="hidden" name="version" value=(version.version);
                                            button type="submit" { "Roll back to v" (version.version) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/playlists/{name}/versions/{version}`.
pub async fn version(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((name, version)): Path<(String, u64)>,
) -> Response {
    if let Err(refused) = ensure_visible(&state, &user, &name).await {
        return refused;
    }
    let stored = match state
        .storage()
        .playlist_version(name.clone(), version)
        .await
    {
        Ok(Some(stored)) => stored,
        Ok(None) => return not_found(&user, &format!("{name} v{version}")),
        Err(error) => return api_problem(&user, &error.into()),
    };
    let body = html! {
        p { a href=(format!("/console/playlists/{}", query_escaped(&name))) { "← All versions" } }
        (yaml::highlighted(&stored.source, &stored.file_name, &[]))
    };
    html_response(
        StatusCode::OK,
        layout(Some(&user), &format!("Playlist {name} v{version}"), body),
    )
}

#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    from: u64,
    to: u64,
}

/// `GET /console/playlists/{name}/diff?from=A&to=B`.
pub async fn diff(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
    Query(query): Query<DiffQuery>,
) -> Response {
    if let Err(refused) = ensure_visible(&state, &user, &name).await {
        return refused;
    }
    let read = |version| state.storage().playlist_version(name.clone(), version);
    let (from, to) = match (read(query.from).await, read(query.to).await) {
        (Ok(Some(from)), Ok(Some(to))) => (from, to),
        (Ok(None), _) => return not_found(&user, &format!("{name} v{}", query.from)),
        (_, Ok(None)) => return not_found(&user, &format!("{name} v{}", query.to)),
        (Err(error), _) | (_, Err(error)) => return api_problem(&user, &error.into()),
    };
    let body = html! {
        p { a href=(format!("/console/playlists/{}", query_escaped(&name))) { "← All versions" } }
        p { "Lines removed from v" (query.from) " are marked −, lines added in v" (query.to) " +." }
        (yaml::diff(&from.source, &to.source))
    };
    html_response(
        StatusCode::OK,
        layout(
            Some(&user),
            &format!("Playlist {name}: v{} → v{}", query.from, query.to),
            body,
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct PublishForm {
    csrf: Option<String>,
    #[serde(default)]
    file_name: String,
    source: String,
    #[serde(default)]
    action: String,
}

/// The request a console edit makes: the new text, with the current version's includes and the
/// uploads of the media files it names.
fn request_from(latest: Option<&StoredPlaylist>, file_name: &str, source: &str) -> PushPlaylist {
    PushPlaylist {
        file_name: if file_name.trim().is_empty() {
            latest.map_or_else(
                || "playlist.yaml".to_owned(),
                |latest| latest.file_name.clone(),
            )
        } else {
            file_name.trim().to_owned()
        },
        // Browsers send text areas with CRLF line ends.
        source: source.replace("\r\n", "\n"),
        media: latest
            .map(|latest| {
                latest
                    .media
                    .iter()
                    .map(|(file, entry)| (file.clone(), entry.sha256.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        includes: latest
            .map(|latest| latest.includes.clone())
            .unwrap_or_default(),
    }
}

fn outcome_of(stored: &vitrine_wire::playlists::PlaylistStored, publish: Publish) -> Markup {
    html! {
        div class="notice" role="status" id="outcome" {
            @match (publish, stored.unchanged) {
                (Publish::Check, _) => { "No problem found. Press Publish to make it " (stored.name) "’s next version." },
                (Publish::Store, true) => { "This is the same as v" (stored.version) ": nothing was published." },
                (Publish::Store, false) => { "Published " (stored.name) " v" (stored.version) ". Screens showing it are being told now." },
            }
            @if !stored.warnings.is_empty() {
                ul class="diagnostics" { @for warning in &stored.warnings.0 { li { (yaml::diagnostic_markup(warning)) } } }
            }
        }
    }
}

/// `POST /console/playlists/{name}/publish`: validates, or publishes, an edited or uploaded
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
    if let Err(refused) = ensure_visible(&state, &user, &name).await {
        return refused;
    }
    let latest = match state.storage().latest_playlist(name.clone()).await {
        Ok(latest) => latest,
        Err(error) => return api_problem(&user, &error.into()),
    };
    let request = request_from(latest.as_ref(), &form.file_name, &form.source);
    let publish = if form.action == "validate" {
        Publish::Check
    } else {
        Publish::Store
    };
    let source = request.source.clone();
    let file_name = request.file_name.clone();
    let result = store_playlist(&state, &user.manager, request, publish).await;
    let (outcome, diagnostics) = match result {
        Ok((_, stored)) if stored.name != name => {
            // The text names another playlist: it was checked (and perhaps stored) under that
            // name, so show that one.
            if publish == Publish::Store {
                return Redirect::to(&format!(
                    "/console/playlists/{}",
                    query_escaped(&stored.name)
                ))
                .into_response();
            }
            (Some(outcome_of(&stored, publish)), Vec::new())
        }
        Ok((_, stored)) if publish == Publish::Store && !stored.unchanged => {
            return Redirect::to(&format!("/console/playlists/{}", query_escaped(&name)))
                .into_response();
        }
        Ok((_, stored)) => (Some(outcome_of(&stored, publish)), Vec::new()),
        Err(error) => refusal(&error, &file_name),
    };
    let (versions, latest) = match (
        state.storage().playlist_versions(name.clone()).await,
        state.storage().latest_playlist(name.clone()).await,
    ) {
        (Ok(versions), Ok(Some(latest))) => (versions, latest),
        (Ok(_), Ok(None)) => return not_found(&user, &name),
        (Err(error), _) | (_, Err(error)) => return api_problem(&user, &error.into()),
    };
    playlist_page(
        &user,
        &name,
        &versions,
        &latest,
        &source,
        &diagnostics,
        outcome,
    )
}

/// An API refusal as diagnostics to show at their lines, or a message above the form.
pub(super) fn refusal(error: &ApiError, file_name: &str) -> (Option<Markup>, Vec<Diagnostic>) {
    if error.diagnostics().is_empty() {
        (
            Some(html! { p class="problem" role="alert" { (error.message()) } }),
            vec![Diagnostic::error(file_name, 0, 0, error.message())],
        )
    } else {
        (None, error.diagnostics().to_vec())
    }
}

/// `POST /console/playlists`: a playlist's first version (or any version, by the name its text
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
    let request = request_from(None, &form.file_name, &form.source);
    let publish = if form.action == "validate" {
        Publish::Check
    } else {
        Publish::Store
    };
    let (source, file_name) = (request.source.clone(), request.file_name.clone());
    match store_playlist(&state, &user.manager, request, publish).await {
        Ok((_, stored)) if publish == Publish::Store => Redirect::to(&format!(
            "/console/playlists/{}",
            query_escaped(&stored.name)
        ))
        .into_response(),
        result => {
            let (outcome, diagnostics) = match result {
                Ok((_, stored)) => (Some(outcome_of(&stored, publish)), Vec::new()),
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
                    "New playlist",
                    editor(
                        &user,
                        "/console/playlists",
                        &file_name,
                        &source,
                        &diagnostics,
                        outcome,
                    ),
                ),
            )
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct RollbackForm {
    csrf: Option<String>,
    version: u64,
}

/// `POST /console/playlists/{name}/rollback`: publishes an earlier version's text, includes and
/// media again as a new version. Nothing is deleted.
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
    if let Err(refused) = ensure_visible(&state, &user, &name).await {
        return refused;
    }
    let earlier = match state
        .storage()
        .playlist_version(name.clone(), form.version)
        .await
    {
        Ok(Some(earlier)) => earlier,
        Ok(None) => return not_found(&user, &format!("{name} v{}", form.version)),
        Err(error) => return api_problem(&user, &error.into()),
    };
    let request = PushPlaylist {
        file_name: earlier.file_name.clone(),
        source: earlier.source.clone(),
        media: earlier
            .media
            .iter()
            .map(|(file, entry)| (file.clone(), entry.sha256.clone()))
            .collect(),
        includes: earlier.includes.clone(),
    };
    match store_playlist(&state, &user.manager, request, Publish::Store).await {
        Ok(_) => {
            Redirect::to(&format!("/console/playlists/{}", query_escaped(&name))).into_response()
        }
        Err(error) => api_problem(&user, &error),
    }
}
