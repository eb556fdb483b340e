//! Issuing and withdrawing tokens: staff tokens scoped to stores (`/v1/staff`), and revoking or
//! rotating a screen's device token (`/v1/screens/{name}/revoke`, `/rotate`).
//!
//! A token is shown once, when it is made; only its sha256 is stored. Revoking marks the row, so a
//! revoked token is told apart from an unknown one (`token_revoked`, and the player says it needs
//! pairing again) while the screen's history stays. Every change here is a write, so the content
//! generation moves on and the token caches forget what they knew (see [`crate::cache`]).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::AppState;
use crate::auth::{Admin, Manager, generate_token, token_sha256};
use crate::error::ApiError;
use crate::storage::access::StoredStaff;
pub use vitrine_wire::screens::{Revoked, Rotated};
pub use vitrine_wire::staff::{NewStaff, StaffCreated, StaffList, StaffRecord};

/// The largest `POST /v1/staff` body: a name and a list of store codes.
pub const STAFF_BODY_LIMIT: usize = 64 * 1024;

/// The most stores one staff token may name.
const MAX_STAFF_STORES: usize = 1000;

impl From<StoredStaff> for StaffRecord {
    fn from(stored: StoredStaff) -> Self {
        let StoredStaff {
            name,
            stores,
            created_at,
            revoked_at,
        } = stored;
        Self {
            name,
            stores,
            created_at,
            revoked_at,
        }
    }
}

/// `POST /v1/staff`: makes a staff token for a list of stores (admin only).
#[utoipa::path(
    post,
    path = "/v1/staff",
    tag = "tokens",
    request_body = crate::tokens::NewStaff,
    responses(
        (status = 201, description = "The staff member and their token, shown once", body = crate::tokens::StaffCreated),
        (status = 400, description = "Error codes: `bad_request`, `invalid_name`, `invalid_stores`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `store_not_found`", body = crate::openapi::ErrorBody),
        (status = 409, description = "Error codes: `staff_exists`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn create_staff(
    State(state): State<AppState>,
    _admin: Admin,
    body: Result<Json<NewStaff>, JsonRejection>,
) -> Result<(StatusCode, Json<StaffCreated>), ApiError> {
    let Json(request) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, STAFF_BODY_LIMIT))?;
    crate::api::check_name("staff name", &request.name)?;
    let mut stores = request.stores;
    stores.sort();
    stores.dedup();
    if stores.is_empty() || stores.len() > MAX_STAFF_STORES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_stores",
            format!(
                "a staff token names 1-{MAX_STAFF_STORES} stores (`--store CODE`, repeated); HQ \
                 work across all stores needs the admin token"
            ),
        ));
    }
    for store in &stores {
        if state
            .storage()
            .store_by_code(store.clone())
            .await?
            .is_none()
        {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "store_not_found",
                format!(
                    "no store has code `{}`; import the store list first with `vitrine stores \
                     import`",
                    store.chars().take(80).collect::<String>()
                ),
            ));
        }
    }
    let mut tags = request.tags;
    tags.sort();
    tags.dedup();
    for tag in &tags {
        crate::api::check_label("tag", tag)?;
    }
    let token = generate_token().map_err(|error| ApiError::internal("making a token", error))?;
    let created = state
        .storage()
        .create_staff(
            request.name.clone(),
            stores.clone(),
            tags.clone(),
            token_sha256(&token),
        )
        .await?;
    if !created {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "staff_exists",
            format!(
                "a staff token called `{}` exists; revoke it first or pick another name",
                request.name
            ),
        ));
    }
    tracing::info!(staff = %request.name, stores = ?stores, "made a staff token");
    Ok((
        StatusCode::CREATED,
        Json(StaffCreated {
            name: request.name,
            stores,
            tags,
            token,
        }),
    ))
}

