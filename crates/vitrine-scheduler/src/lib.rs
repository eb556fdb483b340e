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
pub mod cache;
pub mod campaigns;
pub mod catalog;
pub mod console;
pub mod error;
pub mod events;
pub mod export;
pub mod feed;
pub mod manifest;
pub mod manifest_versions;
pub mod metrics;
pub mod notify;
pub mod offers;
pub mod openapi;
pub mod pairing;
pub mod play_reports;
pub mod plays;
pub mod qr;
pub mod quota;
pub mod rate_limit;
pub mod reads;
pub mod reports;
pub mod screenshots;
pub mod serve;
pub mod signing;
pub mod storage;
pub mod tls;
pub mod tokens;
pub mod validation;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, get, post, put};
use sha2::{Digest, Sha256};
use tower_http::trace::TraceLayer;

use crate::blobs::BlobStore;
pub use crate::blobs::Media;
use crate::storage::Storage;
use crate::storage::postgres::PostgresStore;
use crate::storage::sqlite::SqliteStore;

/// The database file inside the data folder.
pub const DATABASE_FILE: &str = "vitrine.sqlite3";

/// What a scheduler needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Holds the SQLite database, media blobs (unless they are in a bucket), in-progress uploads
    /// and the signing key.
    pub data_dir: PathBuf,
    /// The HQ admin token; requests bearing it may do anything.
    pub admin_token: String,
    /// Where the model is stored.
    pub database: Database,
    /// Where media files are kept: the data folder's `media/` or an S3-compatible bucket.
    pub media: Media,
}

/// Where the scheduler stores its model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Database {
    /// The embedded SQLite file [`DATABASE_FILE`] in the data folder: the default, for one
    /// scheduler.
    #[default]
    Sqlite,
    /// A PostgreSQL database, by its `postgres://` URL, which any number of schedulers may share.
    Postgres(String),
}

impl std::str::FromStr for Database {
    type Err = String;

    /// `postgres://…` or `postgresql://…` for PostgreSQL, `sqlite` for the embedded file.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Ok(Self::Postgres(text.to_owned()))
        } else if text == "sqlite" {
            Ok(Self::Sqlite)
        } else {
            Err(format!(
                "`{text}` is not a database this scheduler can use: give a PostgreSQL URL \
                 (postgres://USER:PASSWORD@HOST:PORT/DATABASE), or `sqlite` (the default) for the \
                 file {DATABASE_FILE} in the data folder"
            ))
        }
    }
}

impl std::fmt::Display for Database {
    /// The database without its password, for logs.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite => write!(formatter, "sqlite"),
            Self::Postgres(url) => match url::Url::parse(url) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("***"));
                    }
                    write!(formatter, "{parsed}")
                }
                Err(_) => write!(formatter, "postgres://…"),
            },
        }
    }
}

/// Everything the handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

struct Shared {
    /// Every read and write of the model goes through this.
    storage: Arc<dyn Storage>,
    blobs: BlobStore,
    /// Kept as a hash so that comparisons have a fixed length (see `auth::is_admin_token`).
    admin_token_sha256: [u8; 32],
    /// Push to connected screens (`GET /v1/events`).
    hub: Arc<events::Hub>,
    /// The address shoppers' phones reach this scheduler at, for offer QR codes; see
    /// [`AppState::set_public_url`].
    public_url: std::sync::OnceLock<String>,
    /// Days raw plays are kept; unset keeps them for good. Rollups are always kept.
    raw_play_retention_days: std::sync::OnceLock<u32>,
    /// Each screen's manifest, by screen name.
    manifests: cache::GenerationCache<std::sync::Arc<manifest::ManifestBody>>,
    /// Each device token's screen, by the token's sha256.
    screens: cache::GenerationCache<storage::screens::Screen>,
    /// Each staff token's member, by the token's sha256.
    staff: cache::GenerationCache<auth::StaffMember>,
    /// Signs every manifest served; see [`signing`].
    signing_key: ed25519_dalek::SigningKey,
    /// The hex public half of `signing_key`.
    server_public_key: String,
    /// Set once, by [`AppState::set_rate_limits`] or the first router built.
    limiters: std::sync::OnceLock<Arc<rate_limit::Limiters>>,
    /// Set once, by [`AppState::set_quotas`] or the first use.
    quotas: std::sync::OnceLock<quota::Quotas>,
    /// How feeds are fetched by URL; see [`AppState::set_feed_policy`].
    feed_policy: std::sync::RwLock<feed::fetch::FetchPolicy>,
    /// The feeds being fetched now, so that one feed is never fetched twice at once.
    feeds_in_flight: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The Prometheus series; see [`metrics`].
    metrics: metrics::Metrics,
    /// Whether the listener that pushes announced changes to screens runs.
    change_fan_out: std::sync::atomic::AtomicBool,
    /// Whether this process serves HTTPS itself, so the console's cookie is marked `Secure`.
    serves_tls: std::sync::atomic::AtomicBool,
}

