//! `vitrine screens`: registers screens with the scheduler and hands out their device tokens, pairs
//! a screen from the code it shows, and revokes or replaces a screen's token.

use anyhow::Context as _;
use vitrine_client::HqClient;
use vitrine_wire::pairing::ConfirmPairing;
use vitrine_wire::screens::CreateScreen;

use crate::ServerArgs;
use crate::client::connect;

/// Where a new screen is: its store, tags and own time zone (all optional; a screen in a store
/// takes the store's time zone unless it is given one).
#[derive(Debug, Default)]
pub struct Placement<'a> {
    pub store: Option<&'a str>,
    pub tags: &'a [String],
    pub timezone: Option<&'a str>,
}

/// Registers a screen. The device token goes alone to stdout so that scripts can capture it
/// (`TOKEN=$(vitrine screens add ...)`); everything meant for a person goes to stderr.
/// With `allow_unpushed` the playlist may be one that has not been pushed yet, with a warning;
/// otherwise the scheduler refuses it and names the closest pushed ones.
pub async fn add(
    name: &str,
    playlist: &str,
    allow_unpushed: bool,
    placement: Placement<'_>,
    server: &ServerArgs,
) -> anyhow::Result<()> {
    let client = connect(server)?;
    let created = client
        .create_screen(&CreateScreen {
            name: name.to_owned(),
            playlist: playlist.to_owned(),
            timezone: placement.timezone.map(str::to_owned),
            store: placement.store.map(str::to_owned),
            tags: placement.tags.to_vec(),
            allow_unpushed,
        })
        .await
        .with_context(|| format!("could not add screen \"{name}\""))?;
    println!("{}", created.token);
    eprintln!(
        "added screen \"{name}\" playing \"{playlist}\". The line above is its device token: put it \
         into the player's configuration on that screen, and keep it secret, since it lets anyone \
         read the screen's content."
    );
    if let Some(warning) = &created.warning {
        eprintln!("warning: {warning}");
    }
    // The key goes beside the token, on stderr, so `TOKEN=$(vitrine screens add ...)` still
    // captures the token alone.
    match server_key(&client).await {
        Ok(key) => eprintln!(
            "the player verifies its manifests with the scheduler's key, and that they are made for \
             this screen; add these lines to its configuration too:\nserver_key = \"{key}\"\n\
             screen = \"{name}\""
        ),
        Err(error) => eprintln!(
            "warning: could not read the scheduler's manifest key ({error:#}); without \
             `server_key` the player trusts the first key it sees"
        ),
    }
    Ok(())
}

/// The scheduler's manifest-signing public key (`GET /v1/server-key`).
async fn server_key(client: &HqClient) -> anyhow::Result<String> {
    Ok(client.server_key().await?.public_key)
}

/// Refuses text that cannot be one path segment of the API (a screen name, a pairing code), so a
/// typo never reaches another endpoint.
fn path_segment<'a>(what: &str, text: &'a str) -> anyhow::Result<&'a str> {
    let plain = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    if plain {
        Ok(text)
    } else {
        anyhow::bail!("{what} `{text}` may hold only letters, digits, `.`, `_` and `-`")
    }
}

