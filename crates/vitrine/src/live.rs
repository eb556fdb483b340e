//! Live commands for HQ: `vitrine interrupt` puts an emergency message on screens within seconds, and
//! `vitrine trigger` makes a store's next offer slots target a customer segment (what a loyalty-app
//! check-in does through the API). Both go out over the scheduler's push channel; screens that are
//! offline get them when they reconnect, while they are still in force.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::ServerArgs;
use crate::client::ApiClient;

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
