//! Offer rotation: what the scheduler puts into a manifest for each offer slot, and the one function
//! that decides which offer a slot shows at a play. The player calls [`OfferRotation::pick`] for
//! every offer item it plays; the scheduler's explain endpoint calls [`OfferRotation::pick_explained`]
//! on the same data, so "why did this offer show?" has one answer, like the schedule engine. Every
//! input of the choice is in [`SlotPlay`]: the play, the offers the screen showed in the hour
//! before (caps) and the segment a trigger in force targets; holdout arms are in the rotation.
//!
//! The scheduler does the work that needs the product feed and the store's data when it builds the
//! manifest: eligibility by store, tag, segment and stock is decided there, the card carries the
//! store's price, and each entry's dates and dayparts are turned into windows in UTC for the days the
//! manifest covers. What is left to decide on the screen needs only the entries and the clock:
//! validity windows, priority, weights, caps per hour and the A/B holdout.
//!
//! **Determinism.** [`OfferRotation::pick`] draws its "random" numbers from the sha256 of the screen,
//! the slot and the play's start, so the same play always shows the same offer, on the screen and in
//! the explain endpoint, and a report can be reproduced.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Which arm of the A/B test a play belongs to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The offer itself.
    #[default]
    Treatment,
    /// The control content shown in the holdout share instead of the offer.
    Control,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Treatment => "treatment",
            Self::Control => "control",
        }
    }
}

impl fmt::Display for Arm {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl std::str::FromStr for Arm {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "treatment" => Ok(Self::Treatment),
            "control" => Ok(Self::Control),
            other => Err(format!(
                "`{other}` is not an arm; write `treatment` or `control`"
            )),
        }
    }
}

/// The offers that can fill one offer slot of a screen, and what to show when none can.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferRotation {
    /// Treatment entries, and for each offer with a holdout one control entry with the same
    /// `offer_id`. In a stable order (the scheduler sorts them), since the weighted draw walks them.
    pub entries: Vec<OfferEntry>,
    /// Shown when no entry may show (all outside their windows or capped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<OfferEntry>,
}

/// One offer as a slot may show it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferEntry {
    /// The offer's id in its campaign; a control entry shares it with its treatment.
    pub offer_id: String,
    /// The campaign it comes from; reports and the QR's UTM parameters name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default)]
    pub arm: Arm,
    /// Relative to the other entries of the same priority; already scaled by the store's segment
    /// score. Control entries take their treatment's draw and do not use it.
    pub weight: u32,
    /// Only entries of the highest priority that may show are drawn from.
    #[serde(default)]
    pub priority: i32,
    /// When it may show, in UTC, for the days the manifest covers; empty means always.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<ValidityWindow>,
    /// The most plays of this offer (either arm) on one screen in any hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_per_hour: Option<u32>,
    /// On a treatment entry: the share of its draws, in hundredths of a percent (10000 = 100%),
    /// that show its control entry instead.
    #[serde(default)]
    pub holdout_basis_points: u32,
    /// The audience segments it is for; a trigger naming one of them at the store may prefer it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
    pub card: OfferCardData,
}

/// A span of time, `[start, end)`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidityWindow {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl ValidityWindow {
    pub fn contains(&self, instant: Timestamp) -> bool {
        self.start <= instant && instant < self.end
    }
}

/// What the offer card shows.
///
/// **Invariant:** a card shows exactly the price in force for its store at the play's instant, or
/// no price at all. "No price" is `price: None`, never a zero amount, so nothing downstream can
/// draw a price the store did not set (a holdout control or free content has none).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferCardData {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<CardPrice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<String>,
    /// A line like `until 24 Dec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<String>,
    /// A key of the manifest's `media`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_file: Option<String>,
    /// Whether a scan of this card's QR code leads somewhere (the offer has a `url`, or its product
    /// a link in the feed). The scheduler decides it with the rule its `/q/` redirect uses; a card
    /// without one shows no QR code.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_destination: bool,
    /// The price per unit of measure (`6,65 € / kg`) where the feed gives unit pricing, for the
    /// price in force; in the price's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<UnitPrice>,
}

/// A price per unit of measure: `cents` for each `per` (`kg`, `100 g`, `l`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitPrice {
    pub cents: i64,
    pub per: String,
}

/// A price a card shows, in the smallest unit of `currency` (cents).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardPrice {
    /// The price to pay.
    pub cents: i64,
    /// The price before a sale, shown struck through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_cents: Option<i64>,
    /// ISO 4217, like `EUR`.
    pub currency: String,
}

