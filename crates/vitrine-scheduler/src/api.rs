//! The HTTP handlers of the `/v1` API. Each one names the caller it accepts in its signature
//! ([`Admin`], [`ScreenCaller`] or any [`Caller`]), checks its input, and answers either its JSON or
//! an [`ApiError`]. Storage goes through [`crate::storage::Storage`] and [`crate::blobs::BlobStore`].

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use vitrine_core::impression::{
    BatchError, MAX_IMPRESSIONS_PER_BATCH, SIGNATURE_HEADER, verify_batch_signature,
};
use vitrine_core::playlist::{Parsed, Playlist, parse_playlist_with_includes};
use vitrine_core::{Impression, ImpressionAck, ImpressionBatch, Sha256Hex};

use crate::AppState;
use crate::auth::{Caller, Manager, ScreenCaller, generate_token, token_sha256};
use crate::blobs::ReceiveError;
use crate::error::ApiError;
use crate::manifest::stored_playlist;
use crate::quota::Stored;
use crate::storage::playlists::{NewPlaylistVersion, PlaylistInsert, PlaylistQuota};

pub use crate::manifest::{ManifestBody, manifest_of};
pub use vitrine_wire::playlists::{MediaStored, PlaylistStored, PushPlaylist};
pub use vitrine_wire::screens::{CreateScreen, ScreenCreated, ScreenStatus};

const MIB: usize = 1024 * 1024;

/// The largest media file accepted by `PUT /v1/media/{sha256}`.
pub const MEDIA_UPLOAD_LIMIT: u64 = 512 * MIB as u64;
/// The largest `POST /v1/playlists` body: the playlist source (at most
/// [`vitrine_core::playlist::MAX_PLAYLIST_BYTES`]) plus its media map and JSON escaping.
pub const PLAYLIST_BODY_LIMIT: usize = 2 * MIB;
/// The largest `POST /v1/impressions` body; a full batch of
/// [`MAX_IMPRESSIONS_PER_BATCH`] impressions takes well under half of it.
pub const IMPRESSIONS_BODY_LIMIT: usize = 4 * MIB;
/// The largest `POST /v1/screens` body: two short names.
pub const SCREEN_BODY_LIMIT: usize = 64 * 1024;

/// The longest screen name; names appear in dashboards and log lines.
const MAX_NAME_LENGTH: usize = 64;
/// The longest playlist name or playlist file name accepted.
const MAX_LABEL_LENGTH: usize = 256;

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses(
        (status = 200, description = "The scheduler answers", body = String, content_type = "text/plain", example = "ok"),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
    ),
    security(()),
)]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Answers unknown paths in the API's JSON error shape.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; the API lives under /v1",
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that HTTP method",
    )
}

/// `POST /v1/screens`: registers a screen and hands out its device token.
#[utoipa::path(
    post,
    path = "/v1/screens",
    tag = "screens",
    request_body = crate::api::CreateScreen,
    responses(
        (status = 201, description = "The screen and its device token, shown once", body = crate::api::ScreenCreated),
        (status = 400, description = "Error codes: `bad_request`, `invalid_name`, `invalid_timezone`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `playlist_not_pushed`, `store_not_found`", body = crate::openapi::ErrorBody),
        (status = 409, description = "Error codes: `playlist_not_for_screen`, `screen_exists`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn create_screen(
    State(state): State<AppState>,
    manager: Manager,
    body: Result<Json<CreateScreen>, JsonRejection>,
) -> Result<(StatusCode, Json<ScreenCreated>), ApiError> {
    let Json(request) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, SCREEN_BODY_LIMIT))?;
    register_screen(state, manager, request, false).await
}

