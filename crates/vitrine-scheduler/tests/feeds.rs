//! The feed readers against a corpus written from Google's product data specification
//! (`tests/fixtures/feeds/`): RSS 2.0 and Atom 1.0 with nested groups, variants, unit pricing and
//! sale windows across daylight-saving changes, TSV with quoted fields, and broken files.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use vitrine_scheduler::catalog::Product;
use vitrine_scheduler::feed::parse::{ReadError, read_all};
use vitrine_scheduler::feed::{FeedFormat, Group, ReadItem, product_from_item};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/feeds")
            .join(name),
    )
    .unwrap()
}

/// A fixture's products by id, each with its line, and its skipped items as (line, reason).
type Read = (BTreeMap<String, (u64, Product)>, Vec<(u64, String)>);

/// Every item of a fixture.
fn read(name: &str) -> Read {
    let source = fixture(name);
    let format = FeedFormat::detect(name, &source);
    let mut products = BTreeMap::new();
    let mut skipped = Vec::new();
    for item in read_all(&source, format).unwrap() {
        match item {
            ReadItem::Item(item) => match product_from_item(&item) {
                Ok(product) => {
                    products.insert(product.id.clone(), (item.line, product));
                }
                Err(reason) => skipped.push((item.line, reason)),
            },
            ReadItem::Unreadable { line, reason } => skipped.push((line, reason)),
        }
    }
    (products, skipped)
}

