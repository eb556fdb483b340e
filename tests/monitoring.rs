//! What a fleet's monitoring sees of a screen: a real headless player syncing from a real
//! scheduler, scraped on its local `/metrics` listener (set in its config file) and parsed as
//! Prometheus text; and the heartbeat at HQ saying what the screen runs on.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use vitrine_e2e::{
    PlayerExtras, PlayerOptions, Scheduler, Source, ids_in, start_player_with, wait_for,
    write_red_blue_playlist,
};

/// `GET /metrics`, parsed, and its text.
fn scrape(address: &str) -> anyhow::Result<(prometheus_parse::Scrape, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("not an HTTP response: {response}"))?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    anyhow::ensure!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "the Prometheus text format's content type: {head}"
    );
    let parsed = prometheus_parse::Scrape::parse(body.lines().map(|line| Ok(line.to_owned())))?;
    Ok((parsed, body.to_owned()))
}

/// The value of the sample `name` whose labels include `labels`.
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == name
                && labels
                    .iter()
                    .all(|(key, wanted)| sample.labels.get(key) == Some(*wanted))
        })
        .map(|sample| match &sample.value {
            prometheus_parse::Value::Counter(value)
            | prometheus_parse::Value::Gauge(value)
            | prometheus_parse::Value::Untyped(value) => *value,
            other => panic!("{name} is not a single value: {other:?}"),
        })
}

fn labels_of(scrape: &prometheus_parse::Scrape, name: &str) -> Vec<HashMap<String, String>> {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .map(|sample| {
            ["name", "backend", "driver", "version", "decoder"]
                .iter()
                .filter_map(|key| {
                    sample
                        .labels
                        .get(key)
                        .map(|value| ((*key).to_owned(), value.to_owned()))
                })
                .collect()
        })
        .collect()
}