/// `GET /v1/staff`: every staff token, revoked ones included (admin only).
#[utoipa::path(
    get,
    path = "/v1/staff",
    tag = "tokens",
    responses(
        (status = 200, description = "Every staff member", body = crate::tokens::StaffList),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn list_staff(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<StaffList>, ApiError> {
    Ok(Json(StaffList {
        staff: state
            .storage()
            .staff()
            .await?
            .into_iter()
            .map(StaffRecord::from)
            .collect(),
    }))
}

/// `POST /v1/staff/{name}/revoke`: the staff token stops working now (admin only).
#[utoipa::path(
    post,
    path = "/v1/staff/{name}/revoke",
    tag = "tokens",
    params(
        ("name" = String, Path, description = "The name"),
    ),
    responses(
        (status = 200, description = "The staff token no longer works", body = crate::tokens::Revoked),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `staff_not_found`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn revoke_staff(
    State(state): State<AppState>,
    _admin: Admin,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Revoked>, ApiError> {
    let Path(name) = path?;
    if !state.storage().revoke_staff(name.clone()).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "staff_not_found",
            format!(
                "no staff token is called `{}`; `vitrine staff list` shows them",
                name.chars().take(80).collect::<String>()
            ),
        ));
    }
    tracing::info!(staff = %name, "revoked a staff token");
    Ok(Json(Revoked {
        name,
        revoked: true,
    }))
}

fn screen_not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "screen_not_found",
        format!(
            "no screen called `{}` is registered; check the name",
            name.chars().take(80).collect::<String>()
        ),
    )
}

/// Checks that `name` is a screen the caller may act on. Staff get one 403 for another store's
/// screen and for none at all; the admin gets 404 when there is none.
async fn ensure_screen_access(
    state: &AppState,
    manager: &Manager,
    name: &str,
) -> Result<(), ApiError> {
    manager
        .ensure_screens(state, std::slice::from_ref(&name.to_owned()))
        .await?;
    match state.storage().store_of_screen(name.to_owned()).await? {
        None => Err(screen_not_found(name)),
        Some(_) => Ok(()),
    }
}

/// `POST /v1/screens/{name}/revoke`: the screen's device token stops working now. The player keeps
/// playing its cache and reports that it needs pairing again.
#[utoipa::path(
    post,
    path = "/v1/screens/{name}/revoke",
    tag = "tokens",
    params(
        ("name" = String, Path, description = "The name"),
    ),
    responses(
        (status = 200, description = "The screen's device token no longer works", body = crate::tokens::Revoked),
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
pub async fn revoke_screen(
    State(state): State<AppState>,
    manager: Manager,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Revoked>, ApiError> {
    let Path(name) = path?;
    ensure_screen_access(&state, &manager, &name).await?;
    state.storage().revoke_screen(name.clone()).await?;
    // A stream opened before the revocation would otherwise go on carrying live messages.
    state.hub().disconnect(&name);
    tracing::info!(screen = %name, "revoked a screen's token");
    Ok(Json(Revoked {
        name,
        revoked: true,
    }))
}

/// `POST /v1/screens/{name}/rotate`: gives the screen a new device token; the old one (revoked or
/// not) stops working now.
#[utoipa::path(
    post,
    path = "/v1/screens/{name}/rotate",
    tag = "tokens",
    params(
        ("name" = String, Path, description = "The name"),
    ),
    responses(
        (status = 200, description = "A new device token, shown once; the old one no longer works", body = crate::tokens::Rotated),
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
pub async fn rotate_screen(
    State(state): State<AppState>,
    manager: Manager,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Rotated>, ApiError> {
    let Path(name) = path?;
    ensure_screen_access(&state, &manager, &name).await?;
    let token = generate_token().map_err(|error| ApiError::internal("making a token", error))?;
    state
        .storage()
        .replace_screen_token(name.clone(), token_sha256(&token))
        .await?;
    state.hub().disconnect(&name);
    tracing::info!(screen = %name, "gave a screen a new token");
    Ok(Json(Rotated {
        screen: name,
        token,
    }))
}
