//! Screenshots: a screen sent the `screenshot` command reads back the next frame it shows, scales
//! it to at most [`MAX_SCREENSHOT_WIDTH`] pixels wide and sends it as a JPEG to
//! `PUT /v1/screenshot` with its device token; HQ keeps the latest one per screen, which
//! `GET /v1/screens/{name}/screenshot` serves to the admin and to the screen's store's staff (the
//! console, `vitrine screens screenshot`).
//!
//! What is stored is checked first: a JPEG by its header (decoded with the `image` crate, pixels
//! left alone), no wider than a player sends, under [`SCREENSHOT_BODY_LIMIT`]. A screen can only
//! ever replace its own screenshot.

use std::io::Cursor;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use image::ImageDecoder;
use jiff::Timestamp;
use vitrine_wire::screens::ScreenshotTaken;

use crate::AppState;
use crate::auth::{Manager, ScreenCaller};
use crate::error::ApiError;
use crate::storage::screenshots::Screenshot;

/// The most a screenshot may weigh: a 960-pixel-wide JPEG at quality 85 is a few hundred KiB at
/// the very most.
pub const SCREENSHOT_BODY_LIMIT: usize = 1024 * 1024;

/// The widest screenshot kept: what players scale their frames down to.
pub const MAX_SCREENSHOT_WIDTH: u32 = 960;

/// The tallest screenshot kept: a portrait screen's frame scaled to 960 wide, with room to spare.
pub const MAX_SCREENSHOT_HEIGHT: u32 = 4096;

/// The header that says when HQ received the screenshot it answers with (RFC 3339).
pub const TAKEN_AT_HEADER: &str = "x-vitrine-taken-at";

/// `PUT /v1/screenshot`: a screen sends what it shows, as a JPEG.
#[utoipa::path(
    put,
    path = "/v1/screenshot",
    tag = "screens",
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "A JPEG of the screen's frame, at most 960 pixels wide and 1 MiB"),
    responses(
        (status = 201, description = "Kept as the screen's latest screenshot", body = vitrine_wire::screens::ScreenshotTaken),
        (status = 400, description = "Error codes: `bad_request`, `invalid_screenshot`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("device" = [])),
)]
pub async fn put_screenshot(
    State(state): State<AppState>,
    ScreenCaller(screen): ScreenCaller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ScreenshotTaken>), ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the screenshot is over this endpoint's limit of {SCREENSHOT_BODY_LIMIT} \
                     bytes (1 MiB); send a JPEG at most {MAX_SCREENSHOT_WIDTH} pixels wide"
                ),
            )
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })?;
    let (width, height) = check_jpeg(&body)
        .map_err(|problem| ApiError::new(StatusCode::BAD_REQUEST, "invalid_screenshot", problem))?;
    // To the microsecond, which both databases keep: the answer names the time stored.
    let taken_at = Timestamp::from_microsecond(Timestamp::now().as_microsecond())
        .map_err(|error| ApiError::internal("reading the clock", error))?;
    let bytes = body.len() as u64;
    state
        .storage()
        .record_screenshot(
            screen.name.clone(),
            Screenshot {
                taken_at,
                width,
                height,
                jpeg: body.to_vec(),
            },
        )
        .await?;
    tracing::info!(screen = %screen.name, width, height, bytes, "screenshot received");
    Ok((
        StatusCode::CREATED,
        Json(ScreenshotTaken {
            screen: screen.name,
            taken_at,
            width,
            height,
            bytes,
        }),
    ))
}

/// The size of the JPEG in `body`, read from its header; or what is wrong with it, in words for
/// whoever wrote the sender.
pub fn check_jpeg(body: &[u8]) -> Result<(u32, u32), String> {
    if body.is_empty() {
        return Err("the body is empty; send the screenshot as a JPEG".to_owned());
    }
    match image::guess_format(body) {
        Ok(image::ImageFormat::Jpeg) => {}
        Ok(other) => {
            return Err(format!(
                "the body is a {} image, not a JPEG; send the screenshot as image/jpeg",
                other
                    .extensions_str()
                    .first()
                    .unwrap_or(&"different")
                    .to_uppercase()
            ));
        }
        Err(_) => {
            return Err(
                "the body is not an image this scheduler recognises; send the screenshot as a JPEG"
                    .to_owned(),
            );
        }
    }
    let decoder = image::codecs::jpeg::JpegDecoder::new(Cursor::new(body))
        .map_err(|error| format!("the JPEG's header does not decode: {error}"))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(format!("the JPEG is {width}x{height} pixels: it is empty"));
    }
    if width > MAX_SCREENSHOT_WIDTH {
        return Err(format!(
            "the JPEG is {width} pixels wide; screenshots are at most {MAX_SCREENSHOT_WIDTH} \
             wide (scale the frame down, keeping its aspect ratio)"
        ));
    }
    if height > MAX_SCREENSHOT_HEIGHT {
        return Err(format!(
            "the JPEG is {height} pixels tall; screenshots are at most {MAX_SCREENSHOT_HEIGHT} tall"
        ));
    }
    Ok((width, height))
}

/// `GET /v1/screens/{name}/screenshot`: the screen's latest screenshot.
#[utoipa::path(
    get,
    path = "/v1/screens/{name}/screenshot",
    tag = "screens",
    params(
        ("name" = String, Path, description = "The screen's name"),
    ),
    responses(
        (status = 200, description = "The screen's latest screenshot; `X-Vitrine-Taken-At` says when HQ received it (RFC 3339)", body = Vec<u8>, content_type = "image/jpeg",
            headers(("X-Vitrine-Taken-At" = String, description = "When HQ received the screenshot, RFC 3339"))),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `no_screenshot`, `unknown_screen`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn get_screenshot(
    State(state): State<AppState>,
    manager: Manager,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    // Staff reach only the screens of their stores; an unknown screen is the same 403 to them.
    manager
        .ensure_screens(&state, std::slice::from_ref(&name))
        .await?;
    let shown: String = name.chars().take(80).collect();
    if !state.storage().screen_exists(name.clone()).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_screen",
            format!("no screen called `{shown}` is registered; check the name"),
        ));
    }
    let Some(screenshot) = state.storage().screenshot_of(name).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_screenshot",
            format!("screen {shown} has sent no screenshot yet; send it the `screenshot` command"),
        ));
    };
    let taken_at = HeaderValue::from_str(&screenshot.taken_at.to_string())
        .map_err(|error| ApiError::internal("writing a screenshot's time", error))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::HeaderName::from_static(TAKEN_AT_HEADER), taken_at),
        ],
        screenshot.jpeg,
    )
        .into_response())
}
