//! Push to screens: `GET /v1/events` is a Server-Sent Events stream per screen, fed from the
//! [`Hub`], and the admin endpoints `POST /v1/interrupts`, `/v1/triggers` and `/v1/commands` put
//! events on it. `GET /v1/interrupts` lists the interrupts in force, with the screens each still
//! covers.
//!
//! Events and what their `data` holds:
//!
//! - `manifest-changed`: the screen's new manifest ETag, quoted as the `ETag` header carries it.
//! - `interrupt`: `{"message": "...", "until": "RFC 3339"}`, an emergency message shown full screen.
//! - `interrupt-cancelled`: `{"interrupt": ID}`, the interrupt with that event id is withdrawn from
//!   the screen at once (`POST /v1/interrupts/{id}/cancel`, or `/v1/interrupts/cancel` for every
//!   interrupt on an audience). A withdrawn interrupt is no longer replayed to that screen.
//! - `trigger`: `{"segment": "...", "until": "RFC 3339"}`, the audience the store's next offer slots
//!   should target (a loyalty-app check-in, say).
//! - `command`: `{"command": "resync" | "screenshot" | "identify" | "restart"}`: `resync` fetches
//!   the manifest now; `screenshot` reads back the next frame the screen shows and sends it as a
//!   JPEG to `PUT /v1/screenshot` (see [`crate::screenshots`]); `identify` shows the screen's name
//!   full screen for ten seconds over whatever plays; `restart` restarts the player process in
//!   place.
//!
//! Interrupts, triggers and commands act on the screen, so they travel signed: their `data` is a
//! [`vitrine_core::push::Envelope`] whose signed text names the screen, the event, its id and its
//! expiry, signed with the manifest key (see [`crate::signing::sign_event`]) as each stream sends
//! it. A player checks it against the key it pinned and ignores anything else, so nobody on the
//! path can put a message on screen, and a captured event is good for neither another screen nor
//! later. `manifest-changed` is not signed: it only makes the player fetch its signed manifest.
//!
//! Every event put on the hub has an id from one counter that only grows, also across restarts (it
//! starts at the start time in microseconds). Interrupts, triggers and commands are kept in a bounded
//! ring, so a screen that reconnects with `Last-Event-ID` gets exactly the ones it missed, and one that
//! connects without it (or from too far back) gets those still in force. `manifest-changed` is state,
//! not history: instead of replaying stale ETags, every connection starts with one `manifest-changed`
//! (without an id) carrying the screen's current ETag. A screen that missed changes, because it was
//! offline or because the scheduler restarted and lost its ring, therefore resyncs at once.
//!
//! **Invariant:** a screen only ever receives events addressed to it: each screen has its own
//! broadcast channel, and replay filters the ring by screen name.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use jiff::Timestamp;
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

use crate::AppState;
use crate::auth::{Manager, ScreenCaller};
use crate::error::ApiError;
use crate::manifest::{manifest_from, manifest_of};
use crate::reads::Reads;
use crate::storage::Change;
use crate::storage::push::NewPushEvent;
use crate::storage::screens::{Screen, UnknownTarget};
pub use vitrine_wire::events::{
    Audience, Cancelled, CommandRequest, InterruptInForce, InterruptList, InterruptRequest,
    Published, TriggerRequest, Withdrawn,
};
use vitrine_wire::events::{CancelData, CommandData, InterruptData, TriggerData};

/// How many interrupts, triggers and commands are kept for replay. A screen that was away for more
/// than this many events gets those still in force instead of exactly what it missed.
const RING_CAPACITY: usize = 4096;

/// Events queued per screen for a slow connection before it lags and is resent from the ring.
const SCREEN_CHANNEL_CAPACITY: usize = 64;

/// The most event streams one device token (one screen) may hold open at once. A player needs
/// one; a few more cover reconnects while the server has not yet noticed that the old connection
/// died. More is refused with 429 `too_many_streams`, so a leaked token cannot pin down the
/// server's connections.
pub const MAX_STREAMS_PER_SCREEN: usize = 4;

/// A comment this often keeps proxies from closing an idle stream and lets players notice a dead
/// connection well within their 60 s read timeout.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// The largest body of the push endpoints: a message and a list of screens.
pub const PUSH_BODY_LIMIT: usize = 256 * 1024;

/// The longest interrupt message, in characters; it has to fit on a screen.
const MAX_MESSAGE_CHARS: usize = 500;

/// How long a command stays worth replaying to a screen that reconnects.
const COMMAND_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// How many screens' manifests are rebuilt at once after a change. The store's pool has 8
/// connections; more would only queue there.
const MANIFEST_REBUILD_CONCURRENCY: usize = 8;

/// From how many screens a round of rebuilds reads every screen's record in one query rather
/// than one query per screen.
const READ_ALL_SCREENS_FROM: usize = 64;

/// What an event is, as its SSE `event:` field names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    ManifestChanged,
    Interrupt,
    InterruptCancelled,
    Trigger,
    Command,
}

impl EventKind {
    /// The kinds another scheduler records for this one to send (see [`crate::storage::push`]).
    const RECORDED: [Self; 4] = [
        Self::Interrupt,
        Self::InterruptCancelled,
        Self::Trigger,
        Self::Command,
    ];

    /// The recorded kind that [`EventKind::as_str`] names.
    fn recorded(name: &str) -> Option<Self> {
        Self::RECORDED
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ManifestChanged => "manifest-changed",
            Self::Interrupt => "interrupt",
            Self::InterruptCancelled => "interrupt-cancelled",
            Self::Trigger => "trigger",
            Self::Command => "command",
        }
    }
}

/// One event on its way to screens.
#[derive(Clone, Debug)]
pub struct PushEvent {
    /// None for `manifest-changed`: it names the ETag of now, which every stream opens with, so
    /// it is never replayed, and an id there would move the client's `Last-Event-ID` past events
    /// it has not seen (on replicas, those another scheduler numbered).
    pub id: Option<u64>,
    pub kind: EventKind,
    pub data: String,
    /// After this instant the event is not replayed (an interrupt that has ended).
    pub expires_at: Option<Timestamp>,
}

impl PushEvent {
    /// The SSE event as `screen`'s stream sends it: interrupts, triggers and commands signed for
    /// that screen with `key`.
    fn to_sse(&self, screen: &str, key: &ed25519_dalek::SigningKey) -> Event {
        let data = match (self.kind, self.id) {
            (EventKind::ManifestChanged, _) | (_, None) => self.data.clone(),
            (kind, Some(id)) => {
                let signed = vitrine_core::push::SignedEvent {
                    screen: screen.to_owned(),
                    event: kind.as_str().to_owned(),
                    id,
                    expires_at: self.expires_at.unwrap_or_else(|| {
                        Timestamp::now()
                            + jiff::SignedDuration::from_secs(COMMAND_LIFETIME.as_secs() as i64)
                    }),
                    // The handlers only ever put JSON here.
                    data: serde_json::from_str(&self.data)
                        .unwrap_or_else(|_| serde_json::Value::String(self.data.clone())),
                };
                crate::signing::sign_event(key, &signed)
            }
        };
        let event = Event::default().event(self.kind.as_str()).data(data);
        match self.id {
            Some(id) => event.id(id.to_string()),
            None => event,
        }
    }

