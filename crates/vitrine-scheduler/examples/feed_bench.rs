//! The product-feed figures for `cargo xtask bench feed`. Each subcommand prints one line of JSON.
//!
//! - `generate --items N --out FILE`: writes a Merchant Center RSS feed of N products, each with
//!   the fields real feeds carry (title, description, links, price and sale price, availability,
//!   brand, GTIN, a nested shipping group).
//! - `floor --file FILE`: the floor: quick-xml alone reading every event of the file and counting
//!   items, with nothing decoded, checked or stored.
//! - `parse --file FILE`: our reader and checks alone, without the store, to see where an
//!   import's time goes.
//! - `import-file --file FILE --dir DIR`: the import in process on a fresh store, without HTTP.
//! - `serve --file FILE`: serves the file over HTTP on a free loopback port, as a shop's web server
//!   would, for the scheduler to fetch; prints the URL, then serves until killed.
//! - `import-url --server URL --admin TOKEN --url FEED`: registers the feed by URL and fetches it
//!   at once, timing the fetch request from sending to the scheduler's answer (download, parse,
//!   check, store, diff); prints the seconds and what the import applied and added.
//! - `price-push --server URL --admin TOKEN --changes N`: one simulated player on an offer screen
//!   (the real protocol: `GET /v1/events`, and on `manifest-changed` a `GET /v1/manifest` whose
//!   signature it checks); HQ uploads a feed with a new price N times, and each time the wait from
//!   the upload to the player holding a manifest whose card shows the new price is timed.

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vitrine_core::Manifest;

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
    match arguments.first().map(String::as_str) {
        Some("generate") => generate(option("--items")?.parse()?, &option("--out")?),
        Some("floor") => floor(&option("--file")?),
        Some("parse") => parse(&option("--file")?),
        Some("import-file") => import_file(&option("--file")?, &option("--dir")?).await,
        Some("serve") => serve(&option("--file")?).await,
        Some("import-url") => {
            import_url(&option("--server")?, &option("--admin")?, &option("--url")?).await
        }
        Some("price-push") => {
            price_push(
                &option("--server")?,
                &option("--admin")?,
                option("--changes")?.parse()?,
            )
            .await
        }
        _ => bail!("usage: feed_bench generate|floor|serve|price-push ..."),
    }
}

fn generate(items: usize, out: &str) -> anyhow::Result<()> {
    let file = std::fs::File::create(out).with_context(|| format!("cannot create {out}"))?;
    let mut writer = std::io::BufWriter::new(file);
    writeln!(
        writer,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" \
         xmlns:g=\"http://base.google.com/ns/1.0\">\n<channel>\n<title>Bench shop</title>\n\
         <link>https://shop.example</link>"
    )?;
    for index in 0..items {
        let cents = 100 + (index * 37) % 9_900;
        let availability = if index % 10 == 0 {
            "out of stock"
        } else {
            "in stock"
        };
        writeln!(
            writer,
            "<item>\n  <g:id>sku-{index:07}</g:id>\n  <title>Product {index} &amp; friends</title>\n  \
             <description>A product of the bench feed, number {index}.</description>\n  \
             <link>https://shop.example/p/{index}</link>\n  \
             <g:image_link>https://shop.example/img/{index}.jpg</g:image_link>\n  \
             <g:price>{}.{:02} EUR</g:price>\n  <g:sale_price>{}.{:02} EUR</g:sale_price>\n  \
             <g:availability>{availability}</g:availability>\n  <g:brand>Brand {}</g:brand>\n  \
             <g:gtin>{:013}</g:gtin>\n  <g:shipping><g:country>FR</g:country>\
             <g:price>4.95 EUR</g:price></g:shipping>\n</item>",
            cents / 100,
            cents % 100,
            (cents * 9 / 10) / 100,
            (cents * 9 / 10) % 100,
            index % 500,
            3_000_000_000_000u64 + index as u64,
        )?;
    }
    writeln!(writer, "</channel>\n</rss>")?;
    writer.flush()?;
    let bytes = std::fs::metadata(out)?.len();
    println!("{{\"items\": {items}, \"bytes\": {bytes}}}");
    Ok(())
}

