//! The OpenAPI 3.1 document of the HTTP API, built from the handlers' `#[utoipa::path]`
//! attributes and the wire types' schemas, served at `GET /v1/openapi.json` and committed as
//! `schema/openapi.json` (a test fails when the two differ).
//!
//! **Invariant:** every route in [`crate::routes`] is in the document and the document has no
//! path the router lacks; every error code in [`crate::error::ERROR_CODES`] is in its
//! `ErrorCode` schema.

use std::borrow::Cow;

use axum::Json;
use axum::response::IntoResponse;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use crate::error::ERROR_CODES;
pub use vitrine_wire::errors::{ErrorBody, ErrorDetail};

/// The stable code of an API error; the schema lists every code with its status and meaning.
#[derive(Debug)]
pub struct ErrorCode;

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        let mut description = String::from(
            "The stable code of an API error, which clients may match on. Each comes with one              HTTP status:\n",
        );
        for (code, status, meaning) in ERROR_CODES {
            description.push_str(&format!("\n- `{code}` ({status}): {meaning}"));
        }
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ERROR_CODES.iter().map(|(code, ..)| *code)))
            .description(Some(description))
            .into()
    }
}

impl ToSchema for ErrorCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

/// The bearer tokens: the admin token, staff tokens, screens' device tokens and the secret a
/// pairing screen polls with.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "admin",
            bearer(
                "The HQ admin token (`--admin-token`, or the file `admin-token` in the data                  folder): may do anything.",
            ),
        );
        components.add_security_scheme(
            "staff",
            bearer(
                "A staff token (`POST /v1/staff`): manages the screens, playlists and media of                  its stores only.",
            ),
        );
        components.add_security_scheme(
            "device",
            bearer("A screen's device token, given once at pairing or registration."),
        );
        components.add_security_scheme(
            "pairing_secret",
            bearer(
                "The secret `POST /v1/pairings` gave with the code, which only the player knows.",
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vitrine scheduler",
        description = "HQ's API: screens, media, playlists, manifests, live pushes, proof of play,                        product feeds, campaigns and reports. Errors are `{\"error\":{\"code\",\"message\"}}`                        with a stable `code` (see the `ErrorCode` schema).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        document,
        crate::api::healthz,
        crate::signing::server_key,
        crate::pairing::start,
        crate::pairing::poll,
        crate::pairing::confirm,
        crate::tokens::create_staff,
        crate::tokens::list_staff,
        crate::tokens::revoke_staff,
        crate::tokens::revoke_screen,
        crate::tokens::rotate_screen,
        crate::api::create_screen,
        crate::catalog::list_screens,
        crate::api::get_media,
        crate::api::head_media,
        crate::api::put_media,
        crate::api::push_playlist,
        crate::api::manifest,
        crate::api::post_heartbeat,
        crate::api::screen_status,
        crate::screenshots::put_screenshot,
        crate::screenshots::get_screenshot,
        crate::events::events,
        crate::events::post_interrupt,
        crate::events::list_interrupts,
        crate::events::cancel_interrupts,
        crate::events::cancel_interrupt,
        crate::events::post_trigger,
        crate::events::post_command,
        crate::api::post_impressions,
        crate::api::list_impressions,
        crate::catalog::import_stores,
        crate::catalog::list_stores,
        crate::catalog::import_segments,
        crate::catalog::import_feed,
        crate::feed::upload::upload_feed,
        crate::catalog::import_inventory,
        crate::feed::fetch::register_feed,
        crate::feed::fetch::list_feeds,
        crate::feed::fetch::remove_feed,
        crate::feed::fetch::fetch_feed_now,
        crate::campaigns::push_campaign,
        crate::campaigns::list_campaigns,
        crate::campaigns::show_campaign,
        crate::reports::explain,
        crate::reports::scans,
        crate::play_reports::plays,
        crate::play_reports::export,
        crate::play_reports::chain,
        crate::catalog::import_audience,
        crate::catalog::list_audience,
        crate::qr::scan,
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "health", description = "Liveness"),
        (name = "pairing", description = "A new screen gets its device token"),
        (name = "tokens", description = "Staff tokens and screens' device tokens"),
        (name = "screens", description = "Screens, their manifests and status"),
        (name = "media", description = "Media files, addressed by sha256"),
        (name = "playlists", description = "Playlist versions"),
        (name = "push", description = "Event streams and live messages to screens"),
        (name = "proof_of_play", description = "Impressions"),
        (name = "hq", description = "Stores, segments, product feeds and campaigns"),
        (name = "reports", description = "Explain, scan and play reports, the hash chain, audiences"),
        (name = "shoppers", description = "Where offer QR codes lead"),
        (name = "meta", description = "This document"),
    ),
)]
pub struct ApiDoc;

/// The document, with its version set to the scheduler's.
pub fn openapi() -> Document {
    let mut document = ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

/// The document as committed: pretty JSON with sorted keys and a final newline.
pub fn to_json() -> String {
    let value = serde_json::to_value(openapi()).unwrap_or_default();
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// `GET /v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API", body = Object, content_type = "application/json"),
        (status = 429, description = "Error codes: `rate_limited`", body = ErrorBody),
    ),
    security(()),
)]
pub async fn document() -> impl IntoResponse {
    Json(serde_json::to_value(openapi()).unwrap_or_default())
}