fn unsent_in_journal(player_data: &Path) -> u64 {
    ids_in(
        &player_data.join("player.sqlite3"),
        "SELECT CAST(COUNT(*) AS TEXT) FROM journal WHERE sent = 0",
    )
    .unwrap()[0]
        .parse()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_playing_screen_is_seen_in_its_metrics_and_its_heartbeat() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let playlist = write_red_blue_playlist(&root.join("content")).unwrap();
    let media_bytes = std::fs::metadata(root.join("content/red.png"))
        .unwrap()
        .len()
        + std::fs::metadata(root.join("content/blue.png"))
            .unwrap()
            .len();
    let mut scheduler = Scheduler::start(&root.join("hq")).unwrap();
    scheduler
        .cli(&["push", playlist.to_str().unwrap()])
        .unwrap();
    let token = scheduler
        .cli(&["screens", "add", "door", "--playlist", "e2e"])
        .unwrap()
        .trim()
        .to_owned();

    let address = format!("127.0.0.1:{}", free_port());
    let config = root.join("player.toml");
    std::fs::write(
        &config,
        format!("[cache]\ndisk_budget = 50000000\n[metrics]\nlisten = \"{address}\"\n"),
    )
    .unwrap();
    let player_data = root.join("player");
    let mut player = start_player_with(
        Source::Scheduler {
            url: &scheduler.url,
            token: &token,
        },
        &player_data,
        &root.join("frames"),
        root,
        &PlayerOptions::default(),
        &PlayerExtras {
            config: Some(config),
            env: Vec::new(),
        },
    )
    .unwrap();

    // Real traffic: the two images downloaded and each shown at least once.
    let mut last = None;
    wait_for(
        "two items started, in the metrics",
        Duration::from_secs(90),
        || {
            assert!(
                player.child.try_wait().unwrap().is_none(),
                "the player exited"
            );
            last = scrape(&address).ok();
            last.as_ref().is_some_and(|(scrape, _)| {
                value(scrape, "vitrine_player_items_started_total", &[]).unwrap_or(0.0) >= 2.0
            })
        },
    )
    .unwrap();
    let (scrape, text) = last.unwrap();
    let frames = value(&scrape, "vitrine_player_frames_total", &[]).unwrap();
    assert!(frames > 0.0, "frames counted");
    let histogram = scrape
        .samples
        .iter()
        .find(|sample| sample.metric == "vitrine_player_frame_time_seconds")
        .map(|sample| match &sample.value {
            prometheus_parse::Value::Histogram(buckets) => buckets.clone(),
            other => panic!("the frame time is a histogram: {other:?}"),
        })
        .expect("the frame time histogram");
    let observed = histogram.last().expect("an +Inf bucket");
    assert!(observed.less_than.is_infinite());
    assert!(observed.count > 0.0, "frame times observed");
    assert!(
        histogram
            .windows(2)
            .all(|pair| pair[0].count <= pair[1].count),
        "cumulative buckets: {histogram:?}"
    );
    assert_eq!(
        value(
            &scrape,
            "vitrine_player_downloads_total",
            &[("result", "ok")]
        ),
        Some(2.0),
        "both images downloaded"
    );
    assert_eq!(
        value(&scrape, "vitrine_player_download_bytes_total", &[]),
        Some(media_bytes as f64)
    );
    assert_eq!(
        value(&scrape, "vitrine_player_cache_bytes", &[]),
        Some(media_bytes as f64),
        "the cache holds the two images"
    );
    assert_eq!(
        value(&scrape, "vitrine_player_cache_budget_bytes", &[]),
        Some(50_000_000.0)
    );
    assert_eq!(
        value(&scrape, "vitrine_player_transition_gaps_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(
            &scrape,
            "vitrine_player_decode_failures_total",
            &[("kind", "image")]
        ),
        None,
        "no image failed to decode"
    );
    assert!(value(&scrape, "vitrine_player_uptime_seconds", &[]).unwrap() > 0.0);
    let gpus = labels_of(&scrape, "vitrine_player_gpu_adapter_info");
    assert_eq!(gpus.len(), 1, "{gpus:?}");
    assert!(!gpus[0]["name"].is_empty(), "{gpus:?}");
    assert_eq!(
        value(&scrape, "vitrine_player_gpu_adapter_info", &[]),
        Some(1.0)
    );
    assert_eq!(
        labels_of(&scrape, "vitrine_player_build_info"),
        vec![HashMap::from([(
            "version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned()
        )])]
    );

    // The heartbeat at HQ says what the screen runs on, the same GPU the metrics name.
    let mut system = serde_json::Value::Null;
    wait_for("a heartbeat with the GPU", Duration::from_secs(30), || {
        let status: serde_json::Value = serde_json::from_str(
            &scheduler
                .cli(&["screens", "status", "door", "--json"])
                .unwrap(),
        )
        .unwrap();
        system = status["heartbeat"]["system"].clone();
        system["gpu"].is_object()
    })
    .unwrap();
    assert_eq!(system["version"], env!("CARGO_PKG_VERSION"), "{system}");
    // The same adapter in both. prometheus-parse cuts label values at commas (a GPU's name may
    // hold one), so the exposition line is compared whole.
    let gpu = &system["gpu"];
    let gpu_line = format!(
        "vitrine_player_gpu_adapter_info{{name=\"{}\",backend=\"{}\",driver=\"{}\"}} 1",
        gpu["name"].as_str().unwrap(),
        gpu["backend"].as_str().unwrap(),
        gpu["driver"].as_str().unwrap()
    );
    assert!(
        text.lines().any(|line| line == gpu_line),
        "`{gpu_line}` missing from:\n{text}"
    );
    assert!(!gpu["backend"].as_str().unwrap().is_empty(), "{system}");
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(system["kernel"], kernel.trim(), "{system}");
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap();
    let pretty = os_release
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|value| value.trim_matches('"'))
        .expect("PRETTY_NAME in /etc/os-release");
    assert_eq!(system["os"], pretty, "{system}");
    assert!(system.get("video_decoder").is_none(), "no video played yet");
    let shown = scheduler.cli(&["screens", "status", "door"]).unwrap();
    assert!(
        shown.contains(&format!(
            "  runs {} on {pretty}, kernel {}, GPU {}",
            env!("CARGO_PKG_VERSION"),
            kernel.trim(),
            gpu["name"].as_str().unwrap()
        )),
        "{shown}"
    );

    // HQ goes away: plays pile up in the journal, and the metric is the journal's own count.
    scheduler
        .process
        .terminate(Duration::from_secs(30))
        .unwrap();
    let before = unsent_in_journal(&player_data);
    wait_for("plays waiting to be sent", Duration::from_secs(30), || {
        unsent_in_journal(&player_data) > before
    })
    .unwrap();
    let before = unsent_in_journal(&player_data);
    let unsent = value(&scrape_now(&address), "vitrine_player_unsent_plays", &[]).unwrap();
    let after = unsent_in_journal(&player_data);
    assert!(
        before as f64 <= unsent && unsent <= after as f64,
        "the metric says {unsent} unsent plays, the journal {before} before and {after} after"
    );
    assert!(unsent >= 1.0);
    let status = player.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status}");
}

fn scrape_now(address: &str) -> prometheus_parse::Scrape {
    scrape(address).unwrap().0
}

#[test]
fn a_metrics_address_in_use_stops_the_start_naming_the_setting_and_the_file() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let config = root.join("player.toml");
    std::fs::write(&config, format!("[metrics]\nlisten = \"{address}\"\n")).unwrap();
    let output = std::process::Command::new(vitrine_e2e::binary("vitrine-player"))
        .arg("--config")
        .arg(&config)
        .args(["--headless", "--run-for", "30s", "--data-dir"])
        .arg(root.join("data"))
        .env("XDG_RUNTIME_DIR", vitrine_e2e::runtime_dir(root).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot listen for metrics on {address} as `[metrics] listen` in {}",
            config.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Address already in use"), "{stderr}");

    // Not an address at all: the file, the line and the key.
    std::fs::write(&config, "[metrics]\nlisten = \"localhost\"\n").unwrap();
    let output = std::process::Command::new(vitrine_e2e::binary("vitrine-player"))
        .arg("--config")
        .arg(&config)
        .args(["--headless", "--run-for", "30s", "--data-dir"])
        .arg(root.join("data"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("invalid player config {}", config.display()))
            && stderr.contains("`[metrics] listen` should be an IP address and a port")
            && stderr.contains("line 2"),
        "{stderr}"
    );
    drop(taken);
}
