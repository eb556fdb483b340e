//! Feeds fetched by URL, against a real HTTP server on loopback (allow-listed): the ETag and
//! 304, gzip, a server error, a slow server, an oversized feed and a gzip bomb, the last good
//! data kept with an alert after each failure, and the refusal of non-public addresses.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use vitrine_scheduler::feed::fetch::{FetchPolicy, non_public_kind};

mod common;

use common::{ADMIN, Harness};

const STORES: &str = "code,name,region,tags,timezone,locale,currency
paris-11,Paris Oberkampf,ile-de-france,,Europe/Paris,fr-FR,EUR
";

fn rss(items: &[(&str, &str)]) -> String {
    let mut feed = String::from(
        "<?xml version=\"1.0\"?>\n<rss version=\"2.0\" xmlns:g=\"http://base.google.com/ns/1.0\"><channel>\n",
    );
    for (id, price) in items {
        feed.push_str(&format!(
            "<item><g:id>{id}</g:id><title>Product {id}</title><g:price>{price}</g:price></item>\n"
        ));
    }
    feed.push_str("</channel></rss>\n");
    feed
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The shop's web server: the feed with its ETag, and routes that fail in each way.
#[derive(Clone, Default)]
struct Shop {
    feed: Arc<Mutex<(String, String)>>,
    hits: Arc<AtomicUsize>,
    not_modified: Arc<AtomicUsize>,
    image_hits: Arc<AtomicUsize>,
}

async fn feed(
    axum::extract::State(shop): axum::extract::State<Shop>,
    headers: HeaderMap,
) -> Response {
    shop.hits.fetch_add(1, Ordering::SeqCst);
    let (body, etag) = shop.feed.lock().unwrap().clone();
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|value| value.as_bytes() == etag.as_bytes())
    {
        shop.not_modified.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, "application/rss+xml".to_owned()),
        ],
        body,
    )
        .into_response()
}

async fn start_shop(shop: Shop) -> SocketAddr {
    let app = Router::new()
        .route("/feed.xml", get(feed))
        .route(
            "/gzipped.xml",
            get(|| async {
                (
                    [(header::CONTENT_ENCODING, "gzip")],
                    gzip(rss(&[("gz-1", "3.00 EUR")]).as_bytes()),
                )
            }),
        )
        .route(
            "/dated.xml",
            get(|headers: HeaderMap| async move {
                const STAMP: &str = "Tue, 01 Dec 2026 08:00:00 GMT";
                if headers
                    .get(header::IF_MODIFIED_SINCE)
                    .is_some_and(|value| value == STAMP)
                {
                    return (
                        StatusCode::NOT_MODIFIED,
                        [(header::LAST_MODIFIED, STAMP)],
                        String::new(),
                    );
                }
                (
                    StatusCode::OK,
                    [(header::LAST_MODIFIED, STAMP)],
                    rss(&[("dated-1", "7.00 EUR")]),
                )
            }),
        )
        .route(
            "/img.png",
            get(
                |axum::extract::State(shop): axum::extract::State<Shop>| async move {
                    shop.image_hits.fetch_add(1, Ordering::SeqCst);
                    let picture = image::RgbImage::from_fn(2000, 1000, |x, y| {
                        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
                    });
                    let mut png = Vec::new();
                    picture
                        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                        .unwrap();
                    ([(header::CONTENT_TYPE, "image/png")], png)
                },
            ),
        )
        .route(
            "/error.xml",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "down for maintenance") }),
        )
        .route(
            "/slow.xml",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                rss(&[("slow-1", "1.00 EUR")])
            }),
        )
        .route(
            "/huge.xml",
            get(|| async {
                let items: Vec<(String, &str)> = (0..5_000)
                    .map(|index| (format!("huge-{index}"), "1.00 EUR"))
                    .collect();
                let items: Vec<(&str, &str)> = items
                    .iter()
                    .map(|(id, price)| (id.as_str(), *price))
                    .collect();
                rss(&items)
            }),
        )
        .route(
            "/bomb.xml",
            get(|| async {
                // A few kilobytes that unpack to megabytes of white space inside the channel.
                let mut text = rss(&[("bomb-1", "1.00 EUR")]);
                text.insert_str(text.len() - 18, &" ".repeat(4 * 1024 * 1024));
                ([(header::CONTENT_ENCODING, "gzip")], gzip(text.as_bytes()))
            }),
        )
        .with_state(shop);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