    fn in_force(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|expires_at| expires_at > now)
    }
}

/// An event in the replay ring, with the screens it was addressed to (for an interrupt: those it
/// has not been withdrawn from).
struct Recorded {
    event: Arc<PushEvent>,
    screens: HashSet<String>,
    published_at: Timestamp,
}

/// An interrupt in force, as the ring holds it.
#[derive(Clone, Debug)]
pub struct InForce {
    pub id: u64,
    /// The interrupt's data as published (its message and end).
    pub data: String,
    pub until: Timestamp,
    /// The screens it still covers, sorted.
    pub screens: Vec<String>,
}

/// A screen with at least one open stream.
struct Connected {
    screen: Screen,
    sender: broadcast::Sender<Arc<PushEvent>>,
    connections: usize,
    /// The ETag last sent to it, so a rebuild that changes nothing sends nothing.
    etag: Option<String>,
    /// Tells this entry apart from a later one for the same screen (after [`Hub::disconnect`]), so
    /// a stream that ends late never counts against its successor.
    epoch: u64,
}

#[derive(Default)]
struct HubState {
    next_id: u64,
    ring: VecDeque<Recorded>,
    /// The events numbered by the database that this scheduler has sent, until they end: each is
    /// sent once, however often the others' announcements make it read them again.
    recorded: HashMap<u64, Timestamp>,
    connected: HashMap<String, Connected>,
    next_epoch: u64,
}

