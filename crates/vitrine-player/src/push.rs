//! The push client, a task on the network thread: it holds `GET /v1/events` open, reads the
//! scheduler's Server-Sent Events with eventsource-stream, and turns them into work: a
//! `manifest-changed` with an ETag other than the active one wakes the sync loop at once, an
//! `interrupt`, an `interrupt-cancelled` or a `trigger` goes to the render loop as a
//! [`PlayerEvent`], and the commands: `resync` wakes the sync loop, `screenshot` and `identify` go
//! to the render loop (which reads back its next frame, or shows the screen's name for
//! [`IDENTIFY_FOR`]), and `restart` restarts the player in place (see [`crate::restart`]). Each
//! command is carried out once: the last one's id is kept in the data folder, since the scheduler
//! replays those still in force to a player that just started.
//!
//! Interrupts, triggers and commands come signed (see [`vitrine_core::push`]): each is opened with
//! [`SyncClient::open_event`], which checks the signature against the key this player trusts, the
//! screen it names and its expiry. One that fails is logged and ignored, so nobody on the path can
//! put a message on the screen or replay one meant for another screen or for earlier.
//!
//! A broken stream is reopened after a delay from [`Backoff`] (exponential with full jitter, so a
//! fleet that lost HQ at the same instant does not come back at the same instant), with
//! `Last-Event-ID` so the scheduler replays what was missed. Polling stays the fallback: nothing
//! here is needed for the screen to get its content, only to get it in seconds.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use jiff::Timestamp;
use tokio::sync::{Notify, watch};
use vitrine_wire::events::{CancelData, CommandData, InterruptData, TriggerData};

use crate::events::{PlayerEvent, SharedSink};
use crate::sync::SyncClient;

/// How long `identify` shows the screen's name.
pub const IDENTIFY_FOR: Duration = Duration::from_secs(10);

/// The first reconnect waits up to this long; each failure doubles the ceiling up to the cap.
const RECONNECT_BASE: Duration = Duration::from_millis(500);

/// Exponential backoff with full jitter: after `n` failures the delay is drawn uniformly from
/// `[0, min(cap, base * 2^n)]`. Full jitter spreads a fleet's retries over the whole window, which
/// is what keeps a scheduler that comes back from being flattened by every screen at once.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            failures: 0,
        }
    }

    /// The largest delay the next call to [`Backoff::next_delay`] may return.
    pub fn ceiling(&self) -> Duration {
        // 2^20 times any sensible base is past any sensible cap; clamping the exponent keeps the
        // multiplication from overflowing.
        let factor = 1u32 << self.failures.min(20);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Records a failure and returns how long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(0..=ceiling_ms))
    }

    /// How many failures in a row have been recorded.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Back to the first step, after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// What one event from the scheduler asks of the player.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushMessage {
    /// The screen's manifest now has this ETag.
    ManifestChanged {
        etag: String,
    },
    /// An emergency message; `id` is its event id, which a cancel names.
    Interrupt {
        id: u64,
        message: String,
        until: Timestamp,
    },
    /// HQ withdrew the interrupt with this id.
    InterruptCancelled {
        id: u64,
    },
    Trigger {
        segment: String,
        until: Timestamp,
    },
    /// A command from HQ; `id` is its event id, which [`command_done`] knows again when the
    /// scheduler replays it after a restart.
    Command {
        id: u64,
        command: Command,
    },
    /// A command this player does not carry out (yet), named for the log.
    Unsupported(String),
}

/// What HQ's `command` events ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Fetch the manifest now, whatever the ETag.
    Resync,
    /// Read back the next frame and send it to HQ as a JPEG.
    Screenshot,
    /// Show the screen's name full screen for [`IDENTIFY_FOR`].
    Identify,
    /// Restart the player process in place.
    Restart,
}

/// The file in the data folder holding the event id of the last command carried out. The
/// scheduler replays the commands still in force to a screen that connects without a resume
/// point, which a player that just started is: without this, one `restart` would restart it
/// again at every start for as long as the command is in force, and a restarted player would
/// take the screenshot and show its name again.
pub const COMMANDS_DONE_FILE: &str = "push-command-done";

/// Whether the command with event id `id` was carried out already (event ids only grow, across
/// scheduler restarts too, so an older one was dealt with as well). A command that came while the
/// player was offline has a newer id, and is carried out when it connects.
pub fn command_done(data_dir: &Path, id: u64) -> bool {
    std::fs::read_to_string(data_dir.join(COMMANDS_DONE_FILE))
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .is_some_and(|done| id <= done)
}