impl Harness {
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let reply = self
            .call(axum::http::Method::POST, path, Some(ADMIN), Some(body))
            .await;
        let value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        (reply.status, value)
    }

    async fn register_feed(&self, name: &str, url: &str) {
        let (status, body) = self
            .post(
                "/v1/feeds",
                json!({"name": name, "url": url, "every": "15m"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    async fn fetch(&self, name: &str) -> Value {
        let (status, body) = self
            .post(&format!("/v1/feeds/{name}/fetch"), Value::Null)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn alert_of(&self, name: &str) -> Option<String> {
        let reply = self
            .call(axum::http::Method::GET, "/v1/feeds", Some(ADMIN), None)
            .await;
        let feeds = reply.json();
        feeds["feeds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|feed| feed["name"] == name)
            .unwrap_or_else(|| panic!("feed {name} in {feeds}"))["alert"]
            .as_str()
            .map(str::to_owned)
    }

    fn price_of(&self, id: &str) -> Option<i64> {
        self.rows(&format!(
            "SELECT price_cents FROM products WHERE id = '{id}' AND removed_at IS NULL"
        ))
        .first()
        .map(|row| row[0].as_deref().expect("price").parse().expect("integer"))
    }
}

fn loopback_allowed(max_bytes: u64) -> FetchPolicy {
    FetchPolicy {
        allow: vec!["127.0.0.1".parse().unwrap()],
        max_bytes,
        timeout: Duration::from_secs(1),
    }
}

#[tokio::test]
async fn a_feed_is_fetched_by_url_with_its_etag_and_gzip_and_a_failure_keeps_the_last_good_data() {
    let harness = Harness::new();
    let (status, body) = harness
        .post(
            "/v1/stores",
            json!({"file_name": "stores.csv", "source": STORES}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let shop = Shop::default();
    *shop.feed.lock().unwrap() = (
        rss(&[("a", "1.00 EUR"), ("b", "2.00 EUR")]),
        "\"v1\"".to_owned(),
    );
    let address = start_shop(shop.clone()).await;
    harness.state.set_feed_policy(loopback_allowed(64 * 1024));
    let url = |path: &str| format!("http://{address}{path}");

    harness.register_feed("shop", &url("/feed.xml")).await;
    let first = harness.fetch("shop").await;
    assert_eq!(first["outcome"], "imported", "{first}");
    assert_eq!(first["report"]["diff"]["added"]["count"], 2, "{first}");
    assert_eq!(harness.price_of("a"), Some(100));

    // Unchanged: the server answers 304 to the ETag it gave, and nothing is read.
    let again = harness.fetch("shop").await;
    assert_eq!(again["outcome"], "not_modified", "{again}");
    assert_eq!(shop.not_modified.load(Ordering::SeqCst), 1);

    // A new version: the price change is applied, and `b`, no longer listed, is removed.
    *shop.feed.lock().unwrap() = (rss(&[("a", "1.50 EUR")]), "\"v2\"".to_owned());
    let changed = harness.fetch("shop").await;
    assert_eq!(changed["outcome"], "imported", "{changed}");
    assert_eq!(
        changed["report"]["diff"]["price_changed"]["ids"],
        json!(["a"])
    );
    assert_eq!(changed["report"]["diff"]["removed"]["ids"], json!(["b"]));
    assert_eq!(
        (harness.price_of("a"), harness.price_of("b")),
        (Some(150), None)
    );
    assert_eq!(harness.alert_of("shop").await, None);

    // A server that gives Last-Modified instead of an ETag gets If-Modified-Since back.
    harness.register_feed("dated", &url("/dated.xml")).await;
    assert_eq!(harness.fetch("dated").await["outcome"], "imported");
    assert_eq!(harness.fetch("dated").await["outcome"], "not_modified");
    assert_eq!(harness.price_of("dated-1"), Some(700));

    // Gzip on the wire.
    harness.register_feed("gzipped", &url("/gzipped.xml")).await;
    let gzipped = harness.fetch("gzipped").await;
    assert_eq!(gzipped["outcome"], "imported", "{gzipped}");
    assert_eq!(harness.price_of("gz-1"), Some(300));

    // Each failure: nothing applied, the last good data kept, an alert with the status or error.
    for (name, path, expected) in [
        ("error", "/error.xml", "HTTP 500 Internal Server Error"),
        ("slow", "/slow.xml", "timed out after 1s"),
        ("huge", "/huge.xml", "larger than the limit of 65536 bytes"),
        (
            "bomb",
            "/bomb.xml",
            "larger than the limit of 65536 bytes once decompressed",
        ),
    ] {
        harness.register_feed(name, &url(path)).await;
        let failed = harness.fetch(name).await;
        assert_eq!(failed["outcome"], "failed", "{name}: {failed}");
        let error = failed["error"].as_str().unwrap();
        assert!(error.contains(expected), "{name}: {error}");
        assert_eq!(harness.alert_of(name).await.as_deref(), Some(error));
    }
    assert_eq!(
        harness.count("products"),
        4,
        "a, b (removed, kept), dated-1 and gz-1 only"
    );
    assert_eq!(harness.price_of("a"), Some(150));

    // A shop feed that breaks keeps its products, and its alert clears on the next good fetch.
    *shop.feed.lock().unwrap() = ("<rss><channel><item>".to_owned(), "\"v3\"".to_owned());
    let broken = harness.fetch("shop").await;
    assert_eq!(broken["outcome"], "failed", "{broken}");
    assert!(
        broken["error"].as_str().unwrap().contains("never ends"),
        "{broken}"
    );
    assert_eq!(harness.price_of("a"), Some(150));
    *shop.feed.lock().unwrap() = (rss(&[("a", "1.25 EUR")]), "\"v4\"".to_owned());
    assert_eq!(harness.fetch("shop").await["outcome"], "imported");
    assert_eq!(harness.alert_of("shop").await, None);
    assert_eq!(harness.price_of("a"), Some(125));

    // The schedule: a feed registered and never fetched is due at once.
    *shop.feed.lock().unwrap() = (rss(&[("a", "0.99 EUR")]), "\"v5\"".to_owned());
    harness.register_feed("shop", &url("/feed.xml?again")).await;
    vitrine_scheduler::feed::fetch::fetch_due_feeds(&harness.state);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while harness.price_of("a") != Some(99) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scheduled fetch never came"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_feed_url_that_resolves_to_a_non_public_address_is_refused_unless_allowed() {
    let harness = Harness::new();
    let shop = Shop::default();
    *shop.feed.lock().unwrap() = (rss(&[("a", "1.00 EUR")]), "\"v1\"".to_owned());
    let address = start_shop(shop.clone()).await;
    let port = address.port();
    // No allow-list: the loopback server is out of reach, by address and by a name that
    // resolves to it.
    harness.state.set_feed_policy(FetchPolicy::default());
    for (name, url) in [
        ("by-address", format!("http://127.0.0.1:{port}/feed.xml")),
        ("by-name", format!("http://localhost:{port}/feed.xml")),
        (
            "mapped",
            format!("http://[::ffff:127.0.0.1]:{port}/feed.xml"),
        ),
    ] {
        harness.register_feed(name, &url).await;
        let refused = harness.fetch(name).await;
        assert_eq!(refused["outcome"], "failed", "{refused}");
        let error = refused["error"].as_str().unwrap();
        assert!(
            error.contains("a loopback address") && error.contains("--feed-allow"),
            "{name}: {error}"
        );
    }
    assert_eq!(
        shop.hits.load(Ordering::SeqCst),
        0,
        "no request reached the server"
    );
    assert_eq!(harness.count("products"), 0);

    // An allow-list naming another network does not help; naming this one does.
    harness.state.set_feed_policy(FetchPolicy {
        allow: vec!["10.0.0.0/8".parse().unwrap()],
        ..FetchPolicy::default()
    });
    assert_eq!(harness.fetch("by-address").await["outcome"], "failed");
    harness.state.set_feed_policy(FetchPolicy {
        allow: vec!["127.0.0.0/8".parse().unwrap()],
        ..FetchPolicy::default()
    });
    assert_eq!(harness.fetch("by-address").await["outcome"], "imported");
    assert_eq!(shop.hits.load(Ordering::SeqCst), 1);

    // The kinds of address refused, and a public one let through.
    for (address, kind) in [
        ("10.1.2.3", Some("private")),
        ("172.16.0.1", Some("private")),
        ("192.168.1.1", Some("private")),
        ("169.254.169.254", Some("link-local")),
        ("100.64.0.1", Some("shared (carrier-grade NAT)")),
        ("0.0.0.0", Some("unspecified")),
        ("::1", Some("loopback")),
        ("fd00::1", Some("private (unique local)")),
        ("fe80::1", Some("link-local")),
        ("::ffff:10.0.0.1", Some("private")),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ] {
        assert_eq!(non_public_kind(address.parse().unwrap()), kind, "{address}");
    }

    // Bad registrations say why.
    for (body, expected) in [
        (
            json!({"name": "x", "url": "ftp://shop.example/feed.xml", "every": "1h"}),
            "not an http or https URL",
        ),
        (
            json!({"name": "x", "url": "https://shop.example/feed.xml", "every": "10s"}),
            "shorter than a minute",
        ),
        (
            json!({"name": "upload", "url": "https://shop.example/feed.xml", "every": "1h"}),
            "not `upload`",
        ),
    ] {
        let (status, reply) = harness.post("/v1/feeds", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
        assert!(reply.to_string().contains(expected), "{reply}");
    }
}

#[tokio::test]
async fn a_product_image_is_fetched_once_resized_and_shown_on_its_offer_card() {
    let harness = Harness::new();
    let shop = Shop::default();
    let address = start_shop(shop.clone()).await;
    harness
        .state
        .set_feed_policy(loopback_allowed(64 * 1024 * 1024));
    let feed = format!(
        "id\ttitle\tprice\timage_link\nspread\tSpread\t4.99 EUR\thttp://{address}/img.png\n"
    );
    let playlist = "version: 1\nname: store\nitems:\n  - offer: { slot: main, duration: 10s }\n";
    let campaign = "version: 1\nname: spread\ntargets:\n  stores: [paris-11]\nfrom: 2020-01-01\n\
                    priority: 50\nloop_slots: 1\nfill:\n  - text: { text: Spread, duration: 10s }\n\
                    offers:\n  main:\n    - { id: spread, product: spread, title: Spread }\n";
    for (path, file_name, source) in [
        ("/v1/stores", "stores.csv", STORES),
        ("/v1/feed", "feed.tsv", feed.as_str()),
        ("/v1/playlists", "store.yaml", playlist),
        ("/v1/campaigns", "spread.yaml", campaign),
    ] {
        let (status, body) = harness
            .post(path, json!({"file_name": file_name, "source": source}))
            .await;
        assert!(status.is_success(), "{path}: {body}");
    }
    let (status, screen) = harness
        .post(
            "/v1/screens",
            json!({"name": "paris-11.entrance", "playlist": "store", "store": "paris-11"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{screen}");
    let token = screen["token"].as_str().unwrap().to_owned();
    let manifest = || async {
        let reply = harness
            .call(axum::http::Method::GET, "/v1/manifest", Some(&token), None)
            .await;
        serde_json::from_slice::<vitrine_core::Manifest>(&reply.body).unwrap()
    };
    // The first manifest has no picture yet; building it asks for one.
    let first = manifest().await;
    assert_eq!(first.offers["main"].entries[0].card.image_file, None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let with_image = loop {
        let current = manifest().await;
        if current.offers["main"].entries[0].card.image_file.is_some() {
            break current;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the image never came"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let card = &with_image.offers["main"].entries[0].card;
    assert_eq!(card.image_file.as_deref(), Some("feed/spread"));
    let entry = &with_image.media["feed/spread"];
    // Stored once, resized to fit 1024 pixels, by its sha256, and served to the screen.
    let stored = harness
        .state
        .blobs()
        .read_all(&entry.sha256)
        .await
        .expect("media store")
        .expect("stored");
    assert_eq!(stored.len() as u64, entry.size);
    let picture = image::load_from_memory(&stored).unwrap();
    assert_eq!((picture.width(), picture.height()), (1024, 512));
    let reply = harness
        .call(
            axum::http::Method::GET,
            &format!("/v1/media/{}", entry.sha256),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body.len() as u64, entry.size);
    for _ in 0..3 {
        manifest().await;
    }
    assert_eq!(shop.image_hits.load(Ordering::SeqCst), 1, "fetched once");
    // The same feed again keeps the picture.
    let (status, _) = harness
        .post("/v1/feed", json!({"file_name": "feed.tsv", "source": feed}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        manifest().await.offers["main"].entries[0]
            .card
            .image_file
            .as_deref(),
        Some("feed/spread")
    );
}