/// The fan-out of events to connected screens, and the replay ring. Its lock is held only for
/// in-memory work, never across an await.
pub struct Hub {
    state: Mutex<HubState>,
    /// Serialises manifest rebuilds, so that two pushes in a row cannot send their ETags out of order.
    rebuild: tokio::sync::Mutex<()>,
    /// Set when the scheduler shuts down: streams end so that graceful shutdown is not held up by
    /// connections that never finish on their own.
    closing: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        // Ids continue from where a previous process left off as long as it handed out fewer than
        // a million per second, so a player's `Last-Event-ID` from before a restart is never
        // mistaken for a newer one.
        let start = Timestamp::now().as_microsecond().max(0) as u64;
        Self {
            state: Mutex::new(HubState {
                next_id: start,
                ..HubState::default()
            }),
            rebuild: tokio::sync::Mutex::new(()),
            closing: watch::channel(false).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        // A panic while holding this lock leaves only counters and queues behind, all still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Says when the scheduler begins to shut down, for other long-lived responses (the
    /// console's live fleet) to end with the event streams.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends every open stream; called once the scheduler starts shutting down.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Ends every open stream of `screen`, whose token was just revoked or replaced: dropping its
    /// channel ends them, and the player reconnects with whatever token it has now.
    pub fn disconnect(&self, screen: &str) {
        self.lock().connected.remove(screen);
    }

    /// How many event streams are open now, over all screens.
    pub fn open_streams(&self) -> u64 {
        self.lock()
            .connected
            .values()
            .map(|connected| connected.connections as u64)
            .sum()
    }

    /// The screens with an open stream.
    pub fn connected_screens(&self) -> Vec<Screen> {
        self.lock()
            .connected
            .values()
            .map(|connected| connected.screen.clone())
            .collect()
    }

    /// Sends `kind` with `data` to each of `screens` that is connected and records it for replay,
    /// numbered by this hub. An `interrupt-cancelled` first withdraws its interrupt from those
    /// screens: they are no longer shown it on replay, only told it is withdrawn. Returns the
    /// event's id and how many of the screens were connected.
    pub fn publish(
        &self,
        screens: HashSet<String>,
        kind: EventKind,
        data: String,
        expires_at: Option<Timestamp>,
    ) -> (u64, usize) {
        let mut state = self.lock();
        publish_locked(&mut state, None, screens, kind, data, expires_at)
    }

    /// [`Hub::publish`] for an event the database numbered `id`, sent by this scheduler or heard
    /// from another; sent once, however often it is given. Returns how many of the screens were
    /// connected.
    fn publish_recorded(&self, id: u64, kind: EventKind, event: NewPushEvent) -> usize {
        let mut guard = self.lock();
        let state = &mut *guard;
        let now = Timestamp::now();
        state.recorded.retain(|_, until| *until > now);
        if state.recorded.contains_key(&id) {
            return 0;
        }
        state.recorded.insert(id, event.expires_at);
        let screens: HashSet<String> = event.screens.into_iter().collect();
        publish_locked(
            state,
            Some(id),
            screens,
            kind,
            event.data,
            Some(event.expires_at),
        )
        .1
    }

    /// The interrupts in force at `now` that still cover a screen, oldest first.
    pub fn interrupts_in_force(&self, now: Timestamp) -> Vec<InForce> {
        self.lock()
            .ring
            .iter()
            .filter(|recorded| recorded.event.kind == EventKind::Interrupt)
            .filter(|recorded| recorded.event.in_force(now) && !recorded.screens.is_empty())
            .filter_map(|recorded| {
                let mut screens: Vec<String> = recorded.screens.iter().cloned().collect();
                screens.sort();
                Some(InForce {
                    id: recorded.event.id?,
                    data: recorded.event.data.clone(),
                    until: recorded.event.expires_at?,
                    screens,
                })
            })
            .collect()
    }

    /// The segment of the trigger `screen` follows for a play that starts at `at`: the newest
    /// trigger for it published by then, if it still holds at `at`. A player keeps only the newest
    /// trigger it heard, from its arrival until its end, so this is the one its offer slots follow.
    pub fn trigger_at(&self, screen: &str, at: Timestamp) -> Option<String> {
        let state = self.lock();
        let newest = state.ring.iter().rev().find(|recorded| {
            recorded.event.kind == EventKind::Trigger
                && recorded.published_at <= at
                && recorded.screens.contains(screen)
        })?;
        if !newest.event.in_force(at) {
            return None;
        }
        #[derive(Deserialize)]
        struct Data {
            segment: String,
        }
        serde_json::from_str::<Data>(&newest.event.data)
            .ok()
            .map(|data| data.segment)
    }

    /// The interrupts in force that `select` picks (by id), with their end and those of their
    /// screens that are in `from`: what [`cancel_interrupts_of`] withdraws.
    fn interrupts_covering(
        &self,
        select: impl Fn(u64) -> bool,
        from: &HashSet<String>,
        now: Timestamp,
    ) -> Vec<(u64, Timestamp, HashSet<String>)> {
        self.lock()
            .ring
            .iter()
            .filter(|recorded| recorded.event.kind == EventKind::Interrupt)
            .filter(|recorded| recorded.event.in_force(now))
            .filter_map(|recorded| {
                let (id, until) = (recorded.event.id?, recorded.event.expires_at?);
                let screens: HashSet<String> =
                    recorded.screens.intersection(from).cloned().collect();
                (select(id) && !screens.is_empty()).then_some((id, until, screens))
            })
            .collect()
    }

    /// Tells `screen`, if connected and not already told, that its manifest's ETag is now `etag`.
    /// Returns whether an event went out.
    pub fn publish_manifest_changed(&self, screen: &str, etag: &str) -> bool {
        let mut state = self.lock();
        let Some(connected) = state.connected.get_mut(screen) else {
            return false;
        };
        if connected.etag.as_deref() == Some(etag) {
            return false;
        }
        connected.etag = Some(etag.to_owned());
        let event = Arc::new(PushEvent {
            id: None,
            kind: EventKind::ManifestChanged,
            data: etag.to_owned(),
            expires_at: None,
        });
        let _ = connected.sender.send(event);
        true
    }

    /// Registers a stream for `screen` and collects what it should replay first: the events after
    /// `last_event_id` addressed to it, or, without a usable id, those addressed to it still in force.
    /// Refused when the screen already holds [`MAX_STREAMS_PER_SCREEN`] streams.
    fn subscribe(
        self: &Arc<Self>,
        screen: &Screen,
        last_event_id: Option<u64>,
    ) -> Result<Subscription, TooManyStreams> {
        let mut state = self.lock();
        if state
            .connected
            .get(&screen.name)
            .is_some_and(|connected| connected.connections >= MAX_STREAMS_PER_SCREEN)
        {
            return Err(TooManyStreams);
        }
        let epoch = state.next_epoch;
        state.next_epoch += 1;
        let connected = state
            .connected
            .entry(screen.name.clone())
            .or_insert_with(|| Connected {
                screen: screen.clone(),
                sender: broadcast::channel(SCREEN_CHANNEL_CAPACITY).0,
                connections: 0,
                etag: None,
                epoch,
            });
        connected.connections += 1;
        let epoch = connected.epoch;
        let receiver = connected.sender.subscribe();
        let replay = replay_from(&state, &screen.name, last_event_id, Timestamp::now());
        Ok(Subscription {
            receiver,
            replay,
            registration: Registration {
                hub: self.clone(),
                screen: screen.name.clone(),
                epoch,
            },
        })
    }

    /// Remembers the ETag a stream opened with, so that a rebuild finding the same one stays quiet.
    fn note_etag(&self, screen: &str, etag: &str) {
        if let Some(connected) = self.lock().connected.get_mut(screen) {
            connected.etag = Some(etag.to_owned());
        }
    }
}

/// [`Hub::publish`] under the hub's lock.
fn publish_locked(
    state: &mut HubState,
    id: Option<u64>,
    screens: HashSet<String>,
    kind: EventKind,
    data: String,
    expires_at: Option<Timestamp>,
) -> (u64, usize) {
    let id = id.unwrap_or_else(|| {
        state.next_id += 1;
        state.next_id - 1
    });
    if kind == EventKind::InterruptCancelled {
        #[derive(Deserialize)]
        struct Cancel {
            interrupt: u64,
        }
        // The handlers only ever write this shape.
        if let Ok(Cancel { interrupt }) = serde_json::from_str(&data) {
            for recorded in state.ring.iter_mut() {
                if recorded.event.id == Some(interrupt)
                    && recorded.event.kind == EventKind::Interrupt
                {
                    recorded.screens.retain(|screen| !screens.contains(screen));
                }
            }
        }
    }
    let event = Arc::new(PushEvent {
        id: Some(id),
        kind,
        data,
        expires_at,
    });
    let mut reached = 0;
    for screen in &screens {
        if let Some(connected) = state.connected.get(screen) {
            // A send fails only when no receiver is left, which the registry never lets happen.
            let _ = connected.sender.send(event.clone());
            reached += 1;
        }
    }
    if state.ring.len() == RING_CAPACITY {
        state.ring.pop_front();
    }
    state.ring.push_back(Recorded {
        event,
        screens,
        published_at: Timestamp::now(),
    });
    (id, reached)
}

/// The ring's events for `screen` that a stream should replay, oldest first.
fn replay_from(
    state: &HubState,
    screen: &str,
    last_event_id: Option<u64>,
    now: Timestamp,
) -> Vec<Arc<PushEvent>> {
    let oldest = state.ring.front().and_then(|recorded| recorded.event.id);
    // The id is usable when nothing after it has left the ring: either the ring still holds the
    // event after it, or the ring is empty and the id is one this process could have handed out.
    let exact = match (last_event_id, oldest) {
        (Some(last), Some(oldest)) => last.saturating_add(1) >= oldest,
        (Some(last), None) => last < state.next_id,
        (None, _) => false,
    };
    state
        .ring
        .iter()
        .filter(|recorded| recorded.screens.contains(screen))
        .filter(|recorded| match (exact, last_event_id, recorded.event.id) {
            (true, Some(last), Some(id)) => id > last && recorded.event.in_force(now),
            _ => recorded.event.in_force(now),
        })
        .map(|recorded| recorded.event.clone())
        .collect()
}

/// A screen asked for one stream more than [`MAX_STREAMS_PER_SCREEN`].
#[derive(Debug)]
struct TooManyStreams;

struct Subscription {
    receiver: broadcast::Receiver<Arc<PushEvent>>,
    replay: Vec<Arc<PushEvent>>,
    registration: Registration,
}

/// Unregisters a stream when it ends (the client went away, or the scheduler is closing).
struct Registration {
    hub: Arc<Hub>,
    screen: String,
    epoch: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut state = self.hub.lock();
        if let Some(connected) = state
            .connected
            .get_mut(&self.screen)
            .filter(|connected| connected.epoch == self.epoch)
        {
            connected.connections -= 1;
            if connected.connections == 0 {
                state.connected.remove(&self.screen);
            }
        }
    }
}

