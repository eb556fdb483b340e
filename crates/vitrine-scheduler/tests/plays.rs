//! Proof of play as a buyer reads it: the plays report against a recount of the raw plays, the
//! hash chain, screen-off plays, audiences, and bad report requests. On the real database (SQLite,
//! or PostgreSQL with `VITRINE_TEST_POSTGRES`), through `app()`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use vitrine_core::impression::{SIGNATURE_HEADER, sign_batch};
use vitrine_core::offer::{Arm, CardPrice};
use vitrine_core::{ClockState, DisplayPower, Impression, OfferPlay, Sha256Hex};

mod common;

use common::{ADMIN, Harness, Reply};

const STORES: &str = "code,name,region,timezone,locale,currency\n\
    paris-11,Paris 11,idf,Europe/Paris,fr-FR,EUR\n\
    nyc-5,NYC Fifth,east,America/New_York,en-US,USD\n";

/// A small deterministic generator: the same seed gives the same week.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

impl Harness {
    async fn admin(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        self.call(method, uri, Some(ADMIN), body).await
    }

    async fn import(&self, path: &str, source: &str) -> Value {
        let reply = self
            .admin(
                Method::POST,
                path,
                Some(json!({"file_name": "import.csv", "source": source})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
        reply.json()
    }

    async fn screen(&self, name: &str, store: &str) -> String {
        let reply = self
            .admin(
                Method::POST,
                "/v1/screens",
                Some(json!({"name": name, "playlist": "demo", "store": store,
                            "allow_unpushed": true})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
        reply.json()["token"].as_str().expect("token").to_owned()
    }

    /// A staff token for paris-11's manager.
    async fn paris_manager(&self) -> String {
        self.admin(
            Method::POST,
            "/v1/staff",
            Some(json!({"name": "paris-manager", "stores": ["paris-11"]})),
        )
        .await
        .json()["token"]
            .as_str()
            .expect("a staff token")
            .to_owned()
    }

    async fn report(&self, query: &str) -> Value {
        let reply = self
            .admin(Method::GET, &format!("/v1/reports/plays?{query}"), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.json());
        reply.json()
    }
}

/// Posts `plays` as the screen of `token`, signed as a player signs its batches.
async fn post_plays(harness: &Harness, token: &str, plays: &[Impression]) -> Value {
    let body = serde_json::to_string(&json!({ "impressions": plays })).unwrap();
    let key: [u8; 32] = hex::decode(Sha256Hex::of_bytes(token.as_bytes()).as_str())
        .unwrap()
        .try_into()
        .unwrap();
    let request = Request::post("/v1/impressions")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, sign_batch(&key, body.as_bytes()))
        .body(Body::from(body))
        .unwrap();
    let reply = harness.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    reply.json()
}

/// A screen's plays, numbered and chained as its journal chains them.
fn chained(mut plays: Vec<Impression>) -> Vec<Impression> {
    let mut previous: Option<Sha256Hex> = None;
    for (index, play) in plays.iter_mut().enumerate() {
        play.sequence = index as u64 + 1;
        play.previous = previous.clone();
        previous = Some(play.digest());
    }
    plays
}

fn play(screen: &str, start: Timestamp, item: &str) -> Impression {
    Impression {
        id: uuid::Uuid::now_v7(),
        sequence: 0,
        screen: screen.to_owned(),
        playlist: "demo".into(),
        playlist_version: 1,
        zone: "main".into(),
        item_id: item.to_owned(),
        media_sha256: Some(Sha256Hex::of_bytes(item.as_bytes())),
        scheduled_start: start,
        scheduled_end: Some(start + SignedDuration::from_secs(10)),
        started_at: start,
        ended_at: start + SignedDuration::from_secs(10),
        completed: true,
        clock: ClockState::Synced,
        offer: None,
        campaign: None,
        manifest_version: 3,
        player_version: Some("0.1.0".into()),
        display: DisplayPower::On,
        previous: None,
    }
}

/// What a recount of the raw plays gives for one group.
#[derive(Debug, Default, PartialEq)]
struct Recount {
    plays: u64,
    completed: u64,
    delivered: u64,
    off: u64,
    play_ms: u64,
    impressions: f64,
}

fn figures_of(row: &Value) -> Recount {
    Recount {
        plays: row["plays"].as_u64().unwrap(),
        completed: row["completed_plays"].as_u64().unwrap(),
        delivered: row["delivered_plays"].as_u64().unwrap(),
        off: row["plays_display_off"].as_u64().unwrap(),
        play_ms: (row["play_seconds"].as_f64().unwrap() * 1000.0).round() as u64,
        impressions: row["gross_impressions"].as_f64().unwrap(),
    }
}

#[tokio::test]
async fn a_generated_week_reports_what_a_recount_of_the_raw_plays_says() {
    for seed in [0x9e37_79b9_7f4a_7c15_u64, 0x2545_f491_4f6c_dd1d] {
        let harness = Harness::new();
        harness.import("/v1/stores", STORES).await;
        let mut dice = Dice(seed);
        let stores = [("paris-11", "Europe/Paris"), ("nyc-5", "America/New_York")];
        let mut screens = Vec::new();
        for index in 0..50 {
            let (store, zone) = stores[index % 2];
            let name = format!("s{index:02}");
            let token = harness.screen(&name, store).await;
            screens.push((name, token, store, TimeZone::get(zone).unwrap()));
        }
        // A third of the screens see 2.5 people per play, at the checkout.
        let mut audience = String::from("screen,zone,venue_zone,multiplier,source\n");
        for (name, ..) in screens.iter().step_by(3) {
            audience.push_str(&format!("{name},,checkout,2.5,door counter\n"));
        }
        let imported = harness.import("/v1/audience", &audience).await;
        assert_eq!(imported["applied"], 17, "{imported}");
        for (name, ..) in &screens {
            for arm in ["treatment", "control"] {
                harness.execute(&format!(
                    "INSERT INTO served_offers (screen, playlist_version, campaign, offer, arm) \
                     VALUES ('{name}', 1, 'spring', 'hazelnut', '{arm}')"
                ));
            }
        }

        // A week of plays: each screen about every 40 minutes, some cut short, some on a display
        // that was off, some from the spring campaign, some offers in either arm.
        let week_start: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
        let mut recount: BTreeMap<(String, String, String), Recount> = BTreeMap::new();
        let mut by_item: BTreeMap<String, u64> = BTreeMap::new();
        let mut airtime: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (screen_index, (name, token, store, zone)) in screens.iter().enumerate() {
            let mut plays = Vec::new();
            let mut at = week_start + SignedDuration::from_secs(screen_index as i64 * 17);
            while at < week_start + SignedDuration::from_hours(24 * 7) {
                let item = ["a", "b", "c"][dice.below(3) as usize];
                let mut record = play(name, at, item);
                record.completed = dice.below(5) != 0;
                if !record.completed {
                    record.ended_at = at + SignedDuration::from_millis(1234);
                }
                record.display = [DisplayPower::On, DisplayPower::Off, DisplayPower::Unknown]
                    [dice.below(3) as usize];
                match dice.below(4) {
                    0 => record.campaign = Some("spring".into()),
                    1 => {
                        record.offer = Some(OfferPlay {
                            offer_id: "hazelnut".into(),
                            campaign: Some("spring".into()),
                            arm: if dice.below(2) == 0 {
                                Arm::Treatment
                            } else {
                                Arm::Control
                            },
                            price: Some(CardPrice {
                                cents: 249,
                                old_cents: None,
                                currency: "EUR".into(),
                            }),
                        })
                    }
                    _ => {}
                }
                plays.push(record);
                at += SignedDuration::from_mins(30 + dice.below(20) as i64);
            }
            let plays = chained(plays);
            for record in &plays {
                let campaign = match (&record.offer, &record.campaign) {
                    (Some(offer), _) => offer.campaign.clone().unwrap_or_default(),
                    (None, Some(campaign)) => campaign.clone(),
                    (None, None) => String::new(),
                };
                let day = record.started_at.to_zoned(zone.clone()).date().to_string();
                *airtime.entry((store.to_string(), day.clone())).or_default() +=
                    record.duration_ms();
                let entry = recount
                    .entry((campaign, store.to_string(), day))
                    .or_default();
                let delivered = record.completed && record.display != DisplayPower::Off;
                entry.plays += 1;
                entry.completed += u64::from(record.completed);
                entry.delivered += u64::from(delivered);
                entry.off += u64::from(record.display == DisplayPower::Off);
                entry.play_ms += record.duration_ms();
                if delivered {
                    entry.impressions += if screen_index % 3 == 0 { 2.5 } else { 1.0 };
                }
                *by_item.entry(record.item_id.clone()).or_default() += 1;
            }
            // Sent in three batches out of order, the middle one twice.
            let third = plays.len() / 3;
            let (first, rest) = plays.split_at(third);
            let (second, last) = rest.split_at(third);
            post_plays(&harness, token, last).await;
            post_plays(&harness, token, second).await;
            post_plays(&harness, token, first).await;
            let again = post_plays(&harness, token, second).await;
            assert_eq!(again["inserted"], 0, "a re-sent batch counts once");
        }

        let report = harness
            .report("group_by=campaign,store,day&from=2026-11-22&to=2026-11-30")
            .await;
        assert!(
            report["formula"]
                .as_str()
                .unwrap()
                .contains("delivered plays x audience multiplier"),
            "{report}"
        );
        let mut reported: BTreeMap<(String, String, String), Recount> = BTreeMap::new();
        for row in report["rows"].as_array().unwrap() {
            let key = row["key"].as_array().unwrap();
            let text = |index: usize| key[index].as_str().unwrap().to_owned();
            // Share of voice: the campaign's seconds over all seconds on its zone that day.
            if text(0) == "spring" {
                let own = recount[&(text(0), text(1), text(2))].play_ms as f64;
                let all = airtime[&(text(1), text(2))] as f64;
                let achieved = row["share_of_voice"]["achieved"].as_f64().unwrap();
                assert!((achieved - own / all).abs() < 1e-9, "{row}");
            } else {
                assert!(row.get("share_of_voice").is_none(), "{row}");
            }
            reported.insert((text(0), text(1), text(2)), figures_of(row));
        }
        assert_eq!(reported.len(), recount.len());
        for (key, expected) in &recount {
            let got = reported
                .get(key)
                .unwrap_or_else(|| panic!("no row for {key:?}"));
            assert_eq!(got.plays, expected.plays, "{key:?}");
            assert_eq!(got.completed, expected.completed, "{key:?}");
            assert_eq!(got.delivered, expected.delivered, "{key:?}");
            assert_eq!(got.off, expected.off, "{key:?}");
            assert_eq!(got.play_ms, expected.play_ms, "{key:?}");
            assert!(
                (got.impressions - expected.impressions).abs() < 1e-6,
                "{key:?}: {} against {}",
                got.impressions,
                expected.impressions
            );
            assert!(got.delivered <= got.completed && got.completed <= got.plays);
        }
        // Grouped by item and hour, the hourly rollups give the same plays.
        let by_hour = harness
            .report("group_by=item,hour&from=2026-11-22&to=2026-11-30")
            .await;
        let mut items: BTreeMap<String, u64> = BTreeMap::new();
        for row in by_hour["rows"].as_array().unwrap() {
            *items
                .entry(row["key"][0].as_str().unwrap().to_owned())
                .or_default() += row["plays"].as_u64().unwrap();
            assert_eq!(row["key"][1].as_str().unwrap().len(), 13, "{row}");
        }
        assert_eq!(items, by_item);
        // Every chain arrived whole, whatever the order of its batches.
        let chain = harness
            .admin(
                Method::GET,
                "/v1/reports/chain?from=2026-11-22&to=2026-11-30",
                None,
            )
            .await
            .json();
        let days = chain["days"].as_array().unwrap();
        assert!(!days.is_empty());
        for day in days {
            assert_eq!(day["intact"], true, "{day}");
        }
    }
}

#[tokio::test]
async fn a_broken_chain_is_stored_and_flagged_where_it_breaks() {
    let harness = Harness::new();
    harness.import("/v1/stores", STORES).await;
    let token = harness.screen("lobby", "paris-11").await;
    let start: Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
    let mut plays = chained(
        (0..6)
            .map(|index| play("lobby", start + SignedDuration::from_mins(index), "a"))
            .collect(),
    );
    // Play 3 altered after its successor was chained to it: play 4 no longer links.
    plays[2].ended_at += SignedDuration::from_secs(30);
    // Sent with play 4 before play 3, so the check runs on play 3's arrival too.
    post_plays(&harness, &token, &plays[3..]).await;
    let stored = post_plays(&harness, &token, &plays[..3]).await;
    assert_eq!(stored["highest_sequence"], 6, "every play is stored");
    let chain = harness
        .admin(
            Method::GET,
            "/v1/reports/chain?from=2026-12-01&to=2026-12-01",
            None,
        )
        .await
        .json();
    let day = &chain["days"][0];
    assert_eq!(day["screen"], "lobby");
    assert_eq!(day["plays"], 6);
    assert_eq!(day["intact"], false, "{day}");
    assert_eq!(day["broken"], 1, "{day}");
    assert_eq!(day["linked"], 5, "{day}");
    assert!(
        day["first_break"]
            .as_str()
            .unwrap()
            .starts_with("play 4 does not link to play 3"),
        "{day}"
    );
}

#[tokio::test]
async fn a_play_on_a_display_known_off_is_never_delivered() {
    let harness = Harness::new();
    harness.import("/v1/stores", STORES).await;
    let token = harness.screen("lobby", "paris-11").await;
    let start: Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
    let mut plays = chained(
        (0..3)
            .map(|index| play("lobby", start + SignedDuration::from_mins(index), "a"))
            .collect(),
    );
    plays[1].display = DisplayPower::Off;
    plays[2].display = DisplayPower::Unknown;
    let plays = chained(plays);
    post_plays(&harness, &token, &plays).await;
    let report = harness
        .report("group_by=screen&from=2026-12-01&to=2026-12-01")
        .await;
    let row = &report["rows"][0];
    assert_eq!(row["plays"], 3, "{row}");
    assert_eq!(row["completed_plays"], 3, "{row}");
    assert_eq!(row["delivered_plays"], 2, "{row}");
    assert_eq!(row["plays_display_off"], 1, "{row}");
    assert_eq!(row["gross_impressions"], 2.0, "{row}");
    // HQ gives back every field the screen signed: each record digests as the player's did.
    let listed = harness
        .admin(Method::GET, "/v1/impressions?screen=lobby", None)
        .await
        .json();
    let listed: Vec<Impression> = serde_json::from_value(listed["impressions"].clone()).unwrap();
    assert_eq!(listed, plays);
    assert_eq!(
        listed.iter().map(Impression::digest).collect::<Vec<_>>(),
        plays.iter().map(Impression::digest).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn bad_report_requests_name_the_field() {
    let harness = Harness::new();
    harness.import("/v1/stores", STORES).await;
    for (query, field) in [
        ("from=2026-12-05&to=2026-12-01", "`to`"),
        ("from=last-monday", "`from`"),
        ("group_by=campaign,weekday", "`group_by`"),
        ("campaign=no-such-campaign", "`campaign`"),
        ("store=no-such-store", "`store`"),
        ("arm=both", "`arm`"),
    ] {
        let reply = harness
            .admin(Method::GET, &format!("/v1/reports/plays?{query}"), None)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            reply.error_message().contains(field),
            "{query}: {}",
            reply.error_message()
        );
    }
    let reply = harness
        .admin(Method::GET, "/v1/reports/plays?frm=2026-12-01", None)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.error_message().contains("frm"),
        "{}",
        reply.error_message()
    );

    let bad_audience = harness
        .admin(
            Method::POST,
            "/v1/audience",
            Some(json!({"file_name": "a.csv",
                        "source": "screen,venue_zone,multiplier,source\nnone,lobby,2,x\n"})),
        )
        .await;
    assert_eq!(bad_audience.status, StatusCode::OK);
    let skipped = &bad_audience.json()["skipped"][0];
    assert_eq!(skipped["line"], 2);
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap()
            .contains("venue zone `lobby`"),
        "{skipped}"
    );
}

#[tokio::test]
async fn staff_read_only_their_stores_plays() {
    let harness = Harness::new();
    harness.import("/v1/stores", STORES).await;
    let paris = harness.screen("paris-screen", "paris-11").await;
    let nyc = harness.screen("nyc-screen", "nyc-5").await;
    let start: Timestamp = "2026-12-01T15:00:00Z".parse().unwrap();
    post_plays(
        &harness,
        &paris,
        &chained(vec![play("paris-screen", start, "a")]),
    )
    .await;
    post_plays(
        &harness,
        &nyc,
        &chained(vec![play("nyc-screen", start, "a")]),
    )
    .await;
    let staff = harness.paris_manager().await;
    let mine = harness
        .call(
            Method::GET,
            "/v1/reports/plays?group_by=screen&from=2026-12-01&to=2026-12-01",
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(mine.status, StatusCode::OK);
    let rows = mine.json()["rows"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["key"][0], "paris-screen");
    let theirs = harness
        .call(
            Method::GET,
            "/v1/reports/plays?store=nyc-5&from=2026-12-01&to=2026-12-01",
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_ad_log_exports_every_play_as_csv_and_parquet() {
    let harness = Harness::new();
    harness.import("/v1/stores", STORES).await;
    let token = harness.screen("lobby", "paris-11").await;
    harness.execute(
        "INSERT INTO served_offers (screen, playlist_version, campaign, offer, arm, stock) \
         VALUES ('lobby', 1, 'spring', 'hazelnut', 'treatment', 37)",
    );
    // More plays than one page of the export reads, so it pages.
    let start: Timestamp = "2026-12-01T06:00:00Z".parse().unwrap();
    let mut plays: Vec<Impression> = (0..10_500)
        .map(|index| play("lobby", start + SignedDuration::from_secs(index * 5), "a"))
        .collect();
    plays[7].item_id = "=HYPERLINK(\"https://evil.example\")".into();
    plays[8].offer = Some(OfferPlay {
        offer_id: "hazelnut".into(),
        campaign: Some("spring".into()),
        arm: Arm::Treatment,
        price: Some(CardPrice {
            cents: 249,
            old_cents: None,
            currency: "EUR".into(),
        }),
    });
    plays[9].display = DisplayPower::Off;
    let plays = chained(plays);
    for batch in plays.chunks(1000) {
        post_plays(&harness, &token, batch).await;
    }

    let csv_reply = harness
        .admin(
            Method::GET,
            "/v1/reports/plays/export?from=2026-12-01&to=2026-12-01&format=csv",
            None,
        )
        .await;
    assert_eq!(csv_reply.status, StatusCode::OK);
    assert_eq!(
        csv_reply.headers[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    let mut reader = csv::Reader::from_reader(csv_reply.body.as_ref());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|header| header == name).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), plays.len());
    let by_id: BTreeMap<String, &csv::StringRecord> = records
        .iter()
        .map(|record| (record[column("play_id")].to_owned(), record))
        .collect();
    for (index, record) in plays.iter().enumerate() {
        let row = by_id[&record.id.to_string()];
        assert_eq!(&row[column("screen")], "lobby");
        assert_eq!(&row[column("store")], "paris-11");
        assert_eq!(
            row[column("sequence")].parse::<u64>().unwrap(),
            record.sequence
        );
        assert_eq!(&row[column("chain")], "linked", "play {index}");
        let delivered = record.display != DisplayPower::Off;
        assert_eq!(
            row[column("delivered")] == *"true",
            delivered,
            "play {index}"
        );
    }
    let injected = by_id[&plays[7].id.to_string()];
    assert!(
        injected[column("item_id")].starts_with("'="),
        "{}",
        &injected[column("item_id")]
    );
    let offer = by_id[&plays[8].id.to_string()];
    assert_eq!(&offer[column("offer")], "hazelnut");
    assert_eq!(&offer[column("price_cents")], "249");
    assert_eq!(&offer[column("currency")], "EUR");
    // The stock the manifest carrying the offer was built with (set here by hand, as the
    // served-offer record of a manifest build would).
    assert_eq!(&offer[column("stock")], "37");
    assert_eq!(&by_id[&plays[9].id.to_string()][column("stock")], "");

    let parquet_reply = harness
        .admin(
            Method::GET,
            "/v1/reports/plays/export?from=2026-12-01&to=2026-12-01&format=parquet",
            None,
        )
        .await;
    assert_eq!(parquet_reply.status, StatusCode::OK);
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(parquet_reply.body.clone()).unwrap();
    assert_eq!(
        reader.metadata().file_metadata().num_rows(),
        plays.len() as i64
    );
    let mut ids = Vec::new();
    for row in reader.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        for (name, field) in row.get_column_iter() {
            if name == "play_id" {
                ids.push(field.to_string().trim_matches('"').to_owned());
            }
        }
    }
    ids.sort();
    let mut expected: Vec<String> = plays.iter().map(|record| record.id.to_string()).collect();
    expected.sort();
    assert_eq!(ids, expected);

    let bad = harness
        .admin(
            Method::GET,
            "/v1/reports/plays/export?from=2026-12-01&format=xlsx",
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.error_message().contains("`format`"),
        "{}",
        bad.error_message()
    );
}

#[tokio::test]
async fn raw_plays_past_their_retention_go_and_their_figures_stay() {
    let harness = Harness::new();
    harness.import("/v1/stores", STORES).await;
    let token = harness.screen("lobby", "paris-11").await;
    let start: Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
    let plays = chained(
        (0..20)
            .map(|index| play("lobby", start + SignedDuration::from_mins(index), "a"))
            .collect(),
    );
    post_plays(&harness, &token, &plays).await;
    let range = "group_by=screen&from=2026-12-01&to=2026-12-01";
    let before = harness.report(range).await;

    // Kept one day: the plays of 1 December are past it whenever this runs.
    harness.state.set_raw_play_retention_days(1);
    let removed = vitrine_scheduler::plays::prune_raw_plays(&harness.state)
        .await
        .unwrap();
    assert_eq!(removed, 20);
    assert_eq!(harness.report(range).await["rows"], before["rows"]);
    // Their rows are gone: the export and the chain say why, naming the field.
    let export = harness
        .admin(
            Method::GET,
            "/v1/reports/plays/export?from=2026-12-01&to=2026-12-01",
            None,
        )
        .await;
    assert_eq!(export.status, StatusCode::BAD_REQUEST);
    assert!(
        export.error_message().contains("`from`") && export.error_message().contains("1 days"),
        "{}",
        export.error_message()
    );
    // The same batch again, as a player that missed the acknowledgement sends it: nothing new.
    let again = post_plays(&harness, &token, &plays).await;
    assert_eq!(again["inserted"], 0, "{again}");
    assert_eq!(harness.report(range).await["rows"], before["rows"]);
}

/// The figures of the console report page's row `key`, as its cells show them.
fn console_row(page: &str, key: &str) -> Vec<String> {
    let start = page
        .find(&format!("data-key=\"{key}\""))
        .unwrap_or_else(|| panic!("no row `{key}` on the report page"));
    let row = &page[start..start + page[start..].find("</tr>").unwrap()];
    row.split("<td class=\"number\">")
        .skip(1)
        .map(|cell| cell[..cell.find("</td>").unwrap()].to_owned())
        .collect()
}

#[tokio::test]
async fn the_console_report_page_shows_the_apis_figures_to_each_person_as_the_api_would() {
    let harness = Harness::new();
    harness.import("/v1/stores", STORES).await;
    let paris = harness.screen("paris-screen", "paris-11").await;
    let nyc = harness.screen("nyc-screen", "nyc-5").await;
    let start: Timestamp = "2026-12-01T15:00:00Z".parse().unwrap();
    let mut paris_plays: Vec<Impression> = (0..3)
        .map(|index| {
            play(
                "paris-screen",
                start + SignedDuration::from_mins(index),
                "a",
            )
        })
        .collect();
    paris_plays[2].completed = false;
    post_plays(&harness, &paris, &chained(paris_plays)).await;
    post_plays(
        &harness,
        &nyc,
        &chained(vec![play("nyc-screen", start, "b")]),
    )
    .await;
    let days = "from=2026-12-01&to=2026-12-01";

    // HQ: one row per store, the API's figures in its cells.
    let admin = harness.console_sign_in(ADMIN).await;
    let reply = harness
        .console_get(
            Some(&admin),
            &format!("/console/reports?{days}&group_by=store"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let page = reply.text();
    let api = harness.report(&format!("{days}&group_by=store")).await;
    for row in api["rows"].as_array().unwrap() {
        let key = row["key"][0].as_str().unwrap();
        let cells = console_row(&page, key);
        assert_eq!(cells[0], row["plays"].to_string(), "{key}: {cells:?}");
        assert_eq!(cells[1], row["completed_plays"].to_string(), "{key}");
        assert_eq!(cells[2], row["delivered_plays"].to_string(), "{key}");
    }
    assert_eq!(console_row(&page, "paris-11")[..3], ["3", "2", "2"]);
    assert_eq!(console_row(&page, "nyc-5")[0], "1");
    assert!(
        page.contains("gross impressions = delivered plays x audience multiplier"),
        "the formula is printed with the report"
    );
    // The chain is a page of its own, linked from the report's days.
    assert!(page.contains("href=\"/console/reports/chain?from=2026-12-01&amp;to=2026-12-01\""));
    let chain = harness
        .console_get(Some(&admin), &format!("/console/reports/chain?{days}"))
        .await;
    assert_eq!(chain.status, StatusCode::OK);
    assert!(
        chain
            .text()
            .contains("2 of 2 screen-days intact: chain intact."),
        "{}",
        chain.text()
    );

    // The export link downloads the raw ad log with the session.
    let export = harness
        .console_get(
            Some(&admin),
            &format!("/console/reports/export?{days}&format=csv"),
        )
        .await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(export.text().lines().count(), 1 + 4, "{}", export.text());
    assert!(page.contains(
        "href=\"/console/reports/export?from=2026-12-01&amp;to=2026-12-01&amp;format=parquet\""
    ));

    // A mistake in the form names its field, above the form kept as it was.
    let reply = harness
        .console_get(
            Some(&admin),
            &format!("/console/reports?{days}&group_by=colour&store=paris-11"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let page = reply.text();
    assert!(
        page.contains("`group_by`: `colour` is not a dimension"),
        "{page}"
    );
    assert!(page.contains("id=\"report-form\"") && page.contains("value=\"paris-11\""));
    let reply = harness
        .console_get(
            Some(&admin),
            "/console/reports?from=2026-12-02&to=2026-12-01",
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.text().contains("`to`"), "{}", reply.text());

    // Staff read their stores' plays only, and another store is the API's 403.
    let staff = harness.paris_manager().await;
    let staff = harness.console_sign_in(&staff).await;
    let page = harness
        .console_get(
            Some(&staff),
            &format!("/console/reports?{days}&group_by=screen"),
        )
        .await
        .text();
    assert_eq!(console_row(&page, "paris-screen")[0], "3");
    assert!(!page.contains("nyc-screen"), "{page}");
    let theirs = harness
        .console_get(
            Some(&staff),
            &format!("/console/reports?{days}&store=nyc-5"),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN);
    assert!(!theirs.text().contains("nyc-screen"));
    let export = harness
        .console_get(
            Some(&staff),
            &format!("/console/reports/export?{days}&format=csv"),
        )
        .await;
    assert_eq!(export.text().lines().count(), 1 + 3, "{}", export.text());
    let chain = harness
        .console_get(Some(&staff), &format!("/console/reports/chain?{days}"))
        .await
        .text();
    assert!(chain.contains("1 of 1 screen-days intact") && !chain.contains("nyc-screen"));
}
