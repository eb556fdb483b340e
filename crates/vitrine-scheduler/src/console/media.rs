//! The media library in the console: every stored media file with its size, when it came, and
//! which playlist and campaign versions name it under which file name; a small thumbnail of each
//! picture, made here and cached by the browser under the file's digest; and uploading a file.
//!
//! An upload goes through the API's own [`crate::api::put_media`], so it is verified against the
//! sha256 given, limited and charged to staff's stores exactly as `PUT /v1/media/{sha256}` is. The
//! page's script sends the file's bytes as the request's body (the form needs JavaScript for that;
//! `vitrine push` uploads without a browser).
//!
//! HQ sees every file; staff see the files their stores' playlists name, and only those uses
//! (campaigns and other stores' playlists are HQ's).

use std::collections::BTreeSet;
use std::io::Cursor;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::StreamExt;
use maud::html;
use serde::Deserialize;
use vitrine_core::Sha256Hex;

use super::{ConsoleUser, api_problem, html_response, layout, problem, query_escaped, when};
use crate::AppState;
use crate::error::ApiError;
use crate::storage::console::{MediaRow, MediaUser};

/// The largest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 160;
/// Pictures larger than this are not decoded for a thumbnail.
const MAX_THUMBNAIL_SOURCE_BYTES: u64 = 64 * 1024 * 1024;
/// The largest picture decoded, per side, and the most memory decoding it may take.
const MAX_DECODED_SIDE: u32 = 16_384;
const MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;

/// What a file is, for the list: a picture gets a thumbnail, anything else its type in words.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Picture,
    Other(String),
}

/// The kind of file `file_name` names, by its extension; `None` without one.
fn kind_by_name(file_name: &str) -> Option<Kind> {
    let extension = std::path::Path::new(file_name)
        .extension()?
        .to_str()?
        .to_ascii_lowercase();
    Some(match image::ImageFormat::from_extension(&extension) {
        Some(format) if format.reading_enabled() => Kind::Picture,
        _ => Kind::Other(match extension.as_str() {
            "mp4" | "m4v" | "mov" | "webm" | "mkv" => format!("{extension} video"),
            "html" | "htm" => "web page".to_owned(),
            "pdf" => "PDF".to_owned(),
            _ => format!("{extension} file"),
        }),
    })
}

/// The kind of a stored file: by the name a playlist or campaign gives it, else by its first
/// bytes (a file nothing names yet, just uploaded).
async fn kind_of(state: &AppState, row: &MediaRow) -> Kind {
    if let Some(kind) = row
        .uses
        .iter()
        .find_map(|media_use| kind_by_name(&media_use.file_name))
    {
        return kind;
    }
    let Ok(Some(mut stream)) = state.blobs().read(&row.sha256, Some(0..64)).await else {
        return Kind::Other("unknown".to_owned());
    };
    let mut head = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        head.extend_from_slice(&chunk);
    }
    match image::guess_format(&head) {
        Ok(format) if format.reading_enabled() => Kind::Picture,
        _ => Kind::Other("unknown".to_owned()),
    }
}

/// The rows `user` may see: all for HQ; for staff, those their stores' playlists name, with
/// only those uses.
async fn visible_rows(state: &AppState, user: &ConsoleUser) -> Result<Vec<MediaRow>, ApiError> {
    let rows = state.storage().media_library().await?;
    let Some(stores) = user.manager.stores() else {
        return Ok(rows);
    };
    let own: BTreeSet<String> = state
        .storage()
        .playlist_summaries()
        .await?
        .into_iter()
        .filter(|summary| {
            summary
                .owner_stores
                .as_ref()
                .is_some_and(|owners| owners.iter().all(|owner| stores.contains(owner)))
        })
        .map(|summary| summary.name)
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|mut row| {
            row.uses.retain(|media_use| {
                media_use.user == MediaUser::Playlist && own.contains(&media_use.name)
            });
            (!row.uses.is_empty()).then_some(row)
        })
        .collect())
}

