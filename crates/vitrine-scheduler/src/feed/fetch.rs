//! Product feeds fetched from a URL on a schedule: HQ registers a feed's URL and interval, and the
//! scheduler fetches it with `If-None-Match` / `If-Modified-Since`, takes gzip, stops at a size
//! limit and a timeout, and applies what changed (a fetched feed *replaces* its source: products
//! it no longer lists are removed).
//!
//! **A feed URL cannot reach inside HQ's network.** Before connecting, the host is resolved and
//! every address checked: loopback, private, link-local, shared and other non-public addresses
//! are refused unless the allow-list (`--feed-allow`, addresses or networks) names them. The
//! connection then goes to exactly the addresses checked (no second lookup to rebind), through
//! no proxy, and redirects are not followed.
//!
//! **A failed fetch loses nothing.** The last good data stays; the feed's `last_error` holds the
//! HTTP status or error, which `GET /v1/feeds` shows as its alert until a fetch succeeds.

use std::io::{BufRead, BufReader, Read, Seek};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use reqwest::header;
use tokio::io::AsyncWriteExt;
use vitrine_core::ItemDuration;

use super::FeedFormat;
use super::import::FeedSource;
use crate::AppState;
use crate::auth::Admin;
use crate::catalog::FeedReport;
use crate::error::ApiError;
use crate::storage::StorageError;
use crate::storage::feeds::FetchAttempt;

pub use crate::storage::feeds::FeedRecord;
pub use vitrine_wire::imports::{FeedList, FeedRegistration, FetchOutcome};

/// The most a feed may weigh, as sent and once decompressed.
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// The longest a fetch may take, from connecting to the last byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// The shortest interval a feed may be fetched at.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// How often the scheduler looks for feeds that are due.
const DUE_CHECK: Duration = Duration::from_secs(5);

/// An address or network the fetcher may reach even though it is not public.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowedNetwork {
    address: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for AllowedNetwork {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or network like 10.0.0.0/8"))?;
        let most = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => most,
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= most)
                .ok_or_else(|| format!("`{text}`: the prefix length is not 0 to {most}"))?,
        };
        Ok(Self { address, prefix })
    }
}

