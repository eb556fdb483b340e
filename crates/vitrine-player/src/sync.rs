//! The sync client: fetches this screen's manifest from the scheduler, downloads and verifies its
//! media into the cache, and activates it only when every file is there. Uploads proof of play.
//!
//! What comes from the network is bounded and checked before it is used: a manifest is read up to
//! [`MAX_MANIFEST_BYTES`], must be signed with the pinned key, made for this screen and no older
//! than the one playing ([`Manifest::may_follow`]); a media download stops at the size the manifest
//! states. Pushed events that act on the screen are opened here too ([`SyncClient::open_event`]).
//!
//! Every call to the scheduler goes through [`HqClient`], made with the player's user agent and
//! timeouts ([`hq_client_builder`]); this module decides what its answers mean for the screen.
//!
//! Being offline is an expected state, not an error worth a panic: every failure here is logged and
//! retried on the next round while the screen keeps playing what it has.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{ETAG, HeaderMap};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use vitrine_client::{Hints, HqClient, HqClientBuilder, ManifestAnswer, MediaAnswer, ServerError};
use vitrine_core::{ImpressionAck, ImpressionBatch, Manifest, Sha256Hex};

use crate::cache::{ActiveManifest, MediaCache};
use crate::clock::SharedClock;
use crate::downloads::Bandwidth;
use crate::events::{PlayerEvent, SharedSink};
use crate::problem::Problem;

/// The most bytes of a manifest the player reads. A real one (a playlist of at most
/// [`vitrine_core::playlist::MAX_PLAYLIST_BYTES`] of YAML, its media index and offer rotations)
/// is far smaller; a longer answer is refused, and the current content plays on.
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// The scheduler's answer to a manifest request.
#[derive(Debug)]
pub enum ManifestFetch {
    NotModified,
    New(Box<ActiveManifest>),
    /// The scheduler knows the screen but its playlist has not been pushed yet.
    NoPlaylist,
}

/// What the sync's errors suggest checking.
const HINTS: Hints = Hints {
    unreachable: "check `server` in the player's configuration",
    unauthorized: "check `token` in the player's configuration, or pair the screen again",
};

#[derive(Clone)]
pub struct SyncClient {
    /// The scheduler, with this screen's token.
    hq: HqClient,
    /// The sha256 of the device token: the key impression batches are signed with.
    batch_key: [u8; 32],
    /// The cap all downloads share; `None` downloads as fast as the line allows.
    bandwidth: Option<Bandwidth>,
    /// The key every manifest must be signed with (see [`crate::pairing`]).
    trust: Arc<crate::pairing::ManifestTrust>,
    /// Why the last manifest was refused, until one verifies: the heartbeat reports it.
    manifest_refusal: Arc<std::sync::Mutex<Option<String>>>,
    /// This screen's name: from the config or pairing, else from the first manifest activated.
    /// Manifests and pushed events for another screen are refused.
    screen: Arc<std::sync::Mutex<Option<String>>>,
    /// Why the last manifest request brought no manifest (the scheduler unreachable, the token
    /// refused, no playlist), until one is answered: for the screen and the heartbeat.
    problem: Arc<std::sync::Mutex<Option<Problem>>>,
}

impl SyncClient {
    /// A client of the scheduler at `server` for the screen whose token is `token`, trusting the
    /// CA certificate in `ca_cert` (PEM) besides the system's roots when given.
    pub fn new(server: &str, token: &str, ca_cert: Option<&[u8]>) -> anyhow::Result<Self> {
        let hq = hq_client_builder(server, ca_cert)?
            .token(token)
            .hints(HINTS)
            .build()
            .context("the player's `server`")?;
        Ok(Self {
            hq,
            batch_key: Sha256::digest(token.as_bytes()).into(),
            bandwidth: None,
            trust: Arc::new(crate::pairing::ManifestTrust::first_use_in_memory()),
            manifest_refusal: Arc::default(),
            screen: Arc::default(),
            problem: Arc::default(),
        })
    }

    /// The screen this player is, when the config or pairing names it.
    pub fn with_screen(self, screen: Option<String>) -> Self {
        *self
            .screen
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = screen;
        self
    }

