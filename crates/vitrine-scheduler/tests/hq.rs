//! HQ's half of the API through `app()` with `oneshot` on a real SQLite database: store, segment,
//! feed and inventory imports with bad rows, campaigns, targeting and layering in manifests, offer
//! rotations that follow price and stock, QR redirects, explain and the scan report.

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vitrine_core::offer::Arm;
use vitrine_core::{Manifest, qr_token};
use vitrine_scheduler::campaigns::{HQ_LOCKED_BAND, STORE_PRIORITY_LIMIT};

mod common;

use common::{ADMIN, Harness, Reply};

const STORES: &str = "code,name,region,tags,timezone,locale,currency
paris-11,Paris Oberkampf,ile-de-france,city,Europe/Paris,fr-FR,EUR
paris-15,Paris Convention,ile-de-france,,Europe/Paris,fr-FR,EUR
lyon-2,Lyon Bellecour,auvergne-rhone-alpes,,Europe/Paris,fr-FR,EUR
";

const FEED: &str = "id\ttitle\tlink\tprice\tsale_price\tavailability
hazelnut-750\tHazelnut spread 750 g\thttps://shop.example/p/hazelnut\t5.49 EUR\t4.99 EUR\tin stock
cola-15\tCola 1.5 l\thttps://shop.example/p/cola?ref=feed\t1.79 EUR\t\tin stock
";

const INVENTORY: &str = "store_code\tid\tquantity\tprice\tsale_price
paris-11\thazelnut-750\t42\t\t
paris-15\thazelnut-750\t0\t\t
paris-11\tcola-15\t10\t\t
";

/// A store playlist with an offer slot and a store loop of priority 10.
const STORE_PLAYLIST: &str = "version: 1\nname: store\nloops:\n  - name: store-loop\n    priority: 10\n    items:\n      - offer: { slot: main-promo, duration: 10s }\n      - text: { text: Welcome, duration: 5s }\n";

const CAMPAIGN: &str = "version: 1
name: winter-sale
targets:
  regions: [ile-de-france]
from: 2020-01-01
priority: 50
loop_slots: 1
fill:
  - text: { text: Winter sale, duration: 10s }
offers:
  main-promo:
    - id: hazelnut
      product: hazelnut-750
      title: Hazelnut spread
      holdout: 10%
      control: { title: Winter sale in store }
    - id: cola
      product: cola-15
      title: Cola
      stores: [paris-11]
";

impl Harness {
    /// A harness whose manifests carry QR codes to a public address.
    fn with_public_url() -> Self {
        let harness = Self::new();
        harness.state.set_public_url("https://go.shop.example/");
        harness
    }

    async fn import(&self, path: &str, file_name: &str, source: &str) -> Reply {
        self.call(
            Method::POST,
            path,
            Some(ADMIN),
            Some(json!({"file_name": file_name, "source": source})),
        )
        .await
    }

    async fn import_ok(&self, path: &str, file_name: &str, source: &str) -> Value {
        let reply = self.import(path, file_name, source).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
        reply.json()
    }

    async fn push_campaign(&self, source: &str) -> Reply {
        self.call(
            Method::POST,
            "/v1/campaigns",
            Some(ADMIN),
            Some(json!({"file_name": "campaign.yaml", "source": source})),
        )
        .await
    }

