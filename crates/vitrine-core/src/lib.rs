//! The Vitrine domain: playlists read from YAML, the manifest a screen plays, the schedule engine that
//! says what plays at an instant, and the impression (proof of play) record.
//!
//! **Invariant:** this crate does no I/O. It parses text it is handed and computes; reading files,
//! talking to servers and drawing belong to the crates above it. `cargo xtask test` fails if its
//! dependency tree ever gains tokio, wgpu, winit, rusqlite, reqwest or axum.

pub mod diagnostic;
pub mod duration;
pub mod impression;
pub mod manifest;
pub mod media;
pub mod playlist;
pub mod schedule;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use duration::ItemDuration;
pub use impression::{Impression, ImpressionAck, ImpressionBatch};
pub use manifest::{Manifest, ManifestItem, MediaEntry};
pub use media::Sha256Hex;
pub use playlist::{Playlist, PlaylistItem, parse_playlist};
pub use schedule::{Loop, Slot};