impl OfferEntry {
    /// Whether `instant` falls in one of its windows (or it has none).
    pub fn is_valid_at(&self, instant: Timestamp) -> bool {
        self.windows.is_empty() || self.windows.iter().any(|window| window.contains(instant))
    }
}

/// One play of an offer slot: everything the choice of its offer depends on besides the rotation.
#[derive(Clone, Copy, Debug)]
pub struct SlotPlay<'a> {
    pub screen: &'a str,
    pub slot: &'a str,
    /// The play's scheduled start.
    pub start: Timestamp,
    /// Offers this screen showed recently: offer id and play start. Plays from more than an hour
    /// before `start` are ignored.
    pub recent: &'a [(String, Timestamp)],
    /// The segment a trigger in force at `start` targets (a loyalty-app check-in at the store):
    /// the slot shows an offer for that segment when one may show, and the normal order otherwise.
    pub trigger: Option<&'a str>,
}

/// Why an entry was or was not drawn from at a play.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// It was in the weighted draw.
    Drawn,
    /// The play is outside its validity windows.
    OutsideWindows,
    /// The screen already showed this offer `shown_last_hour` times in the past hour.
    Capped { shown_last_hour: u32, cap: u32 },
    /// Another entry that may show has a higher priority.
    LowerPriority,
    /// A trigger is in force and this entry is not for its segment, while another one that may
    /// show is.
    NotForTrigger,
}

/// One entry and the verdict on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Considered<'a> {
    pub offer_id: &'a str,
    pub campaign: Option<&'a str>,
    pub weight: u32,
    pub priority: i32,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// What a trigger in force did to a pick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TriggerOutcome {
    pub segment: String,
    /// Whether the draw was among the segment's offers; `false` when none of them may show (all
    /// outside their windows, capped or absent), so the slot kept its normal order.
    pub followed: bool,
}

/// The whole reasoning of one pick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pick<'a> {
    /// What shows; `None` when nothing may show and there is no fallback.
    #[serde(skip)]
    pub entry: Option<&'a OfferEntry>,
    /// Every treatment entry, in order, with its verdict.
    pub considered: Vec<Considered<'a>>,
    /// The trigger in force at the play, if any, and whether the pick followed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<TriggerOutcome>,
    /// The weighted draw: a number below the total weight of the drawn entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draw: Option<u64>,
    pub total_weight: u64,
    /// The holdout roll, below 10000; the control shows when it is below the entry's share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout_roll: Option<u32>,
    /// Whether the fallback shows because no entry may.
    pub fallback: bool,
}

const HOUR: SignedDuration = SignedDuration::from_hours(1);

/// 100% in hundredths of a percent.
pub const ALL_BASIS_POINTS: u32 = 10_000;

impl OfferRotation {
    /// What the slot shows in `play`. Deterministic: the same inputs give the same entry.
    pub fn pick(&self, play: &SlotPlay<'_>) -> Option<&OfferEntry> {
        self.pick_explained(play).entry
    }