    /// This screen's name, once known.
    pub fn screen(&self) -> Option<String> {
        self.screen
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// Takes `screen` as this screen's name unless one is known already.
    fn learn_screen(&self, screen: &str) {
        self.screen
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get_or_insert_with(|| screen.to_owned());
    }

    /// Why the last manifest request brought no manifest, while no later one was answered.
    pub fn problem(&self) -> Option<Problem> {
        self.problem
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    fn set_problem(&self, problem: Option<Problem>) {
        *self
            .problem
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = problem;
    }

    fn set_manifest_refusal(&self, refusal: Option<String>) {
        *self
            .manifest_refusal
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = refusal;
    }

    /// Opens the `data` of a pushed `event` that acts on the screen (interrupt, trigger, command):
    /// a [`vitrine_core::push::Envelope`] whose signature must verify with the scheduler's key this
    /// player already trusts, for this screen and this kind of event, not expired at `now`.
    /// Returns the signed event: its id and its own fields.
    pub fn open_event(
        &self,
        event: &str,
        data: &str,
        now: jiff::Timestamp,
    ) -> anyhow::Result<vitrine_core::push::SignedEvent> {
        let envelope: vitrine_core::push::Envelope =
            serde_json::from_str(data).with_context(|| {
                format!(
                    "refused an unsigned pushed `{event}`: HQ signs every event that acts on the \
                 screen, so this one was made or altered on the way"
                )
            })?;
        // An event never teaches the player a key: that is the manifest's job, on first use.
        let key = self.trust.current().with_context(|| {
            format!(
                "refused a pushed `{event}`: no scheduler key is known yet to check it with (set \
                 `server_key`, or wait for the first manifest)"
            )
        })?;
        let signature: [u8; 64] = hex::decode(envelope.signature.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .with_context(|| {
                format!("refused a pushed `{event}` whose signature is not 128 hex characters")
            })?;
        use ed25519_dalek::Verifier;
        key.verify(
            envelope.signed.as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&signature),
        )
        .map_err(|_| {
            anyhow::anyhow!(
                "refused a pushed `{event}` whose signature does not verify with the scheduler's \
                 key: it was made or altered on the way"
            )
        })?;
        let signed: vitrine_core::push::SignedEvent = serde_json::from_str(&envelope.signed)
            .with_context(|| format!("a signed `{event}` that does not parse"))?;
        signed.check(self.screen().as_deref(), event, now)?;
        Ok(signed)
    }

    /// Why the last manifest from the scheduler was refused (a missing or wrong signature), while
    /// no later one has verified; for the heartbeat's alerts.
    pub fn manifest_alert(&self) -> Option<String> {
        self.manifest_refusal
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// Verifies every manifest against `trust` before it is used.
    pub fn with_trust(mut self, trust: crate::pairing::ManifestTrust) -> Self {
        self.trust = Arc::new(trust);
        self
    }

    /// The scheduler's manifest-signing key as it presents it (`GET /v1/server-key`).
    async fn fetch_server_key(&self) -> anyhow::Result<String> {
        let key = self
            .hq
            .server_key()
            .await
            .map_err(refused("the scheduler did not give its manifest key"))?;
        Ok(key.public_key)
    }

    /// Lets every answer from HQ set `clock`, from its `Date` header.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.hq = self
            .hq
            .with_answer_observer(move |headers| observe_clock(&clock, headers));
        self
    }

    /// Caps all downloads of this client together at `bytes_per_second`.
    pub fn with_bandwidth_limit(mut self, bytes_per_second: Option<u64>) -> Self {
        self.bandwidth = bytes_per_second.map(Bandwidth::new);
        self
    }

    pub async fn fetch_manifest(&self, etag: Option<&str>) -> anyhow::Result<ManifestFetch> {
        let response = match self.hq.manifest(etag).await {
            Ok(ManifestAnswer::Changed(response)) => response,
            Ok(ManifestAnswer::NotModified) => {
                self.set_problem(None);
                return Ok(ManifestFetch::NotModified);
            }
            Ok(ManifestAnswer::NoPlaylist) => {
                self.set_problem(Some(Problem::NoPlaylist));
                return Ok(ManifestFetch::NoPlaylist);
            }
            Err(error) => return Err(self.manifest_failed(error)),
        };
        // A manifest came: whatever is wrong with it is a refusal of its own (an alert), not a
        // reason the scheduler gave no content.
        self.set_problem(None);
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .context("the scheduler sent a manifest without an ETag")?;
        let signature = response
            .headers()
            .get(crate::pairing::SIGNATURE_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = read_capped(response, MAX_MANIFEST_BYTES).await?;
        // Nothing of a manifest is used before its signature checks out.
        let verified = self
            .trust
            .verify(&body, signature.as_deref(), || self.fetch_server_key())
            .await;
        // Only a refusal is worth an alert; failing to reach the key is being offline.
        let refusal = verified
            .as_ref()
            .err()
            .map(|error| format!("{error:#}"))
            .filter(|message| message.starts_with("refused"));
        if verified.is_ok() || refusal.is_some() {
            self.set_manifest_refusal(refusal);
        }
        verified?;
        let manifest = Manifest::decode(&body)
            .context("the scheduler sent a manifest this player cannot play")?;
        Ok(ManifestFetch::New(Box::new(ActiveManifest {
            etag,
            manifest,
        })))
    }

    /// Records why a manifest request brought nothing, for the screen and the heartbeat: the
    /// scheduler unreachable, or its refusal of the token. Returns the error to log.
    fn manifest_failed(&self, error: anyhow::Error) -> anyhow::Error {
        let Some(refusal) = error.downcast_ref::<ServerError>() else {
            self.set_problem(crate::problem::unreachable(&error, self.hq.base_url()));
            return error;
        };
        if refusal.status != StatusCode::UNAUTHORIZED {
            // Whatever it says, the scheduler answered: only its answer can be the problem now.
            self.set_problem(None);
            return error.context("the scheduler refused the manifest request");
        }
        if refusal.code.as_deref() == Some("token_revoked") {
            self.set_problem(Some(Problem::TokenRevoked));
            return anyhow::anyhow!(
                "HQ revoked this screen's token: it keeps playing its cache and needs pairing \
                 again (delete the token or {} from the data folder and restart the player, then \
                 confirm the code it shows with `vitrine screens pair`), or a new token from \
                 `vitrine screens rotate`",
                crate::pairing::CREDENTIALS_FILE
            );
        }
        self.set_problem(Some(Problem::TokenRefused));
        anyhow::anyhow!("the scheduler does not know this screen's token: {refusal}")
    }

    /// Downloads one media file of `expected_size` bytes (as the manifest states it) into
    /// `part_path`, checks its digest, and renames it to `final_path`. A download cut short resumes
    /// where it stopped (HTTP `Range`). A file whose bytes do not match, or that runs past its
    /// size, is deleted and never reaches its final name.
    pub async fn download(
        &self,
        sha256: &Sha256Hex,
        expected_size: u64,
        part_path: &Path,
        final_path: &Path,
    ) -> anyhow::Result<u64> {
        // Hash what an earlier attempt left, so the digest covers the whole file once resumed.
        let mut hasher = Sha256::new();
        let mut have = 0u64;
        if let Ok(mut partial) = tokio::fs::File::open(part_path).await {
            use tokio::io::AsyncReadExt;
            let mut buffer = vec![0u8; 256 * 1024];
            loop {
                let read = partial.read(&mut buffer).await?;
                if read == 0 {
                    break;
                }
                hasher.update(&buffer[..read]);
                have += read as u64;
            }
        }
        if have > expected_size {
            // Longer than the whole file: nothing in it can be right.
            let _ = tokio::fs::remove_file(part_path).await;
            hasher = Sha256::new();
            have = 0;
        }
        let answer = self
            .hq
            .media(sha256, have)
            .await
            .map_err(refused(format!("the scheduler refused media {sha256}")))?;
        let (response, mut file) = match answer {
            MediaAnswer::Rest(response) => {
                tracing::info!(%sha256, resumed_at = have, "resuming a download");
                let file = tokio::fs::OpenOptions::new()
                    .append(true)
                    .open(part_path)
                    .await?;
                (response, file)
            }
            // The server sent the whole file: start over.
            MediaAnswer::Whole(response) => {
                hasher = Sha256::new();
                have = 0;
                let file = tokio::fs::File::create(part_path)
                    .await
                    .with_context(|| format!("cannot write {}", part_path.display()))?;
                (response, file)
            }
            // The part was already complete, or longer than the file: the next attempt starts
            // over.
            MediaAnswer::PastTheEnd => {
                let _ = tokio::fs::remove_file(part_path).await;
                bail!("media {sha256}: the partial download was longer than the file; restarting");
            }
        };
        let mut size = have;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.with_context(|| format!("download of media {sha256} broke off"))?;
            if let Some(bandwidth) = &self.bandwidth {
                bandwidth.acquire(chunk.len() as u64).await;
            }
            if size + chunk.len() as u64 > expected_size {
                drop(file);
                let _ = tokio::fs::remove_file(part_path).await;
                bail!(
                    "media {sha256} ran past the {expected_size} bytes its manifest states; \
                     discarded, and the manifest is not activated until the scheduler serves the \
                     file it lists (push the playlist again if the file was replaced)"
                );
            }
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if let Err(error) = file.write_all(&chunk).await {
                return Err(disk_error(error, part_path, sha256).await);
            }
        }
        if let Err(error) = file.sync_all().await {
            return Err(disk_error(error, part_path, sha256).await);
        }
        drop(file);
        let actual = Sha256Hex::from_hasher(hasher);
        if &actual != sha256 {
            let _ = tokio::fs::remove_file(part_path).await;
            bail!(
                "media {sha256} arrived with digest {actual}; discarded, it will be fetched again"
            );
        }
        tokio::fs::rename(part_path, final_path).await?;
        Ok(size)
    }

    /// Opens this screen's event stream (`GET /v1/events`), resuming after `last_event_id`: the
    /// checked answer, whose body is the stream (see [`HqClient::events`]).
    pub async fn open_events(
        &self,
        last_event_id: Option<&str>,
    ) -> anyhow::Result<reqwest::Response> {
        self.hq
            .events(last_event_id)
            .await
            .map_err(refused("the scheduler refused the event stream"))
    }

    pub async fn post_heartbeat(&self, heartbeat: &vitrine_core::Heartbeat) -> anyhow::Result<()> {
        self.hq
            .heartbeat(heartbeat)
            .await
            .map_err(refused("the scheduler refused the heartbeat"))
    }

    /// Sends a screenshot (a JPEG) to `PUT /v1/screenshot`. A refusal carries HQ's words.
    pub async fn put_screenshot(&self, jpeg: Vec<u8>) -> anyhow::Result<()> {
        self.hq
            .upload_screenshot(jpeg)
            .await
            .map_err(refused("the scheduler refused the screenshot"))
    }

    pub async fn upload(&self, batch: &ImpressionBatch) -> anyhow::Result<ImpressionAck> {
        self.hq
            .upload_impressions(batch, &self.batch_key)
            .await
            .map_err(refused(format!(
                "the scheduler refused {} impressions",
                batch.impressions.len()
            )))
    }
}

/// Says `what` the scheduler refused when the error is its refusal (a [`ServerError`]); a failure
/// to reach it, which already names the server, passes as it is.
fn refused(what: impl Into<String>) -> impl FnOnce(anyhow::Error) -> anyhow::Error {
    let what = what.into();
    move |error| {
        if error.is::<ServerError>() {
            error.context(what)
        } else {
            error
        }
    }
}

/// Takes HQ's time from the `Date` header of an answer.
fn observe_clock(clock: &SharedClock, headers: &HeaderMap) {
    if let Some(date) = headers
        .get(reqwest::header::DATE)
        .and_then(|value| value.to_str().ok())
    {
        clock.observe_date_header(date, std::time::Instant::now());
    }
}

/// The body of `response`, refused once it runs past `limit` bytes (by its `Content-Length` or as
/// it streams).
async fn read_capped(response: reqwest::Response, limit: u64) -> anyhow::Result<Vec<u8>> {
    let too_long = || {
        anyhow::anyhow!(
            "refused a manifest longer than {limit} bytes (MAX_MANIFEST_BYTES): no real manifest \
             is that long. The current content keeps playing"
        )
    };
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(too_long());
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.context("the manifest download broke off")?;
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A write to a download's `.part` file failed. When the disk is full the part is deleted at once
/// (a half file helps nobody and takes the room others need) and the error says so; the sync then
/// frees what it may and tries again later. The cache's finished files are never touched here.
async fn disk_error(error: std::io::Error, part_path: &Path, sha256: &Sha256Hex) -> anyhow::Error {
    if error.kind() == std::io::ErrorKind::StorageFull || error.raw_os_error() == Some(28) {
        let _ = tokio::fs::remove_file(part_path).await;
        anyhow::Error::new(error).context(format!(
            "the disk is full while downloading media {sha256}: the partial file was removed; \
             set `[cache] disk_budget` below the free space of {}",
            part_path.parent().unwrap_or(part_path).display()
        ))
    } else {
        anyhow::Error::new(error).context(format!("cannot write {}", part_path.display()))
    }
}

/// Whether a failure came from a full disk.
pub fn is_disk_full(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|error| {
            error.kind() == std::io::ErrorKind::StorageFull || error.raw_os_error() == Some(28)
        })
    })
}

