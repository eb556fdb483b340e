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
use crate::clock::SharedClock;
use crate::events::{PlayerEvent, SharedSink};
use crate::journal::{BacklogLimit, Journal};
use crate::push::{Backoff, PushContext, push_loop};
use crate::status::SharedStatus;
use crate::sync::{SyncClient, SyncPolicy, is_unreachable, sync_once};

/// How long acknowledged plays stay in the journal: long enough to look into a dispute from the
/// screen itself, short enough that the journal does not grow without end.
const SENT_RETENTION: jiff::SignedDuration = jiff::SignedDuration::from_hours(30 * 24);

/// How long the final upload at shutdown may take before the player exits anyway. What is not sent
/// stays in the journal and goes with the next start.
const FINAL_UPLOAD_DEADLINE: Duration = Duration::from_secs(10);

pub struct Background {
    stop: watch::Sender<bool>,
    thread: JoinHandle<()>,
    /// Frames read back for HQ's screenshots, to scale, encode and send (see
    /// [`Background::send_screenshot`]).
    screenshots: tokio::sync::mpsc::Sender<image::RgbaImage>,
}

/// Screenshots waiting to be sent while one is being sent: HQ asking again meanwhile gets the
/// next frame after that, not a queue of stale ones.
const SCREENSHOT_QUEUE: usize = 1;

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
    /// The clock whose state the heartbeat reports.
    pub clock: SharedClock,
    /// Past this much unsent proof of play the player raises an alert (it keeps every record).
    pub journal_alert: BacklogLimit,
    /// Parallel downloads and the disk budget.
    pub sync_policy: SyncPolicy,
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
        let (screenshots, screenshot_frames) = tokio::sync::mpsc::channel(SCREENSHOT_QUEUE);
        let thread = std::thread::Builder::new()
            .name("vitrine-net".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let wake_sync = Arc::new(Notify::new());
                    let (etag_sender, etag_receiver) = watch::channel(settings.active_etag);
                    let heartbeat = heartbeat_loop(
                        HeartbeatLoop {
                            client: settings.client.clone(),
                            status: settings.status.clone(),
                            active_etag: etag_receiver.clone(),
                            journal: heartbeat_journal,
                            interval: settings.heartbeat_interval,
                            clock: settings.clock.clone(),
                            journal_alert: settings.journal_alert,
                            cache: cache.clone(),
                        },
                        stopped.clone(),
                    );
                    let push_context = settings.push.then(|| PushContext {
                        client: settings.client.clone(),
                        wake_sync: wake_sync.clone(),
                        active_etag: etag_receiver,
                        sink: sink.clone(),
                        backoff_max: settings.backoff_max,
                        data_dir: settings.data_dir.clone(),
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
                            policy: settings.sync_policy.clone(),
                        },
                        stopped.clone(),
                    );
                    let screenshot = screenshot_loop(
                        settings.client.clone(),
                        screenshot_frames,
                        stopped.clone(),
                    );
                    let upload = upload_loop(
                        settings.client,
                        journal,
                        settings.upload_interval,
                        settings.backoff_max,
                        stopped,
                    );
                    tokio::join!(sync, upload, push, heartbeat, screenshot);
                });
            })?;
        Ok(Self {
            stop,
            thread,
            screenshots,
        })
    }

    /// Hands a frame read back for HQ's screenshot to the network thread, which scales, encodes
    /// and sends it. Returns at once: when one is already waiting, this one is dropped (logged).
    pub fn send_screenshot(&self, frame: image::RgbaImage) {
        if let Err(error) = self.screenshots.try_send(frame) {
            tracing::warn!("a screenshot is already on its way; this one is dropped: {error}");
        }
    }

    /// Stops syncing, makes one last attempt to upload every journalled impression, and waits.
    pub fn shutdown(self) {
        let _ = self.stop.send(true);
        if self.thread.join().is_err() {
            tracing::error!("the network thread panicked during shutdown");
        }
    }
}

