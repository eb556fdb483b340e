//! The omnichannel path end to end, with the real scheduler, CLI and headless player: HQ imports
//! its stores and product feed, a campaign fills a store screen's offer slot, the screen shows the
//! offer card priced from the feed with a QR code for that play, a shopper's phone scans it (the QR
//! code is read back from the rendered frame), the scheduler redirects to the product page with
//! UTM parameters, and the scan report joins the scan to the play.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use vitrine_e2e::{PlayerOptions, Scheduler, Source, frames, start_player, wait_for};

const SHOP_PLAYLIST: &str =
    "version: 1\nname: shop\nitems:\n  - offer: { slot: main-promo, duration: 1h }\n";

const CAMPAIGN: &str = "version: 1
name: test-offers
targets:
  stores: [paris-11]
from: 2026-01-01
layer: default
share_of_voice: 10%
zone: main
fill:
  - image: { file: banner.png, duration: 10s }
offers:
  main-promo:
    - { id: hazelnut, product: \"3017620422003\", title: \"Hazelnut spread 750 g\" }
";

/// The URL in the first frame whose QR code reads.
fn scanned_url(frames_dir: &Path) -> Option<String> {
    frames(frames_dir).into_iter().rev().find_map(|(_, path)| {
        let grey = image::open(&path).ok()?.to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
            grey.width() as usize,
            grey.height() as usize,
            |x, y| grey.get_pixel(x as u32, y as u32).0[0],
        );
        let grids = prepared.detect_grids();
        grids.first()?.decode().ok().map(|(_, content)| content)
    })
}

/// What a phone does with the URL: one plain GET, not following the redirect.
fn get(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix("http://")
        .expect("a plain HTTP URL on loopback");
    let (address, path) = rest.split_once('/').expect("a path");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: e2e-phone\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_owned(), body.to_owned())
}

/// The sample chain's reference data in `playlists/hq`.
fn samples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../playlists/hq")
}

/// A scheduler under `root` holding the sample stores and feed (and the sample local inventory
/// when `inventory`), the shop playlist and the offers campaign, with the `paris-11-entrance`
/// screen registered; its device token.
fn start_shop(root: &Path, inventory: bool) -> (Scheduler, String) {
    let samples = samples();
    let content = root.join("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("shop.yaml"), SHOP_PLAYLIST).unwrap();
    std::fs::write(content.join("offers.yaml"), CAMPAIGN).unwrap();
    vitrine_e2e::write_solid_png(&content.join("banner.png"), [0, 0, 255]).unwrap();

    let scheduler = Scheduler::start(&root.join("hq")).unwrap();
    let path = |file: &Path| file.to_str().unwrap().to_owned();
    scheduler
        .cli(&["stores", "import", &path(&samples.join("stores.csv"))])
        .unwrap();
    scheduler
        .cli(&["feed", "import", &path(&samples.join("products.tsv"))])
        .unwrap();
    if inventory {
        scheduler
            .cli(&[
                "feed",
                "import",
                "--inventory",
                &path(&samples.join("inventory.tsv")),
            ])
            .unwrap();
    }
    scheduler
        .cli(&["push", &path(&content.join("shop.yaml"))])
        .unwrap();
    scheduler
        .cli(&["campaign", "push", &path(&content.join("offers.yaml"))])
        .unwrap();
    let token = scheduler
        .cli(&[
            "screens",
            "add",
            "paris-11-entrance",
            "--playlist",
            "shop",
            "--store",
            "paris-11",
        ])
        .unwrap()
        .trim()
        .to_owned();
    (scheduler, token)
}

#[test]
fn a_scan_of_an_offer_card_leads_to_the_product_page_and_is_reported() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let (scheduler, token) = start_shop(root, true);

    let frames_dir = root.join("frames");
    // Large enough frames for a phone-sized QR code to be read back.
    let mut player = start_player(
        Source::Scheduler {
            url: &scheduler.url,
            token: &token,
        },
        &root.join("player"),
        &frames_dir,
        root,
        &PlayerOptions {
            size: (1280, 720),
            fps: 10,
            frame_interval: "200ms",
            poll_interval: "1s",
        },
    )
    .unwrap();
    wait_for(
        "an offer card with a readable QR code",
        Duration::from_secs(60),
        || scanned_url(&frames_dir).is_some(),
    )
    .unwrap();
    let url = scanned_url(&frames_dir).unwrap();
    assert!(
        url.starts_with(&format!("{}/q/", scheduler.url)),
        "the QR code leads to this scheduler: {url}"
    );

    // The shopper's phone: a redirect to the product page, tagged for the web shop's analytics.
    let (head, _) = get(&url);
    assert!(head.starts_with("HTTP/1.1 302"), "{head}");
    assert!(
        head.contains(
            "location: https://shop.example/p/3017620422003?utm_source=vitrine&utm_medium=screen&utm_campaign=test-offers&utm_content=hazelnut"
        ),
        "{head}"
    );
    // A forged token gets a friendly page, not an error trace.
    let (head, body) = get(&format!("{}/q/forged-token", scheduler.url));
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    assert!(body.to_lowercase().contains("<html"), "{body}");

    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
    let report: serde_json::Value = serde_json::from_str(
        &scheduler
            .cli(&["reports", "scans", "--campaign", "test-offers", "--json"])
            .unwrap(),
    )
    .unwrap();
    let text = report.to_string();
    let rows = report["rows"].as_array().cloned().unwrap_or_default();
    let hazelnut = rows
        .iter()
        .find(|row| row["offer"] == "hazelnut" && row["arm"] == "treatment")
        .unwrap_or_else(|| panic!("a treatment row for hazelnut: {text}"));
    assert_eq!(hazelnut["scans"], 1, "{text}");
    // The card's turn is an hour and the player joined it midway and stopped within minutes: a
    // partial play, reported apart and never as a delivered impression.
    assert_eq!(hazelnut["impressions"], 0, "{text}");
    assert!(
        hazelnut["partial_plays"].as_u64().unwrap_or(0) >= 1,
        "{text}"
    );
}

