//! Pairing: a player with a server but no token asks for a code (`POST /v1/pairings`, open to
//! anyone and tightly rate limited per address), shows it on screen, and polls
//! `GET /v1/pairings/{code}` with the secret that came with the code. An admin, or staff of the
//! store, confirms the code (`vitrine screens pair CODE --store S`, `POST /v1/pairings/{code}`),
//! which registers the screen; the next poll hands the player its device token and the
//! manifest-signing public key.
//!
//! Codes are six characters from an alphabet without look-alikes (no I/1, O/0, L), expire after
//! [`PAIRING_LIFETIME`], and can be confirmed once. Guessing a code gains nothing by itself: the
//! token goes only to whoever holds the secret, and confirming needs an admin or staff token. The
//! database holds only the secret's hash, and the device token is made at the moment the player
//! picks it up, so no usable credential waits at rest. The token is made once: a later poll of
//! the same code gets 404, so whoever holds an old code cannot undo a later rotation. A player
//! whose answer was lost on the way asks for a new code.
//!
//! Codes waiting at once are bounded per address ([`MAX_PENDING_PER_ADDRESS`]), per network
//! prefix ([`MAX_PENDING_PER_PREFIX`], a /24 or a /56) and in all ([`MAX_PENDING`]). Past a bound
//! the oldest unconfirmed code of that address, prefix or table gives way to the new one, so a
//! flood from a few networks cannot lock every other player out; it only churns its own codes.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::api::{CreateScreen, register_screen};
use crate::auth::{Manager, generate_token};
use crate::error::ApiError;
pub use crate::storage::pairing::{
    Insert, MAX_PENDING, MAX_PENDING_PER_ADDRESS, MAX_PENDING_PER_PREFIX, NewPairing, Origin,
    PairingRow,
};
use vitrine_core::pairing_code;
pub use vitrine_wire::pairing::{ConfirmPairing, PairingConfirmed, PairingStarted, PairingState};

/// How long a code stays valid.
pub const PAIRING_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// How often a player should poll while it waits.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The largest `POST /v1/pairings/{code}` body: a few names.
pub const PAIRING_BODY_LIMIT: usize = 16 * 1024;

/// The playlist a paired screen plays when the confirmation names none.
pub const DEFAULT_PLAYLIST: &str = "default";

/// A code as people type it, in its canonical form; the error shows the expected form.
fn parse_code(text: &str) -> Result<String, ApiError> {
    pairing_code::parse(text)
        .map(|code| code.as_str().to_owned())
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, "invalid_code", error.to_string()))
}

fn random_code() -> Result<String, ApiError> {
    let alphabet = pairing_code::CODE_ALPHABET.len();
    let mut indices = [0u8; pairing_code::CODE_LENGTH];
    let mut filled = 0;
    while filled < indices.len() {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).map_err(|error| ApiError::internal("making a code", error))?;
        // Rejection sampling keeps every character equally likely (248 = 8 * 31).
        if usize::from(byte[0]) < alphabet * (256 / alphabet) {
            indices[filled] = byte[0];
            filled += 1;
        }
    }
    Ok(pairing_code::from_indices(indices).as_str().to_owned())
}

fn secret_sha256(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "pairing_not_found",
        "no pairing is waiting under this code (it may have expired after 15 minutes, or been \
         used); restart the player to show a new code and confirm that one",
    )
}

