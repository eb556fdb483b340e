//! Who may do what, driven through the real router on a real database: the auth matrix (no token,
//! a bad token, another screen's token, another store's staff, own store's staff, the admin, revoked
//! tokens) over every kind of endpoint; revocation taking effect at once despite the token cache;
//! pairing from code to token; rate limits; signed manifests; media names that never become paths.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{ADMIN, Harness, Reply};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vitrine_scheduler::rate_limit::RateLimits;

const STORES: &str = "code,name,region,tags,timezone,locale,currency
store-a,Store A,north,,Europe/Paris,fr-FR,EUR
store-b,Store B,south,,Europe/Paris,fr-FR,EUR
";

/// The bytes of store A's only media file; the scheduler never decodes media, it only hashes them.
const MEDIA_A: &[u8] = b"store a's picture";
const MEDIA_B: &[u8] = b"store b's picture";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Every kind of caller the matrix tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Nobody,
    BadToken,
    Admin,
    /// Staff of store A.
    StaffA,
    /// Staff of store B: "another store's staff" for anything in store A.
    StaffB,
    /// Screen `a1` in store A.
    ScreenA,
    /// Screen `b1` in store B: "another screen" for anything of `a1`'s.
    ScreenB,
    RevokedScreen,
    RevokedStaff,
}

use Who::*;

const EVERYONE: [Who; 9] = [
    Nobody,
    BadToken,
    Admin,
    StaffA,
    StaffB,
    ScreenA,
    ScreenB,
    RevokedScreen,
    RevokedStaff,
];

struct World {
    harness: Harness,
    staff_a: String,
    staff_b: String,
    screen_a: String,
    screen_b: String,
    revoked_screen: String,
    revoked_staff: String,
}

impl World {
    fn token(&self, who: Who) -> Option<&str> {
        match who {
            Nobody => None,
            BadToken => Some("not-a-token-anyone-was-given"),
            Admin => Some(ADMIN),
            StaffA => Some(&self.staff_a),
            StaffB => Some(&self.staff_b),
            ScreenA => Some(&self.screen_a),
            ScreenB => Some(&self.screen_b),
            RevokedScreen => Some(&self.revoked_screen),
            RevokedStaff => Some(&self.revoked_staff),
        }
    }

    async fn call(&self, who: Who, method: Method, uri: &str, body: Option<Value>) -> Reply {
        self.harness.call(method, uri, self.token(who), body).await
    }
}

