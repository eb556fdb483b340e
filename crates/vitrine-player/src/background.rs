//! The player's network side, on its own thread with its own tokio runtime: manifest sync, the push
//! client that wakes it, and the proof-of-play uploader. It posts [`PlayerEvent`]s and never touches
//! the GPU.
//!
//! Sync runs every `poll_interval`, and at once when the push client hears `manifest-changed`.
//! While the scheduler cannot be reached it backs off with jitter instead of retrying every poll.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use vitrine_core::ImpressionBatch;
use vitrine_core::impression::MAX_IMPRESSIONS_PER_BATCH;

use crate::cache::MediaCache;
use crate::events::SharedSink;
use crate::journal::Journal;
use crate::push::{Backoff, PushContext, push_loop};
use crate::status::SharedStatus;
use crate::sync::{SyncClient, is_unreachable, sync_once};

/// How long the final upload at shutdown may take before the player exits anyway. What is not sent
/// stays in the journal and goes with the next start.
const FINAL_UPLOAD_DEADLINE: Duration = Duration::from_secs(10);

pub struct Background {
    stop: watch::Sender<bool>,
    thread: JoinHandle<()>,
}

pub struct BackgroundSettings {
    pub client: SyncClient,
    pub data_dir: PathBuf,
    pub active_etag: Option<String>,
    pub poll_interval: Duration,
    pub upload_interval: Duration,
    /// Hold `GET /v1/events` open so pushes arrive in seconds; polling stays the fallback.
    pub push: bool,
    /// The most a retry waits while the scheduler is unreachable (push reconnects and sync).
    pub backoff_max: Duration,
    /// How often to tell HQ what plays and how well it draws.
    pub heartbeat_interval: Duration,
    /// What the render loop reports for the heartbeat.
    pub status: SharedStatus,
}

impl Background {
    pub fn start(settings: BackgroundSettings, sink: SharedSink) -> anyhow::Result<Self> {
        let cache = Arc::new(Mutex::new(MediaCache::open(&settings.data_dir)?));
        let journal = Journal::open(&settings.data_dir)?;
        let heartbeat_journal = Journal::open(&settings.data_dir)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("vitrine-net".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let wake_sync = Arc::new(Notify::new());
                    let (etag_sender, etag_receiver) = watch::channel(settings.active_etag);
                    let heartbeat = heartbeat_loop(
                        settings.client.clone(),
                        settings.status.clone(),
                        etag_receiver.clone(),
                        heartbeat_journal,
                        settings.heartbeat_interval,
                        stopped.clone(),
                    );
                    let push_context = settings.push.then(|| PushContext {
                        client: settings.client.clone(),
                        wake_sync: wake_sync.clone(),
                        active_etag: etag_receiver,
                        sink: sink.clone(),
                        backoff_max: settings.backoff_max,
                    });
                    let push_stopped = stopped.clone();
                    let push = async move {
                        if let Some(context) = push_context {
                            push_loop(context, push_stopped).await;
                        }
                    };
                    let sync = sync_loop(
                        SyncLoop {
                            client: settings.client.clone(),
                            cache,
                            active_etag: etag_sender,
                            poll_interval: settings.poll_interval,
                            backoff_max: settings.backoff_max,
                            wake: wake_sync.clone(),
                            sink: sink.clone(),
                        },
                        stopped.clone(),
                    );
                    let upload =
                        upload_loop(settings.client, journal, settings.upload_interval, stopped);
                    tokio::join!(sync, upload, push, heartbeat);
                });
            })?;
        Ok(Self { stop, thread })
    }

    /// Stops syncing, makes one last attempt to upload every journalled impression, and waits.
    pub fn shutdown(self) {
        let _ = self.stop.send(true);
        if self.thread.join().is_err() {
            tracing::error!("the network thread panicked during shutdown");
        }
    }
}

struct SyncLoop {
    client: SyncClient,
    cache: Arc<Mutex<MediaCache>>,
    /// The ETag playing now; the push client reads it to tell a real change from an echo.
    active_etag: watch::Sender<Option<String>>,
    poll_interval: Duration,
    backoff_max: Duration,
    /// Notified by the push client when the manifest changed or HQ asked for a resync.
    wake: Arc<Notify>,
    sink: SharedSink,
}

async fn sync_loop(settings: SyncLoop, mut stopped: watch::Receiver<bool>) {
    // The backoff's first ceiling is the poll interval, so a first failure waits no longer than a
    // poll would have; only repeated failures spread out, up to `backoff_max`.
    let mut backoff = Backoff::new(
        settings.poll_interval,
        settings.backoff_max.max(settings.poll_interval),
    );
    loop {
        let active = settings.active_etag.borrow().clone();
        let delay = match sync_once(&settings.client, &settings.cache, active, &settings.sink).await
        {
            Ok(etag) => {
                settings.active_etag.send_replace(etag);
                backoff.reset();
                settings.poll_interval
            }
            Err(error) if is_unreachable(&error) => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    retry_in_ms = delay.as_millis() as u64,
                    failures = backoff.failures(),
                    "the scheduler is unreachable, keeping the current content: {error:#}"
                );
                delay
            }
            Err(error) => {
                // The scheduler answered but the round failed (a bad download, say): retry at the
                // usual pace, since backing off would only delay the repair.
                backoff.reset();
                tracing::warn!("sync failed, keeping the current content: {error:#}");
                settings.poll_interval
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = settings.wake.notified() => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Tells HQ every `interval` what plays, how well it draws and how much proof of play waits. A
/// missed heartbeat is only logged: being offline is normal, and the next one says it all again.
async fn heartbeat_loop(
    client: SyncClient,
    status: SharedStatus,
    active_etag: watch::Receiver<Option<String>>,
    journal: Journal,
    interval: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let started = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopped.changed() => return,
        }
        let unsent = journal.unsent_count().unwrap_or_default();
        let heartbeat = status
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .heartbeat(
                active_etag.borrow().clone(),
                started.elapsed().as_secs(),
                unsent,
            );
        if let Err(error) = client.post_heartbeat(&heartbeat).await {
            tracing::debug!("heartbeat not delivered: {error:#}");
        }
    }
}

async fn upload_loop(
    client: SyncClient,
    mut journal: Journal,
    upload_interval: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(upload_interval) => {}
            _ = stopped.changed() => break,
        }
        if let Err(error) = upload_pending(&client, &mut journal).await {
            tracing::warn!("proof-of-play upload failed, will retry: {error:#}");
        }
    }
    match tokio::time::timeout(FINAL_UPLOAD_DEADLINE, upload_pending(&client, &mut journal)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!("final proof-of-play upload failed; kept for the next start: {error:#}")
        }
        Err(_) => tracing::warn!("final proof-of-play upload timed out; kept for the next start"),
    }
}

/// Uploads every unsent impression in batches, marking each batch sent only once acknowledged.
async fn upload_pending(client: &SyncClient, journal: &mut Journal) -> anyhow::Result<()> {
    loop {
        let impressions = journal.unsent(MAX_IMPRESSIONS_PER_BATCH)?;
        if impressions.is_empty() {
            return Ok(());
        }
        let count = impressions.len();
        let ack = client.upload(&ImpressionBatch { impressions }).await?;
        let marked = journal.mark_sent(&ack.acknowledged)?;
        tracing::info!(
            sent = count,
            acknowledged = marked,
            new_at_hq = ack.inserted,
            "proof of play uploaded"
        );
        if marked == 0 {
            anyhow::bail!("the scheduler acknowledged none of {count} impressions");
        }
    }
}