/// Records that the command with event id `id` is being carried out (before it is: a restart
/// does not come back to record it).
pub fn remember_command(data_dir: &Path, id: u64) -> anyhow::Result<()> {
    let path = data_dir.join(COMMANDS_DONE_FILE);
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, format!("{id}\n"))
        .and_then(|()| std::fs::rename(&temporary, &path))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Reads one SSE event (its `event:` name and `data:`); `client` opens the signed ones, checking
/// their expiry against `now`. Unknown event names are not errors: a newer scheduler may send events
/// an older player ignores.
pub fn interpret(
    event: &str,
    data: &str,
    client: &SyncClient,
    now: Timestamp,
) -> anyhow::Result<PushMessage> {
    let open = || client.open_event(event, data, now);
    Ok(match event {
        "manifest-changed" => {
            let etag = data.trim();
            if etag.is_empty() {
                bail!("a manifest-changed event without an ETag");
            }
            PushMessage::ManifestChanged {
                etag: etag.to_owned(),
            }
        }
        "interrupt" => {
            let signed = open()?;
            let InterruptData { message, until } = serde_json::from_value(signed.data)
                .context("an interrupt event that does not parse")?;
            PushMessage::Interrupt {
                id: signed.id,
                message,
                until,
            }
        }
        "interrupt-cancelled" => {
            let CancelData { interrupt } = serde_json::from_value(open()?.data)
                .context("an interrupt-cancelled event that does not parse")?;
            PushMessage::InterruptCancelled { id: interrupt }
        }
        "trigger" => {
            let TriggerData { segment, until } = serde_json::from_value(open()?.data)
                .context("a trigger event that does not parse")?;
            PushMessage::Trigger { segment, until }
        }
        "command" => {
            let signed = open()?;
            let CommandData { command } = serde_json::from_value(signed.data)
                .context("a command event that does not parse")?;
            let command = match command.as_str() {
                "resync" => Command::Resync,
                "screenshot" => Command::Screenshot,
                "identify" => Command::Identify,
                "restart" => Command::Restart,
                _ => return Ok(PushMessage::Unsupported(command)),
            };
            PushMessage::Command {
                id: signed.id,
                command,
            }
        }
        other => PushMessage::Unsupported(other.to_owned()),
    })
}

/// What the push task shares with the rest of the network thread.
pub struct PushContext {
    pub client: SyncClient,
    /// Wakes the sync loop for an immediate round.
    pub wake_sync: Arc<Notify>,
    /// The ETag of the manifest playing now, kept by the sync loop.
    pub active_etag: watch::Receiver<Option<String>>,
    pub sink: SharedSink,
    /// The most a reconnect waits.
    pub backoff_max: Duration,
    /// The data folder, where the last command carried out is recorded.
    pub data_dir: std::path::PathBuf,
}

