//! Imports of stores, segments, product feeds and inventory, and what each did; feeds fetched by
//! URL.

use serde::{Deserialize, Serialize};

/// The most ids a [`FeedDiff`] lists per kind of change; the counts are always whole.
pub const DIFF_LIST_LIMIT: usize = 100;

/// An import request: the file's name (which picks the format) and its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    pub file_name: String,
    pub source: String,
}

/// An import of a product feed: the file, and whether it is the whole of what was uploaded
/// before (products it neither lists nor skips are then removed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FeedImportRequest {
    pub file_name: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace: bool,
}

/// A row an import did not apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkippedRow {
    /// 1-based line in the file.
    pub line: u64,
    pub reason: String,
}

/// What an import did: how many rows were applied, and each row that was skipped, with why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    pub applied: usize,
    pub skipped: Vec<SkippedRow>,
}

/// What a product feed import did: the rows applied and skipped, what changed against what was
/// stored, and the stores that will not show some of its products because of their currency.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedReport {
    pub applied: usize,
    pub skipped: Vec<SkippedRow>,
    /// Skipped rows beyond the ones listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_more: usize,
    pub diff: FeedDiff,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_stores: Vec<RefusedStore>,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// Ids of one kind of change: how many, and the first [`DIFF_LIST_LIMIT`] of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Changed {
    pub count: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

impl Changed {
    /// Counts one more change, listing its id while fewer than [`DIFF_LIST_LIMIT`] are listed.
    pub fn push(&mut self, id: &str) {
        self.count += 1;
        if self.ids.len() < DIFF_LIST_LIMIT {
            self.ids.push(id.to_owned());
        }
    }
}

/// What an import changed, against what was stored before it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedDiff {
    pub added: Changed,
    pub removed: Changed,
    /// The price, the sale price, its window or the currency changed.
    pub price_changed: Changed,
    /// Was available (in stock, preorder, backorder), is now out of stock.
    pub out_of_stock: Changed,
    pub back_in_stock: Changed,
    /// Anything else changed: title, link, image, details.
    pub other_changes: Changed,
    pub unchanged: usize,
}

impl FeedDiff {
    /// Whether anything a screen shows may have changed.
    pub fn changes_anything(&self) -> bool {
        self.added.count
            + self.removed.count
            + self.price_changed.count
            + self.out_of_stock.count
            + self.back_in_stock.count
            + self.other_changes.count
            > 0
    }
}

/// A store that sells in another currency than products of this feed are priced in: those
/// products are not shown there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefusedStore {
    pub store: String,
    pub reason: String,
}

/// `POST /v1/feeds`: registers (or changes) a feed fetched from a URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FeedRegistration {
    pub name: String,
    pub url: String,
    /// How often to fetch it, like `15m` or `1h`; at least a minute.
    pub every: String,
}

/// A feed registered by URL, with what its last fetch said: the answer to `POST /v1/feeds`, and
/// one entry of `GET /v1/feeds`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedRecord {
    pub name: String,
    pub url: String,
    /// How often it is fetched, in seconds.
    pub interval_seconds: u64,
    /// The `ETag` of the last fetch that imported, sent back as `If-None-Match`.
    #[serde(default)]
    pub etag: Option<String>,
    /// The `Last-Modified` of the last fetch that imported, sent back as `If-Modified-Since`.
    #[serde(default)]
    pub last_modified: Option<String>,
    /// When it was last fetched (UTC), whatever came of it.
    #[serde(default)]
    pub last_attempt_at: Option<String>,
    /// When a fetch last succeeded (UTC).
    #[serde(default)]
    pub last_success_at: Option<String>,
    /// The feed's alert: the HTTP status or error of the last fetch, until one succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
}

/// The answer to `GET /v1/feeds`: every feed registered by URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedList {
    pub feeds: Vec<FeedRecord>,
}

/// What one fetch did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum FetchOutcome {
    /// The server said 304: nothing changed since the last fetch.
    NotModified,
    Imported {
        report: Box<FeedReport>,
    },
    /// Nothing was applied; the last good data stays.
    Failed {
        error: String,
    },
}
