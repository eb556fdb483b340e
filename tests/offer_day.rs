//! A scripted day of offer slots, where the screen and `vitrine explain` must agree on every play.
//!
//! The real scheduler (imports, campaigns, triggers, manifests, explain) runs on loopback, driven
//! with the real CLI. The screen is the player's own playback code (`vitrine_player::playback`)
//! with the manifest its sync client fetched and verified, stepped through four hours of a store's
//! day on a simulated clock; its plays go back to HQ as signed impression batches, as a player
//! uploads them, so caps count the same plays on both sides. Along the day: a priority offer
//! capped per hour, a holdout arm, an offer only in a daypart, a loyalty-app trigger for that
//! offer's segment that outlives the daypart (the slot must fall back to the normal order, not to
//! the fallback), and a product that runs out of stock and comes back. Every offer slot's play is
//! compared with what `GET /v1/explain` says for the same screen, slot and instant.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp, ToSpan};
use serde_json::Value;
use vitrine_core::playlist::Content;
use vitrine_core::{ImpressionBatch, Manifest};
use vitrine_e2e::Scheduler;
use vitrine_player::playback::Playback;
use vitrine_player::render::Rotation;
use vitrine_player::sync::SyncClient;

const PLAYLIST: &str = "version: 1
name: store
items:
  - offer: { slot: main-promo, duration: 30s }
  - text: { text: Welcome, duration: 30s }
";

const FEED: &str = "id\ttitle\tlink\tprice\tsale_price\tavailability
hazelnut-750\tHazelnut spread 750 g\thttps://shop.example/p/hazelnut\t5.49 EUR\t4.99 EUR\tin stock
cola-15\tCola 1.5 l\thttps://shop.example/p/cola\t1.79 EUR\t\tin stock
";

const SEGMENTS: &str = "store_code,segment,share
noon-1,students,0.30
noon-1,families,0.70
";

/// Always on: a priority offer capped at two plays an hour, a product that may run out, and a
/// house offer with a holdout arm.
const ALWAYS: &str = "version: 1
name: always
targets: { stores: [noon-1] }
from: 2020-01-01
loop_slots: 1
fill:
  - offer: { slot: main-promo, duration: 30s }
offers:
  main-promo:
    - { id: hazelnut-tour, product: hazelnut-750, title: Hazelnut tour, priority: 5, cap_per_hour: 2 }
    - { id: cola, product: cola-15, title: Cola, weight: 2 }
    - id: coffee
      title: Coffee and a pastry
      price: \"2,50 €\"
      url: https://shop.example/coffee
      holdout: 30%
      control: { title: Breakfast in store }
";

fn inventory(cola_units: u32) -> String {
    format!(
        "store_code\tid\tquantity\tprice\tsale_price\nnoon-1\thazelnut-750\t40\t\t\nnoon-1\tcola-15\t{cola_units}\t\t\n"
    )
}

