//! Who is calling: the bearer token of a request resolved to the HQ admin, a store staff member or
//! one screen, as axum extractors that handlers name in their signatures ([`Admin`], [`Manager`]
//! for the admin or staff, [`ScreenCaller`], [`Caller`]). Who may call what is the table in
//! ARCHITECTURE.md ("Who may do what").
//!
//! The admin token is compared in constant time. Device and staff tokens are never stored: the
//! database holds their sha256 and a request's token is looked up by its hash, so neither a leaked
//! database nor a timing side channel gives a token away. No token is ever logged. A wrong or
//! missing token is a 401 that says how to get one (`token_revoked` for a revoked one); a right
//! token that may not do this is a 403 that says what it may do.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;
pub use crate::storage::access::StaffMember;
pub(crate) use crate::storage::access::TokenOwner;
use crate::storage::screens::Screen;

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
    Staff(StaffMember),
    Screen(Screen),
}

/// A request made with the admin token; any other caller is refused with 403.
#[derive(Debug)]
pub struct Admin;

/// A request made with a screen's device token; the admin and staff are refused with 403, since the
/// manifest, events and impressions are always some one screen's.
#[derive(Debug)]
pub struct ScreenCaller(pub Screen);

/// A request made with the admin token or a staff token. Handlers that accept staff narrow what
/// staff may touch with [`Manager::ensure_store`] and [`Manager::ensure_screens`].
#[derive(Clone, Debug)]
pub enum Manager {
    Admin,
    Staff(StaffMember),
}

/// What a screen's token may do, for 403 messages.
const SCREEN_MAY: &str = "a screen's device token reads only that screen's manifest, media and \
                          events, and posts only its own heartbeats and impressions";

impl Caller {
    /// Says who the caller is and what it may do, for a 403 that names the way forward.
    fn describe(&self) -> String {
        match self {
            Self::Admin => "the admin token may do everything except a screen's own calls".into(),
            Self::Staff(staff) => staff_may(staff),
            Self::Screen(screen) => {
                format!("this is screen `{}`'s token; {SCREEN_MAY}", screen.name)
            }
        }
    }
}

fn staff_may(staff: &StaffMember) -> String {
    format!(
        "staff token `{}` acts only on store{} {}: it may push its stores' playlists, add, pair, \
         revoke and rotate their screens (with its stores' playlists and {}), send them \
         interrupts, triggers and commands, and read their status, impressions, explanations \
         and scan figures",
        staff.name,
        if staff.stores.len() == 1 { "" } else { "s" },
        staff.stores.join(", "),
        if staff.tags.is_empty() {
            "no tags: HQ hands tags out with `vitrine staff add --tag`".to_owned()
        } else {
            format!("the tags {}", staff.tags.join(", "))
        }
    )
}

/// A 401 that says how to get a token.
pub fn unauthorized(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        format!(
            "{why}; send `Authorization: Bearer TOKEN` with the admin token (the file \
             `admin-token` in the scheduler's data folder), a staff token (`vitrine staff add`) \
             or a screen's device token (`vitrine screens add` or `vitrine screens pair`)"
        ),
    )
}

fn revoked() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "token_revoked",
        "this token was revoked; a screen needs pairing again (`vitrine screens pair CODE`) or a \
         new token (`vitrine screens rotate NAME`), a staff member a new staff token \
         (`vitrine staff add`)",
    )
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The rate limit found the caller already: the token is not hashed or looked up twice.
        if let Some(ResolvedCaller(caller)) = parts.extensions.remove::<ResolvedCaller>() {
            return Ok(caller);
        }
        let token = bearer_token(parts).ok_or_else(|| unauthorized("this needs a token"))?;
        if is_admin_token(token, state.admin_token_sha256()) {
            return Ok(Self::Admin);
        }
        match resolve_token(state, &token_sha256(token)).await? {
            TokenOwner::Screen(screen) => Ok(Self::Screen(screen)),
            TokenOwner::Staff(staff) => Ok(Self::Staff(staff)),
            TokenOwner::Revoked => Err(revoked()),
            TokenOwner::Unknown => Err(unauthorized("the token sent is not known here")),
        }
    }
}

/// A request's caller as the rate limit ([`crate::rate_limit::limit`]) found it, handed to the
/// handler's extractor in the request's extensions. Only a valid caller is handed on; a missing,
/// unknown or revoked token is looked at again by the extractor, which says what is wrong.
#[derive(Clone, Debug)]
pub(crate) struct ResolvedCaller(pub(crate) Caller);

