//! The Vitrine domain: playlists and campaigns read from YAML, the manifest a screen plays, the schedule
//! engine that says what plays on a zone at an instant, and the impression (proof of play) record.
//!
//! **Invariant:** this crate does no I/O. It parses text it is handed and computes; reading files,
//! talking to servers and drawing belong to the crates above it. Included playlist fragments are read
//! through a resolver the caller supplies. `cargo xtask test` fails if its dependency tree ever gains
//! tokio, wgpu, winit, rusqlite, reqwest or axum. The one outside input is jiff's time zone database
//! (the system's tzdata), which names like `Europe/Paris` are looked up in.

pub mod campaign;
pub mod diagnostic;
pub mod duration;
pub mod heartbeat;
pub mod impression;
pub mod manifest;
pub mod media;
pub mod offer;
pub mod pairing_code;
pub mod playlist;
pub mod push;
pub mod qr_token;
pub mod schedule;
pub mod schema;
pub mod timing;
pub mod yaml;

pub use campaign::{Campaign, parse_campaign};
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use duration::ItemDuration;
pub use heartbeat::{ActiveInterrupt, FrameStats, GpuAdapter, Heartbeat, SystemInfo, ZoneShowing};
pub use impression::{
    ClockState, DisplayPower, Impression, ImpressionAck, ImpressionBatch, OfferPlay,
};
pub use manifest::{Manifest, ManifestError, MediaEntry, SuccessionError};
pub use media::Sha256Hex;
pub use offer::{Arm, OfferCardData, OfferEntry, OfferRotation};
pub use playlist::{
    Content, Item, Parsed, Playlist, Rule, Zone, parse_playlist, parse_playlist_with_includes,
};
pub use schedule::{Loop, Play, Reason, Schedule, Slot};
