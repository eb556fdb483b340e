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
}

/// The answer to `POST /v1/screens`; the `screen` record beside the token is not needed here.
#[derive(Debug, Deserialize)]
struct CreatedScreen {
    token: String,
}

/// Registers a screen. The device token goes alone to stdout so that scripts can capture it
/// (`TOKEN=$(vitrine screens add ...)`); everything meant for a person goes to stderr.
pub async fn add(name: &str, playlist: &str, server: &ServerArgs) -> anyhow::Result<()> {
    let client = ApiClient::new(server)?;
    let request = client
        .request(Method::POST, "/v1/screens")
        .json(&NewScreen { name, playlist });
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