/// Registers the screen `request` describes. `playlist_is_default` is set by pairing when the
/// confirmation named no playlist and `request.playlist` is its default.
pub async fn register_screen(
    state: AppState,
    manager: Manager,
    request: CreateScreen,
    playlist_is_default: bool,
) -> Result<(StatusCode, Json<ScreenCreated>), ApiError> {
    check_screen_name(&request.name)?;
    // Staff add screens only to their own stores.
    manager.ensure_store(
        request.store.as_deref(),
        &format!("screen `{}`", request.name),
    )?;
    check_label("playlist", &request.playlist)?;
    // A screen is given only a pushed playlist, and by staff only their stores' own; staff give
    // only the tags HQ allows them.
    let warning = manager
        .ensure_assignable_playlist(
            &state,
            &request.playlist,
            playlist_is_default,
            request.allow_unpushed,
        )
        .await?;
    manager.ensure_tags(&request.tags)?;
    let timezone = request.timezone.unwrap_or_default();
    if !timezone.is_empty() && jiff::tz::TimeZone::get(&timezone).is_err() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_timezone",
            format!(
                "`{timezone}` is not an IANA time zone this server knows; write it like \
                 `Europe/Paris` or `America/New_York`"
            ),
        ));
    }

    let mut tags = request.tags.clone();
    if let Some(store) = &request.store {
        let Some(record) = state.storage().store_by_code(store.clone()).await? else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "store_not_found",
                format!(
                    "no store has code `{}`; import the store list first with `vitrine stores \
                     import`",
                    store.chars().take(80).collect::<String>()
                ),
            ));
        };
        // A store's tags count for its screens, as campaigns read them.
        tags.extend(record.tags);
    }
    for tag in &request.tags {
        check_label("tag", tag)?;
    }
    ensure_meant_for(&state, &request.playlist, &request.name, &tags).await?;

    let token = generate_token().map_err(|error| ApiError::internal("making a token", error))?;
    let created = state
        .storage()
        .create_screen(
            request.name.clone(),
            request.playlist,
            timezone,
            token_sha256(&token),
        )
        .await?;
    if !created {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "screen_exists",
            format!(
                "a screen called `{}` is already registered; pick another name",
                request.name
            ),
        ));
    }
    if request.store.is_some() || !request.tags.is_empty() {
        state
            .storage()
            .place_screen(request.name.clone(), request.store, request.tags)
            .await?;
    }
    tracing::info!(screen = %request.name, "registered a screen");
    Ok((
        StatusCode::CREATED,
        Json(ScreenCreated {
            screen: request.name,
            token,
            warning,
        }),
    ))
}

/// Refuses to give a screen a playlist whose `screens:` and `tags:` say it is for other screens.
async fn ensure_meant_for(
    state: &AppState,
    playlist: &str,
    screen: &str,
    tags: &[String],
) -> Result<(), ApiError> {
    let Some(stored) = state.storage().latest_playlist(playlist.to_owned()).await? else {
        return Ok(());
    };
    let playlist = stored_playlist(&stored)?;
    match playlist.audience() {
        Some(audience) if !playlist.is_for(screen, tags) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "playlist_not_for_screen",
            format!(
                "playlist `{}` is for {audience} (its `screens:` and `tags:`), and `{screen}` is \
                 neither; add the screen to the playlist's `screens:` and push it again, give the \
                 screen one of those tags with `--tag`, or pick another playlist",
                playlist.name
            ),
        )),
        _ => Ok(()),
    }
}

/// Screens that play `playlist` although its `screens:` and `tags:` say it is for others, as a
/// push warning: they keep playing it, since taking their content away would blank them.
async fn screens_it_is_not_for(
    state: &AppState,
    playlist: &Playlist,
    file_name: &str,
    source: &str,
) -> Result<Option<vitrine_core::Diagnostic>, ApiError> {
    let Some(audience) = playlist.audience() else {
        return Ok(None);
    };
    let stores: BTreeMap<String, Vec<String>> = state
        .storage()
        .stores()
        .await?
        .into_iter()
        .map(|store| (store.code, store.tags))
        .collect();
    let mut outside: Vec<String> = state
        .storage()
        .screens()
        .await?
        .into_iter()
        .filter(|screen| screen.playlist == playlist.name)
        .filter(|screen| {
            let mut tags = screen.tags.clone();
            if let Some(store_tags) = screen.store.as_ref().and_then(|code| stores.get(code)) {
                tags.extend(store_tags.iter().cloned());
            }
            !playlist.is_for(&screen.name, &tags)
        })
        .map(|screen| screen.name)
        .collect();
    if outside.is_empty() {
        return Ok(None);
    }
    outside.sort();
    let count = outside.len();
    outside.truncate(20);
    // At the `screens:` or `tags:` line, whichever comes first.
    let line = source
        .lines()
        .position(|line| line.starts_with("screens:") || line.starts_with("tags:"))
        .map_or(1, |index| index as u64 + 1);
    Ok(Some(
        vitrine_core::Diagnostic::warning(
            file_name,
            line,
            1,
            format!(
                "{count} screen(s) play `{}` but are not among its {audience}: {}{}; they keep \
                 playing it",
                playlist.name,
                outside.join(", "),
                if count > outside.len() { ", …" } else { "" }
            ),
        )
        .with_hint(
            "add them to `screens:` or give them one of the `tags:`, or give them another \
             playlist",
        ),
    ))
}

fn check_screen_name(name: &str) -> Result<(), ApiError> {
    check_name("screen name", name)
}

