//! The typed HTTP client for the scheduler's API (HQ), shared by the CLI and the player: one
//! connection to one scheduler, with or without a token, a method per call with the bodies of
//! `vitrine-wire`, and errors that say which server could not be reached or what it objected to.
//!
//! A refused request becomes a [`ServerError`] (inside the `anyhow::Error` the methods return,
//! where `downcast_ref` finds it): the status, the scheduler's error code and message, and the
//! diagnostics of a refused playlist or campaign, which the caller may print with its source.
//! A failure to reach the server keeps reqwest's error in that chain, so a caller can tell why
//! (the player names a refused connection, a timeout or an untrusted certificate on screen).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::header::{
    ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, IF_NONE_MATCH, RANGE, RETRY_AFTER,
};
use reqwest::{Body, Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vitrine_core::{Diagnostic, Heartbeat, ImpressionAck, ImpressionBatch, Sha256Hex};
use vitrine_wire::campaigns::{CampaignStored, PushCampaign};
use vitrine_wire::errors::ErrorBody;
use vitrine_wire::events::{
    Audience, Cancelled, CommandRequest, InterruptList, InterruptRequest, Published, TriggerRequest,
};
use vitrine_wire::imports::{FeedRegistration, FeedReport, FetchOutcome, ImportFile, ImportReport};
use vitrine_wire::pairing::{ConfirmPairing, PairingConfirmed, PairingStarted, PairingState};
use vitrine_wire::playlists::{PlaylistStored, PushPlaylist};
use vitrine_wire::screens::{CreateScreen, Revoked, Rotated, ScreenCreated, ServerKey};
use vitrine_wire::staff::{NewStaff, StaffCreated};

/// What errors suggest checking: the CLI names its flags, the player its configuration.
#[derive(Clone, Copy, Debug)]
pub struct Hints {
    /// Added when the server cannot be reached, like `check --server or VITRINE_SERVER`.
    pub unreachable: &'static str,
    /// Added to a 401, like `check --token or VITRINE_TOKEN`.
    pub unauthorized: &'static str,
}

impl Default for Hints {
    fn default() -> Self {
        Self {
            unreachable: "check the server's address",
            unauthorized: "check the token",
        }
    }
}

/// Why a client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("`{0}` is not a URL")]
    NotUrl(String),
    #[error("`{0}` must start with http:// or https://")]
    NotHttp(String),
    #[error("could not set up the HTTP client")]
    Http(#[source] reqwest::Error),
}

/// How a [`HqClient`] is made: the server, and optionally a token, a CA certificate, hints, and
/// the HTTP client's user agent and timeouts.
#[derive(Debug)]
pub struct HqClientBuilder {
    server: String,
    token: Option<String>,
    certificate: Option<reqwest::Certificate>,
    user_agent: String,
    connect_timeout: Duration,
    read_timeout: Option<Duration>,
    hints: Hints,
}

impl HqClientBuilder {
    /// The bearer token every request carries (the admin's, a staff member's or a screen's).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// A certificate to trust besides the system's, for a scheduler with its own CA.
    pub fn ca_certificate(mut self, certificate: Option<reqwest::Certificate>) -> Self {
        self.certificate = certificate;
        self
    }

    /// The `User-Agent` of every request, `vitrine/VERSION` unless set.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// How long connecting to the server may take, 15 s unless set.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long an answer may go without a byte arriving; none unless set. It notices a dead
    /// connection under a download or the event stream, which have no overall deadline.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    pub fn hints(mut self, hints: Hints) -> Self {
        self.hints = hints;
        self
    }

    pub fn build(self) -> Result<HqClient, BuildError> {
        let base_url = self.server.trim_end_matches('/').to_owned();
        // `Url::parse` reads `localhost:8080` as a URL with the scheme `localhost`, so the scheme
        // is checked by hand to catch the most common slip.
        let parsed =
            reqwest::Url::parse(&base_url).map_err(|_| BuildError::NotUrl(self.server.clone()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(BuildError::NotHttp(self.server));
        }
        // Only the connection (and, when set, each read) gets a deadline for every request:
        // uploads of large videos legitimately take long. Calls with small answers set their own.
        let mut builder = reqwest::Client::builder()
            .user_agent(self.user_agent)
            .connect_timeout(self.connect_timeout);
        if let Some(timeout) = self.read_timeout {
            builder = builder.read_timeout(timeout);
        }
        if let Some(certificate) = self.certificate {
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder.build().map_err(BuildError::Http)?;
        Ok(HqClient {
            http,
            base_url,
            token: self.token,
            hints: self.hints,
            answer_observer: None,
        })
    }
}

/// A connection to one scheduler, with at most one token.
#[derive(Clone, Debug)]
pub struct HqClient {
    http: reqwest::Client,
    /// The server's base URL without a trailing slash, so that API paths can be appended.
    base_url: String,
    token: Option<String>,
    hints: Hints,
    answer_observer: Option<AnswerObserver>,
}

/// What sees the headers of every answer the server gives, refusals included.
#[derive(Clone)]
struct AnswerObserver(Arc<dyn Fn(&HeaderMap) + Send + Sync>);

impl fmt::Debug for AnswerObserver {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("AnswerObserver")
    }
}

/// The deadline of a screen's calls whose bodies are small (the manifest, the server's key, a
/// screenshot, a batch of impressions), from connecting to the answer's last byte: a scheduler
/// that hangs must not hold up a screen's sync. Media downloads and the event stream have none.
pub const SCREEN_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The deadline of a heartbeat, shorter than [`SCREEN_CALL_TIMEOUT`]: the next one is due soon,
/// and says the same thing newer.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(15);

/// The scheduler's answer to a screen asking for its manifest ([`HqClient::manifest`]).
#[derive(Debug)]
pub enum ManifestAnswer {
    /// `304`: the manifest whose ETag was sent is still the screen's.
    NotModified,
    /// `404`: the scheduler knows the screen but has no playlist for it yet.
    NoPlaylist,
    /// `200`: a manifest, its ETag and signature in the headers; the body is the caller's to read
    /// (and to cap).
    Changed(Response),
}

/// The scheduler's answer to a media download ([`HqClient::media`]); the body is the caller's to
/// stream.
#[derive(Debug)]
pub enum MediaAnswer {
    /// `200`: the whole file, whatever offset was asked for.
    Whole(Response),
    /// `206`: the file from the offset asked for on.
    Rest(Response),
    /// `416`: the offset asked for lies at or past the file's end.
    PastTheEnd,
}

impl HqClient {
    pub fn builder(server: impl Into<String>) -> HqClientBuilder {
        HqClientBuilder {
            server: server.into(),
            token: None,
            certificate: None,
            user_agent: concat!("vitrine/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: Duration::from_secs(15),
            read_timeout: None,
            hints: Hints::default(),
        }
    }

    /// Lets `observer` see the headers of every answer from the server, refusals included, as
    /// soon as they arrive: the player sets its clock from their `Date`.
    pub fn with_answer_observer(
        mut self,
        observer: impl Fn(&HeaderMap) + Send + Sync + 'static,
    ) -> Self {
        self.answer_observer = Some(AnswerObserver(Arc::new(observer)));
        self
    }

    /// The server's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A request to `path` (which starts with `/v1/`), carrying the token if there is one.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a request. A failure to connect names the server and adds the hint; reqwest's error
    /// stays in the chain beneath.
    pub async fn send(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        let response = request.send().await.map_err(|error| {
            let context = if error.is_connect() || error.is_timeout() {
                format!(
                    "could not reach the Vitrine server at {} ({})",
                    self.base_url, self.hints.unreachable
                )
            } else {
                format!("request to the Vitrine server at {} failed", self.base_url)
            };
            anyhow::Error::new(error).context(context)
        })?;
        if let Some(AnswerObserver(observer)) = &self.answer_observer {
            observer(response.headers());
        }
        Ok(response)
    }

    /// The response itself if its status is a success; otherwise a [`ServerError`].
    pub async fn check_status(&self, response: Response) -> Result<Response, ServerError> {
        if response.status().is_success() {
            return Ok(response);
        }
        Err(ServerError::from_response(response, self.hints).await)
    }

    /// Sends a request and reads the JSON body of its successful answer.
    pub async fn fetch<T: DeserializeOwned>(&self, request: RequestBuilder) -> anyhow::Result<T> {
        let response = self.send(request).await?;
        let response = self.check_status(response).await?;
        let status = response.status();
        response.json().await.with_context(|| {
            format!("the server answered {status} with a body this program does not understand")
        })
    }

    /// `GET path`, its answer read as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.fetch(self.request(Method::GET, path)).await
    }

    /// `method path` with `body` as JSON, its answer read as `T`.
    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.fetch(self.request(method, path).json(body)).await
    }

    /// Sends a request whose answer has no body worth reading; only its status counts.
    async fn expect_success(&self, request: RequestBuilder) -> anyhow::Result<()> {
        let response = self.send(request).await?;
        self.check_status(response).await?;
        Ok(())
    }

    /// `GET /v1/server-key`: the key the scheduler signs manifests with. The key is public, so
    /// the request goes without the token, within [`SCREEN_CALL_TIMEOUT`].
    pub async fn server_key(&self) -> anyhow::Result<ServerKey> {
        let request = self
            .http
            .get(format!("{}/v1/server-key", self.base_url))
            .timeout(SCREEN_CALL_TIMEOUT);
        self.fetch(request).await
    }

    /// `POST /v1/screens`: registers a screen and hands out its device token.
    pub async fn create_screen(&self, screen: &CreateScreen) -> anyhow::Result<ScreenCreated> {
        self.call(Method::POST, "/v1/screens", screen).await
    }

    /// `POST /v1/screens/{name}/revoke`: the screen's token stops working now.
    pub async fn revoke_screen(&self, name: &str) -> anyhow::Result<Revoked> {
        self.fetch(self.request(Method::POST, &format!("/v1/screens/{name}/revoke")))
            .await
    }

    /// `POST /v1/screens/{name}/rotate`: a new device token for the screen.
    pub async fn rotate_screen(&self, name: &str) -> anyhow::Result<Rotated> {
        self.fetch(self.request(Method::POST, &format!("/v1/screens/{name}/rotate")))
            .await
    }

    /// `POST /v1/pairings`: a code for a screen to show, and the secret it polls with.
    pub async fn start_pairing(&self) -> anyhow::Result<PairingStarted> {
        self.fetch(self.request(Method::POST, "/v1/pairings")).await
    }

    /// `GET /v1/pairings/{code}` with the pairing's secret; `None` once the code is unknown
    /// (expired, or its token was picked up already).
    pub async fn poll_pairing(
        &self,
        code: &str,
        secret: &str,
    ) -> anyhow::Result<Option<PairingState>> {
        let request = self
            .http
            .get(format!("{}/v1/pairings/{code}", self.base_url))
            .bearer_auth(secret);
        let response = self.send(request).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = self.check_status(response).await?;
        Ok(Some(response.json().await.context(
            "the scheduler's answer to a pairing poll does not parse",
        )?))
    }

    /// `POST /v1/pairings/{code}`: confirms the code a screen shows, which registers it.
    pub async fn confirm_pairing(
        &self,
        code: &str,
        confirmation: &ConfirmPairing,
    ) -> anyhow::Result<PairingConfirmed> {
        self.call(Method::POST, &format!("/v1/pairings/{code}"), confirmation)
            .await
    }

    /// `POST /v1/staff`: a staff token for some stores.
    pub async fn create_staff(&self, staff: &NewStaff) -> anyhow::Result<StaffCreated> {
        self.call(Method::POST, "/v1/staff", staff).await
    }

    /// `POST /v1/staff/{name}/revoke`: the staff token stops working now.
    pub async fn revoke_staff(&self, name: &str) -> anyhow::Result<Revoked> {
        self.fetch(self.request(Method::POST, &format!("/v1/staff/{name}/revoke")))
            .await
    }

    /// `HEAD /v1/media/{sha256}`: whether the server already holds this content.
    pub async fn media_exists(&self, digest: &Sha256Hex) -> anyhow::Result<bool> {
        let response = self
            .send(self.request(Method::HEAD, &format!("/v1/media/{digest}")))
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        self.check_status(response).await?;
        Ok(true)
    }

    /// `PUT /v1/media/{sha256}`: streams `length` bytes of content that hash to `digest`. The
    /// answer's body ([`vitrine_wire::playlists::MediaStored`]) repeats the digest and size, so
    /// only its status is read.
    pub async fn upload_media(
        &self,
        digest: &Sha256Hex,
        length: u64,
        body: Body,
    ) -> anyhow::Result<()> {
        let request = self
            .request(Method::PUT, &format!("/v1/media/{digest}"))
            .header(CONTENT_TYPE, "application/octet-stream")
            // A streamed body would otherwise go out chunked; the length lets the server refuse
            // an oversized file before any of it arrives.
            .header(CONTENT_LENGTH, length)
            .body(body);
        self.expect_success(request).await
    }

    /// `POST /v1/playlists`: validates a playlist and stores it as its next version.
    pub async fn push_playlist(&self, playlist: &PushPlaylist) -> anyhow::Result<PlaylistStored> {
        self.call(Method::POST, "/v1/playlists", playlist).await
    }

    /// `POST /v1/campaigns`: validates a campaign and stores it as its next version.
    pub async fn push_campaign(&self, campaign: &PushCampaign) -> anyhow::Result<CampaignStored> {
        self.call(Method::POST, "/v1/campaigns", campaign).await
    }

    /// `POST /v1/stores`: imports the stores file.
    pub async fn import_stores(&self, file: &ImportFile) -> anyhow::Result<ImportReport> {
        self.call(Method::POST, "/v1/stores", file).await
    }

    /// `POST /v1/audience`: imports the screens' venue zones and audience multipliers.
    pub async fn import_audience(&self, file: &ImportFile) -> anyhow::Result<ImportReport> {
        self.call(Method::POST, "/v1/audience", file).await
    }

    /// `GET /v1/reports/plays?QUERY`, `QUERY` already encoded.
    pub async fn play_report(
        &self,
        query: &str,
    ) -> anyhow::Result<vitrine_wire::plays::PlayReport> {
        self.get(&format!("/v1/reports/plays?{query}")).await
    }

    /// `GET /v1/reports/chain?QUERY`, `QUERY` already encoded.
    pub async fn chain_report(
        &self,
        query: &str,
    ) -> anyhow::Result<vitrine_wire::plays::ChainReport> {
        self.get(&format!("/v1/reports/chain?{query}")).await
    }

    /// `POST /v1/segments`: imports the customer segments file.
    pub async fn import_segments(&self, file: &ImportFile) -> anyhow::Result<ImportReport> {
        self.call(Method::POST, "/v1/segments", file).await
    }

    /// `POST /v1/feed/inventory`: imports stock levels per store.
    pub async fn import_inventory(&self, file: &ImportFile) -> anyhow::Result<FeedReport> {
        self.call(Method::POST, "/v1/feed/inventory", file).await
    }

    /// `POST /v1/feed/upload`: a product feed of `length` bytes as the raw body, so that however
    /// large, neither side holds it whole. With `replace`, products of earlier uploads the file
    /// leaves out are removed.
    pub async fn upload_feed(
        &self,
        file_name: &str,
        replace: bool,
        length: u64,
        body: Body,
    ) -> anyhow::Result<FeedReport> {
        let path = format!(
            "/v1/feed/upload?file_name={}&replace={replace}",
            query_encoded(file_name)
        );
        let request = self
            .request(Method::POST, &path)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, length)
            .body(body);
        self.fetch(request).await
    }

    /// `POST /v1/feeds`: registers a feed the scheduler fetches on a schedule.
    pub async fn register_feed(&self, feed: &FeedRegistration) -> anyhow::Result<()> {
        self.expect_success(self.request(Method::POST, "/v1/feeds").json(feed))
            .await
    }

    /// `DELETE /v1/feeds/{name}`: stops fetching a feed (its products stay).
    pub async fn remove_feed(&self, name: &str) -> anyhow::Result<()> {
        self.expect_success(self.request(Method::DELETE, &format!("/v1/feeds/{name}")))
            .await
    }

    /// `POST /v1/feeds/{name}/fetch`: fetches a feed now.
    pub async fn fetch_feed(&self, name: &str) -> anyhow::Result<FetchOutcome> {
        self.fetch(self.request(Method::POST, &format!("/v1/feeds/{name}/fetch")))
            .await
    }

    /// `POST /v1/interrupts`: an emergency message on the addressed screens.
    pub async fn interrupt(&self, interrupt: &InterruptRequest) -> anyhow::Result<Published> {
        self.call(Method::POST, "/v1/interrupts", interrupt).await
    }

    /// `GET /v1/interrupts`: the interrupts in force.
    pub async fn list_interrupts(&self) -> anyhow::Result<InterruptList> {
        self.get("/v1/interrupts").await
    }

    /// `POST /v1/interrupts/{id}/cancel`: withdraws one interrupt from every screen it covers.
    pub async fn cancel_interrupt(&self, id: u64) -> anyhow::Result<Cancelled> {
        self.fetch(self.request(Method::POST, &format!("/v1/interrupts/{id}/cancel")))
            .await
    }

    /// `POST /v1/interrupts/cancel`: withdraws every interrupt in force from these screens.
    pub async fn cancel_interrupts(&self, audience: &Audience) -> anyhow::Result<Cancelled> {
        self.call(Method::POST, "/v1/interrupts/cancel", audience)
            .await
    }

    /// `POST /v1/triggers`: a store's next offer slots target a customer segment.
    pub async fn trigger(&self, trigger: &TriggerRequest) -> anyhow::Result<Published> {
        self.call(Method::POST, "/v1/triggers", trigger).await
    }

    /// `POST /v1/commands`: asks screens to do something now (`resync`, `screenshot`,
    /// `identify`, `restart`).
    pub async fn send_command(&self, command: &CommandRequest) -> anyhow::Result<Published> {
        self.call(Method::POST, "/v1/commands", command).await
    }

    /// `GET /v1/screens/{name}/screenshot`: the screen's latest screenshot, a JPEG, and when HQ
    /// received it. A screen that has sent none is a [`ServerError`] with code `no_screenshot`.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<(jiff::Timestamp, Vec<u8>)> {
        let response = self
            .send(self.request(Method::GET, &format!("/v1/screens/{name}/screenshot")))
            .await?;
        let response = self.check_status(response).await?;
        let taken_at = response
            .headers()
            .get(TAKEN_AT_HEADER)
            .context("the server sent a screenshot without its X-Vitrine-Taken-At")?
            .to_str()
            .ok()
            .and_then(|text| text.parse().ok())
            .context("the server sent a screenshot whose X-Vitrine-Taken-At is not a time")?;
        let bytes = response
            .bytes()
            .await
            .context("the screenshot's download was cut short")?;
        Ok((taken_at, bytes.to_vec()))
    }

    /// `GET /v1/manifest`, as the screen the token belongs to: with `if_none_match`, the ETag of
    /// the manifest the screen holds, an unchanged one is [`ManifestAnswer::NotModified`]. Within
    /// [`SCREEN_CALL_TIMEOUT`], the body's reading included.
    pub async fn manifest(&self, if_none_match: Option<&str>) -> anyhow::Result<ManifestAnswer> {
        let mut request = self
            .request(Method::GET, "/v1/manifest")
            .timeout(SCREEN_CALL_TIMEOUT);
        if let Some(etag) = if_none_match {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let response = self.send(request).await?;
        match response.status() {
            StatusCode::NOT_MODIFIED => Ok(ManifestAnswer::NotModified),
            StatusCode::NOT_FOUND => Ok(ManifestAnswer::NoPlaylist),
            StatusCode::OK => Ok(ManifestAnswer::Changed(response)),
            _ => Err(ServerError::from_response(response, self.hints)
                .await
                .into()),
        }
    }

    /// `GET /v1/media/{sha256}`, from byte `offset` on (a `Range` request) when it is not zero,
    /// so a download cut short resumes. No overall deadline: a large file takes long on a slow
    /// line.
    pub async fn media(&self, digest: &Sha256Hex, offset: u64) -> anyhow::Result<MediaAnswer> {
        let mut request = self.request(Method::GET, &format!("/v1/media/{digest}"));
        if offset > 0 {
            request = request.header(RANGE, format!("bytes={offset}-"));
        }
        let response = self.send(request).await?;
        match response.status() {
            StatusCode::OK => Ok(MediaAnswer::Whole(response)),
            StatusCode::PARTIAL_CONTENT if offset > 0 => Ok(MediaAnswer::Rest(response)),
            StatusCode::RANGE_NOT_SATISFIABLE => Ok(MediaAnswer::PastTheEnd),
            _ => Err(ServerError::from_response(response, self.hints)
                .await
                .into()),
        }
    }

    /// `GET /v1/events`: the screen's event stream (server-sent events), resuming after
    /// `last_event_id`. The answer is checked; its body is the stream. No overall deadline: the
    /// stream is meant to stay open, and a read timeout longer than the scheduler's keep-alive
    /// interval notices a dead connection.
    pub async fn events(&self, last_event_id: Option<&str>) -> anyhow::Result<Response> {
        let mut request = self
            .request(Method::GET, "/v1/events")
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = self.send(request).await?;
        if response.status() != StatusCode::OK {
            return Err(ServerError::from_response(response, self.hints)
                .await
                .into());
        }
        Ok(response)
    }

    /// `POST /v1/heartbeat`, within [`HEARTBEAT_TIMEOUT`]. The answer's body (the screen's status
    /// as HQ sees it) is for the console, so only its status is read.
    pub async fn heartbeat(&self, heartbeat: &Heartbeat) -> anyhow::Result<()> {
        let request = self
            .request(Method::POST, "/v1/heartbeat")
            .json(heartbeat)
            .timeout(HEARTBEAT_TIMEOUT);
        self.expect_success(request).await
    }

    /// `PUT /v1/screenshot`: what the screen shows, a JPEG, within [`SCREEN_CALL_TIMEOUT`].
    pub async fn upload_screenshot(&self, jpeg: Vec<u8>) -> anyhow::Result<()> {
        let request = self
            .request(Method::PUT, "/v1/screenshot")
            .header(CONTENT_TYPE, "image/jpeg")
            .body(jpeg)
            .timeout(SCREEN_CALL_TIMEOUT);
        self.expect_success(request).await
    }

    /// `POST /v1/impressions`: a batch of proof of play, signed with `batch_key` (the sha256 of
    /// the screen's token) over the exact bytes sent, so HQ can tell a tampered or misdirected
    /// batch. Within [`SCREEN_CALL_TIMEOUT`].
    pub async fn upload_impressions(
        &self,
        batch: &ImpressionBatch,
        batch_key: &[u8; 32],
    ) -> anyhow::Result<ImpressionAck> {
        let body = serde_json::to_vec(batch)?;
        let signature = vitrine_core::impression::sign_batch(batch_key, &body);
        let request = self
            .request(Method::POST, "/v1/impressions")
            .header(CONTENT_TYPE, "application/json")
            .header(vitrine_core::impression::SIGNATURE_HEADER, signature)
            .body(body)
            .timeout(SCREEN_CALL_TIMEOUT);
        self.fetch(request).await
    }
}

