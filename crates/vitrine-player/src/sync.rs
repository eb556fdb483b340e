//! The sync client: fetches this screen's manifest from the scheduler, downloads and verifies its
//! media into the cache, and activates it only when every file is there. Uploads proof of play.
//!
//! Being offline is an expected state, not an error worth a panic: every failure here is logged and
//! retried on the next round while the screen keeps playing what it has.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, ETAG, IF_NONE_MATCH, RANGE};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use vitrine_core::{ImpressionAck, ImpressionBatch, Manifest, Sha256Hex};

use crate::cache::{ActiveManifest, MediaCache};
use crate::events::{PlayerEvent, SharedSink};

/// The scheduler's answer to a manifest request.
#[derive(Debug)]
pub enum ManifestFetch {
    NotModified,
    New(Box<ActiveManifest>),
    /// The scheduler knows the screen but its playlist has not been pushed yet.
    NoPlaylist,
}

#[derive(Clone)]
pub struct SyncClient {
    http: reqwest::Client,
    server: String,
    authorization: String,
    /// The key every manifest must be signed with (see [`crate::pairing`]).
    trust: Arc<crate::pairing::ManifestTrust>,
}

impl SyncClient {
    pub fn new(server: &str, token: &str) -> anyhow::Result<Self> {
        let http = http_client(None)?;
        Ok(Self {
            http,
            server: server.trim_end_matches('/').to_owned(),
            authorization: format!("Bearer {token}"),
            trust: Arc::new(crate::pairing::ManifestTrust::first_use_in_memory()),
        })
    }

    /// The HTTP client, with its TLS settings, for calls outside this client (pairing).
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// Verifies every manifest against `trust` before it is used.
    pub fn with_trust(mut self, trust: crate::pairing::ManifestTrust) -> Self {
        self.trust = Arc::new(trust);
        self
    }

    /// Also trusts the CA certificate in `pem`, for a scheduler behind a private CA.
    pub fn with_ca_cert(mut self, pem: Option<&[u8]>) -> anyhow::Result<Self> {
        if let Some(pem) = pem {
            let certificate = reqwest::Certificate::from_pem(pem)
                .context("`ca_cert` is not a PEM certificate")?;
            self.http = http_client(Some(certificate))?;
        }
        Ok(self)
    }

    /// The scheduler's manifest-signing key as it presents it (`GET /v1/server-key`).
    async fn fetch_server_key(&self) -> anyhow::Result<String> {
        #[derive(serde::Deserialize)]
        struct ServerKey {
            public_key: String,
        }
        let response = self
            .http
            .get(format!("{}/v1/server-key", self.server))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .with_context(|| format!("cannot reach the scheduler at {}", self.server))?;
        if !response.status().is_success() {
            bail!(
                "the scheduler did not give its manifest key ({})",
                response.status()
            );
        }
        Ok(response.json::<ServerKey>().await?.public_key)
    }

