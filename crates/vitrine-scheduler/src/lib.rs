//! The Vitrine scheduler: the HQ server that registers screens, stores media and playlist versions,
//! serves each screen its manifest, and ingests proof of play.
//!
//! [`open`] prepares the data folder and database, [`app`] builds the router (tests drive it with
//! `tower::ServiceExt::oneshot`), and [`run`] serves it on a listener until a shutdown future
//! completes.
//!
//! **API boundary:** everything a client sees is in [`api`] and [`error`]; the wire types shared with
//! players and the CLI (manifest, impressions, diagnostics) come from `vitrine-core`, never from here.

pub mod api;
pub mod auth;
pub mod blobs;
pub mod error;
pub mod store;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use sha2::{Digest, Sha256};
use tower_http::trace::TraceLayer;

use crate::blobs::BlobStore;
use crate::store::Store;

/// The database file inside the data folder.
pub const DATABASE_FILE: &str = "vitrine.sqlite3";

/// What a scheduler needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Holds the database, media blobs and in-progress uploads.
    pub data_dir: PathBuf,
    /// The HQ admin token; requests bearing it may do anything.
    pub admin_token: String,
}

/// Everything the handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

struct Shared {
    store: Store,
    blobs: BlobStore,
    /// Kept as a hash so that comparisons have a fixed length (see `auth::is_admin_token`).
    admin_token_sha256: [u8; 32],
}

impl AppState {
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.shared.blobs
    }

    pub(crate) fn admin_token_sha256(&self) -> &[u8; 32] {
        &self.shared.admin_token_sha256
    }
}

/// Creates the data folder if needed, opens and migrates the database, and clears uploads that a
/// previous run left unfinished.
pub fn open(config: Config) -> anyhow::Result<AppState> {
    anyhow::ensure!(
        !config.admin_token.trim().is_empty(),
        "the admin token is empty; pass --admin-token or set VITRINE_ADMIN_TOKEN"
    );
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data folder {}", config.data_dir.display()))?;
    let blobs = BlobStore::open(&config.data_dir).with_context(|| {
        format!(
            "preparing the media folders in {}",
            config.data_dir.display()
        )
    })?;
    let database = config.data_dir.join(DATABASE_FILE);
    let store = Store::open(&database)
        .with_context(|| format!("opening the database {}", database.display()))?;
    Ok(AppState {
        shared: Arc::new(Shared {
            store,
            blobs,
            admin_token_sha256: Sha256::digest(config.admin_token.as_bytes()).into(),
        }),
    })
}

/// The scheduler's HTTP API.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route(
            "/v1/screens",
            post(api::create_screen).layer(DefaultBodyLimit::max(api::SCREEN_BODY_LIMIT)),
        )
        .route(
            "/v1/media/{sha256}",
            // The upload streams its body itself and enforces `MEDIA_UPLOAD_LIMIT` as it goes.
            get(api::get_media)
                .head(api::head_media)
                .put(api::put_media),
        )
        .route(
            "/v1/playlists",
            post(api::push_playlist).layer(DefaultBodyLimit::max(api::PLAYLIST_BODY_LIMIT)),
        )
        .route("/v1/manifest", get(api::manifest))
        .route(
            "/v1/impressions",
            post(api::post_impressions)
                .get(api::list_impressions)
                .layer(DefaultBodyLimit::max(api::IMPRESSIONS_BODY_LIMIT)),
        )
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then lets requests in flight finish.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")
}
