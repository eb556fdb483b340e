//! The HTTP API driven through `app()` with `oneshot`, on a real SQLite database and media folder in
//! a temporary directory, plus one test of `run()` on a real loopback socket.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vitrine_core::impression::{MAX_IMPRESSIONS_PER_BATCH, SIGNATURE_HEADER, sign_batch};
use vitrine_core::{Manifest, Sha256Hex};
use vitrine_scheduler::Media;

mod common;

use common::{ADMIN, Harness, Reply};

const DEMO: &str = "version: 1\nname: demo\nitems:\n  - image:\n      file: red.png\n      duration: 1s\n  - image: { file: blue.png, duration: 1m30s, id: promo }\n";

impl Harness {
    /// Registers a screen whose playlist need not have been pushed yet (the admin's
    /// `allow_unpushed`): these tests are about what follows.
    async fn register(&self, name: &str, playlist: &str) -> String {
        let reply = self
            .call(
                Method::POST,
                "/v1/screens",
                Some(ADMIN),
                Some(json!({"name": name, "playlist": playlist, "allow_unpushed": true})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
        reply.json()["token"].as_str().expect("token").to_owned()
    }

    async fn put_media(&self, path_digest: &str, bytes: &[u8], token: &str) -> Reply {
        let request = Request::put(format!("/v1/media/{path_digest}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(bytes.to_vec()))
            .expect("request");
        self.send(request).await
    }

    async fn upload(&self, bytes: &[u8]) -> Sha256Hex {
        let digest = Sha256Hex::of_bytes(bytes);
        let reply = self.put_media(digest.as_str(), bytes, ADMIN).await;
        assert!(reply.status.is_success(), "{}", reply.json());
        digest
    }

    async fn push(&self, source: &str, media: Value) -> Reply {
        self.call(
            Method::POST,
            "/v1/playlists",
            Some(ADMIN),
            Some(json!({"file_name": "demo.yaml", "source": source, "media": media})),
        )
        .await
    }

    /// Uploads the demo's two images and pushes `source` with both in its media map.
    async fn push_demo(&self, source: &str) -> Reply {
        let red = self.upload(b"red pixels").await;
        let blue = self.upload(b"blue pixels").await;
        self.push(source, json!({"red.png": red, "blue.png": blue}))
            .await
    }

    async fn head(&self, digest: &str, token: &str) -> StatusCode {
        let request = Request::head(format!("/v1/media/{digest}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        self.send(request).await.status
    }
}

/// One full proof-of-play record, as a player sends it.
fn impression(screen: &str, sequence: u64, started_at: &str, ended_at: &str) -> Value {
    json!({
        "id": uuid::Uuid::now_v7(),
        "sequence": sequence,
        "screen": screen,
        "playlist": "demo",
        "playlist_version": 1,
        "zone": "main",
        "item_id": "item-1",
        "media_sha256": Sha256Hex::of_bytes(b"red pixels"),
        "scheduled_start": started_at,
        "started_at": started_at,
        "ended_at": ended_at,
        "completed": true,
        "clock": "synced",
    })
}

/// Posts `batch` as `token`'s screen, signed as a player signs it: HMAC-SHA256 over the exact
/// body, keyed with the sha256 of the token.
async fn post_batch(harness: &Harness, token: &str, batch: &Value) -> Reply {
    let body = batch.to_string();
    let key: [u8; 32] = hex::decode(Sha256Hex::of_bytes(token.as_bytes()).as_str())
        .unwrap()
        .try_into()
        .unwrap();
    post_signed(
        harness,
        token,
        body.clone().into_bytes(),
        Some(sign_batch(&key, body.as_bytes())),
    )
    .await
}

async fn post_signed(
    harness: &Harness,
    token: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> Reply {
    let mut request = Request::post("/v1/impressions")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    harness
        .send(request.body(Body::from(body)).expect("request"))
        .await
}

#[tokio::test]
async fn screens_are_registered_once_with_a_token_stored_only_as_a_hash() {
    let harness = Harness::new();
    let token = harness.register("lobby", "demo").await;
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|byte| byte.is_ascii_hexdigit()));
    let stored = harness.row("SELECT token_sha256 FROM screens WHERE name = 'lobby'")[0]
        .clone()
        .expect("token hash");
    assert_ne!(stored, token);
    assert_eq!(stored, Sha256Hex::of_bytes(token.as_bytes()).as_str());

    let duplicate = harness
        .call(
            Method::POST,
            "/v1/screens",
            Some(ADMIN),
            Some(json!({"name": "lobby", "playlist": "other", "allow_unpushed": true})),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.error_code(), "screen_exists");

    let bad_name = harness
        .call(
            Method::POST,
            "/v1/screens",
            Some(ADMIN),
            Some(json!({"name": "lob by/../x", "playlist": "demo"})),
        )
        .await;
    assert_eq!(bad_name.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_name.error_code(), "invalid_name");

    // A screen's token cannot register screens.
    let by_screen = harness
        .call(
            Method::POST,
            "/v1/screens",
            Some(&token),
            Some(json!({"name": "sneaky", "playlist": "demo"})),
        )
        .await;
    assert_eq!(by_screen.status, StatusCode::FORBIDDEN);
    assert_eq!(by_screen.error_code(), "forbidden");
    assert_eq!(harness.count("screens"), 1);
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let harness = Harness::new();
    for (method, uri) in [
        (Method::POST, "/v1/screens"),
        (Method::GET, "/v1/manifest"),
        (Method::POST, "/v1/impressions"),
        (Method::GET, "/v1/impressions?screen=lobby"),
        (Method::POST, "/v1/playlists"),
    ] {
        for token in [None, Some("not-a-real-token")] {
            let reply = harness.call(method.clone(), uri, token, None).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
            assert_eq!(reply.error_code(), "unauthorized");
            assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
        }
    }
    let digest = Sha256Hex::of_bytes(b"x");
    assert_eq!(
        harness
            .call(Method::GET, &format!("/v1/media/{digest}"), None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn malformed_json_is_a_bad_request_in_the_error_shape() {
    let harness = Harness::new();
    let request = Request::post("/v1/screens")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"name\": \"lobby\""))
        .expect("request");
    let reply = harness.send(request).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "bad_request");

    let missing_field = harness
        .call(
            Method::POST,
            "/v1/screens",
            Some(ADMIN),
            Some(json!({"name": "lobby"})),
        )
        .await;
    assert_eq!(missing_field.status, StatusCode::BAD_REQUEST);
    assert!(
        missing_field.error_message().contains("playlist"),
        "{}",
        missing_field.json()
    );

    let unknown_path = harness.call(Method::GET, "/v2/nothing", None, None).await;
    assert_eq!(unknown_path.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown_path.error_code(), "not_found");
}

#[tokio::test]
async fn media_is_stored_only_when_its_bytes_match_the_digest() {
    let harness = Harness::new();
    let screen = harness.register("lobby", "demo").await;
    let bytes: &[u8] = b"a tiny image";
    let digest = Sha256Hex::of_bytes(bytes);
    assert_eq!(
        harness.head(digest.as_str(), ADMIN).await,
        StatusCode::NOT_FOUND
    );

    // Other bytes under this digest: refused, naming both digests, and nothing left on disk.
    let wrong = harness
        .put_media(digest.as_str(), b"other bytes", ADMIN)
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.error_code(), "hash_mismatch");
    let message = wrong.error_message();
    assert!(message.contains(digest.as_str()), "{message}");
    assert!(
        message.contains(Sha256Hex::of_bytes(b"other bytes").as_str()),
        "{message}"
    );
    assert_eq!(
        harness.head(digest.as_str(), ADMIN).await,
        StatusCode::NOT_FOUND
    );
    assert!(
        !harness
            .state
            .blobs()
            .contains(&digest)
            .await
            .expect("media store")
    );
    let leftovers = std::fs::read_dir(harness.data_dir.path().join("tmp"))
        .expect("tmp folder")
        .count();
    assert_eq!(leftovers, 0, "a refused upload left a temporary file");
    assert_eq!(harness.count("media"), 0);

    let created = harness.put_media(digest.as_str(), bytes, ADMIN).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.json()["size"], bytes.len());
    let stored = harness.state.blobs().read_all(&digest).await;
    assert_eq!(stored.expect("media store").as_deref(), Some(bytes));
    if harness.media == Media::Local {
        // The layout data folders have always had: media/<first two hex>/<sha256>.
        let blob_path = harness
            .data_dir
            .path()
            .join("media")
            .join(&digest.as_str()[..2])
            .join(digest.as_str());
        assert_eq!(std::fs::read(&blob_path).expect("blob on disk"), bytes);
    }

    let again = harness.put_media(digest.as_str(), bytes, ADMIN).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(harness.count("media"), 1);

    assert_eq!(harness.head(digest.as_str(), ADMIN).await, StatusCode::OK);
    // A screen reads only its own media, and asks nothing about the rest (tests/auth.rs).
    assert_eq!(
        harness.head(digest.as_str(), &screen).await,
        StatusCode::FORBIDDEN
    );

    // Only the admin uploads, and only well-formed digests name media.
    let by_screen = harness.put_media(digest.as_str(), bytes, &screen).await;
    assert_eq!(by_screen.status, StatusCode::FORBIDDEN);
    for bad in ["..%2F..%2Fetc%2Fpasswd", "ABCDEF", "abc"] {
        let reply = harness.put_media(bad, bytes, ADMIN).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.error_code(), "invalid_sha256", "{bad}");
    }
}

#[tokio::test]
async fn media_downloads_honour_range_requests() {
    let harness = Harness::new();
    // The admin may read any media; a screen only what its manifest names (tests/auth.rs).
    let screen = ADMIN;
    // 3 MiB: over axum's default 2 MB body limit, which the streamed upload must not be held to.
    let bytes: Vec<u8> = (0..3 * 1024 * 1024)
        .map(|index| (index % 251) as u8)
        .collect();
    let digest = harness.upload(&bytes).await;

    let full = harness
        .call(
            Method::GET,
            &format!("/v1/media/{digest}"),
            Some(screen),
            None,
        )
        .await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.body.as_ref(), bytes.as_slice());
    assert_eq!(
        full.headers[header::CONTENT_TYPE],
        "application/octet-stream"
    );

    let request = Request::get(format!("/v1/media/{digest}"))
        .header(header::AUTHORIZATION, format!("Bearer {screen}"))
        .header(header::RANGE, "bytes=1000000-1000009")
        .body(Body::empty())
        .expect("request");
    let partial = harness.send(request).await;
    assert_eq!(partial.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(partial.body.as_ref(), &bytes[1_000_000..1_000_010]);
    assert_eq!(
        partial.headers[header::CONTENT_RANGE],
        format!("bytes 1000000-1000009/{}", bytes.len()).as_str()
    );

    let missing = Sha256Hex::of_bytes(b"never uploaded");
    let not_found = harness
        .call(
            Method::GET,
            &format!("/v1/media/{missing}"),
            Some(screen),
            None,
        )
        .await;
    assert_eq!(not_found.status, StatusCode::NOT_FOUND);
    assert_eq!(not_found.error_code(), "media_not_found");
}

#[tokio::test]
async fn each_push_of_a_changed_playlist_is_a_new_version() {
    let harness = Harness::new();
    let first = harness.push_demo(DEMO).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json());
    assert_eq!(first.json(), json!({"name": "demo", "version": 1}));
    let again = harness.push_demo(DEMO).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.json());
    assert_eq!(
        again.json(),
        json!({"name": "demo", "version": 1, "unchanged": true})
    );
    let second = harness.push_demo(&format!("{DEMO}# edited\n")).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.json());
    assert_eq!(second.json(), json!({"name": "demo", "version": 2}));
    assert_eq!(harness.count("playlists"), 2);
}