impl AllowedNetwork {
    fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        match (self.address, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

/// How feeds are fetched: what non-public addresses may be reached, and the limits.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    pub allow: Vec<AllowedNetwork>,
    pub max_bytes: u64,
    pub timeout: Duration,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            max_bytes: DEFAULT_MAX_BYTES,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// What kind of non-public address this is, or None for a public one.
pub fn non_public_kind(address: IpAddr) -> Option<&'static str> {
    match canonical(address) {
        IpAddr::V4(v4) => {
            let [first, second, ..] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if v4.is_unspecified() || first == 0 {
                Some("unspecified")
            } else if first == 100 && (64..128).contains(&second) {
                Some("shared (carrier-grade NAT)")
            } else if v4.is_multicast() || v4.is_broadcast() || first >= 240 {
                Some("multicast or reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast or reserved")
            } else {
                None
            }
        }
    }
}

/// The addresses `url` may be fetched from: all of its host's, each public or allowed.
pub async fn checked_addresses(
    url: &reqwest::Url,
    policy: &FetchPolicy,
) -> Result<Vec<SocketAddr>, String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{url}` is not an http or https URL"));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("`{url}` has no port"))?;
    let addresses: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(address)) => vec![SocketAddr::new(IpAddr::V4(address), port)],
        Some(url::Host::Ipv6(address)) => vec![SocketAddr::new(IpAddr::V6(address), port)],
        Some(url::Host::Domain(domain)) => tokio::net::lookup_host((domain, port))
            .await
            .map_err(|error| format!("cannot resolve `{domain}`: {error}"))?
            .collect(),
        None => return Err(format!("`{url}` has no host")),
    };
    if addresses.is_empty() {
        return Err(format!("`{url}` resolves to no address"));
    }
    for address in &addresses {
        let ip = address.ip();
        if let Some(kind) = non_public_kind(ip)
            && !policy.allow.iter().any(|network| network.contains(ip))
        {
            return Err(format!(
                "refused to fetch `{url}`: its host resolves to {ip}, a {kind} address; \
                 a feed may reach it only if the scheduler's --feed-allow names it"
            ));
        }
    }
    Ok(addresses)
}

/// A fetched body: the file it was written to, and the validators to send next time.
pub(super) struct Downloaded {
    pub(super) file: std::fs::File,
    pub(super) gzip: bool,
    pub(super) etag: Option<String>,
    pub(super) last_modified: Option<String>,
}

pub(super) enum Download {
    NotModified,
    Body(Downloaded),
}

pub(super) async fn download(
    url: &reqwest::Url,
    policy: &FetchPolicy,
    etag: Option<&str>,
    last_modified: Option<&str>,
) -> Result<Download, String> {
    let addresses = checked_addresses(url, policy).await?;
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(policy.timeout.min(Duration::from_secs(30)))
        .timeout(policy.timeout);
    if let Some(url::Host::Domain(domain)) = url.host() {
        builder = builder.resolve_to_addrs(domain, &addresses);
    }
    let client = builder
        .build()
        .map_err(|error| format!("cannot make an HTTP client: {error}"))?;
    let mut request = client
        .get(url.clone())
        .header(header::ACCEPT_ENCODING, "gzip")
        .header(header::USER_AGENT, "vitrine-scheduler feed fetcher");
    if let Some(etag) = etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    if let Some(last_modified) = last_modified {
        request = request.header(header::IF_MODIFIED_SINCE, last_modified);
    }
    let describe = |error: reqwest::Error| {
        if error.is_timeout() {
            format!("timed out after {:?}", policy.timeout)
        } else {
            format!("{error:#}")
        }
    };
    let mut response = request.send().await.map_err(describe)?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(Download::NotModified);
    }
    if status.is_redirection() {
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("elsewhere");
        return Err(format!(
            "HTTP {status}: the feed moved to {location}; register that URL instead"
        ));
    }
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let too_large = || {
        format!(
            "the feed is larger than the limit of {} bytes",
            policy.max_bytes
        )
    };
    if response
        .content_length()
        .is_some_and(|length| length > policy.max_bytes)
    {
        return Err(too_large());
    }
    let header_text = |name: header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let gzip = header_text(header::CONTENT_ENCODING)
        .is_some_and(|encoding| encoding.eq_ignore_ascii_case("gzip"));
    let etag = header_text(header::ETAG);
    let last_modified = header_text(header::LAST_MODIFIED);
    let file =
        tempfile::tempfile().map_err(|error| format!("cannot make a temporary file: {error}"))?;
    // Written a megabyte at a time: each write of a tokio file is a trip to the blocking pool,
    // and the network hands over a few kilobytes per chunk.
    let mut file =
        tokio::io::BufWriter::with_capacity(1024 * 1024, tokio::fs::File::from_std(file));
    let mut received: u64 = 0;
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        received += chunk.len() as u64;
        if received > policy.max_bytes {
            return Err(too_large());
        }
        file.write_all(&chunk)
            .await
            .map_err(|error| format!("cannot write the feed to a temporary file: {error}"))?;
    }
    file.flush()
        .await
        .map_err(|error| format!("cannot write the feed to a temporary file: {error}"))?;
    let mut file = file.into_inner().into_std().await;
    file.rewind()
        .map_err(|error| format!("cannot read the feed back: {error}"))?;
    Ok(Download::Body(Downloaded {
        file,
        gzip,
        etag,
        last_modified,
    }))
}

/// A reader that fails once more than `remaining` bytes come through it.
struct Limited<R> {
    inner: R,
    remaining: u64,
    limit: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.remaining = self.remaining.checked_sub(read as u64).ok_or_else(|| {
            std::io::Error::other(format!(
                "the feed is larger than the limit of {} bytes once decompressed",
                self.limit
            ))
        })?;
        Ok(read)
    }
}

/// The feed's text, decompressed when it was sent gzipped (or is a `.gz` file), with its format.
pub(super) fn feed_reader(
    downloaded: Downloaded,
    name: &str,
    max_bytes: u64,
) -> Result<(Box<dyn BufRead + Send>, FeedFormat), String> {
    let mut raw = BufReader::new(downloaded.file);
    let starts_gzipped = raw
        .fill_buf()
        .map_err(|error| format!("cannot read the feed back: {error}"))?
        .starts_with(&[0x1f, 0x8b]);
    let plain: Box<dyn Read + Send> = if downloaded.gzip || starts_gzipped {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut reader = BufReader::with_capacity(
        64 * 1024,
        Limited {
            inner: plain,
            remaining: max_bytes,
            limit: max_bytes,
        },
    );
    let start = reader
        .fill_buf()
        .map_err(|error| format!("cannot read the feed: {error}"))?;
    let format = FeedFormat::detect(name, start);
    Ok((Box::new(reader), format))
}

impl FeedRecord {
    fn is_due(&self, now: Timestamp) -> bool {
        let Some(attempt) = self
            .last_attempt_at
            .as_deref()
            .and_then(|text| text.parse::<Timestamp>().ok())
        else {
            return true;
        };
        let interval = jiff::SignedDuration::from_secs(self.interval_seconds as i64);
        attempt.checked_add(interval).is_ok_and(|due| due <= now)
    }
}

/// Fetches one feed now and applies it; records the attempt and, on failure, the alert. None,
/// doing nothing, when the feed is being fetched already.
pub async fn fetch_feed(
    state: &AppState,
    feed: &FeedRecord,
) -> Result<Option<FetchOutcome>, StorageError> {
    if !state.start_feed_fetch(&feed.name) {
        return Ok(None);
    }
    let outcome = fetch_feed_once(state, feed).await;
    state.end_feed_fetch(&feed.name);
    outcome.map(Some)
}

async fn fetch_feed_once(
    state: &AppState,
    feed: &FeedRecord,
) -> Result<FetchOutcome, StorageError> {
    let policy = state.feed_policy();
    let outcome = match reqwest::Url::parse(&feed.url) {
        Err(error) => Err(format!("`{}` is not a URL: {error}", feed.url)),
        Ok(url) => fetch_and_import(state, feed, &url, &policy).await?,
    };
    let storage = state.storage();
    match outcome {
        Ok(None) => {
            storage
                .record_fetch(feed.name.clone(), FetchAttempt::NotModified)
                .await?;
            Ok(FetchOutcome::NotModified)
        }
        Ok(Some((report, (etag, last_modified)))) => {
            storage
                .record_fetch(
                    feed.name.clone(),
                    FetchAttempt::Imported {
                        etag,
                        last_modified,
                    },
                )
                .await?;
            Ok(FetchOutcome::Imported {
                report: Box::new(report),
            })
        }
        Err(error) => {
            tracing::warn!(feed = %feed.name, url = %feed.url, %error, "a feed fetch failed; its last good data stays");
            storage
                .record_fetch(feed.name.clone(), FetchAttempt::Failed(error.clone()))
                .await?;
            Ok(FetchOutcome::Failed { error })
        }
    }
}

type Validators = (Option<String>, Option<String>);

async fn fetch_and_import(
    state: &AppState,
    feed: &FeedRecord,
    url: &reqwest::Url,
    policy: &FetchPolicy,
) -> Result<Result<Option<(FeedReport, Validators)>, String>, StorageError> {
    let downloaded = match download(
        url,
        policy,
        feed.etag.as_deref(),
        feed.last_modified.as_deref(),
    )
    .await
    {
        Ok(Download::NotModified) => return Ok(Ok(None)),
        Ok(Download::Body(downloaded)) => downloaded,
        Err(error) => return Ok(Err(error)),
    };
    let validators = (downloaded.etag.clone(), downloaded.last_modified.clone());
    let path = url.path().to_owned();
    let max_bytes = policy.max_bytes;
    let opened = tokio::task::spawn_blocking(move || feed_reader(downloaded, &path, max_bytes))
        .await
        .map_err(|error| StorageError::Backend(format!("the import did not finish: {error}")))?;
    let (reader, format) = match opened {
        Ok(opened) => opened,
        Err(error) => return Ok(Err(error)),
    };
    let origin = FeedSource {
        name: feed.name.clone(),
        replace: true,
    };
    let outcome =
        match super::import::import_products(state.storage(), reader, format, origin).await? {
            Ok(outcome) => outcome,
            Err(error) => return Ok(Err(error)),
        };
    tracing::info!(
        feed = %feed.name,
        applied = outcome.applied,
        skipped = outcome.skipped.len() + outcome.skipped_more,
        "fetched and imported a product feed"
    );
    Ok(Ok(Some((outcome.into(), validators))))
}

/// Every few seconds, fetches the feeds that are due, one after the other, for the life of the
/// process.
pub fn fetch_due_feeds(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(DUE_CHECK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let feeds = match state.storage().feeds().await {
                Ok(feeds) => feeds,
                Err(error) => {
                    tracing::warn!(%error, "cannot list the feeds to fetch");
                    continue;
                }
            };
            let now = Timestamp::now();
            for feed in feeds.iter().filter(|feed| feed.is_due(now)) {
                if let Err(error) = fetch_feed(&state, feed).await {
                    tracing::warn!(feed = %feed.name, %error, "cannot record a feed fetch");
                }
            }
        }
    });
}

fn bad_feed(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_feed", message)
}

#[utoipa::path(
    post,
    path = "/v1/feeds",
    tag = "hq",
    request_body = crate::feed::fetch::FeedRegistration,
    responses(
        (status = 201, description = "Registered; it is fetched on its schedule", body = vitrine_wire::imports::FeedRecord),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 422, description = "Error codes: `invalid_feed`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn register_feed(
    State(state): State<AppState>,
    _admin: Admin,
    body: Result<Json<FeedRegistration>, JsonRejection>,
) -> Result<(StatusCode, Json<vitrine_wire::imports::FeedRecord>), ApiError> {
    let Json(request) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, 64 * 1024))?;
    let name_ok = !request.name.is_empty()
        && request.name.len() <= 64
        && request
            .name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
        && request.name != crate::catalog::UPLOAD_SOURCE;
    if !name_ok {
        return Err(bad_feed(format!(
            "feed name `{}` is not 1-64 letters, digits, `.`, `_` or `-` (and not `upload`)",
            request.name
        )));
    }
    let url = reqwest::Url::parse(&request.url)
        .map_err(|error| bad_feed(format!("`{}` is not a URL: {error}", request.url)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad_feed(format!(
            "`{}` is not an http or https URL",
            request.url
        )));
    }
    let every = ItemDuration::parse(&request.every)
        .map_err(|error| bad_feed(format!("every: {error}")))?
        .as_std();
    if every < MIN_INTERVAL {
        return Err(bad_feed(format!(
            "every: `{}` is shorter than a minute",
            request.every
        )));
    }
    let record = state
        .storage()
        .register_feed(request.name, url.to_string(), every.as_secs())
        .await?;
    Ok((StatusCode::CREATED, Json(feed_answer(record))))
}

/// A feed's record as the API answers with it.
fn feed_answer(record: FeedRecord) -> vitrine_wire::imports::FeedRecord {
    vitrine_wire::imports::FeedRecord {
        name: record.name,
        url: record.url,
        interval_seconds: record.interval_seconds,
        etag: record.etag,
        last_modified: record.last_modified,
        last_attempt_at: record.last_attempt_at,
        last_success_at: record.last_success_at,
        alert: record.alert,
    }
}

/// `GET /v1/feeds`: every feed registered by URL, with its last fetch and alert.
#[utoipa::path(
    get,
    path = "/v1/feeds",
    tag = "hq",
    responses(
        (status = 200, description = "Every feed registered by URL", body = crate::feed::fetch::FeedList),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn list_feeds(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<FeedList>, ApiError> {
    let feeds = state.storage().feeds().await?;
    Ok(Json(FeedList {
        feeds: feeds.into_iter().map(feed_answer).collect(),
    }))
}

fn unknown_feed(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_feed",
        format!("no feed is registered as `{name}`"),
    )
}

/// `DELETE /v1/feeds/{name}`: stops fetching a feed; its products stay.
#[utoipa::path(
    delete,
    path = "/v1/feeds/{name}",
    tag = "hq",
    params(
        ("name" = String, Path, description = "The name"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `unknown_feed`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn remove_feed(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.storage().remove_feed(name.clone()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(unknown_feed(&name))
    }
}

/// `POST /v1/feeds/{name}/fetch`: fetches a feed now, whatever its schedule, and says what
/// happened; 409 while the schedule is fetching it.
#[utoipa::path(
    post,
    path = "/v1/feeds/{name}/fetch",
    tag = "hq",
    params(
        ("name" = String, Path, description = "The name"),
    ),
    responses(
        (status = 200, description = "Fetched and imported now", body = crate::feed::fetch::FetchOutcome),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `unknown_feed`", body = crate::openapi::ErrorBody),
        (status = 409, description = "Error codes: `fetch_in_progress`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn fetch_feed_now(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Result<Json<FetchOutcome>, ApiError> {
    let feed = state
        .storage()
        .feeds()
        .await?
        .into_iter()
        .find(|feed| feed.name == name)
        .ok_or_else(|| unknown_feed(&name))?;
    match fetch_feed(&state, &feed).await? {
        Some(outcome) => Ok(Json(outcome)),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "fetch_in_progress",
            format!("feed `{name}` is being fetched now; ask again when that fetch ends"),
        )),
    }
}