/// Names of screens and staff: 1 to 64 of `A-Z a-z 0-9 . _ -`, so they are safe in URLs, logs and
/// file names. `what` names the kind in the error.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    let well_formed = !name.is_empty()
        && name.len() <= MAX_NAME_LENGTH
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    if well_formed {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_name",
            format!(
                "{what} `{}` is not 1-{MAX_NAME_LENGTH} characters of letters, digits, \
                 `.`, `_` and `-`; e.g. `store-042.entrance`",
                name.chars().take(80).collect::<String>()
            ),
        ))
    }
}

/// Looser names (playlist names, playlist file names) only need to be non-empty, short and printable.
pub(crate) fn check_label(what: &str, label: &str) -> Result<(), ApiError> {
    let well_formed = !label.trim().is_empty()
        && label.chars().count() <= MAX_LABEL_LENGTH
        && !label.chars().any(char::is_control);
    if well_formed {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_name",
            format!(
                "{what} must be 1-{MAX_LABEL_LENGTH} printable characters, not `{}`",
                label.chars().take(80).collect::<String>().escape_debug()
            ),
        ))
    }
}

/// The digest in a media URL, refused with 400 unless it is exactly what `sha256sum` prints.
fn media_digest(path: Result<Path<String>, PathRejection>) -> Result<Sha256Hex, ApiError> {
    let Path(text) = path?;
    text.parse()
        .map_err(|error: vitrine_core::media::InvalidSha256| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_sha256",
                format!("{error}; name media by what `sha256sum FILE` prints"),
            )
        })
}

fn media_not_found(sha256: &Sha256Hex) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "media_not_found",
        format!("no media with sha256 {sha256}; upload it with `PUT /v1/media/{sha256}`"),
    )
}

/// `HEAD /v1/media/{sha256}`: whether the blob is stored, so a client uploads only what is missing.
#[utoipa::path(
    head,
    path = "/v1/media/{sha256}",
    tag = "media",
    params(
        ("sha256" = String, Path, description = "The file's sha256, 64 lowercase hexadecimal characters"),
    ),
    responses(
        (status = 200, description = "The file is stored"),
        (status = 400, description = "Error codes: `bad_request`, `invalid_sha256`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `media_not_found`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn head_media(
    State(state): State<AppState>,
    _manager: Manager,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let sha256 = media_digest(path)?;
    if state.storage().media_exists(sha256.clone()).await? {
        Ok(StatusCode::OK)
    } else {
        Err(media_not_found(&sha256))
    }
}

/// `GET /v1/media/{sha256}`: the blob's bytes, with `Range` support so players resume downloads.
#[utoipa::path(
    get,
    path = "/v1/media/{sha256}",
    tag = "media",
    params(
        ("sha256" = String, Path, description = "The file's sha256, 64 lowercase hexadecimal characters"),
    ),
    responses(
        (status = 200, description = "The file", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 206, description = "The requested range of the file (`Range`, one range)", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 304, description = "Not modified (`If-None-Match` with the file's ETag, which is its quoted sha256, or `If-Modified-Since`)"),
        (status = 400, description = "Error codes: `bad_request`, `invalid_sha256`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `media_not_found`", body = crate::openapi::ErrorBody),
        (status = 416, description = "The range is outside the file, or asks for several ranges; `Content-Range` gives the size", body = String, content_type = "text/plain"),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`, `media_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = []), ("device" = [])),
)]
pub async fn get_media(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let sha256 = media_digest(path)?;
    if let Caller::Screen(screen) = &caller {
        crate::auth::ensure_media_of_screen(&state, screen, &sha256).await?;
    }
    if !state.storage().media_exists(sha256.clone()).await? {
        return Err(media_not_found(&sha256));
    }
    let Some(blob) = state.blobs().info(&sha256).await? else {
        return Err(media_missing_from_store(&state, &sha256));
    };
    // The bytes behind a digest never change: the digest is a strong ETag, and caches may keep
    // them for good (`private` because the request carried a token).
    let etag = format!("\"{sha256}\"");
    let last_modified = http_date(blob.last_modified);
    let headers = request.headers();
    let mut builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::LAST_MODIFIED, &last_modified)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=31536000, immutable"),
        );
    if not_modified(headers, &etag, blob.last_modified) {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(|error| ApiError::internal("answering a media request", error));
    }
    let range = match requested_range(headers, &etag, blob.size) {
        Ok(range) => range,
        Err(reason) => {
            return builder
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{}", blob.size))
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(Body::from(reason))
                .map_err(|error| ApiError::internal("answering a media request", error));
        }
    };
    let Some(bytes) = state
        .blobs()
        .read(&sha256, range.map(|(first, last)| first..last + 1))
        .await?
    else {
        // Removed between the two requests (unused-media collection, or by hand).
        return Err(media_missing_from_store(&state, &sha256));
    };
    builder = builder.header(
        header::CONTENT_TYPE,
        mime::APPLICATION_OCTET_STREAM.as_ref(),
    );
    builder = match range {
        Some((first, last)) => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(
                header::CONTENT_RANGE,
                format!("bytes {first}-{last}/{}", blob.size),
            )
            .header(header::CONTENT_LENGTH, last - first + 1),
        None => builder
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, blob.size),
    };
    builder
        .body(Body::from_stream(bytes))
        .map_err(|error| ApiError::internal("answering a media request", error))
}

