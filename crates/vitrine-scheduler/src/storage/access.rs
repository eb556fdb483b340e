//! Who may do what, as stored: the owners of device and staff tokens, staff members, screens'
//! token revocation and rotation, and who owns a playlist.
//!
//! Tokens are never stored, only their sha256 (hex); every method here takes and keeps hashes.

use crate::storage::StorageError;
use crate::storage::screens::Screen;

/// A store staff member: a token that may act only on the screens of its stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffMember {
    pub name: String,
    /// Store codes, sorted.
    pub stores: Vec<String>,
    /// The screen tags HQ lets this member use, sorted.
    pub tags: Vec<String>,
}

/// What a token resolves to.
#[derive(Clone, Debug)]
pub enum TokenOwner {
    Screen(Screen),
    Staff(StaffMember),
    /// The token was valid once and has been revoked.
    Revoked,
    Unknown,
}

/// A staff token as listed, revoked ones included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredStaff {
    pub name: String,
    /// Store codes, as given when the token was made.
    pub stores: Vec<String>,
    /// When the token was made, RFC 3339 UTC.
    pub created_at: String,
    /// When the token was first revoked, RFC 3339 UTC; None while it works.
    pub revoked_at: Option<String>,
}

/// Token owners, staff, screens' device tokens and playlist ownership.
///
/// The writes here change what a token resolves to, so each announces
/// [`Change::Credentials`](crate::storage::Change::Credentials) once it has committed a change
/// (and a new device token also [`Change::Screen`](crate::storage::Change::Screen)): cached token
/// lookups are stale from then on.
#[async_trait::async_trait]
pub trait AccessStore: Send + Sync {
    /// Whose token hashes to `token_sha256`: a screen, a staff member, a revoked token (of either),
    /// or nobody. A screen's token is looked for before a staff token.
    async fn token_owner(&self, token_sha256: String) -> Result<TokenOwner, StorageError>;

    /// Who owns the playlist called `name`: None if it was never pushed, Some(None) if HQ does,
    /// else the stores whose staff pushed it first (its version 1's owner).
    async fn playlist_owner(
        &self,
        name: String,
    ) -> Result<Option<Option<Vec<String>>>, StorageError>;

    /// Every pushed playlist's name, in order, each once.
    async fn pushed_playlists(&self) -> Result<Vec<String>, StorageError>;

    /// Every screen playing `playlist` (revoked ones included), with its store.
    async fn screens_playing(
        &self,
        playlist: String,
    ) -> Result<Vec<(String, Option<String>)>, StorageError>;

    /// The store a screen is in: None if no such screen, Some(None) if it is in no store.
    async fn store_of_screen(&self, screen: String)
    -> Result<Option<Option<String>>, StorageError>;

    /// Stores a staff token's hash with its stores and tags. Returns false, changing nothing, if
    /// the name is taken (revoked members keep their name).
    async fn create_staff(
        &self,
        name: String,
        stores: Vec<String>,
        tags: Vec<String>,
        token_sha256: String,
    ) -> Result<bool, StorageError>;

    /// Every staff token, revoked ones included, by name.
    async fn staff(&self) -> Result<Vec<StoredStaff>, StorageError>;

    /// Marks a staff token revoked (once: the first revocation's time stays). False if there is
    /// no staff member of that name.
    async fn revoke_staff(&self, name: String) -> Result<bool, StorageError>;

    /// Marks a screen's device token revoked (once: the first revocation's time stays). A name
    /// that is no screen changes nothing.
    async fn revoke_screen(&self, name: String) -> Result<(), StorageError>;

    /// Gives a screen a new token hash and lifts any revocation. A name that is no screen changes
    /// nothing.
    async fn replace_screen_token(
        &self,
        name: String,
        token_sha256: String,
    ) -> Result<(), StorageError>;

    /// Whether a screen's token is revoked; None if there is no such screen.
    async fn screen_revoked(&self, name: String) -> Result<Option<bool>, StorageError>;
}
