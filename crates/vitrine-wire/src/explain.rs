//! Explain: why a registered screen shows what it shows at an instant (`GET /v1/explain`), from
//! the campaigns that target it down to each offer slot's pick.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use vitrine_core::OfferEntry;

/// The answer to `GET /v1/explain?screen=S&at=T[&slot=X]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Explanation {
    pub screen: String,
    /// The instant asked about.
    pub at: Timestamp,
    /// The IANA time zone the screen's schedule runs in.
    pub timezone: String,
    /// The code of the screen's store; absent when it is in none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Campaigns that target the screen, with why.
    pub campaigns: Vec<TargetedCampaign>,
    /// Campaigns that do not target it.
    pub not_targeted: Vec<String>,
    /// What each zone plays at the instant, and by which rule.
    pub zones: Vec<ZoneExplanation>,
    /// Each offer slot a zone plays at the instant (or the one asked for), and its pick.
    pub offers: Vec<SlotExplanation>,
}

/// A campaign that targets the screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetedCampaign {
    pub name: String,
    /// Why it targets the screen.
    pub because: String,
    /// Whether its dates, weekdays and dayparts hold at the instant asked about: a campaign that
    /// targets the screen but is outside its dayparts does not apply then.
    pub applies: bool,
}

/// What one zone plays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ZoneExplanation {
    pub zone: String,
    /// The item on screen, or `None` when nothing plays (the fallback shows).
    pub item: Option<String>,
    /// The offer slot the item fills, when it is an offer item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// The schedule engine's reason, in words.
    pub reason: String,
    /// The item's scheduled start; absent when nothing plays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play_start: Option<Timestamp>,
}

/// One offer slot and the pick made for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlotExplanation {
    pub slot: String,
    /// The instant the pick was made for: the start of the play, or `at`.
    pub play_start: Timestamp,
    /// The offer that shows; absent when nothing may show and there is no fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shows: Option<OfferEntry>,
    /// Every step of the pick: each entry's verdict, the weighted draw and the holdout roll.
    pub pick: OfferPick,
    /// Offers in the manifest, with segment score and weight.
    pub eligible: Vec<Inclusion>,
    /// Offers left out of this screen's manifest, with why.
    pub excluded: Vec<Exclusion>,
    /// How many plays of each offer the screen reported in the hour before, which caps count.
    pub shown_last_hour: BTreeMap<String, usize>,
}

/// The whole reasoning of one pick, as `vitrine_core::offer::Pick` makes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferPick {
    /// Every treatment entry, in order, with its verdict.
    pub considered: Vec<ConsideredOffer>,
    /// The trigger in force at the play, if any, and whether the pick followed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<TriggerOutcome>,
    /// The weighted draw: a number below the total weight of the drawn entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw: Option<u64>,
    /// The weight of the entries drawn from, together.
    pub total_weight: u64,
    /// The holdout roll, below 10000; the control shows when it is below the entry's share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout_roll: Option<u32>,
    /// Whether the fallback shows because no entry may.
    pub fallback: bool,
}

/// One entry of a pick and the verdict on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsideredOffer {
    pub offer_id: String,
    /// The campaign the offer comes from.
    pub campaign: Option<String>,
    pub weight: u32,
    pub priority: i32,
    /// Why it was or was not drawn from: `drawn`, `outside_windows` (the play is outside its
    /// validity windows), `capped`, `lower_priority` (another entry that may show ranks higher)
    /// or `not_for_trigger` (a trigger is in force and another entry is for its segment). Kept
    /// as text so that a client reads a verdict a newer scheduler adds.
    pub verdict: String,
    /// With `capped`: how many times the screen showed the offer in the past hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown_last_hour: Option<u32>,
    /// With `capped`: the most plays of the offer on one screen in any hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<u32>,
}

/// What a trigger in force did to a pick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TriggerOutcome {
    /// The audience segment the trigger targets.
    pub segment: String,
    /// Whether the draw was among the segment's offers; `false` when none of them may show (all
    /// outside their windows, capped or absent), so the slot kept its normal order.
    pub followed: bool,
}

/// An offer in a screen's manifest, with its segment score and the weight it got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Inclusion {
    pub slot: String,
    pub campaign: String,
    pub offer_id: String,
    /// The share of the store's customers in the offer's segments; 1 without segments.
    pub segment_score: f64,
    pub weight: u32,
    /// The store's stock of the offer's product, when the inventory feed gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<i64>,
}

/// An offer left out of a screen's manifest, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Exclusion {
    pub slot: String,
    pub campaign: String,
    pub offer_id: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explanation_reads_fields_it_does_not_know() {
        let explanation: Explanation = serde_json::from_str(
            r#"{"screen":"door","at":"2026-03-02T14:00:00Z","timezone":"UTC","campaigns":[],
                "not_targeted":[],"zones":[],"added_later":1,"offers":[{"slot":"deal",
                "play_start":"2026-03-02T14:00:00Z","eligible":[],"excluded":[],
                "shown_last_hour":{},"pick":{"considered":[{"offer_id":"a","campaign":null,
                "weight":1,"priority":0,"verdict":"added_later"}],"total_weight":1,
                "fallback":false}}]}"#,
        )
        .unwrap();
        assert_eq!(explanation.store, None);
        assert_eq!(
            explanation.offers[0].pick.considered[0].verdict,
            "added_later"
        );
    }
}