#[tokio::test]
async fn a_playlist_with_an_unknown_key_is_refused_at_its_line_and_column() {
    let harness = Harness::new();
    let typo = DEMO.replace("      duration: 1s", "      durration: 1s");
    let reply = harness.push_demo(&typo).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_code(), "invalid_playlist");
    assert!(
        reply
            .error_message()
            .starts_with("demo.yaml:6:7: error: unknown field `durration`"),
        "{}",
        reply.json()
    );
    let diagnostic = &reply.json()["error"]["diagnostics"][0];
    assert_eq!(
        (diagnostic["line"].as_u64(), diagnostic["column"].as_u64()),
        (Some(6), Some(7))
    );
    assert_eq!(
        diagnostic["hint"],
        "unknown key `durration`, did you mean `duration`?"
    );
    assert_eq!(harness.count("playlists"), 0);
}

#[tokio::test]
async fn a_playlist_whose_media_is_missing_is_refused_where_it_names_it() {
    let harness = Harness::new();
    let red = harness.upload(b"red pixels").await;

    // blue.png is absent from the media map.
    let unmapped = harness.push(DEMO, json!({"red.png": red})).await;
    assert_eq!(unmapped.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unmapped.error_code(), "invalid_playlist");
    assert!(
        unmapped
            .error_message()
            .starts_with("demo.yaml:7:20: error: media file `blue.png` not found"),
        "{}",
        unmapped.json()
    );

    // blue.png is in the map but its blob was never uploaded.
    let never_uploaded = Sha256Hex::of_bytes(b"blue pixels");
    let not_stored = harness
        .push(DEMO, json!({"red.png": red, "blue.png": never_uploaded}))
        .await;
    assert_eq!(not_stored.status, StatusCode::UNPROCESSABLE_ENTITY);
    let diagnostics = not_stored.json()["error"]["diagnostics"].clone();
    assert_eq!(
        diagnostics.as_array().map(Vec::len),
        Some(1),
        "{diagnostics}"
    );
    assert_eq!(diagnostics[0]["line"], 7);
    assert_eq!(diagnostics[0]["column"], 20);
    let hint = diagnostics[0]["hint"].as_str().expect("hint");
    assert!(
        hint.contains(&format!("PUT /v1/media/{never_uploaded}")),
        "{hint}"
    );
    assert_eq!(harness.count("playlists"), 0);
}

