//! Every body that crosses HTTP between Vitrine's own programs: the requests and answers of the
//! scheduler's API, the data of the events it pushes to players, and its error body. The
//! scheduler serves these types, and the CLI and the player (through `vitrine-client`) read and
//! send the very same ones, so a field renamed on one side cannot go unnoticed on the other.
//!
//! **Invariant:** a body is defined once, here. Serde only: no I/O, no HTTP library. Requests
//! refuse unknown fields (`deny_unknown_fields`), so a typo in a client is an error rather than
//! a silently ignored setting; answers accept fields they do not know, so an older client can
//! read a newer scheduler. With the `openapi` feature every type also derives
//! `utoipa::ToSchema`, for the scheduler's OpenAPI document (`schema/openapi.json`).

pub mod campaigns;
pub mod errors;
pub mod events;
pub mod explain;
pub mod imports;
pub mod pairing;
pub mod playlists;
pub mod plays;
pub mod screens;
pub mod staff;