    /// [`OfferRotation::pick`] with every step of its reasoning. In order: entries outside their
    /// windows or at their cap per hour are out; when a trigger is in force and one of its
    /// segment's entries may show, only those stay; of what stays, the highest priority is drawn
    /// from by weight; the holdout roll may then show the drawn offer's control instead.
    pub fn pick_explained(&self, play: &SlotPlay<'_>) -> Pick<'_> {
        let play_start = play.start;
        let hour_ago = play_start.checked_sub(HOUR).unwrap_or(Timestamp::MIN);
        let shown_last_hour = |offer_id: &str| {
            play.recent
                .iter()
                .filter(|(id, at)| id == offer_id && hour_ago <= *at && *at < play_start)
                .count() as u32
        };
        let treatments = self
            .entries
            .iter()
            .filter(|entry| entry.arm == Arm::Treatment);
        let mut considered = Vec::new();
        let mut may_show = Vec::new();
        for entry in treatments {
            let verdict = if !entry.is_valid_at(play_start) {
                Verdict::OutsideWindows
            } else if let Some(cap) = entry.cap_per_hour
                && shown_last_hour(&entry.offer_id) >= cap
            {
                Verdict::Capped {
                    shown_last_hour: shown_last_hour(&entry.offer_id),
                    cap,
                }
            } else {
                may_show.push(entry);
                Verdict::Drawn
            };
            considered.push(Considered {
                offer_id: &entry.offer_id,
                campaign: entry.campaign.as_deref(),
                weight: entry.weight,
                priority: entry.priority,
                verdict,
            });
        }
        // A trigger narrows the draw to its segment's offers, when one of them may show.
        let trigger = play.trigger.map(|segment| {
            let for_segment = |entry: &OfferEntry| {
                entry.weight > 0 && entry.segments.iter().any(|known| known == segment)
            };
            let followed = may_show.iter().any(|entry| for_segment(entry));
            if followed {
                may_show.retain(|entry| for_segment(entry));
                for (record, entry) in considered.iter_mut().zip(
                    self.entries
                        .iter()
                        .filter(|entry| entry.arm == Arm::Treatment),
                ) {
                    if record.verdict == Verdict::Drawn && !for_segment(entry) {
                        record.verdict = Verdict::NotForTrigger;
                    }
                }
            }
            TriggerOutcome {
                segment: segment.to_owned(),
                followed,
            }
        });
        let best_priority = may_show.iter().map(|entry| entry.priority).max();
        for record in &mut considered {
            if record.verdict == Verdict::Drawn && Some(record.priority) != best_priority {
                record.verdict = Verdict::LowerPriority;
            }
        }
        let drawn: Vec<&OfferEntry> = may_show
            .into_iter()
            .filter(|entry| Some(entry.priority) == best_priority && entry.weight > 0)
            .collect();
        let total_weight: u64 = drawn.iter().map(|entry| u64::from(entry.weight)).sum();
        if total_weight == 0 {
            let fallback = self
                .fallback
                .as_ref()
                .filter(|fallback| fallback.is_valid_at(play_start));
            return Pick {
                entry: fallback,
                considered,
                trigger,
                draw: None,
                total_weight,
                holdout_roll: None,
                fallback: fallback.is_some(),
            };
        }
        let (screen, slot) = (play.screen, play.slot);
        let draw = seed(screen, slot, play_start, "offer") % total_weight;
        let mut remaining = draw;
        let mut chosen = drawn[0];
        for entry in &drawn {
            let weight = u64::from(entry.weight);
            if remaining < weight {
                chosen = entry;
                break;
            }
            remaining -= weight;
        }
        let mut holdout_roll = None;
        let mut entry = chosen;
        if chosen.holdout_basis_points > 0 {
            let roll =
                (seed(screen, slot, play_start, "holdout") % u64::from(ALL_BASIS_POINTS)) as u32;
            holdout_roll = Some(roll);
            if roll < chosen.holdout_basis_points
                && let Some(control) = self.control_of(&chosen.offer_id, chosen.campaign.as_deref())
            {
                entry = control;
            }
        }
        Pick {
            entry: Some(entry),
            considered,
            trigger,
            draw: Some(draw),
            total_weight,
            holdout_roll,
            fallback: false,
        }
    }

    /// The control entry of an offer, if it has a holdout.
    pub fn control_of(&self, offer_id: &str, campaign: Option<&str>) -> Option<&OfferEntry> {
        self.entries.iter().find(|entry| {
            entry.arm == Arm::Control
                && entry.offer_id == offer_id
                && entry.campaign.as_deref() == campaign
        })
    }
}

/// A number drawn from the sha256 of the play's identity; `purpose` keeps the offer draw and the
/// holdout roll independent of each other.
fn seed(screen: &str, slot: &str, play_start: Timestamp, purpose: &str) -> u64 {
    let mut hasher = Sha256::new();
    for part in [purpose, screen, slot] {
        hasher.update(part.as_bytes());
        // A separator that cannot appear in names, so `ab`+`c` and `a`+`bc` differ.
        hasher.update([0]);
    }
    hasher.update(play_start.as_millisecond().to_be_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// An amount of money in the smallest unit of its currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub cents: i64,
    /// ISO 4217, like `EUR`.
    pub currency: String,
}

/// Why a price could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("price `{text}` {problem}; write it like `12.99 EUR` or `1,90 €`")]
pub struct PriceError {
    pub text: String,
    pub problem: &'static str,
}

/// Reads a price as Merchant Center writes it (`12.99 EUR`) or as people do (`1,90 €`, `€1.90`,
/// `EUR 12`): an amount with at most two decimals after `.` or `,`, and an ISO 4217 code or one of
/// the symbols `€`, `$`, `£`.
pub fn parse_price(text: &str) -> Result<Money, PriceError> {
    let error = |problem| PriceError {
        text: text.chars().take(40).collect(),
        problem,
    };
    let trimmed = text.trim();
    let mut currency = None;
    let mut amount = String::new();
    let mut rest = trimmed;
    for (symbol, code) in [("€", "EUR"), ("$", "USD"), ("£", "GBP")] {
        if let Some(stripped) = rest.strip_prefix(symbol) {
            currency = Some(code.to_owned());
            rest = stripped;
        } else if let Some(stripped) = rest.strip_suffix(symbol) {
            currency = Some(code.to_owned());
            rest = stripped;
        }
    }
    for word in rest.split_whitespace() {
        if word.len() == 3 && word.bytes().all(|byte| byte.is_ascii_uppercase()) {
            if currency.is_some() {
                return Err(error("names two currencies"));
            }
            currency = Some(word.to_owned());
        } else if amount.is_empty() {
            amount = word.to_owned();
        } else {
            return Err(error("has more than an amount and a currency"));
        }
    }
    let currency = currency.ok_or_else(|| error("names no currency"))?;
    if amount.is_empty() {
        return Err(error("has no amount"));
    }
    let (whole, fraction) = match amount.find(['.', ',']) {
        Some(position) => (&amount[..position], &amount[position + 1..]),
        None => (amount.as_str(), ""),
    };
    let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 2 {
        return Err(error("is not an amount"));
    }
    let whole: i64 = whole.parse().map_err(|_| error("is too large"))?;
    let fraction_cents: i64 = match fraction.len() {
        0 => 0,
        1 => {
            fraction
                .parse::<i64>()
                .map_err(|_| error("is not an amount"))?
                * 10
        }
        _ => fraction.parse().map_err(|_| error("is not an amount"))?,
    };
    let cents = whole
        .checked_mul(100)
        .and_then(|cents| cents.checked_add(fraction_cents))
        .ok_or_else(|| error("is too large"))?;
    Ok(Money { cents, currency })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(offer_id: &str, weight: u32) -> OfferEntry {
        OfferEntry {
            offer_id: offer_id.to_owned(),
            campaign: Some("c".to_owned()),
            arm: Arm::Treatment,
            weight,
            priority: 0,
            windows: Vec::new(),
            cap_per_hour: None,
            holdout_basis_points: 0,
            segments: Vec::new(),
            card: OfferCardData {
                title: offer_id.to_owned(),
                ..OfferCardData::default()
            },
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_780_000_000 + seconds).unwrap()
    }

    fn play<'a>(
        screen: &'a str,
        slot: &'a str,
        start: Timestamp,
        recent: &'a [(String, Timestamp)],
    ) -> SlotPlay<'a> {
        SlotPlay {
            screen,
            slot,
            start,
            recent,
            trigger: None,
        }
    }