/// The caller a token's hash names in the caller caches now, if it is a valid screen or staff
/// token there.
pub(crate) fn cached_caller(state: &AppState, token_sha256: &str) -> Option<Caller> {
    let generation = state.callers_generation();
    if let Some(screen) = state.screen_cache().get(token_sha256, generation) {
        return Some(Caller::Screen(screen));
    }
    state
        .staff_cache()
        .get(token_sha256, generation)
        .map(Caller::Staff)
}

/// Whether a token's hash was a valid screen or staff token when the caller caches last looked
/// it up, and no token, staff or screen was written since: its entry may be past the caches' age
/// limit, but it is no made-up token.
pub(crate) fn known_caller(state: &AppState, token_sha256: &str) -> bool {
    let generation = state.callers_generation();
    state.screen_cache().holds(token_sha256, generation)
        || state.staff_cache().holds(token_sha256, generation)
}

/// Looks a token's hash up, through the caches. Each cache entry is tied to the callers
/// generation, which every write to tokens, staff or screens (a revocation included) bumps, so a
/// revoked token is refused from the next request on.
pub(crate) async fn resolve_token(
    state: &AppState,
    token_sha256: &str,
) -> Result<TokenOwner, ApiError> {
    let generation = state.callers_generation();
    if let Some(screen) = state.screen_cache().get(token_sha256, generation) {
        return Ok(TokenOwner::Screen(screen));
    }
    if let Some(staff) = state.staff_cache().get(token_sha256, generation) {
        return Ok(TokenOwner::Staff(staff));
    }
    let owner = state.storage().token_owner(token_sha256.to_owned()).await?;
    match &owner {
        TokenOwner::Screen(screen) => {
            state
                .screen_cache()
                .put(token_sha256, generation, screen.clone());
        }
        TokenOwner::Staff(staff) => {
            state
                .staff_cache()
                .put(token_sha256, generation, staff.clone());
        }
        TokenOwner::Revoked | TokenOwner::Unknown => {}
    }
    Ok(owner)
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Self::of_caller(Caller::from_request_parts(parts, state).await?)
    }
}

impl Admin {
    /// The admin, if `caller` is; otherwise the 403 an admin-only endpoint answers.
    fn of_caller(caller: Caller) -> Result<Self, ApiError> {
        match caller {
            Caller::Admin => Ok(Self),
            caller => Err(ApiError::forbidden(format!(
                "this needs the admin token; {}",
                caller.describe()
            ))),
        }
    }

    /// The admin, if `manager` is, refused as the extractor refuses: for the console, whose
    /// sessions resolve to a [`Manager`] and which calls the admin's handlers with it.
    pub fn of(manager: &Manager) -> Result<Self, ApiError> {
        Self::of_caller(match manager {
            Manager::Admin => Caller::Admin,
            Manager::Staff(staff) => Caller::Staff(staff.clone()),
        })
    }
}

impl FromRequestParts<AppState> for Manager {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Admin => Ok(Self::Admin),
            Caller::Staff(staff) => Ok(Self::Staff(staff)),
            caller @ Caller::Screen(_) => Err(ApiError::forbidden(format!(
                "this needs the admin token or a staff token; {}",
                caller.describe()
            ))),
        }
    }
}

impl FromRequestParts<AppState> for ScreenCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Screen(screen) => Ok(Self(screen)),
            caller => Err(ApiError::forbidden(format!(
                "this is a screen's endpoint; call it with the screen's device token. {}",
                caller.describe()
            ))),
        }
    }
}

impl Manager {
    pub fn is_admin(&self) -> bool {
        matches!(self, Self::Admin)
    }

    /// The stores this caller is limited to; None for the admin, who is limited to none.
    pub fn stores(&self) -> Option<&[String]> {
        match self {
            Self::Admin => None,
            Self::Staff(staff) => Some(&staff.stores),
        }
    }

    pub fn may_act_on_store(&self, store: &str) -> bool {
        self.stores()
            .is_none_or(|stores| stores.iter().any(|own| own == store))
    }

    /// Refuses staff unless `store` is one of theirs. A screen or request with no store is HQ's
    /// alone.
    pub fn ensure_store(&self, store: Option<&str>, what: &str) -> Result<(), ApiError> {
        let Self::Staff(staff) = self else {
            return Ok(());
        };
        match store {
            Some(store) if self.may_act_on_store(store) => Ok(()),
            Some(store) => Err(ApiError::forbidden(format!(
                "{what} is in store `{}`, which is not yours; {}",
                store.chars().take(80).collect::<String>(),
                staff_may(staff)
            ))),
            None => Err(ApiError::forbidden(format!(
                "{what} belongs to no store, so only the admin may act on it; {}",
                staff_may(staff)
            ))),
        }
    }

