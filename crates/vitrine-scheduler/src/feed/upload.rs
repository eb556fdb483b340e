//! `POST /v1/feed/upload`: a product feed file sent as the raw request body, however large,
//! streamed to a temporary file and then read item by item like a feed fetched by URL, so memory
//! stays flat (the JSON `POST /v1/feed` holds its file in memory, within its body limit). The body
//! may be gzipped (`Content-Encoding: gzip`, or a `.gz` file).

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::fetch::{Downloaded, feed_reader};
use super::import::FeedSource;
use crate::AppState;
use crate::auth::Admin;
use crate::catalog::{FeedReport, UPLOAD_SOURCE};
use crate::error::ApiError;

/// What the query string says about the file: its name (which may pick the format) and whether
/// it replaces every product uploaded before.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    pub file_name: String,
    #[serde(default)]
    pub replace: bool,
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("a feed upload is limited to {limit} bytes (the scheduler's --feed-max-bytes)"),
    )
}

#[utoipa::path(
    post,
    path = "/v1/feed/upload",
    tag = "hq",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The feed file as exported (CSV, TSV or RSS/Atom XML), streamed"),
    params(
        crate::feed::upload::UploadQuery,
    ),
    responses(
        (status = 200, description = "What the feed changed", body = crate::catalog::FeedReport),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 422, description = "Error codes: `invalid_file`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn upload_feed(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<FeedReport>, ApiError> {
    let limit = state.feed_policy().max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|encoding| encoding.eq_ignore_ascii_case("gzip"));
    let file = tempfile::tempfile()
        .map_err(|error| ApiError::internal("making a temporary file for a feed", error))?;
    let mut file =
        tokio::io::BufWriter::with_capacity(1024 * 1024, tokio::fs::File::from_std(file));
    let mut received: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("reading the feed: {error}"),
            )
        })?;
        received += chunk.len() as u64;
        if received > limit {
            return Err(too_large(limit));
        }
        file.write_all(&chunk)
            .await
            .map_err(|error| ApiError::internal("writing a feed to a temporary file", error))?;
    }
    file.flush()
        .await
        .map_err(|error| ApiError::internal("writing a feed to a temporary file", error))?;
    let mut file = file.into_inner().into_std().await;
    std::io::Seek::rewind(&mut file)
        .map_err(|error| ApiError::internal("reading a feed back", error))?;
    let downloaded = Downloaded {
        file,
        gzip,
        etag: None,
        last_modified: None,
    };
    let name = query.file_name.clone();
    let (reader, format) =
        tokio::task::spawn_blocking(move || feed_reader(downloaded, &name, limit))
            .await
            .map_err(|error| ApiError::internal("reading a feed", error))?
            .map_err(|error| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_file", error)
            })?;
    let origin = FeedSource {
        name: UPLOAD_SOURCE.to_owned(),
        replace: query.replace,
    };
    let outcome = super::import::import_products(state.storage(), reader, format, origin)
        .await?
        .map_err(|error| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_file", error))?;
    tracing::info!(
        file = %query.file_name,
        applied = outcome.applied,
        skipped = outcome.skipped.len() + outcome.skipped_more,
        "imported an uploaded product feed"
    );
    Ok(Json(outcome.into()))
}
