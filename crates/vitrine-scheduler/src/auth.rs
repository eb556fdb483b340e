//! Who is calling: the bearer token of a request resolved to the HQ admin or to one screen, as axum
//! extractors that handlers name in their signatures ([`Admin`], [`ScreenCaller`], [`Caller`]).
//!
//! The admin token is compared in constant time. Device tokens are never stored: the database holds
//! their sha256 and a request's token is looked up by its hash, so neither a leaked database nor a
//! timing side channel gives a token away.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;
use crate::store::Screen;

/// The file in the data folder that holds the admin token when none is given on the command line.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// The longest bearer token looked at; anything longer cannot be ours and is not worth hashing.
const MAX_TOKEN_LENGTH: usize = 512;

/// A new random token: 32 bytes from the operating system's generator, as 64 hex characters.
pub fn generate_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| anyhow::anyhow!("the OS random generator failed: {error}"))?;
    Ok(hex::encode(bytes))
}

/// The hex sha256 of a token, as the screens table stores it.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Reads `DATA_DIR/admin-token`, or creates it with a new random token, readable only by its owner.
/// Returns the token and, when it was just made, the file's path so the caller can say where it is.
pub fn load_or_create_admin_token(data_dir: &Path) -> anyhow::Result<(String, Option<PathBuf>)> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let token = text.trim().to_owned();
            anyhow::ensure!(
                !token.is_empty(),
                "{} is empty; write a token into it or delete it to have one generated",
                path.display()
            );
            return Ok((token, None));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("reading {}", path.display()));
        }
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
    let token = generate_token()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Created with owner-only permissions, so the token is never readable by others, not even
        // for an instant before a chmod.
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{token}")
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((token, Some(path)))
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Screen(Screen),
}

/// A request made with the admin token; any other caller is refused with 403.
#[derive(Debug)]
pub struct Admin;

/// A request made with a screen's device token; the admin is refused with 403, since the manifest
/// and impressions are always some one screen's.
#[derive(Debug)]
pub struct ScreenCaller(pub Screen);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or_else(ApiError::unauthorized)?;
        if is_admin_token(token, state.admin_token_sha256()) {
            return Ok(Self::Admin);
        }
        let token_sha256 = token_sha256(token);
        let generation = state.generation();
        if let Some(screen) = state.screen_cache().get(&token_sha256, generation) {
            return Ok(Self::Screen(screen));
        }
        let screen = state
            .store()
            .screen_by_token_sha256(token_sha256.clone())
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        state
            .screen_cache()
            .put(&token_sha256, generation, screen.clone());
        Ok(Self::Screen(screen))
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Admin => Ok(Self),
            Caller::Screen(screen) => Err(ApiError::forbidden(format!(
                "this needs the admin token; the token sent belongs to screen `{}`",
                screen.name
            ))),
        }
    }
}

impl FromRequestParts<AppState> for ScreenCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Screen(screen) => Ok(Self(screen)),
            Caller::Admin => Err(ApiError::forbidden(
                "this is a screen's endpoint; call it with the screen's device token, not the \
                 admin token",
            )),
        }
    }
}

/// The token of an `Authorization: Bearer TOKEN` header, if the request has a usable one.
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    let usable = scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && token.len() <= MAX_TOKEN_LENGTH;
    usable.then_some(token)
}

/// Compares hashes rather than the tokens themselves: both sides are then 32 bytes, so the
/// constant-time comparison does not even reveal the admin token's length.
fn is_admin_token(token: &str, admin_token_sha256: &[u8; 32]) -> bool {
    let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    presented.ct_eq(admin_token_sha256).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_64_hex_characters_and_differ() {
        let first = generate_token().expect("random token");
        let second = generate_token().expect("random token");
        assert_eq!(first.len(), 64);
        assert!(first.bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_ne!(first, second);
    }

    #[test]
    fn admin_token_comparison_is_exact() {
        let admin: [u8; 32] = Sha256::digest(b"secret-token").into();
        assert!(is_admin_token("secret-token", &admin));
        assert!(!is_admin_token("secret-toke", &admin));
        assert!(!is_admin_token("secret-token2", &admin));
    }

    #[test]
    fn admin_token_file_is_created_once_and_private() {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let (token, created) = load_or_create_admin_token(data_dir.path()).expect("created");
        let path = created.expect("a new file is reported");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, created_again) = load_or_create_admin_token(data_dir.path()).expect("read");
        assert_eq!(again, token);
        assert_eq!(created_again, None);
    }
}