    fn for_segment(offer_id: &str, priority: i32, segment: &str) -> OfferEntry {
        OfferEntry {
            priority,
            segments: vec![segment.to_owned()],
            ..entry(offer_id, 1)
        }
    }

    #[test]
    fn a_trigger_draws_among_its_segment_and_falls_back_to_the_normal_order() {
        let mut students = for_segment("students-only", 0, "students");
        // Only in the first hour.
        students.windows = vec![ValidityWindow {
            start: at(0),
            end: at(3_600),
        }];
        let mut control = students.clone();
        control.arm = Arm::Control;
        students.holdout_basis_points = ALL_BASIS_POINTS;
        let rotation = OfferRotation {
            entries: vec![
                for_segment("top", 9, "families"),
                entry("house", 1),
                students,
                control,
            ],
            fallback: Some(entry("fallback", 1)),
        };
        let triggered = |start| SlotPlay {
            trigger: Some("students"),
            ..play("s", "x", start, &[])
        };
        // In force and in its window: the segment's offer, whatever its priority, and its holdout
        // arm still applies.
        let pick = rotation.pick_explained(&triggered(at(60)));
        let shown = pick.entry.unwrap();
        assert_eq!(
            (shown.offer_id.as_str(), shown.arm),
            ("students-only", Arm::Control)
        );
        assert_eq!(
            pick.trigger,
            Some(TriggerOutcome {
                segment: "students".to_owned(),
                followed: true
            })
        );
        assert_eq!(pick.considered[0].verdict, Verdict::NotForTrigger);
        // Outside its window: the normal order (the highest priority), not the fallback.
        let pick = rotation.pick_explained(&triggered(at(7_200)));
        assert_eq!(pick.entry.unwrap().offer_id, "top");
        assert!(!pick.trigger.unwrap().followed);
        assert!(!pick.fallback);
        // A segment no offer is for: the normal order too.
        let other = SlotPlay {
            trigger: Some("retirees"),
            ..play("s", "x", at(60), &[])
        };
        assert_eq!(rotation.pick(&other).unwrap().offer_id, "top");
        // Capped out: the normal order.
        let mut capped = rotation.clone();
        capped.entries[2].cap_per_hour = Some(1);
        let recent = vec![("students-only".to_owned(), at(10))];
        let pick = capped.pick(&SlotPlay {
            trigger: Some("students"),
            ..play("s", "x", at(60), &recent)
        });
        assert_eq!(pick.unwrap().offer_id, "top");
    }

