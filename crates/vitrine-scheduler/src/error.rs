//! The error every handler returns: an HTTP status, a stable snake_case code that clients may match on,
//! and a message that tells a person how to fix the request. Internal failures are logged in full and
//! answered with a generic message, so paths, SQL and library errors never reach a client.

use std::fmt;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vitrine_core::{Diagnostic, Diagnostics};

use crate::blobs::BlobError;
use crate::storage::StorageError;
use vitrine_wire::errors::{ErrorBody, ErrorDetail};

/// Every code an API error may carry, with the status it comes with and what it means. The
/// OpenAPI document lists them as the `ErrorCode` enum; a test checks that every code the source
/// uses is here, and debug builds check each error made.
pub const ERROR_CODES: &[(&str, u16, &str)] = &[
    (
        "bad_request",
        400,
        "The request is malformed: its JSON, query or path; the message says where.",
    ),
    (
        "bad_signature",
        401,
        "A proof-of-play batch whose signature header is missing or does not sign its body.",
    ),
    (
        "batch_too_large",
        413,
        "A proof-of-play batch with more impressions than one batch may hold.",
    ),
    ("campaign_not_found", 404, "No campaign has that name."),
    (
        "fetch_in_progress",
        409,
        "The feed is being fetched already.",
    ),
    (
        "forbidden",
        403,
        "The token is valid but may not do this (staff outside their stores, a device token on HQ's routes).",
    ),
    (
        "database_unavailable",
        503,
        "The database cannot be reached or is busy (a PostgreSQL restart, a full pool); nothing \
         half-done was kept. `Retry-After` says when to try again.",
    ),
    (
        "hash_mismatch",
        422,
        "The uploaded bytes do not hash to the digest in the path.",
    ),
    (
        "internal",
        500,
        "The scheduler failed; the cause is in its log, never in the answer.",
    ),
    (
        "invalid_code",
        400,
        "The text is not a pairing code (six letters and digits).",
    ),
    (
        "invalid_duration",
        400,
        "A duration is not written like `30s`, `5m` or `1h`, or is over a day.",
    ),
    (
        "invalid_feed",
        422,
        "The product feed cannot be read; the message names the line or item.",
    ),
    (
        "invalid_file",
        422,
        "An imported file (stores, segments, inventory, feed) has errors; the message names each line.",
    ),
    (
        "invalid_message",
        400,
        "An interrupt's message is empty or too long.",
    ),
    (
        "invalid_name",
        400,
        "A name has characters or a length that names may not have.",
    ),
    (
        "invalid_playlist",
        422,
        "The playlist or campaign is refused; `diagnostics` lists every problem with file, line and column.",
    ),
    (
        "invalid_screenshot",
        400,
        "A screenshot that is not a JPEG, or is wider than 960 pixels; the message says which.",
    ),
    (
        "invalid_segment",
        400,
        "A segment name is not 1-64 printable characters.",
    ),
    (
        "invalid_sha256",
        400,
        "The digest in the path is not 64 lowercase hexadecimal characters.",
    ),
    (
        "invalid_stores",
        400,
        "A staff token must name between one store and the most a token may hold.",
    ),
    (
        "invalid_timezone",
        400,
        "The time zone is not an IANA name like `Europe/Paris`.",
    ),
    (
        "media_not_found",
        404,
        "No media file with that digest is stored (or the screen's playlist does not name it).",
    ),
    (
        "media_unavailable",
        503,
        "The media store (the data folder's disk or the S3 bucket) cannot be reached or refused; \
         nothing was stored. `Retry-After` says when to try again.",
    ),
    (
        "method_not_allowed",
        405,
        "The endpoint exists but does not accept that HTTP method.",
    ),
    (
        "missing_media",
        422,
        "The playlist or campaign names media files that are not uploaded yet.",
    ),
    (
        "no_audience",
        400,
        "A push says nobody to send to: name `screens`, a `region`, `stores` or `tags`.",
    ),
    (
        "no_playlist",
        404,
        "The screen's playlist has not been pushed yet.",
    ),
    (
        "no_screenshot",
        404,
        "The screen has sent no screenshot yet; send it the `screenshot` command.",
    ),
    ("not_found", 404, "No such endpoint."),
    (
        "pairing_not_found",
        404,
        "The pairing code is unknown, expired, already used, or the secret is wrong.",
    ),
    (
        "pairing_used",
        409,
        "The pairing code was confirmed by someone else or expired meanwhile.",
    ),
    (
        "payload_too_large",
        413,
        "The request body is over the endpoint's limit, which the message names.",
    ),
    (
        "playlist_not_for_screen",
        409,
        "The playlist's audience does not include that screen.",
    ),
    (
        "playlist_not_pushed",
        404,
        "The playlist named has not been pushed (pass `allow_unpushed` as the admin to assign it anyway).",
    ),
    (
        "quota_exceeded",
        507,
        "The store's media or playlist quota is used up; the message names the quota.",
    ),
    (
        "rate_limited",
        429,
        "Too many requests from this token or address; `Retry-After` says when to try again.",
    ),
    (
        "screen_exists",
        409,
        "A screen with that name is registered already.",
    ),
    ("screen_not_found", 404, "No screen has that name."),
    (
        "staff_exists",
        409,
        "A staff member with that name exists already.",
    ),
    ("staff_not_found", 404, "No staff member has that name."),
    ("store_not_found", 404, "No store has that code."),
    (
        "token_revoked",
        401,
        "The token was revoked or replaced; pair the screen again or ask HQ for a new token.",
    ),
    (
        "too_many_pairings",
        503,
        "Every pairing code is taken; try again in a minute.",
    ),
    (
        "too_many_streams",
        429,
        "The screen holds as many event streams as one token may.",
    ),
    (
        "unauthorized",
        401,
        "No token, or one the scheduler does not know.",
    ),
    (
        "unknown_command",
        400,
        "The command is not one players understand.",
    ),
    ("unknown_feed", 404, "No feed has that name."),
    (
        "unknown_interrupt",
        404,
        "No interrupt in force has that id.",
    ),
    ("unknown_region", 404, "No store is in that region."),
    ("unknown_screen", 404, "No screen has that name."),
    (
        "unknown_segment",
        400,
        "The segment is not in the CRM's segment import.",
    ),
    ("unknown_store", 404, "No store has that code."),
    ("unknown_tag", 404, "No screen or store has that tag."),
    (
        "validation_timeout",
        422,
        "Checking the playlist took longer than allowed; split it or simplify its rules.",
    ),
    (
        "wrong_screen",
        403,
        "The proof of play names another screen than the token's.",
    ),
];