/// An offer for students, only at lunch (which ends `lunch_end`, store time).
fn lunch(lunch_end: &str) -> String {
    format!(
        "version: 1
name: lunch
targets: {{ stores: [noon-1] }}
from: 2020-01-01
dayparts:
  lunch: \"11:00-{lunch_end}\"
loop_slots: 1
fill:
  - text: {{ text: Lunch, duration: 30s }}
offers:
  main-promo:
    - {{ id: students-lunch, title: Student lunch deal, price: \"4,00 €\", url: https://shop.example/lunch, segments: [students] }}
"
    )
}

/// A fixed UTC offset (`Etc/GMT-N` is N hours *ahead* of UTC) that puts the store's clock near
/// noon now, so the four hours around it are one store day whatever time the test runs.
fn noon_zone() -> String {
    let hour = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).hour();
    let ahead = 12 - i32::from(hour);
    if ahead >= 0 {
        format!("Etc/GMT-{ahead}")
    } else {
        format!("Etc/GMT+{}", -ahead)
    }
}

struct Screen {
    playback: Playback,
    client: SyncClient,
    sequence: u64,
}

impl Screen {
    /// Fetches the screen's manifest and plays it. With `after`, waits for one newer than that
    /// ETag, as a player does when HQ tells it its manifest changed.
    async fn fetch(&mut self, after: Option<&str>) -> (Arc<Manifest>, String) {
        for _ in 0..300 {
            match self.client.fetch_manifest(after).await.expect("a manifest") {
                vitrine_player::sync::ManifestFetch::New(active) => {
                    let manifest = Arc::new(active.manifest);
                    self.playback
                        .activate(manifest.clone())
                        .expect("the manifest activates");
                    return (manifest, active.etag);
                }
                vitrine_player::sync::ManifestFetch::NotModified => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                vitrine_player::sync::ManifestFetch::NoPlaylist => {
                    panic!("the screen has a pushed playlist")
                }
            }
        }
        panic!("HQ never rebuilt the screen's manifest after the change");
    }

    /// Shows the frame for `now`, with everything it asks for ready, as the renderer would have it.
    fn step(&mut self, now: Timestamp) {
        for _ in 0..2 {
            for want in self.playback.tick(now).wanted {
                self.playback.mark_ready(want.key());
            }
        }
    }
}

async fn explain(http: &reqwest::Client, hq: &Scheduler, start: Timestamp) -> Value {
    let response = http
        .get(format!(
            "{}/v1/explain?screen=noon-1.entrance&slot=main-promo&at={start}",
            hq.url
        ))
        .bearer_auth(&hq.admin_token)
        .send()
        .await
        .expect("explain answers");
    assert!(response.status().is_success(), "{response:?}");
    response.json().await.expect("explain is JSON")
}

fn write(folder: &Path, name: &str, text: &str) -> String {
    let path = folder.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_offer_slot_on_screen_is_what_explain_says() {
    let folder = tempfile::tempdir().unwrap();
    let hq = Scheduler::start(&folder.path().join("hq")).unwrap();
    let zone_name = noon_zone();
    let zone = jiff::tz::TimeZone::get(&zone_name).unwrap();
    let real_now = Timestamp::now();
    let local_now = real_now.to_zoned(zone.clone());
    // Lunch ends 20 minutes from now (store time): the trigger below outlives it.
    let lunch_end = local_now
        .checked_add(20.minutes())
        .unwrap()
        .strftime("%H:%M")
        .to_string();
    let files = folder.path();
    let stores = write(
        files,
        "stores.csv",
        &format!(
            "code,name,region,tags,timezone,locale,currency\nnoon-1,Noon,test,,{zone_name},fr-FR,EUR\n"
        ),
    );
    hq.cli(&["stores", "import", &stores]).unwrap();
    hq.cli(&[
        "segments",
        "import",
        &write(files, "segments.csv", SEGMENTS),
    ])
    .unwrap();
    hq.cli(&["feed", "import", &write(files, "products.tsv", FEED)])
        .unwrap();
    hq.cli(&[
        "feed",
        "import",
        "--inventory",
        &write(files, "inventory.tsv", &inventory(10)),
    ])
    .unwrap();
    hq.cli(&["push", &write(files, "store.yaml", PLAYLIST)])
        .unwrap();
    hq.cli(&["campaign", "push", &write(files, "always.yaml", ALWAYS)])
        .unwrap();
    hq.cli(&[
        "campaign",
        "push",
        &write(files, "lunch.yaml", &lunch(&lunch_end)),
    ])
    .unwrap();
    let token = hq
        .cli(&[
            "screens",
            "add",
            "noon-1.entrance",
            "--playlist",
            "store",
            "--store",
            "noon-1",
        ])
        .unwrap()
        .trim()
        .to_owned();

    let mut screen = Screen {
        playback: Playback::new(
            vitrine_core::Sha256Hex::of_bytes(b"splash"),
            (1920, 1080),
            Rotation::Deg0,
        ),
        client: SyncClient::new(&hq.url, &token, None)
            .unwrap()
            .with_screen(Some("noon-1.entrance".into())),
        sequence: 0,
    };
    let (manifest, mut etag) = screen.fetch(None).await;
    let schedule = manifest.schedule().unwrap();

    // A student checks in with the loyalty app: the store's slots target students for an hour.
    // Sent away from a play's start, so that no play starts between HQ sending it and the screen
    // hearing it (the screen follows a trigger from its arrival).
    loop {
        let now = Timestamp::now();
        let play = schedule.what_plays("main", now).unwrap();
        if play.end.duration_since(now) > SignedDuration::from_secs(5)
            && now.duration_since(play.start) > SignedDuration::from_secs(1)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    hq.cli(&[
        "trigger",
        "--store",
        "noon-1",
        "--segment",
        "students",
        "--ttl",
        "1h",
    ])
    .unwrap();
    let heard = Timestamp::now();
    screen.playback.trigger(
        "students".into(),
        heard.checked_add(SignedDuration::from_hours(1)).unwrap(),
        heard,
    );

    // Four hours of the store's day, from 10:00 to 14:00 store time, play by play. The cola runs
    // out at 11:00 and is back at 12:30 (store time).
    let day = local_now.date();
    let at_local = |hour: i8, minute: i8| {
        day.at(hour, minute, 0, 0)
            .to_zoned(zone.clone())
            .unwrap()
            .timestamp()
    };
    let (start, end) = (at_local(10, 0), at_local(14, 0));
    let mut stock_changes = [(at_local(11, 0), Some(0)), (at_local(12, 30), Some(10))];
    let mut stocked = Vec::new();
    let http = reqwest::Client::new();
    let mut now = start;
    let mut compared: BTreeMap<String, usize> = BTreeMap::new();
    let mut triggered = (0, 0);
    let mut cola_plays = Vec::new();
    while now < end {
        screen.step(now);
        let mut finished = screen.playback.take_finished();
        for impression in &mut finished {
            screen.sequence += 1;
            impression.sequence = screen.sequence;
            let Some(offer) = &impression.offer else {
                continue;
            };
            let explanation = explain(&http, &hq, impression.scheduled_start).await;
            let slot = &explanation["offers"][0];
            assert_eq!(
                slot["play_start"],
                impression.scheduled_start.to_string(),
                "{explanation:#}"
            );
            let says = (
                slot["shows"]["offer_id"].as_str(),
                slot["shows"]["arm"].as_str(),
            );
            assert_eq!(
                says,
                (Some(offer.offer_id.as_str()), Some(offer.arm.as_str())),
                "the play at {} on screen and explain disagree: {:#}",
                impression.scheduled_start,
                slot["pick"]
            );
            *compared
                .entry(format!("{}/{}", offer.offer_id, offer.arm))
                .or_default() += 1;
            if offer.offer_id == "cola" {
                cola_plays.push(impression.scheduled_start);
            }
            if let Some(followed) = slot["pick"]["trigger"]["followed"].as_bool() {
                if followed {
                    triggered.0 += 1;
                } else {
                    triggered.1 += 1;
                }
            }
        }
        if !finished.is_empty() {
            let batch = ImpressionBatch {
                impressions: finished,
            };
            screen
                .client
                .upload(&batch)
                .await
                .expect("HQ takes the plays");
        }
        // Stock changes while a play that is not an offer is on screen, so that each offer play
        // starts and ends under one stock level; the screen gets the new manifest before its next
        // item, as HQ's push brings it within seconds.
        let playing = schedule.what_plays("main", now).unwrap();
        if !matches!(playing.item.content, Content::Offer { .. }) {
            for (when, units) in &mut stock_changes {
                if let Some(level) = units.take_if(|_| *when <= playing.end) {
                    hq.cli(&[
                        "feed",
                        "import",
                        "--inventory",
                        &write(files, "inventory.tsv", &inventory(level)),
                    ])
                    .unwrap();
                    etag = screen.fetch(Some(&etag)).await.1;
                    stocked.push((playing.end, level));
                }
            }
        }
        // The next item boundary.
        now = playing.end;
    }

    // The day went through every case it was written for.
    let plays: usize = compared.values().sum();
    assert!(plays >= 230, "{plays} offer plays compared: {compared:?}");
    for shown in [
        "hazelnut-tour/treatment",
        "cola/treatment",
        "coffee/treatment",
        "coffee/control",
        "students-lunch/treatment",
    ] {
        assert!(
            compared.contains_key(shown),
            "{shown} never showed: {compared:?}"
        );
    }
    assert_eq!(stocked.len(), 2, "both stock changes happened: {stocked:?}");
    let sold_out = stocked[0].0..stocked[1].0;
    assert!(
        !cola_plays.iter().any(|start| sold_out.contains(start)),
        "the cola showed while out of stock ({sold_out:?}): {cola_plays:?}"
    );
    assert!(
        cola_plays.iter().any(|start| *start >= sold_out.end),
        "the cola came back with its stock: {cola_plays:?}"
    );
    // Two plays an hour of the capped offer, at most.
    assert!(compared["hazelnut-tour/treatment"] <= 2 * 5, "{compared:?}");
    assert!(
        triggered.0 > 0 && triggered.1 > 0,
        "the trigger was followed in lunch and fell back after it: {triggered:?}"
    );
}