/// The header that says when HQ received the screenshot it answers with (RFC 3339).
pub const TAKEN_AT_HEADER: &str = "x-vitrine-taken-at";

/// `text` as a query-string value: every byte but the unreserved ones percent-encoded.
fn query_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// What the server said when it refused a request. Its diagnostics are for the caller to print
/// (with the source they point into), so they are not part of the message.
#[derive(Debug)]
pub struct ServerError {
    pub status: StatusCode,
    pub code: Option<String>,
    pub message: String,
    pub diagnostics: Vec<Diagnostic>,
    /// The `Retry-After` of a 429 or 503, in seconds.
    pub retry_after_s: Option<u64>,
    hints: Hints,
}

/// How much of a body that is not the scheduler's JSON is quoted, e.g. a proxy's HTML error page.
const QUOTED_BODY_CHARACTERS: usize = 200;

impl ServerError {
    async fn from_response(response: Response, hints: Hints) -> Self {
        let status = response.status();
        let retry_after_s = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok());
        // A body that cannot be read still leaves the status to report.
        let body = response.text().await.unwrap_or_default();
        Self {
            retry_after_s,
            ..Self::from_body(status, &body, hints)
        }
    }

    fn from_body(status: StatusCode, body: &str, hints: Hints) -> Self {
        match serde_json::from_str::<ErrorBody>(body) {
            Ok(parsed) => Self {
                status,
                code: Some(parsed.error.code),
                message: parsed.error.message,
                diagnostics: parsed.error.diagnostics.unwrap_or_default(),
                retry_after_s: None,
                hints,
            },
            Err(_) => {
                let quoted: String = body.trim().chars().take(QUOTED_BODY_CHARACTERS).collect();
                let message = if quoted.is_empty() {
                    status
                        .canonical_reason()
                        .unwrap_or("no explanation given")
                        .to_owned()
                } else {
                    quoted.replace(['\r', '\n'], " ")
                };
                Self {
                    status,
                    code: None,
                    message,
                    diagnostics: Vec::new(),
                    retry_after_s: None,
                    hints,
                }
            }
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} (HTTP {}", self.message, self.status)?;
        if let Some(code) = &self.code {
            write!(formatter, ", code `{code}`")?;
        }
        write!(formatter, ")")?;
        // A 401 is about the token itself: missing, unknown or revoked. A 403 means the server
        // knew the token and it may not do this; its message says what the token may do, and
        // another token would only help if it carries the right.
        match self.status {
            StatusCode::UNAUTHORIZED => write!(formatter, "; {}", self.hints.unauthorized)?,
            StatusCode::FORBIDDEN => write!(
                formatter,
                "; the token was accepted, but it lacks the right to do this"
            )?,
            _ => {}
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {}

#[cfg(test)]
mod tests {
    use super::*;

    const HINTS: Hints = Hints {
        unreachable: "check --server",
        unauthorized: "check --token or VITRINE_TOKEN",
    };

    #[test]
    fn reads_the_schedulers_error_body() {
        let error = ServerError::from_body(
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"{"error":{"code":"invalid_playlist","message":"the playlist has errors","diagnostics":[
                {"severity":"error","file":"a.yaml","line":3,"column":5,"message":"bad"}]}}"#,
            HINTS,
        );
        assert_eq!(error.diagnostics.len(), 1);
        assert_eq!(
            error.to_string(),
            "the playlist has errors (HTTP 422 Unprocessable Entity, code `invalid_playlist`)"
        );
    }

    #[test]
    fn other_bodies_are_quoted_and_auth_failures_point_at_the_token() {
        let error = ServerError::from_body(
            StatusCode::BAD_GATEWAY,
            "<html>\nupstream down</html>",
            HINTS,
        );
        assert_eq!(
            error.to_string(),
            "<html> upstream down</html> (HTTP 502 Bad Gateway)"
        );
        let error = ServerError::from_body(StatusCode::UNAUTHORIZED, "", HINTS);
        assert_eq!(
            error.to_string(),
            "Unauthorized (HTTP 401 Unauthorized); check --token or VITRINE_TOKEN"
        );
        let error = ServerError::from_body(
            StatusCode::FORBIDDEN,
            r#"{"error":{"code":"forbidden","message":"this needs the admin token"}}"#,
            HINTS,
        );
        assert_eq!(
            error.to_string(),
            "this needs the admin token (HTTP 403 Forbidden, code `forbidden`); the token was \
             accepted, but it lacks the right to do this"
        );
    }

    #[test]
    fn server_urls_need_a_scheme() {
        assert!(matches!(
            HqClient::builder("localhost:8080").build(),
            Err(BuildError::NotHttp(_))
        ));
        assert!(matches!(
            HqClient::builder("not a url").build(),
            Err(BuildError::NotUrl(_))
        ));
        let client = HqClient::builder("http://localhost:8080/").build().unwrap();
        assert_eq!(client.base_url(), "http://localhost:8080");
    }

    #[test]
    fn file_names_are_query_encoded() {
        assert_eq!(query_encoded("feed 1/é.csv"), "feed%201%2F%C3%A9.csv");
    }

    /// A one-request HTTP server on loopback that answers with `answer` (status line, headers and
    /// body) and reports the head of the request it saw.
    fn answer_once(answer: &'static str) -> (String, std::sync::mpsc::Receiver<String>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (seen, requests) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            seen.send(head.to_ascii_lowercase()).unwrap();
            let _ = stream.write_all(answer.as_bytes());
        });
        (format!("http://{address}"), requests)
    }

    #[tokio::test]
    async fn a_screens_refusal_is_observed_and_keeps_its_code() {
        let (server, requests) = answer_once(
            "HTTP/1.1 401 Unauthorized\r\nDate: Tue, 03 Mar 2026 10:00:00 GMT\r\n\
             Content-Type: application/json\r\nContent-Length: 60\r\nConnection: close\r\n\r\n\
             {\"error\":{\"code\":\"token_revoked\",\"message\":\"revoked at HQ\"}}",
        );
        let dates = Arc::new(std::sync::Mutex::new(Vec::new()));
        let observed = dates.clone();
        let client = HqClient::builder(server)
            .token("screen-token")
            .build()
            .unwrap()
            .with_answer_observer(move |headers| {
                let date = headers.get(reqwest::header::DATE).unwrap();
                observed
                    .lock()
                    .unwrap()
                    .push(date.to_str().unwrap().to_owned());
            });
        let error = client.manifest(Some("\"v7\"")).await.unwrap_err();
        let refusal = error
            .downcast_ref::<ServerError>()
            .expect("the server's refusal");
        assert_eq!(refusal.status, StatusCode::UNAUTHORIZED);
        assert_eq!(refusal.code.as_deref(), Some("token_revoked"));
        assert_eq!(*dates.lock().unwrap(), ["Tue, 03 Mar 2026 10:00:00 GMT"]);
        let request = requests.recv().unwrap();
        assert!(request.starts_with("get /v1/manifest "), "{request}");
        assert!(
            request.contains("authorization: bearer screen-token"),
            "{request}"
        );
        assert!(request.contains("if-none-match: \"v7\""), "{request}");
    }

    #[tokio::test]
    async fn the_server_key_is_asked_for_without_the_token() {
        let (server, requests) = answer_once(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 43\r\n\
             Connection: close\r\n\r\n{\"algorithm\":\"ed25519\",\"public_key\":\"abcd\"}",
        );
        let client = HqClient::builder(server).token("secret").build().unwrap();
        assert_eq!(client.server_key().await.unwrap().public_key, "abcd");
        let request = requests.recv().unwrap();
        assert!(!request.contains("authorization"), "{request}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_named_with_the_hint() {
        // Nothing listens on port 9 of the loopback address.
        let client = HqClient::builder("http://127.0.0.1:9")
            .hints(HINTS)
            .build()
            .unwrap();
        let error = client.server_key().await.unwrap_err();
        assert!(
            error.to_string().contains(
                "could not reach the Vitrine server at http://127.0.0.1:9 (check --server)"
            ),
            "{error:#}"
        );
    }
}
