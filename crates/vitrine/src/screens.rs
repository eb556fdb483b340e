//! `vitrine screens`: registers screens with the scheduler and hands out their device tokens.

use anyhow::Context as _;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::ServerArgs;
use crate::client::ApiClient;

/// The body of `POST /v1/screens`.
#[derive(Debug, Serialize)]
struct NewScreen<'a> {
    name: &'a str,
    playlist: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<&'a str>,
}

/// Where a new screen is: its store, tags and own time zone (all optional; a screen in a store
/// takes the store's time zone unless it is given one).
#[derive(Debug, Default)]
pub struct Placement<'a> {
    pub store: Option<&'a str>,
    pub tags: &'a [String],
    pub timezone: Option<&'a str>,
}

/// The answer to `POST /v1/screens`; the `screen` record beside the token is not needed here.
#[derive(Debug, Deserialize)]
struct CreatedScreen {
    token: String,
}

/// Registers a screen. The device token goes alone to stdout so that scripts can capture it
/// (`TOKEN=$(vitrine screens add ...)`); everything meant for a person goes to stderr.
pub async fn add(
    name: &str,
    playlist: &str,
    placement: Placement<'_>,
    server: &ServerArgs,
) -> anyhow::Result<()> {
    let client = ApiClient::new(server)?;
    let request = client
        .request(Method::POST, "/v1/screens")
        .json(&NewScreen {
            name,
            playlist,
            store: placement.store,
            tags: placement.tags,
            timezone: placement.timezone,
        });
    let response = client.send(request).await?;
    let created: CreatedScreen = ApiClient::read_json(response, None)
        .await
        .with_context(|| format!("could not add screen \"{name}\""))?;
    println!("{}", created.token);
    eprintln!(
        "added screen \"{name}\" playing \"{playlist}\". The line above is its device token: put it \
         into the player's configuration on that screen, and keep it secret, since it lets anyone \
         read the screen's content."
    );
    Ok(())
}
