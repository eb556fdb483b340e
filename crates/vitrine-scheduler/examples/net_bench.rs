//! The scheduler's network figures for `cargo xtask bench`, against a scheduler already running at
//! `--server` (xtask starts the release binary). Each subcommand prints one line of JSON.
//!
//! - `prepare-manifest`: pushes a playlist, registers N screens playing it, writes one screen's
//!   manifest (what nginx serves as the peer) and every screen's token (what wrk sends).
//! - `push`: registers N screens, opens one event stream per screen as light simulated players
//!   (the real protocol: `GET /v1/events`, and on `manifest-changed` with a new ETag a
//!   `GET /v1/manifest` with `If-None-Match`), then pushes a new playlist version per round and
//!   times, for every screen, publish → new manifest verified and stored: its ed25519 signature
//!   checked with the server's key, parsed, made for this screen, newer than the one held, of the
//!   playlist version just pushed, and written to the player's own file (a temporary file renamed
//!   over it, as a player replaces its manifest). Players share one HTTP client: each event stream
//!   holds its own connection, and manifest fetches reuse at most [`MANIFEST_CONNECTIONS`] more, so
//!   10,000 players fit in the open-file limit of one machine.
//! - `sync-push`: uploads every file of a folder and pushes playlist `sync` showing them all, for
//!   the sync-efficiency figure; registers screen `sync-screen` on it the first time. Prints the
//!   screen's token and each file's digest and size, one a line.
//! - `ingest`: impressions/s through `POST /v1/impressions` in batches of 1000, A/B interleaved with
//!   the storage floor: the same rows (every column the scheduler stores for them, values made
//!   beforehand) inserted with rusqlite in one transaction per batch into a fresh database with the
//!   scheduler's schema and connection settings. Both sides are checked to hold every row once. With `--postgres URL`
//!   (a scheduler on PostgreSQL), the floor is a raw `COPY` of the same rows into a schema of its
//!   own on that server.
//! - `push --player-servers A,B`: the players spread over several replicas, the push made through
//!   `--server`.
//! - `screenshot --screen NAME`: the screenshot round trip with a real player on screen NAME: per
//!   round, `POST /v1/commands` `screenshot`, then `GET /v1/screens/NAME/screenshot` every 25 ms
//!   until it answers a JPEG received after the previous one (by HQ's `X-Vitrine-Taken-At`), which
//!   must decode and be at most 960 pixels wide. One round first, not counted, waits for the
//!   player to be connected.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use vitrine_core::{Manifest, Sha256Hex};

const BATCH: usize = 1000;

/// The most manifest fetches in flight at once across all simulated players.
const MANIFEST_CONNECTIONS: usize = 1000;

/// The most simulated players opening their event stream at once: a fleet comes online over
/// time, and 10,000 connections opened in the same instant overflow the listen backlog.
const CONNECTING_AT_ONCE: usize = 256;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str| -> anyhow::Result<String> {
        let position = arguments
            .iter()
            .position(|argument| argument == name)
            .with_context(|| format!("missing {name}"))?;
        arguments
            .get(position + 1)
            .cloned()
            .with_context(|| format!("{name} needs a value"))
    };
    let server = option("--server")?;
    let admin = option("--admin")?;
    let rounds: usize = option("--rounds")?.parse()?;
    match arguments.first().map(String::as_str) {
        Some("push") => {
            let round_timeout = Duration::from_secs(option("--round-timeout-s")?.parse()?);
            // Replicas: players spread over these, the push goes through --server.
            let player_servers = match option("--player-servers") {
                Ok(list) => list.split(',').map(str::to_owned).collect(),
                Err(_) => vec![server.clone()],
            };
            push(
                &server,
                &admin,
                option("--clients")?.parse()?,
                rounds,
                round_timeout,
                &player_servers,
            )
            .await
        }
        Some("sync-push") => {
            sync_push(
                &server,
                &admin,
                &option("--dir")?,
                arguments.iter().any(|argument| argument == "--register"),
            )
            .await
        }
        Some("ingest") => {
            let batches = option("--batches")?.parse()?;
            match option("--postgres") {
                Ok(postgres) => ingest_postgres(&server, &admin, batches, rounds, &postgres).await,
                Err(_) => ingest(&server, &admin, batches, rounds).await,
            }
        }
        Some("screenshot") => screenshot(&server, &admin, &option("--screen")?, rounds).await,
        Some("prepare-manifest") => {
            prepare_manifest(
                &server,
                &admin,
                option("--screens")?.parse()?,
                &option("--out")?,
                &option("--tokens")?,
            )
            .await
        }
        _ => bail!("usage: net_bench push|ingest|prepare-manifest --server URL --admin TOKEN ..."),
    }
}

