//! HQ campaigns: what HQ marketing runs across stores, written in the same YAML language as store
//! playlists. A campaign targets stores, regions, tags or screens, runs between dates in dayparts of
//! store time, takes a share of voice (a percentage of airtime, or a number of slots in each loop),
//! may be capped per screen, and brings fill content and offer pools for the playlists' offer slots.
//!
//! This module reads and validates campaigns; how the scheduler folds them into each screen's
//! manifest is the scheduler's business.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostics;
use crate::duration::ItemDuration;
use crate::playlist::check::{Checker, names, size_limit};
use crate::playlist::{Daypart, Item, MAIN_ZONE, Parsed, raw};
use crate::timing::{Percent, Weekdays};
use crate::yaml::{self, Located, NamedMap, Scalar};

/// The campaign schema version this build reads.
pub const CAMPAIGN_VERSION: u32 = 1;

/// The most offer slots one campaign fills. Like the playlist limits in
/// [`crate::playlist`] (which campaigns share: items, dayparts, names), far above real use.
pub const MAX_OFFER_POOLS: usize = 64;
/// The most offers in one slot's pool.
pub const MAX_OFFERS_PER_POOL: usize = 500;

/// The YAML-shaped campaign types, for serde and the JSON Schema.
pub(crate) mod raw_campaign {
    use super::*;

    /// An HQ campaign.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[schemars(title = "Vitrine campaign")]
    pub struct Campaign {
        /// The campaign format; this build reads version 1.
        pub version: Located<u32>,
        /// The campaign's name, used in reports.
        pub name: Located<String>,
        /// Which screens it runs on. A screen matches if it matches any entry.
        pub targets: Located<Targets>,
        /// The first day it runs, `YYYY-MM-DD`, in each store's time.
        pub from: Located<Scalar>,
        /// The last day it runs (included).
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub until: Option<Located<Scalar>>,
        /// The days it runs, like `[mon-fri]`. Leave out for every day.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub weekdays: Option<raw::List<String>>,
        /// The spans of the day it runs in, in each store's time, like `morning: "08:00-11:00"`.
        /// Leave out for the whole day.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub dayparts: Option<Located<NamedMap<Scalar>>>,
        /// Which layer it plays in: `locked` (the default) wins over every store rule; `default`
        /// plays only where the store's own rules leave the zone empty.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub layer: Option<Located<Layer>>,
        /// Against other campaigns of its layer: the highest priority wins. Default 0.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub priority: Option<Located<i32>>,
        /// Its share of airtime on the zone, like `20%`. Give this or `loop_slots`.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub share_of_voice: Option<Located<Scalar>>,
        /// How many items of each loop on the zone it takes. Give this or `share_of_voice`.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub loop_slots: Option<Located<u32>>,
        /// The most times one screen shows it in a period.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub frequency_cap: Option<Located<FrequencyCap>>,
        /// The zone of the store playlists it plays in. Default `main`.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub zone: Option<Located<String>>,
        /// The campaign's own content, shown in its share.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub fill: Option<raw::List<raw::Item>>,
        /// Offers for the playlists' offer slots, by slot name.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub offers: Option<Located<NamedMap<crate::yaml::Entries<Offer>>>>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Targets {
        /// Every screen of the chain.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub all: Option<Located<bool>>,
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub stores: Option<raw::List<String>>,
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub regions: Option<raw::List<String>>,
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub tags: Option<raw::List<String>>,
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub screens: Option<raw::List<String>>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct FrequencyCap {
        /// How many times at most.
        pub max: Located<u32>,
        /// In how long, like `1h`.
        pub per: Located<Scalar>,
    }