/// Scales, encodes (on tokio's blocking threads, so the push and sync tasks are not held up) and
/// sends each frame the render loop read back for HQ. A failure is logged with its cause; the
/// next `screenshot` command tries again.
async fn screenshot_loop(
    client: SyncClient,
    mut frames: tokio::sync::mpsc::Receiver<image::RgbaImage>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let frame = tokio::select! {
            frame = frames.recv() => match frame {
                Some(frame) => frame,
                None => return,
            },
            _ = stopped.changed() => return,
        };
        let (width, height) = frame.dimensions();
        let encoded = tokio::task::spawn_blocking(move || crate::screenshot::encode(&frame)).await;
        let jpeg = match encoded {
            Ok(Ok(jpeg)) => jpeg,
            Ok(Err(error)) => {
                tracing::error!("cannot encode the screenshot: {error:#}");
                continue;
            }
            Err(error) => {
                tracing::error!("the screenshot encoder failed: {error}");
                continue;
            }
        };
        let bytes = jpeg.len();
        match client.put_screenshot(jpeg).await {
            Ok(()) => tracing::info!(width, height, bytes, "screenshot sent to HQ"),
            Err(error) => tracing::error!("cannot send the screenshot to HQ: {error:#}"),
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
    policy: SyncPolicy,
}

async fn sync_loop(settings: SyncLoop, mut stopped: watch::Receiver<bool>) {
    // The backoff's first ceiling is the poll interval, so a first failure waits no longer than a
    // poll would have; only repeated failures spread out, up to `backoff_max`.
    let mut backoff = Backoff::new(
        settings.poll_interval,
        settings.backoff_max.max(settings.poll_interval),
    );
    // What the render loop was last told about the sync's problem, so it hears only of changes.
    let mut told = (None, None);
    loop {
        let active = settings.active_etag.borrow().clone();
        let delay = match sync_once(
            &settings.client,
            &settings.cache,
            active,
            &settings.sink,
            &settings.policy,
        )
        .await
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
        let now = (settings.client.problem(), settings.client.screen());
        if now != told {
            told = now.clone();
            let (problem, screen) = now;
            settings
                .sink
                .post(PlayerEvent::SyncProblem { problem, screen });
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = settings.wake.notified() => {}
            _ = stopped.changed() => return,
        }
    }
}

struct HeartbeatLoop {
    client: SyncClient,
    status: SharedStatus,
    active_etag: watch::Receiver<Option<String>>,
    journal: Journal,
    interval: Duration,
    clock: SharedClock,
    journal_alert: BacklogLimit,
    cache: Arc<Mutex<MediaCache>>,
}

/// How often a starting player beats until its heartbeat can say what plays (for at most one
/// `interval`): HQ hears of a screen within seconds of its start, not a minute later.
const STARTUP_BEAT: Duration = Duration::from_secs(2);

/// Tells HQ what plays, how well it draws, how much proof of play waits, how far the clock is
/// trusted and what needs attention: at once when the player starts, every `STARTUP_BEAT` until
/// the render loop says what plays, at once when new content is activated, and otherwise every
/// `interval`. A missed heartbeat is only logged: being offline is normal, and the next one says
/// it all again. The journal's backlog is checked on the same beat, so its alert reaches the log
/// even while HQ is away.
async fn heartbeat_loop(settings: HeartbeatLoop, mut stopped: watch::Receiver<bool>) {
    let HeartbeatLoop {
        client,
        status,
        mut active_etag,
        journal,
        interval,
        clock,
        journal_alert,
        cache,
    } = settings;
    let started = std::time::Instant::now();
    let mut next_beat = tokio::time::Instant::now();
    // The etag the last heartbeat reported; `None` before the first.
    let mut etag_of_last_beat: Option<Option<String>> = None;
    let mut etags_open = true;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_beat) => {}
            changed = active_etag.changed(), if etags_open => {
                etags_open = changed.is_ok();
                // The sync loop republishes the etag after every poll; only new content is news.
                if etag_of_last_beat.as_ref() == Some(&*active_etag.borrow()) {
                    continue;
                }
            }
            _ = stopped.changed() => return,
        }
        let backlog = journal.backlog().unwrap_or_default();
        let mut alerts = Vec::new();
        if let Some(alert) = journal_alert.alert(backlog) {
            tracing::error!("{alert}");
            alerts.push(alert);
        }
        if let Some(alert) = cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .budget_alert()
        {
            alerts.push(alert);
        }
        // A manifest refused for its signature leaves the screen on older content: HQ should know.
        alerts.extend(client.manifest_alert());
        let etag = active_etag.borrow_and_update().clone();
        let mut heartbeat = status
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .heartbeat(etag.clone(), started.elapsed().as_secs(), backlog.rows);
        heartbeat.clock = Some(clock.now().state);
        heartbeat.alerts.extend(alerts);
        heartbeat.problem = client.problem().map(|problem| problem.to_string());
        let starting = heartbeat.playlist.is_none() && started.elapsed() < interval;
        next_beat = tokio::time::Instant::now()
            + if starting {
                STARTUP_BEAT.min(interval)
            } else {
                interval
            };
        etag_of_last_beat = Some(etag);
        if let Err(error) = client.post_heartbeat(&heartbeat).await {
            tracing::debug!("heartbeat not delivered: {error:#}");
        }
    }
}