struct Hq {
    http: reqwest::Client,
    server: String,
    admin: String,
}

impl Hq {
    fn new(server: &str, admin: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(usize::MAX)
                .build()?,
            server: server.trim_end_matches('/').to_owned(),
            admin: admin.to_owned(),
        })
    }

    async fn admin_call(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.server))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    async fn register(&self, name: &str, playlist: &str) -> anyhow::Result<String> {
        let reply = self
            .admin_call("/v1/screens", json!({"name": name, "playlist": playlist}))
            .await?;
        Ok(reply["token"].as_str().context("token")?.to_owned())
    }

    /// Registers `count` screens named `prefix-00000` on, playing `playlist`, a few at a time;
    /// returns their tokens in order.
    async fn register_many(
        &self,
        prefix: &str,
        count: usize,
        playlist: &str,
    ) -> anyhow::Result<Vec<String>> {
        futures_util::stream::iter(0..count)
            .map(|index| self.register_owned(format!("{prefix}-{index:05}"), playlist))
            .buffered(16)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    async fn register_owned(&self, name: String, playlist: &str) -> anyhow::Result<String> {
        self.register(&name, playlist).await
    }

    /// The public key the scheduler signs manifests with.
    async fn server_key(&self) -> anyhow::Result<VerifyingKey> {
        let reply: Value = self
            .http
            .get(format!("{}/v1/server-key", self.server))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let bytes: [u8; 32] = hex::decode(reply["public_key"].as_str().context("public_key")?)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("an ed25519 public key is 32 bytes"))?;
        Ok(VerifyingKey::from_bytes(&bytes)?)
    }

    /// Uploads one small image and pushes `playlist` showing it for `seconds`; returns the
    /// playlist version HQ stored.
    async fn push_playlist(&self, playlist: &str, seconds: u64) -> anyhow::Result<u64> {
        let bytes = b"bench image bytes".to_vec();
        let digest = Sha256Hex::of_bytes(&bytes);
        let response = self
            .http
            .put(format!("{}/v1/media/{digest}", self.server))
            .bearer_auth(&self.admin)
            .body(bytes)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("upload: {}", response.status());
        }
        let source = format!(
            "version: 1\nname: {playlist}\nitems:\n  - image: {{ file: a.png, duration: {seconds}s }}\n"
        );
        let reply = self
            .admin_call(
                "/v1/playlists",
                json!({"file_name": "bench.yaml", "source": source, "media": {"a.png": digest}}),
            )
            .await?;
        reply["version"]
            .as_u64()
            .with_context(|| format!("no version in the push's answer: {reply}"))
    }
}

/// Registers `screens` screens on one pushed playlist, fetches each one's manifest once (as a
/// player's first poll does), writes the first one's bytes to `out` (what nginx serves as the peer)
/// and every token, one a line, to `tokens` (what wrk rotates through).
async fn prepare_manifest(
    server: &str,
    admin: &str,
    screens: usize,
    out: &str,
    tokens_file: &str,
) -> anyhow::Result<()> {
    let hq = Hq::new(server, admin)?;
    hq.push_playlist("wrk", 10).await?;
    let tokens = hq.register_many("wrk", screens, "wrk").await?;
    for (index, token) in tokens.iter().enumerate() {
        let response = hq
            .http
            .get(format!("{}/v1/manifest", hq.server))
            .bearer_auth(token)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("manifest: {}", response.status());
        }
        let body = response.bytes().await?;
        if index == 0 {
            std::fs::write(out, body)?;
        }
    }
    std::fs::write(tokens_file, tokens.join("\n") + "\n")?;
    println!("{}", json!({"screens": screens}));
    Ok(())
}

/// What a simulated player needs to know and where it reports.
struct SimulatedPlayer {
    http: reqwest::Client,
    server: String,
    screen: String,
    token: String,
    key: VerifyingKey,
    /// Where it stores the manifest it holds.
    store: std::path::PathBuf,
    manifest_fetches: Arc<Semaphore>,
    connecting: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<()>,
    /// The instant each new manifest was stored, with its playlist version.
    received: mpsc::UnboundedSender<(Instant, u64)>,
}