fn floor(path: &str) -> anyhow::Result<()> {
    use quick_xml::events::Event;
    let started = Instant::now();
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {path}"))?;
    let mut reader = quick_xml::Reader::from_reader(BufReader::with_capacity(64 * 1024, file));
    let mut buffer = Vec::new();
    let mut items = 0u64;
    loop {
        match reader.read_event_into(&mut buffer)? {
            Event::End(end) if end.local_name().as_ref() == b"item" => items += 1,
            Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{{\"items\": {items}, \"seconds\": {seconds:.3}}}");
    Ok(())
}

/// Our reader and checks without the store: where an import's time goes.
fn parse(path: &str) -> anyhow::Result<()> {
    use vitrine_scheduler::feed::parse::{ReadItem, read_feed};
    let started = Instant::now();
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {path}"))?;
    let mut products = 0u64;
    read_feed(
        BufReader::with_capacity(64 * 1024, file),
        vitrine_scheduler::feed::FeedFormat::Xml,
        |item| {
            if let ReadItem::Item(item) = item
                && vitrine_scheduler::feed::product_from_item(&item).is_ok()
            {
                products += 1;
            }
            Ok::<(), std::convert::Infallible>(())
        },
    )
    .map_err(|error| anyhow::anyhow!("{error}"))?;
    let seconds = started.elapsed().as_secs_f64();
    println!("{{\"items\": {products}, \"seconds\": {seconds:.3}}}");
    Ok(())
}

/// The import in process, on a fresh store in `dir`, without HTTP: where an import's time goes.
async fn import_file(path: &str, dir: &str) -> anyhow::Result<()> {
    let state = vitrine_scheduler::open(vitrine_scheduler::Config {
        data_dir: dir.into(),
        admin_token: "feed-bench-admin-token".into(),
        database: vitrine_scheduler::Database::Sqlite,
        media: vitrine_scheduler::Media::Local,
    })?;
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {path}"))?;
    let started = Instant::now();
    let outcome = vitrine_scheduler::feed::import::import_products(
        state.storage(),
        Box::new(BufReader::with_capacity(64 * 1024, file)),
        vitrine_scheduler::feed::FeedFormat::Xml,
        vitrine_scheduler::feed::import::FeedSource {
            name: "bench".into(),
            replace: true,
        },
    )
    .await?
    .map_err(|error| anyhow::anyhow!(error))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"items\": {}, \"seconds\": {seconds:.3}}}",
        outcome.applied
    );
    Ok(())
}

async fn serve(path: &str) -> anyhow::Result<()> {
    let length = std::fs::metadata(path)
        .with_context(|| format!("cannot read {path}"))?
        .len();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("http://{}/feed.xml", listener.local_addr()?);
    std::io::stdout().flush()?;
    loop {
        let (mut socket, _) = listener.accept().await?;
        let path = path.to_owned();
        tokio::spawn(async move {
            // The request head, read to its end; the answer is the file whatever was asked.
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match socket.read(&mut byte).await {
                    Ok(1) => head.push(byte[0]),
                    _ => return,
                }
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\
                 Content-Length: {length}\r\nConnection: close\r\n\r\n"
            );
            if socket.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            if let Ok(mut file) = tokio::fs::File::open(&path).await {
                let _ = tokio::io::copy(&mut file, &mut socket).await;
            }
            let _ = socket.shutdown().await;
        });
    }
}

async fn import_url(server: &str, admin: &str, url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?;
    let server = server.trim_end_matches('/');
    let response = http
        .post(format!("{server}/v1/feeds"))
        .bearer_auth(admin)
        .json(&json!({"name": "bench", "url": url, "every": "24h"}))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("registering the feed: {}", response.text().await?);
    }
    // At once after registering: the schedule looks for due feeds every few seconds and skips one
    // being fetched, so this is the one fetch that imports.
    let started = Instant::now();
    let response = http
        .post(format!("{server}/v1/feeds/bench/fetch"))
        .bearer_auth(admin)
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    let seconds = started.elapsed().as_secs_f64();
    if !status.is_success() || answer["outcome"] != "imported" {
        bail!("the fetch did not import: {status} {answer}");
    }
    let report = &answer["report"];
    println!(
        "{{\"seconds\": {seconds:.3}, \"applied\": {}, \"added\": {}}}",
        report["applied"], report["diff"]["added"]["count"]
    );
    Ok(())
}

const STORES: &str = "code,name,region,tags,timezone,locale,currency\n\
                      bench-1,Bench store,bench,,Europe/Paris,fr-FR,EUR\n";
const PLAYLIST: &str =
    "version: 1\nname: offers\nitems:\n  - offer: { slot: main, duration: 10s }\n";
const CAMPAIGN: &str = "version: 1\nname: bench-offer\ntargets:\n  stores: [bench-1]\n\
                        from: 2020-01-01\npriority: 50\nloop_slots: 1\nfill:\n  \
                        - text: { text: Offer, duration: 10s }\noffers:\n  main:\n    \
                        - { id: spread, product: spread-750, title: Spread }\n";

fn price_feed(cents: u64) -> String {
    format!(
        "id\ttitle\tprice\tavailability\nspread-750\tSpread 750 g\t{}.{:02} EUR\tin stock\n",
        cents / 100,
        cents % 100
    )
}