    /// Refuses staff unless every one of `screens` is in one of their stores. An unknown screen
    /// and another store's screen get the same 403, so staff cannot learn which screens exist
    /// elsewhere; the admin gets the handler's 404 for unknown screens.
    pub async fn ensure_screens(
        &self,
        state: &AppState,
        screens: &[String],
    ) -> Result<(), ApiError> {
        let Self::Staff(staff) = self else {
            return Ok(());
        };
        for screen in screens {
            let store = state.storage().store_of_screen(screen.clone()).await?;
            let theirs = matches!(&store, Some(Some(store)) if self.may_act_on_store(store));
            if !theirs {
                return Err(ApiError::forbidden(format!(
                    "there is no screen `{}` in your stores; {}",
                    screen.chars().take(80).collect::<String>(),
                    staff_may(staff)
                )));
            }
        }
        Ok(())
    }

    /// The subset of `screens` the caller may act on: all of them for the admin, those of their
    /// stores for staff. For lists, where another store's screens are left out rather than refused.
    pub async fn own_screens(
        &self,
        state: &AppState,
        screens: impl IntoIterator<Item = String>,
    ) -> Result<Vec<String>, ApiError> {
        let mut own = Vec::new();
        for screen in screens {
            if let Self::Staff(_) = self {
                let store = state.storage().store_of_screen(screen.clone()).await?;
                if !matches!(&store, Some(Some(store)) if self.may_act_on_store(store)) {
                    continue;
                }
            }
            own.push(screen);
        }
        Ok(own)
    }

    /// Refuses staff a push of `playlist` unless it is their stores' own: pushed first by staff
    /// of stores they all act on, and played by no screen outside them. A name never pushed is
    /// theirs to start.
    pub async fn ensure_playlist(&self, state: &AppState, playlist: &str) -> Result<(), ApiError> {
        let Self::Staff(staff) = self else {
            return Ok(());
        };
        if let Some(owner) = state.storage().playlist_owner(playlist.to_owned()).await?
            && !self.owns(owner.as_deref())
        {
            return Err(not_your_playlist(staff, playlist));
        }
        for (_, store) in state.storage().screens_playing(playlist.to_owned()).await? {
            if !store.is_some_and(|store| self.may_act_on_store(&store)) {
                return Err(not_your_playlist(staff, playlist));
            }
        }
        Ok(())
    }

    /// Refuses a screen a playlist that was never pushed, and staff one that is not their stores'
    /// own: a screen given a misspelt or future name would show the splash and nothing else, a
    /// device token reads its playlist, and a screen playing a playlist locks other stores out of
    /// pushing it. The admin's refusal names the closest pushed playlists; staff get the one
    /// refusal for every name they may not give. `implicit` says the caller named no playlist and
    /// `playlist` is a default. With `allow_unpushed` the admin may give a name not
    /// pushed yet, and gets back a warning to pass on; staff never may.
    pub async fn ensure_assignable_playlist(
        &self,
        state: &AppState,
        playlist: &str,
        implicit: bool,
        allow_unpushed: bool,
    ) -> Result<Option<String>, ApiError> {
        let owner = state.storage().playlist_owner(playlist.to_owned()).await?;
        match &owner {
            Some(owner) if self.owns(owner.as_deref()) => return Ok(None),
            None if allow_unpushed && self.is_admin() => {
                return Ok(Some(format!(
                    "playlist `{}` has not been pushed yet: the screen shows the splash until it \
                     is (`vitrine push FILE.yaml`)",
                    playlist.chars().take(80).collect::<String>(),
                )));
            }
            _ => {}
        }
        match self {
            // Unknown and someone else's alike, with no suggestions, so staff learn nothing of
            // other stores' names (and their answers stay what they were).
            Self::Staff(staff) => Err(not_your_playlist(staff, playlist)),
            Self::Admin => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "playlist_not_pushed",
                format!(
                    "no playlist called `{}` has been pushed{}{}",
                    playlist.chars().take(80).collect::<String>(),
                    if implicit {
                        " (a paired screen plays it when no playlist is named)"
                    } else {
                        ""
                    },
                    pushed_hint(playlist, &state.storage().pushed_playlists().await?)
                ),
            )),
        }
    }

    /// Refuses staff tags HQ has not given them: campaigns target tags.
    pub fn ensure_tags(&self, tags: &[String]) -> Result<(), ApiError> {
        let Self::Staff(staff) = self else {
            return Ok(());
        };
        match tags.iter().find(|tag| !staff.tags.contains(tag)) {
            None => Ok(()),
            Some(tag) => Err(ApiError::forbidden(format!(
                "tag `{}` is not one HQ lets you use; {}",
                tag.chars().take(80).collect::<String>(),
                staff_may(staff)
            ))),
        }
    }

    /// Whether a playlist owned by `owner` (None: HQ's) is this caller's.
    fn owns(&self, owner: Option<&[String]>) -> bool {
        match (self, owner) {
            (Self::Admin, _) => true,
            (Self::Staff(_), None) => false,
            (Self::Staff(_), Some(stores)) => {
                !stores.is_empty() && stores.iter().all(|store| self.may_act_on_store(store))
            }
        }
    }

    /// The owner a playlist gets when this caller pushes its first version: None for HQ, else the
    /// staff member's stores.
    pub fn playlist_owner(&self) -> Option<Vec<String>> {
        self.stores().map(<[String]>::to_vec)
    }
}

