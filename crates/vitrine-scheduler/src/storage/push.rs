//! Push events (interrupts, their cancels, triggers, commands) where more than one scheduler
//! serves the screens: each is recorded in the database, numbered there, and heard by the other
//! schedulers, so a screen streaming from any replica gets it, and replays it with the same id
//! from any replica after a reconnect. One scheduler alone (SQLite) numbers its events itself and
//! records nothing.

use jiff::Timestamp;

use super::StorageError;

/// An event to record: what the push channel sends, to which screens, until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPushEvent {
    /// The event's name on the stream (`interrupt`, `interrupt-cancelled`, `trigger`, `command`).
    pub kind: String,
    /// The screens it is addressed to.
    pub screens: Vec<String>,
    /// Its JSON data.
    pub data: String,
    /// After this it is neither replayed nor recorded any more.
    pub expires_at: Timestamp,
}

/// A recorded event with the id every scheduler gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPushEvent {
    pub id: u64,
    pub event: NewPushEvent,
    pub published_at: Timestamp,
}

/// The push events shared by the schedulers on one database.
#[async_trait::async_trait]
pub trait PushStore: Send + Sync {
    /// Records `event` for the other schedulers and tells them
    /// ([`super::Change::PushEvents`]); returns its id. None where this scheduler is the only
    /// one: it numbers the event itself.
    async fn record_push_event(&self, event: NewPushEvent) -> Result<Option<u64>, StorageError>;

    /// The recorded events still in force at `now`, by id.
    async fn push_events_in_force(
        &self,
        now: Timestamp,
    ) -> Result<Vec<StoredPushEvent>, StorageError>;
}
