//! Pairing and trust in the scheduler.
//!
//! A player configured with a `server` but no `token` pairs: it asks the scheduler for a code
//! (`POST /v1/pairings`), shows "Pair this screen: CODE" full screen (and prints it on stdout), and
//! polls until someone at HQ runs `vitrine screens pair CODE --store S`. The answer carries its
//! device token and the scheduler's manifest-signing key; both go into `DATA_DIR/credentials.toml`
//! (owner-only), and the player starts again with them, so everything that needs the token (sync,
//! proof of play, QR codes) starts the ordinary way. An expired code is replaced by a new one.
//!
//! Every manifest is verified before activation against the scheduler's ed25519 key
//! ([`ManifestTrust`]): the `server_key` of the config, else the one pairing brought, else the key
//! the scheduler presents the first time (trust on first use, with a warning), which is then kept
//! in `DATA_DIR/trusted-server-key`. A manifest with a missing or bad signature is refused, and the
//! last good one keeps playing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use vitrine_client::{Hints, HqClient, ServerError};
use vitrine_wire::pairing::PairingState;

use crate::config::PlayerConfig;
use crate::events::{PlayerEvent, SharedSink};

/// Where pairing leaves the player's credentials, inside the data folder.
pub const CREDENTIALS_FILE: &str = "credentials.toml";

/// Where a key trusted on first use is kept, inside the data folder.
pub const TRUSTED_KEY_FILE: &str = "trusted-server-key";

/// The response header with the scheduler's signature of the manifest bytes.
pub const SIGNATURE_HEADER: &str = "x-vitrine-signature";

/// What pairing brought, kept for the next starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The scheduler these are for; a player moved to another scheduler pairs again.
    pub server: String,
    pub screen: String,
    pub token: String,
    /// The hex ed25519 key manifests are signed with.
    pub server_key: String,
}