    async fn register(&self, name: &str, store: Option<&str>, tags: &[&str]) -> String {
        let reply = self
            .call(
                Method::POST,
                "/v1/screens",
                Some(ADMIN),
                Some(json!({"name": name, "playlist": "store", "store": store, "tags": tags})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
        reply.json()["token"].as_str().expect("token").to_owned()
    }

    /// Stores, feed, inventory, the store playlist and the campaign.
    async fn seeded() -> Self {
        let harness = Self::with_public_url();
        harness.import_ok("/v1/stores", "stores.csv", STORES).await;
        harness.import_ok("/v1/feed", "products.tsv", FEED).await;
        harness
            .import_ok("/v1/feed/inventory", "inventory.tsv", INVENTORY)
            .await;
        let reply = harness
            .call(
                Method::POST,
                "/v1/playlists",
                Some(ADMIN),
                Some(json!({"file_name": "store.yaml", "source": STORE_PLAYLIST})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
        let reply = harness.push_campaign(CAMPAIGN).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
        harness
    }

    async fn manifest(&self, token: &str) -> Manifest {
        let reply = self
            .call(Method::GET, "/v1/manifest", Some(token), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
        serde_json::from_slice(&reply.body).expect("manifest")
    }
}

fn offer_ids(manifest: &Manifest) -> Vec<(String, Arm)> {
    manifest
        .offers
        .get("main-promo")
        .map(|rotation| {
            rotation
                .entries
                .iter()
                .map(|entry| (entry.offer_id.clone(), entry.arm))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn bad_feed_rows_are_reported_with_their_line_and_the_rest_is_applied() {
    let harness = Harness::with_public_url();
    harness.import_ok("/v1/stores", "stores.csv", STORES).await;
    let feed = "id\ttitle\tprice\n\
                good-1\tGood one\t1.00 EUR\n\
                bad-price\tBad price\tone euro\n\
                \tNo id\t2.00 EUR\n\
                short-row\tToo short\n\
                good-2\tGood two\t2.50 EUR\n";
    let report = harness.import_ok("/v1/feed", "feed.tsv", feed).await;
    assert_eq!(report["applied"], 2, "{report}");
    let skipped: Vec<(u64, String)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["line"].as_u64().unwrap(),
                row["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert_eq!(skipped[0].0, 3);
    assert!(skipped[0].1.contains("one euro"), "{}", skipped[0].1);
    assert_eq!(skipped[1].0, 4);
    assert_eq!(skipped[2].0, 5);
    assert_eq!(harness.count("products"), 2);

    // A later feed with only broken rows loses nothing already stored.
    let report = harness
        .import_ok(
            "/v1/feed",
            "feed.tsv",
            "id\ttitle\tprice\ngood-1\tGood one\tfree\n",
        )
        .await;
    assert_eq!(report["applied"], 0);
    let price = harness.query_i64("SELECT price_cents FROM products WHERE id = 'good-1'");
    assert_eq!(price, 100);

    // Local inventory: an unknown store code and an unparseable price are errors for their rows.
    let inventory = "store_code\tid\tquantity\tprice\n\
                     paris-11\tgood-1\t5\t0.90 EUR\n\
                     nowhere\tgood-1\t5\t\n\
                     paris-11\tgood-2\t5\tcheap\n";
    let report = harness
        .import_ok("/v1/feed/inventory", "inventory.tsv", inventory)
        .await;
    assert_eq!(report["applied"], 1, "{report}");
    let reasons: Vec<(u64, &str)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["line"].as_u64().unwrap(),
                row["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(reasons[0].0, 3);
    assert!(
        reasons[0].1.contains("store code `nowhere` is not known"),
        "{reasons:?}"
    );
    assert_eq!(reasons[1].0, 4);
    assert!(reasons[1].1.contains("cheap"), "{reasons:?}");

    // A segment export naming an unknown store skips that row only.
    let segments = "store_code,segment,share\nparis-11,students,35%\nmars-1,students,0.5\n";
    let report = harness
        .import_ok("/v1/segments", "segments.csv", segments)
        .await;
    assert_eq!(report["applied"], 1);
    assert_eq!(report["skipped"][0]["line"], 3);
}

#[tokio::test]
async fn the_xml_feed_is_read_too() {
    let harness = Harness::with_public_url();
    let feed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playlists/hq/products.xml"),
    )
    .unwrap();
    let report = harness.import_ok("/v1/feed", "products.xml", &feed).await;
    assert_eq!(report["applied"], 2, "{report}");
    let brand = harness.row("SELECT brand FROM products WHERE id = '8710398500007'");
    assert_eq!(brand, [Some("Torréfacteur & Fils".to_owned())]);
}

#[tokio::test]
async fn a_campaign_that_targets_nothing_is_refused_and_the_stored_one_stays() {
    let harness = Harness::seeded().await;
    let nothing = CAMPAIGN.replace("targets:\n  regions: [ile-de-france]\n", "targets: {}\n");
    let reply = harness.push_campaign(&nothing).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = reply.json();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("targets no screen"),
        "{body}"
    );
    assert_eq!(body["error"]["diagnostics"][0]["line"], 3);
    assert_eq!(harness.count("campaigns"), 1);
    let list = harness
        .call(Method::GET, "/v1/campaigns", Some(ADMIN), None)
        .await
        .json();
    assert_eq!(list["campaigns"][0]["version"], 1);
    let shown = harness
        .call(Method::GET, "/v1/campaigns/winter-sale", Some(ADMIN), None)
        .await
        .json();
    assert_eq!(shown["source"], CAMPAIGN);
}

#[tokio::test]
async fn manifests_carry_targeted_campaigns_in_their_band_and_the_stores_offers() {
    let harness = Harness::seeded().await;
    let paris_11 = harness
        .register("paris-11.entrance", Some("paris-11"), &["entrance"])
        .await;
    let paris_15 = harness
        .register("paris-15.entrance", Some("paris-15"), &[])
        .await;
    let lyon = harness
        .register("lyon-2.entrance", Some("lyon-2"), &["entrance"])
        .await;

    let manifest = harness.manifest(&paris_11).await;
    assert_eq!(manifest.timezone, "Europe/Paris", "the store's zone");
    let store = manifest.store.as_ref().unwrap();
    assert_eq!(
        (store.code.as_str(), store.currency.as_str()),
        ("paris-11", "EUR")
    );
    assert_eq!(
        manifest.qr_base_url.as_deref(),
        Some("https://go.shop.example")
    );
    let rules = &manifest.playlist.zones[0].rules;
    let campaign_rule = rules
        .iter()
        .find(|rule| rule.name == "campaign:winter-sale")
        .unwrap();
    assert_eq!(campaign_rule.priority, HQ_LOCKED_BAND + 50);
    assert!(rules.iter().all(|rule| rule.name.starts_with("campaign:") || rule.priority <= STORE_PRIORITY_LIMIT));
    assert_eq!(
        offer_ids(&manifest),
        [
            ("cola".to_owned(), Arm::Treatment),
            ("hazelnut".to_owned(), Arm::Treatment),
            ("hazelnut".to_owned(), Arm::Control)
        ]
    );
    let rotation = &manifest.offers["main-promo"];
    let hazelnut = &rotation.entries[1];
    let price = hazelnut.card.price.as_ref().expect("the feed's price");
    assert_eq!((price.cents, price.old_cents), (499, Some(549)));
    let control = &rotation.entries[2];
    assert_eq!(control.card.price, None, "a holdout control shows no price");
    assert_eq!(hazelnut.holdout_basis_points, 1_000);
    assert!(!hazelnut.windows.is_empty());

    // Out of stock at paris-15: the hazelnut offer is not scheduled there, and the cola is for
    // paris-11 only.
    let manifest = harness.manifest(&paris_15).await;
    assert!(
        offer_ids(&manifest).is_empty(),
        "{:?}",
        offer_ids(&manifest)
    );
    // Lyon is outside the targeted region.
    let manifest = harness.manifest(&lyon).await;
    assert!(manifest.offers.is_empty());
    assert!(
        manifest.playlist.zones[0]
            .rules
            .iter()
            .all(|rule| !rule.name.starts_with("campaign:"))
    );

    // A price change in the store's inventory reaches the manifest.
    harness
        .import_ok(
            "/v1/feed/inventory",
            "inventory.tsv",
            "store_code\tid\tquantity\tprice\nparis-11\thazelnut-750\t40\t3.99 EUR\n",
        )
        .await;
    let manifest = harness.manifest(&paris_11).await;
    let hazelnut = manifest.offers["main-promo"]
        .entries
        .iter()
        .find(|entry| entry.offer_id == "hazelnut")
        .unwrap();
    let price = hazelnut.card.price.as_ref().expect("the store's price");
    assert_eq!((price.cents, price.old_cents), (399, None));
    // And stock running out removes it.
    harness
        .import_ok(
            "/v1/feed/inventory",
            "inventory.tsv",
            "store_code\tid\tquantity\nparis-11\thazelnut-750\t0\n",
        )
        .await;
    let manifest = harness.manifest(&paris_11).await;
    assert_eq!(offer_ids(&manifest), [("cola".to_owned(), Arm::Treatment)]);
}

fn hazelnut_price(manifest: &Manifest) -> Option<(i64, Option<i64>)> {
    let entry = manifest
        .offers
        .get("main-promo")?
        .entries
        .iter()
        .find(|entry| entry.offer_id == "hazelnut" && entry.arm == Arm::Treatment)?;
    let price = entry.card.price.as_ref()?;
    Some((price.cents, price.old_cents))
}

#[tokio::test]
async fn local_inventory_reads_googles_and_criteos_columns() {
    let harness = Harness::seeded().await;
    let paris_11 = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;

    // Google's columns in another order, with an availability instead of a count, a sale window
    // in force, pickup, and rows that are wrong for one reason each.
    let google = "id\tstore_code\tavailability\tprice\tsale_price\tsale_price_effective_date\tpickup_method\tpickup_sla
hazelnut-750\tparis-11\tin stock\t5.29 EUR\t3.99 EUR\t2020-01-01/2099-12-31\tbuy\tsame day
cola-15\tparis-11\tout of stock\t\t\t\t\t
cola-15\tparis-15\tin stock\t5.00 USD\t\t\t\t
hazelnut-750\tlyon-2\tin stock\t\t\t\tcarrier pigeon\t
hazelnut-750\tparis-15\t\t\t\t\t\t
";
    let report = harness
        .import_ok("/v1/feed/inventory", "local.tsv", google)
        .await;
    assert_eq!(report["applied"], 2, "{report}");
    let skipped: Vec<(u64, String)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["line"].as_u64().unwrap(),
                row["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert_eq!(skipped[0].0, 4);
    assert!(
        skipped[0].1.contains("store `paris-15` sells in EUR"),
        "{skipped:?}"
    );
    assert_eq!(skipped[1].0, 5);
    assert!(
        skipped[1].1.contains("pickup_method `carrier_pigeon`"),
        "{skipped:?}"
    );
    assert_eq!(skipped[2].0, 6);
    assert!(
        skipped[2]
            .1
            .contains("neither a `quantity` nor an `availability`"),
        "{skipped:?}"
    );
    assert_eq!(
        report["diff"]["price_changed"]["ids"],
        json!(["paris-11/hazelnut-750"])
    );
    assert_eq!(
        report["diff"]["out_of_stock"]["ids"],
        json!(["paris-11/cola-15"])
    );
    let manifest = harness.manifest(&paris_11).await;
    assert_eq!(hazelnut_price(&manifest), Some((399, Some(529))));
    assert_eq!(
        offer_ids(&manifest),
        [
            ("hazelnut".to_owned(), Arm::Treatment),
            ("hazelnut".to_owned(), Arm::Control)
        ],
        "the cola is out of stock at paris-11"
    );
    let pickup = harness.row(
        "SELECT pickup_method, pickup_sla FROM inventory
         WHERE store = 'paris-11' AND product = 'hazelnut-750'",
    );
    assert_eq!(
        pickup,
        [Some("buy".to_owned()), Some("same day".to_owned())]
    );

    // A sale window that has ended leaves the store's regular price.
    let ended = google.replace("2020-01-01/2099-12-31", "2020-01-01/2020-01-31");
    harness
        .import("/v1/feed/inventory", "local.tsv", &ended)
        .await;
    let manifest = harness.manifest(&paris_11).await;
    assert_eq!(hazelnut_price(&manifest), Some((529, None)));

    // Criteo's columns, as CSV: prices without a currency are the store's.
    let criteo = "store_id,item_id,quantity,price,sale_price,availability
paris-11,hazelnut-750,7,4.10,,in stock
paris-11,cola-15,3,1.50,1.25,in stock
";
    let report = harness
        .import_ok("/v1/feed/inventory", "criteo.csv", criteo)
        .await;
    assert_eq!(report["applied"], 2, "{report}");
    assert_eq!(
        report["diff"]["back_in_stock"]["ids"],
        json!(["paris-11/cola-15"])
    );
    let manifest = harness.manifest(&paris_11).await;
    assert_eq!(hazelnut_price(&manifest), Some((410, None)));
    let row = harness.row(
        "SELECT quantity, currency FROM inventory
         WHERE store = 'paris-11' AND product = 'cola-15'",
    );
    assert_eq!(row, [Some("3".to_owned()), Some("EUR".to_owned())]);
}

#[tokio::test]
async fn a_replacing_feed_removes_what_it_no_longer_lists_but_never_a_skipped_item() {
    let harness = Harness::seeded().await;
    let paris_11 = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    let replace =
        |source: &str| json!({"file_name": "feed.tsv", "source": source, "replace": true});
    // The cola's row is broken: it is skipped, and kept as it was.
    let broken_cola =
        "id\ttitle\tprice\nhazelnut-750\tHazelnut spread 750 g\t5.49 EUR\ncola-15\tCola\tfree\n";
    let reply = harness
        .call(
            Method::POST,
            "/v1/feed",
            Some(ADMIN),
            Some(replace(broken_cola)),
        )
        .await;
    let report = reply.json();
    assert_eq!(report["diff"]["removed"]["count"], 0, "{report}");
    assert_eq!(report["skipped"][0]["line"], 3);
    assert!(
        offer_ids(&harness.manifest(&paris_11).await)
            .contains(&("cola".to_owned(), Arm::Treatment))
    );

    // Without `replace`, a feed that leaves a product out keeps it.
    let only_hazelnut = "id\ttitle\tprice\nhazelnut-750\tHazelnut spread 750 g\t5.49 EUR\n";
    let report = harness
        .import_ok("/v1/feed", "feed.tsv", only_hazelnut)
        .await;
    assert_eq!(report["diff"]["removed"]["count"], 0, "{report}");
    assert_eq!(report["diff"]["unchanged"], 1, "{report}");

    // Replacing, it removes it: the offer leaves the screen, and the row stays, marked.
    let reply = harness
        .call(
            Method::POST,
            "/v1/feed",
            Some(ADMIN),
            Some(replace(only_hazelnut)),
        )
        .await;
    let report = reply.json();
    assert_eq!(
        report["diff"]["removed"]["ids"],
        json!(["cola-15"]),
        "{report}"
    );
    assert!(
        !offer_ids(&harness.manifest(&paris_11).await)
            .contains(&("cola".to_owned(), Arm::Treatment))
    );
    assert_eq!(harness.count("products"), 2);

    // Listed again, it is added back.
    let report = harness.import_ok("/v1/feed", "feed.tsv", FEED).await;
    assert_eq!(
        report["diff"]["added"]["ids"],
        json!(["cola-15"]),
        "{report}"
    );
    assert!(
        offer_ids(&harness.manifest(&paris_11).await)
            .contains(&("cola".to_owned(), Arm::Treatment))
    );
}

#[tokio::test]
async fn a_product_priced_in_another_currency_is_refused_per_store() {
    let harness = Harness::seeded().await;
    let paris_11 = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    let report = harness
        .import_ok(
            "/v1/feed",
            "feed.tsv",
            &FEED.replace("5.49 EUR\t4.99 EUR", "5.49 GBP\t4.99 GBP"),
        )
        .await;
    let refused = report["refused_stores"].as_array().expect("refused stores");
    assert_eq!(refused.len(), 3, "{report}");
    assert_eq!(refused[0]["store"], "lyon-2");
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("sells in EUR, but products of this feed are priced otherwise (1 in GBP)"),
        "{report}"
    );
    let manifest = harness.manifest(&paris_11).await;
    assert_eq!(
        hazelnut_price(&manifest),
        None,
        "no card in the wrong currency"
    );
    let explain = harness
        .call(
            Method::GET,
            &format!(
                "/v1/explain?screen=paris-11.entrance&at={}&slot=main-promo",
                jiff::Timestamp::now()
            ),
            Some(ADMIN),
            None,
        )
        .await;
    assert!(
        explain
            .json()
            .to_string()
            .contains("priced in GBP, but store `paris-11` sells in EUR"),
        "{}",
        explain.json()
    );
}

#[tokio::test]
async fn a_card_carries_the_unit_price_of_the_price_in_force() {
    let harness = Harness::seeded().await;
    let paris_11 = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    let feed = "id\ttitle\tprice\tsale_price\tunit_pricing_measure\tunit_pricing_base_measure
hazelnut-750\tHazelnut spread 750 g\t5.49 EUR\t4.99 EUR\t750g\t1kg
";
    harness.import_ok("/v1/feed", "feed.tsv", feed).await;
    let manifest = harness.manifest(&paris_11).await;
    let hazelnut = manifest.offers["main-promo"]
        .entries
        .iter()
        .find(|entry| entry.offer_id == "hazelnut" && entry.arm == Arm::Treatment)
        .unwrap();
    // 4.99 EUR for 750 g is 6.65 EUR a kilo: the sale price's, since it is in force.
    let unit = hazelnut.card.unit_price.as_ref().expect("a unit price");
    assert_eq!((unit.cents, unit.per.as_str()), (665, "kg"));
}

#[tokio::test]
async fn a_sale_window_cuts_the_offer_so_the_manifest_shows_the_price_in_force_at_each_instant() {
    let harness = Harness::seeded().await;
    let paris_11 = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    // A sale from the day after tomorrow to the day after, written without an offset: Paris time.
    let paris = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
    let today = jiff::Timestamp::now().to_zoned(paris.clone()).date();
    let (start, end) = (
        today.checked_add(jiff::ToSpan::days(2)).unwrap(),
        today.checked_add(jiff::ToSpan::days(3)).unwrap(),
    );
    let feed = format!(
        "id\ttitle\tprice\tsale_price\tsale_price_effective_date\n\
         hazelnut-750\tHazelnut spread 750 g\t5.49 EUR\t4.99 EUR\t{start}/{end}\n"
    );
    harness.import_ok("/v1/feed", "feed.tsv", &feed).await;
    let manifest = harness.manifest(&paris_11).await;
    let treatments: Vec<_> = manifest.offers["main-promo"]
        .entries
        .iter()
        .filter(|entry| entry.offer_id == "hazelnut" && entry.arm == Arm::Treatment)
        .collect();
    assert_eq!(treatments.len(), 2, "{treatments:#?}");
    let sale_start = start.to_zoned(paris.clone()).unwrap().timestamp();
    let sale_end = end
        .checked_add(jiff::ToSpan::days(1))
        .unwrap()
        .to_zoned(paris)
        .unwrap()
        .timestamp();
    for entry in &treatments {
        let price = entry.card.price.as_ref().unwrap();
        let on_sale = price.old_cents.is_some();
        assert_eq!(
            (price.cents, price.old_cents),
            if on_sale {
                (499, Some(549))
            } else {
                (549, None)
            }
        );
        for window in &entry.windows {
            let inside = window.start >= sale_start && window.end <= sale_end;
            let outside = window.end <= sale_start || window.start >= sale_end;
            assert!(
                if on_sale { inside } else { outside },
                "{on_sale}: {window:?} against {sale_start}..{sale_end}"
            );
        }
    }
    // Together they cover what the one entry covered; the control keeps all of it.
    let control = manifest.offers["main-promo"]
        .entries
        .iter()
        .find(|entry| entry.offer_id == "hazelnut" && entry.arm == Arm::Control)
        .unwrap();
    let covered = |windows: &mut dyn Iterator<Item = &vitrine_core::offer::ValidityWindow>| {
        windows
            .map(|window| window.end.duration_since(window.start).as_secs())
            .sum::<i64>()
    };
    assert_eq!(
        covered(&mut treatments.iter().flat_map(|entry| &entry.windows)),
        covered(&mut control.windows.iter())
    );
}

#[tokio::test]
async fn a_feed_streamed_as_the_body_is_imported_gzipped_or_not_within_the_size_limit() {
    let harness = Harness::with_public_url();
    harness.import_ok("/v1/stores", "stores.csv", STORES).await;
    let upload = |query: &str, body: Vec<u8>, gzip: bool| {
        let mut request = axum::http::Request::post(format!("/v1/feed/upload?{query}"))
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"));
        if gzip {
            request = request.header(header::CONTENT_ENCODING, "gzip");
        }
        let request = request.body(axum::body::Body::from(body)).unwrap();
        harness.send(request)
    };
    let rss = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../playlists/hq/products.rss.xml"),
    )
    .unwrap();
    // By its name or its first byte, XML; gzipped on the wire.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, &rss).unwrap();
    let reply = upload(
        "file_name=products.rss.xml",
        encoder.finish().unwrap(),
        true,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let report = reply.json();
    assert_eq!(report["applied"], 5, "{report}");
    assert_eq!(report["diff"]["added"]["count"], 5, "{report}");
    // TSV, replacing: what it leaves out is removed.
    let reply = upload(
        "file_name=feed.tsv&replace=true",
        FEED.as_bytes().to_vec(),
        false,
    )
    .await;
    let report = reply.json();
    assert_eq!(report["diff"]["added"]["count"], 2, "{report}");
    assert_eq!(report["diff"]["removed"]["count"], 5, "{report}");
    // Broken XML is refused whole, naming where.
    let reply = upload("file_name=x.xml", b"<rss><channel><item>".to_vec(), false).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.error_message().contains("never ends"),
        "{}",
        reply.json()
    );
    // Over the limit: refused, nothing applied.
    harness
        .state
        .set_feed_policy(vitrine_scheduler::feed::fetch::FetchPolicy {
            max_bytes: 16,
            ..Default::default()
        });
    let reply = upload("file_name=feed.tsv", FEED.as_bytes().to_vec(), false).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.json()
    );
    assert!(
        reply.error_message().contains("limited to 16 bytes"),
        "{}",
        reply.json()
    );
}

#[tokio::test]
async fn a_screen_in_an_unknown_store_is_refused() {
    let harness = Harness::seeded().await;
    let reply = harness
        .call(
            Method::POST,
            "/v1/screens",
            Some(ADMIN),
            Some(json!({"name": "x", "playlist": "store", "store": "nowhere"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["error"]["code"], "store_not_found");
    assert_eq!(harness.count("screens"), 0);
    let screens = harness
        .call(Method::GET, "/v1/screens", Some(ADMIN), None)
        .await
        .json();
    assert_eq!(screens["screens"], json!([]));
}

#[tokio::test]
async fn a_qr_scan_is_recorded_and_redirected_with_utm_and_a_forged_one_gets_a_page() {
    let harness = Harness::seeded().await;
    let token = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let played_at = jiff::Timestamp::now();
    let play = qr_token::encode("paris-11.entrance", "cola", Arm::Control, played_at, &key);

    let reply = harness
        .call(Method::GET, &format!("/q/{play}"), None, None)
        .await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert_eq!(
        reply.headers[header::LOCATION],
        "https://shop.example/p/cola?ref=feed&utm_source=vitrine&utm_medium=screen&utm_campaign=winter-sale&utm_content=cola"
    );
    let scan = harness.row("SELECT screen, offer, arm, campaign FROM scans");
    assert_eq!(
        scan,
        ["paris-11.entrance", "cola", "control", "winter-sale"].map(|value| Some(value.to_owned()))
    );

    let forged = qr_token::encode(
        "paris-11.entrance",
        "cola",
        Arm::Treatment,
        played_at,
        &[1; 32],
    );
    let old = qr_token::encode(
        "paris-11.entrance",
        "cola",
        Arm::Treatment,
        played_at - jiff::SignedDuration::from_hours(25),
        &key,
    );
    for bad in [forged.as_str(), old.as_str(), "junk"] {
        let reply = harness
            .call(Method::GET, &format!("/q/{bad}"), None, None)
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{bad}");
        assert!(String::from_utf8_lossy(&reply.body).contains("no longer available"));
    }
    assert_eq!(harness.count("scans"), 1);
}

#[tokio::test]
async fn pushing_an_unchanged_playlist_keeps_its_version() {
    let harness = Harness::seeded().await;
    let push = |source: String| {
        let harness = &harness;
        async move {
            harness
                .call(
                    Method::POST,
                    "/v1/playlists",
                    Some(ADMIN),
                    Some(json!({"file_name": "store.yaml", "source": source})),
                )
                .await
        }
    };
    let reply = push(STORE_PLAYLIST.to_owned()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    assert_eq!(reply.json()["version"], 1);
    assert_eq!(reply.json()["unchanged"], true);
    let versions = || harness.query_i64("SELECT COUNT(*) FROM playlists WHERE name = 'store'");
    assert_eq!(versions(), 1, "nothing new is stored");
    let changed = format!("{STORE_PLAYLIST}# a comment changes the source\n");
    let reply = push(changed).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
    assert_eq!(reply.json()["version"], 2);
    assert!(reply.json().get("unchanged").is_none(), "{}", reply.json());
    assert_eq!(versions(), 2);
}

#[tokio::test]
async fn a_campaign_targets_screens_by_name_and_tag_and_plays_its_fill_on_its_weekdays() {
    let harness = Harness::seeded().await;
    let tagged = harness
        .register("paris-11.entrance", Some("paris-11"), &["entrance"])
        .await;
    let untagged = harness
        .register("paris-11.checkout", Some("paris-11"), &[])
        .await;
    let by_tag = "version: 1
name: by-tag
targets:
  tags: [entrance]
from: 2020-01-01
weekdays: [sat, sun]
loop_slots: 1
fill:
  - clock: { format: \"%H:%M\", duration: 5s }
  - offer: { slot: main-promo, duration: 5s }
";
    let by_name = "version: 1
name: by-name
targets:
  screens: [paris-11.checkout]
from: 2020-01-01
loop_slots: 1
fill:
  - text: { text: Checkout, duration: 5s }
";
    for campaign in [by_tag, by_name] {
        let reply = harness.push_campaign(campaign).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
    }
    let campaign_rules = |manifest: &Manifest| -> Vec<String> {
        manifest.playlist.zones[0]
            .rules
            .iter()
            .map(|rule| rule.name.clone())
            .filter(|name| name.starts_with("campaign:by-"))
            .collect()
    };
    let manifest = harness.manifest(&tagged).await;
    assert_eq!(
        campaign_rules(&manifest),
        vec!["campaign:by-tag".to_owned()]
    );
    let rule = manifest.playlist.zones[0]
        .rules
        .iter()
        .find(|rule| rule.name == "campaign:by-tag")
        .unwrap();
    let kinds: Vec<&str> = rule
        .items
        .iter()
        .map(|item| match &item.content {
            vitrine_core::playlist::Content::Clock { .. } => "clock",
            vitrine_core::playlist::Content::Offer { .. } => "offer",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["clock", "offer"], "the fill, in order");
    use jiff::civil::Weekday;
    let days: Vec<Weekday> = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ]
    .into_iter()
    .filter(|day| rule.weekdays.contains(*day))
    .collect();
    assert_eq!(
        days,
        [Weekday::Saturday, Weekday::Sunday],
        "its weekdays only"
    );
    let manifest = harness.manifest(&untagged).await;
    assert_eq!(
        campaign_rules(&manifest),
        vec!["campaign:by-name".to_owned()]
    );
}

#[tokio::test]
async fn a_frequency_cap_spaces_a_campaigns_plays_out() {
    let harness = Harness::seeded().await;
    let token = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    let every_ms = |manifest: &Manifest| {
        let rule = manifest.playlist.zones[0]
            .rules
            .iter()
            .find(|rule| rule.name == "campaign:spaced")
            .expect("the campaign's rule");
        match rule.kind {
            vitrine_core::playlist::RuleKind::Interrupt { every } => every.as_millis(),
            vitrine_core::playlist::RuleKind::Loop => panic!("{rule:?}"),
        }
    };
    let campaign = "version: 1
name: spaced
targets: { all: true }
from: 2020-01-01
share_of_voice: 20%
fill:
  - text: { text: Spaced, duration: 10s }
";
    let reply = harness.push_campaign(campaign).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
    // 10 s at 20% of the time: every 50 s.
    assert_eq!(every_ms(&harness.manifest(&token).await), 50_000);
    let capped = "version: 1
name: spaced
targets: { all: true }
from: 2020-01-01
share_of_voice: 20%
frequency_cap: { max: 6, per: 1h }
fill:
  - text: { text: Spaced, duration: 10s }
";
    let reply = harness.push_campaign(capped).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
    // At most 6 an hour: every 10 minutes.
    assert_eq!(every_ms(&harness.manifest(&token).await), 600_000);
}

#[tokio::test]
async fn a_card_has_a_qr_code_exactly_when_its_scan_is_redirected() {
    let harness = Harness::seeded().await;
    let free = "version: 1
name: free-content
targets:
  regions: [ile-de-france]
from: 2020-01-01
loop_slots: 1
fill:
  - text: { text: Breakfast, duration: 10s }
offers:
  main-promo:
    - { id: coffee, title: Coffee + pastry, price: \"2,50 €\" }
    - { id: map, title: Find us, url: \"https://shop.example/stores\" }
";
    let reply = harness.push_campaign(free).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
    let token = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let manifest = harness.manifest(&token).await;
    let rotation = &manifest.offers["main-promo"];
    let mut checked = Vec::new();
    for entry in &rotation.entries {
        let play = qr_token::encode(
            "paris-11.entrance",
            &entry.offer_id,
            entry.arm,
            jiff::Timestamp::now(),
            &key,
        );
        let reply = harness
            .call(Method::GET, &format!("/q/{play}"), None, None)
            .await;
        let redirected = reply.status == StatusCode::FOUND;
        assert_eq!(
            entry.card.has_destination, redirected,
            "offer `{}` ({}): a QR code on its card must lead somewhere, and only then",
            entry.offer_id, entry.arm
        );
        checked.push((entry.offer_id.as_str(), entry.card.has_destination));
    }
    checked.sort();
    checked.dedup();
    assert_eq!(
        checked,
        [
            ("coffee", false),
            ("cola", true),
            ("hazelnut", true),
            ("map", true)
        ]
    );
}

#[tokio::test]
async fn explain_says_a_campaign_outside_its_dayparts_does_not_apply() {
    let harness = Harness::seeded().await;
    harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    let mornings = "version: 1
name: mornings
targets: { all: true }
from: 2020-01-01
dayparts:
  morning: \"08:00-11:00\"
loop_slots: 1
fill:
  - text: { text: Good morning, duration: 10s }
";
    let reply = harness.push_campaign(mornings).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
    let applies = |at: &'static str| {
        let harness = &harness;
        async move {
            let reply = harness
                .call(
                    Method::GET,
                    &format!("/v1/explain?screen=paris-11.entrance&at={at}"),
                    Some(ADMIN),
                    None,
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
            let explanation = reply.json();
            let campaigns = explanation["campaigns"].as_array().unwrap().clone();
            let applies = |name: &str| {
                campaigns
                    .iter()
                    .find(|campaign| campaign["name"] == name)
                    .unwrap_or_else(|| panic!("{name} targets the screen: {explanation}"))["applies"]
                    .clone()
            };
            (applies("mornings"), applies("winter-sale"))
        }
    };
    // Paris is UTC+1 in March: 08:30 UTC is 09:30 in the store, 14:00 UTC is 15:00.
    assert_eq!(
        applies("2026-03-02T08:30:00Z").await,
        (json!(true), json!(true))
    );
    assert_eq!(
        applies("2026-03-02T14:00:00Z").await,
        (json!(false), json!(true)),
        "the morning campaign targets the screen but is outside its daypart"
    );
}

#[tokio::test]
async fn explain_says_why_an_offer_shows_and_reports_measure_uplift() {
    let harness = Harness::seeded().await;
    harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    harness
        .register("paris-15.entrance", Some("paris-15"), &[])
        .await;
    let at = "2026-03-02T09:00:00Z";
    let reply = harness
        .call(
            Method::GET,
            &format!("/v1/explain?screen=paris-15.entrance&at={at}&slot=main-promo"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let explanation = reply.json();
    assert_eq!(
        explanation["campaigns"][0]["because"],
        "it targets region `ile-de-france`"
    );
    let excluded = explanation["offers"][0]["excluded"].as_array().unwrap();
    let reasons: Vec<&str> = excluded
        .iter()
        .map(|row| row["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|reason| reason.contains("out of stock at store `paris-15`")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|reason| reason.contains("only for stores paris-11")),
        "{reasons:?}"
    );

    let reply = harness
        .call(
            Method::GET,
            &format!("/v1/explain?screen=paris-11.entrance&at={at}&slot=main-promo"),
            Some(ADMIN),
            None,
        )
        .await;
    let slot = &reply.json()["offers"][0];
    assert!(slot["shows"]["offer_id"].is_string(), "{slot}");
    assert_eq!(
        slot["pick"]["considered"].as_array().unwrap().len(),
        2,
        "{slot}"
    );

    // Impressions of offers (as players report them) and scans make the report.
    let plays: Vec<String> = ["treatment"; 100]
        .into_iter()
        .chain(["control"; 100])
        .enumerate()
        .map(|(index, arm)| {
            format!(
                "('00000000-0000-7000-8000-{index:012}', 'paris-11.entrance', 'store', 1, 'item-1',
                  '2026-03-02T09:00:00.000000000Z', 10000, 'winter-sale', 'hazelnut', '{arm}')"
            )
        })
        .collect();
    insert_impressions(
        &harness,
        "(id, screen, playlist, playlist_version, item_id, started_at, duration_ms,
          offer_campaign, offer_id, offer_arm)",
        &plays,
    );
    // Scans of those plays: one phone each, on six treatment plays and two control plays.
    for (count, arm) in [(6, "treatment"), (2, "control")] {
        for index in 0..count {
            harness.execute(&format!(
                "INSERT INTO scans (token, screen, campaign, offer, arm, played_at, scanned_at)
                 VALUES ('{arm}-{index}', 'paris-11.entrance', 'winter-sale', 'hazelnut', '{arm}',
                    '2026-03-02T09:00:00.000000000Z', '2026-03-02T09:00:05.000000000Z')"
            ));
        }
    }
    let report = harness
        .call(
            Method::GET,
            "/v1/reports/scans?campaign=winter-sale",
            Some(ADMIN),
            None,
        )
        .await
        .json();
    assert_eq!(report["rows"].as_array().unwrap().len(), 2, "{report}");
    let uplift = &report["uplift"][0];
    assert_eq!(uplift["offer"], "hazelnut");
    assert!(
        (uplift["absolute"].as_f64().unwrap() - 0.04).abs() < 1e-9,
        "{report}"
    );
    assert!(
        (uplift["relative"].as_f64().unwrap() - 2.0).abs() < 1e-9,
        "{report}"
    );
}

#[tokio::test]
async fn the_sample_hq_files_import_cleanly() {
    let harness = Harness::with_public_url();
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playlists/hq");
    for (path, file) in [
        ("/v1/stores", "stores.csv"),
        ("/v1/segments", "segments.csv"),
        ("/v1/feed", "products.tsv"),
        ("/v1/feed", "products.xml"),
        ("/v1/feed", "products.rss.xml"),
        ("/v1/feed", "products.atom.xml"),
        ("/v1/feed/inventory", "inventory.tsv"),
    ] {
        let source = std::fs::read_to_string(folder.join(file)).unwrap();
        let report = harness.import_ok(path, file, &source).await;
        assert_eq!(report["skipped"], json!([]), "{file}: {report}");
    }
}

/// A hit on `/q/{play}` from a phone at `address`.
async fn scan_from(harness: &Harness, play: &str, address: &str) -> Reply {
    scan_with_browser(harness, play, address, "Mozilla/5.0 (Phone)").await
}

/// A hit on `/q/{play}` from a phone at `address` whose browser says it is `user_agent`.
async fn scan_with_browser(
    harness: &Harness,
    play: &str,
    address: &str,
    user_agent: &str,
) -> Reply {
    let mut request = common::request(Method::GET, &format!("/q/{play}"), None, None);
    request.headers_mut().insert(
        header::USER_AGENT,
        user_agent.parse().expect("a header value"),
    );
    harness.send(common::from_address(request, address)).await
}

#[tokio::test]
async fn a_replayed_code_counts_once_per_phone_and_its_hits_are_bounded() {
    let harness = Harness::seeded().await;
    let token = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let played_at = jiff::Timestamp::now();
    let play = qr_token::encode("paris-11.entrance", "cola", Arm::Treatment, played_at, &key);
    insert_offer_play(
        &harness,
        "paris-11.entrance",
        "cola",
        "treatment",
        played_at,
    );
    // One photographed code, replayed from one phone.
    for _ in 0..300 {
        let reply = scan_from(&harness, &play, "203.0.113.20:5000").await;
        assert_eq!(
            reply.status,
            StatusCode::FOUND,
            "every hit still leads to the product"
        );
    }
    // A second shopper scans the same play.
    assert_eq!(
        scan_from(&harness, &play, "203.0.113.21:5000").await.status,
        StatusCode::FOUND
    );
    let report = harness
        .call(
            Method::GET,
            "/v1/reports/scans?campaign=winter-sale",
            Some(ADMIN),
            None,
        )
        .await
        .json();
    let cola = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["offer"] == "cola" && row["arm"] == "treatment")
        .unwrap_or_else(|| panic!("no cola row: {report}"))
        .clone();
    assert_eq!(cola["scans"], 1, "one scanned play, {report}");
    assert_eq!(cola["scan_devices"], 2, "one per phone, {report}");
    assert_eq!(
        cola["scan_hits"],
        vitrine_scheduler::qr::MAX_HITS_PER_TOKEN + 1,
        "raw hits, repeats bounded per code: {report}"
    );
    // Made-up browsers from one address count as devices only up to a bound per code.
    for index in 0..100 {
        let reply = scan_with_browser(
            &harness,
            &play,
            "203.0.113.20:5000",
            &format!("Browser/{index}"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::FOUND);
    }
    let unique = harness.query_i64("SELECT COUNT(*) FROM scans WHERE first_of_device");
    assert_eq!(unique, vitrine_scheduler::qr::MAX_UNIQUE_SCANS_PER_TOKEN);
}

#[tokio::test]
async fn a_revoked_screens_codes_stop_verifying_from_the_revocation() {
    let harness = Harness::seeded().await;
    let token = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let now = jiff::Timestamp::now();
    let before = qr_token::encode(
        "paris-11.entrance",
        "cola",
        Arm::Treatment,
        now - jiff::SignedDuration::from_mins(2),
        &key,
    );
    let reply = harness
        .call(
            Method::POST,
            "/v1/screens/paris-11.entrance/revoke",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    // Signed with the same key after the revocation: whoever holds the token now is not the
    // screen HQ trusted.
    let after = qr_token::encode(
        "paris-11.entrance",
        "cola",
        Arm::Treatment,
        jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1),
        &key,
    );
    assert_eq!(
        scan_from(&harness, &before, "203.0.113.30:1").await.status,
        StatusCode::FOUND,
        "a play from before the revocation still leads to its offer"
    );
    let refused = scan_from(&harness, &after, "203.0.113.30:1").await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(harness.count("scans"), 1);
}

/// An impression of an offer play, as a player of `screen` reports it.
fn offer_impression(screen: &str, sequence: u64, campaign: &str, offer: &str, arm: &str) -> Value {
    json!({
        "id": uuid::Uuid::now_v7(),
        "sequence": sequence,
        "screen": screen,
        "playlist": "store",
        "playlist_version": 1,
        "zone": "main",
        "item_id": "store-loop/0",
        "scheduled_start": "2026-03-02T09:00:00Z",
        "started_at": "2026-03-02T09:00:00Z",
        "ended_at": "2026-03-02T09:00:10Z",
        "completed": true,
        "clock": "synced",
        "offer": {"offer_id": offer, "campaign": campaign, "arm": arm},
    })
}

async fn post_batch(harness: &Harness, token: &str, impressions: Vec<Value>) -> Reply {
    let body = json!({ "impressions": impressions }).to_string();
    let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/v1/impressions")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            vitrine_core::impression::SIGNATURE_HEADER,
            vitrine_core::impression::sign_batch(&key, body.as_bytes()),
        )
        .body(axum::body::Body::from(body))
        .expect("request");
    harness.send(request).await
}

#[tokio::test]
async fn a_partial_play_is_reported_apart_and_never_as_an_impression() {
    let harness = Harness::seeded().await;
    let paris_11 = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    harness.manifest(&paris_11).await;
    let whole = offer_impression("paris-11.entrance", 1, "winter-sale", "cola", "treatment");
    // The player started 9.6 s into the card's 10 s turn: a glimpse.
    let mut glimpse = offer_impression("paris-11.entrance", 2, "winter-sale", "cola", "treatment");
    glimpse["started_at"] = json!("2026-03-02T09:00:09.600Z");
    glimpse["completed"] = json!(false);
    let reply = post_batch(&harness, &paris_11, vec![whole, glimpse]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let report = harness
        .call(
            Method::GET,
            "/v1/reports/scans?campaign=winter-sale",
            Some(ADMIN),
            None,
        )
        .await
        .json();
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{report}");
    assert_eq!(
        (&rows[0]["impressions"], &rows[0]["partial_plays"]),
        (&json!(1), &json!(1)),
        "{report}"
    );
}

#[tokio::test]
async fn proof_of_play_cannot_claim_an_offer_its_screen_was_never_given() {
    let harness = Harness::seeded().await;
    let paris_11 = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    let paris_15 = harness
        .register("paris-15.entrance", Some("paris-15"), &[])
        .await;
    // Each screen fetches its manifest: cola is offered in paris-11 only, and paris-15 has
    // hazelnut out of stock.
    let manifest_11 = harness.manifest(&paris_11).await;
    assert!(offer_ids(&manifest_11).contains(&("cola".to_owned(), Arm::Treatment)));
    let manifest_15 = harness.manifest(&paris_15).await;
    assert!(
        !offer_ids(&manifest_15)
            .iter()
            .any(|(offer, _)| offer == "cola")
    );

    let reply = post_batch(
        &harness,
        &paris_11,
        vec![offer_impression(
            "paris-11.entrance",
            1,
            "winter-sale",
            "cola",
            "treatment",
        )],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let forged = vec![
        // Never sent to paris-15.
        offer_impression("paris-15.entrance", 1, "winter-sale", "cola", "treatment"),
        // No such offer anywhere.
        offer_impression(
            "paris-15.entrance",
            2,
            "winter-sale",
            "made-up",
            "treatment",
        ),
        // An arm the offer does not have.
        offer_impression("paris-15.entrance", 3, "winter-sale", "cola", "control"),
    ];
    let reply = post_batch(&harness, &paris_15, forged).await;
    // Stored as plays (nothing a player sends is lost, and it is not asked again) ...
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    assert_eq!(reply.json()["inserted"], 3);
    // A playlist version paris-11's manifests never carried.
    let mut other_version =
        offer_impression("paris-11.entrance", 2, "winter-sale", "cola", "treatment");
    other_version["playlist_version"] = json!(7);
    let reply = post_batch(&harness, &paris_11, vec![other_version]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let refused =
        harness.query_i64("SELECT COUNT(*) FROM impressions WHERE offer_refused IS NOT NULL");
    assert_eq!(refused, 4);
    // ... but no offer figure counts them.
    let report = harness
        .call(
            Method::GET,
            "/v1/reports/scans?campaign=winter-sale",
            Some(ADMIN),
            None,
        )
        .await
        .json();
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{report}");
    assert_eq!(rows[0]["offer"], "cola");
    assert_eq!(rows[0]["impressions"], 1, "{report}");
}

/// A completed play of `offer`, stored as HQ holds it once its batch is in, scheduled at
/// `scheduled_start` and on screen from a little later. Stored directly: proof-of-play checks are
/// tested above, and these plays need no manifest.
fn insert_offer_play(
    harness: &Harness,
    screen: &str,
    offer: &str,
    arm: &str,
    scheduled_start: jiff::Timestamp,
) {
    let started_at = scheduled_start + jiff::SignedDuration::from_millis(40);
    insert_impressions(
        harness,
        "(id, screen, playlist, playlist_version, item_id, started_at, duration_ms,
          offer_campaign, offer_id, offer_arm, scheduled_start, completed)",
        &[format!(
            "('{id}', '{screen}', 'store', 1, 'store-loop/0', '{started_at:.9}', 10000,
              'winter-sale', '{offer}', '{arm}', '{scheduled_start:.9}', TRUE)",
            id = uuid::Uuid::now_v7(),
        )],
    );
}

/// Stores impression rows as written, with the columns `columns` (`(id, screen, …)`): in
/// PostgreSQL, into the partition of their day and with their ids in `impression_ids`, as the
/// ingest writes them.
fn insert_impressions(harness: &Harness, columns: &str, rows: &[String]) {
    let values = rows.join(", ");
    match harness.database {
        vitrine_scheduler::Database::Sqlite => {
            harness.execute(&format!("INSERT INTO impressions {columns} VALUES {values}"));
        }
        vitrine_scheduler::Database::Postgres(_) => harness.execute(&format!(
            "CREATE TEMPORARY TABLE new_impressions (LIKE impressions INCLUDING DEFAULTS);
             INSERT INTO new_impressions {columns} VALUES {values};
             DO $$
             DECLARE day date;
             BEGIN
                 FOR day IN SELECT DISTINCT (started_at AT TIME ZONE 'UTC')::date FROM new_impressions
                 LOOP
                     EXECUTE format(
                         'CREATE TABLE IF NOT EXISTS %I PARTITION OF impressions
                          FOR VALUES FROM (%L) TO (%L)',
                         'impressions_' || to_char(day, 'YYYYMMDD'),
                         day::timestamp AT TIME ZONE 'UTC',
                         (day + 1)::timestamp AT TIME ZONE 'UTC');
                 END LOOP;
             END $$;
             INSERT INTO impression_ids (id) SELECT id FROM new_impressions;
             INSERT INTO impressions SELECT * FROM new_impressions;"
        )),
    }
}

/// The scan report's rows for `campaign`, as `token` may read them.
async fn scan_rows(harness: &Harness, token: &str) -> Vec<Value> {
    let reply = harness
        .call(
            Method::GET,
            "/v1/reports/scans?campaign=winter-sale",
            Some(token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let rows = reply.json()["rows"].as_array().expect("rows").clone();
    for row in &rows {
        let plays = row["impressions"].as_u64().unwrap() + row["partial_plays"].as_u64().unwrap();
        assert!(
            row["scans"].as_u64().unwrap() <= plays,
            "a row shows more scanned plays than plays: {row}"
        );
    }
    rows
}

fn scan_row<'a>(rows: &'a [Value], offer: &str, arm: &str) -> &'a Value {
    rows.iter()
        .find(|row| row["offer"] == offer && row["arm"] == arm)
        .unwrap_or_else(|| panic!("no {offer} {arm} row: {rows:?}"))
}

#[tokio::test]
async fn a_scan_is_pending_until_its_play_arrives_then_counts_with_it() {
    let harness = Harness::seeded().await;
    let token = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    harness.manifest(&token).await;
    let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    // The QR code carries the play's scheduled start in milliseconds; the play's record has it to
    // the nanosecond, and its first frame a little later.
    let scheduled_start = jiff::Timestamp::now() - jiff::SignedDuration::from_nanos(60_000_123_456);
    let play = qr_token::encode(
        "paris-11.entrance",
        "cola",
        Arm::Treatment,
        scheduled_start,
        &key,
    );
    // A later play of a playlist version the screen was never given: its offer will be refused.
    let refused_start = scheduled_start + jiff::SignedDuration::from_secs(10);
    let refused_play = qr_token::encode(
        "paris-11.entrance",
        "cola",
        Arm::Treatment,
        refused_start,
        &key,
    );
    for (play, address) in [
        (&play, "203.0.113.40:1"),
        (&play, "203.0.113.41:1"),
        (&refused_play, "203.0.113.42:1"),
    ] {
        assert_eq!(
            scan_from(&harness, play, address).await.status,
            StatusCode::FOUND
        );
    }
    // The screen has not uploaded the plays yet.
    let rows = scan_rows(&harness, ADMIN).await;
    let cola = scan_row(&rows, "cola", "treatment");
    assert_eq!(
        (&cola["impressions"], &cola["scans"], &cola["pending_scans"]),
        (&json!(0), &json!(0), &json!(2)),
        "{cola}"
    );
    assert_eq!(cola["scan_rate"], Value::Null, "{cola}");

    let mut impression =
        offer_impression("paris-11.entrance", 1, "winter-sale", "cola", "treatment");
    impression["scheduled_start"] = json!(scheduled_start.to_string());
    impression["started_at"] =
        json!((scheduled_start + jiff::SignedDuration::from_millis(35)).to_string());
    impression["ended_at"] =
        json!((scheduled_start + jiff::SignedDuration::from_secs(10)).to_string());
    let mut refused = offer_impression("paris-11.entrance", 2, "winter-sale", "cola", "treatment");
    refused["playlist_version"] = json!(7);
    refused["scheduled_start"] = json!(refused_start.to_string());
    refused["started_at"] = json!(refused_start.to_string());
    refused["ended_at"] = json!((refused_start + jiff::SignedDuration::from_secs(10)).to_string());
    let reply = post_batch(&harness, &token, vec![impression, refused]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    // The play arrived and its scan counts; the refused play's scan is no longer pending, and
    // counts nowhere.
    let rows = scan_rows(&harness, ADMIN).await;
    let cola = scan_row(&rows, "cola", "treatment");
    assert_eq!(
        (
            &cola["impressions"],
            &cola["scans"],
            &cola["scan_devices"],
            &cola["scan_hits"],
            &cola["pending_scans"]
        ),
        (&json!(1), &json!(1), &json!(2), &json!(2), &json!(0)),
        "{cola}"
    );
    assert_eq!(cola["scan_rate"], json!(1.0), "{cola}");
}

#[tokio::test]
async fn no_row_shows_more_scanned_plays_than_plays() {
    let harness = Harness::seeded().await;
    let token = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let offers = [
        ("cola", "treatment"),
        ("hazelnut", "treatment"),
        ("hazelnut", "control"),
    ];
    // A fixed pseudo-random mix of plays: held or not yet uploaded, each scanned by none to three
    // phones, some phones scanning twice, and some plays recorded twice (the player restarted
    // mid-turn and joined the same turn again).
    let mut seed: u64 = 0x5eed;
    let mut next = |bound: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % bound
    };
    let base = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2);
    let mut scanned_plays: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    for play_index in 0..60_i64 {
        let (offer, arm) = offers[next(offers.len() as u64) as usize];
        let scheduled_start = base + jiff::SignedDuration::from_millis(play_index * 10_007);
        let held = next(3) > 0;
        if held {
            for _ in 0..=next(2) {
                insert_offer_play(&harness, "paris-11.entrance", offer, arm, scheduled_start);
            }
        }
        let phones = next(4);
        if phones > 0 {
            *scanned_plays.entry((offer, arm)).or_default() += 1;
        }
        let play = qr_token::encode(
            "paris-11.entrance",
            offer,
            arm.parse().expect("an arm"),
            scheduled_start,
            &key,
        );
        for phone in 0..phones {
            for _ in 0..=next(2) {
                let address = format!("198.51.100.{phone}:1");
                assert_eq!(
                    scan_from(&harness, &play, &address).await.status,
                    StatusCode::FOUND
                );
            }
        }
    }
    // `scan_rows` checks scans <= plays on every row; every scanned play is either counted or
    // pending.
    let rows = scan_rows(&harness, ADMIN).await;
    for ((offer, arm), scanned) in scanned_plays {
        let row = scan_row(&rows, offer, arm);
        assert_eq!(
            row["scans"].as_u64().unwrap() + row["pending_scans"].as_u64().unwrap(),
            scanned,
            "{row}"
        );
    }
}

#[tokio::test]
async fn staff_read_only_their_stores_scan_figures() {
    let harness = Harness::seeded().await;
    harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    harness
        .register("paris-15.entrance", Some("paris-15"), &[])
        .await;
    let reply = harness
        .call(
            Method::POST,
            "/v1/staff",
            Some(ADMIN),
            Some(json!({"name": "alice", "stores": ["paris-11"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
    let alice = reply.json()["token"].as_str().expect("token").to_owned();
    let base = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    // paris-11: three plays, one scanned; paris-15: five plays, two scanned.
    for (screen, plays, scanned) in [("paris-11.entrance", 3, 1), ("paris-15.entrance", 5, 2)] {
        for index in 0..plays {
            let scheduled_start = base + jiff::SignedDuration::from_secs(index * 20);
            insert_offer_play(&harness, screen, "hazelnut", "treatment", scheduled_start);
            if index < scanned {
                harness.execute(&format!(
                    "INSERT INTO scans (token, screen, campaign, offer, arm, played_at,
                        scanned_at)
                     VALUES ('{screen}-{index}', '{screen}', 'winter-sale', 'hazelnut',
                        'treatment', '{scheduled_start:.9}', '{scheduled_start:.9}')"
                ));
            }
        }
    }
    let everyone = scan_rows(&harness, ADMIN).await;
    let hazelnut = scan_row(&everyone, "hazelnut", "treatment");
    assert_eq!(
        (&hazelnut["impressions"], &hazelnut["scans"]),
        (&json!(8), &json!(3))
    );
    let paris_11 = scan_rows(&harness, &alice).await;
    let hazelnut = scan_row(&paris_11, "hazelnut", "treatment");
    assert_eq!(
        (&hazelnut["impressions"], &hazelnut["scans"]),
        (&json!(3), &json!(1)),
        "staff of paris-11 see only paris-11's figures: {hazelnut}"
    );
}

#[tokio::test]
async fn the_plays_report_counts_a_scanned_play_once_whichever_reaches_hq_first() {
    let harness = Harness::seeded().await;
    let token = harness
        .register("paris-11.entrance", Some("paris-11"), &[])
        .await;
    let manifest = harness.manifest(&token).await;
    assert!(offer_ids(&manifest).contains(&("hazelnut".to_owned(), Arm::Control)));
    let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .unwrap();
    let at = |seconds: i64| now - jiff::SignedDuration::from_secs(seconds);
    let play = |sequence: u64, offer: &str, arm: &str, start: jiff::Timestamp| {
        let mut record = offer_impression("paris-11.entrance", sequence, "winter-sale", offer, arm);
        record["playlist_version"] = json!(manifest.playlist_version);
        record["scheduled_start"] = json!(start.to_string());
        record["started_at"] = json!(start.to_string());
        record["ended_at"] = json!((start + jiff::SignedDuration::from_secs(10)).to_string());
        record
    };

    // Scanned before its play reaches HQ...
    let early = qr_token::encode("paris-11.entrance", "hazelnut", Arm::Control, at(60), &key);
    assert_eq!(
        scan_from(&harness, &early, "203.0.113.40:1").await.status,
        StatusCode::FOUND
    );
    let reply = post_batch(
        &harness,
        &token,
        vec![
            play(1, "hazelnut", "control", at(60)),
            play(2, "hazelnut", "treatment", at(50)),
            play(3, "hazelnut", "treatment", at(40)),
            play(4, "cola", "treatment", at(30)),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    // ...and after it, by two phones: one scanned play.
    let late = qr_token::encode(
        "paris-11.entrance",
        "hazelnut",
        Arm::Treatment,
        at(50),
        &key,
    );
    for address in ["203.0.113.41:1", "203.0.113.42:1"] {
        assert_eq!(
            scan_from(&harness, &late, address).await.status,
            StatusCode::FOUND
        );
    }

    let (yesterday, tomorrow) = (
        now - jiff::SignedDuration::from_hours(24),
        now + jiff::SignedDuration::from_hours(24),
    );
    let day = |instant: jiff::Timestamp| instant.strftime("%Y-%m-%d").to_string();
    let report = harness
        .call(
            Method::GET,
            &format!(
                "/v1/reports/plays?group_by=offer,arm&campaign=winter-sale&from={}&to={}",
                day(yesterday),
                day(tomorrow)
            ),
            Some(ADMIN),
            None,
        )
        .await
        .json();
    let figures = |offer: &str, arm: &str| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["key"] == json!([offer, arm]))
            .map(|row| {
                (
                    row["plays"].as_u64().unwrap(),
                    row["scans"].as_u64().unwrap(),
                )
            })
    };
    assert_eq!(figures("hazelnut", "control"), Some((1, 1)), "{report}");
    assert_eq!(figures("hazelnut", "treatment"), Some((2, 1)), "{report}");
    assert_eq!(figures("cola", "treatment"), Some((1, 0)), "{report}");
    let uplift = &report["uplift"][0];
    assert_eq!(uplift["offer"], "hazelnut", "{report}");
    assert_eq!(
        (
            &uplift["treatment_plays"],
            &uplift["treatment_scans"],
            &uplift["control_plays"],
            &uplift["control_scans"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(1)),
        "{report}"
    );
    assert_eq!(uplift["uplift"], -0.5, "{report}");

    // The raw ad log: each offer play with the price its card showed and the stock at
    // paris-11 the manifest was built with (the inventory file's: 10 cans, 42 jars).
    let export = harness
        .call(
            Method::GET,
            &format!(
                "/v1/reports/plays/export?from={}&to={}",
                day(yesterday),
                day(tomorrow)
            ),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(export.status, StatusCode::OK);
    let mut reader = csv::Reader::from_reader(export.body.as_ref());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|header| header == name).unwrap();
    let mut stocks: Vec<(String, String)> = reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            (
                record[column("offer")].to_owned(),
                record[column("stock")].to_owned(),
            )
        })
        .collect();
    stocks.sort();
    stocks.dedup();
    assert_eq!(
        stocks,
        vec![
            ("cola".to_owned(), "10".to_owned()),
            ("hazelnut".to_owned(), "42".to_owned()),
        ]
    );
}