fn not_your_playlist(staff: &StaffMember, playlist: &str) -> ApiError {
    ApiError::forbidden(format!(
        "playlist `{}` is not one of your stores' playlists (a playlist belongs to the stores of \
         whoever pushed it first, HQ's to HQ); push your own with `vitrine push`, or ask HQ; {}",
        playlist.chars().take(80).collect::<String>(),
        staff_may(staff)
    ))
}

/// The most playlist names a refusal lists; the closest come first when there are more.
const MAX_LISTED_PLAYLISTS: usize = 20;

/// What follows "no playlist called `NAME` has been pushed": the closest of the `pushed` names
/// if one is a likely typo, then those names, then how to push one.
fn pushed_hint(playlist: &str, pushed: &[String]) -> String {
    let mut hint = String::new();
    if let Some(close) =
        vitrine_core::yaml::closest_name(playlist, pushed.iter().map(String::as_str))
    {
        hint.push_str(&format!("; did you mean `{close}`?"));
    }
    if pushed.is_empty() {
        hint.push_str(" (none has been yet).");
    } else {
        let mut listed: Vec<&str> = pushed.iter().map(String::as_str).collect();
        if listed.len() > MAX_LISTED_PLAYLISTS {
            listed.sort_by_key(|name| strsim::damerau_levenshtein(playlist, name));
            listed.truncate(MAX_LISTED_PLAYLISTS);
            listed.sort_unstable();
        }
        let more = pushed.len() - listed.len();
        if hint.is_empty() {
            hint.push('.');
        }
        hint.push_str(&format!(
            " Pushed playlists: {}{}.",
            listed.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    hint.push_str(
        " Push it first with `vitrine push FILE.yaml` (a playlist's name is its `name:`), or, to \
         push it later, give it with `--not-pushed-yet` (`allow_unpushed`)",
    );
    hint
}

/// Refuses a screen a media file its manifest does not name: a screen reads only its own media.
pub async fn ensure_media_of_screen(
    state: &AppState,
    screen: &Screen,
    sha256: &vitrine_core::Sha256Hex,
) -> Result<(), ApiError> {
    let named = match crate::api::manifest_of(state, screen).await? {
        Some(body) => body
            .manifest
            .media_entries()
            .iter()
            .any(|entry| &entry.sha256 == sha256),
        None => false,
    };
    if named {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "media {sha256} is not in screen `{}`'s manifest; {SCREEN_MAY}",
            screen.name
        )))
    }
}

/// The token of an `Authorization: Bearer TOKEN` header, if the request has a usable one.
fn bearer_token(parts: &Parts) -> Option<&str> {
    bearer_of(&parts.headers)
}

/// The token of an `Authorization: Bearer TOKEN` header among `headers`, if there is a usable one.
pub(crate) fn bearer_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    let usable = scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && token.len() <= MAX_TOKEN_LENGTH;
    usable.then_some(token)
}

/// Compares hashes rather than the tokens themselves: both sides are then 32 bytes, so the
/// constant-time comparison does not even reveal the admin token's length.
pub(crate) fn is_admin_token(token: &str, admin_token_sha256: &[u8; 32]) -> bool {
    is_admin_token_sha256(&Sha256::digest(token.as_bytes()).into(), admin_token_sha256)
}

/// [`is_admin_token`] for a token already hashed.
pub(crate) fn is_admin_token_sha256(
    presented_sha256: &[u8; 32],
    admin_token_sha256: &[u8; 32],
) -> bool {
    presented_sha256.ct_eq(admin_token_sha256).into()
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
