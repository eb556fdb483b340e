//! Builds each offer slot's [`OfferRotation`] for one screen's manifest from the campaigns that
//! target it, the product feed and the store's data.
//!
//! What can be decided here is decided here, so that the manifest stays small and the player needs
//! no feed: an offer limited to other stores or tags, for segments the store has no customers in,
//! whose product is not in the feed, or whose product has less stock at the store than its
//! `min_stock` (default 1) is left out. The card carries the store's price: the local inventory's
//! price when it has one, else the feed's, with a sale price shown as the price and the regular one
//! struck through. Dates, weekdays and dayparts become validity windows in UTC for the days the
//! manifest covers ([`MANIFEST_DAYS`] from yesterday, in the store's time zone), so the player stays
//! right offline for a week. Weights are scaled by the store's segment score (the share of its
//! customers in the offer's segments), so a store full of students shows the student offer more.
//!
//! The campaign's `title` is the card's title (HQ's wording), even for feed products; the price,
//! stock and link come from the feed. A product's image must be an uploaded file named by the
//! offer's `image`: the scheduler never fetches `image_link` from the internet, so a manifest only
//! ever names media it holds.
//!
//! A slot's fallback is its first eligible free-content offer (one without `product`), which is
//! what the slot shows when every other offer is capped or out of its windows.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use vitrine_core::campaign::{Campaign, Offer};
use vitrine_core::offer::{
    ALL_BASIS_POINTS, Arm, CardPrice, OfferCardData, OfferEntry, OfferRotation, ValidityWindow,
    parse_price,
};
use vitrine_core::playlist::Content;
use vitrine_core::timing::TimeRange;
use vitrine_core::{Manifest, MediaEntry};

use crate::AppState;
use crate::campaigns::{ScreenContext, media_key};
use crate::catalog::LocalProduct;
use crate::error::ApiError;
use crate::reads::Reads;
use crate::storage::campaigns::StoredCampaign;
pub use vitrine_wire::explain::{Exclusion, Inclusion};

/// How many days of validity windows a manifest carries, starting yesterday in store time (so a
/// daypart that crosses midnight is covered in its second half).
pub const MANIFEST_DAYS: i64 = 9;

/// The rotations of a screen's slots, and what the explain endpoint wants to know about them.
#[derive(Debug, Default)]
pub struct OfferBuild {
    pub rotations: BTreeMap<String, OfferRotation>,
    /// Campaign media the rotations' cards name, by manifest key.
    pub media: BTreeMap<String, MediaEntry>,
    pub excluded: Vec<Exclusion>,
    pub included: Vec<Inclusion>,
}

/// The offer slots a playlist has.
pub fn slots_of(manifest: &Manifest) -> BTreeSet<String> {
    manifest
        .playlist
        .items()
        .filter_map(|item| match &item.content {
            Content::Offer { slot, .. } => Some(slot.clone()),
            _ => None,
        })
        .collect()
}

