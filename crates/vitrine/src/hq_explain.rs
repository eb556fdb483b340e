//! `vitrine explain --screen S --at T [--slot X]`: asks the scheduler why a registered screen shows
//! what it shows at an instant (`GET /v1/explain`): which campaigns target it and why, what each
//! zone plays and by which rule, and for offer slots every offer's eligibility, segment score, caps
//! and the holdout roll. The file form (`vitrine explain FILE`) answers the same for a local
//! playlist without a server.

use serde_json::Value;

use crate::ServerArgs;
use crate::client::connect;

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
    let explanation: Value = connect(server)?.get(&path).await?;
    if json {
        println!("{explanation:#}");
    } else {
        print!("{}", render(&explanation));
    }
    Ok(())
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// The explanation in words.
pub fn render(explanation: &Value) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "screen {} at {} (store {}, {})",
        text(&explanation["screen"]),
        text(&explanation["at"]),
        text(&explanation["store"]),
        text(&explanation["timezone"])
    ));
    for campaign in explanation["campaigns"].as_array().into_iter().flatten() {
        if campaign["applies"] == Value::Bool(false) {
            line(format!(
                "  campaign {} does not apply now: it targets this screen ({}), but its dates, \
                 weekdays or dayparts do not hold at this instant",
                text(&campaign["name"]),
                text(&campaign["because"])
            ));
        } else {
            line(format!(
                "  campaign {} applies: {}",
                text(&campaign["name"]),
                text(&campaign["because"])
            ));
        }
    }
    for zone in explanation["zones"].as_array().into_iter().flatten() {
        line(format!(
            "  zone {}: {} — {}",
            text(&zone["zone"]),
            text(&zone["item"]),
            text(&zone["reason"])
        ));
    }
    for slot in explanation["offers"].as_array().into_iter().flatten() {
        let shows = &slot["shows"];
        line(format!(
            "  slot {} at {}: shows {} ({}, arm {})",
            text(&slot["slot"]),
            text(&slot["play_start"]),
            text(&shows["offer_id"]),
            text(&shows["campaign"]),
            text(&shows["arm"])
        ));
        for eligible in slot["eligible"].as_array().into_iter().flatten() {
            line(format!(
                "    eligible {} / {}: segment score {:.2}, weight {}, stock {}",
                text(&eligible["campaign"]),
                text(&eligible["offer_id"]),
                eligible["segment_score"].as_f64().unwrap_or(0.0),
                text(&eligible["weight"]),
                text(&eligible["stock"])
            ));
        }
        for considered in slot["pick"]["considered"].as_array().into_iter().flatten() {
            line(format!(
                "    {}: {}{}",
                text(&considered["offer_id"]),
                text(&considered["verdict"]),
                match considered["cap"].as_u64() {
                    Some(cap) => format!(
                        " ({} of {cap} this hour)",
                        text(&considered["shown_last_hour"])
                    ),
                    None => String::new(),
                }
            ));
        }
        let trigger = &slot["pick"]["trigger"];
        if let Some(segment) = trigger["segment"].as_str() {
            line(if trigger["followed"].as_bool() == Some(true) {
                format!("    trigger for segment `{segment}` in force: drawn among its offers")
            } else {
                format!(
                    "    trigger for segment `{segment}` in force, but none of its offers may \
                     show now: the normal order"
                )
            });
        }
        if let Some(roll) = slot["pick"]["holdout_roll"].as_u64() {
            line(format!(
                "    holdout roll {roll} of 10000 (the control shows below the offer's holdout share)"
            ));
        }
        for excluded in slot["excluded"].as_array().into_iter().flatten() {
            line(format!(
                "    not eligible {} / {}: {}",
                text(&excluded["campaign"]),
                text(&excluded["offer_id"]),
                text(&excluded["reason"])
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::render;

    #[test]
    fn a_campaign_that_does_not_apply_now_is_not_said_to() {
        let explanation = json!({
            "screen": "lobby", "at": "2026-03-02T14:00:00Z", "store": "paris-11",
            "timezone": "Europe/Paris",
            "campaigns": [
                { "name": "mornings", "because": "it targets every screen", "applies": false },
                { "name": "winter", "because": "it targets every screen", "applies": true },
            ],
        });
        let text = render(&explanation);
        assert!(
            text.contains("campaign mornings does not apply now"),
            "{text}"
        );
        assert!(!text.contains("campaign mornings applies"), "{text}");
        assert!(text.contains("campaign winter applies"), "{text}");
    }
}