/// One simulated player: holds the event stream and fetches the manifest when told it changed;
/// checks and stores each new one as a player does before it counts as held.
async fn simulated_player(player: SimulatedPlayer) -> anyhow::Result<()> {
    let SimulatedPlayer {
        http,
        server,
        screen,
        token,
        key,
        store,
        manifest_fetches,
        connecting,
        ready,
        received,
    } = player;
    let connecting = connecting.acquire_owned().await?;
    let response = http
        .get(format!("{server}/v1/events"))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await?;
    drop(connecting);
    if !response.status().is_success() {
        bail!("events: {}", response.status());
    }
    let mut events = response.bytes_stream().eventsource();
    let mut etag: Option<String> = None;
    let mut held_version = 0;
    let mut first = true;
    while let Some(event) = events.next().await {
        let event = event?;
        if event.event != "manifest-changed" || etag.as_deref() == Some(event.data.as_str()) {
            continue;
        }
        let permit = manifest_fetches.clone().acquire_owned().await?;
        let mut request = http
            .get(format!("{server}/v1/manifest"))
            .bearer_auth(&token);
        if let Some(etag) = &etag {
            request = request.header("if-none-match", etag);
        }
        let response = request.send().await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let (new_etag, signature) = (header("etag"), header("x-vitrine-signature"));
        let status = response.status();
        let body = response.bytes().await?;
        drop(permit);
        if status != reqwest::StatusCode::OK {
            continue;
        }
        // What a player checks before it takes a manifest.
        let signature: [u8; 64] = hex::decode(signature.context("an unsigned manifest")?)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("a signature is 64 bytes"))?;
        key.verify(&body, &Signature::from_bytes(&signature))
            .context("a manifest whose signature does not verify")?;
        let manifest: Manifest = serde_json::from_slice(&body)?;
        if manifest.screen != screen || manifest.version <= held_version {
            bail!(
                "{screen} got a manifest for {} at version {} while holding {held_version}",
                manifest.screen,
                manifest.version
            );
        }
        // Written whole, then put in place, as a player replaces what it holds.
        let (path, bytes) = (store.clone(), body.clone());
        tokio::task::spawn_blocking(move || {
            let temporary = path.with_extension("new");
            std::fs::write(&temporary, &bytes)?;
            std::fs::rename(&temporary, &path)
        })
        .await??;
        held_version = manifest.version;
        etag = new_etag;
        if first {
            first = false;
            let _ = ready.send(());
        } else {
            let _ = received.send((Instant::now(), manifest.playlist_version));
        }
    }
    Ok(())
}

/// Times `rounds` pushes to `clients` simulated players. A round ends when every player holds the
/// new manifest or after `round_timeout`; players still waiting then count as `round_timeout`, so the
/// percentiles are lower bounds, and the output says `"complete": false`.
async fn push(
    server: &str,
    admin: &str,
    clients: usize,
    rounds: usize,
    round_timeout: Duration,
    player_servers: &[String],
) -> anyhow::Result<()> {
    let hq = Arc::new(Hq::new(server, admin)?);
    let playlist = format!("push-bench-{clients}");
    hq.push_playlist(&playlist, 1).await?;
    let key = hq.server_key().await?;
    let prefix = format!("push-{clients}");
    let tokens = hq.register_many(&prefix, clients, &playlist).await?;
    // Each simulated player keeps its manifest in a folder of its own, on a RAM disk where there
    // is one: 10,000 screens write to 10,000 disks, and 10,000 files replaced at once in one
    // folder of one disk would time the file system's directory lock instead of the push.
    let shared_memory = std::path::Path::new("/dev/shm");
    let stores = if shared_memory.is_dir() {
        tempfile::tempdir_in(shared_memory)?
    } else {
        tempfile::tempdir()?
    };
    let (ready_sender, mut ready) = mpsc::unbounded_channel();
    let (received_sender, mut received) = mpsc::unbounded_channel();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .build()?;
    let manifest_fetches = Arc::new(Semaphore::new(MANIFEST_CONNECTIONS));
    let connecting = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    for (index, token) in tokens.into_iter().enumerate() {
        let player = SimulatedPlayer {
            http: http.clone(),
            server: player_servers[index % player_servers.len()].clone(),
            screen: format!("{prefix}-{index:05}"),
            token,
            key,
            store: {
                let folder = stores.path().join(format!("{index:05}"));
                std::fs::create_dir(&folder)?;
                folder.join("manifest.json")
            },
            manifest_fetches: manifest_fetches.clone(),
            connecting: connecting.clone(),
            ready: ready_sender.clone(),
            received: received_sender.clone(),
        };
        tokio::spawn(async move {
            if let Err(error) = simulated_player(player).await {
                eprintln!("simulated player failed: {error:#}");
            }
        });
    }
    for connected in 0..clients {
        tokio::time::timeout(Duration::from_secs(300), ready.recv())
            .await
            .with_context(|| format!("only {connected} of {clients} players connected"))?;
    }
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut complete = true;
    for round in 0..rounds {
        let published = Instant::now();
        let version = hq.push_playlist(&playlist, 2 + round as u64).await?;
        let deadline = tokio::time::Instant::now() + round_timeout;
        let mut latencies = Vec::with_capacity(clients);
        while latencies.len() < clients {
            let Ok(got) = tokio::time::timeout_at(deadline, received.recv()).await else {
                eprintln!(
                    "push to {clients} round {round}: only {} held it after {round_timeout:?}",
                    latencies.len()
                );
                complete = false;
                latencies.resize(clients, round_timeout.as_secs_f64() * 1000.0);
                break;
            };
            let (at, held) = got.context("players gone")?;
            if held != version {
                bail!("round {round}: a player stored playlist version {held}, not {version}");
            }
            latencies.push(at.duration_since(published).as_secs_f64() * 1000.0);
        }
        latencies.sort_by(f64::total_cmp);
        p50.push(percentile(&latencies, 0.50));
        p99.push(percentile(&latencies, 0.99));
        eprintln!(
            "push to {clients} round {round}: p50 {:.1} ms, p99 {:.1} ms",
            p50[round], p99[round]
        );
        if !complete {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every player holds a manifest, stored.
    let stored = std::fs::read_dir(stores.path())?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("manifest.json").is_file())
        .count();
    if stored != clients {
        bail!("{stored} of {clients} players stored a manifest");
    }
    println!(
        "{}",
        json!({"clients": clients, "servers": player_servers.len(), "complete": complete,
               "p50_ms": p50, "p99_ms": p99})
    );
    Ok(())
}

/// Uploads every file in `dir` and pushes playlist `sync` showing each for 2 s, in name order.
async fn sync_push(server: &str, admin: &str, dir: &str, register: bool) -> anyhow::Result<()> {
    let hq = Hq::new(server, admin)?;
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    let mut media = serde_json::Map::new();
    let mut source = "version: 1\nname: sync\nitems:\n".to_owned();
    for path in &files {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .context("a UTF-8 file name")?;
        let bytes = std::fs::read(path)?;
        let digest = Sha256Hex::of_bytes(&bytes);
        let size = bytes.len();
        let response = hq
            .http
            .put(format!("{}/v1/media/{digest}", hq.server))
            .bearer_auth(&hq.admin)
            .body(bytes)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("upload {name}: {}", response.status());
        }
        source.push_str(&format!("  - image: {{ file: {name}, duration: 2s }}\n"));
        media.insert(name.to_owned(), json!(digest));
        println!("sha256 {name} {digest} {size}");
    }
    hq.admin_call(
        "/v1/playlists",
        json!({"file_name": "sync.yaml", "source": source, "media": media}),
    )
    .await?;
    if register {
        println!("token {}", hq.register("sync-screen", "sync").await?);
    }
    Ok(())
}

