//! The scheduler's manifest-signing key: an ed25519 key made on first start in the data folder
//! (owner-only), whose signature over the exact bytes of every manifest served travels in the
//! [`SIGNATURE_HEADER`] response header. Players verify it with the public key from their config or
//! from pairing (`GET /v1/server-key` serves it), so a manifest altered on the way, or served by
//! anything but this scheduler, is refused. The same key signs the push events that act on a
//! screen ([`sign_event`]), for one screen and until an expiry.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use ed25519_dalek::{Signer, SigningKey};

use crate::AppState;
pub use vitrine_wire::screens::ServerKey;

/// The file in the data folder that holds the signing key's 32 secret bytes, in hex.
pub const SIGNING_KEY_FILE: &str = "manifest-signing-key";

/// The response header with the hex ed25519 signature of the response body.
pub const SIGNATURE_HEADER: &str = "x-vitrine-signature";

/// Reads `DATA_DIR/manifest-signing-key`, or makes a new key there, readable only by its owner.
pub fn load_or_create_signing_key(data_dir: &Path) -> anyhow::Result<SigningKey> {
    let path = data_dir.join(SIGNING_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .with_context(|| {
                    format!(
                        "{} is not 64 hex characters; restore it from a backup, or delete it to \
                         make a new key (every player must then be given the new public key)",
                        path.display()
                    )
                })?;
            return Ok(SigningKey::from_bytes(&bytes));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)
        .map_err(|error| anyhow::anyhow!("the OS random generator failed: {error}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Owner-only from the start, never readable by others even for an instant.
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{}", hex::encode(secret))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "made a new manifest-signing key");
    Ok(SigningKey::from_bytes(&secret))
}

/// The hex public key players verify with.
pub fn public_key_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().as_bytes())
}

/// The hex signature of `body`.
pub fn sign_hex(key: &SigningKey, body: &[u8]) -> String {
    hex::encode(key.sign(body).to_bytes())
}

/// The SSE `data` of a push event that acts on a screen: a [`vitrine_core::push::Envelope`] with
/// the exact JSON text of `event` and its signature.
pub fn sign_event(key: &SigningKey, event: &vitrine_core::push::SignedEvent) -> String {
    // Serialising these plain fields cannot fail; an empty text would only fail verification.
    let signed = serde_json::to_string(event).unwrap_or_default();
    let envelope = vitrine_core::push::Envelope {
        signature: sign_hex(key, signed.as_bytes()),
        signed,
    };
    serde_json::to_string(&envelope).unwrap_or_default()
}

/// `GET /v1/server-key`: the public key manifests are signed with. Public by nature; a player that
/// trusts what this returns over an untrusted network gains nothing, so installers should copy the
/// key from `vitrine screens add` (or pairing, over TLS) instead.
#[utoipa::path(
    get,
    path = "/v1/server-key",
    tag = "pairing",
    responses(
        (status = 200, description = "The key manifests are signed with", body = crate::signing::ServerKey),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
    ),
    security(()),
)]
pub async fn server_key(State(state): State<AppState>) -> Json<ServerKey> {
    Json(ServerKey {
        algorithm: "ed25519".to_owned(),
        public_key: state.server_public_key().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier};

    #[test]
    fn the_key_is_made_once_private_and_signs_verifiably() {
        let folder = tempfile::tempdir().expect("temp dir");
        let key = load_or_create_signing_key(folder.path()).expect("made");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(folder.path().join(SIGNING_KEY_FILE))
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = load_or_create_signing_key(folder.path()).expect("read back");
        assert_eq!(public_key_hex(&key), public_key_hex(&again));

        let signature = sign_hex(&key, b"{\"manifest\":1}");
        let bytes: [u8; 64] = hex::decode(&signature).unwrap().try_into().unwrap();
        let verifying = key.verifying_key();
        assert!(
            verifying
                .verify(b"{\"manifest\":1}", &Signature::from_bytes(&bytes))
                .is_ok()
        );
        assert!(
            verifying
                .verify(b"{\"manifest\":2}", &Signature::from_bytes(&bytes))
                .is_err()
        );
    }
}