/// Indexed but gone from the store: someone removed the file or object by hand. Re-uploading
/// restores it.
fn media_missing_from_store(state: &AppState, sha256: &Sha256Hex) -> ApiError {
    let key = state.blobs().key_of(sha256);
    tracing::warn!(%sha256, %key, "indexed media blob is missing from the media store");
    media_not_found(sha256)
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(at: jiff::Timestamp) -> String {
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&at)
        .unwrap_or_default()
}

/// Whether a conditional GET may be answered 304: `If-None-Match` naming the blob's ETag (or `*`),
/// or else `If-Modified-Since` no earlier than when it was stored.
fn not_modified(headers: &HeaderMap, etag: &str, stored_at: jiff::Timestamp) -> bool {
    if let Some(wanted) = headers.get(header::IF_NONE_MATCH) {
        return wanted.to_str().is_ok_and(|wanted| {
            wanted.split(',').map(str::trim).any(|candidate| {
                candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
            })
        });
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|since| since.to_str().ok())
        .and_then(|since| jiff::fmt::rfc2822::parse(since).ok())
        .is_some_and(|since| stored_at.as_second() <= since.timestamp().as_second())
}

/// The first and last byte of the one range a `Range` header asks for, or None for the whole
/// blob: without the header, or with an `If-Range` that is not the blob's ETag. Several ranges, or
/// one outside the blob, are unsatisfiable (416), as tower-http's `ServeFile` answered.
fn requested_range(
    headers: &HeaderMap,
    etag: &str,
    size: u64,
) -> Result<Option<(u64, u64)>, &'static str> {
    let Some(range) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    if let Some(condition) = headers.get(header::IF_RANGE)
        && condition.as_bytes() != etag.as_bytes()
    {
        return Ok(None);
    }
    let unsatisfiable = "the range is outside the file, or not one range of bytes";
    let text = range.to_str().map_err(|_| unsatisfiable)?;
    if size == 0 {
        return Err(unsatisfiable);
    }
    let ranges = http_range_header::parse_range_header(text)
        .and_then(|parsed| parsed.validate(size))
        .map_err(|_| unsatisfiable)?;
    match ranges.as_slice() {
        [one] => Ok(Some((*one.start(), *one.end()))),
        _ => Err("several ranges in one request are not served; ask for one at a time"),
    }
}