    /// One offer of a pool.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Offer {
        /// The product or offer id, as in the product feed.
        pub id: Located<Scalar>,
        pub title: Located<String>,
        /// The price as shown, like `"2,99 €"`.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub price: Option<Located<Scalar>>,
        /// A picture of the product, relative to the campaign's folder.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub image: Option<Located<String>>,
        /// Where the QR code leads.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub url: Option<Located<String>>,
        /// How often it is picked relative to the others of its pool. Default 1.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub weight: Option<Located<u32>>,
        /// The product's id in the product feed. Its title, price and stock then come from the
        /// feed; leave out for free content shown as written here.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub product: Option<Located<Scalar>>,
        /// Only in these stores (codes). Leave out for every store the campaign targets.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub stores: Option<raw::List<String>>,
        /// Only on screens with one of these tags.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub tags: Option<raw::List<String>>,
        /// Only in stores whose customers include these segments (from the CRM's segment mix);
        /// stores where they are a larger share pick it more often.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub segments: Option<raw::List<String>>,
        /// Only in these of the campaign's dayparts.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub dayparts: Option<raw::List<String>>,
        /// The first day it may show, inside the campaign's dates.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub from: Option<Located<Scalar>>,
        /// The last day it may show (included).
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub until: Option<Located<Scalar>>,
        /// Not scheduled in a store that holds fewer units than this. Default 1 for products.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub min_stock: Option<Located<u32>>,
        /// Among the offers of a slot that may show, only those of the highest priority are
        /// picked from. Default 0.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub priority: Option<Located<i32>>,
        /// The most times one screen shows it in an hour.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub cap_per_hour: Option<Located<u32>>,
        /// The share of its slots that show the `control` content instead, like `10%`, so that
        /// the uplift of the offer can be measured.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub holdout: Option<Located<Scalar>>,
        /// What the holdout share sees instead of the offer.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub control: Option<Located<Control>>,
        /// A short banner on the card, like `-20%` or `New`.
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub badge: Option<Located<String>>,
    }

    /// The content of an offer's control arm.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Control {
        pub title: Located<String>,
        #[serde(default, deserialize_with = "crate::yaml::optional")]
        pub image: Option<Located<String>>,
    }
}

/// Where a campaign sits against the stores' own rules (see the scheduler's `campaigns` module for
/// the whole order: interrupt > HQ-locked > store > HQ default > fallback).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Wins over every rule of the store's playlists.
    #[default]
    Locked,
    /// Plays only when no rule of the store's playlists applies.
    Default,
}

/// A validated campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    pub name: String,
    pub targets: Targets,
    pub from: jiff::civil::Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<jiff::civil::Date>,
    pub weekdays: Weekdays,
    /// Empty for the whole day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dayparts: Vec<Daypart>,
    #[serde(default)]
    pub layer: Layer,
    pub priority: i32,
    pub share: Share,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_cap: Option<FrequencyCap>,
    pub zone: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fill: Vec<Item>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offer_pools: Vec<OfferPool>,
}

/// Which screens a campaign runs on; a screen matches if it matches any entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub all: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub screens: Vec<String>,
}

/// How much of a zone's time a campaign takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Share {
    /// A share of airtime.
    Voice(Percent),
    /// A number of items in each loop.
    LoopSlots(u32),
}

/// At most `max` showings per screen in any `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCap {
    pub max: u32,
    pub per: ItemDuration,
}

/// The offers that can fill one offer slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferPool {
    pub slot: String,
    pub offers: Vec<Offer>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub weight: u32,
    /// The feed product it shows; `None` for free content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "OfferEligibility::is_unrestricted")]
    pub eligibility: OfferEligibility,
    #[serde(default)]
    pub priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_per_hour: Option<u32>,
    /// The share of its slots that show `control` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<Percent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<OfferControl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<String>,
}

/// Where and when an offer may show, on top of the campaign's own targets and schedule. Empty
/// lists mean no restriction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferEligibility {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
    /// Names of the campaign's dayparts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dayparts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<jiff::civil::Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<jiff::civil::Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_stock: Option<u32>,
}

impl OfferEligibility {
    pub fn is_unrestricted(&self) -> bool {
        self == &Self::default()
    }
}