fn group(name: &str, fields: &[(&str, &str)]) -> Group {
    Group {
        name: name.to_owned(),
        fields: fields
            .iter()
            .map(|(field, value)| ((*field).to_owned(), (*value).to_owned()))
            .collect(),
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[test]
fn an_rss_feed_is_read_whole_with_its_groups_kept_apart() {
    let (products, skipped) = read("merchant-center.rss.xml");
    assert_eq!(
        products.keys().collect::<Vec<_>>(),
        ["coffee-750", "juice-1l", "tee-blue-m", "tee-red-l"]
    );
    let (line, tee) = &products["tee-blue-m"];
    assert_eq!(*line, 9);
    assert_eq!(tee.title, "Organic T-shirt, blue, M");
    assert_eq!(tee.description, "Soft <b>organic</b> cotton.");
    assert_eq!(tee.link, "https://shop.example/p/tee?colour=blue&size=m");
    assert_eq!(tee.brand, "Loom & Co");
    // The shipping blocks' and the loyalty programme's `g:price` are theirs, not the product's.
    assert_eq!((tee.price_cents, tee.sale_price_cents), (1999, Some(1499)));
    assert_eq!(tee.currency, "EUR");
    assert_eq!(
        tee.details.additional_image_links,
        [
            "https://shop.example/img/tee-blue-back.jpg",
            "https://shop.example/img/tee-blue-side.jpg"
        ]
    );
    assert_eq!(
        tee.details.groups,
        [
            group(
                "shipping",
                &[
                    ("country", "FR"),
                    ("service", "Standard"),
                    ("price", "4.95 EUR")
                ]
            ),
            group("shipping", &[("country", "BE"), ("price", "6.95 EUR")]),
            group(
                "tax",
                &[
                    ("country", "US"),
                    ("region", "CA"),
                    ("rate", "8.25"),
                    ("tax_ship", "yes")
                ]
            ),
            group("installment", &[("months", "3"), ("amount", "6.66 EUR")]),
            group(
                "loyalty_program",
                &[
                    ("program_label", "club"),
                    ("tier_label", "gold"),
                    ("price", "12.99 EUR"),
                    ("loyalty_points", "20")
                ]
            ),
            group(
                "product_detail",
                &[
                    ("section_name", "Fabric"),
                    ("attribute_name", "Cotton"),
                    ("attribute_value", "100%")
                ]
            ),
            group(
                "product_detail",
                &[
                    ("section_name", "Care"),
                    ("attribute_name", "Washing"),
                    ("attribute_value", "30 °C")
                ]
            ),
        ]
    );
    // Variants share their group id and differ by colour and size.
    assert_eq!(tee.item_group_id, "tee");
    let (_, red) = &products["tee-red-l"];
    assert_eq!(red.item_group_id, "tee");
    assert_eq!(
        tee.details.variant(),
        BTreeMap::from([
            ("age_group", "adult"),
            ("color", "Blue"),
            ("gender", "unisex"),
            ("size", "M")
        ])
    );
    assert_eq!(
        red.details.variant(),
        BTreeMap::from([("color", "Red"), ("size", "L")])
    );
    assert_eq!(red.availability, "backorder");
    // Attributes Vitrine does not model, and elements of other namespaces, are kept.
    assert_eq!(tee.details.attributes["condition"], ["new"]);
    assert_eq!(tee.details.attributes["custom_label_0"], ["spring"]);
    assert_eq!(
        red.details.attributes["availability_date"],
        ["2026-04-15T00:00+02:00"]
    );
    assert_eq!(
        tee.details.other_elements,
        [("c:store_note".to_owned(), "Front table".to_owned())]
    );

    let (_, coffee) = &products["coffee-750"];
    assert_eq!(coffee.availability, "preorder");
    assert_eq!(coffee.multipack, Some(3));
    let pricing = coffee.unit_pricing.as_ref().expect("unit pricing");
    assert_eq!(pricing.unit_price_cents(coffee.price_cents), 1199);
    assert_eq!(pricing.per(), "kg");
    assert_eq!(coffee.details.groups[0].name, "subscription_cost");

    // Each price names its own currency.
    let (_, juice) = &products["juice-1l"];
    assert_eq!((juice.price_cents, juice.currency.as_str()), (249, "GBP"));
    assert_eq!(juice.availability, "out_of_stock");
    let pricing = juice.unit_pricing.as_ref().expect("unit pricing");
    assert_eq!(
        (pricing.unit_price_cents(249), pricing.per()),
        (25, "100 ml".to_owned())
    );

    // The two broken items, with their lines and why.
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped[0].0, 93);
    assert!(
        skipped[0].1.contains("mixed-currency") && skipped[0].1.contains("USD"),
        "{skipped:?}"
    );
    assert_eq!(skipped[1].0, 99);
    assert!(
        skipped[1].1.contains("ends before it starts"),
        "{skipped:?}"
    );
}

#[test]
fn a_sale_window_without_an_offset_follows_the_store_across_daylight_saving() {
    let (products, _) = read("merchant-center.rss.xml");
    let (_, tee) = &products["tee-blue-m"];
    let paris = TimeZone::get("Europe/Paris").unwrap();
    // 09:00 on 28 March is CET (08:00Z); 09:00 on 29 March is CEST (07:00Z).
    assert_eq!(tee.price_at(at("2026-03-28T07:59Z"), &paris), (1999, None));
    assert_eq!(
        tee.price_at(at("2026-03-28T08:00Z"), &paris),
        (1499, Some(1999))
    );
    assert_eq!(
        tee.price_at(at("2026-03-29T06:59Z"), &paris),
        (1499, Some(1999))
    );
    assert_eq!(tee.price_at(at("2026-03-29T07:00Z"), &paris), (1999, None));
    // A store in Montreal sees the same wall-clock window, hours later.
    let montreal = TimeZone::get("America/Toronto").unwrap();
    assert_eq!(
        tee.price_at(at("2026-03-28T08:00Z"), &montreal),
        (1999, None)
    );
    assert_eq!(
        tee.price_at(at("2026-03-28T13:00Z"), &montreal),
        (1499, Some(1999))
    );

    // The Atom sample's sale ends at 02:30 on the night Paris falls back: the first 02:30.
    let (products, skipped) = read("merchant-center.atom.xml");
    assert!(skipped.is_empty(), "{skipped:?}");
    let (_, tea) = &products["tea-earl-grey"];
    assert_eq!(
        tea.price_at(at("2026-10-25T00:29Z"), &paris),
        (290, Some(390))
    );
    assert_eq!(tea.price_at(at("2026-10-25T00:30Z"), &paris), (390, None));
}

#[test]
fn an_atom_feed_takes_links_from_href_and_keeps_atoms_own_id_apart() {
    let (products, skipped) = read("merchant-center.atom.xml");
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(products.len(), 2);
    let (line, tea) = &products["tea-earl-grey"];
    assert_eq!(*line, 8);
    assert_eq!(tea.title, "Earl Grey tea, 20 bags");
    assert_eq!(tea.link, "https://shop.example/p/tea");
    assert_eq!(tea.description, "Bergamot, black tea.");
    assert_eq!(tea.price_cents, 390);
    assert_eq!(
        tea.details.groups,
        [group(
            "shipping",
            &[("country", "FR"), ("price", "0.00 EUR")]
        )]
    );
    assert!(
        tea.details.other_elements.contains(&(
            "atom:id".to_owned(),
            "tag:shop.example,2026:entry-1".to_owned()
        )),
        "{:?}",
        tea.details.other_elements
    );
    let (_, green) = &products["tea-green"];
    assert_eq!(green.title, "Green tea \u{2014} sencha");
    assert_eq!(green.link, "https://shop.example/p/green-tea");
}

#[test]
fn a_tsv_feed_reads_quoted_fields_and_a_header_in_any_order() {
    let (products, skipped) = read("quoted.tsv");
    let (line, pizza) = &products["pizza-12"];
    assert_eq!(*line, 2);
    // A quote inside an unquoted field is literal; a quoted field may hold the delimiter.
    assert_eq!(pizza.title, "12\" pizza");
    assert_eq!(pizza.description, "Tomato\tmozzarella, basil");
    assert_eq!(pizza.price_cents, 549);
    assert_eq!(pizza.details.additional_image_links.len(), 2);
    assert_eq!(
        pizza.details.groups,
        [
            group(
                "shipping",
                &[
                    ("country", "FR"),
                    ("service", "Standard"),
                    ("price", "2.00 EUR")
                ]
            ),
            group("shipping", &[("country", "BE"), ("price", "3.00 EUR")]),
        ]
    );
    assert_eq!(pizza.item_group_id, "pizza");
    assert_eq!(pizza.details.variant(), BTreeMap::from([("size", "12 in")]));
    let (_, cola) = &products["cola-15"];
    assert_eq!(cola.title, "Cola \"classic\" 1.5 l");
    assert_eq!(cola.availability, "preorder");
    assert_eq!(
        cola.unit_pricing.as_ref().map(|pricing| pricing.per()),
        Some("l".to_owned())
    );
    assert_eq!(skipped, [(4, "`id` is empty".to_owned())]);
}

#[test]
fn xml_that_is_not_well_formed_is_refused_naming_line_and_column() {
    let source = fixture("broken.xml");
    let error = read_all(&source, FeedFormat::Xml).unwrap_err();
    match &error {
        ReadError::NotWellFormed { line, column, .. } => {
            assert_eq!((*line, *column), (7, 60), "{error}");
        }
        other => panic!("{other}"),
    }
    assert!(error.to_string().contains("line 7, column 60"), "{error}");
    // A TSV feed without one of the columns every product needs is refused too.
    let error = read_all(b"id\ttitle\nx\tX\n", FeedFormat::Tsv).unwrap_err();
    assert!(error.to_string().contains("no `price` column"), "{error}");
}

#[test]
fn the_reader_hands_over_items_while_the_feed_is_still_coming() {
    // A feed produced on the fly: when an item is handed over, only a buffer's worth more of the
    // feed has been produced, however long it is.
    struct Generated {
        produced: Rc<Cell<usize>>,
        items: usize,
        pending: Vec<u8>,
    }
    impl std::io::Read for Generated {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            if self.pending.is_empty() {
                let next = self.produced.get();
                if next == 0 {
                    self.pending.extend_from_slice(
                        b"<rss xmlns:g=\"http://base.google.com/ns/1.0\"><channel>\n",
                    );
                } else if next > self.items {
                    return Ok(0);
                }
                if next == self.items {
                    self.pending.extend_from_slice(b"</channel></rss>\n");
                } else {
                    self.pending.extend_from_slice(
                        format!(
                            "<item><g:id>p{next}</g:id><title>P {next}</title>\
                             <g:price>1.00 EUR</g:price></item>\n"
                        )
                        .as_bytes(),
                    );
                }
                self.produced.set(next + 1);
            }
            let count = buffer.len().min(self.pending.len());
            buffer[..count].copy_from_slice(&self.pending[..count]);
            self.pending.drain(..count);
            Ok(count)
        }
    }
    let produced = Rc::new(Cell::new(0));
    let source = std::io::BufReader::new(Generated {
        produced: produced.clone(),
        items: 50_000,
        pending: Vec::new(),
    });
    let mut lines = Vec::new();
    let mut most_ahead = 0;
    vitrine_scheduler::feed::parse::read_feed(source, FeedFormat::Xml, |item| {
        if let ReadItem::Item(item) = item {
            lines.push(item.line);
            most_ahead = most_ahead.max(produced.get() - lines.len());
        }
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_eq!(lines.len(), 50_000);
    assert_eq!(lines[0], 2);
    assert_eq!(lines[49_999], 50_001);
    // An item is ~80 bytes and the buffer 8 KiB: about a hundred items ahead at most.
    assert!(most_ahead < 200, "{most_ahead} items read ahead");
}