pub fn load_credentials(data_dir: &Path) -> anyhow::Result<Option<Credentials>> {
    let path = data_dir.join(CREDENTIALS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map(Some).with_context(|| {
            format!(
                "{} is damaged; delete it and restart the player to pair again",
                path.display()
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the credentials owner-only, through a temporary file renamed into place, so a power cut
/// leaves either the old file or the new one.
pub fn save_credentials(data_dir: &Path, credentials: &Credentials) -> anyhow::Result<()> {
    let text = toml::to_string(credentials).context("serialising the credentials")?;
    write_private(&data_dir.join(CREDENTIALS_FILE), text.as_bytes())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Owner-only from the first byte: the token must never be readable by others.
        options.mode(0o600);
    }
    let mut file = options
        .open(&temporary)
        .with_context(|| format!("cannot create {}", temporary.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot move {} into place", path.display()))?;
    Ok(())
}

/// Fills in the token and server key from `credentials.toml` when the config names a server but
/// no token. Credentials made for another server are ignored (the player pairs again).
pub fn apply_credentials(config: &mut PlayerConfig) -> anyhow::Result<()> {
    let Some(server) = &config.server else {
        return Ok(());
    };
    if config.token.is_some() {
        return Ok(());
    }
    let Some(credentials) = load_credentials(&config.data_dir)? else {
        return Ok(());
    };
    if credentials.server.trim_end_matches('/') != server.trim_end_matches('/') {
        tracing::warn!(
            paired_with = %credentials.server,
            server = %server,
            "the stored credentials are for another scheduler; pairing again"
        );
        return Ok(());
    }
    tracing::info!(screen = %credentials.screen, "using the credentials from pairing");
    config.token = Some(credentials.token);
    if config.server_key.is_none() {
        config.server_key = Some(credentials.server_key);
    }
    if config.screen.is_none() {
        config.screen = Some(credentials.screen);
    }
    Ok(())
}

/// Parses a hex ed25519 public key, naming the setting on error.
pub fn parse_key(hex_key: &str) -> anyhow::Result<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .context(
            "`server_key` must be the 64 hex characters `vitrine screens add` prints (or \
             `GET /v1/server-key` returns)",
        )?;
    VerifyingKey::from_bytes(&bytes).context("`server_key` is not a valid ed25519 public key")
}

/// Which key manifests must be signed with.
#[derive(Debug)]
pub struct ManifestTrust {
    key: Mutex<Option<VerifyingKey>>,
    /// Where a key learnt on first use is kept; None keeps it in memory only.
    remember_in: Option<PathBuf>,
}

impl ManifestTrust {
    /// Trusts exactly this key.
    pub fn pinned(key: VerifyingKey) -> Self {
        Self {
            key: Mutex::new(Some(key)),
            remember_in: None,
        }
    }

    /// Trusts the first key the scheduler presents, for the life of the process.
    pub fn first_use_in_memory() -> Self {
        Self {
            key: Mutex::new(None),
            remember_in: None,
        }
    }

    /// Trusts the key kept from an earlier first use in `data_dir`, or else the first key the
    /// scheduler presents, which is then kept there.
    pub fn first_use(data_dir: Option<&Path>) -> anyhow::Result<Self> {
        let remember_in = data_dir.map(|folder| folder.join(TRUSTED_KEY_FILE));
        let key = match &remember_in {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => Some(parse_key(&text).with_context(|| {
                    format!(
                        "{} is damaged; delete it to trust the key again",
                        path.display()
                    )
                })?),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => {
                    return Err(error).with_context(|| format!("cannot read {}", path.display()));
                }
            },
            None => None,
        };
        Ok(Self {
            key: Mutex::new(key),
            remember_in,
        })
    }

    /// The trust a player's config asks for: its `server_key`, else first use in its data folder.
    pub fn for_config(config: &PlayerConfig) -> anyhow::Result<Self> {
        match &config.server_key {
            Some(key) => Ok(Self::pinned(parse_key(key)?)),
            None => {
                tracing::warn!(
                    "no `server_key` configured: the scheduler's manifest key is trusted on first \
                     use; copy the key `vitrine screens add` prints into the config to pin it"
                );
                Self::first_use(Some(&config.data_dir))
            }
        }
    }

    pub(crate) fn current(&self) -> Option<VerifyingKey> {
        *self.key.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Checks that `signature_hex` signs `body`. With no key yet, `present_key` asks the scheduler
    /// for its key, which is trusted from then on if it verifies this manifest.
    pub async fn verify<F>(
        &self,
        body: &[u8],
        signature_hex: Option<&str>,
        present_key: impl FnOnce() -> F,
    ) -> anyhow::Result<()>
    where
        F: Future<Output = anyhow::Result<String>>,
    {
        let Some(signature_hex) = signature_hex else {
            bail!(
                "refused a manifest without a signature (no {SIGNATURE_HEADER} header): is \
                 something other than the scheduler answering? The current content keeps playing"
            );
        };
        let signature: [u8; 64] = hex::decode(signature_hex.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .context("refused a manifest whose signature is not 128 hex characters")?;
        let signature = Signature::from_bytes(&signature);
        let (key, learnt) = match self.current() {
            Some(key) => (key, false),
            None => (parse_key(&present_key().await?)?, true),
        };
        key.verify(body, &signature).map_err(|_| {
            anyhow::anyhow!(
                "refused a manifest whose signature does not verify with the scheduler's key: it \
                 was changed on the way or comes from elsewhere. The current content keeps \
                 playing"
            )
        })?;
        if learnt {
            tracing::warn!(
                key = %hex::encode(key.as_bytes()),
                "trusting the scheduler's manifest key on first use"
            );
            *self.key.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(key);
            if let Some(path) = &self.remember_in {
                write_private(path, hex::encode(key.as_bytes()).as_bytes())?;
            }
        }
        Ok(())
    }
}

/// What the pairing client's errors suggest checking.
const HINTS: Hints = Hints {
    unreachable: "check `server` in the player's configuration",
    unauthorized: "ask for a new code",
};

/// Starts pairing on its own thread. When it succeeds the credentials are saved, the player is
/// asked to shut down, and [`crate::restart::restart_if_requested`] starts it again with them.
pub fn start(
    server: &str,
    ca_cert: Option<&[u8]>,
    data_dir: &Path,
    sink: SharedSink,
) -> anyhow::Result<()> {
    let client = crate::sync::hq_client_builder(server, ca_cert)?
        .hints(HINTS)
        .build()
        .context("the player's `server`")?;
    let data_dir = data_dir.to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("vitrine-pairing".into())
        .spawn(move || {
            let credentials = runtime.block_on(pair(&client, &sink));
            match save_credentials(&data_dir, &credentials) {
                Ok(()) => {
                    tracing::info!(screen = %credentials.screen, "paired; starting again to sync");
                    crate::restart::request(
                        sink.as_ref(),
                        "paired: starting again to sync with the new credentials",
                    );
                }
                Err(error) => tracing::error!(
                    "paired as screen `{}`, but cannot keep the token: {error:#}; free the data \
                     folder and restart the player to pair again",
                    credentials.screen
                ),
            }
        })?;
    Ok(())
}

/// Asks for codes until one is confirmed; never gives up (a screen waiting to be paired has
/// nothing better to do), backing off while the scheduler cannot be reached.
async fn pair(client: &HqClient, sink: &SharedSink) -> Credentials {
    let mut wait = Duration::from_secs(2);
    loop {
        match pair_once(client, sink).await {
            Ok(Some(credentials)) => return credentials,
            Ok(None) => wait = Duration::from_secs(2),
            Err(error) => {
                tracing::warn!(retry_in_s = wait.as_secs(), "pairing: {error:#}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(60));
            }
        }
    }
}

/// One code, from asking for it to its confirmation (Some) or expiry (None).
async fn pair_once(client: &HqClient, sink: &SharedSink) -> anyhow::Result<Option<Credentials>> {
    let started = match client.start_pairing().await {
        Ok(started) => started,
        Err(error) => {
            if let Some(refusal) = error.downcast_ref::<ServerError>()
                && refusal.status == reqwest::StatusCode::TOO_MANY_REQUESTS
            {
                let retry_after = refusal.retry_after_s.unwrap_or(10);
                tokio::time::sleep(Duration::from_secs(retry_after)).await;
                bail!("the scheduler asked to slow down; asking again for a code");
            }
            return Err(error.context("the scheduler gave no pairing code"));
        }
    };
    println!(
        "vitrine-player: pair this screen with code {} (at HQ: vitrine screens pair {} --store STORE)",
        started.code, started.code
    );
    tracing::info!(code = %started.code, expires_at = %started.expires_at, "showing a pairing code");
    sink.post(PlayerEvent::PairingCode {
        code: started.code.clone(),
        until: started.expires_at,
    });
    let interval = Duration::from_secs(started.poll_interval_s.clamp(1, 30));
    while Timestamp::now() < started.expires_at {
        tokio::time::sleep(interval).await;
        match client.poll_pairing(&started.code, &started.secret).await {
            Ok(None) => return Ok(None),
            Ok(Some(PairingState::Paired {
                screen,
                token,
                server_key,
            })) => {
                parse_key(&server_key)?;
                return Ok(Some(Credentials {
                    server: client.base_url().to_owned(),
                    screen,
                    token,
                    server_key,
                }));
            }
            Ok(Some(PairingState::Waiting { .. })) => {}
            Err(error) => tracing::debug!("pairing poll failed, trying again: {error:#}"),
        }
    }
    tracing::info!(code = %started.code, "the pairing code expired; asking for a new one");
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signing_key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[tokio::test]
    async fn a_pinned_key_accepts_its_signatures_only() {
        let key = signing_key();
        let trust = ManifestTrust::pinned(key.verifying_key());
        let body = br#"{"playlist":"a"}"#;
        let signature = hex::encode(key.sign(body).to_bytes());
        let never = || async { anyhow::bail!("a pinned key never asks") };
        trust.verify(body, Some(&signature), never).await.unwrap();
        let error = trust
            .verify(br#"{"playlist":"b"}"#, Some(&signature), never)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("does not verify"), "{error:#}");
        let error = trust.verify(body, None, never).await.unwrap_err();
        assert!(
            error.to_string().contains("without a signature"),
            "{error:#}"
        );
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let forged = hex::encode(other.sign(body).to_bytes());
        assert!(trust.verify(body, Some(&forged), never).await.is_err());
    }

    #[tokio::test]
    async fn a_key_trusted_on_first_use_is_kept_and_then_pinned() {
        let folder = tempfile::tempdir().unwrap();
        let key = signing_key();
        let body = b"manifest";
        let signature = hex::encode(key.sign(body).to_bytes());
        let presented = hex::encode(key.verifying_key().as_bytes());
        let trust = ManifestTrust::first_use(Some(folder.path())).unwrap();
        trust
            .verify(body, Some(&signature), || async { Ok(presented.clone()) })
            .await
            .unwrap();
        // A new start reads the kept key and never asks again; another key's signature fails.
        let again = ManifestTrust::first_use(Some(folder.path())).unwrap();
        let other = SigningKey::from_bytes(&[9u8; 32]);
        let forged = hex::encode(other.sign(body).to_bytes());
        let error = again
            .verify(body, Some(&forged), || async {
                Ok(hex::encode(other.verifying_key().as_bytes()))
            })
            .await
            .unwrap_err();
        assert!(error.to_string().contains("does not verify"), "{error:#}");
    }

    /// A one-request HTTP server on loopback that answers a manifest request with `body` and,
    /// when given, the signature header.
    fn serve_manifest_once(body: Vec<u8>, signature: Option<String>) -> String {
        let signature = signature
            .map(|signature| format!("{SIGNATURE_HEADER}: {signature}\r\n"))
            .unwrap_or_default();
        crate::sync::test_http::answer_once(
            "200 OK",
            format!("Content-Type: application/json\r\nETag: \"e\"\r\n{signature}"),
            body,
            true,
        )
    }

    #[tokio::test]
    async fn the_sync_client_refuses_a_tampered_or_unsigned_manifest() {
        let playlist = vitrine_core::parse_playlist(
            "lobby.yaml",
            "version: 1\nname: lobby\nitems:\n  - text: { text: Welcome, duration: 5s }\n",
        )
        .unwrap();
        let manifest =
            vitrine_core::Manifest::build("lobby", "UTC", &playlist, 1, |_| None).unwrap();
        let body = serde_json::to_vec(&manifest).unwrap();
        let key = signing_key();
        let signature = hex::encode(key.sign(&body).to_bytes());
        let client = |server: &str| {
            crate::sync::SyncClient::new(server, "token", None)
                .unwrap()
                .with_trust(ManifestTrust::pinned(key.verifying_key()))
        };

        let genuine = serve_manifest_once(body.clone(), Some(signature.clone()));
        let fetched = client(&genuine).fetch_manifest(None).await.unwrap();
        assert!(matches!(fetched, crate::sync::ManifestFetch::New(_)));

        // One word changed on the way: still a manifest, no longer the scheduler's.
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.contains("Welcome"));
        let tampered = text.replace("Welcome", "Wellcome").into_bytes();
        let server = serve_manifest_once(tampered, Some(signature));
        let error = client(&server).fetch_manifest(None).await.unwrap_err();
        assert!(
            format!("{error:#}").contains("does not verify"),
            "{error:#}"
        );

        let server = serve_manifest_once(body, None);
        let unsigned = client(&server);
        let error = unsigned.fetch_manifest(None).await.unwrap_err();
        assert!(
            format!("{error:#}").contains("without a signature"),
            "{error:#}"
        );
        // The refusal waits for the heartbeat to report it.
        let alert = unsigned.manifest_alert().expect("an alert");
        assert!(alert.contains("without a signature"), "{alert}");
    }

    #[test]
    fn credentials_are_private_and_only_for_their_server() {
        let folder = tempfile::tempdir().unwrap();
        let credentials = Credentials {
            server: "http://hq.example:8080".into(),
            screen: "lobby".into(),
            token: "secret-token".into(),
            server_key: hex::encode(signing_key().verifying_key().as_bytes()),
        };
        save_credentials(folder.path(), &credentials).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(folder.path().join(CREDENTIALS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut config = PlayerConfig {
            server: Some("http://hq.example:8080/".into()),
            data_dir: folder.path().to_owned(),
            ..PlayerConfig::default()
        };
        apply_credentials(&mut config).unwrap();
        assert_eq!(config.token.as_deref(), Some("secret-token"));
        assert_eq!(config.server_key, Some(credentials.server_key.clone()));

        let mut elsewhere = PlayerConfig {
            server: Some("http://other.example".into()),
            data_dir: folder.path().to_owned(),
            ..PlayerConfig::default()
        };
        apply_credentials(&mut elsewhere).unwrap();
        assert_eq!(elsewhere.token, None, "another server means pairing again");
    }
}