async fn price_push(server: &str, admin: &str, changes: usize) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let server = server.trim_end_matches('/');
    let admin_call = |path: &'static str, body: Value| {
        let http = http.clone();
        async move {
            let response = http
                .post(format!("{server}{path}"))
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await?;
            let status = response.status();
            let text = response.text().await?;
            if !status.is_success() {
                bail!("POST {path}: {status}: {text}");
            }
            Ok::<Value, anyhow::Error>(serde_json::from_str(&text)?)
        }
    };
    admin_call(
        "/v1/stores",
        json!({"file_name": "stores.csv", "source": STORES}),
    )
    .await?;
    admin_call(
        "/v1/feed",
        json!({"file_name": "feed.tsv", "source": price_feed(500)}),
    )
    .await?;
    admin_call(
        "/v1/playlists",
        json!({"file_name": "offers.yaml", "source": PLAYLIST}),
    )
    .await?;
    admin_call(
        "/v1/campaigns",
        json!({"file_name": "bench-offer.yaml", "source": CAMPAIGN}),
    )
    .await?;
    let screen = admin_call(
        "/v1/screens",
        json!({"name": "bench-1.entrance", "playlist": "offers", "store": "bench-1"}),
    )
    .await?;
    let token = screen["token"]
        .as_str()
        .context("no device token")?
        .to_owned();
    let key: Value = http
        .get(format!("{server}/v1/server-key"))
        .bearer_auth(admin)
        .send()
        .await?
        .json()
        .await?;
    let key: [u8; 32] = hex::decode(key["public_key"].as_str().context("no key")?)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("a key is 32 bytes"))?;
    let key = VerifyingKey::from_bytes(&key)?;

    // The simulated player: its event stream, and the price its held manifest's card shows.
    let (held_sender, mut held) = tokio::sync::mpsc::unbounded_channel::<(Instant, i64)>();
    let response = http
        .get(format!("{server}/v1/events"))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("events: {}", response.status());
    }
    let player_http = http.clone();
    let player_server = server.to_owned();
    tokio::spawn(async move {
        let mut events = response.bytes_stream().eventsource();
        let mut etag: Option<String> = None;
        while let Some(Ok(event)) = events.next().await {
            if event.event != "manifest-changed" || etag.as_deref() == Some(event.data.as_str()) {
                continue;
            }
            let Ok(response) = player_http
                .get(format!("{player_server}/v1/manifest"))
                .bearer_auth(&token)
                .send()
                .await
            else {
                continue;
            };
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned)
            };
            let (new_etag, signature) = (header("etag"), header("x-vitrine-signature"));
            let Ok(body) = response.bytes().await else {
                continue;
            };
            let verified = signature
                .and_then(|signature| hex::decode(signature).ok())
                .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
                .is_some_and(|signature| {
                    key.verify(&body, &Signature::from_bytes(&signature))
                        .is_ok()
                });
            let Ok(manifest) = serde_json::from_slice::<Manifest>(&body) else {
                continue;
            };
            if !verified {
                continue;
            }
            etag = new_etag;
            let price = manifest
                .offers
                .get("main")
                .and_then(|rotation| rotation.entries.first())
                .and_then(|entry| entry.card.price.as_ref())
                .map_or(-1, |price| price.cents);
            let _ = held_sender.send((Instant::now(), price));
        }
    });
    // The opening manifest, at the first price.
    wait_for_price(&mut held, 500, Duration::from_secs(30)).await?;

    let mut waits = Vec::new();
    for change in 0..changes {
        let cents = 501 + change as u64;
        let started = Instant::now();
        admin_call(
            "/v1/feed",
            json!({"file_name": "feed.tsv", "source": price_feed(cents)}),
        )
        .await?;
        let held_at = wait_for_price(&mut held, cents as i64, Duration::from_secs(30)).await?;
        waits.push(held_at.duration_since(started).as_secs_f64() * 1000.0);
    }
    waits.sort_by(f64::total_cmp);
    let percentile = |fraction: f64| {
        let rank = ((fraction * waits.len() as f64).ceil() as usize).clamp(1, waits.len());
        waits[rank - 1]
    };
    println!(
        "{{\"changes\": {changes}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}}}",
        percentile(0.5),
        percentile(0.99)
    );
    Ok(())
}

async fn wait_for_price(
    held: &mut tokio::sync::mpsc::UnboundedReceiver<(Instant, i64)>,
    cents: i64,
    timeout: Duration,
) -> anyhow::Result<Instant> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, held.recv()).await {
            Ok(Some((at, price))) if price == cents => return Ok(at),
            Ok(Some(_)) => continue,
            Ok(None) => bail!("the simulated player's event stream ended"),
            Err(_) => bail!("the simulated player never held the price {cents}"),
        }
    }
}