async fn admin_ok(harness: &Harness, method: Method, uri: &str, body: Option<Value>) -> Value {
    let reply = harness.call(method, uri, Some(ADMIN), body).await;
    assert!(
        reply.status.is_success(),
        "{uri}: {} {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

async fn upload(harness: &Harness, token: &str, bytes: &'static [u8]) -> Reply {
    let request = Request::builder()
        .method(Method::PUT)
        .uri(format!("/v1/media/{}", sha256_hex(bytes)))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(bytes))
        .expect("request");
    harness.send(request).await
}

fn playlist(name: &str, file: &str, media: &[u8]) -> Value {
    json!({
        "file_name": format!("{name}.yaml"),
        "source": format!(
            "version: 1\nname: {name}\nitems:\n  - image: {{ file: \"{}\", duration: 5s }}\n",
            file.escape_default()
        ),
        "media": { file: sha256_hex(media) },
    })
}

/// `playlist`, edited so that it differs from every version pushed before: a push of an unchanged
/// playlist stores nothing and answers 200, and the matrix wants to see a new version stored.
fn edited_playlist(name: &str, file: &str, media: &[u8]) -> Value {
    static PUSHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let push = PUSHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut body = playlist(name, file, media);
    let source = format!("{}# edit {push}\n", body["source"].as_str().unwrap());
    body["source"] = Value::String(source);
    body
}

/// Two stores, a screen and a staff member in each, a revoked screen and a revoked staff member.
/// Each store's playlist is pushed by its own staff, so it is that store's.
async fn world() -> World {
    let harness = Harness::new();
    admin_ok(
        &harness,
        Method::POST,
        "/v1/stores",
        Some(json!({"file_name": "stores.csv", "source": STORES})),
    )
    .await;
    // The CRM's segments, which triggers name.
    admin_ok(
        &harness,
        Method::POST,
        "/v1/segments",
        Some(json!({
            "file_name": "segments.csv",
            "source": "store_code,segment,share\nstore-a,families,40%\nstore-b,families,20%\n",
        })),
    )
    .await;
    let mut staff_tokens = Vec::new();
    for (name, store) in [
        ("alice", "store-a"),
        ("bob", "store-b"),
        ("carol", "store-a"),
    ] {
        let created = admin_ok(
            &harness,
            Method::POST,
            "/v1/staff",
            Some(json!({"name": name, "stores": [store], "tags": ["entrance"]})),
        )
        .await;
        staff_tokens.push(created["token"].as_str().expect("token").to_owned());
    }
    for (token, bytes, name, file) in [
        (&staff_tokens[0], MEDIA_A, "pa", "a.png"),
        (&staff_tokens[1], MEDIA_B, "pb", "b.png"),
    ] {
        let reply = upload(&harness, token, bytes).await;
        assert!(reply.status.is_success(), "{}", reply.status);
        let reply = harness
            .call(
                Method::POST,
                "/v1/playlists",
                Some(token),
                Some(playlist(name, file, bytes)),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
    }
    let mut screen_tokens = Vec::new();
    for (name, playlist, store) in [
        ("a1", "pa", "store-a"),
        ("b1", "pb", "store-b"),
        ("a-revoked", "pa", "store-a"),
        ("b-spare", "pb", "store-b"),
    ] {
        let created = admin_ok(
            &harness,
            Method::POST,
            "/v1/screens",
            Some(json!({"name": name, "playlist": playlist, "store": store})),
        )
        .await;
        screen_tokens.push(created["token"].as_str().expect("token").to_owned());
    }
    admin_ok(&harness, Method::POST, "/v1/screens/a-revoked/revoke", None).await;
    admin_ok(&harness, Method::POST, "/v1/staff/carol/revoke", None).await;
    World {
        harness,
        screen_a: screen_tokens[0].clone(),
        screen_b: screen_tokens[1].clone(),
        revoked_screen: screen_tokens[2].clone(),
        staff_a: staff_tokens[0].clone(),
        staff_b: staff_tokens[1].clone(),
        revoked_staff: staff_tokens[2].clone(),
    }
}

/// The expected status for each caller; nobody, a bad token and revoked tokens get 401.
fn expect(
    allowed: &[(Who, StatusCode)],
    otherwise: StatusCode,
) -> impl Fn(Who) -> StatusCode + use<> {
    let allowed = allowed.to_vec();
    move |who| match who {
        Nobody | BadToken | RevokedScreen | RevokedStaff => StatusCode::UNAUTHORIZED,
        _ => allowed
            .iter()
            .find(|(allowed_who, _)| *allowed_who == who)
            .map_or(otherwise, |(_, status)| *status),
    }
}

/// What a row sends.
enum Payload {
    Nothing,
    Json(Box<dyn Fn(Who) -> Value>),
    Bytes(&'static [u8]),
    /// An empty impression batch, signed with the caller's token as a screen signs its batches.
    SignedBatch,
}

/// One cell row of the matrix: a request to one route, and the status each caller gets.
struct Row {
    what: &'static str,
    method: Method,
    /// The route as `vitrine_scheduler::routes` names it.
    route: &'static str,
    uri: String,
    payload: Payload,
    expected: Box<dyn Fn(Who) -> StatusCode>,
}

fn row(
    what: &'static str,
    method: Method,
    route: &'static str,
    uri: impl Into<String>,
    payload: Payload,
    expected: impl Fn(Who) -> StatusCode + 'static,
) -> Row {
    Row {
        what,
        method,
        route,
        uri: uri.into(),
        payload,
        expected: Box::new(expected),
    }
}

impl World {
    fn request(&self, who: Who, row: &Row) -> Request<Body> {
        let mut request = Request::builder().method(row.method.clone()).uri(&row.uri);
        if let Some(token) = self.token(who) {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match &row.payload {
            Payload::Nothing => Body::empty(),
            Payload::Json(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body(who).to_string())
            }
            Payload::Bytes(bytes) => Body::from(*bytes),
            Payload::SignedBatch => {
                let body = br#"{"impressions":[]}"#;
                let key: [u8; 32] = Sha256::digest(self.token(who).unwrap_or("").as_bytes()).into();
                request = request
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(
                        vitrine_core::impression::SIGNATURE_HEADER,
                        vitrine_core::impression::sign_batch(&key, body),
                    );
                Body::from(&body[..])
            }
        };
        request.body(body).expect("request")
    }
}

const MEDIA_NEW: &[u8] = b"a new picture";

#[tokio::test]
async fn every_route_and_every_caller_gets_what_the_matrix_says() {
    let world = world().await;
    let media_a = format!("/v1/media/{}", sha256_hex(MEDIA_A));
    let ok = StatusCode::OK;
    let created = StatusCode::CREATED;
    let forbidden = StatusCode::FORBIDDEN;
    let not_found = StatusCode::NOT_FOUND;
    let everyone = |status: StatusCode| move |_: Who| status;
    let json_for = |body: Value| Payload::Json(Box::new(move |_| body.clone()));
    use Method as M;
    let rows: Vec<Row> = vec![
        row(
            "health is public",
            M::GET,
            "/healthz",
            "/healthz",
            Payload::Nothing,
            everyone(ok),
        ),
        row(
            "the API description is public",
            M::GET,
            "/v1/openapi.json",
            "/v1/openapi.json",
            Payload::Nothing,
            everyone(ok),
        ),
        row(
            "the manifest key is public",
            M::GET,
            "/v1/server-key",
            "/v1/server-key",
            Payload::Nothing,
            everyone(ok),
        ),
        row(
            "anyone may ask for a pairing code",
            M::POST,
            "/v1/pairings",
            "/v1/pairings",
            Payload::Nothing,
            everyone(created),
        ),
        row(
            "polling a code needs its secret; a wrong one is told nothing",
            M::GET,
            "/v1/pairings/{code}",
            "/v1/pairings/K7M2QX",
            Payload::Nothing,
            |who| {
                if who == Nobody {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::NOT_FOUND
                }
            },
        ),
        row(
            "confirming a code for store A: admin and store A's staff",
            M::POST,
            "/v1/pairings/{code}",
            "/v1/pairings/K7M2QX",
            json_for(json!({"store": "store-a", "playlist": "pa"})),
            expect(&[(Admin, not_found), (StaffA, not_found)], forbidden),
        ),
        row(
            "staff tokens are made by HQ",
            M::POST,
            "/v1/staff",
            "/v1/staff",
            Payload::Json(Box::new(|who| {
                json!({"name": format!("made-by-{}", format!("{who:?}").to_lowercase()),
                       "stores": ["store-a"]})
            })),
            expect(&[(Admin, created)], forbidden),
        ),
        row(
            "staff tokens are listed by HQ",
            M::GET,
            "/v1/staff",
            "/v1/staff",
            Payload::Nothing,
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "staff tokens are revoked by HQ",
            M::POST,
            "/v1/staff/{name}/revoke",
            "/v1/staff/carol/revoke",
            Payload::Nothing,
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "revoking store B's screen: admin and store B's staff",
            M::POST,
            "/v1/screens/{name}/revoke",
            "/v1/screens/b-spare/revoke",
            Payload::Nothing,
            expect(&[(Admin, ok), (StaffB, ok)], forbidden),
        ),
        row(
            "rotating store B's screen: admin and store B's staff",
            M::POST,
            "/v1/screens/{name}/rotate",
            "/v1/screens/b-spare/rotate",
            Payload::Nothing,
            expect(&[(Admin, ok), (StaffB, ok)], forbidden),
        ),
        row(
            "adding a screen to store A with its playlist: admin and store A's staff",
            M::POST,
            "/v1/screens",
            "/v1/screens",
            Payload::Json(Box::new(|who| {
                json!({
                    "name": format!("new-{}", format!("{who:?}").to_lowercase()),
                    "playlist": "pa",
                    "store": "store-a",
                    "tags": ["entrance"],
                })
            })),
            expect(&[(Admin, created), (StaffA, created)], forbidden),
        ),
        row(
            "adding a screen in no store is HQ's alone",
            M::POST,
            "/v1/screens",
            "/v1/screens",
            Payload::Json(Box::new(|who| {
                json!({"name": format!("hq-{}", format!("{who:?}").to_lowercase()),
                       "playlist": "hq-lobby", "allow_unpushed": true})
            })),
            expect(&[(Admin, created)], forbidden),
        ),
        row(
            "a screen in store A playing store B's playlist: HQ's alone",
            M::POST,
            "/v1/screens",
            "/v1/screens",
            Payload::Json(Box::new(|who| {
                json!({"name": format!("x-{}", format!("{who:?}").to_lowercase()),
                       "playlist": "pb", "store": "store-a"})
            })),
            expect(&[(Admin, created)], forbidden),
        ),
        row(
            "the screen list: managers (staff see their stores')",
            M::GET,
            "/v1/screens",
            "/v1/screens",
            Payload::Nothing,
            expect(&[(Admin, ok), (StaffA, ok), (StaffB, ok)], forbidden),
        ),
        row(
            "store A's media: its screen and managers, never another screen",
            M::GET,
            "/v1/media/{sha256}",
            media_a.clone(),
            Payload::Nothing,
            expect(
                &[(Admin, ok), (StaffA, ok), (StaffB, ok), (ScreenA, ok)],
                forbidden,
            ),
        ),
        row(
            "only managers ask which media are stored",
            M::HEAD,
            "/v1/media/{sha256}",
            media_a.clone(),
            Payload::Nothing,
            expect(&[(Admin, ok), (StaffA, ok), (StaffB, ok)], forbidden),
        ),
        row(
            "only managers upload media (the first upload stores it)",
            M::PUT,
            "/v1/media/{sha256}",
            format!("/v1/media/{}", sha256_hex(MEDIA_NEW)),
            Payload::Bytes(MEDIA_NEW),
            expect(&[(Admin, created), (StaffA, ok), (StaffB, ok)], forbidden),
        ),
        row(
            "pushing store A's playlist: admin and store A's staff",
            M::POST,
            "/v1/playlists",
            "/v1/playlists",
            Payload::Json(Box::new(|_| edited_playlist("pa", "a.png", MEDIA_A))),
            expect(&[(Admin, created), (StaffA, created)], forbidden),
        ),
        row(
            "a screen reads only its own manifest",
            M::GET,
            "/v1/manifest",
            "/v1/manifest",
            Payload::Nothing,
            expect(&[(ScreenA, ok), (ScreenB, ok)], forbidden),
        ),
        row(
            "heartbeats come from screens only",
            M::POST,
            "/v1/heartbeat",
            "/v1/heartbeat",
            json_for(json!({"uptime_s": 1, "unsent_impressions": 0})),
            expect(
                &[
                    (ScreenA, StatusCode::NO_CONTENT),
                    (ScreenB, StatusCode::NO_CONTENT),
                ],
                forbidden,
            ),
        ),
        row(
            "a1's status: admin and store A's staff",
            M::GET,
            "/v1/screens/{name}/status",
            "/v1/screens/a1/status",
            Payload::Nothing,
            expect(&[(Admin, ok), (StaffA, ok)], forbidden),
        ),
        row(
            "an unknown screen's status: 404 for the admin, the same 403 as elsewhere for staff",
            M::GET,
            "/v1/screens/{name}/status",
            "/v1/screens/no-such-screen/status",
            Payload::Nothing,
            expect(&[(Admin, not_found)], forbidden),
        ),
        row(
            "screenshots come from screens only (this body is no JPEG: 400 once past the token)",
            M::PUT,
            "/v1/screenshot",
            "/v1/screenshot",
            Payload::Bytes(b"not a jpeg"),
            expect(
                &[
                    (ScreenA, StatusCode::BAD_REQUEST),
                    (ScreenB, StatusCode::BAD_REQUEST),
                ],
                forbidden,
            ),
        ),
        row(
            "a1's screenshot: admin and store A's staff (404 until it sends one)",
            M::GET,
            "/v1/screens/{name}/screenshot",
            "/v1/screens/a1/screenshot",
            Payload::Nothing,
            expect(&[(Admin, not_found), (StaffA, not_found)], forbidden),
        ),
        row(
            "an unknown screen's screenshot: 404 for the admin, the same 403 as elsewhere for staff",
            M::GET,
            "/v1/screens/{name}/screenshot",
            "/v1/screens/no-such-screen/screenshot",
            Payload::Nothing,
            expect(&[(Admin, not_found)], forbidden),
        ),
        row(
            "the event stream is a screen's",
            M::GET,
            "/v1/events",
            "/v1/events",
            Payload::Nothing,
            expect(&[(ScreenA, ok), (ScreenB, ok)], forbidden),
        ),
        row(
            "an interrupt on a1: admin and store A's staff",
            M::POST,
            "/v1/interrupts",
            "/v1/interrupts",
            json_for(json!({"message": "Test", "duration": "1s", "screens": ["a1"]})),
            expect(&[(Admin, created), (StaffA, created)], forbidden),
        ),
        row(
            "the interrupts in force: managers (staff see their stores' screens)",
            M::GET,
            "/v1/interrupts",
            "/v1/interrupts",
            Payload::Nothing,
            expect(&[(Admin, ok), (StaffA, ok), (StaffB, ok)], forbidden),
        ),
        row(
            "cancelling the interrupts on a1: admin and store A's staff",
            M::POST,
            "/v1/interrupts/cancel",
            "/v1/interrupts/cancel",
            json_for(json!({"screens": ["a1"]})),
            expect(&[(Admin, ok), (StaffA, ok)], forbidden),
        ),
        row(
            "cancelling an interrupt that is not in force: 404 for managers",
            M::POST,
            "/v1/interrupts/{id}/cancel",
            "/v1/interrupts/1/cancel",
            Payload::Nothing,
            expect(
                &[(Admin, not_found), (StaffA, not_found), (StaffB, not_found)],
                forbidden,
            ),
        ),
        row(
            "a trigger in store A: admin and store A's staff",
            M::POST,
            "/v1/triggers",
            "/v1/triggers",
            json_for(json!({"store": "store-a", "segment": "families", "ttl": "1s"})),
            expect(&[(Admin, created), (StaffA, created)], forbidden),
        ),
        row(
            "a command to every screen of store A",
            M::POST,
            "/v1/commands",
            "/v1/commands",
            json_for(json!({"command": "resync", "stores": ["store-a"]})),
            expect(&[(Admin, created), (StaffA, created)], forbidden),
        ),
        row(
            "proof of play comes from screens only, signed",
            M::POST,
            "/v1/impressions",
            "/v1/impressions",
            Payload::SignedBatch,
            expect(&[(ScreenA, ok), (ScreenB, ok)], forbidden),
        ),
        row(
            "a1's impressions: admin and store A's staff",
            M::GET,
            "/v1/impressions",
            "/v1/impressions?screen=a1",
            Payload::Nothing,
            expect(&[(Admin, ok), (StaffA, ok)], forbidden),
        ),
        row(
            "importing stores is HQ's",
            M::POST,
            "/v1/stores",
            "/v1/stores",
            json_for(json!({"file_name": "stores.csv", "source": STORES})),
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "the store list is HQ's",
            M::GET,
            "/v1/stores",
            "/v1/stores",
            Payload::Nothing,
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "segments are HQ's",
            M::POST,
            "/v1/segments",
            "/v1/segments",
            json_for(json!({"file_name": "segments.csv",
                            "source": "store_code,segment,share\nstore-a,families,0.5\n"})),
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "the product feed is HQ's",
            M::POST,
            "/v1/feed",
            "/v1/feed",
            json_for(json!({"file_name": "feed.tsv", "source": FEED})),
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "a product feed streamed as the body is HQ's",
            M::POST,
            "/v1/feed/upload",
            "/v1/feed/upload?file_name=feed.tsv",
            Payload::Bytes(b"id\ttitle\tprice\nstreamed\tStreamed\t1.00 EUR\n"),
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "local inventory is HQ's",
            M::POST,
            "/v1/feed/inventory",
            "/v1/feed/inventory",
            json_for(json!({"file_name": "inventory.tsv", "source": INVENTORY})),
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "feeds by URL are registered by HQ",
            M::POST,
            "/v1/feeds",
            "/v1/feeds",
            json_for(
                json!({"name": "shop", "url": "https://shop.example/feed.xml",
                            "every": "1h"}),
            ),
            expect(&[(Admin, created)], forbidden),
        ),
        row(
            "feeds by URL are listed by HQ",
            M::GET,
            "/v1/feeds",
            "/v1/feeds",
            Payload::Nothing,
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "a feed is fetched on demand by HQ",
            M::POST,
            "/v1/feeds/{name}/fetch",
            "/v1/feeds/shop/fetch",
            Payload::Nothing,
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "a feed is removed by HQ",
            M::DELETE,
            "/v1/feeds/{name}",
            "/v1/feeds/shop",
            Payload::Nothing,
            expect(&[(Admin, StatusCode::NO_CONTENT)], forbidden),
        ),
        row(
            "campaigns are pushed by HQ",
            M::POST,
            "/v1/campaigns",
            "/v1/campaigns",
            json_for(json!({"file_name": "c.yaml", "source": CAMPAIGN})),
            expect(&[(Admin, created)], forbidden),
        ),
        row(
            "campaigns are listed by HQ",
            M::GET,
            "/v1/campaigns",
            "/v1/campaigns",
            Payload::Nothing,
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "a campaign is read by HQ",
            M::GET,
            "/v1/campaigns/{name}",
            "/v1/campaigns/c",
            Payload::Nothing,
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "why a1 plays what it plays: admin and store A's staff",
            M::GET,
            "/v1/explain",
            "/v1/explain?screen=a1&at=2026-12-05T09:30:00Z",
            Payload::Nothing,
            expect(&[(Admin, ok), (StaffA, ok)], forbidden),
        ),
        row(
            "the scan report: admin, and staff for their stores' figures",
            M::GET,
            "/v1/reports/scans",
            "/v1/reports/scans?campaign=none",
            Payload::Nothing,
            expect(&[(Admin, ok), (StaffA, ok), (StaffB, ok)], forbidden),
        ),
        row(
            "the plays report: admin, and staff for their stores' plays",
            M::GET,
            "/v1/reports/plays",
            "/v1/reports/plays?group_by=store",
            Payload::Nothing,
            expect(&[(Admin, ok), (StaffA, ok), (StaffB, ok)], forbidden),
        ),
        row(
            "the raw ad log: admin, and staff for their stores' plays",
            M::GET,
            "/v1/reports/plays/export",
            "/v1/reports/plays/export",
            Payload::Nothing,
            expect(&[(Admin, ok), (StaffA, ok), (StaffB, ok)], forbidden),
        ),
        row(
            "the chain report: admin, and staff for their stores' screens",
            M::GET,
            "/v1/reports/chain",
            "/v1/reports/chain",
            Payload::Nothing,
            expect(&[(Admin, ok), (StaffA, ok), (StaffB, ok)], forbidden),
        ),
        row(
            "audiences are HQ's",
            M::POST,
            "/v1/audience",
            "/v1/audience",
            json_for(json!({"file_name": "audience.csv",
                            "source": "screen,venue_zone,multiplier,source\nlobby-a,checkout,2,counter\n"})),
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "audiences are listed for HQ",
            M::GET,
            "/v1/audience",
            "/v1/audience",
            Payload::Nothing,
            expect(&[(Admin, ok)], forbidden),
        ),
        row(
            "QR codes are public; a junk one gets the friendly page",
            M::GET,
            "/q/{token}",
            "/q/not-a-play-token",
            Payload::Nothing,
            everyone(not_found),
        ),
    ];

    // Every route has rows, and every row names a route: a new route without rows fails here.
    let served: std::collections::BTreeSet<(String, String)> =
        vitrine_scheduler::routes(&world.harness.state)
            .iter()
            .flat_map(|route| {
                route
                    .methods
                    .iter()
                    .map(|method| (route.path.to_owned(), (*method).to_owned()))
            })
            .collect();
    let covered: std::collections::BTreeSet<(String, String)> = rows
        .iter()
        .map(|row| (row.route.to_owned(), row.method.to_string()))
        .collect();
    let untested: Vec<_> = served.difference(&covered).collect();
    let unknown: Vec<_> = covered.difference(&served).collect();
    assert!(
        untested.is_empty() && unknown.is_empty(),
        "routes without matrix rows: {untested:?}; rows naming no route: {unknown:?}"
    );

    let mut failures = Vec::new();
    for row in &rows {
        for who in EVERYONE {
            let expected = (row.expected)(who);
            let request = world.request(who, row);
            // An open event stream never ends: its status is all there is to read.
            let reply = if row.route == "/v1/events" && expected == ok {
                world.harness.status_of(request).await
            } else {
                world.harness.send(request).await
            };
            if reply.status != expected {
                failures.push(format!(
                    "{}: {} {} as {who:?} gave {} (expected {expected}): {}",
                    row.what,
                    row.method,
                    row.uri,
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                ));
                continue;
            }
            // Refusals say what went wrong and how to go on. A HEAD answer has no body to read.
            if expected == StatusCode::UNAUTHORIZED && row.method != Method::HEAD {
                assert!(reply.headers.contains_key(header::WWW_AUTHENTICATE));
                if row.route != "/v1/pairings/{code}" {
                    let wanted = if matches!(who, RevokedScreen | RevokedStaff) {
                        "token_revoked"
                    } else {
                        "unauthorized"
                    };
                    assert_eq!(reply.error_code(), wanted, "{} as {who:?}", row.what);
                }
                assert!(
                    reply.error_message().contains("vitrine") || row.route == "/v1/pairings/{code}",
                    "a 401 says how to get a token: {}",
                    reply.error_message()
                );
            }
            if expected == StatusCode::FORBIDDEN && row.method != Method::HEAD {
                let message = reply.error_message();
                let names_scope = match who {
                    StaffA => message.contains("store-a"),
                    StaffB => message.contains("store-b"),
                    ScreenA | ScreenB => message.contains("screen"),
                    _ => true,
                };
                assert!(names_scope, "a 403 names what {who:?} may do: {message}");
            }
        }
    }
    println!(
        "route × caller matrix: {} routes, {} rows × {} callers = {} cells",
        served.len(),
        rows.len(),
        EVERYONE.len(),
        rows.len() * EVERYONE.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every method a route does not list is refused with 405, so the route table cannot hide a
/// handler from the matrix.
#[tokio::test]
async fn the_route_table_lists_every_method_each_route_answers() {
    let harness = Harness::new();
    let mut wrong = Vec::new();
    for route in vitrine_scheduler::routes(&harness.state) {
        let uri = route
            .path
            .replace("{code}", "K7M2QX")
            .replace("{name}", "x")
            .replace("{sha256}", &sha256_hex(b"x"))
            .replace("{token}", "x");
        for method in ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"] {
            // axum answers HEAD wherever it answers GET.
            let listed = route.methods.contains(&method)
                || (method == "HEAD" && route.methods.contains(&"GET"));
            let reply = harness
                .call(method.parse().expect("method"), &uri, Some(ADMIN), None)
                .await;
            let refused = reply.status == StatusCode::METHOD_NOT_ALLOWED;
            if listed == refused {
                wrong.push(format!(
                    "{method} {}: listed {listed}, answered {}",
                    route.path, reply.status
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

const FEED: &str = "id\ttitle\tprice\tlink\np1\tThing\t1.00 EUR\thttps://shop.example/p1\n";
const INVENTORY: &str = "store_code\tid\tquantity\nstore-a\tp1\t3\n";
const CAMPAIGN: &str = "version: 1\nname: c\ntargets: { all: true }\nfrom: 2026-01-01\n\
                        loop_slots: 1\nfill:\n  - text: { text: Hi, duration: 5s }\n";

#[tokio::test]
async fn staff_see_only_their_stores_screens() {
    let world = world().await;
    let names = |reply: Reply| -> Vec<String> {
        reply.json()["screens"]
            .as_array()
            .expect("screens")
            .iter()
            .map(|screen| screen["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let for_a = names(world.call(StaffA, Method::GET, "/v1/screens", None).await);
    assert_eq!(for_a, ["a-revoked", "a1"]);
    let for_admin = names(world.call(Admin, Method::GET, "/v1/screens", None).await);
    assert_eq!(for_admin, ["a-revoked", "a1", "b-spare", "b1"]);
    // An interrupt naming screens of two stores is refused whole for one store's staff.
    let reply = world
        .call(
            StaffA,
            Method::POST,
            "/v1/interrupts",
            Some(json!({"message": "x", "duration": "1s", "screens": ["a1", "b1"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.error_message().contains("`b1`"),
        "{}",
        reply.error_message()
    ); // Cancelling by id asks the same: an interrupt that also covers b1 is not store A's to end.
    let posted = world
        .call(
            Admin,
            Method::POST,
            "/v1/interrupts",
            Some(json!({"message": "x", "duration": "1m", "screens": ["a1", "b1"]})),
        )
        .await
        .json();
    let cancel = format!("/v1/interrupts/{}/cancel", posted["id"]);
    let reply = world.call(StaffA, Method::POST, &cancel, None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = world.call(StaffB, Method::POST, &cancel, None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = world.call(Admin, Method::POST, &cancel, None).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once_and_a_rotated_one_replaces_it() {
    let world = world().await;
    // Served and cached: the token's screen is in the token cache now.
    for _ in 0..2 {
        let reply = world.call(ScreenA, Method::GET, "/v1/manifest", None).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let reply = world
        .call(StaffA, Method::POST, "/v1/screens/a1/revoke", None)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let refused = world.call(ScreenA, Method::GET, "/v1/manifest", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.error_code(), "token_revoked");

    let rotated = world
        .call(Admin, Method::POST, "/v1/screens/a1/rotate", None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new_token = rotated.json()["token"].as_str().expect("token").to_owned();
    let reply = world
        .harness
        .call(Method::GET, "/v1/manifest", Some(&new_token), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let old = world.call(ScreenA, Method::GET, "/v1/manifest", None).await;
    assert_eq!(
        old.status,
        StatusCode::UNAUTHORIZED,
        "the old token stays dead"
    );

    // Staff revocation works the same way, and the database never holds a token itself.
    let reply = world.call(StaffB, Method::GET, "/v1/screens", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    admin_ok(&world.harness, Method::POST, "/v1/staff/bob/revoke", None).await;
    let reply = world.call(StaffB, Method::GET, "/v1/screens", None).await;
    assert_eq!(reply.error_code(), "token_revoked");
    let stored: Vec<String> = world
        .harness
        .rows("SELECT token_sha256 FROM screens UNION ALL SELECT token_sha256 FROM staff")
        .into_iter()
        .map(|row| row[0].clone().expect("token hash"))
        .collect();
    for token in [&world.staff_a, &world.staff_b, &new_token, &world.screen_b] {
        assert!(!stored.contains(token), "a token is stored in the clear");
        assert!(stored.contains(&sha256_hex(token.as_bytes())));
    }
}

#[tokio::test]
async fn revoking_a_screen_ends_the_event_stream_it_holds_open() {
    use futures_util::StreamExt;
    use tower::ServiceExt;

    let world = world().await;
    let request = Request::get("/v1/events")
        .header(header::AUTHORIZATION, format!("Bearer {}", world.screen_a))
        .body(Body::empty())
        .unwrap();
    let response = world.harness.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.into_body().into_data_stream();
    // The stream opens with the screen's current ETag.
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .expect("the opening event")
        .expect("a chunk")
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("manifest-changed"));

    admin_ok(&world.harness, Method::POST, "/v1/screens/a1/revoke", None).await;
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        // Keep-alive comments may still be in flight; the stream must end, not idle.
        while let Some(chunk) = stream.next().await {
            chunk.unwrap();
        }
    })
    .await;
    assert!(ended.is_ok(), "the revoked screen's stream stays open");
    let again = world.call(ScreenA, Method::GET, "/v1/events", None).await;
    assert_eq!(again.error_code(), "token_revoked");
}

#[tokio::test]
async fn pairing_hands_the_token_to_the_secret_holder_once_confirmed() {
    let world = world().await;
    let started = world.call(Nobody, Method::POST, "/v1/pairings", None).await;
    assert_eq!(started.status, StatusCode::CREATED);
    let started = started.json();
    let code = started["code"].as_str().expect("code").to_owned();
    let secret = started["secret"].as_str().expect("secret").to_owned();
    assert_eq!(code.len(), 6);
    let poll_uri = format!("/v1/pairings/{code}");
    let poll = |secret: Option<String>| {
        let harness = &world.harness;
        let uri = poll_uri.clone();
        async move {
            harness
                .call(Method::GET, &uri, secret.as_deref(), None)
                .await
        }
    };
    assert_eq!(
        poll(Some(secret.clone())).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(poll(None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        poll(Some("wrong-secret".into())).await.status,
        StatusCode::NOT_FOUND
    );

    // Confirming needs a manager of the store named; a screen or another store's staff may not.
    let confirm = json!({"store": "store-a", "playlist": "pa", "name": "a-paired"});
    for (who, expected) in [
        (Nobody, StatusCode::UNAUTHORIZED),
        (ScreenA, StatusCode::FORBIDDEN),
        (StaffB, StatusCode::FORBIDDEN),
    ] {
        let reply = world
            .call(who, Method::POST, &poll_uri, Some(confirm.clone()))
            .await;
        assert_eq!(reply.status, expected, "{who:?}");
    }
    // Typed in lower case with a dash, as people do.
    let typed = format!(
        "/v1/pairings/{}-{}",
        code[..3].to_lowercase(),
        code[3..].to_lowercase()
    );
    let reply = world
        .call(StaffA, Method::POST, &typed, Some(confirm.clone()))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let again = world
        .call(Admin, Method::POST, &poll_uri, Some(confirm.clone()))
        .await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "a code pairs one screen"
    );

    let paired = poll(Some(secret.clone())).await;
    assert_eq!(paired.status, StatusCode::OK);
    let paired = paired.json();
    assert_eq!(paired["status"], "paired");
    assert_eq!(paired["screen"], "a-paired");
    assert_eq!(
        paired["server_key"].as_str(),
        Some(world.harness.state.server_public_key())
    );
    let token = paired["token"].as_str().expect("token");
    let manifest = world
        .harness
        .call(Method::GET, "/v1/manifest", Some(token), None)
        .await;
    assert_eq!(manifest.status, StatusCode::OK, "the paired token works");
    // The token is made once: polling again mints nothing, so whoever holds the code cannot undo
    // a later rotation, and the token handed out stays good.
    let second = poll(Some(secret.clone())).await;
    assert_eq!(second.status, StatusCode::NOT_FOUND);
    let manifest = world
        .harness
        .call(Method::GET, "/v1/manifest", Some(token), None)
        .await;
    assert_eq!(
        manifest.status,
        StatusCode::OK,
        "the first token still works"
    );
    let record = admin_ok(&world.harness, Method::GET, "/v1/screens", None).await;
    let paired_record = record["screens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|screen| screen["name"] == "a-paired")
        .expect("registered")
        .clone();
    assert_eq!(paired_record["store"], "store-a");
}

#[tokio::test]
async fn asking_for_pairing_codes_is_tightly_limited_per_address() {
    let harness = Harness::new();
    let defaults = RateLimits::default();
    let mut refused = None;
    for attempt in 0..=defaults.pairings_burst {
        let reply = harness.call(Method::POST, "/v1/pairings", None, None).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((attempt, reply));
            break;
        }
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let (attempt, reply) = refused.expect("the burst runs out");
    assert_eq!(attempt, defaults.pairings_burst);
    assert_eq!(reply.error_code(), "rate_limited");
    assert!(reply.headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn each_token_has_its_own_rate_limit() {
    let harness = Harness::new();
    harness.state.set_rate_limits(&RateLimits {
        per_second: 1,
        burst: 3,
        ..RateLimits::default()
    });
    let mut tokens = Vec::new();
    for name in ["a1", "b1"] {
        let created = admin_ok(
            &harness,
            Method::POST,
            "/v1/screens",
            Some(json!({"name": name, "playlist": "never-pushed", "allow_unpushed": true})),
        )
        .await;
        tokens.push(created["token"].as_str().unwrap().to_owned());
    }
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            harness
                .call(Method::GET, "/v1/manifest", Some(&tokens[0]), None)
                .await,
        );
    }
    let last = statuses.pop().expect("four replies");
    // Served (no playlist yet is a 404 in the API's own shape), not limited.
    assert!(
        statuses
            .iter()
            .all(|reply| reply.status == StatusCode::NOT_FOUND
                && reply.error_code() == "no_playlist")
    );
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(last.error_code(), "rate_limited");
    let retry_after: u64 = last.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // Another token is not slowed down by the first.
    let other = harness
        .call(Method::GET, "/v1/manifest", Some(&tokens[1]), None)
        .await;
    assert_eq!(other.error_code(), "no_playlist");
}

#[tokio::test]
async fn manifests_are_signed_with_the_published_key() {
    let world = world().await;
    let key = world
        .call(Nobody, Method::GET, "/v1/server-key", None)
        .await;
    assert_eq!(key.status, StatusCode::OK);
    let key = key.json();
    assert_eq!(key["algorithm"], "ed25519");
    let public: [u8; 32] = hex::decode(key["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let verifying = VerifyingKey::from_bytes(&public).unwrap();

    let reply = world.call(ScreenA, Method::GET, "/v1/manifest", None).await;
    let signature: [u8; 64] = hex::decode(reply.headers["x-vitrine-signature"].to_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let signature = Signature::from_bytes(&signature);
    assert!(verifying.verify(&reply.body, &signature).is_ok());
    let mut tampered = reply.body.to_vec();
    let position = tampered.len() / 2;
    tampered[position] ^= 1;
    assert!(verifying.verify(&tampered, &signature).is_err());

    // The key survives a restart: it lives in the data folder, owner-only.
    let restarted = vitrine_scheduler::open(vitrine_scheduler::Config {
        data_dir: world.harness.data_dir.path().to_path_buf(),
        admin_token: ADMIN.to_owned(),
        database: world.harness.database.clone(),
        media: world.harness.media.clone(),
    })
    .unwrap();
    assert_eq!(
        restarted.server_public_key(),
        key["public_key"].as_str().unwrap()
    );
}

#[tokio::test]
async fn media_names_never_become_paths() {
    let harness = Harness::new();
    for name in ["..%2F..%2Fetc%2Fpasswd", "..", "passwd", "a.png"] {
        let request = Request::builder()
            .method(Method::PUT)
            .uri(format!("/v1/media/{name}"))
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .body(Body::from("bytes"))
            .unwrap();
        let reply = harness.send(request).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(reply.error_code(), "invalid_sha256", "{name}");
        let get = harness
            .call(Method::GET, &format!("/v1/media/{name}"), Some(ADMIN), None)
            .await;
        assert_eq!(get.status, StatusCode::BAD_REQUEST, "{name}");
    }
    assert!(
        !harness.data_dir.path().join("passwd").exists()
            && std::fs::read_dir(harness.data_dir.path().join("tmp"))
                .map(|entries| entries.count())
                .unwrap_or(0)
                == 0,
        "nothing was written under a name from the request"
    );
    let uploaded = upload(&harness, ADMIN, MEDIA_A).await;
    assert!(uploaded.status.is_success());
    // Named in a playlist and mapped to a stored blob, a path that leaves the folder is still
    // refused: a name is only ever a key of the media map.
    for file in [
        "../a.png",
        "/etc/a.png",
        "media/../../a.png",
        "C:\\a.png",
        "a//b.png",
    ] {
        let reply = harness
            .call(
                Method::POST,
                "/v1/playlists",
                Some(ADMIN),
                Some(playlist("odd", file, MEDIA_A)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{file}");
        assert_eq!(reply.error_code(), "invalid_playlist", "{file}");
        assert!(
            reply.error_message().contains("media paths must"),
            "{file}: {}",
            reply.error_message()
        );
    }
    assert_eq!(harness.count("playlists"), 0);
}