/// `PUT /v1/media/{sha256}`: stores a blob under its digest, refusing bytes that do not hash to it.
#[utoipa::path(
    put,
    path = "/v1/media/{sha256}",
    tag = "media",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes; they must hash to the digest in the path"),
    params(
        ("sha256" = String, Path, description = "The file's sha256, 64 lowercase hexadecimal characters"),
    ),
    responses(
        (status = 201, description = "Stored", body = crate::api::MediaStored),
        (status = 200, description = "Already stored", body = crate::api::MediaStored),
        (status = 400, description = "Error codes: `bad_request`, `invalid_sha256`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 422, description = "Error codes: `hash_mismatch`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`, `media_unavailable`", body = crate::openapi::ErrorBody),
        (status = 507, description = "Error codes: `quota_exceeded`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn put_media(
    State(state): State<AppState>,
    manager: Manager,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<MediaStored>), ApiError> {
    let sha256 = media_digest(path)?;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("media files are limited to {MEDIA_UPLOAD_LIMIT} bytes (512 MiB)"),
        )
    };
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > MEDIA_UPLOAD_LIMIT) {
        return Err(too_large());
    }
    // Staff uploads count against their stores' quotas: refused before the bytes are read when
    // the length is declared, and again once it is known.
    crate::quota::ensure_room(
        &state,
        &manager,
        Stored::Media,
        declared_length.unwrap_or(0),
    )
    .await?;

    let upload = match state
        .blobs()
        .receive(body, &sha256, MEDIA_UPLOAD_LIMIT)
        .await
    {
        Ok(upload) => upload,
        Err(ReceiveError::TooLarge { .. }) => return Err(too_large()),
        Err(ReceiveError::HashMismatch { expected, actual }) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "hash_mismatch",
                format!(
                    "the uploaded bytes have sha256 {actual} but the URL names {expected}; \
                     nothing was stored. Upload to `/v1/media/{actual}` or send the file whose \
                     `sha256sum` is {expected}"
                ),
            ));
        }
        Err(ReceiveError::Body(error)) => {
            return Err(ApiError::bad_request(format!(
                "the upload was cut off or malformed ({error}); nothing was stored, send it again"
            )));
        }
        Err(error @ ReceiveError::Io(_)) => {
            return Err(ApiError::internal("receiving an upload", error));
        }
    };
    let size = upload.size;
    let in_store = state.blobs().contains(&sha256).await?;
    if in_store && state.storage().media_exists(sha256.clone()).await? {
        // Already stored; the verified duplicate is dropped, which deletes it.
        return Ok((StatusCode::OK, Json(MediaStored { sha256, size })));
    }
    crate::quota::ensure_room(&state, &manager, Stored::Media, size).await?;
    state.blobs().keep(upload, &sha256).await?;
    // Checked again with the charge, in one transaction: an upload racing this one from the
    // same store may have spent the room since.
    let new = match crate::quota::record_media(&state, &manager, &sha256, size).await {
        Ok(new) => new,
        Err(refusal) => {
            // Nothing indexes the file, so nothing would ever collect it: it goes now, unless
            // another upload of the same bytes got it indexed meanwhile.
            if !state.storage().media_exists(sha256.clone()).await?
                && let Err(error) = state.blobs().remove(&sha256).await
            {
                tracing::warn!(%sha256, %error, "could not remove a refused upload");
            }
            return Err(refusal);
        }
    };
    if new {
        tracing::info!(%sha256, size, "stored media");
    }
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(MediaStored { sha256, size })))
}

/// `POST /v1/playlists`: validates a playlist and stores it as the next version of its name (201).
/// A push identical to the latest version (same source, includes and media map) stores nothing and
/// answers 200 with that version and `"unchanged": true`. A refused playlist changes nothing.
#[utoipa::path(
    post,
    path = "/v1/playlists",
    tag = "playlists",
    request_body = crate::api::PushPlaylist,
    responses(
        (status = 201, description = "Stored as a new version", body = crate::api::PlaylistStored),
        (status = 200, description = "Identical to the newest version, which is kept", body = crate::api::PlaylistStored),
        (status = 400, description = "Error codes: `bad_request`, `invalid_name`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 422, description = "Error codes: `invalid_playlist`, `validation_timeout`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
        (status = 507, description = "Error codes: `quota_exceeded`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn push_playlist(
    State(state): State<AppState>,
    manager: Manager,
    body: Result<Json<PushPlaylist>, JsonRejection>,
) -> Result<(StatusCode, Json<PlaylistStored>), ApiError> {
    let Json(request) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, PLAYLIST_BODY_LIMIT))?;
    let (status, stored) = store_playlist(&state, &manager, request, Publish::Store).await?;
    Ok((status, Json(stored)))
}

/// What [`store_playlist`] does with a playlist that passes every check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish {
    /// Only checks it (the console's "Validate"): nothing is stored, and the answer's version is 0.
    Check,
    /// Stores it as the next version, unless it is the same as the latest.
    Store,
}

/// `POST /v1/playlists`'s work, for the API and the console alike: parses and checks `request` as
/// `manager` may push it, then stores it unless `publish` says only to check.
pub async fn store_playlist(
    state: &AppState,
    manager: &Manager,
    request: PushPlaylist,
    publish: Publish,
) -> Result<(StatusCode, PlaylistStored), ApiError> {
    check_label("file_name", &request.file_name)?;
    // Off the async workers and within a budget: a large file must not stall other requests.
    let Parsed {
        value: playlist,
        warnings,
    } = crate::validation::off_worker({
        let (file_name, source, includes) = (
            request.file_name.clone(),
            request.source.clone(),
            request.includes.clone(),
        );
        move || {
            let resolve = |path: &str| {
                includes.get(path).cloned().ok_or_else(|| {
                    format!(
                        "`{path}` was not sent with the playlist; add it to the request's \
                         `includes`"
                    )
                })
            };
            parse_playlist_with_includes(&file_name, &source, &resolve)
        }
    })
    .await?
    .map_err(ApiError::invalid_playlist)?;
    // Staff push only their stores' playlists, within their stores' quota.
    manager.ensure_playlist(state, &playlist.name).await?;
    let compiled = serde_json::to_string(&playlist)
        .map_err(|error| ApiError::internal("serialising a playlist", error))?;
    // The same playlist pushed again is not a new version: screens would reload for nothing and
    // reports would split one playlist's plays over two versions. Checked before the quota, which
    // an unchanged push does not use.
    if let Some(latest) = state
        .storage()
        .latest_playlist(playlist.name.clone())
        .await?
        && latest.source == request.source
        && latest.includes == request.includes
        && latest.compiled.as_deref() == Some(compiled.as_str())
        && latest.media.len() == request.media.len()
        && latest
            .media
            .iter()
            .all(|(file, entry)| request.media.get(file) == Some(&entry.sha256))
    {
        tracing::info!(playlist = %playlist.name, version = latest.version, "playlist unchanged");
        return Ok((
            StatusCode::OK,
            PlaylistStored {
                name: playlist.name,
                version: latest.version,
                unchanged: true,
                warnings,
            },
        ));
    }
    let version_bytes = request.source.len()
        + request
            .includes
            .iter()
            .map(|(path, text)| path.len() + text.len())
            .sum::<usize>();
    crate::quota::ensure_room(
        state,
        manager,
        Stored::PlaylistVersions,
        version_bytes as u64,
    )
    .await?;

    // Media rows are never deleted, so a blob found here is still there when the playlist is
    // inserted below; the check and the insert need not share a transaction.
    let stored = state
        .storage()
        .stored_media(request.media.values().cloned().collect())
        .await?;
    let is_available = |file: &str| {
        request
            .media
            .get(file)
            .is_some_and(|sha256| stored.contains(sha256))
    };
    let mut diagnostics = playlist.check_media(&request.file_name, is_available);
    if diagnostics.has_errors() {
        // check_media's hint is written for files on a local disk; over the API the fix is in the
        // media map or an upload.
        for diagnostic in &mut diagnostics.0 {
            let named_here = playlist.media().find(|reference| {
                let location = reference.origin.location();
                (location.line, location.column) == (diagnostic.line, diagnostic.column)
            });
            let Some(reference) = named_here else {
                continue;
            };
            diagnostic.hint = Some(match request.media.get(&reference.file) {
                Some(sha256) => format!(
                    "the media map gives sha256 {sha256} for `{}`, but no such blob is stored; \
                     upload it first with `PUT /v1/media/{sha256}`",
                    reference.file
                ),
                None => format!(
                    "add `{}` to the request's media map with the sha256 of its bytes",
                    reference.file
                ),
            });
        }
        return Err(ApiError::invalid_playlist(diagnostics));
    }
    if publish == Publish::Check {
        return Ok((
            StatusCode::OK,
            PlaylistStored {
                name: playlist.name,
                version: 0,
                unchanged: false,
                warnings,
            },
        ));
    }

    let (file_name, source_text) = (request.file_name, request.source);
    // Checked again by the insert, in its transaction: a push racing this one from the same
    // store may have spent the room since.
    let quota = manager.stores().map(|stores| PlaylistQuota {
        stores: stores.to_vec(),
        adds: version_bytes as u64,
        bytes: state.quotas().store_playlist_bytes,
    });
    let inserted = state
        .storage()
        .insert_playlist(NewPlaylistVersion {
            name: playlist.name.clone(),
            file_name: file_name.clone(),
            source: source_text.clone(),
            includes: request.includes,
            compiled,
            media: request.media,
            owner_stores: manager.playlist_owner(),
            quota,
        })
        .await?;
    let version = match inserted {
        PlaylistInsert::Stored(version) => version,
        PlaylistInsert::OverQuota { store, used } => {
            return Err(crate::quota::over_quota(
                &store,
                used,
                version_bytes as u64,
                state.quotas().store_playlist_bytes,
                Stored::PlaylistVersions,
            ));
        }
    };
    tracing::info!(playlist = %playlist.name, version, "stored a playlist");
    let mut warnings = warnings;
    warnings
        .0
        .extend(screens_it_is_not_for(state, &playlist, &file_name, &source_text).await?);
    Ok((
        StatusCode::CREATED,
        PlaylistStored {
            name: playlist.name,
            version,
            unchanged: false,
            warnings,
        },
    ))
}

/// `GET /v1/manifest`: the calling screen's manifest, built from the newest version of its playlist.
/// The ETag is the sha256 of the body, so a player polls cheaply with `If-None-Match`.
#[utoipa::path(
    get,
    path = "/v1/manifest",
    tag = "screens",
    params(
        ("If-None-Match" = Option<String>, Header, description = "The ETag of the manifest held; an unchanged manifest answers 304"),
    ),
    responses(
        (status = 200, description = "The screen's signed manifest, with its `ETag` and its signature in `x-vitrine-signature`", body = vitrine_core::Manifest),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `no_playlist`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("device" = [])),
)]
pub async fn manifest(
    State(state): State<AppState>,
    ScreenCaller(screen): ScreenCaller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(manifest) = manifest_of(&state, &screen).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_playlist",
            format!(
                "screen `{}` plays playlist `{}`, which has not been pushed yet; push it with \
                 `vitrine push` or `POST /v1/playlists`",
                screen.name, screen.playlist
            ),
        ));
    };
    if if_none_match_matches(&headers, &manifest.etag) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, manifest.etag_header.clone())],
        )
            .into_response());
    }
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, manifest.etag_header.clone()),
            // Caches must ask again every time: a push changes the manifest at once.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // The player refuses a manifest whose bytes this does not sign.
            (
                header::HeaderName::from_static(crate::signing::SIGNATURE_HEADER),
                manifest.signature_header.clone(),
            ),
        ],
        // A reference to the cached bytes, not a copy.
        manifest.body.clone(),
    )
        .into_response())
}

/// Whether an `If-None-Match` header names `etag` (or `*`). Weak validators compare equal to strong
/// ones here, as RFC 9110 asks for `If-None-Match`.
fn if_none_match_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

/// `POST /v1/impressions`: stores a screen's batch of proof of play, once per impression id. The
/// body must be signed (see [`vitrine_core::impression::sign_batch`]) with the sha256 of the
/// screen's device token; the answer names every id now held and the highest sequence number up to
/// which HQ holds all of the screen's plays.
#[utoipa::path(
    post,
    path = "/v1/impressions",
    tag = "proof_of_play",
    request_body(content = vitrine_core::ImpressionBatch, description = "Signed: `x-vitrine-signature` carries HMAC-SHA256 of the exact body, keyed with the sha256 of the device token"),
    params(
        ("x-vitrine-signature" = String, Header, description = "Base64 HMAC-SHA256 of the body, keyed with the sha256 of the device token"),
    ),
    responses(
        (status = 200, description = "Every impression id now held, and the sequence up to which HQ holds all the screen's plays", body = vitrine_core::ImpressionAck),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `bad_signature`, `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`, `wrong_screen`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `batch_too_large`, `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("device" = [])),
)]
pub async fn post_impressions(
    State(state): State<AppState>,
    ScreenCaller(screen): ScreenCaller,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<ImpressionAck>, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the request body is over this endpoint's limit of {IMPRESSIONS_BODY_LIMIT} \
                     bytes; send at most {MAX_IMPRESSIONS_PER_BATCH} impressions per batch"
                ),
            )
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })?;
    check_batch_signature(&state, &screen.name, &headers, &body).await?;
    let batch = ImpressionBatch::decode(&body).map_err(|error| match error {
        BatchError::TooLarge { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            error.to_string(),
        ),
        other => ApiError::bad_request(other.to_string()),
    })?;
    let count = batch.impressions.len();
    // Checked for the whole batch before anything is stored, so a refused batch stores nothing.
    for impression in &batch.impressions {
        check_impression(impression, &screen.name)?;
    }

    let acknowledged = batch
        .impressions
        .iter()
        .map(|impression| impression.id)
        .collect();
    let placement = crate::plays::Placement::of(&state, &screen.name).await?;
    let plays = placement.place_batch(batch.impressions).await?;
    let (inserted, highest_sequence) = state
        .storage()
        .insert_impressions(screen.name.clone(), plays)
        .await?;
    tracing::debug!(screen = %screen.name, count, inserted, highest_sequence, "stored impressions");
    state
        .metrics()
        .ingested(crate::metrics::Ingested::Impressions, inserted);
    Ok(Json(ImpressionAck {
        acknowledged,
        inserted,
        highest_sequence,
    }))
}