/// `vitrine screens pair CODE --store S`: confirms the code a player shows, which registers the
/// screen; the player picks up its token by itself within seconds. Prints the screen's name.
pub async fn pair(
    code: &str,
    store: &str,
    name: Option<&str>,
    playlist: Option<&str>,
    allow_unpushed: bool,
    placement: Placement<'_>,
    server: &ServerArgs,
) -> anyhow::Result<()> {
    let code = path_segment("pairing code", code.trim())?;
    if let Some(name) = name {
        path_segment("screen name", name)?;
    }
    let client = connect(server)?;
    let confirmation = ConfirmPairing {
        name: name.map(str::to_owned),
        store: Some(store.to_owned()),
        playlist: playlist.map(str::to_owned),
        allow_unpushed,
        tags: placement.tags.to_vec(),
        timezone: placement.timezone.map(str::to_owned),
    };
    let paired = client
        .confirm_pairing(code, &confirmation)
        .await
        .with_context(|| format!("could not pair code {code}"))?;
    println!("{}", paired.screen);
    eprintln!(
        "paired screen \"{}\" in store \"{store}\", playing \"{}\"; the player picks up its token \
         and starts playing within seconds.",
        paired.screen, paired.playlist
    );
    if let Some(warning) = &paired.warning {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// `vitrine screens revoke NAME`: the screen's token stops working now; the player keeps playing
/// what it has and reports that it needs pairing again.
pub async fn revoke(name: &str, server: &ServerArgs) -> anyhow::Result<()> {
    let name = path_segment("screen name", name)?;
    connect(server)?
        .revoke_screen(name)
        .await
        .with_context(|| format!("could not revoke screen \"{name}\""))?;
    eprintln!(
        "revoked screen \"{name}\": its token is refused from now on. Pair it again \
         (`vitrine screens pair CODE`) or give it a new token (`vitrine screens rotate {name}`)."
    );
    Ok(())
}

/// `vitrine screens rotate NAME`: a new device token for the screen, printed on stdout; the old
/// one stops working now.
pub async fn rotate(name: &str, server: &ServerArgs) -> anyhow::Result<()> {
    let name = path_segment("screen name", name)?;
    let rotated = connect(server)?
        .rotate_screen(name)
        .await
        .with_context(|| format!("could not give screen \"{name}\" a new token"))?;
    println!("{}", rotated.token);
    eprintln!(
        "screen \"{name}\" has a new device token (the line above); its old one stops working now. \
         Put the new one into the player's configuration."
    );
    Ok(())
}

/// How often `vitrine screens screenshot` asks whether the new screenshot is there.
const SCREENSHOT_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// `vitrine screens screenshot NAME --out FILE`: sends the screen the `screenshot` command, waits
/// until HQ holds a screenshot newer than the one it held before (polling every 200 ms, at most
/// `timeout`), and writes that JPEG to `out`.
pub async fn screenshot(
    name: &str,
    out: &std::path::Path,
    timeout: std::time::Duration,
    server: &ServerArgs,
) -> anyhow::Result<()> {
    let name = path_segment("screen name", name)?;
    let client = connect(server)?;
    // What HQ holds now, by HQ's own clock: the answer is the first one received after it, so
    // the clocks of this machine and HQ never need to agree.
    let before = latest_screenshot(&client, name)
        .await
        .with_context(|| format!("could not read screen \"{name}\"'s screenshot"))?
        .map(|(taken_at, _)| taken_at);
    let published = send(&client, name, "screenshot").await?;
    if published.connected == 0 {
        eprintln!(
            "screen \"{name}\" is not connected to HQ right now; it takes the screenshot when it \
             reconnects"
        );
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some((taken_at, jpeg)) = latest_screenshot(&client, name).await?
            && before.is_none_or(|before| taken_at > before)
        {
            let temporary = out.with_extension("jpg.part");
            std::fs::write(&temporary, &jpeg)
                .and_then(|()| std::fs::rename(&temporary, out))
                .with_context(|| format!("could not write the screenshot to {}", out.display()))?;
            eprintln!(
                "wrote {} ({} bytes), taken by screen \"{name}\" at {taken_at}",
                out.display(),
                jpeg.len()
            );
            return Ok(());
        }
        if tokio::time::Instant::now() + SCREENSHOT_POLL > deadline {
            anyhow::bail!(
                "screen {name} did not send a screenshot within {}: is it online? \
                 `vitrine screens status {name}`",
                spoken(timeout)
            );
        }
        tokio::time::sleep(SCREENSHOT_POLL).await;
    }
}

/// `vitrine screens identify|restart NAME`: sends the screen that command.
pub async fn command(name: &str, command: &str, server: &ServerArgs) -> anyhow::Result<()> {
    let name = path_segment("screen name", name)?;
    let client = connect(server)?;
    let published = send(&client, name, command).await?;
    let what = match command {
        "identify" => "shows its name for 10 s",
        "restart" => "restarts its player",
        _ => "acts on it",
    };
    if published.connected == 0 {
        eprintln!(
            "sent `{command}` to screen \"{name}\", which is not connected right now; it {what} \
             when it reconnects within the next minutes"
        );
    } else {
        eprintln!("sent `{command}` to screen \"{name}\": it {what} now");
    }
    Ok(())
}

async fn send(
    client: &HqClient,
    name: &str,
    command: &str,
) -> anyhow::Result<vitrine_wire::events::Published> {
    client
        .send_command(&vitrine_wire::events::CommandRequest {
            screens: vec![name.to_owned()],
            region: None,
            stores: Vec::new(),
            tags: Vec::new(),
            command: command.to_owned(),
        })
        .await
        .with_context(|| format!("could not send `{command}` to screen \"{name}\""))
}

/// The screen's latest screenshot, or None when it has sent none yet.
async fn latest_screenshot(
    client: &HqClient,
    name: &str,
) -> anyhow::Result<Option<(jiff::Timestamp, Vec<u8>)>> {
    match client.screenshot(name).await {
        Ok(screenshot) => Ok(Some(screenshot)),
        Err(error)
            if error
                .downcast_ref::<vitrine_client::ServerError>()
                .is_some_and(|server| server.code.as_deref() == Some("no_screenshot")) =>
        {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// `10 s`, `1.5 s`, `250 ms`: a wait as a person reads it.
fn spoken(duration: std::time::Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else if duration.as_secs() == 0 {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_said_as_people_read_them() {
        assert_eq!(spoken(std::time::Duration::from_secs(10)), "10 s");
        assert_eq!(spoken(std::time::Duration::from_millis(250)), "250 ms");
        assert_eq!(spoken(std::time::Duration::from_millis(1500)), "1.5 s");
    }
}
