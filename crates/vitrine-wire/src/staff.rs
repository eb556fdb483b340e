//! Staff tokens, each limited to its stores.

use serde::{Deserialize, Serialize};

/// `POST /v1/staff`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    pub name: String,
    pub stores: Vec<String>,
    /// The screen tags this member may put on screens (campaigns target tags, so tags are HQ's to
    /// hand out); none by default.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The answer to `POST /v1/staff`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffCreated {
    pub name: String,
    pub stores: Vec<String>,
    pub tags: Vec<String>,
    /// Shown this once: only its hash is kept.
    pub token: String,
}

/// One staff token, as `GET /v1/staff` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffRecord {
    pub name: String,
    pub stores: Vec<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// The answer to `GET /v1/staff`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffList {
    pub staff: Vec<StaffRecord>,
}