/// How a sync round fetches and keeps media.
#[derive(Clone, Debug)]
pub struct SyncPolicy {
    /// How many files download at once.
    pub parallel_downloads: usize,
    /// The most bytes the cache may hold; `None` for no limit.
    pub disk_budget: Option<u64>,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        Self {
            parallel_downloads: 3,
            disk_budget: None,
        }
    }
}

/// How every client of the scheduler in the player starts (the sync's and pairing's): the
/// player's user agent and timeouts, and the CA certificate in `ca_cert` (PEM) trusted besides the
/// system's roots when given. The read timeout, longer than the scheduler's keep-alive interval on
/// the event stream, notices a dead connection under a download or the stream.
pub fn hq_client_builder(server: &str, ca_cert: Option<&[u8]>) -> anyhow::Result<HqClientBuilder> {
    let certificate = ca_cert
        .map(|pem| {
            reqwest::Certificate::from_pem(pem).context("`ca_cert` is not a PEM certificate")
        })
        .transpose()?;
    Ok(HqClient::builder(server)
        .user_agent(concat!("vitrine-player/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .ca_certificate(certificate))
}

/// Whether a sync failed because the scheduler could not be reached at all (refused, unreachable,
/// timed out), as opposed to answering badly. Only the former is a reason to back off: a fleet
/// retrying a scheduler that is down only keeps it down.
pub fn is_unreachable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<reqwest::Error>()
            .is_some_and(|error| error.is_connect() || error.is_timeout())
    })
}

