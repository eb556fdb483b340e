//! `/metrics` after real traffic: a scheduler on loopback with its metrics listener, a screen that
//! pairs, fetches its manifest, sends a heartbeat and proof of play and holds an event stream, a
//! burst of pairing requests past the limit, and scrapes read back with a Prometheus text-format
//! parser.

mod common;

use std::time::{Duration, Instant};

use prometheus_parse::{Sample, Scrape, Value};
use reqwest::StatusCode;
use serde_json::{Value as Json, json};
use vitrine_core::Sha256Hex;
use vitrine_core::impression::{SIGNATURE_HEADER, sign_batch};
use vitrine_scheduler::rate_limit::RateLimits;
use vitrine_scheduler::{AppState, Config};

const ADMIN: &str = "metrics-test-admin-token-0123456789";
const PATIENCE: Duration = Duration::from_secs(60);

struct Running {
    api: String,
    metrics: String,
    client: reqwest::Client,
    _data_dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
    database: vitrine_scheduler::Database,
}

async fn start() -> Running {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database = common::test_database();
    let state: AppState = vitrine_scheduler::open(Config {
        data_dir: data_dir.path().to_path_buf(),
        admin_token: ADMIN.to_owned(),
        database: database.clone(),
        media: common::test_media(),
    })
    .expect("scheduler opens");
    // Two codes at once per address, then one a minute: a burst of pairing requests is refused.
    state.set_rate_limits(&RateLimits {
        pairings_per_minute: 1,
        pairings_burst: 2,
        ..RateLimits::default()
    });
    let api = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind API");
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind metrics");
    let api_address = api.local_addr().expect("address");
    let metrics_address = metrics.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop_metrics, metrics_stopped) = tokio::sync::watch::channel(());
    tokio::spawn(vitrine_scheduler::metrics::serve(
        metrics,
        state.clone(),
        async move {
            let mut metrics_stopped = metrics_stopped;
            let _ = metrics_stopped.changed().await;
        },
    ));
    tokio::spawn(vitrine_scheduler::run(api, state, async move {
        let _ = stopped.await;
        drop(stop_metrics);
    }));
    Running {
        api: format!("http://{api_address}"),
        metrics: format!("http://{metrics_address}/metrics"),
        client: reqwest::Client::new(),
        _data_dir: data_dir,
        _stop: stop,
        database,
    }
}

impl Running {
    async fn scrape(&self) -> Scrape {
        let response = self.client.get(&self.metrics).send().await.expect("scrape");
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .expect("content type")
            .to_str()
            .expect("text")
            .to_owned();
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        let text = response.text().await.expect("scrape body");
        assert!(text.ends_with("# EOF\n"), "a complete exposition:\n{text}");
        Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("parses")
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Json>,
    ) -> (StatusCode, Json) {
        let mut request = self.client.request(method, format!("{}{path}", self.api));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let body = response.bytes().await.expect("body");
        (status, serde_json::from_slice(&body).unwrap_or(Json::Null))
    }
}

/// The value of the one sample named `name` whose labels include all of `labels`; 0 when none
/// is exposed yet (a labelled counter appears at its first increment).
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .filter(|sample| {
            labels
                .iter()
                .all(|(key, wanted)| sample.labels.get(key) == Some(wanted))
        })
        .collect();
    match matching.as_slice() {
        [] => 0.0,
        [sample] => match &sample.value {
            Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => *value,
            other => panic!("{name} is not a single value: {other:?}"),
        },
        several => panic!("{name} {labels:?} matches {} samples", several.len()),
    }
}

/// The observation count of the histogram series `name` with `labels`.
fn histogram_count(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == name
                && labels
                    .iter()
                    .all(|(key, wanted)| sample.labels.get(key) == Some(wanted))
        })
        .unwrap_or_else(|| panic!("no histogram {name} {labels:?}"));
    let Value::Histogram(buckets) = &sample.value else {
        panic!("{name} is not a histogram: {:?}", sample.value);
    };
    let infinite = buckets
        .iter()
        .find(|bucket| bucket.less_than.is_infinite())
        .expect("a +Inf bucket");
    // Buckets are cumulative: none may hold more than the next.
    for pair in buckets.windows(2) {
        assert!(pair[0].count <= pair[1].count, "{buckets:?}");
    }
    infinite.count
}

fn impression(screen: &str, sequence: u64) -> Json {
    json!({
        "id": uuid::Uuid::now_v7(),
        "sequence": sequence,
        "screen": screen,
        "playlist": "demo",
        "playlist_version": 1,
        "zone": "main",
        "item_id": "item-1",
        "media_sha256": Sha256Hex::of_bytes(b"red pixels"),
        "scheduled_start": "2026-03-01T10:00:00Z",
        "started_at": "2026-03-01T10:00:00Z",
        "ended_at": "2026-03-01T10:00:05Z",
        "completed": true,
        "clock": "synced",
    })
}