/// `POST /v1/pairings`: a new code and its secret, for a player that has no token.
#[utoipa::path(
    post,
    path = "/v1/pairings",
    tag = "pairing",
    responses(
        (status = 201, description = "A new code, and the secret to poll it with", body = crate::pairing::PairingStarted),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `too_many_pairings`, `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(()),
)]
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
) -> Result<(StatusCode, Json<PairingStarted>), ApiError> {
    let address = crate::rate_limit::client_address(
        &headers,
        &extensions,
        state.limiters().trust_forwarded_for,
    );
    let origin = Origin::of(address);
    let now = Timestamp::now();
    let expires_at = now
        .checked_add(
            jiff::SignedDuration::try_from(PAIRING_LIFETIME)
                .map_err(|error| ApiError::internal("computing an expiry", error))?,
        )
        .map_err(|error| ApiError::internal("computing an expiry", error))?;
    let secret = generate_token().map_err(|error| ApiError::internal("making a secret", error))?;
    // A clash with a waiting code is vanishingly rare (31^6 codes); a few tries settle it.
    for _ in 0..8 {
        let code = random_code()?;
        let stored = state
            .storage()
            .insert_pairing(NewPairing {
                code: code.clone(),
                secret_sha256: secret_sha256(&secret),
                origin: origin.clone(),
                now,
                expires_at,
            })
            .await?;
        match stored {
            Insert::Stored => {
                tracing::info!("a player asked for a pairing code");
                state
                    .metrics()
                    .pairing(crate::metrics::PairingOutcome::Requested);
                return Ok((
                    StatusCode::CREATED,
                    Json(PairingStarted {
                        code,
                        secret,
                        expires_at,
                        poll_interval_s: POLL_INTERVAL.as_secs(),
                    }),
                ));
            }
            Insert::Clash => continue,
            Insert::Full => {
                state
                    .metrics()
                    .pairing(crate::metrics::PairingOutcome::NoCodeFree);
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too_many_pairings",
                    format!(
                        "{MAX_PENDING} pairing codes are confirmed and waiting to be picked up; \
                         try again in a minute"
                    ),
                ));
            }
        }
    }
    Err(ApiError::internal(
        "making a code",
        "eight clashing codes in a row",
    ))
}

/// The secret a poll carries, as a bearer value.
fn secret_of(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty() && secret.len() <= 128)
        .then_some(secret)
}

/// `GET /v1/pairings/{code}`: whether the code was confirmed yet; once it is, the device token.
/// Answers 404 alike for an unknown code, an expired one and a wrong secret.
#[utoipa::path(
    get,
    path = "/v1/pairings/{code}",
    tag = "pairing",
    params(
        ("code" = String, Path, description = "The six letters and digits the screen shows, like `K7M2QX`"),
    ),
    responses(
        (status = 200, description = "Confirmed: the screen's device token, given once", body = crate::pairing::PairingState),
        (status = 202, description = "Not confirmed yet", body = crate::pairing::PairingState),
        (status = 400, description = "Error codes: `bad_request`, `invalid_code`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `pairing_not_found`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("pairing_secret" = [])),
)]
pub async fn poll(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<PairingState>), ApiError> {
    let Path(code) = path?;
    let code = parse_code(&code)?;
    let secret = secret_of(&headers).ok_or_else(|| {
        crate::auth::unauthorized("polling a pairing needs the secret that came with its code")
    })?;
    let Some(row) = state
        .storage()
        .pairing(code.clone(), Timestamp::now())
        .await?
    else {
        return Err(not_found());
    };
    let presented = secret_sha256(secret);
    if !bool::from(presented.as_bytes().ct_eq(row.secret_sha256.as_bytes())) {
        return Err(not_found());
    }
    match row.screen {
        Some(screen) => {
            let token =
                generate_token().map_err(|error| ApiError::internal("making a token", error))?;
            if !state
                .storage()
                .deliver_pairing(code, screen.clone(), crate::auth::token_sha256(&token))
                .await?
            {
                // Picked up already, or revoked between confirmation and pick-up.
                return Err(not_found());
            }
            tracing::info!(%screen, "a paired player picked up its token");
            state
                .metrics()
                .pairing(crate::metrics::PairingOutcome::Delivered);
            Ok((
                StatusCode::OK,
                Json(PairingState::Paired {
                    screen,
                    token,
                    server_key: state.server_public_key().to_owned(),
                }),
            ))
        }
        None => Ok((
            StatusCode::ACCEPTED,
            Json(PairingState::Waiting {
                expires_at: row.expires_at,
            }),
        )),
    }
}

/// `POST /v1/pairings/{code}`: an admin, or staff of the store, confirms the code a screen shows.
/// Registers the screen and leaves its token for the player's next poll.
#[utoipa::path(
    post,
    path = "/v1/pairings/{code}",
    tag = "pairing",
    request_body = crate::pairing::ConfirmPairing,
    params(
        ("code" = String, Path, description = "The six letters and digits the screen shows, like `K7M2QX`"),
    ),
    responses(
        (status = 201, description = "The screen is registered; its player collects the token on its next poll", body = crate::pairing::PairingConfirmed),
        (status = 400, description = "Error codes: `bad_request`, `invalid_code`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `pairing_not_found`, `screen_not_found`", body = crate::openapi::ErrorBody),
        (status = 409, description = "Error codes: `pairing_used`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn confirm(
    State(state): State<AppState>,
    manager: Manager,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<ConfirmPairing>, JsonRejection>,
) -> Result<(StatusCode, Json<PairingConfirmed>), ApiError> {
    let Path(code) = path?;
    let Json(request) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, PAIRING_BODY_LIMIT))?;
    let code = parse_code(&code)?;
    manager.ensure_store(request.store.as_deref(), "a screen paired here")?;
    let Some(row) = state
        .storage()
        .pairing(code.clone(), Timestamp::now())
        .await?
    else {
        return Err(not_found());
    };
    if row.screen.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "pairing_used",
            format!("code {code} was confirmed already; each code pairs one screen"),
        ));
    }
    let name = request.name.unwrap_or_else(|| {
        let prefix: String = request
            .store
            .as_deref()
            .unwrap_or("screen")
            .chars()
            .filter(|character| {
                character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-')
            })
            .take(50)
            .collect();
        format!(
            "{}-{}",
            if prefix.is_empty() { "screen" } else { &prefix },
            code.to_ascii_lowercase()
        )
    });
    let playlist_is_default = request.playlist.is_none();
    let playlist = request
        .playlist
        .unwrap_or_else(|| DEFAULT_PLAYLIST.to_owned());
    let (_, Json(created)) = register_screen(
        state.clone(),
        manager,
        CreateScreen {
            name: name.clone(),
            playlist: playlist.clone(),
            timezone: request.timezone,
            store: request.store.clone(),
            tags: request.tags,
            allow_unpushed: request.allow_unpushed,
        },
        playlist_is_default,
    )
    .await?;
    // The token made with the screen is dropped unseen: the player gets a fresh one when it
    // picks it up with its secret.
    let warning = created.warning;
    drop(created.token);
    let claimed = state
        .storage()
        .claim_pairing(code.clone(), name.clone(), Timestamp::now())
        .await?;
    if !claimed {
        // Another confirmation won the race, or the code expired meanwhile: the screen just made
        // gets no token anyone holds, so it is revoked rather than left usable.
        state.storage().revoke_screen(name.clone()).await?;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "pairing_used",
            format!("code {code} was confirmed by someone else or expired just now"),
        ));
    }
    tracing::info!(screen = %name, "paired a screen");
    state
        .metrics()
        .pairing(crate::metrics::PairingOutcome::Confirmed);
    Ok((
        StatusCode::CREATED,
        Json(PairingConfirmed {
            code,
            screen: name,
            playlist,
            store: request.store,
            warning,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_codes_are_six_unambiguous_characters() {
        for _ in 0..200 {
            let code = random_code().unwrap();
            assert_eq!(parse_code(&code).unwrap(), code);
            assert!(!code.contains(['I', 'L', 'O', '0', '1']), "{code}");
        }
    }
}