/// One round of manifest sync: fetch, download what is missing, activate when complete.
/// Returns the ETag now active.
pub async fn sync_once(
    client: &SyncClient,
    cache: &Arc<std::sync::Mutex<MediaCache>>,
    active_etag: Option<String>,
    sink: &SharedSink,
    policy: &SyncPolicy,
) -> anyhow::Result<Option<String>> {
    let fetched = client.fetch_manifest(active_etag.as_deref()).await?;
    let candidate = match fetched {
        ManifestFetch::NotModified => return Ok(active_etag),
        ManifestFetch::NoPlaylist => {
            tracing::warn!("the scheduler has no playlist for this screen yet; push one to it");
            return Ok(active_etag);
        }
        ManifestFetch::New(candidate) => *candidate,
    };
    {
        // Signed is not enough: it must be this screen's, and not older than what plays.
        // A stored manifest that no longer reads binds nothing; the new one replaces it.
        let active = cache.lock().expect("cache lock").active_manifest();
        // What a standalone folder played binds nothing either: it was never HQ's.
        let active = active
            .ok()
            .flatten()
            .map(|active| active.manifest)
            .filter(|manifest| manifest.screen != crate::standalone::STANDALONE_SCREEN);
        if let Some(active) = &active {
            client.learn_screen(&active.screen);
        }
        if let Err(refusal) = candidate
            .manifest
            .may_follow(client.screen().as_deref(), active.as_ref())
        {
            // The sync loop logs the error; the heartbeat carries it to HQ as an alert.
            client.set_manifest_refusal(Some(refusal.to_string()));
            return Err(refusal.into());
        }
    }
    let missing = {
        let cache = cache.lock().expect("cache lock");
        candidate
            .manifest
            .media_entries()
            .into_iter()
            .filter(|entry| !cache.has_verified(&entry.sha256).unwrap_or(false))
            .map(|entry| {
                (
                    entry.sha256.clone(),
                    entry.size,
                    cache.part_path_of(&entry.sha256),
                    cache.path_of(&entry.sha256),
                )
            })
            .collect::<Vec<_>>()
    };
    tracing::info!(
        playlist = %candidate.manifest.playlist.name,
        version = candidate.manifest.version,
        playlist_version = candidate.manifest.playlist_version,
        missing = missing.len(),
        "new manifest"
    );
    if let Some(budget) = policy.disk_budget {
        make_room_for(cache, &candidate.manifest, &missing, budget)?;
    }
    // Soonest needed first, a few at a time; each file is verified and recorded as it lands, so a
    // cut round keeps what it finished.
    let digests: Vec<Sha256Hex> = missing
        .iter()
        .map(|(sha256, _, _, _)| sha256.clone())
        .collect();
    let order = crate::downloads::order_by_first_need(
        &candidate.manifest,
        &digests,
        jiff::Timestamp::now(),
    );
    let mut by_digest: std::collections::HashMap<Sha256Hex, (u64, PathBuf, PathBuf)> = missing
        .into_iter()
        .map(|(sha256, size, part, done)| (sha256, (size, part, done)))
        .collect();
    let jobs: Vec<(Sha256Hex, u64, PathBuf, PathBuf)> = order
        .into_iter()
        .filter_map(|sha256| {
            let (size, part, done) = by_digest.remove(&sha256)?;
            Some((sha256, size, part, done))
        })
        .collect();
    let mut downloads = futures_util::stream::iter(jobs)
        .map(
            |(sha256, expected_size, part_path, final_path)| async move {
                let size = client
                    .download(&sha256, expected_size, &part_path, &final_path)
                    .await?;
                anyhow::Ok((sha256, size))
            },
        )
        .buffer_unordered(policy.parallel_downloads.max(1));
    let mut first_error = None;
    while let Some(result) = downloads.next().await {
        match result {
            Ok((sha256, size)) => {
                crate::metrics::global().record_download(Some(size));
                cache
                    .lock()
                    .expect("cache lock")
                    .record_verified(&sha256, size)?;
                tracing::info!(%sha256, size, "media verified");
            }
            Err(error) => {
                crate::metrics::global().record_download(None);
                first_error.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_error {
        if is_disk_full(&error) {
            // Free what no manifest needs, so the next round has room.
            let cache = cache.lock().expect("cache lock");
            let keep = keep_set(&cache, &candidate.manifest)?;
            cache.remove_parts(&keep)?;
            cache.make_room(u64::MAX / 2, 0, &keep)?;
        }
        return Err(error);
    }
    {
        // Atomic switch: only now, with every file verified, does the new manifest play.
        let cache = cache.lock().expect("cache lock");
        let still_missing = cache.missing_media(&candidate.manifest)?;
        if !still_missing.is_empty() {
            bail!(
                "{} media files vanished from the cache during sync",
                still_missing.len()
            );
        }
        cache.activate(&candidate)?;
        let digests: Vec<Sha256Hex> = candidate
            .manifest
            .media_entries()
            .into_iter()
            .map(|entry| entry.sha256.clone())
            .collect();
        cache.touch(&digests)?;
    }
    client.learn_screen(&candidate.manifest.screen);
    tracing::info!(etag = %candidate.etag, "manifest activated");
    sink.post(PlayerEvent::ManifestActivated(Arc::new(candidate.manifest)));
    Ok(Some(candidate.etag))
}

/// What eviction must leave alone: the media of the playing manifest and of `incoming`.
fn keep_set(cache: &MediaCache, incoming: &Manifest) -> anyhow::Result<HashSet<Sha256Hex>> {
    let mut keep: HashSet<Sha256Hex> = incoming
        .media_entries()
        .into_iter()
        .map(|entry| entry.sha256.clone())
        .collect();
    if let Ok(Some(active)) = cache.active_manifest() {
        keep.extend(
            active
                .manifest
                .media_entries()
                .into_iter()
                .map(|entry| entry.sha256.clone()),
        );
    }
    Ok(keep)
}

/// Evicts what neither manifest needs until `missing` fits the budget. When it cannot fit, the
/// round stops before downloading anything, the playing manifest plays on, and the alert says
/// how much is missing.
fn make_room_for(
    cache: &Arc<std::sync::Mutex<MediaCache>>,
    incoming: &Manifest,
    missing: &[(Sha256Hex, u64, PathBuf, PathBuf)],
    budget: u64,
) -> anyhow::Result<()> {
    let needed: u64 = incoming
        .media_entries()
        .into_iter()
        .filter(|entry| {
            missing
                .iter()
                .any(|(sha256, _, _, _)| *sha256 == entry.sha256)
        })
        .map(|entry| entry.size)
        .sum();
    let mut cache = cache.lock().expect("cache lock");
    let keep = keep_set(&cache, incoming)?;
    if cache.make_room(needed, budget, &keep)? {
        cache.set_budget_alert(None);
        return Ok(());
    }
    let used = cache.used_bytes()?;
    let alert = format!(
        "playlist `{}` version {} needs {needed} more bytes of media, but the cache holds {used} \
         bytes the playing and the new manifest both need and the disk budget is {budget} bytes \
         (`[cache] disk_budget` in the player config); the current content plays on until the \
         budget is raised or the playlist slimmed",
        incoming.playlist.name, incoming.playlist_version
    );
    // Said once as an error; the retries that follow only repeat it as the sync's warning.
    if cache.budget_alert().as_deref() != Some(alert.as_str()) {
        tracing::error!("{alert}");
    }
    cache.set_budget_alert(Some(alert.clone()));
    bail!(alert)
}

/// A test HTTP server small enough to answer exactly as a test needs, malformed answers included.
#[cfg(test)]
pub(crate) mod test_http {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A one-connection HTTP server on loopback that answers any request with `status`, the extra
    /// header lines `headers` and `body`, with a `Content-Length` or, without one, until it closes.
    pub(crate) fn answer_once(
        status: &str,
        headers: String,
        body: Vec<u8>,
        with_length: bool,
    ) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let status = status.to_owned();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let length = if with_length {
                format!("Content-Length: {}\r\n", body.len())
            } else {
                String::new()
            };
            // The client may hang up as soon as it has seen enough; that is not an error here.
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{headers}{length}Connection: close\r\n\r\n"
            )
            .and_then(|()| stream.write_all(&body));
        });
        format!("http://{address}")
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    use super::test_http::answer_once;
    use super::*;

    /// A one-request HTTP server on loopback that answers a `Range` request the way the scheduler
    /// does, and reports the request it saw.
    fn serve_once(file: Vec<u8>) -> (String, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (seen, requests) = mpsc::channel();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
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
            let range_start = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("range: bytes=")
                        .map(str::to_owned)
                })
                .and_then(|range| range.trim_end_matches('-').parse::<usize>().ok());
            seen.send(head).unwrap();
            let mut stream = stream;
            let (status, body) = match range_start {
                Some(start) => ("206 Partial Content", &file[start..]),
                None => ("200 OK", &file[..]),
            };
            write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .unwrap();
            stream.write_all(body).unwrap();
        });
        (format!("http://{address}"), requests)
    }

    #[tokio::test]
    async fn a_cut_download_resumes_where_it_stopped_and_is_verified_whole() {
        let file: Vec<u8> = (0..100_000u32).map(|index| (index % 251) as u8).collect();
        let digest = Sha256Hex::of_bytes(&file);
        let folder = tempfile::tempdir().unwrap();
        let part = folder.path().join("media.part");
        let done = folder.path().join("media");
        // What an earlier attempt left before the connection broke.
        std::fs::write(&part, &file[..40_000]).unwrap();

        let (server, requests) = serve_once(file.clone());
        let client = SyncClient::new(&server, "token", None).unwrap();
        let size = client
            .download(&digest, file.len() as u64, &part, &done)
            .await
            .unwrap();

        let request = requests.recv().unwrap().to_ascii_lowercase();
        assert!(request.contains("range: bytes=40000-"), "{request}");
        assert_eq!(size, 100_000);
        assert_eq!(std::fs::read(&done).unwrap(), file);
        assert!(!part.exists());
    }

    #[tokio::test]
    async fn a_resumed_download_whose_start_was_wrong_never_takes_its_name() {
        let file: Vec<u8> = (0..50_000u32).map(|index| (index % 239) as u8).collect();
        let digest = Sha256Hex::of_bytes(&file);
        let folder = tempfile::tempdir().unwrap();
        let part = folder.path().join("media.part");
        let done = folder.path().join("media");
        // A part file whose bytes were damaged on disk.
        std::fs::write(&part, vec![0u8; 10_000]).unwrap();

        let (server, _requests) = serve_once(file);
        let client = SyncClient::new(&server, "token", None).unwrap();
        let error = client
            .download(&digest, 50_000, &part, &done)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("discarded"), "{error:#}");
        assert!(
            !done.exists(),
            "the damaged file never reaches its final name"
        );
        assert!(!part.exists(), "and the next attempt starts from scratch");
    }

    #[tokio::test]
    async fn a_download_that_runs_past_its_stated_size_is_refused_and_never_kept() {
        let file = vec![7u8; 5000];
        let digest = Sha256Hex::of_bytes(&file);
        let folder = tempfile::tempdir().unwrap();
        let part = folder.path().join("media.part");
        let done = folder.path().join("media");
        // The manifest said 1000 bytes; the server sends 5000, all of them the right file's.
        let server = answer_once("200 OK", String::new(), file, false);
        let client = SyncClient::new(&server, "token", None).unwrap();
        let error = client
            .download(&digest, 1000, &part, &done)
            .await
            .unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("ran past the 1000 bytes"), "{message}");
        assert!(!done.exists() && !part.exists());
    }

    #[tokio::test]
    async fn a_manifest_longer_than_the_cap_is_refused_with_or_without_a_length() {
        for with_length in [true, false] {
            let server = answer_once("200 OK", String::new(), vec![b' '; 5000], with_length);
            let response = reqwest::get(&server).await.unwrap();
            let error = read_capped(response, 1000).await.unwrap_err();
            assert!(
                error.to_string().contains("longer than 1000 bytes"),
                "{error:#}"
            );
        }
        let server = answer_once("200 OK", String::new(), vec![b' '; 1000], false);
        let response = reqwest::get(&server).await.unwrap();
        assert_eq!(read_capped(response, 1000).await.unwrap().len(), 1000);
    }

    /// A manifest for `screen` at `version` with no media, signed by `key`, as the scheduler
    /// serves it: the URL of a server answering with it.
    fn serve_manifest(key: &ed25519_dalek::SigningKey, screen: &str, version: u64) -> String {
        use ed25519_dalek::Signer;
        let playlist = vitrine_core::parse_playlist(
            "p.yaml",
            "version: 1\nname: p\nitems:\n  - text: { text: Hi, duration: 1s }\n",
        )
        .unwrap();
        let mut manifest = Manifest::build(screen, "UTC", &playlist, 1, |_| None).unwrap();
        manifest.version = version;
        let body = serde_json::to_vec(&manifest).unwrap();
        let signature = hex::encode(key.sign(&body).to_bytes());
        let headers = format!(
            "Content-Type: application/json\r\nETag: \"v{version}\"\r\n\
             {}: {signature}\r\n",
            crate::pairing::SIGNATURE_HEADER
        );
        answer_once("200 OK", headers, body, true)
    }

    #[tokio::test]
    async fn a_signed_manifest_for_another_screen_or_an_older_version_is_not_activated() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
        let folder = tempfile::tempdir().unwrap();
        let cache = Arc::new(std::sync::Mutex::new(
            MediaCache::open(folder.path()).unwrap(),
        ));
        let (sender, _events) = std::sync::mpsc::channel();
        let sink: SharedSink = Arc::new(sender);
        let client_of = |server: &str| {
            SyncClient::new(server, "token", None)
                .unwrap()
                .with_trust(crate::pairing::ManifestTrust::pinned(key.verifying_key()))
        };
        let active_version = |cache: &Arc<std::sync::Mutex<MediaCache>>| {
            let active = cache.lock().unwrap().active_manifest().unwrap().unwrap();
            (active.manifest.screen, active.manifest.version)
        };

        // The first manifest names the screen; it plays.
        let client = client_of(&serve_manifest(&key, "door", 10));
        let etag = sync_once(&client, &cache, None, &sink, &SyncPolicy::default())
            .await
            .unwrap();
        assert_eq!(etag.as_deref(), Some("\"v10\""));
        assert_eq!(active_version(&cache), ("door".into(), 10));

        // Genuinely signed, but older, or another screen's: refused, with an alert, and the
        // active manifest stays.
        for (screen, version, why) in [
            ("door", 9, "refused manifest version 9"),
            ("till", 11, "made for screen `till`"),
        ] {
            let client = client_of(&serve_manifest(&key, screen, version));
            let error = sync_once(&client, &cache, etag.clone(), &sink, &SyncPolicy::default())
                .await
                .unwrap_err();
            assert!(error.to_string().contains(why), "{error:#}");
            assert!(
                client
                    .manifest_alert()
                    .is_some_and(|alert| alert.contains(why)),
                "{:?}",
                client.manifest_alert()
            );
            assert_eq!(active_version(&cache), ("door".into(), 10));
        }

        // A player configured with its name refuses another screen's even as its first manifest.
        let fresh = tempfile::tempdir().unwrap();
        let empty = Arc::new(std::sync::Mutex::new(
            MediaCache::open(fresh.path()).unwrap(),
        ));
        let client = client_of(&serve_manifest(&key, "till", 1)).with_screen(Some("door".into()));
        assert!(
            sync_once(&client, &empty, None, &sink, &SyncPolicy::default())
                .await
                .is_err()
        );
        assert!(empty.lock().unwrap().active_manifest().unwrap().is_none());

        // What a standalone folder played before binds nothing.
        let was_standalone = tempfile::tempdir().unwrap();
        let local = Arc::new(std::sync::Mutex::new(
            MediaCache::open(was_standalone.path()).unwrap(),
        ));
        let playlist = vitrine_core::parse_playlist(
            "p.yaml",
            "version: 1\nname: p\nitems:\n  - text: { text: Hi, duration: 1s }\n",
        )
        .unwrap();
        let mut standalone = Manifest::build(
            crate::standalone::STANDALONE_SCREEN,
            "UTC",
            &playlist,
            1,
            |_| None,
        )
        .unwrap();
        standalone.version = 99;
        local
            .lock()
            .unwrap()
            .activate(&ActiveManifest {
                etag: "local".into(),
                manifest: standalone,
            })
            .unwrap();
        let client = client_of(&serve_manifest(&key, "door", 1));
        sync_once(&client, &local, None, &sink, &SyncPolicy::default())
            .await
            .unwrap();
        assert_eq!(active_version(&local), ("door".into(), 1));

        // A newer version plays.
        let client = client_of(&serve_manifest(&key, "door", 11));
        sync_once(&client, &cache, etag, &sink, &SyncPolicy::default())
            .await
            .unwrap();
        assert_eq!(active_version(&cache), ("door".into(), 11));
    }

    #[tokio::test]
    async fn the_schedulers_answer_says_why_there_is_no_manifest_until_one_comes() {
        let error_body = |code: &str| {
            format!(r#"{{"error":{{"code":"{code}","message":"as the scheduler says it"}}}}"#)
                .into_bytes()
        };
        let json = || "Content-Type: application/json\r\n".to_owned();
        for (status, body, problem) in [
            (
                "401 Unauthorized",
                error_body("token_revoked"),
                Problem::TokenRevoked,
            ),
            (
                "401 Unauthorized",
                error_body("unauthorized"),
                Problem::TokenRefused,
            ),
            (
                "404 Not Found",
                error_body("no_playlist"),
                Problem::NoPlaylist,
            ),
        ] {
            let client =
                SyncClient::new(&answer_once(status, json(), body, true), "token", None).unwrap();
            let _ = client.fetch_manifest(None).await;
            assert_eq!(client.problem(), Some(problem), "{status}");
        }
        // Any later answer from the scheduler, even one with nothing new, clears it.
        let client = SyncClient::new(
            &answer_once("404 Not Found", json(), Vec::new(), true),
            "t",
            None,
        )
        .unwrap();
        let _ = client.fetch_manifest(None).await;
        assert_eq!(client.problem(), Some(Problem::NoPlaylist));
        // The same client (its clones share what it knows) asking a server that answers.
        let mut later = client.clone();
        let answering = answer_once(
            "304 Not Modified",
            "ETag: \"v1\"\r\n".to_owned(),
            Vec::new(),
            true,
        );
        later.hq = SyncClient::new(&answering, "t", None).unwrap().hq;
        assert!(matches!(
            later.fetch_manifest(Some("\"v1\"")).await.unwrap(),
            ManifestFetch::NotModified
        ));
        assert_eq!(client.problem(), None);
    }

    #[tokio::test]
    async fn a_full_disk_removes_the_part_and_says_what_to_set() {
        let folder = tempfile::tempdir().unwrap();
        let part = folder.path().join("media.part");
        std::fs::write(&part, vec![7u8; 4096]).unwrap();
        let digest = Sha256Hex::of_bytes(b"a file that did not fit");
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let error = disk_error(full, &part, &digest).await;
        assert!(is_disk_full(&error), "{error:#}");
        assert!(!part.exists(), "the half file is gone");
        let message = format!("{error:#}");
        assert!(
            message.contains("disk is full") && message.contains("disk_budget"),
            "{message}"
        );

        // Any other write error keeps the part for the next attempt to resume.
        std::fs::write(&part, vec![7u8; 4096]).unwrap();
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let error = disk_error(denied, &part, &digest).await;
        assert!(!is_disk_full(&error));
        assert!(part.exists());
    }
}
