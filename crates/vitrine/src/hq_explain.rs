//! `vitrine explain --screen S --at T [--slot X]`: asks the scheduler why a registered screen shows
//! what it shows at an instant (`GET /v1/explain`): which campaigns target it and why, what each
//! zone plays and by which rule, and for offer slots every offer's eligibility, segment score, caps
//! and the holdout roll. The file form (`vitrine explain FILE`) answers the same for a local
//! playlist without a server.

use vitrine_wire::explain::Explanation;

use crate::ServerArgs;
use crate::hq::{get_or_print_json, or_dash};

/// Percent-encodes a query or path component (everything but RFC 3986's unreserved characters).
pub fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

pub async fn run(
    screen: &str,
    at: &str,
    slot: Option<&str>,
    server: &ServerArgs,
    json: bool,
) -> anyhow::Result<()> {
    let mut path = format!(
        "/v1/explain?screen={}&at={}",
        encode_component(screen),
        encode_component(at)
    );
    if let Some(slot) = slot {
        path.push_str(&format!("&slot={}", encode_component(slot)));
    }
    if let Some(explanation) = get_or_print_json::<Explanation>(server, &path, json).await? {
        print!("{}", render(&explanation));
    }
    Ok(())
}

/// The explanation in words.
pub fn render(explanation: &Explanation) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "screen {} at {} (store {}, {})",
        explanation.screen,
        explanation.at,
        or_dash(explanation.store.as_deref()),
        explanation.timezone
    ));
    for campaign in &explanation.campaigns {
        if campaign.applies {
            line(format!(
                "  campaign {} applies: {}",
                campaign.name, campaign.because
            ));
        } else {
            line(format!(
                "  campaign {} does not apply now: it targets this screen ({}), but its dates, \
                 weekdays or dayparts do not hold at this instant",
                campaign.name, campaign.because
            ));
        }
    }
    for zone in &explanation.zones {
        line(format!(
            "  zone {}: {} — {}",
            zone.zone,
            or_dash(zone.item.as_deref()),
            zone.reason
        ));
    }
    for slot in &explanation.offers {
        let shows = slot.shows.as_ref();
        line(format!(
            "  slot {} at {}: shows {} ({}, arm {})",
            slot.slot,
            slot.play_start,
            or_dash(shows.map(|entry| &entry.offer_id)),
            or_dash(shows.and_then(|entry| entry.campaign.as_deref())),
            or_dash(shows.map(|entry| entry.arm.as_str()))
        ));
        for eligible in &slot.eligible {
            line(format!(
                "    eligible {} / {}: segment score {:.2}, weight {}, stock {}",
                eligible.campaign,
                eligible.offer_id,
                eligible.segment_score,
                eligible.weight,
                or_dash(eligible.stock)
            ));
        }
        for considered in &slot.pick.considered {
            line(format!(
                "    {}: {}{}",
                considered.offer_id,
                considered.verdict,
                match considered.cap {
                    Some(cap) => format!(
                        " ({} of {cap} this hour)",
                        or_dash(considered.shown_last_hour)
                    ),
                    None => String::new(),
                }
            ));
        }
        if let Some(trigger) = &slot.pick.trigger {
            let segment = &trigger.segment;
            line(if trigger.followed {
                format!("    trigger for segment `{segment}` in force: drawn among its offers")
            } else {
                format!(
                    "    trigger for segment `{segment}` in force, but none of its offers may \
                     show now: the normal order"
                )
            });
        }
        if let Some(roll) = slot.pick.holdout_roll {
            line(format!(
                "    holdout roll {roll} of 10000 (the control shows below the offer's holdout share)"
            ));
        }
        for excluded in &slot.excluded {
            line(format!(
                "    not eligible {} / {}: {}",
                excluded.campaign, excluded.offer_id, excluded.reason
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use vitrine_wire::explain::Explanation;

    use super::render;

    #[test]
    fn a_campaign_that_does_not_apply_now_is_not_said_to() {
        let explanation: Explanation = serde_json::from_value(json!({
            "screen": "lobby", "at": "2026-03-02T14:00:00Z", "store": "paris-11",
            "timezone": "Europe/Paris",
            "campaigns": [
                { "name": "mornings", "because": "it targets every screen", "applies": false },
                { "name": "winter", "because": "it targets every screen", "applies": true },
            ],
            "not_targeted": [], "zones": [], "offers": [],
        }))
        .unwrap();
        let text = render(&explanation);
        assert!(
            text.contains("campaign mornings does not apply now"),
            "{text}"
        );
        assert!(!text.contains("campaign mornings applies"), "{text}");
        assert!(text.contains("campaign winter applies"), "{text}");
    }
}
