//! The player's network side, on its own thread with its own tokio runtime: manifest sync on an
//! interval, and the proof-of-play uploader. It posts [`PlayerEvent`]s and never touches the GPU.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;
use vitrine_core::ImpressionBatch;
use vitrine_core::impression::MAX_IMPRESSIONS_PER_BATCH;

use crate::cache::MediaCache;
use crate::events::SharedSink;
use crate::journal::Journal;
use crate::sync::{SyncClient, sync_once};

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
}

impl Background {
    pub fn start(settings: BackgroundSettings, sink: SharedSink) -> anyhow::Result<Self> {
        let cache = Arc::new(Mutex::new(MediaCache::open(&settings.data_dir)?));
        let journal = Journal::open(&settings.data_dir)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("vitrine-net".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let sync = sync_loop(
                        settings.client.clone(),
                        cache,
                        settings.active_etag,
                        settings.poll_interval,
                        sink,
                        stopped.clone(),
                    );
                    let upload =
                        upload_loop(settings.client, journal, settings.upload_interval, stopped);
                    tokio::join!(sync, upload);
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

async fn sync_loop(
    client: SyncClient,
    cache: Arc<Mutex<MediaCache>>,
    mut active_etag: Option<String>,
    poll_interval: Duration,
    sink: SharedSink,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        match sync_once(&client, &cache, active_etag.clone(), &sink).await {
            Ok(etag) => active_etag = etag,
            Err(error) => tracing::warn!("sync failed, keeping the current content: {error:#}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll_interval) => {}
            _ = stopped.changed() => return,
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