/// The screen's latest screenshot at HQ: when HQ received it and the JPEG; None before the first.
async fn latest_screenshot(
    hq: &Hq,
    screen: &str,
) -> anyhow::Result<Option<(jiff::Timestamp, Vec<u8>)>> {
    let response = hq
        .http
        .get(format!("{}/v1/screens/{screen}/screenshot", hq.server))
        .bearer_auth(&hq.admin)
        .send()
        .await?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !response.status().is_success() {
        bail!("GET the screenshot: {}", response.status());
    }
    let taken_at = response
        .headers()
        .get("x-vitrine-taken-at")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .context("a screenshot without its X-Vitrine-Taken-At")?;
    Ok(Some((taken_at, response.bytes().await?.to_vec())))
}

/// How often the screenshot round trip asks HQ for the new JPEG: a console polling this often stays
/// under the shipped rate limit of an admin's token (50 requests a second).
const SCREENSHOT_POLL: Duration = Duration::from_millis(25);

/// One screenshot round trip: the command sent, then the new JPEG fetched, checked and decoded.
/// Returns the milliseconds from sending the command to holding the new JPEG. With `resend`, the
/// command goes again at that interval until answered (a player that has just started refuses
/// commands until its first manifest tells it the scheduler's key).
async fn screenshot_round(
    hq: &Hq,
    screen: &str,
    limit: Duration,
    resend: Option<Duration>,
) -> anyhow::Result<f64> {
    let before = latest_screenshot(hq, screen)
        .await?
        .map(|(taken_at, _)| taken_at);
    let started = Instant::now();
    let mut sent_at = started;
    let send = || {
        hq.admin_call(
            "/v1/commands",
            json!({"screens": [screen], "command": "screenshot"}),
        )
    };
    send().await?;
    loop {
        if let Some((taken_at, jpeg)) = latest_screenshot(hq, screen).await?
            && before.is_none_or(|before| taken_at > before)
        {
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            let decoded = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg)
                .context("the new screenshot does not decode as a JPEG")?;
            if decoded.width() > 960 || decoded.width() == 0 {
                bail!("the new screenshot is {} pixels wide", decoded.width());
            }
            return Ok(elapsed);
        }
        if started.elapsed() > limit {
            bail!("no new screenshot within {limit:?}");
        }
        if resend.is_some_and(|every| sent_at.elapsed() >= every) {
            sent_at = Instant::now();
            send().await?;
        }
        tokio::time::sleep(SCREENSHOT_POLL).await;
    }
}

