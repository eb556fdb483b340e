//! Live commands for HQ: `vitrine interrupt` puts an emergency message on screens within seconds
//! (`vitrine interrupt list` shows those in force, `vitrine interrupt cancel` takes one or all off
//! their screens), and `vitrine trigger` makes a store's next offer slots target a customer segment
//! (what a loyalty-app check-in does through the API). They go out over the scheduler's push
//! channel; screens that are offline get them when they reconnect, while they are still in force.

use vitrine_wire::events::{
    Audience, Cancelled, InterruptList, InterruptRequest, Published, TriggerRequest,
};

use crate::ServerArgs;
use crate::client::connect;
use crate::hq::printable;

pub async fn interrupt(
    audience: Audience,
    message: &str,
    duration: &str,
    server: &ServerArgs,
) -> anyhow::Result<()> {
    let request = InterruptRequest {
        screens: audience.screens,
        region: audience.region,
        stores: audience.stores,
        tags: audience.tags,
        message: message.to_owned(),
        duration: duration.to_owned(),
    };
    let sent = connect(server)?.interrupt(&request).await?;
    print!("{}", sent_report("interrupt", &sent));
    Ok(())
}

/// What `vitrine interrupt cancel` takes off screens.
pub enum CancelTarget {
    /// One interrupt, from every screen it covers.
    Id(u64),
    /// Every interrupt in force on these screens.
    All(Audience),
}

/// `vitrine interrupt cancel ID` and `vitrine interrupt cancel --all --store S`.
pub async fn cancel_interrupts(target: CancelTarget, server: &ServerArgs) -> anyhow::Result<()> {
    let client = connect(server)?;
    let answer = match &target {
        CancelTarget::Id(id) => client.cancel_interrupt(*id).await?,
        CancelTarget::All(audience) => client.cancel_interrupts(audience).await?,
    };
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
    let list = connect(server)?.list_interrupts().await?;
    if json {
        println!("{:#}", serde_json::to_value(&list)?);
    } else {
        print!("{}", interrupt_list(&list));
    }
    Ok(())
}

/// The table `vitrine interrupt list` prints. Messages and names come from people other than the
/// reader, so they go through [`printable`].
fn interrupt_list(list: &InterruptList) -> String {
    use std::fmt::Write as _;
    if list.interrupts.is_empty() {
        return "no interrupt is in force\n".to_owned();
    }
    let mut table = format!("{:<18} {:<22} {:<28} MESSAGE\n", "ID", "UNTIL", "SCREENS");
    for interrupt in &list.interrupts {
        let _ = writeln!(
            table,
            "{:<18} {:<22} {:<28} {}",
            interrupt.id,
            interrupt.until,
            printable(&interrupt.screens.join(",")),
            printable(&interrupt.message),
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
        store: store.to_owned(),
        segment: segment.to_owned(),
        ttl: ttl.to_owned(),
    };
    let sent = connect(server)?.trigger(&request).await?;
    print!("{}", sent_report("trigger", &sent));
    Ok(())
}

/// What `vitrine interrupt` and `vitrine trigger` print once the scheduler took the event.
fn sent_report(what: &str, sent: &Published) -> String {
    let until = sent
        .until
        .map_or_else(|| "-".to_owned(), |until| until.to_string());
    format!(
        "{what} sent to {} screens ({} connected now, the others when they reconnect), in force until {until}\n",
        sent.screens.len(),
        sent.connected,
    )
}

#[cfg(test)]
mod tests {
    use vitrine_wire::events::{InterruptInForce, Withdrawn};

    use super::*;

    #[test]
    fn the_list_shows_each_interrupt_with_its_id_and_no_escape_sequences() {
        let list = InterruptList {
            interrupts: vec![InterruptInForce {
                id: 1733300000000001,
                until: "2026-12-04T10:05:00Z".parse().unwrap(),
                screens: vec!["door".into(), "till".into()],
                message: "Leave\u{1b}[2J by the main exit".into(),
            }],
        };
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
            interrupt_list(&InterruptList { interrupts: vec![] }),
            "no interrupt is in force\n"
        );
    }

    #[test]
    fn a_cancel_says_which_interrupts_left_which_screens() {
        let answer = Cancelled {
            cancelled: vec![Withdrawn {
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