impl AppState {
    /// The storage every read and write goes through.
    pub fn storage(&self) -> &dyn Storage {
        self.shared.storage.as_ref()
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.shared.blobs
    }

    pub fn hub(&self) -> &Arc<events::Hub> {
        &self.shared.hub
    }

    pub fn metrics(&self) -> &metrics::Metrics {
        &self.shared.metrics
    }

    /// Sets the public base URL (`https://go.shop.example`) that offer QR codes lead to, as
    /// `{url}/q/{token}`. Without it manifests carry no `qr_base_url` and cards show no QR code.
    /// Only the first call counts: the URL is fixed for the life of the process.
    pub fn set_public_url(&self, url: &str) {
        let _already_set = self
            .shared
            .public_url
            .set(url.trim_end_matches('/').to_owned());
    }

    /// Sets which non-public addresses feed URLs may reach, and the size and time limits.
    pub fn set_feed_policy(&self, policy: feed::fetch::FetchPolicy) {
        *self
            .shared
            .feed_policy
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = policy;
    }

    pub fn feed_policy(&self) -> feed::fetch::FetchPolicy {
        self.shared
            .feed_policy
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// Marks a feed as being fetched; false if it already is.
    pub(crate) fn start_feed_fetch(&self, name: &str) -> bool {
        self.shared
            .feeds_in_flight
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(name.to_owned())
    }

    pub(crate) fn end_feed_fetch(&self, name: &str) {
        self.shared
            .feeds_in_flight
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .remove(name);
    }

    /// Keeps raw plays for `days` store-local days, then deletes them (their figures stay in the
    /// rollups). 0 keeps them for good, as does never calling this.
    pub fn set_raw_play_retention_days(&self, days: u32) {
        if days > 0 {
            let _already_set = self.shared.raw_play_retention_days.set(days);
        }
    }

    /// Days raw plays are kept, if they are not kept for good.
    pub fn raw_play_retention_days(&self) -> Option<u32> {
        self.shared.raw_play_retention_days.get().copied()
    }

    pub fn public_url(&self) -> Option<&str> {
        self.shared.public_url.get().map(String::as_str)
    }

    pub(crate) fn admin_token_sha256(&self) -> &[u8; 32] {
        &self.shared.admin_token_sha256
    }

    /// Says that this process serves HTTPS itself (`--tls-cert`): the console's session cookie is
    /// then sent only over HTTPS.
    pub fn set_serves_tls(&self) {
        self.shared
            .serves_tls
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn serves_tls(&self) -> bool {
        self.shared
            .serves_tls
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Marks the push fan-out as started; false if it already was (see
    /// [`events::start_change_fan_out`]).
    pub(crate) fn claim_change_fan_out(&self) -> bool {
        !self
            .shared
            .change_fan_out
            .swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<Shared> {
        Arc::downgrade(&self.shared)
    }

    pub(crate) fn upgrade(weak: &std::sync::Weak<Shared>) -> Option<Self> {
        weak.upgrade().map(|shared| Self { shared })
    }

    /// The content generation: it moves on after every write that may change a manifest.
    pub fn generation(&self) -> u64 {
        self.shared.storage.changes().generation()
    }

    /// The generation the caller caches (token → screen or staff member) are tied to.
    pub fn callers_generation(&self) -> u64 {
        self.shared.storage.changes().callers_generation()
    }

    pub(crate) fn manifest_cache(
        &self,
    ) -> &cache::GenerationCache<std::sync::Arc<manifest::ManifestBody>> {
        &self.shared.manifests
    }

    pub(crate) fn screen_cache(&self) -> &cache::GenerationCache<storage::screens::Screen> {
        &self.shared.screens
    }

    pub(crate) fn staff_cache(&self) -> &cache::GenerationCache<auth::StaffMember> {
        &self.shared.staff
    }

    pub(crate) fn signing_key(&self) -> &ed25519_dalek::SigningKey {
        &self.shared.signing_key
    }

    /// The hex ed25519 public key players verify manifests with.
    pub fn server_public_key(&self) -> &str {
        &self.shared.server_public_key
    }

    /// Sets the rate limits. Only the first call counts, and only before the first router is
    /// built; after that the defaults (or the first setting) hold for the life of the process.
    pub fn set_rate_limits(&self, limits: &rate_limit::RateLimits) {
        let _already_set = self
            .shared
            .limiters
            .set(Arc::new(rate_limit::Limiters::new(limits)));
    }

    /// Sets the per-store quotas. Only the first call counts, and only before the first use.
    pub fn set_quotas(&self, quotas: quota::Quotas) {
        let _already_set = self.shared.quotas.set(quotas);
    }

    pub fn quotas(&self) -> &quota::Quotas {
        self.shared.quotas.get_or_init(quota::Quotas::default)
    }

    pub fn limiters(&self) -> &Arc<rate_limit::Limiters> {
        self.shared
            .limiters
            .get_or_init(|| Arc::new(rate_limit::Limiters::new(&rate_limit::RateLimits::default())))
    }
}

/// Creates the data folder if needed, opens and migrates the database, and clears uploads that a
/// previous run left unfinished.
pub fn open(config: Config) -> anyhow::Result<AppState> {
    anyhow::ensure!(
        !config.admin_token.trim().is_empty(),
        "the admin token is empty; pass --admin-token or set VITRINE_ADMIN_TOKEN"
    );
    make_private_folder(&config.data_dir)?;
    let blobs =
        BlobStore::open(&config.data_dir, &config.media).with_context(|| match config.media {
            Media::Local => format!(
                "preparing the media folders in {}",
                config.data_dir.display()
            ),
            Media::S3 { .. } => format!("opening the media store {} (--media)", config.media),
        })?;
    let storage: Arc<dyn Storage> = match &config.database {
        Database::Sqlite => {
            let database = config.data_dir.join(DATABASE_FILE);
            make_private_file(&database)?;
            Arc::new(
                SqliteStore::open(&database)
                    .with_context(|| format!("opening the database {}", database.display()))?,
            )
        }
        Database::Postgres(url) => Arc::new(
            PostgresStore::open(url)
                .with_context(|| format!("opening the database {}", config.database))?,
        ),
    };
    let signing_key = signing::load_or_create_signing_key(&config.data_dir)?;
    let server_public_key = signing::public_key_hex(&signing_key);
    Ok(AppState {
        shared: Arc::new(Shared {
            storage,
            blobs,
            admin_token_sha256: Sha256::digest(config.admin_token.as_bytes()).into(),
            hub: Arc::new(events::Hub::new()),
            public_url: std::sync::OnceLock::new(),
            raw_play_retention_days: std::sync::OnceLock::new(),
            manifests: cache::GenerationCache::new(),
            screens: cache::GenerationCache::new(),
            staff: cache::GenerationCache::new(),
            signing_key,
            server_public_key,
            limiters: std::sync::OnceLock::new(),
            quotas: std::sync::OnceLock::new(),
            feed_policy: std::sync::RwLock::new(feed::fetch::FetchPolicy::default()),
            feeds_in_flight: std::sync::Mutex::new(std::collections::BTreeSet::new()),
            metrics: metrics::Metrics::new(),
            change_fan_out: std::sync::atomic::AtomicBool::new(false),
            serves_tls: std::sync::atomic::AtomicBool::new(false),
        }),
    })
}

/// Creates the data folder readable by its owner alone (0700), or narrows an existing one to
/// that: it holds the database, with the keys behind QR codes and proof-of-play signatures, and
/// the manifest-signing key.
fn make_private_folder(folder: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let existed = folder.is_dir();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)
            .with_context(|| format!("creating the data folder {}", folder.display()))?;
        let mode = std::fs::metadata(folder)
            .with_context(|| format!("reading the data folder {}", folder.display()))?
            .permissions()
            .mode();
        if existed && mode & 0o077 != 0 {
            tracing::warn!(
                folder = %folder.display(),
                mode = format!("{:o}", mode & 0o777),
                "the data folder was readable by others; narrowing it to 0700"
            );
        }
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (0700)", folder.display()))?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(folder)
        .with_context(|| format!("creating the data folder {}", folder.display()))?;
    Ok(())
}

/// Creates `path` empty and readable by its owner alone (0600), or narrows an existing file to
/// that, before SQLite opens it; SQLite gives its `-wal` and `-shm` files the same mode.
fn make_private_file(path: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("making {} private (0600)", path.display()))?;
        // Left by an earlier run, perhaps with a wider mode.
        for suffix in ["-wal", "-shm"] {
            let mut companion = path.as_os_str().to_owned();
            companion.push(suffix);
            let companion = std::path::PathBuf::from(companion);
            if companion.exists() {
                std::fs::set_permissions(&companion, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("making {} private (0600)", companion.display()))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// One route of the API: its path, the methods it answers (a `GET` answers `HEAD` too) and its
/// handlers. [`routes`] is the one list of them: [`app`] builds the router from it, and the
/// route × caller matrix test reads it, so a route cannot be added without the test knowing.
pub struct Route {
    pub path: &'static str,
    pub methods: &'static [&'static str],
    handlers: MethodRouter<AppState>,
}

impl Route {
    fn new(
        path: &'static str,
        methods: &'static [&'static str],
        handlers: MethodRouter<AppState>,
    ) -> Self {
        Self {
            path,
            methods,
            handlers,
        }
    }
}

/// Every route the scheduler serves, with its body limit and per-route layers.
pub fn routes(state: &AppState) -> Vec<Route> {
    let pairings = post(pairing::start).layer(axum::middleware::from_fn_with_state(
        state.clone(),
        rate_limit::limit_pairings,
    ));
    let import_limit = DefaultBodyLimit::max(catalog::IMPORT_BODY_LIMIT);
    vec![
        Route::new("/healthz", &["GET"], get(api::healthz)),
        Route::new("/v1/openapi.json", &["GET"], get(openapi::document)),
        Route::new("/v1/server-key", &["GET"], get(signing::server_key)),
        Route::new("/v1/pairings", &["POST"], pairings),
        Route::new(
            "/v1/pairings/{code}",
            &["GET", "POST"],
            get(pairing::poll)
                .post(pairing::confirm)
                .layer(DefaultBodyLimit::max(pairing::PAIRING_BODY_LIMIT)),
        ),
        Route::new(
            "/v1/staff",
            &["POST", "GET"],
            post(tokens::create_staff)
                .get(tokens::list_staff)
                .layer(DefaultBodyLimit::max(tokens::STAFF_BODY_LIMIT)),
        ),
        Route::new(
            "/v1/staff/{name}/revoke",
            &["POST"],
            post(tokens::revoke_staff),
        ),
        Route::new(
            "/v1/screens/{name}/revoke",
            &["POST"],
            post(tokens::revoke_screen),
        ),
        Route::new(
            "/v1/screens/{name}/rotate",
            &["POST"],
            post(tokens::rotate_screen),
        ),
        Route::new(
            "/v1/screens",
            &["POST", "GET"],
            post(api::create_screen)
                .get(catalog::list_screens)
                .layer(DefaultBodyLimit::max(api::SCREEN_BODY_LIMIT)),
        ),
        Route::new(
            "/v1/media/{sha256}",
            &["GET", "HEAD", "PUT"],
            // The upload streams its body itself and enforces `MEDIA_UPLOAD_LIMIT` as it goes.
            get(api::get_media)
                .head(api::head_media)
                .put(api::put_media),
        ),
        Route::new(
            "/v1/playlists",
            &["POST"],
            post(api::push_playlist).layer(DefaultBodyLimit::max(api::PLAYLIST_BODY_LIMIT)),
        ),
        Route::new("/v1/manifest", &["GET"], get(api::manifest)),
        Route::new(
            "/v1/heartbeat",
            &["POST"],
            post(api::post_heartbeat).layer(DefaultBodyLimit::max(api::HEARTBEAT_BODY_LIMIT)),
        ),
        Route::new(
            "/v1/screens/{name}/status",
            &["GET"],
            get(api::screen_status),
        ),
        Route::new(
            "/v1/screenshot",
            &["PUT"],
            put(screenshots::put_screenshot)
                .layer(DefaultBodyLimit::max(screenshots::SCREENSHOT_BODY_LIMIT)),
        ),
        Route::new(
            "/v1/screens/{name}/screenshot",
            &["GET"],
            get(screenshots::get_screenshot),
        ),
        Route::new("/v1/events", &["GET"], get(events::events)),
        Route::new(
            "/v1/interrupts",
            &["POST", "GET"],
            post(events::post_interrupt)
                .get(events::list_interrupts)
                .layer(DefaultBodyLimit::max(events::PUSH_BODY_LIMIT)),
        ),
        Route::new(
            "/v1/interrupts/cancel",
            &["POST"],
            post(events::cancel_interrupts).layer(DefaultBodyLimit::max(events::PUSH_BODY_LIMIT)),
        ),
        Route::new(
            "/v1/interrupts/{id}/cancel",
            &["POST"],
            post(events::cancel_interrupt),
        ),
        Route::new(
            "/v1/triggers",
            &["POST"],
            post(events::post_trigger).layer(DefaultBodyLimit::max(events::PUSH_BODY_LIMIT)),
        ),
        Route::new(
            "/v1/commands",
            &["POST"],
            post(events::post_command).layer(DefaultBodyLimit::max(events::PUSH_BODY_LIMIT)),
        ),
        Route::new(
            "/v1/impressions",
            &["POST", "GET"],
            post(api::post_impressions)
                .get(api::list_impressions)
                .layer(DefaultBodyLimit::max(api::IMPRESSIONS_BODY_LIMIT)),
        ),
        // HQ's routes: stores, segments, the product feed, campaigns, QR scans, explain, reports.
        Route::new(
            "/v1/stores",
            &["POST", "GET"],
            post(catalog::import_stores)
                .get(catalog::list_stores)
                .layer(import_limit),
        ),
        Route::new(
            "/v1/segments",
            &["POST"],
            post(catalog::import_segments).layer(import_limit),
        ),
        Route::new(
            "/v1/feed",
            &["POST"],
            post(catalog::import_feed).layer(import_limit),
        ),
        Route::new(
            "/v1/feed/upload",
            &["POST"],
            // The upload streams its body itself and enforces the feed size limit as it goes.
            post(feed::upload::upload_feed).layer(DefaultBodyLimit::disable()),
        ),
        Route::new(
            "/v1/feed/inventory",
            &["POST"],
            post(catalog::import_inventory).layer(import_limit),
        ),
        Route::new(
            "/v1/feeds",
            &["POST", "GET"],
            post(feed::fetch::register_feed)
                .get(feed::fetch::list_feeds)
                .layer(DefaultBodyLimit::max(64 * 1024)),
        ),
        Route::new(
            "/v1/feeds/{name}",
            &["DELETE"],
            axum::routing::delete(feed::fetch::remove_feed),
        ),
        Route::new(
            "/v1/feeds/{name}/fetch",
            &["POST"],
            post(feed::fetch::fetch_feed_now),
        ),
        Route::new(
            "/v1/campaigns",
            &["POST", "GET"],
            post(campaigns::push_campaign)
                .get(campaigns::list_campaigns)
                .layer(DefaultBodyLimit::max(campaigns::CAMPAIGN_BODY_LIMIT)),
        ),
        Route::new(
            "/v1/campaigns/{name}",
            &["GET"],
            get(campaigns::show_campaign),
        ),
        Route::new("/v1/explain", &["GET"], get(reports::explain)),
        Route::new("/v1/reports/scans", &["GET"], get(reports::scans)),
        Route::new("/v1/reports/plays", &["GET"], get(play_reports::plays)),
        Route::new(
            "/v1/reports/plays/export",
            &["GET"],
            get(play_reports::export),
        ),
        Route::new("/v1/reports/chain", &["GET"], get(play_reports::chain)),
        Route::new(
            "/v1/audience",
            &["POST", "GET"],
            post(catalog::import_audience)
                .get(catalog::list_audience)
                .layer(import_limit),
        ),
        Route::new("/q/{token}", &["GET"], get(qr::scan)),
    ]
}

/// The scheduler's HTTP API.
pub fn app(state: AppState) -> Router {
    events::start_change_fan_out(&state);
    let mut router = Router::new();
    for route in routes(&state) {
        router = router.route(route.path, route.handlers);
    }
    let router = router
        .merge(console::router())
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        // Counted before anything else runs: a token is counted as its caller only once it is
        // known to be valid, so random tokens cannot each have a bucket of their own.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit,
        ))
        // Outermost, so that refusals by the layers above are counted with their status too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ));
    router.layer(TraceLayer::new_for_http()).with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then lets requests in flight finish,
/// with the default [`serve::ConnectionLimits`].
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_limits(
        listener,
        state,
        serve::ConnectionLimits::default(),
        shutdown,
    )
    .await
}

/// [`run`] with other connection limits (tests shorten the timeouts).
pub async fn run_with_limits(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: serve::ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let hub = state.hub().clone();
    // Event streams never end by themselves; graceful shutdown waits for open connections, so the
    // hub ends them once shutdown begins.
    let shutdown = async move {
        shutdown.await;
        hub.close();
    };
    start_housekeeping(&state);
    // The peer address (`ConnectInfo`) is what unauthenticated calls are rate limited by.
    serve::serve(listener, app(state), limits, shutdown).await;
    Ok(())
}

/// What every serving process does in the background, over HTTP or TLS alike: forget idle
/// rate-limit callers, share the rate limits with the other replicas, collect media no version
/// names, fetch the feeds that are due, prune raw plays past their retention, and keep the
/// database.
pub(crate) fn start_housekeeping(state: &AppState) {
    forget_idle_callers(state);
    share_limits_with_replicas(state);
    quota::collect_unused_media_hourly(state);
    feed::fetch::fetch_due_feeds(state);
    prune_raw_plays_hourly(state);
    maintain_storage(state);
}

/// How often the storage's housekeeping runs.
const STORAGE_MAINTENANCE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Several times a second, the storage's own housekeeping (SQLite's log copied into its file), so
/// no request waits for it.
fn maintain_storage(state: &AppState) {
    let weak = state.downgrade();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(STORAGE_MAINTENANCE_EVERY);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let Some(state) = AppState::upgrade(&weak) else {
                return;
            };
            if let Err(error) = state.storage().maintain().await {
                tracing::warn!(%error, "the database's housekeeping failed; it is tried again");
            }
        }
    });
}