    #[test]
    fn the_same_play_always_picks_the_same_offer() {
        let rotation = OfferRotation {
            entries: vec![entry("a", 1), entry("b", 1), entry("c", 1)],
            fallback: None,
        };
        for second in 0..50 {
            let first = rotation.pick(&play("s", "slot", at(second * 10), &[]));
            let again = rotation.pick(&play("s", "slot", at(second * 10), &[]));
            assert_eq!(first, again);
        }
    }

    #[test]
    fn weights_set_the_share_of_draws() {
        let rotation = OfferRotation {
            entries: vec![entry("a", 1), entry("b", 3)],
            fallback: None,
        };
        let b_count = (0..10_000)
            .filter(|slot| {
                rotation
                    .pick(&play("s", "x", at(slot * 10), &[]))
                    .unwrap()
                    .offer_id
                    == "b"
            })
            .count();
        assert!((7_250..=7_750).contains(&b_count), "{b_count}");
    }

    #[test]
    fn the_holdout_share_holds_within_one_percent_over_ten_thousand_slots() {
        let mut offer = entry("a", 1);
        offer.holdout_basis_points = 1_000;
        let mut control = entry("a", 1);
        control.arm = Arm::Control;
        let rotation = OfferRotation {
            entries: vec![offer, control, entry("b", 1)],
            fallback: None,
        };
        let mut a_plays = 0;
        let mut control_plays = 0;
        for slot in 0..10_000 {
            let picked = rotation
                .pick(&play("screen-7", "promo", at(slot * 15), &[]))
                .unwrap();
            if picked.offer_id == "a" {
                a_plays += 1;
                if picked.arm == Arm::Control {
                    control_plays += 1;
                }
            }
        }
        let share = f64::from(control_plays) / f64::from(a_plays);
        assert!((0.09..=0.11).contains(&share), "{control_plays}/{a_plays}");
    }

    #[test]
    fn caps_per_hour_are_honoured_and_the_fallback_shows() {
        let mut capped = entry("a", 1);
        capped.cap_per_hour = Some(2);
        let rotation = OfferRotation {
            entries: vec![capped],
            fallback: Some(entry("house", 1)),
        };
        let recent = vec![("a".to_owned(), at(-1_800)), ("a".to_owned(), at(-60))];
        let picked = rotation.pick(&play("s", "x", at(0), &recent)).unwrap();
        assert_eq!(picked.offer_id, "house");
        // One of the two plays is now more than an hour old.
        let picked = rotation.pick(&play("s", "x", at(1_900), &recent)).unwrap();
        assert_eq!(picked.offer_id, "a");
        let explained = rotation.pick_explained(&play("s", "x", at(0), &recent));
        assert!(explained.fallback);
        assert_eq!(
            explained.considered[0].verdict,
            Verdict::Capped {
                shown_last_hour: 2,
                cap: 2
            }
        );
    }

    #[test]
    fn only_the_highest_priority_that_may_show_is_drawn_and_windows_apply() {
        let mut urgent = entry("urgent", 1);
        urgent.priority = 5;
        urgent.windows = vec![ValidityWindow {
            start: at(0),
            end: at(3_600),
        }];
        let rotation = OfferRotation {
            entries: vec![entry("a", 100), urgent],
            fallback: None,
        };
        for second in [0, 100, 3_599] {
            assert_eq!(
                rotation
                    .pick(&play("s", "x", at(second), &[]))
                    .unwrap()
                    .offer_id,
                "urgent"
            );
        }
        assert_eq!(
            rotation
                .pick(&play("s", "x", at(3_600), &[]))
                .unwrap()
                .offer_id,
            "a"
        );
        assert_eq!(
            rotation
                .pick(&play("s", "x", at(-1), &[]))
                .unwrap()
                .offer_id,
            "a"
        );
    }

    #[test]
    fn prices_are_read_in_the_usual_forms() {
        let money = |cents, currency: &str| Money {
            cents,
            currency: currency.to_owned(),
        };
        assert_eq!(parse_price("12.99 EUR"), Ok(money(1299, "EUR")));
        assert_eq!(parse_price("1,90 €"), Ok(money(190, "EUR")));
        assert_eq!(parse_price("€1.9"), Ok(money(190, "EUR")));
        assert_eq!(parse_price("USD 12"), Ok(money(1200, "USD")));
        for bad in [
            "12.99",
            "abc EUR",
            "1.999 EUR",
            "-1 EUR",
            "",
            "1 2 EUR",
            "EUR",
        ] {
            assert!(parse_price(bad).is_err(), "{bad}");
        }
    }
}