async fn screenshot(server: &str, admin: &str, screen: &str, rounds: usize) -> anyhow::Result<()> {
    let hq = Hq::new(server, admin)?;
    // Until the player is connected and knows the scheduler's key, the command waits or is
    // refused; that round is not counted.
    screenshot_round(
        &hq,
        screen,
        Duration::from_secs(120),
        Some(Duration::from_secs(3)),
    )
    .await?;
    let mut round_trips = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        round_trips.push(screenshot_round(&hq, screen, Duration::from_secs(30), None).await?);
        // A pause between rounds, as between a person's clicks; it also keeps the rounds' polls
        // apart for the rate limit.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("{}", json!({ "round_trip_ms": round_trips }));
    Ok(())
}

/// `count` full proof-of-play records, numbered from `first_sequence` and chained to the record
/// before (`previous`, carried across calls) as a player's journal numbers and chains them.
fn batch_rows(
    screen: &str,
    count: usize,
    first_sequence: u64,
    previous: &mut Option<Sha256Hex>,
) -> Vec<Value> {
    let media = Sha256Hex::of_bytes(b"bench image bytes");
    (0..count)
        .map(|index| {
            let started_at = jiff::Timestamp::now();
            let mut row = json!({
                "id": uuid::Uuid::now_v7(),
                "sequence": first_sequence + index as u64,
                "screen": screen,
                "playlist": "ingest",
                "playlist_version": 1,
                "zone": "main",
                "item_id": format!("item-{}", index % 7),
                "media_sha256": media,
                "scheduled_start": started_at,
                "scheduled_end": started_at + jiff::SignedDuration::from_secs(10),
                "started_at": started_at,
                "ended_at": started_at + jiff::SignedDuration::from_secs(10),
                "completed": true,
                "clock": "synced",
                "manifest_version": 1,
                "player_version": "bench",
                "display": "on",
            });
            if let Some(digest) = previous.take() {
                row["previous"] = json!(digest);
            }
            let record: vitrine_core::Impression =
                serde_json::from_value(row.clone()).expect("a well-formed record");
            *previous = Some(record.digest());
            row
        })
        .collect()
}

async fn ingest(server: &str, admin: &str, batches: usize, rounds: usize) -> anyhow::Result<()> {
    let hq = Hq::new(server, admin)?;
    let (token, batch_key) = ingest_screen(&hq).await?;
    let floor_dir = tempfile::tempdir()?;
    // The scheduler's own schema and connection settings, through its store.
    let floor_path = floor_dir.path().join("floor.sqlite3");
    drop(vitrine_scheduler::storage::sqlite::SqliteStore::open(
        &floor_path,
    )?);
    let mut floor = rusqlite::Connection::open(&floor_path)?;
    floor.busy_timeout(Duration::from_secs(5))?;
    floor.pragma_update(None, "journal_mode", "WAL")?;
    floor.pragma_update(None, "synchronous", "NORMAL")?;
    floor.pragma_update(None, "foreign_keys", "ON")?;
    floor.pragma_update(None, "mmap_size", 1i64 << 30)?;
    floor.execute(
        "INSERT INTO screens (name, token_sha256, playlist) VALUES ('ingest-screen', 'x', 'ingest')",
        [],
    )?;

    let mut ours = Vec::new();
    let mut peer = Vec::new();
    let mut chain = None;
    for round in 0..rounds {
        let (work, bodies) = round_work(round, batches, &mut chain);
        // A: over HTTP, as players send them (already serialised, as a player's uploader has them).
        ours.push(send_batches(&hq, &token, &batch_key, &bodies).await?);
        // B: the same rows straight into SQLite, one transaction per batch: every column the
        // scheduler stores for such a play (its digest, chain link and store-local hour
        // included), the values made beforehand, so only the insert is timed.
        let rows: Vec<Vec<FloorRow>> = work
            .iter()
            .map(|batch| batch.iter().map(FloorRow::of).collect())
            .collect::<anyhow::Result<_>>()?;
        let started = Instant::now();
        for batch in &rows {
            let transaction = floor.transaction()?;
            {
                let mut insert = transaction.prepare_cached(
                    "INSERT INTO impressions
                        (id, screen, playlist, playlist_version, item_id, media_sha256,
                         started_at, duration_ms, offer_campaign, offer_id, offer_arm,
                         sequence, zone, scheduled_start, ended_at, completed, clock,
                         offer_refused, store, local_hour, venue_zone, multiplier_milli,
                         campaign, scheduled_end, manifest_version, player_version, display,
                         price_cents, currency, digest, previous, chain, stock)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, NULL, NULL,
                             ?9, ?10, ?11, ?12, ?13, ?14, NULL, '', ?15, 'other', 1000,
                             '', ?16, ?17, ?18, ?19, NULL, '', ?20, ?21, ?22, NULL)
                     ON CONFLICT (id) DO NOTHING",
                )?;
                for row in batch {
                    insert.execute(rusqlite::params![
                        row.id,
                        row.screen,
                        row.playlist,
                        row.playlist_version,
                        row.item_id,
                        row.media_sha256,
                        row.started_at,
                        row.duration_ms,
                        row.sequence,
                        row.zone,
                        row.scheduled_start,
                        row.ended_at,
                        row.completed,
                        row.clock,
                        row.local_hour,
                        row.scheduled_end,
                        row.manifest_version,
                        row.player_version,
                        row.display,
                        row.digest,
                        row.previous,
                        row.chain,
                    ])?;
                }
            }
            transaction.commit()?;
        }
        peer.push((batches * BATCH) as f64 / started.elapsed().as_secs_f64());
        eprintln!(
            "ingest round {round}: http {:.0}/s, rusqlite {:.0}/s",
            ours[round], peer[round]
        );
    }
    // The work was done on both sides: every row is held once.
    let sent = (rounds * batches * BATCH) as i64;
    let floor_rows: i64 =
        floor.query_row("SELECT COUNT(*) FROM impressions", [], |row| row.get(0))?;
    if floor_rows != sent {
        bail!("the floor holds {floor_rows} impressions of {sent}");
    }
    println!(
        "{}",
        json!({"http_per_s": ours, "rusqlite_per_s": peer, "batch": BATCH})
    );
    Ok(())
}