const DEMO: &str =
    "version: 1\nname: demo\nitems:\n  - image:\n      file: red.png\n      duration: 10s\n";
const REQUESTS: &str = "vitrine_scheduler_http_requests_total";
const LATENCY: &str = "vitrine_scheduler_http_request_duration_seconds";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_real_traffic_by_route_template_and_status() {
    let scheduler = start().await;

    let fresh = scheduler.scrape().await;
    assert_eq!(
        value(
            &fresh,
            "vitrine_scheduler_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert_eq!(value(&fresh, "vitrine_scheduler_screens_online", &[]), 0.0);
    // The pools' sizes: SQLite serialises writers, PostgreSQL does not.
    let pool = match scheduler.database {
        vitrine_scheduler::Database::Sqlite => 8.0,
        vitrine_scheduler::Database::Postgres(_) => 16.0,
    };
    assert_eq!(
        value(&fresh, "vitrine_scheduler_db_pool_max_connections", &[]),
        pool
    );

    // A player pairs: it asks for a code, the admin confirms it, the player collects its token.
    let (status, started) = scheduler
        .send(reqwest::Method::POST, "/v1/pairings", None, None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let code = started["code"].as_str().expect("code").to_owned();
    let secret = started["secret"].as_str().expect("secret").to_owned();
    let (status, confirmed) = scheduler
        .send(
            reqwest::Method::POST,
            &format!("/v1/pairings/{code}"),
            Some(ADMIN),
            Some(json!({"name": "lobby", "playlist": "demo", "allow_unpushed": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{confirmed}");
    let (status, paired) = scheduler
        .send(
            reqwest::Method::GET,
            &format!("/v1/pairings/{code}"),
            Some(&secret),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paired}");
    let token = paired["token"].as_str().expect("token").to_owned();

    // HQ uploads the image and pushes the playlist.
    let red = Sha256Hex::of_bytes(b"red pixels");
    let uploaded = scheduler
        .client
        .put(format!("{}/v1/media/{red}", scheduler.api))
        .bearer_auth(ADMIN)
        .body(&b"red pixels"[..])
        .send()
        .await
        .expect("upload");
    assert!(uploaded.status().is_success(), "{}", uploaded.status());
    let (status, pushed) = scheduler
        .send(
            reqwest::Method::POST,
            "/v1/playlists",
            Some(ADMIN),
            Some(json!({"file_name": "demo.yaml", "source": DEMO, "media": {"red.png": red}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pushed}");

    // Three manifest fetches: one build, then the cache.
    for _ in 0..3 {
        let (status, manifest) = scheduler
            .send(reqwest::Method::GET, "/v1/manifest", Some(&token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{manifest}");
    }
    // A heartbeat, and a batch of four plays sent twice (the second time nothing is new).
    let (status, reply) = scheduler
        .send(
            reqwest::Method::POST,
            "/v1/heartbeat",
            Some(&token),
            Some(json!({"uptime_s": 60, "unsent_impressions": 4})),
        )
        .await;
    assert!(status.is_success(), "{status} {reply}");
    let batch = json!({"impressions": (1..=4).map(|sequence| impression("lobby", sequence)).collect::<Vec<_>>()})
        .to_string();
    let key: [u8; 32] = hex::decode(Sha256Hex::of_bytes(token.as_bytes()).as_str())
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    for expected_new in [4, 0] {
        let response = scheduler
            .client
            .post(format!("{}/v1/impressions", scheduler.api))
            .bearer_auth(&token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sign_batch(&key, batch.as_bytes()))
            .body(batch.clone())
            .send()
            .await
            .expect("impressions");
        assert_eq!(response.status(), StatusCode::OK);
        let ack: Json = response.json().await.expect("ack");
        assert_eq!(ack["inserted"], expected_new, "{ack}");
    }
    // A path no route matches, and a media digest nobody stored.
    let (status, _) = scheduler
        .send(
            reqwest::Method::GET,
            "/v1/no-such-thing/x7q9",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let unknown = Sha256Hex::of_bytes(b"never uploaded");
    let (status, _) = scheduler
        .send(
            reqwest::Method::GET,
            &format!("/v1/media/{unknown}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A burst of pairing requests from the same address: the limit refuses some.
    let mut refused = 0;
    for _ in 0..5 {
        let (status, _) = scheduler
            .send(reqwest::Method::POST, "/v1/pairings", None, None)
            .await;
        match status {
            StatusCode::CREATED => {}
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        refused >= 2,
        "the burst of two was spent: {refused} refused"
    );

    let scrape = scheduler.scrape().await;
    let manifest_ok = [
        ("route", "/v1/manifest"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert_eq!(value(&scrape, REQUESTS, &manifest_ok), 3.0);
    assert_eq!(
        histogram_count(
            &scrape,
            LATENCY,
            &[("route", "/v1/manifest"), ("method", "GET")]
        ),
        3.0
    );
    assert_eq!(
        value(&scrape, "vitrine_scheduler_manifest_builds_total", &[]),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            REQUESTS,
            &[
                ("route", "/v1/impressions"),
                ("method", "POST"),
                ("status", "200")
            ]
        ),
        2.0
    );
    assert_eq!(
        value(
            &scrape,
            "vitrine_scheduler_ingested_rows_total",
            &[("kind", "impressions")]
        ),
        4.0,
        "rows stored, not rows sent"
    );
    assert_eq!(value(&scrape, "vitrine_scheduler_screens_online", &[]), 1.0);
    // The pool opened connections for that traffic, and none is waited for now.
    let connections = value(&scrape, "vitrine_scheduler_db_pool_connections", &[]);
    assert!((1.0..=8.0).contains(&connections), "{connections}");
    assert!(
        value(
            &scrape,
            "vitrine_scheduler_db_pool_available_connections",
            &[]
        ) <= connections
    );
    assert_eq!(
        value(&scrape, "vitrine_scheduler_db_pool_waiting_requests", &[]),
        0.0
    );
    for (outcome, count) in [
        ("requested", 1 + 5 - refused),
        ("confirmed", 1),
        ("delivered", 1),
    ] {
        assert_eq!(
            value(
                &scrape,
                "vitrine_scheduler_pairings_total",
                &[("outcome", outcome)]
            ),
            f64::from(count),
            "{outcome}"
        );
    }
    assert_eq!(
        value(
            &scrape,
            "vitrine_scheduler_rate_limited_requests_total",
            &[("kind", "pairing")]
        ),
        f64::from(refused)
    );
    assert_eq!(
        value(
            &scrape,
            REQUESTS,
            &[
                ("route", "/v1/pairings"),
                ("method", "POST"),
                ("status", "429")
            ]
        ),
        f64::from(refused)
    );
    // Route templates, never raw paths: ids do not make series of their own.
    assert_eq!(
        value(
            &scrape,
            REQUESTS,
            &[
                ("route", "/v1/media/:sha256"),
                ("method", "GET"),
                ("status", "404")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            REQUESTS,
            &[("route", "unmatched"), ("method", "GET"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            REQUESTS,
            &[
                ("route", "/v1/pairings/:code"),
                ("method", "GET"),
                ("status", "200")
            ]
        ),
        1.0
    );
    for sample in &scrape.samples {
        for (key, label) in sample.labels.iter() {
            assert!(
                !label.contains(unknown.as_str())
                    && !label.contains(&code)
                    && !label.contains("no-such-thing"),
                "a raw path in {key}={label} of {}",
                sample.metric
            );
        }
    }
    assert_eq!(value(&scrape, "vitrine_scheduler_event_streams", &[]), 0.0);

    // An event stream: counted while open, not after it closes.
    let mut stream = scheduler
        .client
        .get(format!("{}/v1/events", scheduler.api))
        .bearer_auth(&token)
        .send()
        .await
        .expect("event stream");
    assert_eq!(stream.status(), StatusCode::OK);
    let first = tokio::time::timeout(PATIENCE, stream.chunk())
        .await
        .expect("a first event")
        .expect("stream reads")
        .expect("stream open");
    assert!(
        String::from_utf8_lossy(&first).contains("manifest"),
        "{}",
        String::from_utf8_lossy(&first)
    );
    assert_eq!(
        value(
            &scheduler.scrape().await,
            "vitrine_scheduler_event_streams",
            &[]
        ),
        1.0
    );
    drop(stream);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let open = value(
            &scheduler.scrape().await,
            "vitrine_scheduler_event_streams",
            &[],
        );
        if open == 0.0 {
            break;
        }
        assert_eq!(open, 1.0);
        assert!(
            Instant::now() < deadline,
            "the closed stream is still counted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = scheduler.scrape().await;
    assert_eq!(
        value(
            &after,
            REQUESTS,
            &[
                ("route", "/v1/events"),
                ("method", "GET"),
                ("status", "200")
            ]
        ),
        1.0
    );
    // The manifest was cached: the stream's first event built nothing.
    assert_eq!(
        value(&after, "vitrine_scheduler_manifest_builds_total", &[]),
        1.0
    );
}
