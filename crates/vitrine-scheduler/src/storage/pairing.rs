//! Pairing codes as stored: a code a player shows, the hash of the secret it polls with, and,
//! once someone confirms it, the screen it pairs.
//!
//! A code lives from [`PairingStore::insert_pairing`] until it expires. It is tied to a screen at
//! most once ([`PairingStore::claim_pairing`]) and its device token is handed out at most once
//! ([`PairingStore::deliver_pairing`]); each of these rules holds inside one transaction, so two
//! racing requests cannot both win. The number of codes waiting is bounded per address
//! ([`MAX_PENDING_PER_ADDRESS`]), per network prefix ([`MAX_PENDING_PER_PREFIX`]) and in all
//! ([`MAX_PENDING`]).

use jiff::Timestamp;

use crate::storage::StorageError;

/// The most codes waiting at once; past it the oldest unconfirmed code gives way.
pub const MAX_PENDING: i64 = 10_000;

/// The most codes one address may have waiting; a store's players each hold one.
pub const MAX_PENDING_PER_ADDRESS: i64 = 16;

/// The most codes one network prefix (IPv4 /24, IPv6 /56) may have waiting.
pub const MAX_PENDING_PER_PREFIX: i64 = 128;

/// A pairing row that has not expired.
#[derive(Debug)]
pub struct PairingRow {
    pub secret_sha256: String,
    pub expires_at: Timestamp,
    /// The screen it was confirmed for; None while it waits.
    pub screen: Option<String>,
}

/// What storing a new code came to.
pub enum Insert {
    Stored,
    /// Another unexpired code is the same; nothing was stored.
    Clash,
    /// Every waiting code is confirmed: none may give way.
    Full,
}

/// Where a pairing request came from: its address and network prefix, as text. Requests driven
/// in-process have neither and share one empty origin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub address: String,
    pub prefix: String,
}

impl Origin {
    pub fn of(address: Option<std::net::IpAddr>) -> Self {
        let Some(address) = address else {
            return Self::default();
        };
        let prefix = match address {
            std::net::IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                format!("{a}.{b}.{c}.0/24")
            }
            std::net::IpAddr::V6(v6) => {
                let segments = v6.segments();
                format!(
                    "{:x}:{:x}:{:x}:{:x}::/56",
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3] & 0xff00
                )
            }
        };
        Self {
            address: address.to_string(),
            prefix,
        }
    }
}

/// A code to store.
pub struct NewPairing {
    pub code: String,
    pub secret_sha256: String,
    pub origin: Origin,
    pub now: Timestamp,
    pub expires_at: Timestamp,
}

/// Pairing codes, from request to the device token's pick-up.
#[async_trait::async_trait]
pub trait PairingStore: Send + Sync {
    /// Stores a new code, in one transaction: first drops the codes expired at `now`, then makes
    /// room under the bounds per address, per prefix and in all (the oldest unconfirmed codes of
    /// that address, prefix or table give way until the new one fits), then stores the code unless
    /// an unexpired one is the same ([`Insert::Clash`]) or every code waiting in all is confirmed
    /// ([`Insert::Full`]). Changes no credential: a code is no token.
    async fn insert_pairing(&self, new: NewPairing) -> Result<Insert, StorageError>;

    /// The code's row if it has not expired at `now`.
    async fn pairing(
        &self,
        code: String,
        now: Timestamp,
    ) -> Result<Option<PairingRow>, StorageError>;

    /// Ties a waiting code, unexpired at `now`, to `screen`, atomically: of two claims of one code
    /// only one succeeds. False, changing nothing, if it was taken or expired meanwhile.
    async fn claim_pairing(
        &self,
        code: String,
        screen: String,
        now: Timestamp,
    ) -> Result<bool, StorageError>;

    /// Marks the code's token handed out and gives its screen `token_sha256`, in one transaction.
    /// Once only: false if the code's token was handed out already (nothing changes), or if the
    /// screen was revoked since (the code still counts as handed out; the screen keeps its
    /// revoked token).
    async fn deliver_pairing(
        &self,
        code: String,
        screen: String,
        token_sha256: String,
    ) -> Result<bool, StorageError>;
}