/// Uploads what the journal holds every `upload_interval`, forever. After a failure the next try
/// backs off with jitter (up to `backoff_max`) and nothing leaves the journal unacknowledged.
async fn upload_loop(
    client: SyncClient,
    mut journal: Journal,
    upload_interval: Duration,
    backoff_max: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(upload_interval, backoff_max.max(upload_interval));
    let mut delay = upload_interval;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped.changed() => break,
        }
        delay = match upload_pending(&client, &mut journal).await {
            Ok(()) => {
                backoff.reset();
                let cutoff = jiff::Timestamp::now()
                    .checked_sub(SENT_RETENTION)
                    .unwrap_or(jiff::Timestamp::MIN);
                if let Err(error) = journal.prune_sent(cutoff) {
                    tracing::warn!("cannot prune sent plays from the journal: {error:#}");
                }
                upload_interval
            }
            Err(error) => {
                let delay = backoff.next_delay().max(upload_interval);
                tracing::warn!(
                    retry_in_ms = delay.as_millis() as u64,
                    failures = backoff.failures(),
                    "proof-of-play upload failed, kept in the journal: {error:#}"
                );
                delay
            }
        };
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
        // HQ's gap-free high mark: new plays are numbered after it, so even a journal that was
        // lost and made anew never reuses a number HQ holds.
        journal.continue_after(ack.highest_sequence)?;
        tracing::info!(
            sent = count,
            acknowledged = marked,
            new_at_hq = ack.inserted,
            highest_sequence = ack.highest_sequence,
            "proof of play uploaded"
        );
        if marked == 0 {
            anyhow::bail!("the scheduler acknowledged none of {count} impressions");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::TcpListener;
    use std::sync::mpsc;

    use vitrine_core::Heartbeat;

    use super::*;
    use crate::clock::Clock;

    /// A scheduler on loopback that answers every request with 200 and hands each heartbeat it
    /// receives to the test.
    fn heartbeat_receiver() -> (String, mpsc::Receiver<Heartbeat>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else {
                    return;
                };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if request_line.is_empty() {
                        request_line = line.clone();
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                if request_line.starts_with("POST /v1/heartbeat ")
                    && let Ok(heartbeat) = serde_json::from_slice(&body)
                    && sender.send(heartbeat).is_err()
                {
                    return;
                }
            }
        });
        (format!("http://{address}"), receiver)
    }

    /// Waits for a heartbeat that satisfies `wanted`, skipping others; panics after `patience`.
    fn wait_for_heartbeat(
        heartbeats: &mpsc::Receiver<Heartbeat>,
        what: &str,
        wanted: impl Fn(&Heartbeat) -> bool,
    ) -> Heartbeat {
        let patience = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = patience.saturating_duration_since(std::time::Instant::now());
            match heartbeats.recv_timeout(left) {
                Ok(heartbeat) if wanted(&heartbeat) => return heartbeat,
                Ok(_) => {}
                Err(error) => panic!("no heartbeat {what}: {error}"),
            }
        }
    }

    #[test]
    fn heartbeats_go_at_start_while_starting_and_when_content_changes() {
        let (server, heartbeats) = heartbeat_receiver();
        let data = tempfile::tempdir().unwrap();
        let status = SharedStatus::default();
        let (etag_sender, etag_receiver) = watch::channel(None);
        let (stop, stopped) = watch::channel(false);
        let settings = HeartbeatLoop {
            client: SyncClient::new(&server, "token", None).unwrap(),
            status: status.clone(),
            active_etag: etag_receiver,
            journal: Journal::open(data.path()).unwrap(),
            // An hour: no beat seen during this test can be a regular one.
            interval: Duration::from_secs(3600),
            clock: Clock::open(data.path()).unwrap(),
            journal_alert: BacklogLimit::default(),
            cache: Arc::new(Mutex::new(MediaCache::open(data.path()).unwrap())),
        };
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(heartbeat_loop(settings, stopped));
        });

        let first = wait_for_heartbeat(&heartbeats, "at start", |_| true);
        assert_eq!(first.playlist, None, "nothing plays yet: {first:?}");
        // The render loop starts playing: a startup beat says what, well before the interval.
        status.lock().unwrap().playlist = Some("lobby".to_owned());
        wait_for_heartbeat(&heartbeats, "saying what plays", |heartbeat| {
            heartbeat.playlist.as_deref() == Some("lobby")
        });
        // New content is activated: HQ hears of it at once.
        etag_sender.send_replace(Some("\"v4\"".to_owned()));
        wait_for_heartbeat(&heartbeats, "with the new content", |heartbeat| {
            heartbeat.manifest_etag.as_deref() == Some("\"v4\"")
        });

        stop.send_replace(true);
        thread.join().unwrap();
    }
}