/// One play as the scheduler's store (SQLite or PostgreSQL) writes it for a screen with no store, no time zone and
/// no audience row (the bench's): store-local hour in UTC, venue zone `other`, multiplier 1.
struct FloorRow {
    id: String,
    screen: String,
    playlist: String,
    playlist_version: i64,
    item_id: String,
    media_sha256: Option<String>,
    started_at: String,
    duration_ms: i64,
    sequence: i64,
    zone: String,
    scheduled_start: String,
    ended_at: String,
    completed: bool,
    clock: &'static str,
    local_hour: String,
    scheduled_end: Option<String>,
    manifest_version: i64,
    player_version: String,
    display: &'static str,
    digest: String,
    previous: Option<String>,
    chain: &'static str,
}

impl FloorRow {
    fn of(row: &Value) -> anyhow::Result<Self> {
        use vitrine_scheduler::storage::sortable_timestamp;
        let play: vitrine_core::Impression = serde_json::from_value(row.clone())?;
        Ok(FloorRow {
            id: play.id.hyphenated().to_string(),
            digest: play.digest().as_str().to_owned(),
            screen: play.screen.clone(),
            playlist: play.playlist.clone(),
            playlist_version: i64::try_from(play.playlist_version)?,
            item_id: play.item_id.clone(),
            media_sha256: play.media_sha256.as_ref().map(|d| d.as_str().to_owned()),
            started_at: sortable_timestamp(play.started_at),
            duration_ms: i64::try_from(play.duration_ms())?,
            sequence: i64::try_from(play.sequence)?,
            zone: play.zone.clone(),
            scheduled_start: sortable_timestamp(play.scheduled_start),
            ended_at: sortable_timestamp(play.ended_at),
            completed: play.completed,
            clock: play.clock.as_str(),
            local_hour: vitrine_scheduler::plays::local_hour(
                play.started_at,
                &jiff::tz::TimeZone::UTC,
            ),
            scheduled_end: play.scheduled_end.map(sortable_timestamp),
            manifest_version: i64::try_from(play.manifest_version)?,
            player_version: play.player_version.clone().unwrap_or_default(),
            display: play.display.as_str(),
            previous: play.previous.as_ref().map(|d| d.as_str().to_owned()),
            // As the store leaves it: a play that names its predecessor is linked to it (within
            // the batch, or to the last one stored), play 1 starts the chain, and a later one that
            // names none restarts it unless its player does not chain at all.
            chain: match (&play.previous, play.sequence, &play.player_version) {
                (Some(_), _, _) | (None, 1, _) => "linked",
                (None, _, None) => "none",
                (None, _, Some(_)) => "restart",
            },
        })
    }
}