/// `GET /v1/events`: the calling screen's event stream.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "push",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received; the events missed since are replayed"),
    ),
    responses(
        (status = 200, description = "Server-sent events: manifest changes, interrupts, triggers and commands for the screen", body = String, content_type = "text/event-stream"),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`, `too_many_streams`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("device" = [])),
)]
pub async fn events(
    State(state): State<AppState>,
    ScreenCaller(screen): ScreenCaller,
    headers: HeaderMap,
) -> Response {
    // A malformed id is treated like none: the screen then gets what is still in force, which is
    // the safe side of "exactly what it missed".
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let hub = state.hub().clone();
    // Registered before the ETag is read, so a change landing in between is sent, not lost.
    let Ok(subscription) = hub.subscribe(&screen, last_event_id) else {
        tracing::warn!(screen = %screen.name, "refused an event stream over the limit");
        state
            .metrics()
            .rate_limited(crate::metrics::RateLimit::EventStreams);
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            format!(
                "screen `{}` already holds {MAX_STREAMS_PER_SCREEN} event streams, the most one \
                 device token may hold open; close one (a player needs only one) or wait until \
                 the server notices that old connections died",
                screen.name
            ),
        )
        .into_response();
    };
    let mut first = VecDeque::new();
    if let Some(snapshot) = current_manifest_event(&state, &screen).await {
        hub.note_etag(&screen.name, &snapshot.data);
        first.push_back(Arc::new(snapshot));
    }
    first.extend(subscription.replay);
    tracing::debug!(screen = %screen.name, ?last_event_id, replayed = first.len(), "screen connected");
    let stream = EventStream {
        state,
        screen,
        receiver: subscription.receiver,
        pending: first,
        last_delivered: last_event_id,
        last_etag: None,
        closing: hub.closing.subscribe(),
        _registration: subscription.registration,
    }
    .into_stream();
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE_INTERVAL))
        .into_response();
    // Reverse proxies (nginx) buffer responses by default, which would hold events back.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The `manifest-changed` that opens a stream, or None while the screen has no playlist (or its
/// manifest cannot be built, which is logged; polling then finds out the same).
async fn current_manifest_event(state: &AppState, screen: &Screen) -> Option<PushEvent> {
    match manifest_of(state, screen).await {
        Ok(Some(manifest)) => Some(PushEvent {
            id: None,
            kind: EventKind::ManifestChanged,
            data: manifest.etag.clone(),
            expires_at: None,
        }),
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(screen = %screen.name, %error, "cannot build the manifest for a new stream");
            None
        }
    }
}

/// The state of one screen's stream between events.
struct EventStream {
    state: AppState,
    screen: Screen,
    receiver: broadcast::Receiver<Arc<PushEvent>>,
    pending: VecDeque<Arc<PushEvent>>,
    last_delivered: Option<u64>,
    /// The ETag this stream last told the screen about: a rebuild that raced the opening snapshot
    /// may announce the same one again, and a screen needs to hear of each change once.
    last_etag: Option<String>,
    closing: watch::Receiver<bool>,
    _registration: Registration,
}

impl EventStream {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> + Send {
        futures_util::stream::unfold(self, |mut stream| async move {
            let event = stream.next_event().await?;
            let sse = event.to_sse(&stream.screen.name, stream.state.signing_key());
            Some((Ok(sse), stream))
        })
    }

    async fn next_event(&mut self) -> Option<Arc<PushEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                if let Some(id) = event.id {
                    self.last_delivered = Some(self.last_delivered.map_or(id, |last| last.max(id)));
                }
                if event.kind == EventKind::ManifestChanged {
                    if self.last_etag.as_deref() == Some(event.data.as_str()) {
                        continue;
                    }
                    self.last_etag = Some(event.data.clone());
                }
                return Some(event);
            }
            let received = tokio::select! {
                received = self.receiver.recv() => received,
                _ = self.closing.wait_for(|closing| *closing) => return None,
            };
            match received {
                Ok(event) => {
                    // Replay and the live channel never overlap (both are taken under one lock),
                    // but a resend after lagging may; an id already delivered is skipped.
                    if event.id.is_some() && event.id <= self.last_delivered {
                        continue;
                    }
                    self.pending.push_back(event);
                }
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::warn!(screen = %self.screen.name, skipped, "a slow stream lagged; resending");
                    self.resend_after_lag().await;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// What a lagging stream lost is what the ring holds after its last delivered id, plus whatever
    /// `manifest-changed` it skipped, which the current ETag stands for.
    async fn resend_after_lag(&mut self) {
        if let Some(snapshot) = current_manifest_event(&self.state, &self.screen).await {
            self.pending.push_back(Arc::new(snapshot));
        }
        let hub = self.state.hub().clone();
        let state = hub.lock();
        self.pending.extend(replay_from(
            &state,
            &self.screen.name,
            self.last_delivered,
            Timestamp::now(),
        ));
    }
}

/// What a run of announced changes asks of the push fan-out: which connected screens may have a new
/// manifest.
#[derive(Debug, Default)]
struct Affected {
    all: bool,
    playlists: BTreeSet<String>,
    screens: BTreeSet<String>,
}

impl Affected {
    fn add(&mut self, change: Change) {
        match change {
            Change::Content => self.all = true,
            Change::Playlist(name) => {
                self.playlists.insert(name);
            }
            Change::Screen(name) => {
                self.screens.insert(name);
            }
            // A token or staff change moves the content generation (cached lookups are stale) but
            // changes no manifest; push events are another listener's.
            Change::Credentials | Change::PushEvents => {}
        }
    }

    fn is_empty(&self) -> bool {
        !self.all && self.playlists.is_empty() && self.screens.is_empty()
    }

    fn includes(&self, screen: &Screen) -> bool {
        self.all || self.playlists.contains(&screen.playlist) || self.screens.contains(&screen.name)
    }
}

/// Starts the one listener that turns the changes storage announces into `manifest-changed`
/// pushes, unless it runs already for this state. Changes that arrive while it rebuilds are folded
/// into its next round, so an import announcing thousands of rows costs one round. Needs a tokio
/// runtime; without one (a router built outside any) nothing is started.
pub(crate) fn start_change_fan_out(state: &AppState) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if !state.claim_change_fan_out() {
        return;
    }
    // The push events other schedulers record have a listener of their own, so that an
    // interrupt never waits behind a round of manifest rebuilds.
    let mut pushed = state.storage().changes().subscribe();
    let weak = state.downgrade();
    runtime.spawn(async move {
        loop {
            if let Some(state) = AppState::upgrade(&weak) {
                send_recorded_events(&state).await;
            } else {
                return;
            }
            loop {
                match pushed.recv().await {
                    Ok(Change::PushEvents) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    });
    let mut changes = state.storage().changes().subscribe();
    // Holds the state weakly: the task ends when the scheduler's state is dropped (the channel
    // closes with it), and does not keep it alive.
    let weak = state.downgrade();
    runtime.spawn(async move {
        loop {
            let mut affected = Affected::default();
            match changes.recv().await {
                Ok(change) => affected.add(change),
                Err(broadcast::error::RecvError::Lagged(_)) => affected.all = true,
                Err(broadcast::error::RecvError::Closed) => return,
            }
            loop {
                match changes.try_recv() {
                    Ok(change) => affected.add(change),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => affected.all = true,
                    Err(_) => break,
                }
            }
            if affected.is_empty() {
                continue;
            }
            let Some(state) = AppState::upgrade(&weak) else {
                return;
            };
            publish_manifest_changes(&state, |screen| affected.includes(screen)).await;
        }
    });
}

/// Rebuilds the manifest of every connected screen that `affected` selects and sends
/// `manifest-changed` to those whose ETag changed; screens not connected learn the new ETag when
/// they connect. What the screens share (playlists, campaigns, stores, products) is read once for
/// the round ([`Reads`]); the builds run on tokio's workers, several at a time. Failures are
/// logged: polling remains the fallback.
async fn publish_manifest_changes(state: &AppState, affected: impl Fn(&Screen) -> bool) {
    let hub = state.hub().clone();
    let _one_at_a_time = hub.rebuild.lock().await;
    let reads = Arc::new(Reads::new(state));
    let screens: Vec<Screen> = hub
        .connected_screens()
        .into_iter()
        .filter(|screen| affected(screen))
        .collect();
    if screens.len() >= READ_ALL_SCREENS_FROM
        && let Err(error) = reads.read_all_screens(state).await
    {
        tracing::warn!(%error, "cannot read the screens to push to; reading them one by one");
    }
    let sent = futures_util::stream::iter(screens)
        .map(|screen| {
            let state = state.clone();
            let hub = hub.clone();
            let reads = reads.clone();
            tokio::spawn(async move {
                match manifest_from(&state, &reads, &screen).await {
                    Ok(Some(manifest)) => hub.publish_manifest_changed(&screen.name, &manifest.etag),
                    Ok(None) => false,
                    Err(error) => {
                        tracing::warn!(screen = %screen.name, %error, "cannot rebuild a manifest to push");
                        false
                    }
                }
            })
        })
        .buffer_unordered(MANIFEST_REBUILD_CONCURRENCY)
        .filter(|sent| std::future::ready(matches!(sent, Ok(true))))
        .count()
        .await;
    if sent > 0 {
        tracing::info!(screens = sent, "pushed manifest-changed");
    }
}

/// The data of an `interrupt-cancelled` event for interrupt `id`.
fn cancel_data(id: u64) -> String {
    serde_json::to_string(&CancelData { interrupt: id }).unwrap_or_default()
}

/// The commands a player understands.
const COMMANDS: &[&str] = &["resync", "screenshot", "identify", "restart"];

/// `POST /v1/interrupts`: an emergency message, full screen, on every addressed screen.
#[utoipa::path(
    post,
    path = "/v1/interrupts",
    tag = "push",
    request_body = crate::events::InterruptRequest,
    responses(
        (status = 201, description = "Sent to the connected screens and kept for those that reconnect", body = crate::events::Published),
        (status = 400, description = "Error codes: `bad_request`, `invalid_duration`, `invalid_message`, `no_audience`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `unknown_region`, `unknown_screen`, `unknown_store`, `unknown_tag`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn post_interrupt(
    State(state): State<AppState>,
    manager: Manager,
    body: Result<Json<InterruptRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let Json(request) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, PUSH_BODY_LIMIT))?;
    let message = request.message.trim();
    if message.is_empty() || message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_message",
            format!("an interrupt's message must be 1-{MAX_MESSAGE_CHARS} characters"),
        ));
    }
    let duration = parse_lifetime("duration", &request.duration)?;
    let audience = Audience {
        screens: request.screens,
        region: request.region,
        stores: request.stores,
        tags: request.tags,
    };
    let screens = resolve_audience(&state, &audience).await?;
    // Staff reach only the screens of their stores.
    manager.ensure_screens(&state, &screens).await?;
    let until = later_by(duration)?;
    let data = serde_json::to_string(&InterruptData {
        message: message.to_owned(),
        until,
    })
    .map_err(|error| ApiError::internal("serialising an interrupt", error))?;
    let published = publish_to(&state, screens, EventKind::Interrupt, data, until).await?;
    tracing::info!(
        id = published.id,
        screens = published.screens.len(),
        connected = published.connected,
        "interrupt published"
    );
    Ok((StatusCode::CREATED, Json(published)))
}

/// `GET /v1/interrupts`: the interrupts in force, oldest first. Staff see those on their stores'
/// screens, naming only those screens.
#[utoipa::path(
    get,
    path = "/v1/interrupts",
    tag = "push",
    responses(
        (status = 200, description = "The interrupts in force", body = crate::events::InterruptList),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn list_interrupts(
    State(state): State<AppState>,
    manager: Manager,
) -> Result<Json<InterruptList>, ApiError> {
    let mut interrupts = Vec::new();
    for in_force in state.hub().interrupts_in_force(Timestamp::now()) {
        let screens = manager.own_screens(&state, in_force.screens).await?;
        if screens.is_empty() {
            continue;
        }
        #[derive(Deserialize)]
        struct Message {
            message: String,
        }
        let Message { message } = serde_json::from_str(&in_force.data)
            .map_err(|error| ApiError::internal("reading a recorded interrupt", error))?;
        interrupts.push(InterruptInForce {
            id: in_force.id,
            message,
            until: in_force.until,
            screens,
        });
    }
    Ok(Json(InterruptList { interrupts }))
}

/// `POST /v1/interrupts/{id}/cancel`: withdraws one interrupt from every screen it covers. Staff
/// may do so when every one of those screens is in their stores, as for posting it.
#[utoipa::path(
    post,
    path = "/v1/interrupts/{id}/cancel",
    tag = "push",
    params(
        ("id" = String, Path, description = "The interrupt's id on the push channel"),
    ),
    responses(
        (status = 200, description = "The interrupt withdrawn", body = crate::events::Cancelled),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `unknown_interrupt`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn cancel_interrupt(
    State(state): State<AppState>,
    manager: Manager,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Cancelled>, ApiError> {
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_interrupt",
            format!(
                "no interrupt `{}` is in force; `vitrine interrupt list` shows those that are",
                id.chars().take(40).collect::<String>()
            ),
        )
    };
    let number: u64 = id.trim().parse().map_err(|_| unknown())?;
    let in_force = state
        .hub()
        .interrupts_in_force(Timestamp::now())
        .into_iter()
        .find(|in_force| in_force.id == number)
        .ok_or_else(unknown)?;
    manager.ensure_screens(&state, &in_force.screens).await?;
    let from: HashSet<String> = in_force.screens.into_iter().collect();
    let cancelled = cancel_interrupts_of(
        &state,
        |candidate| candidate == number,
        &from,
        Timestamp::now(),
    )
    .await?;
    if cancelled.is_empty() {
        // It ended, or someone else withdrew it, in between.
        return Err(unknown());
    }
    tracing::info!(id = number, "interrupt cancelled");
    Ok(Json(Cancelled { cancelled }))
}

/// `POST /v1/interrupts/cancel`: withdraws every interrupt in force from the audience's screens,
/// whoever sent it. Staff may name only their stores' screens, as for posting.
#[utoipa::path(
    post,
    path = "/v1/interrupts/cancel",
    tag = "push",
    request_body = crate::events::Audience,
    responses(
        (status = 200, description = "The interrupts withdrawn", body = crate::events::Cancelled),
        (status = 400, description = "Error codes: `bad_request`, `no_audience`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `unknown_region`, `unknown_screen`, `unknown_store`, `unknown_tag`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn cancel_interrupts(
    State(state): State<AppState>,
    manager: Manager,
    body: Result<Json<Audience>, JsonRejection>,
) -> Result<Json<Cancelled>, ApiError> {
    let Json(audience) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, PUSH_BODY_LIMIT))?;
    let screens = resolve_audience(&state, &audience).await?;
    manager.ensure_screens(&state, &screens).await?;
    let from: HashSet<String> = screens.into_iter().collect();
    let cancelled = cancel_interrupts_of(&state, |_| true, &from, Timestamp::now()).await?;
    tracing::info!(interrupts = cancelled.len(), "interrupts cancelled");
    Ok(Json(Cancelled { cancelled }))
}

/// `POST /v1/triggers`: makes a store's next offer slots target a segment until the ttl runs out.
#[utoipa::path(
    post,
    path = "/v1/triggers",
    tag = "push",
    request_body = crate::events::TriggerRequest,
    responses(
        (status = 201, description = "Sent to the connected screens", body = crate::events::Published),
        (status = 400, description = "Error codes: `bad_request`, `invalid_duration`, `invalid_segment`, `no_audience`, `unknown_segment`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `unknown_region`, `unknown_screen`, `unknown_store`, `unknown_tag`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn post_trigger(
    State(state): State<AppState>,
    manager: Manager,
    body: Result<Json<TriggerRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let Json(request) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, PUSH_BODY_LIMIT))?;
    let segment = request.segment.trim();
    if segment.is_empty() || segment.len() > 64 || segment.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_segment",
            "a segment is 1-64 printable characters, as in the store's segment mix",
        ));
    }
    let ttl = parse_lifetime("ttl", &request.ttl)?;
    manager.ensure_store(Some(&request.store), "the trigger's store")?;
    let audience = Audience {
        stores: vec![request.store],
        ..Audience::default()
    };
    let screens = resolve_audience(&state, &audience).await?;
    // Staff reach only the screens of their stores.
    manager.ensure_screens(&state, &screens).await?;
    // A segment the CRM does not know matches no offer: the trigger would do nothing.
    let known = state.storage().known_segments().await?;
    if !known.iter().any(|name| name == segment) {
        let listed = if known.is_empty() {
            "no segments are imported yet; import the CRM's segment mix first with `vitrine \
             segments import`"
                .to_owned()
        } else {
            format!("the known segments are: {}", known.join(", "))
        };
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unknown_segment",
            format!(
                "segment `{}` is not in the CRM's segment import; {listed}",
                segment.chars().take(64).collect::<String>()
            ),
        ));
    }
    let until = later_by(ttl)?;
    let data = serde_json::to_string(&TriggerData {
        segment: segment.to_owned(),
        until,
    })
    .map_err(|error| ApiError::internal("serialising a trigger", error))?;
    let published = publish_to(&state, screens, EventKind::Trigger, data, until).await?;
    tracing::info!(
        id = published.id,
        screens = published.screens.len(),
        "trigger published"
    );
    Ok((StatusCode::CREATED, Json(published)))
}

/// `POST /v1/commands`: asks screens to do something now: `resync` (fetch the manifest now),
/// `screenshot` (send the next frame to `PUT /v1/screenshot`, then read it with
/// `GET /v1/screens/{name}/screenshot`), `identify` (show the screen's name full screen for ten
/// seconds) or `restart` (restart the player process in place).
#[utoipa::path(
    post,
    path = "/v1/commands",
    tag = "push",
    request_body = crate::events::CommandRequest,
    responses(
        (status = 201, description = "Sent to the connected screens", body = crate::events::Published),
        (status = 400, description = "Error codes: `bad_request`, `no_audience`, `unknown_command`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 404, description = "Error codes: `unknown_region`, `unknown_screen`, `unknown_store`, `unknown_tag`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn post_command(
    State(state): State<AppState>,
    manager: Manager,
    body: Result<Json<CommandRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let Json(request) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, PUSH_BODY_LIMIT))?;
    if !COMMANDS.contains(&request.command.as_str()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unknown_command",
            format!(
                "`{}` is not a command players know; use one of: {}",
                request.command.chars().take(40).collect::<String>(),
                COMMANDS.join(", ")
            ),
        ));
    }
    let audience = Audience {
        screens: request.screens,
        region: request.region,
        stores: request.stores,
        tags: request.tags,
    };
    let screens = resolve_audience(&state, &audience).await?;
    // Staff reach only the screens of their stores.
    manager.ensure_screens(&state, &screens).await?;
    let data = serde_json::to_string(&CommandData {
        command: request.command,
    })
    .map_err(|error| ApiError::internal("serialising a command", error))?;
    let expires_at = later_by(COMMAND_LIFETIME)?;
    let published = publish_to(&state, screens, EventKind::Command, data, expires_at).await?;
    Ok((
        StatusCode::CREATED,
        Json(Published {
            until: None,
            ..published
        }),
    ))
}

/// Sends an interrupt, trigger or command to `screens` (see [`send`]).
async fn publish_to(
    state: &AppState,
    screens: Vec<String>,
    kind: EventKind,
    data: String,
    until: Timestamp,
) -> Result<Published, ApiError> {
    let (id, connected) = send(state, screens.clone(), kind, data, until).await?;
    Ok(Published {
        id,
        screens,
        connected,
        until: Some(until),
    })
}

/// Sends `kind` with `data` to the connected `screens` until `until`, and keeps it for those that
/// reconnect. Where other schedulers share the database it is recorded there first, numbered by
/// it, and they send it to the screens streaming from them; a screen that reconnects to any of
/// them replays it. Returns its id and how many of the screens are connected here.
async fn send(
    state: &AppState,
    screens: Vec<String>,
    kind: EventKind,
    data: String,
    until: Timestamp,
) -> Result<(u64, usize), ApiError> {
    let event = NewPushEvent {
        kind: kind.as_str().to_owned(),
        screens,
        data,
        expires_at: until,
    };
    Ok(
        match state.storage().record_push_event(event.clone()).await? {
            Some(id) => (id, state.hub().publish_recorded(id, kind, event)),
            None => state.hub().publish(
                event.screens.into_iter().collect(),
                kind,
                event.data,
                Some(until),
            ),
        },
    )
}

/// Withdraws the interrupts in force that `select` picks (by id) from their screens in `from`,
/// telling each of those screens with a signed `interrupt-cancelled`; the cancel is kept for
/// replay until the interrupt would have ended, for a screen that reconnects having missed it.
async fn cancel_interrupts_of(
    state: &AppState,
    select: impl Fn(u64) -> bool,
    from: &HashSet<String>,
    now: Timestamp,
) -> Result<Vec<Withdrawn>, ApiError> {
    let mut cancelled = Vec::new();
    for (id, until, screens) in state.hub().interrupts_covering(select, from, now) {
        let mut screens: Vec<String> = screens.into_iter().collect();
        screens.sort();
        let data = cancel_data(id);
        let (_, connected) = send(
            state,
            screens.clone(),
            EventKind::InterruptCancelled,
            data,
            until,
        )
        .await?;
        cancelled.push(Withdrawn {
            id,
            screens,
            connected,
        });
    }
    Ok(cancelled)
}

/// Sends the push events the other schedulers recorded that this one has not sent yet: after
/// they announce some, and once at start, so that a replica started late replays what is in force.
async fn send_recorded_events(state: &AppState) {
    let events = match state.storage().push_events_in_force(Timestamp::now()).await {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(%error, "cannot read the push events other schedulers recorded");
            return;
        }
    };
    for stored in events {
        let Some(kind) = EventKind::recorded(&stored.event.kind) else {
            tracing::warn!(kind = %stored.event.kind, id = stored.id, "a recorded push event of an unknown kind is skipped");
            continue;
        };
        state.hub().publish_recorded(stored.id, kind, stored.event);
    }
}

/// A lifetime like `30s` or `10m`: positive and at most a day, since anything longer is a campaign.
fn parse_lifetime(field: &str, text: &str) -> Result<Duration, ApiError> {
    let invalid = |why: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_duration",
            format!("`{field}`: {why}; write it like `30s`, `5m` or `1h`, at most a day"),
        )
    };
    // An interrupt of zero seconds (`0s`, `0m`) is what someone tries who wants one off the
    // screen: say how to do that.
    let zero = text.contains('0')
        && text.chars().all(|character| {
            character == '0' || character.is_ascii_alphabetic() || character == ' '
        });
    if zero && field == "duration" {
        return Err(invalid(
            "it must be longer than zero; to take an interrupt off screens before its end, cancel \
             it (`vitrine interrupt cancel ID`, or `--all --store S`)"
                .into(),
        ));
    }
    let duration = vitrine_core::ItemDuration::parse(text)
        .map_err(|error| invalid(error.to_string()))?
        .as_std();
    if duration.is_zero() {
        return Err(invalid("it must be longer than zero".into()));
    }
    Ok(duration)
}

fn later_by(duration: Duration) -> Result<Timestamp, ApiError> {
    let span = jiff::SignedDuration::try_from(duration)
        .map_err(|error| ApiError::internal("converting a duration", error))?;
    Timestamp::now()
        .checked_add(span)
        .map_err(|error| ApiError::internal("computing an expiry", error))
}

/// The names of the screens an audience addresses, sorted; an unknown name of any kind is a 404
/// naming it, and an audience that addresses nobody is a 400.
async fn resolve_audience(state: &AppState, audience: &Audience) -> Result<Vec<String>, ApiError> {
    let Audience {
        screens,
        region,
        stores,
        tags,
    } = audience;
    if screens.is_empty() && region.is_none() && stores.is_empty() && tags.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_audience",
            "say who gets this: `screens`, `region`, `stores` or `tags`",
        ));
    }
    let mut names = HashSet::new();
    for screen in screens {
        if !state.storage().screen_exists(screen.clone()).await? {
            return Err(not_found("unknown_screen", "screen", screen));
        }
        names.insert(screen.clone());
    }
    if region.is_some() || !stores.is_empty() || !tags.is_empty() {
        let found = state
            .storage()
            .screens_in(region.clone(), stores.clone(), tags.clone())
            .await?
            .map_err(|unknown| match unknown {
                UnknownTarget::Region(name) => not_found("unknown_region", "region", &name),
                UnknownTarget::Store(name) => not_found("unknown_store", "store", &name),
                UnknownTarget::Tag(name) => not_found("unknown_tag", "tag", &name),
            })?;
        names.extend(found);
    }
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();
    Ok(names)
}

pub(crate) fn not_found(code: &'static str, what: &str, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        code,
        format!(
            "no {what} called `{}` is registered; check the name",
            name.chars().take(80).collect::<String>()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_changes_select_the_screens_they_concern() {
        let screen = |name: &str, playlist: &str| Screen {
            name: name.to_owned(),
            playlist: playlist.to_owned(),
            timezone: String::new(),
        };
        let lobby = screen("lobby", "welcome");
        let till = screen("till", "checkout");

        let mut affected = Affected::default();
        affected.add(Change::Credentials);
        assert!(affected.is_empty(), "a token change pushes no manifest");

        affected.add(Change::Playlist("welcome".to_owned()));
        affected.add(Change::Screen("till".to_owned()));
        assert!(affected.includes(&lobby), "it plays the pushed playlist");
        assert!(affected.includes(&till), "its own record changed");
        assert!(!affected.includes(&screen("door", "checkout")));

        affected.add(Change::Content);
        assert!(
            affected.includes(&screen("door", "checkout")),
            "content concerns all"
        );
    }

    fn screen(name: &str) -> Screen {
        Screen {
            name: name.into(),
            playlist: "p".into(),
            timezone: String::new(),
        }
    }

    fn only(name: &str) -> HashSet<String> {
        HashSet::from([name.to_owned()])
    }

    #[test]
    fn replay_gives_exactly_the_missed_events_of_the_screen() {
        let hub = Arc::new(Hub::new());
        let first = hub
            .publish(only("a"), EventKind::Command, "1".into(), None)
            .0;
        let second = hub
            .publish(only("b"), EventKind::Command, "2".into(), None)
            .0;
        let third = hub
            .publish(only("a"), EventKind::Command, "3".into(), None)
            .0;
        assert!(first < second && second < third);
        let state = hub.lock();
        let data = |events: Vec<Arc<PushEvent>>| -> Vec<String> {
            events.iter().map(|event| event.data.clone()).collect()
        };
        let now = Timestamp::now();
        assert_eq!(data(replay_from(&state, "a", Some(first), now)), ["3"]);
        assert_eq!(
            data(replay_from(&state, "a", Some(third), now)),
            Vec::<String>::new()
        );
        assert_eq!(data(replay_from(&state, "b", Some(first), now)), ["2"]);
        // Without an id, or with one from before the ring, what is in force is replayed.
        assert_eq!(data(replay_from(&state, "a", None, now)), ["1", "3"]);
        assert_eq!(data(replay_from(&state, "a", Some(1), now)), ["1", "3"]);
    }

    #[test]
    fn expired_events_are_not_replayed() {
        let hub = Arc::new(Hub::new());
        let past = Timestamp::now() - jiff::SignedDuration::from_secs(1);
        hub.publish(only("a"), EventKind::Interrupt, "old".into(), Some(past));
        let state = hub.lock();
        assert!(replay_from(&state, "a", None, Timestamp::now()).is_empty());
    }

    /// What [`cancel_interrupts_of`] does on one scheduler: a cancel of each interrupt picked, to
    /// its screens in `from`. Returns those screens, per interrupt.
    fn withdraw(
        hub: &Hub,
        select: impl Fn(u64) -> bool,
        from: &HashSet<String>,
        now: Timestamp,
    ) -> Vec<Vec<String>> {
        hub.interrupts_covering(select, from, now)
            .into_iter()
            .map(|(id, until, screens)| {
                let mut names: Vec<String> = screens.iter().cloned().collect();
                names.sort();
                let data = cancel_data(id);
                hub.publish(screens, EventKind::InterruptCancelled, data, Some(until));
                names
            })
            .collect()
    }

    #[test]
    fn a_recorded_event_is_sent_once_and_a_recorded_cancel_withdraws_its_interrupt() {
        let hub = Arc::new(Hub::new());
        let now = Timestamp::now();
        let until = now + jiff::SignedDuration::from_secs(60);
        let event = |kind: EventKind, screens: &[&str], data: &str| NewPushEvent {
            kind: kind.as_str().to_owned(),
            screens: screens.iter().map(|screen| screen.to_string()).collect(),
            data: data.to_owned(),
            expires_at: until,
        };
        let interrupt = event(EventKind::Interrupt, &["a", "b"], r#"{"message":"Exit"}"#);
        hub.publish_recorded(7, EventKind::Interrupt, interrupt.clone());
        // Heard again (each announcement reads every event in force): not sent twice.
        hub.publish_recorded(7, EventKind::Interrupt, interrupt);
        assert_eq!(hub.lock().ring.len(), 1);
        let cancel = event(EventKind::InterruptCancelled, &["a"], r#"{"interrupt":7}"#);
        hub.publish_recorded(8, EventKind::InterruptCancelled, cancel);
        let in_force = hub.interrupts_in_force(now);
        assert_eq!(in_force.len(), 1);
        assert_eq!(
            (in_force[0].id, in_force[0].screens.as_slice()),
            (7, &["b".to_owned()][..])
        );
        let state = hub.lock();
        let replayed = |screen: &str| -> Vec<Option<u64>> {
            replay_from(&state, screen, None, now)
                .iter()
                .map(|event| event.id)
                .collect()
        };
        assert_eq!(replayed("a"), [Some(8)]);
        assert_eq!(replayed("b"), [Some(7)]);
    }

    #[test]
    fn an_interrupt_withdrawn_from_some_screens_stays_on_the_others() {
        let hub = Arc::new(Hub::new());
        let now = Timestamp::now();
        let until = now + jiff::SignedDuration::from_secs(60);
        let both = HashSet::from(["a".to_owned(), "b".to_owned()]);
        let (id, _) = hub.publish(both, EventKind::Interrupt, "{}".into(), Some(until));
        let withdrawn = withdraw(&hub, |candidate| candidate == id, &only("a"), now);
        assert_eq!(withdrawn, [["a"]]);
        let in_force = hub.interrupts_in_force(now);
        assert_eq!(in_force.len(), 1);
        assert_eq!(in_force[0].screens, ["b"]);
        let state = hub.lock();
        let kinds = |screen: &str| -> Vec<EventKind> {
            replay_from(&state, screen, None, now)
                .iter()
                .map(|event| event.kind)
                .collect()
        };
        // `a` is never shown it again, only told it is withdrawn; `b` still gets it.
        assert_eq!(kinds("a"), [EventKind::InterruptCancelled]);
        assert_eq!(kinds("b"), [EventKind::Interrupt]);
        drop(state);
        // Withdrawn from the rest, it is no longer in force anywhere.
        withdraw(&hub, |_| true, &only("b"), now);
        assert!(hub.interrupts_in_force(now).is_empty());
    }

    #[test]
    fn the_ring_is_bounded() {
        let hub = Arc::new(Hub::new());
        for index in 0..RING_CAPACITY + 10 {
            hub.publish(only("a"), EventKind::Command, index.to_string(), None);
        }
        assert_eq!(hub.lock().ring.len(), RING_CAPACITY);
    }

    #[tokio::test]
    async fn manifest_changed_goes_only_to_its_screen_and_only_when_new() {
        let hub = Arc::new(Hub::new());
        let mut a = hub.subscribe(&screen("a"), None).unwrap();
        let mut b = hub.subscribe(&screen("b"), None).unwrap();
        assert!(hub.publish_manifest_changed("a", "\"e1\""));
        assert!(
            !hub.publish_manifest_changed("a", "\"e1\""),
            "same ETag again"
        );
        assert!(
            !hub.publish_manifest_changed("c", "\"e1\""),
            "not connected"
        );
        let event = a.receiver.try_recv().expect("a got it");
        assert_eq!(event.kind, EventKind::ManifestChanged);
        assert_eq!(event.data, "\"e1\"");
        assert!(b.receiver.try_recv().is_err(), "b got nothing");
        drop(a);
        assert_eq!(hub.connected_screens().len(), 1);
    }

    #[test]
    fn a_screen_holds_at_most_the_stream_limit_and_a_closed_one_frees_its_place() {
        let hub = Arc::new(Hub::new());
        let mut open: Vec<Subscription> = (0..MAX_STREAMS_PER_SCREEN)
            .map(|_| hub.subscribe(&screen("a"), None).expect("under the limit"))
            .collect();
        assert!(hub.subscribe(&screen("a"), None).is_err(), "one over");
        // Another screen is counted apart.
        assert!(hub.subscribe(&screen("b"), None).is_ok());
        open.pop();
        assert!(hub.subscribe(&screen("a"), None).is_ok());
    }

    #[test]
    fn acting_events_are_signed_for_their_screen_and_manifest_changes_are_not() {
        use ed25519_dalek::Verifier;
        let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let until: Timestamp = "2026-11-22T20:00:00Z".parse().unwrap();
        let interrupt = PushEvent {
            id: Some(42),
            kind: EventKind::Interrupt,
            data: r#"{"message":"Leave","until":"2026-11-22T20:00:00Z"}"#.into(),
            expires_at: Some(until),
        };
        let envelope: vitrine_core::push::Envelope =
            serde_json::from_str(&crate::signing::sign_event(
                &key,
                &vitrine_core::push::SignedEvent {
                    screen: "door".into(),
                    event: "interrupt".into(),
                    id: 42,
                    expires_at: until,
                    data: serde_json::from_str(&interrupt.data).unwrap(),
                },
            ))
            .unwrap();
        let signature: [u8; 64] = hex::decode(&envelope.signature)
            .unwrap()
            .try_into()
            .unwrap();
        key.verifying_key()
            .verify(
                envelope.signed.as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&signature),
            )
            .expect("verifies");
        let signed: vitrine_core::push::SignedEvent =
            serde_json::from_str(&envelope.signed).unwrap();
        assert_eq!(
            (signed.screen.as_str(), signed.id, signed.expires_at),
            ("door", 42, until)
        );
        assert_eq!(signed.data["message"], "Leave");
        // What a stream writes is that envelope, for its own screen.
        let written = format!("{:?}", interrupt.to_sse("door", &key));
        assert!(written.contains("signature"), "{written}");
        let changed = PushEvent {
            id: Some(43),
            kind: EventKind::ManifestChanged,
            data: "\"e1\"".into(),
            expires_at: None,
        };
        let written = format!("{:?}", changed.to_sse("door", &key));
        assert!(!written.contains("signature"), "{written}");
    }
}