    pub async fn fetch_manifest(&self, etag: Option<&str>) -> anyhow::Result<ManifestFetch> {
        let mut request = self
            .http
            .get(format!("{}/v1/manifest", self.server))
            .header(AUTHORIZATION, &self.authorization)
            .timeout(Duration::from_secs(30));
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the scheduler at {}", self.server))?;
        match response.status() {
            StatusCode::NOT_MODIFIED => Ok(ManifestFetch::NotModified),
            StatusCode::NOT_FOUND => Ok(ManifestFetch::NoPlaylist),
            StatusCode::UNAUTHORIZED => {
                let body = response.text().await.unwrap_or_default();
                if body.contains("\"token_revoked\"") {
                    bail!(
                        "HQ revoked this screen's token: it keeps playing its cache and needs \
                         pairing again (delete the token or {} from the data folder and restart \
                         the player, then confirm the code it shows with `vitrine screens pair`), \
                         or a new token from `vitrine screens rotate`",
                        crate::pairing::CREDENTIALS_FILE
                    );
                }
                bail!("the scheduler does not know this screen's token (401): {body}");
            }
            StatusCode::OK => {
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
                let body = response
                    .bytes()
                    .await
                    .context("the manifest download broke off")?;
                // Nothing of a manifest is used before its signature checks out.
                self.trust
                    .verify(&body, signature.as_deref(), || self.fetch_server_key())
                    .await?;
                let manifest = Manifest::decode(&body)
                    .context("the scheduler sent a manifest this player cannot play")?;
                Ok(ManifestFetch::New(Box::new(ActiveManifest {
                    etag,
                    manifest,
                })))
            }
            status => bail!(
                "the scheduler refused the manifest request ({status}): {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }

    /// Downloads one media file into `part_path`, checks its digest, and renames it to `final_path`.
    /// A download cut short resumes where it stopped (HTTP `Range`). A file whose bytes do not match
    /// is deleted and never reaches its final name.
    pub async fn download(
        &self,
        sha256: &Sha256Hex,
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
        let mut request = self
            .http
            .get(format!("{}/v1/media/{sha256}", self.server))
            .header(AUTHORIZATION, &self.authorization);
        if have > 0 {
            request = request.header(RANGE, format!("bytes={have}-"));
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the scheduler at {}", self.server))?;
        let mut file = match response.status() {
            StatusCode::PARTIAL_CONTENT if have > 0 => {
                tracing::info!(%sha256, resumed_at = have, "resuming a download");
                tokio::fs::OpenOptions::new()
                    .append(true)
                    .open(part_path)
                    .await?
            }
            // The server sent the whole file (or the part was already complete and the range is
            // unsatisfiable): start over.
            StatusCode::OK | StatusCode::RANGE_NOT_SATISFIABLE => {
                hasher = Sha256::new();
                have = 0;
                if response.status() == StatusCode::RANGE_NOT_SATISFIABLE {
                    let _ = tokio::fs::remove_file(part_path).await;
                    bail!(
                        "media {sha256}: the partial download was longer than the file; restarting"
                    );
                }
                tokio::fs::File::create(part_path)
                    .await
                    .with_context(|| format!("cannot write {}", part_path.display()))?
            }
            status => bail!("the scheduler refused media {sha256} ({status})"),
        };
        let mut size = have;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.with_context(|| format!("download of media {sha256} broke off"))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
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

    /// Opens this screen's event stream (`GET /v1/events`), resuming after `last_event_id`. The
    /// response is checked; its body is the stream. No overall timeout: the stream is meant to stay
    /// open, and the client's read timeout, longer than the scheduler's keep-alive interval,
    /// notices a dead connection.
    pub async fn open_events(
        &self,
        last_event_id: Option<&str>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self
            .http
            .get(format!("{}/v1/events", self.server))
            .header(AUTHORIZATION, &self.authorization)
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the scheduler at {}", self.server))?;
        if response.status() != StatusCode::OK {
            bail!(
                "the scheduler refused the event stream ({}): {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        Ok(response)
    }

    pub async fn post_heartbeat(&self, heartbeat: &vitrine_core::Heartbeat) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!("{}/v1/heartbeat", self.server))
            .header(AUTHORIZATION, &self.authorization)
            .json(heartbeat)
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .with_context(|| format!("cannot reach the scheduler at {}", self.server))?;
        if !response.status().is_success() {
            bail!(
                "the scheduler refused the heartbeat ({})",
                response.status()
            );
        }
        Ok(())
    }

    pub async fn upload(&self, batch: &ImpressionBatch) -> anyhow::Result<ImpressionAck> {
        let response = self
            .http
            .post(format!("{}/v1/impressions", self.server))
            .header(AUTHORIZATION, &self.authorization)
            .json(batch)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .with_context(|| format!("cannot reach the scheduler at {}", self.server))?;
        if !response.status().is_success() {
            bail!(
                "the scheduler refused {} impressions ({}): {}",
                batch.impressions.len(),
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        Ok(response.json().await?)
    }
}

/// The HTTP client every call to the scheduler goes through, trusting `ca` besides the system's
/// roots when given.
fn http_client(ca: Option<reqwest::Certificate>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("vitrine-player/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = ca {
        builder = builder.add_root_certificate(ca);
    }
    Ok(builder.build()?)
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
                    cache.part_path_of(&entry.sha256),
                    cache.path_of(&entry.sha256),
                )
            })
            .collect::<Vec<_>>()
    };
    tracing::info!(
        playlist = %candidate.manifest.playlist.name,
        version = candidate.manifest.playlist_version,
        missing = missing.len(),
        "new manifest"
    );
    for (sha256, part_path, final_path) in missing {
        let size = client.download(&sha256, &part_path, &final_path).await?;
        cache
            .lock()
            .expect("cache lock")
            .record_verified(&sha256, size)?;
        tracing::info!(%sha256, size, "media verified");
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
    }
    tracing::info!(etag = %candidate.etag, "manifest activated");
    sink.post(PlayerEvent::ManifestActivated(Arc::new(candidate.manifest)));
    Ok(Some(candidate.etag))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

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
        let client = SyncClient::new(&server, "token").unwrap();
        let size = client.download(&digest, &part, &done).await.unwrap();

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
        let client = SyncClient::new(&server, "token").unwrap();
        let error = client.download(&digest, &part, &done).await.unwrap_err();
        assert!(error.to_string().contains("discarded"), "{error:#}");
        assert!(
            !done.exists(),
            "the damaged file never reaches its final name"
        );
        assert!(!part.exists(), "and the next attempt starts from scratch");
    }
}