/// Pushes playlist `ingest` (a screen may only be given a pushed one) and registers
/// `ingest-screen` on it; its token, and the key players sign batches with (the sha256 of their
/// device token).
async fn ingest_screen(hq: &Hq) -> anyhow::Result<(String, [u8; 32])> {
    hq.push_playlist("ingest", 10).await?;
    let token = hq.register("ingest-screen", "ingest").await?;
    let batch_key: [u8; 32] = hex::decode(Sha256Hex::of_bytes(token.as_bytes()).as_str())?
        .try_into()
        .map_err(|_| anyhow::anyhow!("a sha256 is 32 bytes"))?;
    Ok((token, batch_key))
}

/// One round's `batches` batches of rows, numbered after the rounds before, and each batch's
/// request body, serialised beforehand as a player's uploader has them.
fn round_work(
    round: usize,
    batches: usize,
    previous: &mut Option<Sha256Hex>,
) -> (Vec<Vec<Value>>, Vec<String>) {
    let work: Vec<Vec<Value>> = (0..batches)
        .map(|batch| {
            let first = ((round * batches + batch) * BATCH) as u64 + 1;
            batch_rows("ingest-screen", BATCH, first, previous)
        })
        .collect();
    let bodies = work
        .iter()
        .map(|rows| json!({"impressions": rows}).to_string())
        .collect();
    (work, bodies)
}

/// Sends each serialised batch through `POST /v1/impressions`, signed as players sign them;
/// returns rows per second. Bodies and signatures are made before the clock starts, as a player's
/// uploader has them ready, and as the floor's values are.
async fn send_batches(
    hq: &Hq,
    token: &str,
    batch_key: &[u8; 32],
    bodies: &[String],
) -> anyhow::Result<f64> {
    let requests: Vec<(axum::body::Bytes, String)> = bodies
        .iter()
        .map(|body| {
            (
                axum::body::Bytes::from(body.clone()),
                vitrine_core::impression::sign_batch(batch_key, body.as_bytes()),
            )
        })
        .collect();
    let started = Instant::now();
    let mut acks = Vec::with_capacity(bodies.len());
    for (body, signature) in requests {
        let response = hq
            .http
            .post(format!("{}/v1/impressions", hq.server))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header(vitrine_core::impression::SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("ingest: {}: {}", response.status(), response.text().await?);
        }
        acks.push(response.bytes().await?);
    }
    let rate = (bodies.len() * BATCH) as f64 / started.elapsed().as_secs_f64();
    // The work was done: HQ stored every play of every batch, once.
    for ack in acks {
        let inserted = serde_json::from_slice::<Value>(&ack)?["inserted"].as_u64();
        if inserted != Some(BATCH as u64) {
            bail!("ingest: HQ stored {inserted:?} of a batch of {BATCH}");
        }
    }
    Ok(rate)
}