fn size_in_words(bytes: u64) -> String {
    const KIB: u64 = 1024;
    match bytes {
        0..KIB => format!("{bytes} B"),
        KIB..1_048_576 => format!("{:.1} KiB", bytes as f64 / KIB as f64),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// The file just uploaded, to say so.
    uploaded: Option<String>,
}

/// `GET /console/media`.
pub async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(query): Query<ListQuery>,
) -> Response {
    let rows = match visible_rows(&state, &user).await {
        Ok(rows) => rows,
        Err(error) => return api_problem(&user, &error),
    };
    let mut kinds = Vec::with_capacity(rows.len());
    for row in &rows {
        kinds.push(kind_of(&state, row).await);
    }
    let body = html! {
        @if let Some(uploaded) = &query.uploaded {
            p class="notice" role="status" id="outcome" { "Stored " code { (uploaded) } "." }
        }
        section class="card" aria-labelledby="upload-heading" {
            h2 id="upload-heading" { "Upload a file" }
            form id="media-upload" method="post" action="/console/media/upload" data-upload {
                (user.csrf_field())
                label for="media-file" { "File" }
                input id="media-file" name="file" type="file" required;
                label for="media-sha256" { "sha256" }
                input id="media-sha256" name="sha256" required pattern="[0-9a-f]{64}" autocomplete="off"
                    spellcheck="false" aria-describedby="media-sha256-help";
                p class="help" id="media-sha256-help" {
                    "What " code { "sha256sum FILE" } " prints: the file is refused unless its bytes hash to it. "
                    "Filled in when a file is picked, where the browser can compute it. "
                    "A file no playlist or campaign names is removed after a grace period ("
                    code { "--unused-media-grace" } ")."
                }
                div class="actions" { button type="submit" class="primary" { "Upload" } }
                p class="help" id="media-upload-status" role="status" aria-live="polite" {}
            }
        }
        div class="scroll" {
            table id="media" {
                thead { tr {
                    th scope="col" { "File" } th scope="col" { "sha256" } th scope="col" { "Size" }
                    th scope="col" { "Uploaded" } th scope="col" { "Named by" }
                } }
                tbody {
                    @for (row, kind) in rows.iter().zip(&kinds) {
                        tr id=(format!("media-{}", row.sha256.as_str())) {
                            td {
                                @match kind {
                                    Kind::Picture => {
                                        img class="thumbnail" loading="lazy" width=(THUMBNAIL_SIDE / 2)
                                            src=(format!("/console/media/{}/thumbnail", row.sha256.as_str()))
                                            alt=(row.uses.first().map_or_else(|| "A picture nothing names yet".to_owned(), |first| format!("Thumbnail of {}", first.file_name)));
                                    }
                                    Kind::Other(what) => span class="muted" { (what) },
                                }
                            }
                            td { code class="digest" title=(row.sha256.as_str()) { (row.sha256.as_str()) } }
                            td class="number" { (size_in_words(row.size)) }
                            td { (when(row.created_at)) }
                            td {
                                @if row.uses.is_empty() { span class="muted" { "nothing yet" } }
                                @else { ul class="uses" {
                                    @for media_use in &row.uses {
                                        li {
                                            @match media_use.user {
                                                MediaUser::Playlist => {
                                                    "playlist " a href=(format!("/console/playlists/{}/versions/{}", query_escaped(&media_use.name), media_use.version)) { (media_use.name) " v" (media_use.version) }
                                                }
                                                MediaUser::Campaign => {
                                                    "campaign " a href=(format!("/console/campaigns/{}/versions/{}", query_escaped(&media_use.name), media_use.version)) { (media_use.name) " v" (media_use.version) }
                                                }
                                            }
                                            " as " code { (media_use.file_name) }
                                        }
                                    }
                                } }
                            }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="5" { "No media file to show." } } }
                }
            }
        }
    };
    html_response(StatusCode::OK, layout(Some(&user), "Media", body))
}