/// Refuses a batch whose signature header is missing or does not sign these exact bytes with the
/// screen's key, with 401 and what to check.
async fn check_batch_signature(
    state: &AppState,
    screen: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let refuse =
        |message: String| ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", message);
    let Some(signature) = headers
        .get(SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
    else {
        return Err(refuse(format!(
            "the impression batch carries no `{SIGNATURE_HEADER}` header; sign the exact body \
             with HMAC-SHA256 keyed by the sha256 of the device token and send \
             `{SIGNATURE_HEADER}: sha256=<hex>`"
        )));
    };
    let key = state
        .storage()
        .token_sha256_of(screen.to_owned())
        .await?
        .and_then(|key_hex| hex::decode(key_hex).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| ApiError::internal("screen key", "token_sha256 is not 64 hex digits"))?;
    if !verify_batch_signature(&key, body, signature) {
        return Err(refuse(format!(
            "the `{SIGNATURE_HEADER}` header does not sign this body for screen `{screen}`: the \
             body was changed on the way or signed with another key; nothing was stored"
        )));
    }
    Ok(())
}

fn check_impression(impression: &Impression, screen: &str) -> Result<(), ApiError> {
    if impression.screen != screen {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_screen",
            format!(
                "impression {} names screen `{}`, but this token belongs to `{screen}`; a screen \
                 reports only its own impressions, and nothing in this batch was stored",
                impression.id,
                impression.screen.chars().take(80).collect::<String>()
            ),
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImpressionQuery {
    pub screen: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImpressionList {
    pub impressions: Vec<Impression>,
}

/// `GET /v1/impressions?screen=NAME`: a screen's impressions, oldest first.
#[utoipa::path(
    get,
    path = "/v1/impressions",
    tag = "proof_of_play",
    params(
        crate::api::ImpressionQuery,
    ),
    responses(
        (status = 200, description = "The screen's impressions, oldest first", body = crate::api::ImpressionList),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `screen_not_found`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn list_impressions(
    State(state): State<AppState>,
    manager: Manager,
    query: Result<Query<ImpressionQuery>, QueryRejection>,
) -> Result<Json<ImpressionList>, ApiError> {
    let Query(query) = query?;
    let screen = query.screen.ok_or_else(|| {
        ApiError::bad_request("name the screen: `GET /v1/impressions?screen=NAME`")
    })?;
    // Staff first: their answer for an unknown screen is the same 403 as for another store's.
    manager
        .ensure_screens(&state, std::slice::from_ref(&screen))
        .await?;
    ensure_screen_exists(&state, &screen).await?;
    let impressions = state.storage().impressions_of(screen).await?;
    Ok(Json(ImpressionList { impressions }))
}

/// A 404 `screen_not_found` unless a screen called `name` is registered.
async fn ensure_screen_exists(state: &AppState, name: &str) -> Result<(), ApiError> {
    if state.storage().screen_exists(name.to_owned()).await? {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "screen_not_found",
        format!(
            "no screen called `{}` is registered; check the name",
            name.chars().take(80).collect::<String>()
        ),
    ))
}

/// The most a heartbeat may weigh; a real one is a few hundred bytes.
pub const HEARTBEAT_BODY_LIMIT: usize = 16 * 1024;

/// `POST /v1/heartbeat`: a screen reports what it plays and how well it draws.
#[utoipa::path(
    post,
    path = "/v1/heartbeat",
    tag = "screens",
    request_body = vitrine_core::Heartbeat,
    responses(
        (status = 204, description = "Kept as the screen's newest status"),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("device" = [])),
)]
pub async fn post_heartbeat(
    State(state): State<AppState>,
    ScreenCaller(screen): ScreenCaller,
    body: Result<Json<vitrine_core::Heartbeat>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(heartbeat) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, HEARTBEAT_BODY_LIMIT))?;
    state
        .storage()
        .record_heartbeat(screen.name, heartbeat)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/screens/{name}/status`: the screen's newest heartbeat, for the fleet view.
#[utoipa::path(
    get,
    path = "/v1/screens/{name}/status",
    tag = "screens",
    params(
        ("name" = String, Path, description = "The name"),
    ),
    responses(
        (status = 200, description = "The screen's newest heartbeat and when it came", body = crate::api::ScreenStatus),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `screen_not_found`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn screen_status(
    State(state): State<AppState>,
    manager: Manager,
    Path(name): Path<String>,
) -> Result<Json<ScreenStatus>, ApiError> {
    manager
        .ensure_screens(&state, std::slice::from_ref(&name))
        .await?;
    ensure_screen_exists(&state, &name).await?;
    let status = state.storage().heartbeat_of(name.clone()).await?;
    let (last_seen, heartbeat) = match status {
        Some((at, heartbeat)) => (Some(at), Some(heartbeat)),
        None => (None, None),
    };
    Ok(Json(ScreenStatus {
        screen: name,
        last_seen,
        heartbeat,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_names() {
        for good in ["lobby", "store-042.entrance", "A_1", &"x".repeat(64)] {
            assert!(check_screen_name(good).is_ok(), "{good}");
        }
        for bad in ["", "lob by", "../etc", "écran", &"x".repeat(65)] {
            let error = check_screen_name(bad).expect_err(bad);
            assert_eq!(error.code(), "invalid_name");
        }
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let etag = "\"abc\"";
        let matches = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
            if_none_match_matches(&headers, etag)
        };
        assert!(matches("\"abc\""));
        assert!(matches("\"x\", W/\"abc\""));
        assert!(matches("*"));
        assert!(!matches("\"abcd\""));
        assert!(!if_none_match_matches(&HeaderMap::new(), etag));
    }
}