/// Every hour, deletes the raw plays older than the retention, if one is set.
fn prune_raw_plays_hourly(state: &AppState) {
    let weak = state.downgrade();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(std::time::Duration::from_secs(60 * 60));
        loop {
            interval.tick().await;
            let Some(state) = AppState::upgrade(&weak) else {
                return;
            };
            if let Err(error) = plays::prune_raw_plays(&state).await {
                tracing::warn!(%error, "cannot delete the raw plays past their retention");
            }
        }
    });
}

/// Every few seconds, says this scheduler is alive and shares the rate limits among those that
/// are, for the life of the state. A failure keeps the last count and is logged.
fn share_limits_with_replicas(state: &AppState) {
    let weak = state.downgrade();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(rate_limit::REPLICA_BEAT);
        loop {
            interval.tick().await;
            let Some(state) = AppState::upgrade(&weak) else {
                return;
            };
            if let Err(error) = rate_limit::share_with_replicas(&state).await {
                tracing::warn!(%error, "cannot count the schedulers sharing the rate limits");
            }
        }
    });
}

/// Every minute, drops rate-limit state of callers not seen lately, for the life of the process.
fn forget_idle_callers(state: &AppState) {
    let limiters = Arc::downgrade(state.limiters());
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            interval.tick().await;
            match limiters.upgrade() {
                Some(limiters) => limiters.forget_idle(),
                None => return,
            }
        }
    });
}
