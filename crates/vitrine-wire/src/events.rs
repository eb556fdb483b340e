//! Live pushes: the requests that send interrupts, triggers and commands to screens, their
//! answers, and the data of the events players receive on `GET /v1/events`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Which screens a push endpoint addresses; at least one field must be given, and the screens
/// addressed are the union of them.
///
/// It is also the body of `POST /v1/interrupts/cancel`: `{"stores": ["paris-11"]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Audience {
    #[serde(default)]
    pub screens: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default)]
    pub stores: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `POST /v1/interrupts`. The audience fields are spelled out rather than flattened from
/// [`Audience`], since serde cannot refuse unknown fields through `flatten`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InterruptRequest {
    #[serde(default)]
    pub screens: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default)]
    pub stores: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub message: String,
    /// How long it stays on screen, like `30s` or `5m`.
    pub duration: String,
}

/// `POST /v1/triggers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    /// The store code whose screens should target the segment.
    pub store: String,
    pub segment: String,
    /// How long the trigger holds, like `10m`.
    pub ttl: String,
}

/// `POST /v1/commands`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    #[serde(default)]
    pub screens: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default)]
    pub stores: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `resync`, `screenshot`, `identify` or `restart`.
    pub command: String,
}

/// What a push endpoint answers: the event's id, the screens it is for, and how many of them are
/// connected to this scheduler (replicas send it to theirs; a screen not connected gets it when it
/// reconnects, while it is in force).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Published {
    pub id: u64,
    pub screens: Vec<String>,
    pub connected: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

/// An interrupt withdrawn from some screens, and how many of them were connected to hear it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Withdrawn {
    pub id: u64,
    pub screens: Vec<String>,
    pub connected: usize,
}

/// What the cancel endpoints answer: each interrupt withdrawn, from which screens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cancelled {
    pub cancelled: Vec<Withdrawn>,
}

/// One interrupt in force, as `GET /v1/interrupts` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InterruptInForce {
    pub id: u64,
    pub message: String,
    pub until: Timestamp,
    /// The screens it covers (for staff, those of their stores).
    pub screens: Vec<String>,
}

/// The answer to `GET /v1/interrupts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InterruptList {
    pub interrupts: Vec<InterruptInForce>,
}

/// The data of an `interrupt` event: the message, full screen, until its end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterruptData {
    pub message: String,
    pub until: Timestamp,
}

/// The data of an `interrupt-cancelled` event: the event id of the interrupt withdrawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelData {
    pub interrupt: u64,
}

/// The data of a `trigger` event: the customer segment the next offer slots target, until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerData {
    pub segment: String,
    pub until: Timestamp,
}

/// The data of a `command` event: `resync`, `screenshot`, `identify` or `restart`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandData {
    pub command: String,
}
