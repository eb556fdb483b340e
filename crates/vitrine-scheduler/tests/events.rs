//! The push channel driven through `app()`: `GET /v1/events` streams read frame by frame, and the
//! admin endpoints that put interrupts, triggers and commands on them.

use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::http::{Method, Request, StatusCode, header};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use vitrine_core::Sha256Hex;

mod common;

use common::{ADMIN, Harness};

const DEMO: &str = "version: 1\nname: demo\nitems:\n  - image: { file: red.png, duration: 1s }\n";
const DEMO_V2: &str =
    "version: 1\nname: demo\nitems:\n  - image: { file: red.png, duration: 2s }\n";

/// How long a test waits for an event that must come.
const EXPECTED: Duration = Duration::from_secs(5);
/// How long a test waits to be sure an event does not come.
const QUIET: Duration = Duration::from_millis(400);

/// One SSE event as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sse {
    event: String,
    id: Option<String>,
    data: String,
}

/// Reads SSE events off a response body.
struct EventReader {
    body: BodyDataStream,
    buffer: String,
}

impl EventReader {
    /// The next event within `wait`, skipping keep-alive comments; None if none came.
    async fn next_within(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Sse {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        event.event = value.trim_start().to_owned();
                        any = true;
                    } else if let Some(value) = line.strip_prefix("id:") {
                        event.id = Some(value.trim_start().to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        event
                            .data
                            .push_str(value.strip_prefix(' ').unwrap_or(value));
                        any = true;
                    }
                }
                if any {
                    return Some(event);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??
                .expect("body chunk");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    async fn next(&mut self) -> Sse {
        self.next_within(EXPECTED)
            .await
            .expect("an event within 5 s")
    }

    async fn assert_quiet(&mut self) {
        if let Some(event) = self.next_within(QUIET).await {
            panic!("expected no event, got {event:?}");
        }
    }
}

impl Harness {
    /// A call whose answer is read as JSON (`Null` when the body is not JSON).
    async fn call_json(
        &self,
        method: Method,
        uri: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let reply = self.call(method, uri, Some(token), body).await;
        let value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        (reply.status, value)
    }

    /// Registers a screen whose playlist need not have been pushed yet (the admin's
    /// `allow_unpushed`): a stream with no manifest opens quiet, which these tests rely on.
    async fn register(&self, name: &str, playlist: &str) -> String {
        let (status, body) = self
            .call_json(
                Method::POST,
                "/v1/screens",
                ADMIN,
                Some(json!({"name": name, "playlist": playlist, "allow_unpushed": true})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    async fn push(&self, source: &str) {
        let bytes = b"red pixels";
        let digest = Sha256Hex::of_bytes(bytes);
        let request = Request::put(format!("/v1/media/{digest}"))
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .body(Body::from(bytes.to_vec()))
            .expect("request");
        let response = self.router().oneshot(request).await.expect("infallible");
        assert!(response.status().is_success());
        let (status, body) = self
            .call_json(
                Method::POST,
                "/v1/playlists",
                ADMIN,
                Some(json!({"file_name": "demo.yaml", "source": source, "media": {"red.png": digest}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// The ETag `GET /v1/manifest` gives this screen now.
    async fn etag(&self, token: &str) -> String {
        let request = Request::get("/v1/manifest")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        let response = self.router().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        response.headers()[header::ETAG]
            .to_str()
            .expect("ASCII")
            .to_owned()
    }

    async fn connect(&self, token: &str, last_event_id: Option<&str>) -> EventReader {
        let mut request = Request::get("/v1/events")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = self
            .router()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream"
        );
        EventReader {
            body: response.into_body().into_data_stream(),
            buffer: String::new(),
        }
    }

    /// The fields of a signed event, after checking that its envelope verifies with the key
    /// `GET /v1/server-key` publishes and that the signed text names `screen`, the event's name
    /// and its id.
    async fn opened(&self, event: &Sse, screen: &str) -> Value {
        let (status, key) = self
            .call_json(Method::GET, "/v1/server-key", ADMIN, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let key: [u8; 32] = hex::decode(key["public_key"].as_str().expect("key"))
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let envelope: vitrine_core::push::Envelope =
            serde_json::from_str(&event.data).expect("a signed envelope");
        let signature: [u8; 64] = hex::decode(&envelope.signature)
            .expect("hex")
            .try_into()
            .expect("64 bytes");
        VerifyingKey::from_bytes(&key)
            .expect("key")
            .verify(
                envelope.signed.as_bytes(),
                &Signature::from_bytes(&signature),
            )
            .expect("the event verifies with the server key");
        let signed: vitrine_core::push::SignedEvent =
            serde_json::from_str(&envelope.signed).expect("signed text");
        assert_eq!(signed.screen, screen);
        assert_eq!(signed.event, event.event);
        assert_eq!(Some(signed.id.to_string()), event.id);
        signed.data
    }

    /// Uploads [`STORES`], [`FEED`], [`OFFER_PLAYLIST`] and [`OFFER_CAMPAIGN`], then each of
    /// `campaigns` (file name, source).
    async fn upload_offers(&self, campaigns: &[(&str, &str)]) {
        let uploads = [
            ("/v1/stores", "stores.csv", STORES),
            ("/v1/feed", "feed.tsv", FEED),
            ("/v1/playlists", "store.yaml", OFFER_PLAYLIST),
            ("/v1/campaigns", "spread.yaml", OFFER_CAMPAIGN),
        ];
        let more = campaigns
            .iter()
            .map(|(file_name, source)| ("/v1/campaigns", *file_name, *source));
        for (path, file_name, source) in uploads.into_iter().chain(more) {
            let (status, body) = self
                .call_json(
                    Method::POST,
                    path,
                    ADMIN,
                    Some(json!({"file_name": file_name, "source": source})),
                )
                .await;
            assert!(status.is_success(), "{path}: {body}");
        }
    }

    /// Imports paris-11's inventory with no hazelnut spread left; returns the import's report.
    async fn hazelnut_out_of_stock_in_paris(&self) -> Value {
        let (status, report) = self
            .call_json(
                Method::POST,
                "/v1/feed/inventory",
                ADMIN,
                Some(json!({
                    "file_name": "inventory.tsv",
                    "source": "store_code\tid\tquantity\nparis-11\thazelnut-750\t0\n",
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        report
    }

    async fn interrupt(&self, body: Value) -> (StatusCode, Value) {
        self.call_json(Method::POST, "/v1/interrupts", ADMIN, Some(body))
            .await
    }
}

#[tokio::test]
async fn a_stream_opens_with_the_current_etag_and_a_push_sends_the_new_one() {
    let harness = Harness::new();
    let token = harness.register("lobby", "demo").await;
    harness.push(DEMO).await;
    let mut events = harness.connect(&token, None).await;
    let opening = events.next().await;
    assert_eq!(opening.event, "manifest-changed");
    assert_eq!(
        opening.id, None,
        "the opening snapshot must not move Last-Event-ID"
    );
    assert_eq!(opening.data, harness.etag(&token).await);

    harness.push(DEMO_V2).await;
    let changed = events.next().await;
    assert_eq!(changed.event, "manifest-changed");
    assert_eq!(
        changed.id, None,
        "a manifest-changed names the ETag of now, which a reconnect opens with: it must not move \
         Last-Event-ID"
    );
    let new_etag = harness.etag(&token).await;
    assert_ne!(new_etag, opening.data);
    assert_eq!(changed.data, new_etag);

    // A push of another playlist leaves this screen's manifest alone, so nothing is sent.
    harness
        .push(&DEMO_V2.replace("name: demo", "name: menu"))
        .await;
    events.assert_quiet().await;
}

#[tokio::test]
async fn last_event_id_replays_exactly_what_the_screen_missed() {
    let harness = Harness::new();
    let token = harness.register("lobby", "demo").await;
    harness.register("other", "demo").await;
    let mut events = harness.connect(&token, None).await;
    let (status, body) = harness
        .interrupt(json!({"screens": ["lobby"], "message": "one", "duration": "1m"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let first = events.next().await;
    assert_eq!(first.event, "interrupt");
    assert_eq!(first.id, Some(body["id"].to_string()));
    let data = harness.opened(&first, "lobby").await;
    assert_eq!(data["message"], "one");
    assert!(
        data["until"]
            .as_str()
            .is_some_and(|until| until.ends_with('Z'))
    );
    drop(events);

    // Missed while away: two for this screen, one for another.
    for (screen, message) in [("lobby", "two"), ("other", "not yours"), ("lobby", "three")] {
        let (status, body) = harness
            .interrupt(json!({"screens": [screen], "message": message, "duration": "1m"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["connected"], 0);
    }
    let mut events = harness.connect(&token, first.id.as_deref()).await;
    let mut replayed = Vec::new();
    while let Some(event) = events.next_within(QUIET).await {
        let data = harness.opened(&event, "lobby").await;
        replayed.push(data["message"].as_str().expect("message").to_owned());
    }
    assert_eq!(replayed, ["two", "three"]);

    // A screen that comes up without an id gets what is still in force: all three of its own.
    let mut fresh = harness.connect(&token, None).await;
    let mut in_force = Vec::new();
    while let Some(event) = fresh.next_within(QUIET).await {
        let data = harness.opened(&event, "lobby").await;
        in_force.push(data["message"].as_str().expect("message").to_owned());
    }
    assert_eq!(in_force, ["one", "two", "three"]);
}

#[tokio::test]
async fn a_screen_receives_only_its_own_events() {
    let harness = Harness::new();
    let lobby = harness.register("lobby", "demo").await;
    let cafe = harness.register("cafe", "menu").await;
    harness.push(DEMO).await;
    let mut lobby_events = harness.connect(&lobby, None).await;
    assert_eq!(lobby_events.next().await.event, "manifest-changed");
    // The cafe's playlist was never pushed: its stream opens without a snapshot.
    let mut cafe_events = harness.connect(&cafe, None).await;
    cafe_events.assert_quiet().await;

    let (status, body) = harness
        .interrupt(json!({"screens": ["lobby"], "message": "Fire drill", "duration": "30s"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["screens"], json!(["lobby"]));
    assert_eq!(body["connected"], 1);
    assert_eq!(lobby_events.next().await.event, "interrupt");
    harness.push(DEMO_V2).await;
    assert_eq!(lobby_events.next().await.event, "manifest-changed");
    let (status, _) = harness
        .call_json(
            Method::POST,
            "/v1/commands",
            ADMIN,
            Some(json!({"screens": ["lobby"], "command": "resync"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let command = lobby_events.next().await;
    assert_eq!(command.event, "command");
    assert_eq!(
        harness.opened(&command, "lobby").await,
        json!({"command": "resync"})
    );
    cafe_events.assert_quiet().await;
}

#[tokio::test]
async fn push_endpoints_refuse_bad_input_with_clear_codes() {
    let harness = Harness::new();
    let token = harness.register("lobby", "demo").await;
    let cases = [
        (
            "/v1/interrupts",
            json!({"screens": ["lobby"], "message": "  ", "duration": "30s"}),
            StatusCode::BAD_REQUEST,
            "invalid_message",
        ),
        (
            "/v1/interrupts",
            json!({"screens": ["lobby"], "message": "x", "duration": "soon"}),
            StatusCode::BAD_REQUEST,
            "invalid_duration",
        ),
        (
            "/v1/interrupts",
            json!({"message": "x", "duration": "30s"}),
            StatusCode::BAD_REQUEST,
            "no_audience",
        ),
        (
            "/v1/interrupts",
            json!({"screens": ["nowhere"], "message": "x", "duration": "30s"}),
            StatusCode::NOT_FOUND,
            "unknown_screen",
        ),
        (
            "/v1/interrupts",
            json!({"screens": ["lobby"], "message": "x", "duration": "30s", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/triggers",
            json!({"store": "S1", "segment": "", "ttl": "10m"}),
            StatusCode::BAD_REQUEST,
            "invalid_segment",
        ),
        (
            "/v1/commands",
            json!({"screens": ["lobby"], "command": "reboot"}),
            StatusCode::BAD_REQUEST,
            "unknown_command",
        ),
    ];
    for (uri, body, status, code) in cases {
        let (got, reply) = harness
            .call_json(Method::POST, uri, ADMIN, Some(body.clone()))
            .await;
        assert_eq!(got, status, "{uri} {body}: {reply}");
        assert_eq!(reply["error"]["code"], code, "{uri} {body}: {reply}");
    }
    // Only HQ may interrupt screens.
    let (status, _) = harness
        .call_json(
            Method::POST,
            "/v1/interrupts",
            &token,
            Some(json!({"screens": ["lobby"], "message": "x", "duration": "30s"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // And only screens may listen.
    let (status, _) = harness
        .call_json(Method::GET, "/v1/events", ADMIN, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Region, store and tag audiences resolve through the stores table. Stores are written straight
/// into the database here, so this test depends only on the schema, not on the catalogue's API.
#[tokio::test]
async fn interrupts_and_triggers_reach_the_screens_of_a_region_or_store() {
    let harness = Harness::new();
    let north_1 = harness.register("north-1", "demo").await;
    let north_2 = harness.register("north-2", "demo").await;
    let south = harness.register("south-1", "demo").await;
    {
        harness.execute(
                "INSERT INTO stores (code, name, region, tags, timezone, locale, currency) VALUES
                   ('N1', 'North one', 'north', '[\"flagship\"]', 'Europe/Paris', 'fr-FR', 'EUR'),
                   ('N2', 'North two', 'north', '[]', 'Europe/Paris', 'fr-FR', 'EUR'),
                   ('S1', 'South one', 'south', '[]', 'Europe/Paris', 'fr-FR', 'EUR');
                 UPDATE screens SET store = 'N1' WHERE name = 'north-1';
                 UPDATE screens SET store = 'N2' WHERE name = 'north-2';
                 UPDATE screens SET store = 'S1' WHERE name = 'south-1';
                 INSERT INTO store_segments (store, segment, share) VALUES ('S1', 'families', 0.4);",
        );
    }
    let mut north_1_events = harness.connect(&north_1, None).await;
    let mut north_2_events = harness.connect(&north_2, None).await;
    let mut south_events = harness.connect(&south, None).await;

    let (status, body) = harness
        .interrupt(json!({"region": "north", "message": "Storm warning", "duration": "10m"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["screens"], json!(["north-1", "north-2"]));
    assert_eq!(north_1_events.next().await.event, "interrupt");
    assert_eq!(north_2_events.next().await.event, "interrupt");
    south_events.assert_quiet().await;

    let (status, body) = harness
        .call_json(
            Method::POST,
            "/v1/triggers",
            ADMIN,
            Some(json!({"store": "S1", "segment": "families", "ttl": "15m"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let trigger = south_events.next().await;
    assert_eq!(trigger.event, "trigger");
    let data = harness.opened(&trigger, "south-1").await;
    assert_eq!(data["segment"], "families");
    north_1_events.assert_quiet().await;

    // A segment the CRM import does not know would match no offer: refused, with those it knows.
    let (status, body) = harness
        .call_json(
            Method::POST,
            "/v1/triggers",
            ADMIN,
            Some(json!({"store": "S1", "segment": "familes", "ttl": "15m"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "unknown_segment", "{body}");
    assert_eq!(
        body["error"]["message"],
        "segment `familes` is not in the CRM's segment import; the known segments are: families"
    );
    south_events.assert_quiet().await;

    // A store's tags address its screens too.
    let (status, body) = harness
        .interrupt(json!({"tags": ["flagship"], "message": "x", "duration": "1m"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["screens"], json!(["north-1"]));

    for (uri, request, code) in [
        (
            "/v1/interrupts",
            json!({"region": "west", "message": "x", "duration": "1m"}),
            "unknown_region",
        ),
        (
            "/v1/triggers",
            json!({"store": "W9", "segment": "families", "ttl": "1m"}),
            "unknown_store",
        ),
        (
            "/v1/interrupts",
            json!({"tags": ["nope"], "message": "x", "duration": "1m"}),
            "unknown_tag",
        ),
    ] {
        let (status, reply) = harness
            .call_json(Method::POST, uri, ADMIN, Some(request))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
        assert_eq!(reply["error"]["code"], code, "{reply}");
    }
}

#[tokio::test]
async fn a_device_token_holds_at_most_the_stream_limit_and_one_more_is_refused() {
    let harness = Harness::new();
    let token = harness.register("lobby", "demo").await;
    let other = harness.register("cafe", "demo").await;
    let mut open = Vec::new();
    for _ in 0..vitrine_scheduler::events::MAX_STREAMS_PER_SCREEN {
        open.push(harness.connect(&token, None).await);
    }
    let refused = harness
        .call(Method::GET, "/v1/events", Some(&token), None)
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.error_code(), "too_many_streams");
    let limit = vitrine_scheduler::events::MAX_STREAMS_PER_SCREEN.to_string();
    assert!(
        refused.error_message().contains(&limit),
        "{}",
        refused.error_message()
    );
    // Another screen's token is counted apart, and a closed stream frees its place.
    let _cafe = harness.connect(&other, None).await;
    open.pop();
    let _again = harness.connect(&token, None).await;
}

/// An interrupt can be withdrawn by id or for an audience: the screens it covered get a signed
/// `interrupt-cancelled` naming it, it leaves the list of those in force, and a screen that
/// connects afterwards is not shown it again. Staff see and cancel only their stores' screens'.
#[tokio::test]
async fn interrupts_are_listed_while_in_force_and_cancelled_on_their_screens() {
    let harness = Harness::new();
    let north = harness.register("north-1", "demo").await;
    let south = harness.register("south-1", "demo").await;
    {
        harness.execute(
                "INSERT INTO stores (code, name, region, tags, timezone, locale, currency) VALUES
                   ('N1', 'North one', 'north', '[]', 'Europe/Paris', 'fr-FR', 'EUR'),
                   ('S1', 'South one', 'south', '[]', 'Europe/Paris', 'fr-FR', 'EUR');
                 UPDATE screens SET store = 'N1' WHERE name = 'north-1';
                 UPDATE screens SET store = 'S1' WHERE name = 'south-1';
                 INSERT INTO store_segments (store, segment, share) VALUES ('S1', 'families', 0.4);",
        );
    }
    let (status, staff) = harness
        .call_json(
            Method::POST,
            "/v1/staff",
            ADMIN,
            Some(json!({"name": "north-staff", "stores": ["N1"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{staff}");
    let staff = staff["token"].as_str().expect("token").to_owned();
    let mut north_events = harness.connect(&north, None).await;
    let mut south_events = harness.connect(&south, None).await;

    let (status, both) = harness
        .interrupt(
            json!({"screens": ["north-1", "south-1"], "message": "Storm", "duration": "10m"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{both}");
    let (status, north_only) = harness
        .interrupt(json!({"screens": ["north-1"], "message": "Spill", "duration": "10m"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{north_only}");
    // Zero seconds is no way to end one early, and the refusal says what is.
    let (status, reply) = harness
        .interrupt(json!({"screens": ["north-1"], "message": "Storm", "duration": "0s"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("vitrine interrupt cancel")),
        "{reply}"
    );
    // One that has already ended is not in force.
    let (status, _) = harness
        .interrupt(json!({"screens": ["north-1"], "message": "Brief", "duration": "1ms"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for _ in 0..3 {
        assert_eq!(north_events.next().await.event, "interrupt");
    }
    assert_eq!(south_events.next().await.event, "interrupt");
    tokio::time::sleep(Duration::from_millis(5)).await;

    let listed = |reply: Value| -> Vec<(String, Value)> {
        reply["interrupts"]
            .as_array()
            .expect("interrupts")
            .iter()
            .map(|interrupt| {
                (
                    interrupt["message"].as_str().expect("message").to_owned(),
                    interrupt["screens"].clone(),
                )
            })
            .collect()
    };
    let (status, list) = harness
        .call_json(Method::GET, "/v1/interrupts", ADMIN, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        listed(list),
        [
            ("Storm".to_owned(), json!(["north-1", "south-1"])),
            ("Spill".to_owned(), json!(["north-1"])),
        ]
    );
    // North's staff see their screen only, and may not cancel what also covers the south.
    let (status, list) = harness
        .call_json(Method::GET, "/v1/interrupts", &staff, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        listed(list),
        [
            ("Storm".to_owned(), json!(["north-1"])),
            ("Spill".to_owned(), json!(["north-1"])),
        ]
    );
    let storm = both["id"].as_u64().expect("id");
    let (status, reply) = harness
        .call_json(
            Method::POST,
            &format!("/v1/interrupts/{storm}/cancel"),
            &staff,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");

    // The admin cancels the storm by id: both screens hear it, signed for each.
    let (status, reply) = harness
        .call_json(
            Method::POST,
            &format!("/v1/interrupts/{storm}/cancel"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        reply["cancelled"][0]["screens"],
        json!(["north-1", "south-1"])
    );
    for (events, screen) in [
        (&mut north_events, "north-1"),
        (&mut south_events, "south-1"),
    ] {
        let cancel = events.next().await;
        assert_eq!(cancel.event, "interrupt-cancelled");
        assert_eq!(
            harness.opened(&cancel, screen).await,
            json!({"interrupt": storm})
        );
    }
    // Cancelling it again finds nothing in force.
    let (status, reply) = harness
        .call_json(
            Method::POST,
            &format!("/v1/interrupts/{storm}/cancel"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
    assert_eq!(reply["error"]["code"], "unknown_interrupt");

    // North's staff cancel everything on their store's screens.
    let (status, reply) = harness
        .call_json(
            Method::POST,
            "/v1/interrupts/cancel",
            &staff,
            Some(json!({"stores": ["S1"]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    let (status, reply) = harness
        .call_json(
            Method::POST,
            "/v1/interrupts/cancel",
            &staff,
            Some(json!({"stores": ["N1"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let spill = north_only["id"].as_u64().expect("id");
    assert_eq!(reply["cancelled"][0]["id"], spill);
    let cancel = north_events.next().await;
    assert_eq!(
        harness.opened(&cancel, "north-1").await,
        json!({"interrupt": spill})
    );
    south_events.assert_quiet().await;
    let (_, list) = harness
        .call_json(Method::GET, "/v1/interrupts", ADMIN, None)
        .await;
    assert_eq!(list["interrupts"], json!([]));

    // A screen that connects now is shown none of them again; the cancels it may get are harmless.
    let mut fresh = harness.connect(&north, None).await;
    while let Some(event) = fresh.next_within(QUIET).await {
        assert_ne!(event.event, "interrupt", "{event:?}");
    }
}

const STORES: &str = "code,name,region,tags,timezone,locale,currency
paris-11,Paris Oberkampf,ile-de-france,,Europe/Paris,fr-FR,EUR
lyon-2,Lyon Bellecour,auvergne-rhone-alpes,,Europe/Paris,fr-FR,EUR
";

const FEED: &str = "id\ttitle\tprice\tavailability
hazelnut-750\tHazelnut spread 750 g\t5.49 EUR\tin stock
cola-15\tCola 1.5 l\t1.79 EUR\tin stock
";

/// Offers hazelnut spread in paris-11 only.
const OFFER_CAMPAIGN: &str = "version: 1
name: spread
targets:
  stores: [paris-11]
from: 2020-01-01
priority: 50
loop_slots: 1
fill:
  - text: { text: Spread, duration: 10s }
offers:
  main-promo:
    - { id: hazelnut, product: hazelnut-750, title: Hazelnut spread }
";

const OFFER_PLAYLIST: &str = "version: 1\nname: store\nitems:\n  - offer: { slot: main-promo, duration: 10s }\n  - text: { text: Welcome, duration: 5s }\n";

#[tokio::test]
async fn a_feed_import_tells_only_the_screens_whose_offers_it_changes() {
    let harness = Harness::new();
    harness.upload_offers(&[]).await;
    let mut tokens = Vec::new();
    for (name, store) in [
        ("paris-11.entrance", "paris-11"),
        ("lyon-2.entrance", "lyon-2"),
    ] {
        let (status, body) = harness
            .call_json(
                Method::POST,
                "/v1/screens",
                ADMIN,
                Some(json!({"name": name, "playlist": "store", "store": store})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        tokens.push(body["token"].as_str().expect("token").to_owned());
    }
    let mut paris = harness.connect(&tokens[0], None).await;
    let mut lyon = harness.connect(&tokens[1], None).await;
    let paris_opening = paris.next().await;
    assert_eq!(paris_opening.event, "manifest-changed");
    assert_eq!(lyon.next().await.event, "manifest-changed");

    let import = |feed: String| {
        let harness = &harness;
        async move {
            let (status, report) = harness
                .call_json(
                    Method::POST,
                    "/v1/feed",
                    ADMIN,
                    Some(json!({"file_name": "feed.tsv", "source": feed})),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{report}");
            report
        }
    };

    // The price of the product paris-11 offers changes: its screen hears of it, Lyon's does not.
    let report = import(FEED.replace("5.49 EUR", "4.49 EUR")).await;
    assert_eq!(
        report["diff"]["price_changed"]["ids"],
        json!(["hazelnut-750"])
    );
    assert_eq!(report["diff"]["unchanged"], 1);
    let changed = paris.next().await;
    assert_eq!(changed.event, "manifest-changed");
    assert_ne!(changed.data, paris_opening.data, "a new ETag");
    assert_eq!(changed.data, harness.etag(&tokens[0]).await);
    lyon.assert_quiet().await;

    // The same feed again changes nothing and tells no one.
    let report = import(FEED.replace("5.49 EUR", "4.49 EUR")).await;
    assert_eq!(report["diff"]["unchanged"], 2, "{report}");
    paris.assert_quiet().await;

    // A product no screen offers changes: no screen is told.
    let report = import(
        FEED.replace("5.49 EUR", "4.49 EUR")
            .replace("1.79 EUR", "1.59 EUR"),
    )
    .await;
    assert_eq!(report["diff"]["price_changed"]["ids"], json!(["cola-15"]));
    paris.assert_quiet().await;
    lyon.assert_quiet().await;

    // Out of stock in the store's inventory: the offer leaves paris-11's screen.
    let report = harness.hazelnut_out_of_stock_in_paris().await;
    assert_eq!(
        report["diff"]["added"]["ids"],
        json!(["paris-11/hazelnut-750"])
    );
    assert_eq!(paris.next().await.event, "manifest-changed");
    lyon.assert_quiet().await;
}

/// Offers the same product as [`OFFER_CAMPAIGN`] in lyon-2, in the same slot: the two stores
/// ask for the same products, and only the store tells their stock apart.
const LYON_CAMPAIGN: &str = "version: 1
name: lyon-spread
targets:
  stores: [lyon-2]
from: 2020-01-01
priority: 50
loop_slots: 1
offers:
  main-promo:
    - { id: lyon-spread, product: hazelnut-750, title: Hazelnut spread }
";

/// A round of rebuilds over many screens reads the playlist, campaigns, stores and products once
/// and every screen's record in one query: each screen must still get its own manifest, with its
/// own store's offer at that store's price and stock.
#[tokio::test]
async fn a_round_over_many_screens_gives_each_its_own_stores_offers() {
    let harness = Harness::new();
    harness
        .upload_offers(&[("lyon-spread.yaml", LYON_CAMPAIGN)])
        .await;
    // More screens than a round reads one by one, the stores taking turns.
    let mut screens = Vec::new();
    for index in 0..70 {
        let store = if index % 2 == 0 { "paris-11" } else { "lyon-2" };
        let name = format!("{store}.screen-{index:02}");
        let (status, body) = harness
            .call_json(
                Method::POST,
                "/v1/screens",
                ADMIN,
                Some(json!({"name": name, "playlist": "store", "store": store})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let token = body["token"].as_str().expect("token").to_owned();
        let mut events = harness.connect(&token, None).await;
        assert_eq!(events.next().await.event, "manifest-changed");
        screens.push((name, store, token, events));
    }

    // The price changes: every screen hears of it in one round.
    let (status, report) = harness
        .call_json(
            Method::POST,
            "/v1/feed",
            ADMIN,
            Some(json!({
                "file_name": "feed.tsv",
                "source": FEED.replace("5.49 EUR", "4.49 EUR"),
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    for (name, store, token, events) in &mut screens {
        let changed = events.next().await;
        assert_eq!(changed.event, "manifest-changed", "{name}");
        assert_eq!(changed.data, harness.etag(token).await, "{name}");
        let (status, manifest) = harness
            .call_json(Method::GET, "/v1/manifest", token, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(manifest["screen"], json!(name), "its own manifest");
        assert_eq!(manifest["store"]["code"], json!(store), "{name}");
        let offer = match *store {
            "paris-11" => "hazelnut",
            _ => "lyon-spread",
        };
        let entries = manifest["offers"]["main-promo"]["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has offers: {manifest}"));
        assert!(!entries.is_empty(), "{name}");
        for entry in entries {
            assert_eq!(entry["offer_id"], json!(offer), "{name}: {entry}");
            assert_eq!(entry["card"]["price"]["cents"], json!(449), "{name}");
        }
    }

    // Out of stock in paris-11 only: its screens lose the offer, Lyon's keep theirs unchanged.
    harness.hazelnut_out_of_stock_in_paris().await;
    let (lyon, paris): (Vec<_>, Vec<_>) = screens
        .iter_mut()
        .partition(|(_, store, _, _)| *store == "lyon-2");
    futures_util::future::join_all(
        lyon.into_iter()
            .map(|(_, _, _, events)| events.assert_quiet()),
    )
    .await;
    for (name, _, token, events) in paris {
        assert_eq!(events.next().await.event, "manifest-changed", "{name}");
        let (_, manifest) = harness
            .call_json(Method::GET, "/v1/manifest", token, None)
            .await;
        let offered = manifest["offers"]["main-promo"]["entries"]
            .as_array()
            .map(|entries| entries.iter().any(|entry| entry["offer_id"] == "hazelnut"))
            .unwrap_or(false);
        assert!(
            !offered,
            "{name} still offers what its store has none of: {manifest}"
        );
    }
}

/// Two schedulers on one PostgreSQL database, as replicas behind a load balancer: a screen
/// streaming from one hears a playlist pushed through the other, and a token revoked through one
/// is refused by the other.
#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test runs it on its private server"]
async fn a_push_through_one_replica_reaches_a_screen_streaming_from_the_other() {
    let first = Harness::new();
    assert!(
        matches!(first.database, vitrine_scheduler::Database::Postgres(_)),
        "set {} to a PostgreSQL server",
        common::POSTGRES_ENV
    );
    let second = first.replica();
    let token = first.register("lobby", "demo").await;
    first.push(DEMO).await;
    let mut events = second.connect(&token, None).await;
    let opening = events.next().await;
    assert_eq!(opening.data, second.etag(&token).await);

    first.push(DEMO_V2).await;
    let changed = events.next().await;
    assert_eq!(changed.event, "manifest-changed");
    assert_ne!(changed.data, opening.data);
    assert_eq!(changed.data, second.etag(&token).await);
    assert_eq!(changed.data, first.etag(&token).await);

    let (status, body) = first
        .call_json(Method::POST, "/v1/screens/lobby/revoke", ADMIN, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = tokio::time::Instant::now() + EXPECTED;
    loop {
        let reply = second
            .call(Method::GET, "/v1/manifest", Some(&token), None)
            .await;
        if reply.status == StatusCode::UNAUTHORIZED {
            assert_eq!(reply.error_code(), "token_revoked");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other replica still serves a revoked token: {}",
            reply.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An interrupt sent through one replica reaches a screen streaming from the other with the same
/// id, both list it, a screen that moves to the other replica replays exactly what it missed,
/// and a cancel through either withdraws it everywhere.
#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test runs it on its private server"]
async fn interrupts_cross_replicas_and_replay_from_either() {
    let first = Harness::new();
    let second = first.replica();
    let token = first.register("lobby", "demo").await;
    first.push(DEMO).await;
    let mut on_second = second.connect(&token, None).await;
    assert_eq!(on_second.next().await.event, "manifest-changed");

    let (status, body) = first
        .interrupt(json!({"screens": ["lobby"], "message": "Please leave by the front door", "duration": "5m"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_u64().expect("an id").to_string();
    let heard = on_second.next().await;
    assert_eq!(heard.event, "interrupt");
    assert_eq!(
        heard.id.as_deref(),
        Some(id.as_str()),
        "the same id on every replica"
    );
    let data = second.opened(&heard, "lobby").await;
    assert_eq!(data["message"], "Please leave by the front door");
    for harness in [&first, &second] {
        let (status, list) = harness
            .call_json(Method::GET, "/v1/interrupts", ADMIN, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["interrupts"][0]["id"].to_string(), id, "{list}");
        assert_eq!(list["interrupts"][0]["screens"], json!(["lobby"]));
    }

    // The screen moves to the first replica having heard the interrupt: nothing is replayed.
    drop(on_second);
    let mut on_first = first.connect(&token, Some(&id)).await;
    assert_eq!(on_first.next().await.event, "manifest-changed");
    on_first.assert_quiet().await;

    // Cancelled through the second replica: the screen on the first is told.
    let (status, body) = second
        .call_json(
            Method::POST,
            &format!("/v1/interrupts/{id}/cancel"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cancelled = on_first.next().await;
    assert_eq!(cancelled.event, "interrupt-cancelled");
    assert_eq!(
        first.opened(&cancelled, "lobby").await["interrupt"].to_string(),
        id
    );

    // A screen that heard the interrupt but not its cancel, moving back to the second replica,
    // replays the cancel and nothing else.
    let mut again = second.connect(&token, Some(&id)).await;
    assert_eq!(again.next().await.event, "manifest-changed");
    let replayed = again.next().await;
    assert_eq!(replayed.event, "interrupt-cancelled");
    assert_eq!(replayed.id, cancelled.id);
    again.assert_quiet().await;
    for harness in [&first, &second] {
        let (_, list) = harness
            .call_json(Method::GET, "/v1/interrupts", ADMIN, None)
            .await;
        assert_eq!(list["interrupts"], json!([]), "{list}");
    }
}