/// Holds the event stream open until `stopped` changes, reconnecting with backoff and jitter.
pub async fn push_loop(context: PushContext, mut stopped: watch::Receiver<bool>) {
    let mut last_event_id: Option<String> = None;
    let mut backoff = Backoff::new(RECONNECT_BASE, context.backoff_max);
    loop {
        let outcome = tokio::select! {
            outcome = listen(&context, &mut last_event_id, &mut backoff) => outcome,
            _ = stopped.changed() => return,
        };
        match outcome {
            Ok(()) => tracing::info!("the scheduler closed the event stream; reconnecting"),
            Err(error) => {
                tracing::warn!(
                    failures = backoff.failures(),
                    "event stream lost: {error:#}"
                )
            }
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// One connection: open the stream and act on its events until it ends.
async fn listen(
    context: &PushContext,
    last_event_id: &mut Option<String>,
    backoff: &mut Backoff,
) -> anyhow::Result<()> {
    let response = context.client.open_events(last_event_id.as_deref()).await?;
    tracing::info!(
        last_event_id = last_event_id.as_deref(),
        "event stream open"
    );
    let mut events = response.bytes_stream().eventsource();
    while let Some(event) = events.next().await {
        let event = event.context("reading the event stream")?;
        // The stream works: the next break starts the backoff from its first step again.
        backoff.reset();
        match interpret(&event.event, &event.data, &context.client, Timestamp::now()) {
            Ok(message) => {
                // Only an event that checked out moves the resume point: a forged id must not
                // make the scheduler skip what it would replay.
                if !event.id.is_empty() {
                    *last_event_id = Some(event.id.clone());
                }
                act(context, message)
            }
            Err(error) => tracing::warn!(event = %event.event, "ignoring an event: {error:#}"),
        }
    }
    Ok(())
}

fn act(context: &PushContext, message: PushMessage) {
    match message {
        PushMessage::ManifestChanged { etag } => {
            if context.active_etag.borrow().as_deref() != Some(etag.as_str()) {
                tracing::info!(%etag, "pushed: the manifest changed; syncing now");
                context.wake_sync.notify_one();
            }
        }
        PushMessage::Command { id, command } => {
            if command_done(&context.data_dir, id) {
                tracing::info!(
                    id,
                    ?command,
                    "a command carried out already, replayed; ignored"
                );
                return;
            }
            if let Err(error) = remember_command(&context.data_dir, id) {
                // Carried out anyway, as HQ asked; a replay after a restart may repeat it once.
                tracing::warn!("{error:#}");
            }
            carry_out(context, command);
        }
        PushMessage::Interrupt { id, message, until } => {
            tracing::info!(id, %until, "pushed: interrupt");
            context
                .sink
                .post(PlayerEvent::Interrupt { id, message, until });
        }
        PushMessage::InterruptCancelled { id } => {
            tracing::info!(id, "pushed: interrupt cancelled");
            context.sink.post(PlayerEvent::InterruptCancelled { id });
        }
        PushMessage::Trigger { segment, until } => {
            tracing::info!(%segment, %until, "pushed: trigger");
            context.sink.post(PlayerEvent::Trigger { segment, until });
        }
        PushMessage::Unsupported(what) => {
            tracing::info!(%what, "pushed something this player does not act on; ignored")
        }
    }
}

fn carry_out(context: &PushContext, command: Command) {
    match command {
        Command::Resync => {
            tracing::info!("pushed: resync");
            context.wake_sync.notify_one();
        }
        Command::Screenshot => {
            tracing::info!("pushed: screenshot; the next frame is read back and sent");
            context.sink.post(PlayerEvent::Screenshot);
        }
        Command::Identify => {
            tracing::info!("pushed: identify; the screen's name shows for 10 s");
            let until = Timestamp::now()
                .checked_add(IDENTIFY_FOR)
                .unwrap_or_else(|_| Timestamp::now());
            context.sink.post(PlayerEvent::Identify { until });
        }
        Command::Restart => {
            crate::restart::request(context.sink.as_ref(), "HQ sent the `restart` command");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_ceilings_double_up_to_the_cap_and_delays_stay_under_them() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut ceilings = Vec::new();
        for _ in 0..12 {
            let ceiling = backoff.ceiling();
            ceilings.push(ceiling.as_millis());
            for _ in 0..50 {
                let mut probe = backoff.clone();
                assert!(probe.next_delay() <= ceiling);
            }
            backoff.next_delay();
        }
        assert_eq!(
            ceilings,
            [
                500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000, 30000
            ]
        );
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(500));
        assert_eq!(backoff.failures(), 0);
    }

    #[test]
    fn backoff_is_jittered_over_the_whole_window() {
        let mut backoff = Backoff::new(Duration::from_secs(8), Duration::from_secs(8));
        let delays: Vec<Duration> = (0..400).map(|_| backoff.next_delay()).collect();
        // Uniform over [0, 8 s]: 400 draws land in both the first and the last eighth, and are
        // not all the same.
        assert!(delays.iter().any(|delay| *delay < Duration::from_secs(1)));
        assert!(delays.iter().any(|delay| *delay > Duration::from_secs(7)));
        assert!(delays.iter().all(|delay| *delay <= Duration::from_secs(8)));
    }

    #[test]
    fn backoff_survives_many_failures_without_overflow() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..10_000 {
            assert!(backoff.next_delay() <= Duration::from_secs(60));
        }
    }

    const SCHEDULER_KEY: [u8; 32] = [5; 32];

    /// A client for screen `door` that trusts [`SCHEDULER_KEY`].
    fn door() -> SyncClient {
        let key = ed25519_dalek::SigningKey::from_bytes(&SCHEDULER_KEY);
        SyncClient::new("http://127.0.0.1:9", "token", None)
            .unwrap()
            .with_trust(crate::pairing::ManifestTrust::pinned(key.verifying_key()))
            .with_screen(Some("door".into()))
    }

    fn before_expiry() -> Timestamp {
        "2026-11-22T19:00:00Z".parse().unwrap()
    }

    /// The `data` of an event the scheduler signs with `key` for `screen`.
    fn signed_with(key: [u8; 32], screen: &str, event: &str, data: &str) -> String {
        use ed25519_dalek::Signer;
        let signed = serde_json::to_string(&vitrine_core::push::SignedEvent {
            screen: screen.into(),
            event: event.into(),
            id: 17,
            expires_at: "2026-11-22T20:00:00Z".parse().unwrap(),
            data: serde_json::from_str(data).unwrap(),
        })
        .unwrap();
        let signature = ed25519_dalek::SigningKey::from_bytes(&key).sign(signed.as_bytes());
        serde_json::to_string(&vitrine_core::push::Envelope {
            signed,
            signature: hex::encode(signature.to_bytes()),
        })
        .unwrap()
    }

    fn signed(event: &str, data: &str) -> String {
        signed_with(SCHEDULER_KEY, "door", event, data)
    }

    #[test]
    fn events_are_interpreted() {
        let client = door();
        let interpret = |event: &str, data: &str| interpret(event, data, &client, before_expiry());
        assert_eq!(
            interpret("manifest-changed", "\"abc\"").unwrap(),
            PushMessage::ManifestChanged {
                etag: "\"abc\"".into()
            }
        );
        assert_eq!(
            interpret(
                "interrupt",
                &signed(
                    "interrupt",
                    r#"{"message":"Please leave by the main exit","until":"2026-11-22T20:00:00Z"}"#
                )
            )
            .unwrap(),
            PushMessage::Interrupt {
                id: 17,
                message: "Please leave by the main exit".into(),
                until: "2026-11-22T20:00:00Z".parse().unwrap()
            }
        );
        assert_eq!(
            interpret(
                "interrupt-cancelled",
                &signed("interrupt-cancelled", r#"{"interrupt":16}"#)
            )
            .unwrap(),
            PushMessage::InterruptCancelled { id: 16 }
        );
        // A cancel is signed like the interrupt it withdraws: an unsigned one is refused, so
        // nobody on the path can take a warning off the screen either.
        assert!(interpret("interrupt-cancelled", r#"{"interrupt":16}"#).is_err());
        assert_eq!(
            interpret(
                "trigger",
                &signed(
                    "trigger",
                    r#"{"segment":"families","until":"2026-11-22T20:10:00Z"}"#
                )
            )
            .unwrap(),
            PushMessage::Trigger {
                segment: "families".into(),
                until: "2026-11-22T20:10:00Z".parse().unwrap()
            }
        );
        assert_eq!(
            interpret("command", &signed("command", r#"{"command":"resync"}"#)).unwrap(),
            PushMessage::Command {
                id: 17,
                command: Command::Resync
            }
        );
        assert_eq!(
            interpret("command", &signed("command", r#"{"command":"screenshot"}"#)).unwrap(),
            PushMessage::Command {
                id: 17,
                command: Command::Screenshot
            }
        );
        assert_eq!(
            interpret("command", &signed("command", r#"{"command":"identify"}"#)).unwrap(),
            PushMessage::Command {
                id: 17,
                command: Command::Identify
            }
        );
        assert_eq!(
            interpret("command", &signed("command", r#"{"command":"restart"}"#)).unwrap(),
            PushMessage::Command {
                id: 17,
                command: Command::Restart
            }
        );
        // A command a newer scheduler may send is named, not acted on.
        assert_eq!(
            interpret("command", &signed("command", r#"{"command":"reboot"}"#)).unwrap(),
            PushMessage::Unsupported("reboot".into())
        );
        assert_eq!(
            interpret("weather", "sunny").unwrap(),
            PushMessage::Unsupported("weather".into())
        );
        assert!(interpret("manifest-changed", "").is_err());
        assert!(interpret("interrupt", &signed("interrupt", "{\"message\":1}")).is_err());
    }

    #[test]
    fn a_command_is_carried_out_once_whatever_replays_it() {
        let data = tempfile::tempdir().unwrap();
        assert!(!command_done(data.path(), 17));
        remember_command(data.path(), 17).unwrap();
        assert!(command_done(data.path(), 17), "replayed after a restart");
        assert!(command_done(data.path(), 12), "an older one");
        assert!(
            !command_done(data.path(), 18),
            "a newer one, sent while it was offline"
        );
        std::fs::write(data.path().join(COMMANDS_DONE_FILE), "garbage").unwrap();
        assert!(
            !command_done(data.path(), 17),
            "an unreadable record carries a command out rather than not"
        );
    }

    #[test]
    fn unsigned_forged_misdirected_and_stale_events_are_refused() {
        let client = door();
        let interrupt = r#"{"message":"Free TVs at the till","until":"2026-11-22T20:00:00Z"}"#;
        let refused = |data: &str, now: Timestamp| {
            format!(
                "{:#}",
                interpret("interrupt", data, &client, now).expect_err("refused")
            )
        };
        // What the scheduler sent before events were signed.
        assert!(refused(interrupt, before_expiry()).contains("unsigned"));
        // Signed by someone else's key.
        let forged = signed_with([6; 32], "door", "interrupt", interrupt);
        assert!(refused(&forged, before_expiry()).contains("does not verify"));
        // Genuine, but for another screen.
        let elsewhere = signed_with(SCHEDULER_KEY, "till", "interrupt", interrupt);
        assert!(refused(&elsewhere, before_expiry()).contains("screen `till`"));
        // Genuine, but replayed after it expired.
        let late: Timestamp = "2026-11-22T20:00:01Z".parse().unwrap();
        assert!(refused(&signed("interrupt", interrupt), late).contains("expired"));
        // Genuine, but a command's signature carried on an interrupt.
        let relabelled = signed("command", r#"{"command":"resync"}"#);
        assert!(refused(&relabelled, before_expiry()).contains("delivered as `interrupt`"));
        // Commands that act on the screen are opened the same way: nobody on the path can
        // restart a screen, take its screenshot or make it show its name.
        for command in ["restart", "screenshot", "identify"] {
            let data = format!(r#"{{"command":"{command}"}}"#);
            assert!(interpret("command", &data, &client, before_expiry()).is_err());
            let forged = signed_with([6; 32], "door", "command", &data);
            assert!(interpret("command", &forged, &client, before_expiry()).is_err());
            let elsewhere = signed_with(SCHEDULER_KEY, "till", "command", &data);
            assert!(interpret("command", &elsewhere, &client, before_expiry()).is_err());
        }
        // A player that knows no key yet trusts no event.
        let keyless = SyncClient::new("http://127.0.0.1:9", "token", None).unwrap();
        let error = interpret(
            "interrupt",
            &signed("interrupt", interrupt),
            &keyless,
            before_expiry(),
        )
        .expect_err("refused");
        assert!(
            format!("{error:#}").contains("no scheduler key"),
            "{error:#}"
        );
    }

    /// The SSE framing the scheduler writes (axum's `Sse`), split at awkward places as TCP may
    /// deliver it, parses into the events it holds; comments (keep-alives) are skipped and the id
    /// carries over.
    #[test]
    fn sse_frames_parse_across_chunk_boundaries() {
        let wire = ":\n\nevent: manifest-changed\ndata: \"e1\"\n\n: keep-alive\n\n\
                    event: interrupt\ndata: {\"message\":\"a\",\n\
                    id: 17\ndata: \"until\":\"2026-11-22T20:00:00Z\"}\n\nevent: command\r\ndata: {\"command\":\"resync\"}\r\nid: 18\r\n\r\n";
        for chunk_size in [1, 3, 7, wire.len()] {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> = wire
                .as_bytes()
                .chunks(chunk_size)
                .map(|chunk| Ok(chunk.to_vec()))
                .collect();
            let events: Vec<_> = pollster::block_on(
                futures_util::stream::iter(chunks)
                    .eventsource()
                    .map(|event| event.expect("parses"))
                    .collect::<Vec<_>>(),
            );
            let seen: Vec<(String, String, String)> = events
                .into_iter()
                .map(|event| (event.event, event.id, event.data))
                .collect();
            assert_eq!(
                seen,
                [
                    ("manifest-changed".into(), "".into(), "\"e1\"".into()),
                    (
                        "interrupt".into(),
                        "17".into(),
                        "{\"message\":\"a\",\n\"until\":\"2026-11-22T20:00:00Z\"}".into()
                    ),
                    (
                        "command".into(),
                        "18".into(),
                        "{\"command\":\"resync\"}".into()
                    ),
                ],
                "chunks of {chunk_size} bytes"
            );
        }
    }
}