/// An API error, rendered as `{"error":{"code":"...","message":"..."}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Only for `invalid_playlist`: every problem found, each with file, line and column.
    diagnostics: Option<Vec<Diagnostic>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(
            ERROR_CODES
                .iter()
                .any(|(known, known_status, _)| *known == code && *known_status == status.as_u16()),
            "error code `{code}` with status {status} is not in ERROR_CODES; add it there"
        );
        Self {
            status,
            code,
            message: message.into(),
            diagnostics: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or unknown token; send `Authorization: Bearer TOKEN` with the admin token or \
             the screen's device token",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// A playlist refused with its diagnostics; the message is their rustc-style rendering, which
    /// names file:line:column for each.
    pub fn invalid_playlist(diagnostics: Diagnostics) -> Self {
        debug_assert!(
            ERROR_CODES
                .iter()
                .any(|(code, ..)| *code == "invalid_playlist")
        );
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_playlist",
            message: diagnostics.to_string(),
            diagnostics: Some(diagnostics.0),
        }
    }

    /// Logs the real cause and hides it from the client: internal detail helps an attacker more than
    /// it helps a caller, and the operator has the log.
    pub fn internal(context: &str, error: impl fmt::Display) -> Self {
        tracing::error!(error = %error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the scheduler failed to handle this request; the cause is in its log",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// What went wrong and how to fix it, as the client reads it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Every problem found in a refused playlist or campaign; empty for other errors.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        self.diagnostics.as_deref().unwrap_or_default()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} ({}): {}",
            self.code, self.status, self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                diagnostics: self.diagnostics,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.code == "database_unavailable" || self.code == "media_unavailable" {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(DATABASE_RETRY_AFTER_SECONDS),
            );
        }
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: a 401 says which scheme the client should use.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl ApiError {
    /// Maps a JSON body rejection to the error shape. axum reports an over-limit body as 413; that
    /// status is kept, with the limit named, so the client learns the size, not the content, is the
    /// problem. Everything else is the client's JSON being wrong, and serde's message says where.
    pub fn from_json_rejection(rejection: JsonRejection, limit_bytes: usize) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the request body is over this endpoint's limit of {limit_bytes} bytes; \
                     send less per request"
                ),
            );
        }
        Self::bad_request(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

/// How many seconds a client is told to wait after `database_unavailable`.
const DATABASE_RETRY_AFTER_SECONDS: u32 = 2;

impl From<StorageError> for ApiError {
    /// A database that is away or busy is worth a retry and says so (503, `Retry-After`); any
    /// other storage failure is the scheduler's (500, cause in the log).
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Unavailable(cause) => {
                tracing::warn!(%cause, "the database is unavailable; answering 503");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database is unavailable for a moment; try again in a few seconds",
                )
            }
            other => Self::internal("storage failed", other),
        }
    }
}

impl From<BlobError> for ApiError {
    /// The media store away or refusing is worth a retry (503, `Retry-After`); a local disk error
    /// reading a received upload is the scheduler's (500). The cause goes to the log only.
    fn from(error: BlobError) -> Self {
        match error {
            BlobError::Store { .. } => {
                tracing::warn!(%error, "the media store is unavailable; answering 503");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "media_unavailable",
                    "the media store cannot be reached for a moment; nothing was stored, try \
                     again in a few seconds",
                )
            }
            BlobError::Io(_) => Self::internal("handling a media upload", error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_database_is_a_503_with_retry_after_and_other_failures_a_500() {
        let away = ApiError::from(StorageError::Unavailable("connection refused".into()));
        assert_eq!(away.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(away.code(), "database_unavailable");
        let response = away.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");

        let broken = ApiError::from(StorageError::CorruptRow("screens.tags".into()));
        assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            !broken.to_string().contains("screens.tags"),
            "the cause stays in the log"
        );
    }
}