/// What an offer's control arm shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferControl {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Reads and validates a campaign. `file_name` is only used in diagnostics. On failure the
/// diagnostics hold every error and warning.
pub fn parse_campaign(file_name: &str, source: &str) -> Result<Parsed<Campaign>, Diagnostics> {
    if let Some(too_big) = size_limit(file_name, source) {
        return Err(Diagnostics(vec![too_big]));
    }
    let (raw, outcome) = yaml::read::<raw_campaign::Campaign>(file_name, source)
        .map_err(|diagnostic| Diagnostics(vec![diagnostic]))?;
    let mut checker = Checker::new(file_name);
    checker.absorb(None, outcome);
    let Some(raw) = raw else {
        return checker.finish(None);
    };
    if *raw.version.value() != CAMPAIGN_VERSION {
        checker.error_at(
            None,
            &raw.version,
            format!(
                "campaign version {} is not supported by this build",
                raw.version.value()
            ),
            Some(format!("write `version: {CAMPAIGN_VERSION}`")),
        );
    }
    if raw.name.value().trim().is_empty() {
        checker.error_at(None, &raw.name, "campaign name is empty", None);
    }

    let raw_targets = raw.targets.value();
    let targets = Targets {
        all: raw_targets.all.as_ref().is_some_and(|all| *all.value()),
        stores: names(&mut checker, raw_targets.stores.as_ref(), "store"),
        regions: names(&mut checker, raw_targets.regions.as_ref(), "region"),
        tags: names(&mut checker, raw_targets.tags.as_ref(), "tag"),
        screens: names(&mut checker, raw_targets.screens.as_ref(), "screen"),
    };
    let targets_something = targets.all
        || !(targets.stores.is_empty()
            && targets.regions.is_empty()
            && targets.tags.is_empty()
            && targets.screens.is_empty());
    if !targets_something && !checker.lost_inside(None, raw.targets.location()) {
        checker.error_at(
            None,
            &raw.targets,
            "the campaign targets no screen",
            Some("list `stores`, `regions`, `tags` or `screens`, or write `all: true`".into()),
        );
    }

    checker.add_dayparts(None, raw.dayparts.as_ref());
    let conditions = checker.conditions(
        None,
        Some(&raw.from),
        raw.until.as_ref(),
        raw.weekdays.as_ref(),
        None,
    );

    let share = match (&raw.share_of_voice, &raw.loop_slots) {
        (Some(voice), None) => checker
            .parse(None, voice, crate::timing::Percent::parse)
            .and_then(|percent| {
                if percent == Percent::ZERO {
                    checker.error_at(
                        None,
                        voice,
                        "a share of voice of 0% never plays",
                        Some("give it a share like `20%`".into()),
                    );
                    None
                } else {
                    Some(Share::Voice(percent))
                }
            }),
        (None, Some(slots)) => {
            if *slots.value() == 0 {
                checker.error_at(None, slots, "`loop_slots: 0` never plays", None);
                None
            } else {
                Some(Share::LoopSlots(*slots.value()))
            }
        }
        (Some(_), Some(slots)) => {
            checker.error_at(
                None,
                slots,
                "give `share_of_voice` or `loop_slots`, not both",
                None,
            );
            None
        }
        (None, None) if checker.top_level_lost => None,
        (None, None) => {
            checker.error_at(
                None,
                &raw.name,
                "the campaign says neither `share_of_voice` nor `loop_slots`",
                Some("add `share_of_voice: 20%` or `loop_slots: 1`".into()),
            );
            None
        }
    };

    let frequency_cap = raw.frequency_cap.as_ref().and_then(|cap| {
        let cap = cap.value();
        let per = checker.duration(None, &cap.per);
        if *cap.max.value() == 0 {
            checker.error_at(
                None,
                &cap.max,
                "a frequency cap of 0 means it never plays",
                Some("remove the campaign, or allow at least 1".into()),
            );
            return None;
        }
        Some(FrequencyCap {
            max: *cap.max.value(),
            per: per?,
        })
    });

    let zone = match &raw.zone {
        Some(zone) => checker.plain_name(None, zone, "zone"),
        None => MAIN_ZONE.to_owned(),
    };
    let fill = raw
        .fill
        .as_ref()
        .map(|items| checker.items_for_zone(&zone, items))
        .unwrap_or_default();

    let mut offer_pools = Vec::new();
    if let Some(pools) = &raw.offers {
        for (index, (slot, offers)) in pools.value().0.iter().enumerate() {
            if index == MAX_OFFER_POOLS {
                checker.error_at(
                    None,
                    slot,
                    format!(
                        "{} offer pools, over the limit of {MAX_OFFER_POOLS} offer pools in a campaign",
                        pools.value().0.len()
                    ),
                    Some("split the campaign".into()),
                );
                break;
            }
            let slot_name = checker.plain_name(None, slot, "offer slot");
            if offers.value().is_empty() {
                checker.error_at(
                    None,
                    offers,
                    format!("offer pool `{slot_name}` is empty"),
                    None,
                );
            }
            let mut built = Vec::new();
            let count =
                checker.within_limit(None, offers.value(), MAX_OFFERS_PER_POOL, "offers per pool");
            for offer in offers.value().iter().take(count) {
                let offer = offer.value();
                let image = offer
                    .image
                    .as_ref()
                    .and_then(|image| checker.media(None, image))
                    .map(|media| media.file);
                if let Some(url) = &offer.url
                    && !(url.value().starts_with("https://") || url.value().starts_with("http://"))
                {
                    checker.error_at(
                        None,
                        url,
                        format!("offer url `{}` is not a web address", url.value()),
                        Some("write it in full, like `https://shop.example/p/123`".into()),
                    );
                }
                let id = offer.id.value().0.clone();
                // The card's QR code leads to the `url`, else to the product's page in the feed;
                // with neither there is nowhere to go, so the card shows no QR code.
                if offer.url.is_none() && offer.product.is_none() {
                    checker.warning(
                        &Checker::origin(None, offer.id.location()),
                        format!(
                            "offer `{id}` has no `url` and no `product`, so its card shows no QR code"
                        ),
                        Some(
                            "add `url: https://shop.example/...` where a scan should lead, or \
                             `product:` with a feed product that has a link"
                                .into(),
                        ),
                    );
                }
                let id = offer.id.value().0.clone();
                if built.iter().any(|known: &Offer| known.id == id) {
                    checker.error_at(
                        None,
                        &offer.id,
                        format!("offer `{id}` is twice in pool `{slot_name}`"),
                        None,
                    );
                }
                let weight = offer.weight.as_ref().map_or(1, |weight| *weight.value());
                if weight == 0
                    && let Some(written) = &offer.weight
                {
                    checker.error_at(
                        None,
                        written,
                        "an offer of weight 0 is never picked",
                        Some("remove it from the pool instead".into()),
                    );
                }
                let product = offer.product.as_ref().map(|product| {
                    if product.value().0.trim().is_empty() {
                        checker.error_at(None, product, "the product id is empty", None);
                    }
                    product.value().0.clone()
                });
                let conditions = checker.conditions(
                    None,
                    offer.from.as_ref(),
                    offer.until.as_ref(),
                    None,
                    offer.dayparts.as_ref(),
                );
                let eligibility = OfferEligibility {
                    stores: names(&mut checker, offer.stores.as_ref(), "store"),
                    tags: names(&mut checker, offer.tags.as_ref(), "tag"),
                    segments: names(&mut checker, offer.segments.as_ref(), "segment"),
                    dayparts: conditions.dayparts,
                    from: conditions.from,
                    until: conditions.until,
                    min_stock: offer.min_stock.as_ref().map(|stock| *stock.value()),
                };
                if let Some(cap) = &offer.cap_per_hour
                    && *cap.value() == 0
                {
                    checker.error_at(
                        None,
                        cap,
                        "`cap_per_hour: 0` means it never shows",
                        Some("remove the offer, or allow at least 1".into()),
                    );
                }
                let holdout = offer
                    .holdout
                    .as_ref()
                    .and_then(|holdout| checker.parse(None, holdout, Percent::parse));
                let control = offer.control.as_ref().map(|control| OfferControl {
                    title: control.value().title.value().clone(),
                    image: control
                        .value()
                        .image
                        .as_ref()
                        .and_then(|image| checker.media(None, image))
                        .map(|media| media.file),
                });
                if let Some(written) = &offer.holdout
                    && holdout.is_some_and(|share| share != Percent::ZERO)
                    && control.is_none()
                {
                    checker.error_at(
                        None,
                        written,
                        format!("offer `{id}` has a holdout but no `control` content"),
                        Some(
                            "say what the holdout share sees instead, like \
                             `control: { title: \"Fresh every day\" }`"
                                .into(),
                        ),
                    );
                }
                built.push(Offer {
                    id,
                    title: offer.title.value().clone(),
                    price: offer.price.as_ref().map(|price| price.value().0.clone()),
                    image,
                    url: offer.url.as_ref().map(|url| url.value().clone()),
                    weight,
                    product,
                    eligibility,
                    priority: offer
                        .priority
                        .as_ref()
                        .map_or(0, |priority| *priority.value()),
                    cap_per_hour: offer.cap_per_hour.as_ref().map(|cap| *cap.value()),
                    holdout,
                    control,
                    badge: offer.badge.as_ref().map(|badge| badge.value().clone()),
                });
            }
            offer_pools.push(OfferPool {
                slot: slot_name,
                offers: built,
            });
        }
    }
    if raw.fill.is_none() && raw.offers.is_none() && !checker.top_level_lost {
        checker.error_at(
            None,
            &raw.name,
            "the campaign has nothing to show",
            Some("add `fill:` items, `offers:` for offer slots, or both".into()),
        );
    }

    let campaign = Campaign {
        name: raw.name.value().clone(),
        targets,
        from: conditions.from.unwrap_or_default(),
        until: conditions.until,
        weekdays: conditions.weekdays,
        dayparts: checker.dayparts.clone(),
        layer: raw
            .layer
            .as_ref()
            .map(|layer| *layer.value())
            .unwrap_or_default(),
        priority: raw
            .priority
            .as_ref()
            .map_or(0, |priority| *priority.value()),
        share: share.unwrap_or(Share::LoopSlots(1)),
        frequency_cap,
        zone,
        fill,
        offer_pools,
    };
    checker.finish(Some(campaign))
}