/// `ingest` on a scheduler whose database is PostgreSQL, against the floor of a raw `COPY` of the
/// same rows (text format, one transaction per batch) into a schema of its own on the same server
/// (`--postgres`), made by the scheduler's own migrations. Before timing, the HTTP rows are checked
/// to be stored and the copied ones counted.
async fn ingest_postgres(
    server: &str,
    admin: &str,
    batches: usize,
    rounds: usize,
    postgres: &str,
) -> anyhow::Result<()> {
    let hq = Hq::new(server, admin)?;
    let (token, batch_key) = ingest_screen(&hq).await?;
    // The floor's schema, migrated by the scheduler's store, with the screen and today's and
    // tomorrow's partitions (a round may cross midnight) made beforehand.
    let (admin_client, connection) =
        tokio_postgres::connect(postgres, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    admin_client
        .batch_execute("DROP SCHEMA IF EXISTS ingest_floor CASCADE; CREATE SCHEMA ingest_floor")
        .await?;
    let floor_url = vitrine_scheduler::storage::postgres::url_with_schema(postgres, "ingest_floor");
    drop(vitrine_scheduler::storage::postgres::PostgresStore::open(
        &floor_url,
    )?);
    let (floor, connection) = tokio_postgres::connect(&floor_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    for day in [today, today.tomorrow()?] {
        floor
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS impressions_{compact} PARTITION OF impressions
                 FOR VALUES FROM ('{day}T00:00:00Z') TO ('{next}T00:00:00Z')",
                compact = day.strftime("%Y%m%d"),
                next = day.tomorrow()?,
            ))
            .await?;
    }
    floor
        .batch_execute(
            "INSERT INTO screens (name, token_sha256, playlist) VALUES ('ingest-screen', 'x', 'ingest')",
        )
        .await?;

    let mut ours = Vec::new();
    let mut peer = Vec::new();
    let mut floor = floor;
    let mut chain = None;
    for round in 0..rounds {
        let (work, bodies) = round_work(round, batches, &mut chain);
        ours.push(send_batches(&hq, &token, &batch_key, &bodies).await?);
        // B: the same rows by COPY, every column the scheduler stores for them, the CSV made
        // beforehand as the bodies were.
        let copies: Vec<String> = work
            .iter()
            .map(|batch| copy_csv(batch))
            .collect::<anyhow::Result<_>>()?;
        let started = Instant::now();
        for csv in &copies {
            let transaction = floor.transaction().await?;
            let sink = transaction
                .copy_in(
                    "COPY impressions (id, screen, playlist, playlist_version, item_id, media_sha256,
                        started_at, duration_ms, sequence, zone, scheduled_start, ended_at,
                        completed, clock, store, local_hour, venue_zone, multiplier_milli,
                        campaign, scheduled_end, manifest_version, player_version, display,
                        currency, digest, previous, chain) FROM STDIN (FORMAT csv)",
                )
                .await?;
            futures_util::pin_mut!(sink);
            futures_util::SinkExt::send(&mut sink, axum::body::Bytes::from(csv.clone())).await?;
            let copied = sink.finish().await?;
            if copied != BATCH as u64 {
                bail!("COPY stored {copied} rows of {BATCH}");
            }
            transaction.commit().await?;
        }
        peer.push((batches * BATCH) as f64 / started.elapsed().as_secs_f64());
        eprintln!(
            "ingest round {round}: http {:.0}/s, COPY {:.0}/s",
            ours[round], peer[round]
        );
    }
    // The work was done: every row sent over HTTP is held by the scheduler's own schema.
    let (scheduler_db, connection) =
        tokio_postgres::connect(postgres, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let held: i64 = scheduler_db
        .query_one(
            "SELECT COUNT(*) FROM public.impressions WHERE screen = 'ingest-screen'",
            &[],
        )
        .await?
        .get(0);
    if held != (rounds * batches * BATCH) as i64 {
        bail!(
            "the scheduler holds {held} impressions of {}",
            rounds * batches * BATCH
        );
    }
    // And the floor copied the rows the scheduler wrote, column for column.
    let columns = "id, screen, playlist, playlist_version, item_id, media_sha256, started_at, \
                   duration_ms, sequence, zone, scheduled_start, ended_at, completed, clock, store, \
                   local_hour, venue_zone, multiplier_milli, campaign, scheduled_end, \
                   manifest_version, player_version, display, currency, digest, previous, chain";
    let differing: i64 = scheduler_db
        .query_one(
            &format!(
                "SELECT COUNT(*) FROM (SELECT {columns} FROM public.impressions
                     WHERE screen = 'ingest-screen'
                 EXCEPT SELECT {columns} FROM ingest_floor.impressions) AS differing"
            ),
            &[],
        )
        .await?
        .get(0);
    if differing != 0 {
        bail!("{differing} of the scheduler's rows differ from the floor's");
    }
    println!(
        "{}",
        json!({"http_per_s": ours, "copy_per_s": peer, "batch": BATCH})
    );
    Ok(())
}

/// One batch as `COPY … FORMAT csv` rows, in the column order of [`ingest_postgres`]'s COPY: the
/// rows the scheduler's store writes for these plays ([`FloorRow`]). Text is quoted; an absent
/// value is an empty unquoted field, which COPY reads as NULL.
fn copy_csv(batch: &[Value]) -> anyhow::Result<String> {
    fn quoted(text: &str) -> String {
        format!("\"{}\"", text.replace('"', "\"\""))
    }
    fn optional(text: Option<&str>) -> String {
        text.map(quoted).unwrap_or_default()
    }
    // PostgreSQL keeps microseconds; the scheduler's driver gives it times cut to them.
    fn micros(instant: jiff::Timestamp) -> String {
        quoted(&instant.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
    }
    let mut csv = String::with_capacity(batch.len() * 512);
    for value in batch {
        let row = FloorRow::of(value)?;
        let play: vitrine_core::Impression = serde_json::from_value(value.clone())?;
        let fields = [
            quoted(&row.id),
            quoted(&row.screen),
            quoted(&row.playlist),
            row.playlist_version.to_string(),
            quoted(&row.item_id),
            optional(row.media_sha256.as_deref()),
            micros(play.started_at),
            row.duration_ms.to_string(),
            row.sequence.to_string(),
            quoted(&row.zone),
            micros(play.scheduled_start),
            micros(play.ended_at),
            row.completed.to_string(),
            quoted(row.clock),
            quoted(""),
            quoted(&row.local_hour),
            quoted("other"),
            "1000".to_owned(),
            quoted(""),
            play.scheduled_end.map(micros).unwrap_or_default(),
            row.manifest_version.to_string(),
            quoted(&row.player_version),
            quoted(row.display),
            quoted(""),
            quoted(&row.digest),
            optional(row.previous.as_deref()),
            quoted(row.chain),
        ];
        csv.push_str(&fields.join(","));
        csv.push('\n');
    }
    Ok(csv)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
