//! Live commands for HQ: `vitrine interrupt` puts an emergency message on screens within seconds
//! (`vitrine interrupt list` shows those in force, `vitrine interrupt cancel` takes one or all off
//! their screens), and `vitrine trigger` makes a store's next offer slots target a customer segment
//! (what a loyalty-app check-in does through the API). They go out over the scheduler's push
//! channel; screens that are offline get them when they reconnect, while they are still in force.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::ServerArgs;
use crate::client::ApiClient;
use crate::hq::{printable, text};

#[derive(Debug, Serialize)]
struct InterruptRequest<'a> {
    screens: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    stores: &'a [String],
    tags: &'a [String],
    message: &'a str,
    duration: &'a str,
}

#[derive(Debug, Serialize)]
struct TriggerRequest<'a> {
    store: &'a str,
    segment: &'a str,
    ttl: &'a str,
}

/// What the scheduler answers: which screens the event is for and how many were connected.
#[derive(Debug, Deserialize)]
struct Sent {
    screens: Vec<String>,
    connected: usize,
    until: String,
}

/// Who an interrupt is for.
pub struct Audience<'a> {
    pub screens: &'a [String],
    pub region: Option<&'a str>,
    pub stores: &'a [String],
    pub tags: &'a [String],
}

pub async fn interrupt(
    audience: Audience<'_>,
    message: &str,
    duration: &str,
    server: &ServerArgs,
) -> anyhow::Result<()> {
    let request = InterruptRequest {
        screens: audience.screens,
        region: audience.region,
        stores: audience.stores,
        tags: audience.tags,
        message,
        duration,
    };
    send("/v1/interrupts", &request, "interrupt", server).await
}

/// What `vitrine interrupt cancel` takes off screens.
pub enum CancelTarget<'a> {
    /// One interrupt, from every screen it covers.
    Id(u64),
    /// Every interrupt in force on these screens.
    All(Audience<'a>),
}

#[derive(Debug, Serialize)]
struct CancelRequest<'a> {
    screens: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    stores: &'a [String],
    tags: &'a [String],
}

#[derive(Debug, Deserialize)]
struct Cancelled {
    cancelled: Vec<CancelledInterrupt>,
}

#[derive(Debug, Deserialize)]
struct CancelledInterrupt {
    id: u64,
    screens: Vec<String>,
    connected: usize,
}

/// `vitrine interrupt cancel ID` and `vitrine interrupt cancel --all --store S`.
pub async fn cancel_interrupts(
    target: CancelTarget<'_>,
    server: &ServerArgs,
) -> anyhow::Result<()> {
    let client = ApiClient::new(server)?;
    let request =
        match &target {
            CancelTarget::Id(id) => {
                client.request(Method::POST, &format!("/v1/interrupts/{id}/cancel"))
            }
            CancelTarget::All(audience) => client
                .request(Method::POST, "/v1/interrupts/cancel")
                .json(&CancelRequest {
                    screens: audience.screens,
                    region: audience.region,
                    stores: audience.stores,
                    tags: audience.tags,
                }),
        };
    let response = client.send(request).await?;
    let answer: Cancelled = ApiClient::read_json(response, None).await?;
    print!("{}", cancel_report(&answer));
    Ok(())
}

fn cancel_report(answer: &Cancelled) -> String {
    use std::fmt::Write as _;
    if answer.cancelled.is_empty() {
        return "no interrupt was in force on those screens\n".to_owned();
    }
    let mut report = String::new();
    for cancelled in &answer.cancelled {
        let _ = writeln!(
            report,
            "interrupt {} cancelled on {} screens ({} connected now; the others never show it again): {}",
            cancelled.id,
            cancelled.screens.len(),
            cancelled.connected,
            printable(&cancelled.screens.join(", "))
        );
    }
    report
}

/// `vitrine interrupt list`: the interrupts in force, newest last.
pub async fn list_interrupts(json: bool, server: &ServerArgs) -> anyhow::Result<()> {
    let client = ApiClient::new(server)?;
    let response = client
        .send(client.request(Method::GET, "/v1/interrupts"))
        .await?;
    let list: serde_json::Value = ApiClient::read_json(response, None).await?;
    if json {
        println!("{list:#}");
    } else {
        print!("{}", interrupt_list(&list));
    }
    Ok(())
}

/// The table `vitrine interrupt list` prints. Messages and names come from people other than the
/// reader, so they go through [`printable`].
fn interrupt_list(list: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let interrupts = list["interrupts"].as_array().cloned().unwrap_or_default();
    if interrupts.is_empty() {
        return "no interrupt is in force\n".to_owned();
    }
    let mut table = format!("{:<18} {:<22} {:<28} MESSAGE\n", "ID", "UNTIL", "SCREENS");
    for interrupt in &interrupts {
        let screens: Vec<String> = interrupt["screens"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        let _ = writeln!(
            table,
            "{:<18} {:<22} {:<28} {}",
            printable(&text(&interrupt["id"])),
            printable(&text(&interrupt["until"])),
            printable(&screens.join(",")),
            printable(&text(&interrupt["message"])),
        );
    }
    table
}

pub async fn trigger(
    store: &str,
    segment: &str,
    ttl: &str,
    server: &ServerArgs,
) -> anyhow::Result<()> {
    let request = TriggerRequest {
        store,
        segment,
        ttl,
    };
    send("/v1/triggers", &request, "trigger", server).await
}

async fn send(
    path: &str,
    body: &impl Serialize,
    what: &str,
    server: &ServerArgs,
) -> anyhow::Result<()> {
    let client = ApiClient::new(server)?;
    let response = client
        .send(client.request(Method::POST, path).json(body))
        .await?;
    let sent: Sent = ApiClient::read_json(response, None).await?;
    println!(
        "{what} sent to {} screens ({} connected now, the others when they reconnect), in force until {}",
        sent.screens.len(),
        sent.connected,
        sent.until
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_shows_each_interrupt_with_its_id_and_no_escape_sequences() {
        let list = serde_json::json!({"interrupts": [
            {"id": 1733300000000001_u64, "until": "2026-12-04T10:05:00Z",
             "screens": ["door", "till"], "message": "Leave\u{1b}[2J by the main exit"},
        ]});
        let table = interrupt_list(&list);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2, "{table}");
        assert!(lines[0].starts_with("ID "), "{table}");
        assert!(lines[1].starts_with("1733300000000001 "), "{table}");
        assert!(lines[1].contains(" door,till "), "{table}");
        assert!(
            lines[1].ends_with("Leave\\u{1b}[2J by the main exit"),
            "{table}"
        );
        assert_eq!(
            interrupt_list(&serde_json::json!({"interrupts": []})),
            "no interrupt is in force\n"
        );
    }

    #[test]
    fn a_cancel_says_which_interrupts_left_which_screens() {
        let answer = Cancelled {
            cancelled: vec![CancelledInterrupt {
                id: 42,
                screens: vec!["door".into(), "till".into()],
                connected: 1,
            }],
        };
        assert_eq!(
            cancel_report(&answer),
            "interrupt 42 cancelled on 2 screens (1 connected now; the others never show it \
             again): door, till\n"
        );
        assert_eq!(
            cancel_report(&Cancelled { cancelled: vec![] }),
            "no interrupt was in force on those screens\n"
        );
    }
}
