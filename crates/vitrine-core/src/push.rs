//! The signed form of the push events that act on a screen (`interrupt`, `interrupt-cancelled`,
//! `trigger`, `command`), as the scheduler writes them into an SSE `data:` field and the player
//! checks them.
//!
//! The `data` of such an event is an [`Envelope`]: `signed` is the exact JSON text of a
//! [`SignedEvent`], `signature` the hex ed25519 signature of those bytes by the scheduler's
//! manifest key (the one players pin). The signed text names the screen, the event's name, its id
//! and when it expires, so a captured event cannot be replayed to another screen, as another kind
//! of event, or after it has expired. `manifest-changed` is not signed: it only makes the player
//! fetch its manifest, which is signed itself.
//!
//! Signing and verifying are the scheduler's and the player's business (this crate holds no keys);
//! what is signed, and what a player must check after the signature, is defined here once.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What travels in the `data:` field of a signed event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The exact JSON text of a [`SignedEvent`]; the signature covers these bytes.
    pub signed: String,
    /// 128 hex characters: the ed25519 signature of `signed`.
    pub signature: String,
}

/// What the scheduler signs for one screen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedEvent {
    /// The one screen this event is for.
    pub screen: String,
    /// The SSE event name: `interrupt`, `interrupt-cancelled`, `trigger` or `command`.
    pub event: String,
    /// The event's id on the push channel.
    pub id: u64,
    /// After this instant the event is refused.
    pub expires_at: Timestamp,
    /// The event's own fields (an interrupt's message and end, the id of the interrupt a cancel
    /// withdraws, a trigger's segment, a command).
    pub data: serde_json::Value,
}

/// Why a player ignores a signed event whose signature verified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventRefusal {
    #[error(
        "refused a pushed `{event}` signed for screen `{found}`: this is screen `{expected}`, so \
         it was replayed from another screen's stream"
    )]
    OtherScreen {
        event: String,
        expected: String,
        found: String,
    },
    #[error(
        "refused a pushed event signed as `{signed}` but delivered as `{delivered}`: it was \
         altered on the way"
    )]
    OtherEvent { signed: String, delivered: String },
    #[error("refused a pushed `{event}` that expired at {expires_at}: it was replayed too late")]
    Expired {
        event: String,
        expires_at: Timestamp,
    },
}

impl SignedEvent {
    /// The checks after the signature: the event is for `screen`, is the `delivered` kind of
    /// event, and has not expired at `now`. Without a known screen name (a player given only a
    /// token, before its first manifest) the screen is not checked.
    pub fn check(
        &self,
        screen: Option<&str>,
        delivered: &str,
        now: Timestamp,
    ) -> Result<(), EventRefusal> {
        if self.event != delivered {
            return Err(EventRefusal::OtherEvent {
                signed: self.event.clone(),
                delivered: delivered.to_owned(),
            });
        }
        if let Some(expected) = screen
            && self.screen != expected
        {
            return Err(EventRefusal::OtherScreen {
                event: self.event.clone(),
                expected: expected.to_owned(),
                found: self.screen.clone(),
            });
        }
        if self.expires_at <= now {
            return Err(EventRefusal::Expired {
                event: self.event.clone(),
                expires_at: self.expires_at,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> SignedEvent {
        SignedEvent {
            screen: "door".into(),
            event: "interrupt".into(),
            id: 7,
            expires_at: "2026-11-22T20:00:00Z".parse().unwrap(),
            data: serde_json::json!({"message": "Leave by the main exit"}),
        }
    }

    #[test]
    fn an_event_holds_only_for_its_screen_its_kind_and_until_it_expires() {
        let before: Timestamp = "2026-11-22T19:59:59Z".parse().unwrap();
        assert_eq!(event().check(Some("door"), "interrupt", before), Ok(()));
        assert_eq!(event().check(None, "interrupt", before), Ok(()));
        assert!(matches!(
            event().check(Some("till"), "interrupt", before),
            Err(EventRefusal::OtherScreen { .. })
        ));
        assert!(matches!(
            event().check(Some("door"), "trigger", before),
            Err(EventRefusal::OtherEvent { .. })
        ));
        let at_the_end: Timestamp = "2026-11-22T20:00:00Z".parse().unwrap();
        let error = event()
            .check(Some("door"), "interrupt", at_the_end)
            .unwrap_err();
        assert!(matches!(error, EventRefusal::Expired { .. }));
        assert!(error.to_string().contains("expired"), "{error}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut value = serde_json::to_value(event()).unwrap();
        value["also"] = serde_json::json!("this");
        assert!(serde_json::from_value::<SignedEvent>(value).is_err());
    }
}
