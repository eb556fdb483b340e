//! Screenshots through `app()`: a screen sends a JPEG of what it shows to `PUT /v1/screenshot`,
//! and the admin and its store's staff read the latest one at `GET /v1/screens/{name}/screenshot`.
//! What is not a JPEG, is wider than a player sends or weighs over 1 MiB is refused, saying why.

use std::io::Cursor;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

mod common;

use common::{ADMIN, Harness, Reply};

/// A `width` x `height` picture with a gradient, so its JPEG is a real one with real content.
fn picture(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    })
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .encode_image(&picture(width, height))
        .expect("encodes");
    bytes
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    picture(width, height)
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("encodes");
    bytes.into_inner()
}

impl Harness {
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

    async fn register(&self, name: &str) -> String {
        let (status, body) = self
            .call_json(
                Method::POST,
                "/v1/screens",
                ADMIN,
                Some(json!({"name": name, "playlist": "demo", "allow_unpushed": true})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    async fn staff_of(&self, name: &str, store: &str) -> String {
        let (status, body) = self
            .call_json(
                Method::POST,
                "/v1/staff",
                ADMIN,
                Some(json!({"name": name, "stores": [store]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    async fn upload(&self, token: &str, body: Vec<u8>) -> Reply {
        self.send(
            Request::put("/v1/screenshot")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "image/jpeg")
                .body(Body::from(body))
                .expect("request"),
        )
        .await
    }

    async fn screenshot(&self, screen: &str, token: &str) -> Reply {
        self.call(
            Method::GET,
            &format!("/v1/screens/{screen}/screenshot"),
            Some(token),
            None,
        )
        .await
    }
}

/// Two stores with a screen each, and staff for each store.
async fn two_stores(harness: &Harness) -> (String, String, String, String) {
    let north = harness.register("north-1").await;
    let south = harness.register("south-1").await;
    harness.execute(
        "INSERT INTO stores (code, name, region, tags, timezone, locale, currency) VALUES
           ('N1', 'North one', 'north', '[]', 'Europe/Paris', 'fr-FR', 'EUR'),
           ('S1', 'South one', 'south', '[]', 'Europe/Paris', 'fr-FR', 'EUR');
         UPDATE screens SET store = 'N1' WHERE name = 'north-1';
         UPDATE screens SET store = 'S1' WHERE name = 'south-1';",
    );
    let north_staff = harness.staff_of("north-staff", "N1").await;
    let south_staff = harness.staff_of("south-staff", "S1").await;
    (north, south, north_staff, south_staff)
}

#[tokio::test]
async fn a_screen_sends_its_screenshot_and_the_admin_and_its_stores_staff_read_it() {
    let harness = Harness::new();
    let (north, _south, north_staff, south_staff) = two_stores(&harness).await;

    // Nothing yet: the answer says what to do.
    let reply = harness.screenshot("north-1", ADMIN).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "no_screenshot");
    assert!(
        reply.error_message().contains(
            "screen north-1 has sent no screenshot yet; send it the `screenshot` command"
        ),
        "{}",
        reply.error_message()
    );
    // An unknown screen is not the same 404 for the admin.
    let reply = harness.screenshot("no-such-screen", ADMIN).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "unknown_screen");

    let first = jpeg(960, 540);
    let reply = harness.upload(&north, first.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let taken = reply.json();
    assert_eq!(taken["screen"], "north-1");
    assert_eq!(taken["width"], 960);
    assert_eq!(taken["height"], 540);
    assert_eq!(taken["bytes"], first.len());
    let first_taken_at: jiff::Timestamp = taken["taken_at"]
        .as_str()
        .expect("taken_at")
        .parse()
        .expect("RFC 3339");

    for reader in [ADMIN, north_staff.as_str()] {
        let reply = harness.screenshot("north-1", reader).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.headers[header::CONTENT_TYPE], "image/jpeg");
        assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
        let header_taken_at: jiff::Timestamp = reply.headers["x-vitrine-taken-at"]
            .to_str()
            .expect("text")
            .parse()
            .expect("RFC 3339");
        assert_eq!(header_taken_at, first_taken_at);
        assert_eq!(reply.body.as_ref(), first.as_slice());
    }
    // Another store's staff: the same 403 as for a screen that does not exist.
    let reply = harness.screenshot("north-1", &south_staff).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = harness.screenshot("no-such-screen", &north_staff).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // A screen reads no screenshot, not even its own.
    let reply = harness.screenshot("north-1", &north).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    // The next one replaces it.
    let second = jpeg(540, 960);
    let reply = harness.upload(&north, second.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let reply = harness.screenshot("north-1", ADMIN).await;
    assert_eq!(reply.body.as_ref(), second.as_slice());
    let later: jiff::Timestamp = reply.headers["x-vitrine-taken-at"]
        .to_str()
        .expect("text")
        .parse()
        .expect("RFC 3339");
    assert!(later > first_taken_at);
    // The other screen still has none.
    let reply = harness.screenshot("south-1", ADMIN).await;
    assert_eq!(reply.error_code(), "no_screenshot");
}

#[tokio::test]
async fn what_is_not_a_small_jpeg_is_refused_saying_why() {
    let harness = Harness::new();
    let (north, ..) = two_stores(&harness).await;

    let reply = harness.upload(&north, png(320, 180)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "invalid_screenshot");
    assert!(
        reply.error_message().contains("PNG image, not a JPEG"),
        "{}",
        reply.error_message()
    );

    let reply = harness.upload(&north, jpeg(1920, 1080)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "invalid_screenshot");
    assert!(
        reply
            .error_message()
            .contains("1920 pixels wide; screenshots are at most 960 wide"),
        "{}",
        reply.error_message()
    );

    let reply = harness.upload(&north, b"plain text".to_vec()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "invalid_screenshot");

    // Over 1 MiB: refused for its size before anything is read.
    let mut heavy = jpeg(960, 540);
    heavy.resize(1024 * 1024 + 1, 0);
    let reply = harness.upload(&north, heavy).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "payload_too_large");
    assert!(
        reply.error_message().contains("1048576 bytes (1 MiB)"),
        "{}",
        reply.error_message()
    );

    // Nothing refused was kept.
    let reply = harness.screenshot("north-1", ADMIN).await;
    assert_eq!(reply.error_code(), "no_screenshot");
}