/// Builds the rotations of every offer slot of `manifest`'s playlist for the screen in `context`.
pub async fn build(
    state: &AppState,
    reads: &Reads,
    context: &ScreenContext,
    manifest: &Manifest,
    now: Timestamp,
) -> Result<OfferBuild, ApiError> {
    let slots = slots_of(manifest);
    let product_ids: Vec<String> = context
        .campaigns
        .iter()
        .flat_map(|(stored, _)| &stored.campaign.offer_pools)
        .filter(|pool| slots.contains(&pool.slot))
        .flat_map(|pool| &pool.offers)
        .filter_map(|offer| offer.product.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let products = reads
        .local_products(
            state,
            product_ids,
            context.store.as_ref().map(|store| store.code.clone()),
        )
        .await?;
    // Product images not fetched yet are fetched in the background; the screens are told when
    // one arrives.
    let without_own_image: BTreeSet<&String> = context
        .campaigns
        .iter()
        .flat_map(|(stored, _)| &stored.campaign.offer_pools)
        .filter(|pool| slots.contains(&pool.slot))
        .flat_map(|pool| &pool.offers)
        .filter(|offer| offer.image.is_none())
        .filter_map(|offer| offer.product.as_ref())
        .collect();
    let missing_images: Vec<(String, String)> = products
        .values()
        .map(|local| &local.product)
        .filter(|product| {
            without_own_image.contains(&product.id)
                && !product.image_link.is_empty()
                && !product.image_tried
        })
        .map(|product| (product.id.clone(), product.image_link.clone()))
        .collect();
    if !missing_images.is_empty() {
        crate::feed::images::fetch_missing(state, missing_images);
    }
    let time_zone = TimeZone::get(&manifest.timezone).unwrap_or(TimeZone::UTC);
    Ok(build_with(context, &slots, &products, &time_zone, now))
}

/// The pure part of [`build`]: everything is given.
pub fn build_with(
    context: &ScreenContext,
    slots: &BTreeSet<String>,
    products: &BTreeMap<String, LocalProduct>,
    time_zone: &TimeZone,
    now: Timestamp,
) -> OfferBuild {
    let mut build = OfferBuild::default();
    for (stored, _) in &context.campaigns {
        for pool in &stored.campaign.offer_pools {
            if !slots.contains(&pool.slot) {
                continue;
            }
            for offer in &pool.offers {
                let exclude = |reason: String| Exclusion {
                    slot: pool.slot.clone(),
                    campaign: stored.campaign.name.clone(),
                    offer_id: offer.id.clone(),
                    reason,
                };
                match entries_for(context, stored, offer, products, time_zone, now) {
                    Ok(built) => {
                        let rotation = build.rotations.entry(pool.slot.clone()).or_default();
                        if offer.product.is_none() && rotation.fallback.is_none() {
                            let mut fallback = built.treatment.clone();
                            // The fallback shows when nothing else may; it has no cap of its own.
                            fallback.cap_per_hour = None;
                            rotation.fallback = Some(fallback);
                        }
                        rotation.entries.push(built.treatment);
                        rotation.entries.extend(built.more_treatments);
                        rotation.entries.extend(built.control);
                        build.media.extend(built.media);
                        build.included.push(Inclusion {
                            slot: pool.slot.clone(),
                            campaign: stored.campaign.name.clone(),
                            offer_id: offer.id.clone(),
                            segment_score: built.segment_score,
                            weight: built.weight,
                            stock: built.stock,
                        });
                    }
                    Err(reason) => build.excluded.push(exclude(reason)),
                }
            }
        }
    }
    for rotation in build.rotations.values_mut() {
        rotation.entries.sort_by(|left, right| {
            (&left.campaign, &left.offer_id, left.arm).cmp(&(
                &right.campaign,
                &right.offer_id,
                right.arm,
            ))
        });
    }
    build
}

struct BuiltOffer {
    treatment: OfferEntry,
    /// The same offer in other windows with another card: the price outside (or inside) a sale
    /// window, so a manifest shows the price in force at each instant of its days, offline too.
    more_treatments: Vec<OfferEntry>,
    control: Option<OfferEntry>,
    media: BTreeMap<String, MediaEntry>,
    segment_score: f64,
    weight: u32,
    stock: Option<i64>,
}

/// The entries of one offer for this screen, or why it is left out.
fn entries_for(
    context: &ScreenContext,
    stored: &StoredCampaign,
    offer: &Offer,
    products: &BTreeMap<String, LocalProduct>,
    time_zone: &TimeZone,
    now: Timestamp,
) -> Result<BuiltOffer, String> {
    let today = now.to_zoned(time_zone.clone()).date();
    let campaign = &stored.campaign;
    let eligibility = &offer.eligibility;
    let store_code = context.store.as_ref().map(|store| store.code.as_str());
    if !eligibility.stores.is_empty()
        && !store_code.is_some_and(|code| eligibility.stores.iter().any(|store| store == code))
    {
        return Err(format!(
            "only for stores {}; this screen is in {}",
            eligibility.stores.join(", "),
            store_code.map_or("no store".to_owned(), |code| format!("`{code}`"))
        ));
    }
    if !eligibility.tags.is_empty() {
        let store_tags = context
            .store
            .as_ref()
            .map(|store| store.tags.as_slice())
            .unwrap_or_default();
        let tagged = context
            .screen
            .tags
            .iter()
            .chain(store_tags)
            .any(|tag| eligibility.tags.contains(tag));
        if !tagged {
            return Err(format!(
                "only for screens tagged {}",
                eligibility.tags.join(", ")
            ));
        }
    }
    let segment_score = if eligibility.segments.is_empty() {
        1.0
    } else {
        eligibility
            .segments
            .iter()
            .filter_map(|segment| context.segments.get(segment))
            .sum::<f64>()
            .min(1.0)
    };
    if segment_score <= 0.0 {
        return Err(format!(
            "for segments {}, and the store has no customers in them",
            eligibility.segments.join(", ")
        ));
    }
    let mut card = OfferCardData {
        title: offer.title.clone(),
        badge: offer.badge.clone(),
        validity: campaign
            .until
            .min(eligibility.until)
            .or(campaign.until.or(eligibility.until))
            .map(|until| format!("until {until}")),
        ..OfferCardData::default()
    };
    let mut stock = None;
    let mut sale_split = None;
    match &offer.product {
        Some(product_id) => {
            let Some(local) = products.get(product_id) else {
                return Err(format!(
                    "product `{product_id}` is not in the product feed; import it with \
                     `vitrine feed import`"
                ));
            };
            let units = local.stock();
            let needed = i64::from(eligibility.min_stock.unwrap_or(1));
            if units < needed {
                return Err(format!(
                    "out of stock at {}: {units} on hand, needs at least {needed}",
                    store_code.map_or("this store".to_owned(), |code| format!("store `{code}`"))
                ));
            }
            stock = Some(units);
            let product = &local.product;
            if let Some(store) = &context.store
                && store.currency != product.currency
            {
                return Err(format!(
                    "product `{product_id}` is priced in {}, but store `{}` sells in {}",
                    product.currency, store.code, store.currency
                ));
            }
            // A sale window without an offset is read in the store's zone.
            let store_zone = context
                .store
                .as_ref()
                .and_then(|store| TimeZone::get(&store.timezone).ok())
                .unwrap_or_else(|| time_zone.clone());
            let priced = |(cents, old_cents): (i64, Option<i64>)| {
                (
                    CardPrice {
                        cents,
                        old_cents,
                        currency: product.currency.clone(),
                    },
                    product
                        .unit_pricing
                        .as_ref()
                        .map(|pricing| vitrine_core::offer::UnitPrice {
                            cents: pricing.unit_price_cents(cents),
                            per: pricing.per(),
                        }),
                )
            };
            let (price, unit_price) = priced(product.price_at(now, &store_zone));
            card.price = Some(price);
            card.unit_price = unit_price;
            if let (Some(window), Some(sale)) = (&product.sale_window, product.sale_price_cents)
                && sale < product.price_cents
            {
                sale_split = Some(SaleSplit {
                    start: window.start.instant_in(&store_zone),
                    end: window.end.instant_in(&store_zone),
                    sale: priced((sale, Some(product.price_cents))),
                    regular: priced((product.price_cents, None)),
                });
            }
            card.has_destination = crate::qr::offer_link(offer, Some(product)).is_some();
        }
        None => {
            if let Some(price) = &offer.price {
                let money = parse_price(price).map_err(|error| error.to_string())?;
                card.price = Some(CardPrice {
                    cents: money.cents,
                    old_cents: None,
                    currency: money.currency,
                });
            }
            card.has_destination = crate::qr::offer_link(offer, None).is_some();
        }
    }
    let mut media = BTreeMap::new();
    let mut image_key = |file: &Option<String>| {
        let file = file.as_ref()?;
        let entry = stored.media.get(file)?;
        let key = media_key(&campaign.name, file);
        media.insert(key.clone(), entry.clone());
        Some(key)
    };
    card.image_file = image_key(&offer.image);
    let mut product_image = None;
    // Without a picture of its own, a product's offer shows the feed's product image.
    if card.image_file.is_none()
        && let Some(product_id) = &offer.product
        && let Some(image) = products
            .get(product_id)
            .and_then(|local| local.product.image.clone())
    {
        let key = format!("feed/{product_id}");
        card.image_file = Some(key.clone());
        product_image = Some((key, image));
    }
    let windows = windows_for(campaign, offer, time_zone, today);
    if windows.is_empty() {
        return Err("its dates, weekdays and dayparts leave no time in the coming week".into());
    }
    let base_weight = offer.weight.saturating_mul(100);
    let weight = if eligibility.segments.is_empty() {
        base_weight
    } else {
        ((f64::from(base_weight) * segment_score).round() as u32).max(1)
    };
    let holdout_basis_points = offer
        .holdout
        .map_or(0, |share| share.hundredths().min(ALL_BASIS_POINTS));
    let treatment = OfferEntry {
        offer_id: offer.id.clone(),
        campaign: Some(campaign.name.clone()),
        arm: Arm::Treatment,
        weight,
        priority: offer.priority,
        windows,
        cap_per_hour: offer.cap_per_hour,
        holdout_basis_points,
        segments: eligibility.segments.clone(),
        card,
    };
    // With a sale window, the treatment is cut in two: the sale card inside the window, the
    // regular one outside. The control keeps every window.
    let all_windows = treatment.windows.clone();
    let mut treatments = Vec::new();
    match sale_split {
        None => treatments.push(treatment),
        Some(split) => {
            let (inside, outside) = split_windows(&treatment.windows, split.start, split.end);
            for (windows, (price, unit_price)) in [(outside, split.regular), (inside, split.sale)] {
                if windows.is_empty() {
                    continue;
                }
                let mut entry = treatment.clone();
                entry.windows = windows;
                entry.card.price = Some(price);
                entry.card.unit_price = unit_price;
                treatments.push(entry);
            }
        }
    }
    let mut treatments = treatments.into_iter();
    let Some(treatment) = treatments.next() else {
        return Err("its windows are empty".into());
    };
    let more_treatments: Vec<OfferEntry> = treatments.collect();
    let control = match (&offer.control, holdout_basis_points) {
        (Some(control), 1..) => Some(OfferEntry {
            arm: Arm::Control,
            holdout_basis_points: 0,
            // The control shows no price (it promises nothing) but leads where the offer does, so
            // a scan in the holdout is measured like one of the offer.
            card: OfferCardData {
                title: control.title.clone(),
                image_file: image_key(&control.image),
                has_destination: treatment.card.has_destination,
                ..OfferCardData::default()
            },
            windows: all_windows,
            ..treatment.clone()
        }),
        _ => None,
    };
    media.extend(product_image);
    Ok(BuiltOffer {
        treatment,
        more_treatments,
        control,
        media,
        segment_score,
        weight,
        stock,
    })
}

/// A product's sale window in instants, with the card price inside it and outside it.
struct SaleSplit {
    start: Timestamp,
    end: Timestamp,
    sale: (CardPrice, Option<vitrine_core::offer::UnitPrice>),
    regular: (CardPrice, Option<vitrine_core::offer::UnitPrice>),
}

/// The parts of `windows` inside `[start, end)`, and the parts outside it.
fn split_windows(
    windows: &[ValidityWindow],
    start: Timestamp,
    end: Timestamp,
) -> (Vec<ValidityWindow>, Vec<ValidityWindow>) {
    let mut inside = Vec::new();
    let mut outside = Vec::new();
    for window in windows {
        let (from, until) = (window.start.max(start), window.end.min(end));
        if from < until {
            inside.push(ValidityWindow {
                start: from,
                end: until,
            });
        }
        if window.start < start.min(window.end) {
            outside.push(ValidityWindow {
                start: window.start,
                end: start.min(window.end),
            });
        }
        if end.max(window.start) < window.end {
            outside.push(ValidityWindow {
                start: end.max(window.start),
                end: window.end,
            });
        }
    }
    (inside, outside)
}

/// The instants in the manifest's days when both the campaign and the offer may show.
fn windows_for(
    campaign: &Campaign,
    offer: &Offer,
    time_zone: &TimeZone,
    today: Date,
) -> Vec<ValidityWindow> {
    let eligibility = &offer.eligibility;
    let daypart_names = if eligibility.dayparts.is_empty() {
        campaign
            .dayparts
            .iter()
            .map(|daypart| daypart.name.clone())
            .collect()
    } else {
        eligibility.dayparts.clone()
    };
    let spans: Vec<TimeRange> = if daypart_names.is_empty() {
        vec![TimeRange::WHOLE_DAY]
    } else {
        campaign
            .dayparts
            .iter()
            .filter(|daypart| daypart_names.contains(&daypart.name))
            .map(|daypart| daypart.span)
            .collect()
    };
    let mut windows: Vec<ValidityWindow> = Vec::new();
    let Ok(first_day) = today.yesterday() else {
        return windows;
    };
    for offset in 0..MANIFEST_DAYS {
        let Ok(date) = first_day.checked_add(jiff::Span::new().days(offset)) else {
            break;
        };
        let in_dates = date >= campaign.from
            && campaign.until.is_none_or(|until| date <= until)
            && eligibility.from.is_none_or(|from| date >= from)
            && eligibility.until.is_none_or(|until| date <= until)
            && campaign.weekdays.contains(date.weekday());
        if !in_dates {
            continue;
        }
        for span in &spans {
            let Some((start, end)) = span.occurrence(date, time_zone) else {
                continue;
            };
            // Back-to-back days merge into one window, which keeps whole-day offers short.
            match windows.last_mut() {
                Some(last) if last.end >= start => last.end = last.end.max(end),
                _ => windows.push(ValidityWindow { start, end }),
            }
        }
    }
    windows.sort_by_key(|window| window.start);
    windows
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use jiff::tz::TimeZone;
    use jiff::{SignedDuration, Timestamp};
    use proptest::prelude::*;
    use vitrine_core::offer::{Arm, CardPrice};
    use vitrine_core::parse_campaign;

    use super::{OfferBuild, build_with};
    use crate::campaigns::ScreenContext;
    use crate::catalog::{LocalProduct, Product, ScreenRecord, StoreRecord};
    use crate::storage::campaigns::StoredCampaign;

    /// One offer card variant: what the campaign says and what the feed and the store's inventory
    /// hold for it.
    #[derive(Clone, Debug)]
    struct Variant {
        /// `None`: free content, priced (or not) in the campaign.
        product: Option<FeedProduct>,
        /// The campaign's fixed `price`, in cents of euros.
        fixed_price: Option<i64>,
        holdout: bool,
        /// Days from today (store time) of the offer's `from` and `until`.
        from_offset: Option<i64>,
        until_offset: Option<i64>,
        /// The instant the card is looked at, in hours from the start of yesterday (store time).
        hour: i64,
    }

    #[derive(Clone, Debug)]
    struct FeedProduct {
        price: i64,
        sale: Option<i64>,
        in_stock: bool,
        /// The store's inventory row: quantity, price, sale price.
        inventory: Option<(i64, Option<i64>, Option<i64>)>,
    }

    fn variants() -> impl Strategy<Value = Variant> {
        let cents = 1..100_000i64;
        let feed = (
            cents.clone(),
            proptest::option::of(cents.clone()),
            any::<bool>(),
            proptest::option::of((
                -1..5i64,
                proptest::option::of(cents.clone()),
                proptest::option::of(cents.clone()),
            )),
        )
            .prop_map(|(price, sale, in_stock, inventory)| FeedProduct {
                price,
                sale,
                in_stock,
                inventory,
            });
        (
            proptest::option::of(feed),
            proptest::option::of(cents),
            any::<bool>(),
            proptest::option::of(-2..9i64),
            proptest::option::of(-2..9i64),
            0..(24 * super::MANIFEST_DAYS),
        )
            .prop_map(
                |(product, fixed_price, holdout, mut from_offset, mut until_offset, hour)| {
                    // A campaign with `until` before `from` does not validate; swap them.
                    if let (Some(from), Some(until)) = (from_offset, until_offset)
                        && until < from
                    {
                        (from_offset, until_offset) = (Some(until), Some(from));
                    }
                    Variant {
                        product,
                        fixed_price,
                        holdout,
                        from_offset,
                        until_offset,
                        hour,
                    }
                },
            )
    }

    /// The price in force for the store, written out from the rules in words: the store's own price
    /// wins over the feed's; a sale price below the price is what one pays, the price struck
    /// through; free content shows its fixed price, if it has one; a holdout control shows none.
    fn price_in_force(variant: &Variant, arm: Arm) -> Option<CardPrice> {
        if arm == Arm::Control {
            return None;
        }
        let Some(feed) = &variant.product else {
            return variant.fixed_price.map(|cents| CardPrice {
                cents,
                old_cents: None,
                currency: "EUR".into(),
            });
        };
        let (price, sale) = match feed.inventory {
            Some((_, Some(local_price), local_sale)) => (local_price, local_sale),
            Some((_, None, Some(local_sale))) => (feed.price, Some(local_sale)),
            _ => (feed.price, feed.sale),
        };
        Some(match sale {
            Some(sale) if sale < price => CardPrice {
                cents: sale,
                old_cents: Some(price),
                currency: "EUR".into(),
            },
            _ => CardPrice {
                cents: price,
                old_cents: None,
                currency: "EUR".into(),
            },
        })
    }

    fn in_stock(feed: &FeedProduct) -> bool {
        match feed.inventory {
            Some((quantity, _, _)) => quantity >= 1,
            None => feed.in_stock,
        }
    }

    fn context(
        campaign_yaml: &str,
        screen_tags: &[&str],
        segments: &[(&str, f64)],
    ) -> ScreenContext {
        let campaign = parse_campaign("keys.yaml", campaign_yaml)
            .unwrap_or_else(|error| panic!("{error:?}"))
            .value;
        ScreenContext {
            screen: ScreenRecord {
                name: "lobby".into(),
                playlist: "lobby".into(),
                timezone: String::new(),
                store: Some("paris-11".into()),
                tags: screen_tags.iter().map(|tag| tag.to_string()).collect(),
                created_at: String::new(),
            },
            store: Some(StoreRecord {
                code: "paris-11".into(),
                name: "Paris 11".into(),
                region: "ile-de-france".into(),
                tags: Vec::new(),
                timezone: "Europe/Paris".into(),
                locale: "fr-FR".into(),
                currency: "EUR".into(),
            }),
            segments: segments
                .iter()
                .map(|(segment, share)| (segment.to_string(), *share))
                .collect(),
            campaigns: vec![(
                StoredCampaign {
                    version: 1,
                    campaign,
                    media: BTreeMap::new(),
                    created_at: String::new(),
                },
                "targets every screen".into(),
            )],
            not_targeted: Vec::new(),
        }
    }

    fn product(quantity: i64) -> BTreeMap<String, LocalProduct> {
        let product = Product {
            id: "p1".into(),
            title: "Product".into(),
            description: String::new(),
            link: "https://shop.example/p1".into(),
            image_link: String::new(),
            price_cents: 500,
            sale_price_cents: None,
            currency: "EUR".into(),
            availability: "in_stock".into(),
            brand: String::new(),
            gtin: String::new(),
            ..Product::default()
        };
        BTreeMap::from([(
            "p1".to_owned(),
            LocalProduct {
                product,
                quantity: Some(quantity),
                ..LocalProduct::default()
            },
        )])
    }

    #[test]
    fn each_offer_key_shapes_the_entry_or_leaves_the_offer_out() {
        let yaml = "version: 1\nname: keys\ntargets: { all: true }\nfrom: 2020-01-01\nloop_slots: 1\nfill:\n  - text: { text: Sale, duration: 10s }\noffers:\n  promo:\n    - { id: card, title: Card, product: p1, weight: 3, cap_per_hour: 4, badge: \"-10%\", segments: [students], tags: [entrance], min_stock: 5 }\n";
        let time_zone = TimeZone::get("Europe/Paris").unwrap();
        let now: Timestamp = "2026-12-04T10:00:00Z".parse().unwrap();
        let slots = BTreeSet::from(["promo".to_owned()]);
        let build = |tags: &[&str], segments: &[(&str, f64)], quantity: i64| {
            build_with(
                &context(yaml, tags, segments),
                &slots,
                &product(quantity),
                &time_zone,
                now,
            )
        };
        let shown = build(&["entrance"], &[("students", 0.5)], 5);
        let entry = &shown.rotations["promo"].entries[0];
        // `weight: 3` is 300, scaled by the half of the store's customers who are students.
        assert_eq!(entry.weight, 150);
        assert_eq!(entry.cap_per_hour, Some(4));
        assert_eq!(entry.card.badge.as_deref(), Some("-10%"));
        assert_eq!(entry.segments, vec!["students".to_owned()]);
        let reasons = |build: OfferBuild| -> Vec<String> {
            assert!(build.rotations.is_empty());
            build
                .excluded
                .into_iter()
                .map(|excluded| excluded.reason)
                .collect()
        };
        assert_eq!(
            reasons(build(&[], &[("students", 0.5)], 5)),
            vec!["only for screens tagged entrance".to_owned()]
        );
        assert_eq!(
            reasons(build(&["entrance"], &[], 5)),
            vec!["for segments students, and the store has no customers in them".to_owned()]
        );
        assert_eq!(
            reasons(build(&["entrance"], &[("students", 0.5)], 4)),
            vec!["out of stock at store `paris-11`: 4 on hand, needs at least 5".to_owned()]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever the variant, every card the manifest carries for an instant shows exactly the
        /// price in force for the store then, or no price; and it shows at all only inside the
        /// offer's dates (the sale window opens and closes with them).
        #[test]
        fn a_card_shows_the_price_in_force_or_none(variant in variants()) {
            let time_zone = TimeZone::get("Europe/Paris").unwrap();
            let now: Timestamp = "2026-12-04T10:00:00Z".parse().unwrap();
            let today = now.to_zoned(time_zone.clone()).date();
            let day = |offset: i64| today.checked_add(jiff::Span::new().days(offset)).unwrap();
            let mut yaml = String::from(
                "version: 1\nname: trust\ntargets: { all: true }\nfrom: 2020-01-01\nloop_slots: 1\nfill:\n  - text: { text: Sale, duration: 10s }\noffers:\n  promo:\n    - id: card\n      title: Card\n",
            );
            if variant.product.is_some() {
                yaml.push_str("      product: p1\n");
            }
            if let Some(cents) = variant.fixed_price
                && variant.product.is_none()
            {
                yaml.push_str(&format!("      price: \"{},{:02} €\"\n", cents / 100, cents % 100));
            }
            if variant.holdout {
                yaml.push_str("      holdout: 50%\n      control: { title: Come in }\n");
            }
            if let Some(offset) = variant.from_offset {
                yaml.push_str(&format!("      from: {}\n", day(offset)));
            }
            if let Some(offset) = variant.until_offset {
                yaml.push_str(&format!("      until: {}\n", day(offset)));
            }
            let mut products = BTreeMap::new();
            if let Some(feed) = &variant.product {
                let mut product = Product {
                    id: "p1".into(),
                    title: "Product".into(),
                    description: String::new(),
                    link: "https://shop.example/p1".into(),
                    image_link: String::new(),
                    price_cents: feed.price,
                    sale_price_cents: feed.sale,
                    currency: "EUR".into(),
                    availability: if feed.in_stock { "in_stock" } else { "out_of_stock" }.into(),
                    brand: String::new(),
                    gtin: String::new(),
                    ..Product::default()
                };
                let mut quantity = None;
                if let Some((count, price, sale)) = feed.inventory {
                    quantity = Some(count);
                    product.apply_local_price(price, sale, None);
                }
                products.insert(
                    "p1".to_owned(),
                    LocalProduct {
                        product,
                        quantity,
                        ..LocalProduct::default()
                    },
                );
            }
            let context = context(&yaml, &[], &[]);
            let slots = BTreeSet::from(["promo".to_owned()]);
            let build = build_with(&context, &slots, &products, &time_zone, now);

            let start_of_yesterday = day(-1).to_zoned(time_zone.clone()).unwrap().timestamp();
            let instant = start_of_yesterday + SignedDuration::from_hours(variant.hour);
            let local_day = instant.to_zoned(time_zone.clone()).date();
            let in_dates = variant.from_offset.is_none_or(|offset| local_day >= day(offset))
                && variant.until_offset.is_none_or(|offset| local_day <= day(offset));
            let shown_at_all = variant.product.as_ref().is_none_or(in_stock);

            let rotation = build.rotations.get("promo");
            let entries: Vec<_> = rotation
                .into_iter()
                .flat_map(|rotation| rotation.entries.iter().chain(&rotation.fallback))
                .collect();
            for entry in &entries {
                prop_assert_eq!(&entry.card.price, &price_in_force(&variant, entry.arm));
                prop_assert!(
                    !entry.is_valid_at(instant) || in_dates,
                    "a card shows outside its dates at {}", instant
                );
            }
            if shown_at_all && in_dates {
                prop_assert!(
                    entries.iter().any(|entry| entry.arm == Arm::Treatment && entry.is_valid_at(instant)),
                    "the card is missing inside its dates at {}: {:?}", instant, build.excluded
                );
            }
            if !shown_at_all {
                prop_assert!(entries.is_empty(), "an out of stock product shows a card");
            }
            // The pick at that instant, as the player makes it, shows one of those cards or none.
            if let Some(rotation) = rotation
                && let Some(entry) = rotation.pick(&vitrine_core::offer::SlotPlay {
                    screen: "lobby",
                    slot: "promo",
                    start: instant,
                    recent: &[],
                    trigger: None,
                })
            {
                prop_assert!(in_dates);
                prop_assert_eq!(&entry.card.price, &price_in_force(&variant, entry.arm));
            }
        }
    }
}