#[tokio::test]
async fn the_manifest_has_an_etag_answers_304_and_follows_new_pushes() {
    let harness = Harness::new();
    let screen = harness.register("lobby", "demo").await;

    let before_push = harness
        .call(Method::GET, "/v1/manifest", Some(&screen), None)
        .await;
    assert_eq!(before_push.status, StatusCode::NOT_FOUND);
    assert_eq!(before_push.error_code(), "no_playlist");
    assert!(before_push.error_message().contains("push"));

    assert_eq!(harness.push_demo(DEMO).await.status, StatusCode::CREATED);
    let first = harness
        .call(Method::GET, "/v1/manifest", Some(&screen), None)
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let etag = first.headers[header::ETAG]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(etag, format!("\"{}\"", Sha256Hex::of_bytes(&first.body)));
    let manifest: Manifest = serde_json::from_slice(&first.body).expect("a manifest");
    assert_eq!(manifest.screen, "lobby");
    assert_eq!(manifest.playlist.name, "demo");
    assert_eq!(manifest.playlist_version, 1);
    assert_eq!(
        manifest.timezone, "UTC",
        "no zone on the screen or in the playlist"
    );
    let items: Vec<_> = manifest.playlist.items().collect();
    let durations: Vec<u64> = items.iter().map(|item| item.duration.as_millis()).collect();
    assert_eq!(durations, vec![1_000, 90_000]);
    assert_eq!(
        manifest.sha256_of(items[0]),
        Some(&Sha256Hex::of_bytes(b"red pixels"))
    );
    assert_eq!(items[1].id, "promo");
    assert_eq!(manifest.media.len(), 2);
    assert_eq!(manifest.media["blue.png"].size, b"blue pixels".len() as u64);

    let conditional = |etag: String| {
        Request::get("/v1/manifest")
            .header(header::AUTHORIZATION, format!("Bearer {screen}"))
            .header(header::IF_NONE_MATCH, etag)
            .body(Body::empty())
            .expect("request")
    };
    let unchanged = harness.send(conditional(etag.clone())).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert!(unchanged.body.is_empty());
    assert_eq!(unchanged.headers[header::ETAG], etag.as_str());

    let shorter = DEMO.replace("duration: 1s", "duration: 2s");
    assert_eq!(
        harness.push_demo(&shorter).await.status,
        StatusCode::CREATED
    );
    let changed = harness.send(conditional(etag.clone())).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(changed.headers[header::ETAG], etag.as_str());
    let manifest: Manifest = serde_json::from_slice(&changed.body).expect("a manifest");
    assert_eq!(manifest.playlist_version, 2);
    let first_item = manifest.playlist.items().next().expect("an item");
    assert_eq!(first_item.duration.as_millis(), 2_000);

    // Each token reads only its own screen's manifest: another screen, on a playlist not pushed yet,
    // gets no_playlist rather than lobby's content.
    let window = harness.register("window", "sale").await;
    let other = harness
        .call(Method::GET, "/v1/manifest", Some(&window), None)
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(other.error_code(), "no_playlist");
    assert!(other.error_message().contains("`sale`"), "{}", other.json());

    // The manifest is a screen's; the admin token is refused rather than guessing which screen.
    let as_admin = harness
        .call(Method::GET, "/v1/manifest", Some(ADMIN), None)
        .await;
    assert_eq!(as_admin.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_resent_impression_batch_is_stored_once() {
    let harness = Harness::new();
    let screen = harness.register("lobby", "demo").await;
    // Sent newest first, to show the listing orders by start time, not by arrival.
    let later = impression("lobby", 2, "2026-03-01T10:00:05.5Z", "2026-03-01T10:00:06Z");
    let earlier = impression("lobby", 1, "2026-03-01T10:00:05Z", "2026-03-01T10:00:05.5Z");
    let batch = json!({"impressions": [later, earlier]});

    let first = post_batch(&harness, &screen, &batch).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json());
    assert_eq!(first.json()["inserted"], 2);
    assert_eq!(first.json()["highest_sequence"], 2);
    assert_eq!(
        first.json()["acknowledged"],
        json!([later["id"], earlier["id"]])
    );

    let resent = post_batch(&harness, &screen, &batch).await;
    assert_eq!(resent.status, StatusCode::OK);
    assert_eq!(resent.json()["inserted"], 0);
    assert_eq!(
        resent.json()["acknowledged"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(harness.count("impressions"), 2);

    let listed = harness
        .call(
            Method::GET,
            "/v1/impressions?screen=lobby",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json()["impressions"], json!([earlier, later]));

    // A screen may not read impressions, not even its own; that is HQ's report.
    let by_screen = harness
        .call(
            Method::GET,
            "/v1/impressions?screen=lobby",
            Some(&screen),
            None,
        )
        .await;
    assert_eq!(by_screen.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_unsigned_or_tampered_batch_is_refused_and_stores_nothing() {
    let harness = Harness::new();
    let lobby = harness.register("lobby", "demo").await;
    let other = harness.register("window", "demo").await;
    let batch = json!({"impressions": [
        impression("lobby", 1, "2026-03-01T10:00:00Z", "2026-03-01T10:00:01Z"),
    ]});
    let body = batch.to_string();

    let unsigned = post_signed(&harness, &lobby, body.clone().into_bytes(), None).await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unsigned.error_code(), "bad_signature");
    assert!(unsigned.error_message().contains(SIGNATURE_HEADER));

    let key = |token: &str| -> [u8; 32] {
        hex::decode(Sha256Hex::of_bytes(token.as_bytes()).as_str())
            .unwrap()
            .try_into()
            .unwrap()
    };
    let signature = sign_batch(&key(&lobby), body.as_bytes());
    let tampered = body.replace("\"completed\":true", "\"completed\":false");
    assert_ne!(tampered, body);
    let reply = post_signed(
        &harness,
        &lobby,
        tampered.into_bytes(),
        Some(signature.clone()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_code(), "bad_signature");

    // Signed with another screen's key: refused too.
    let foreign = sign_batch(&key(&other), body.as_bytes());
    let reply = post_signed(&harness, &lobby, body.clone().into_bytes(), Some(foreign)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(harness.count("impressions"), 0);

    let good = post_signed(&harness, &lobby, body.into_bytes(), Some(signature)).await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.json());
    assert_eq!(harness.count("impressions"), 1);
}

#[tokio::test]
async fn the_acknowledged_sequence_stops_at_the_first_gap_until_it_fills() {
    let harness = Harness::new();
    let lobby = harness.register("lobby", "demo").await;
    let play = |sequence: u64| {
        impression(
            "lobby",
            sequence,
            "2026-03-01T10:00:00Z",
            "2026-03-01T10:00:01Z",
        )
    };
    let reply = post_batch(
        &harness,
        &lobby,
        &json!({"impressions": [play(1), play(2), play(4)]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["highest_sequence"], 2, "3 is missing");
    let reply = post_batch(&harness, &lobby, &json!({"impressions": [play(3)]})).await;
    assert_eq!(reply.json()["highest_sequence"], 4, "the gap filled");
    let unnumbered = post_batch(&harness, &lobby, &json!({"impressions": [play(0)]})).await;
    assert_eq!(unnumbered.status, StatusCode::BAD_REQUEST);
    assert!(unnumbered.error_message().contains("sequence"));
    // Another screen's numbers are its own.
    let window = harness.register("window", "demo").await;
    let mut theirs = play(1);
    theirs["screen"] = json!("window");
    let reply = post_batch(&harness, &window, &json!({"impressions": [theirs]})).await;
    assert_eq!(reply.json()["highest_sequence"], 1);
}

#[tokio::test]
async fn a_batch_naming_another_screen_is_refused_whole() {
    let harness = Harness::new();
    let lobby = harness.register("lobby", "demo").await;
    harness.register("window", "demo").await;
    let batch = json!({"impressions": [
        impression("lobby", 1, "2026-03-01T10:00:00Z", "2026-03-01T10:00:01Z"),
        impression("window", 2, "2026-03-01T10:00:01Z", "2026-03-01T10:00:02Z"),
    ]});
    let reply = post_batch(&harness, &lobby, &batch).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error_code(), "wrong_screen");
    assert_eq!(harness.count("impressions"), 0);
}

#[tokio::test]
async fn an_oversized_impression_batch_is_refused_with_the_limit() {
    let harness = Harness::new();
    let screen = harness.register("lobby", "demo").await;
    let impressions: Vec<Value> = (1..=MAX_IMPRESSIONS_PER_BATCH as u64 + 1)
        .map(|sequence| {
            impression(
                "lobby",
                sequence,
                "2026-03-01T10:00:00Z",
                "2026-03-01T10:00:01Z",
            )
        })
        .collect();
    let reply = post_batch(&harness, &screen, &json!({"impressions": impressions})).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "batch_too_large");
    assert!(
        reply
            .error_message()
            .contains(&MAX_IMPRESSIONS_PER_BATCH.to_string())
    );
    assert_eq!(harness.count("impressions"), 0);
}

#[tokio::test]
async fn run_serves_http_on_a_real_socket_and_shuts_down() {
    let harness = Harness::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(vitrine_scheduler::run(
        listener,
        harness.state.clone(),
        async move {
            let _ = stopped.await;
        },
    ));

    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("receive");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nok"), "{response}");

    stop.send(()).expect("server still running");
    server
        .await
        .expect("server task")
        .expect("server stops cleanly");
}

#[tokio::test]
async fn a_screen_plays_in_its_own_time_zone_and_a_bad_zone_is_refused() {
    let harness = Harness::new();
    // The playlist names another zone; the screen's own wins.
    let with_zone = DEMO.replace("name: demo\n", "name: demo\ntimezone: America/New_York\n");
    assert_eq!(
        harness.push_demo(&with_zone).await.status,
        StatusCode::CREATED
    );
    let refused = harness
        .call(
            Method::POST,
            "/v1/screens",
            Some(ADMIN),
            Some(json!({"name": "paris", "playlist": "demo", "timezone": "Europe/Pariss"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error_code(), "invalid_timezone");
    assert!(refused.error_message().contains("Europe/Pariss"));
    assert_eq!(harness.count("screens"), 0);

    let created = harness
        .call(
            Method::POST,
            "/v1/screens",
            Some(ADMIN),
            Some(json!({"name": "paris", "playlist": "demo", "timezone": "Europe/Paris"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let token = created.json()["token"].as_str().expect("token").to_owned();
    let reply = harness
        .call(Method::GET, "/v1/manifest", Some(&token), None)
        .await;
    let manifest: Manifest = serde_json::from_slice(&reply.body).expect("a manifest");
    assert_eq!(manifest.timezone, "Europe/Paris");

    // A screen with no zone of its own follows the playlist's.
    let plain = harness.register("nyc", "demo").await;
    let reply = harness
        .call(Method::GET, "/v1/manifest", Some(&plain), None)
        .await;
    let manifest: Manifest = serde_json::from_slice(&reply.body).expect("a manifest");
    assert_eq!(manifest.timezone, "America/New_York");
}

#[tokio::test]
async fn included_fragments_travel_with_the_push_and_are_checked_there() {
    let harness = Harness::new();
    let red = harness.upload(b"red pixels").await;
    let blue = harness.upload(b"blue pixels").await;
    let source = DEMO.replace(
        "name: demo\n",
        "name: demo\ninclude: [fragments/hours.yaml]\n",
    );
    let push = |includes: Value| {
        harness.call(
            Method::POST,
            "/v1/playlists",
            Some(ADMIN),
            Some(json!({
                "file_name": "demo.yaml",
                "source": source,
                "media": {"red.png": red, "blue.png": blue},
                "includes": includes,
            })),
        )
    };

    let missing = push(json!({})).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing.error_message().contains("fragments/hours.yaml"),
        "{}",
        missing.json()
    );

    let broken =
        push(json!({"fragments/hours.yaml": "dayparts:\n  opening: \"08:00-24:30\"\n"})).await;
    assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
    let diagnostic = &broken.json()["error"]["diagnostics"][0];
    assert_eq!(diagnostic["file"], "fragments/hours.yaml", "{diagnostic}");
    assert_eq!(diagnostic["line"], 2);
    assert_eq!(
        harness.count("playlists"),
        0,
        "nothing stored from refused pushes"
    );

    let stored =
        push(json!({"fragments/hours.yaml": "dayparts:\n  opening: \"08:00-10:00\"\n"})).await;
    assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.json());
    let token = harness.register("lobby", "demo").await;
    let reply = harness
        .call(Method::GET, "/v1/manifest", Some(&token), None)
        .await;
    let manifest: Manifest = serde_json::from_slice(&reply.body).expect("a manifest");
    assert!(manifest.playlist.daypart("opening").is_some());
}

/// A heartbeat says what is on screen: the interrupt covering it, or each zone's item. The
/// scheduler keeps both and the status gives them back as sent.
#[tokio::test]
async fn the_status_gives_back_the_interrupt_and_the_items_on_screen() {
    let harness = Harness::new();
    let token = harness.register("door", "demo").await;
    for heartbeat in [
        json!({"uptime_s": 60, "unsent_impressions": 0, "playlist": "demo",
               "playlist_version": 2,
               "showing": [{"zone": "main", "item": "promo"}]}),
        json!({"uptime_s": 120, "unsent_impressions": 0, "playlist": "demo",
               "playlist_version": 2,
               "interrupt": {"id": 1733300000000001_u64, "message": "Leave by the main exit",
                             "until": "2026-12-04T10:05:00Z"}}),
    ] {
        let reply = harness
            .call(
                Method::POST,
                "/v1/heartbeat",
                Some(&token),
                Some(heartbeat.clone()),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{heartbeat}");
        let status = harness
            .call(Method::GET, "/v1/screens/door/status", Some(ADMIN), None)
            .await
            .json();
        assert_eq!(status["heartbeat"], heartbeat);
    }
}

/// The README once paired a screen with `--playlist lobby` that was never pushed, and the scheduler
/// took it without a word: the screen would have shown the splash for ever. A name never pushed is
/// refused, by `POST /v1/screens` and by pairing alike, naming the closest pushed names; the admin
/// may still register a screen for a playlist HQ pushes later by saying so, and is warned.
#[tokio::test]
async fn a_playlist_never_pushed_is_refused_with_the_closest_pushed_names() {
    let harness = Harness::new();
    let add = |body: Value| harness.call(Method::POST, "/v1/screens", Some(ADMIN), Some(body));

    let nothing_pushed = add(json!({"name": "door", "playlist": "lobby"})).await;
    assert_eq!(nothing_pushed.status, StatusCode::NOT_FOUND);
    assert_eq!(nothing_pushed.error_code(), "playlist_not_pushed");
    assert_eq!(
        nothing_pushed.error_message(),
        "no playlist called `lobby` has been pushed (none has been yet). Push it first with \
         `vitrine push FILE.yaml` (a playlist's name is its `name:`), or, to push it later, give \
         it with `--not-pushed-yet` (`allow_unpushed`)"
    );

    assert_eq!(harness.push_demo(DEMO).await.status, StatusCode::CREATED);
    let lobby = DEMO.replace("name: demo", "name: lobby");
    assert_eq!(harness.push_demo(&lobby).await.status, StatusCode::CREATED);
    let typo = add(json!({"name": "door", "playlist": "lobyy"})).await;
    assert_eq!(typo.status, StatusCode::NOT_FOUND);
    assert_eq!(typo.error_code(), "playlist_not_pushed");
    assert_eq!(
        typo.error_message(),
        "no playlist called `lobyy` has been pushed; did you mean `lobby`? Pushed playlists: \
         demo, lobby. Push it first with `vitrine push FILE.yaml` (a playlist's name is its \
         `name:`), or, to push it later, give it with `--not-pushed-yet` (`allow_unpushed`)"
    );
    // Nothing close: no guess, but the list.
    let unrelated = add(json!({"name": "door", "playlist": "winter-menu"})).await;
    assert!(
        unrelated.error_message().starts_with(
            "no playlist called `winter-menu` has been pushed. Pushed playlists: demo, lobby. Push"
        ),
        "{}",
        unrelated.error_message()
    );
    assert_eq!(harness.count("screens"), 0);

    // Pairing assigns a playlist too: the same refusal, and the code stays unconfirmed.
    let code = harness
        .call(Method::POST, "/v1/pairings", None, None)
        .await
        .json()["code"]
        .as_str()
        .expect("code")
        .to_owned();
    let confirm_uri = format!("/v1/pairings/{code}");
    let confirm = |body: Value| harness.call(Method::POST, &confirm_uri, Some(ADMIN), Some(body));
    let paired_typo = confirm(json!({"playlist": "lobyy"})).await;
    assert_eq!(paired_typo.status, StatusCode::NOT_FOUND);
    assert!(
        paired_typo
            .error_message()
            .contains("did you mean `lobby`?"),
        "{}",
        paired_typo.error_message()
    );
    // Naming none means `default`, which must have been pushed like any other.
    let paired_default = confirm(json!({})).await;
    assert_eq!(paired_default.status, StatusCode::NOT_FOUND);
    assert!(
        paired_default.error_message().starts_with(
            "no playlist called `default` has been pushed (a paired screen plays it when no \
             playlist is named)"
        ),
        "{}",
        paired_default.error_message()
    );
    assert_eq!(harness.count("screens"), 0);
    let paired = confirm(json!({"playlist": "lobby"})).await;
    assert_eq!(paired.status, StatusCode::CREATED, "{}", paired.json());
    assert!(paired.json().get("warning").is_none());

    // HQ may register a screen now and push its playlist later, when it says so; it is warned.
    let later = add(json!({"name": "window", "playlist": "spring", "allow_unpushed": true})).await;
    assert_eq!(later.status, StatusCode::CREATED, "{}", later.json());
    assert_eq!(
        later.json()["warning"],
        "playlist `spring` has not been pushed yet: the screen shows the splash until it is \
         (`vitrine push FILE.yaml`)"
    );
    let pushed_one = add(json!({"name": "hall", "playlist": "demo", "allow_unpushed": true})).await;
    assert_eq!(pushed_one.status, StatusCode::CREATED);
    assert!(pushed_one.json().get("warning").is_none());
}

/// A playlist's `screens:` and `tags:` say which screens it is for: a screen it is not for is not
/// given it, and a new version that leaves out screens already playing it warns about each.
#[tokio::test]
async fn a_playlist_is_given_only_to_the_screens_and_tags_it_names() {
    let harness = Harness::new();
    let stores = harness
        .call(
            Method::POST,
            "/v1/stores",
            Some(ADMIN),
            Some(json!({
                "file_name": "stores.csv",
                "source": "code,name,region,tags,timezone,locale,currency\n\
                           paris-11,Paris,idf,entrance,Europe/Paris,fr-FR,EUR\n\
                           lyon-2,Lyon,ara,,Europe/Paris,fr-FR,EUR\n",
            })),
        )
        .await;
    assert_eq!(stores.status, StatusCode::OK, "{}", stores.json());
    let lobby = DEMO.replace(
        "name: demo\n",
        "name: lobby\nscreens: [lobby-1, lobby-2]\ntags: [entrance]\n",
    );
    assert_eq!(harness.push_demo(&lobby).await.status, StatusCode::CREATED);
    let add = |body: Value| harness.call(Method::POST, "/v1/screens", Some(ADMIN), Some(body));

    let refused = add(json!({"name": "door", "playlist": "lobby", "store": "lyon-2"})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.error_code(), "playlist_not_for_screen");
    assert_eq!(
        refused.error_message(),
        "playlist `lobby` is for screens lobby-1, lobby-2 and screens tagged entrance (its \
         `screens:` and `tags:`), and `door` is neither; add the screen to the playlist's \
         `screens:` and push it again, give the screen one of those tags with `--tag`, or pick \
         another playlist"
    );
    assert_eq!(harness.count("screens"), 0);
    // Named, tagged, or in a store with the tag: each is one it is for.
    for body in [
        json!({"name": "lobby-1", "playlist": "lobby"}),
        json!({"name": "side", "playlist": "lobby", "tags": ["entrance"]}),
        json!({"name": "paris-door", "playlist": "lobby", "store": "paris-11"}),
    ] {
        let reply = add(body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{body}: {}",
            reply.json()
        );
    }

    // The next version is only for lobby-1: the two others keep playing it, and the push says so.
    let narrower = DEMO.replace("name: demo\n", "name: lobby\nscreens: [lobby-1]\n");
    let pushed = harness.push_demo(&narrower).await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.json());
    let warnings = pushed.json()["warnings"].clone();
    assert_eq!(
        warnings[0]["message"],
        "2 screen(s) play `lobby` but are not among its screens lobby-1: paris-door, side; they \
         keep playing it",
        "{warnings}"
    );
    assert_eq!(warnings[0]["line"], 3, "at `screens:`: {warnings}");
}