/// The card price the player's active manifest holds for the hazelnut offer, in cents.
fn held_hazelnut_price(player_data: &Path) -> Option<i64> {
    let database = rusqlite::Connection::open_with_flags(
        player_data.join("player.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .ok()?;
    let body: String = database
        .query_row(
            "SELECT body FROM active_manifest WHERE slot = 0",
            [],
            |row| row.get(0),
        )
        .ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&body).ok()?;
    manifest["offers"]["main-promo"]["entries"]
        .as_array()?
        .iter()
        .find(|entry| entry["offer_id"] == "hazelnut" && entry["arm"] == "treatment")?["card"]
        ["price"]["cents"]
        .as_i64()
}

#[test]
fn a_price_changed_in_the_feed_reaches_a_running_players_card_by_push() {
    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path();
    let (scheduler, token) = start_shop(root, false);
    let path = |file: &Path| file.to_str().unwrap().to_owned();
    let feed = std::fs::read_to_string(samples().join("products.tsv")).unwrap();

    let frames_dir = root.join("frames");
    let player_data = root.join("player");
    // Polling once in ten minutes: within the test, only the push channel can bring the change.
    let mut player = start_player(
        Source::Scheduler {
            url: &scheduler.url,
            token: &token,
        },
        &player_data,
        &frames_dir,
        root,
        &PlayerOptions {
            size: (640, 360),
            fps: 10,
            frame_interval: "200ms",
            poll_interval: "10m",
        },
    )
    .unwrap();
    wait_for(
        "the offer card at the feed's sale price",
        Duration::from_secs(60),
        || held_hazelnut_price(&player_data) == Some(499) && frames(&frames_dir).len() >= 5,
    )
    .unwrap();
    // The card is still: two frames in a row are the same picture.
    std::thread::sleep(Duration::from_secs(1));
    let before = frames(&frames_dir);
    let (last_before, second_last_before) = (
        image::open(&before[before.len() - 1].1).unwrap().to_rgba8(),
        image::open(&before[before.len() - 2].1).unwrap().to_rgba8(),
    );
    assert!(
        last_before == second_last_before,
        "the card is not still; the test cannot tell a new price from motion"
    );

    let changed = root.join("products.tsv");
    std::fs::write(&changed, feed.replace("4.99 EUR", "3.33 EUR")).unwrap();
    let printed = scheduler.cli(&["feed", "import", &path(&changed)]).unwrap();
    assert!(
        printed.contains("price changed: 1 (3017620422003)"),
        "{printed}"
    );
    let imported_at = std::time::Instant::now();
    wait_for(
        "the player to hold the manifest with the new price",
        Duration::from_secs(20),
        || held_hazelnut_price(&player_data) == Some(333),
    )
    .unwrap();
    let took = imported_at.elapsed();
    eprintln!("the new price was held by the player {took:?} after the import");
    // And it is drawn: a frame after the change is another picture than the still card before.
    let held_at = jiff::Timestamp::now().as_millisecond();
    wait_for(
        "a frame drawn after the new manifest",
        Duration::from_secs(10),
        || {
            frames(&frames_dir)
                .last()
                .is_some_and(|(millis, _)| *millis > held_at + 500)
        },
    )
    .unwrap();
    let after = frames(&frames_dir);
    let last_after = image::open(&after[after.len() - 1].1).unwrap().to_rgba8();
    // The card fills the frame; in the default template the price is drawn in
    // [0.52, 0.36, 0.45, 0.17] and the title in [0.52, 0.06, 0.45, 0.27]. The price's pixels
    // changed, the title's did not: what was drawn again is the new price.
    let differing = |area: [f32; 4]| {
        let (width, height) = last_after.dimensions();
        let xs = (area[0] * width as f32) as u32..((area[0] + area[2]) * width as f32) as u32;
        let ys = (area[1] * height as f32) as u32..((area[1] + area[3]) * height as f32) as u32;
        ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|(x, y)| last_after.get_pixel(*x, *y) != last_before.get_pixel(*x, *y))
            .count()
    };
    let (price_changed, title_changed) = (
        differing([0.52, 0.36, 0.45, 0.17]),
        differing([0.52, 0.06, 0.45, 0.27]),
    );
    assert!(
        price_changed > 100 && title_changed == 0,
        "{price_changed} pixels of the price box and {title_changed} of the title box changed"
    );
    assert!(player.terminate(Duration::from_secs(30)).unwrap().success());
}