/// `POST /console/media/upload/{sha256}`: the file's bytes as the body, the CSRF token in the
/// `X-CSRF-Token` header; stored by `PUT /v1/media/{sha256}`'s own handler. Answers with the
/// library, or the API's refusal as a page.
pub async fn upload(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(sha256): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(refused) = user.forged(None, &headers) {
        return refused;
    }
    match crate::api::put_media(
        State(state),
        user.manager.clone(),
        Ok(Path(sha256)),
        headers,
        body,
    )
    .await
    {
        Ok((_, Json(stored))) => Redirect::to(&format!(
            "/console/media?uploaded={}",
            stored.sha256.as_str()
        ))
        .into_response(),
        Err(error) => api_problem(&user, &error),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /console/media/upload`: the form sent without its script, which cannot carry the file.
pub async fn upload_without_script(
    user: ConsoleUser,
    headers: HeaderMap,
    axum::extract::Form(form): axum::extract::Form<CsrfForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    problem(
        Some(&user),
        StatusCode::BAD_REQUEST,
        "The file was not sent",
        "Uploading from the console needs JavaScript, which sends the file's bytes as they are. \
         Turn it on, or upload with `vitrine push`.",
    )
}

/// A picture made small, as PNG.
fn thumbnail_png(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| format!("cannot read the picture: {error}"))?;
    if reader.format().is_none() {
        return Err("not a picture".to_owned());
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let picture = reader
        .decode()
        .map_err(|error| format!("cannot decode the picture: {error}"))?;
    let small = picture.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
    let mut png = Vec::new();
    small
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|error| format!("cannot encode the thumbnail: {error}"))?;
    Ok(png)
}

/// `GET /console/media/{sha256}/thumbnail`: a picture's thumbnail, PNG, no side over
/// [`THUMBNAIL_SIDE`]. The bytes behind a digest never change, so neither does the thumbnail:
/// its ETag is the digest's and browsers keep it for good. Any signed-in person may, as any staff
/// token may read any media file.
pub async fn thumbnail(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(sha256): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Ok(sha256) = sha256.parse::<Sha256Hex>() else {
        return problem(
            Some(&user),
            StatusCode::BAD_REQUEST,
            "Not a media digest",
            "A media file is named by its sha256: 64 lowercase hexadecimal characters.",
        );
    };
    let etag = format!("\"thumbnail-{}\"", sha256.as_str());
    let cached = [
        (header::ETAG, etag.clone()),
        (
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable".to_owned(),
        ),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if matches {
        return (StatusCode::NOT_MODIFIED, cached).into_response();
    }
    let not_found = || {
        problem(
            Some(&user),
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("No media file has sha256 {}.", sha256.as_str()),
        )
    };
    match state.storage().media_exists(sha256.clone()).await {
        Ok(true) => {}
        Ok(false) => return not_found(),
        Err(error) => return api_problem(&user, &error.into()),
    }
    match state.blobs().info(&sha256).await {
        Ok(Some(info)) if info.size <= MAX_THUMBNAIL_SOURCE_BYTES => {}
        Ok(Some(_)) => {
            return problem(
                Some(&user),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "No thumbnail",
                "This file is too large to make a thumbnail of.",
            );
        }
        Ok(None) => return not_found(),
        Err(error) => return api_problem(&user, &ApiError::from(error)),
    }
    let bytes = match state.blobs().read_all(&sha256).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return not_found(),
        Err(error) => return api_problem(&user, &ApiError::from(error)),
    };
    // Decoding is CPU work: off the async workers.
    let made = tokio::task::spawn_blocking(move || thumbnail_png(&bytes)).await;
    match made {
        Ok(Ok(png)) => {
            let mut response = (StatusCode::OK, cached, png).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
            response
        }
        Ok(Err(reason)) => problem(
            Some(&user),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "No thumbnail",
            &format!("This file has no thumbnail: {reason}."),
        ),
        Err(error) => api_problem(&user, &ApiError::internal("making a thumbnail", error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_a_picture_by_its_extension_or_its_type_in_words() {
        assert_eq!(kind_by_name("sale.PNG"), Some(Kind::Picture));
        assert_eq!(kind_by_name("a/b/c.jpeg"), Some(Kind::Picture));
        assert_eq!(
            kind_by_name("spot.mp4"),
            Some(Kind::Other("mp4 video".to_owned()))
        );
        assert_eq!(kind_by_name("README"), None);
    }

    #[test]
    fn a_thumbnail_fits_its_side_and_keeps_the_shape() {
        let picture = image::RgbImage::from_pixel(640, 320, image::Rgb([200, 30, 30]));
        let mut png = Vec::new();
        picture
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let small = image::load_from_memory(&thumbnail_png(&png).unwrap()).unwrap();
        assert_eq!((small.width(), small.height()), (160, 80));
        assert!(thumbnail_png(b"not a picture at all").is_err());
    }
}
