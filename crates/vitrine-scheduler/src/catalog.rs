//! HQ's reference data: stores, their customers' segment mix, the product feed and local inventory,
//! and the screen list. Everything here arrives as files HQ already has (a store list, a CRM export,
//! a Google Merchant Center feed), sent whole to an import endpoint that reads it row by row.
//!
//! **Bad input loses nothing.** A row that cannot be read (a price that does not parse, an unknown
//! store code, a missing column) is skipped and reported with its line and the reason; every other
//! row is applied. All rows of one import are written in one transaction and are upserts, so a row
//! that is skipped leaves what was stored before for that key untouched, and a product missing from
//! a feed is kept.
//!
//! Formats:
//! - stores, CSV with a header: `code,name,region,tags,timezone,locale,currency` (`region` and `tags`
//!   may be left out; tags are separated by `;`).
//! - segments, the CRM export, CSV: `store_code,segment,share`, with `share` as `0.35` or `35%`. An
//!   import replaces the whole mix of each store it names.
//! - products, Google Merchant Center: TSV with a header row, or RSS 2.0 XML with the `g:` namespace
//!   (by the file name: `.xml` is XML, anything else TSV). Columns read: id, title, description,
//!   link, image_link, price (`12.99 EUR`), sale_price, availability, brand, gtin.
//! - local inventory, TSV or CSV (`.csv`): `store_code,id,quantity,price,sale_price`, where the
//!   prices may be empty to keep the feed's.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use vitrine_core::offer::parse_price;

use crate::feed::import::{
    FeedDiff, FeedOutcome, FeedSource, ImportError, PRODUCT_SELECT, RefusedStore, product_from_row,
};
use crate::feed::{FeedFormat, ProductDetails, SaleWindow, UnitPricing, read_availability};

use crate::AppState;
use crate::auth::{Admin, Manager};
use crate::error::ApiError;
use crate::storage::StorageError;
use crate::storage::sqlite::SqliteStore;

/// The largest import body: a feed of some tens of thousands of products.
pub const IMPORT_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// An import request: the file's name (which picks the format) and its text.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    pub file_name: String,
    pub source: String,
}

/// What an import did: how many rows were applied, and each row that was skipped, with why.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ImportReport {
    pub applied: usize,
    pub skipped: Vec<SkippedRow>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SkippedRow {
    /// 1-based line in the file.
    pub line: u64,
    pub reason: String,
}

/// A store as the API and the manifest builder see it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct StoreRecord {
    pub code: String,
    pub name: String,
    pub region: String,
    pub tags: Vec<String>,
    pub timezone: String,
    pub locale: String,
    pub currency: String,
}

/// A product of the feed, with the store's price and stock where the manifest builder asks for one.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Product {
    pub id: String,
    pub title: String,
    pub description: String,
    pub link: String,
    pub image_link: String,
    pub price_cents: i64,
    pub sale_price_cents: Option<i64>,
    pub currency: String,
    pub availability: String,
    pub brand: String,
    pub gtin: String,
    /// When the sale price applies (`sale_price_effective_date`); always when None.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "2026-03-01T00:00+01:00/2026-03-07T23:59+01:00")]
    pub sale_window: Option<SaleWindow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_pricing: Option<UnitPricing>,
    /// How many units the price buys (`multipack`), when more than one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multipack: Option<u32>,
    /// The product this one is a variant of (size, colour), shared by all its variants.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub item_group_id: String,
    #[serde(default)]
    pub details: ProductDetails,
    /// The product image in the media store, fetched from `image_link` (see
    /// [`crate::feed::images`]); None until then, or when the link changed since.
    #[serde(skip)]
    pub image: Option<vitrine_core::MediaEntry>,
    /// Whether `image_link` was tried already, so a failed fetch is not repeated.
    #[serde(skip)]
    pub image_tried: bool,
}

impl Product {
    /// Applies a store's inventory row: the store's own price wins over the feed's, sale price and
    /// all; a sale price alone applies to the feed's price.
    pub fn apply_local_price(
        &mut self,
        price_cents: Option<i64>,
        sale_price_cents: Option<i64>,
        currency: Option<String>,
    ) {
        if let Some(price) = price_cents {
            self.price_cents = price;
            self.sale_price_cents = sale_price_cents;
        } else if sale_price_cents.is_some() {
            self.sale_price_cents = sale_price_cents;
        }
        if let Some(currency) = currency {
            self.currency = currency;
        }
    }

    /// The price to pay at `instant` in a store of `time_zone`, and the price before the sale when
    /// a sale applies then.
    pub fn price_at(&self, instant: Timestamp, time_zone: &TimeZone) -> (i64, Option<i64>) {
        let in_window = self
            .sale_window
            .as_ref()
            .is_none_or(|window| window.contains(instant, time_zone));
        match self.sale_price_cents {
            Some(sale) if sale < self.price_cents && in_window => (sale, Some(self.price_cents)),
            _ => (self.price_cents, None),
        }
    }
}

/// A product at one store: the feed's product, with the local price and stock where there is one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalProduct {
    pub product: Product,
    /// `None` when the store has no inventory row, or a row without a quantity: stock then follows
    /// the local availability, else the feed's.
    pub quantity: Option<i64>,
    /// The store's own availability, from its inventory row.
    pub local_availability: Option<String>,
}

impl LocalProduct {
    /// Units on hand as far as HQ knows: 0 where the store says it is out of stock, else the local
    /// inventory's count, else 1 for a product the store or the feed says is in stock (or can be
    /// ordered: preorder, backorder) and 0 otherwise.
    pub fn stock(&self) -> i64 {
        // The store's own word comes first, then its count, then the web shop's availability.
        match (self.local_availability.as_deref(), self.quantity) {
            (Some("out_of_stock"), _) => 0,
            (_, Some(quantity)) => quantity,
            (Some(_), None) => 1,
            (None, None) => match self.product.availability.as_str() {
                "out_of_stock" => 0,
                _ => 1,
            },
        }
    }
}

/// A registered screen with where it is, for `GET /v1/screens` and the manifest builder.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ScreenRecord {
    pub name: String,
    pub playlist: String,
    /// The screen's own zone; empty to take its store's (then its playlist's, then UTC).
    pub timezone: String,
    pub store: Option<String>,
    pub tags: Vec<String>,
    pub created_at: String,
}

fn read_request(body: Result<Json<ImportFile>, JsonRejection>) -> Result<ImportFile, ApiError> {
    let Json(request) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, IMPORT_BODY_LIMIT))?;
    Ok(request)
}

fn invalid_file(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_file", message)
}

/// A CSV or TSV reader that keeps line numbers and tolerates rows of the wrong length (they are
/// reported, not fatal).
fn delimited(source: &str, delimiter: u8) -> csv::Reader<&[u8]> {
    let mut builder = csv::ReaderBuilder::new();
    builder
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .has_headers(true);
    if delimiter == b'\t' {
        // Merchant Center TSV does not quote: a title like `12" pizza` is literal.
        builder.quoting(false);
    }
    builder.from_reader(source.as_bytes())
}

/// The position of each named column in the header; column names are compared in lower case and
/// without a `g:` prefix. Fails naming the first required column that is missing.
fn columns(
    reader: &mut csv::Reader<&[u8]>,
    required: &[&str],
    optional: &[&str],
) -> Result<HashMap<String, usize>, ApiError> {
    let headers = reader
        .headers()
        .map_err(|error| invalid_file(format!("cannot read the header row: {error}")))?
        .clone();
    let mut positions = HashMap::new();
    for (index, header) in headers.iter().enumerate() {
        let name = header.trim().trim_start_matches("g:").to_ascii_lowercase();
        // Criteo's local inventory names two columns otherwise than Google's.
        let name = match name.as_str() {
            "store_id" => "store_code".to_owned(),
            "item_id" | "itemid" => "id".to_owned(),
            _ => name,
        };
        for &known in required.iter().chain(optional) {
            if name == known {
                positions.entry(known.to_owned()).or_insert(index);
            }
        }
    }
    for &name in required {
        if !positions.contains_key(name) {
            return Err(invalid_file(format!(
                "the header row has no `{name}` column; it needs {}",
                required.join(", ")
            )));
        }
    }
    Ok(positions)
}

struct Row<'a> {
    record: &'a csv::StringRecord,
    columns: &'a HashMap<String, usize>,
}

impl Row<'_> {
    fn get(&self, name: &str) -> &str {
        self.columns
            .get(name)
            .and_then(|index| self.record.get(*index))
            .unwrap_or("")
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        let value = self.get(name);
        if value.is_empty() {
            Err(format!("`{name}` is empty"))
        } else {
            Ok(value)
        }
    }
}

/// Reads every record, calling `read_row` on each; returns the rows that were read and the ones
/// skipped, with their lines.
fn read_rows<T>(
    reader: &mut csv::Reader<&[u8]>,
    columns: &HashMap<String, usize>,
    mut read_row: impl FnMut(&Row<'_>) -> Result<T, String>,
) -> (Vec<(u64, T)>, Vec<SkippedRow>) {
    let header_length = reader.headers().map(|headers| headers.len()).unwrap_or(0);
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() + 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, |position| position.line());
                if record.iter().all(str::is_empty) {
                    continue;
                }
                if record.len() != header_length {
                    skipped.push(SkippedRow {
                        line,
                        reason: format!(
                            "the row has {} fields but the header has {header_length}",
                            record.len()
                        ),
                    });
                    continue;
                }
                match read_row(&Row {
                    record: &record,
                    columns,
                }) {
                    Ok(value) => rows.push((line, value)),
                    Err(reason) => skipped.push(SkippedRow { line, reason }),
                }
            }
            Err(error) => {
                let line = error.position().map_or(line, |position| position.line());
                skipped.push(SkippedRow {
                    line,
                    reason: format!("cannot read the row: {error}"),
                });
                // A broken row (invalid UTF-8, say) cannot be skipped by the reader; stop here.
                if !matches!(error.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    break;
                }
            }
        }
    }
    (rows, skipped)
}

fn check_code(code: &str) -> Result<(), String> {
    let well_formed = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "store code `{code}` is not 1-64 letters, digits, `.`, `_` or `-`"
        ))
    }
}

fn split_tags(text: &str) -> Vec<String> {
    text.split([';', '|'])
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(str::to_owned)
        .collect()
}

fn read_store(row: &Row<'_>) -> Result<StoreRecord, String> {
    let code = row.required("code")?.to_owned();
    check_code(&code)?;
    let timezone = row.required("timezone")?.to_owned();
    if jiff::tz::TimeZone::get(&timezone).is_err() {
        return Err(format!(
            "`{timezone}` is not an IANA time zone; write it like `Europe/Paris`"
        ));
    }
    let locale = row.required("locale")?.to_owned();
    let locale_ok = (2..=16).contains(&locale.len())
        && locale
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        && locale.as_bytes()[0].is_ascii_alphabetic();
    if !locale_ok {
        return Err(format!("`{locale}` is not a locale; write it like `fr-FR`"));
    }
    let currency = row.required("currency")?.to_owned();
    if currency.len() != 3 || !currency.bytes().all(|byte| byte.is_ascii_uppercase()) {
        return Err(format!(
            "`{currency}` is not an ISO 4217 currency code; write it like `EUR`"
        ));
    }
    Ok(StoreRecord {
        code,
        name: row.required("name")?.to_owned(),
        region: row.get("region").to_owned(),
        tags: split_tags(row.get("tags")),
        timezone,
        locale,
        currency,
    })
}

/// `POST /v1/stores`: imports a store list (CSV), upserting each store by its code.
#[utoipa::path(
    post,
    path = "/v1/stores",
    tag = "hq",
    request_body = crate::catalog::ImportFile,
    responses(
        (status = 200, description = "Rows applied, and each row skipped with why", body = crate::catalog::ImportReport),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 422, description = "Error codes: `invalid_file`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn import_stores(
    State(state): State<AppState>,
    _admin: Admin,
    body: Result<Json<ImportFile>, JsonRejection>,
) -> Result<Json<ImportReport>, ApiError> {
    let request = read_request(body)?;
    let mut reader = delimited(&request.source, b',');
    let columns = columns(
        &mut reader,
        &["code", "name", "timezone", "locale", "currency"],
        &["region", "tags"],
    )?;
    let (rows, skipped) = read_rows(&mut reader, &columns, read_store);
    let applied = rows.len();
    state.store().upsert_stores(rows).await?;
    tracing::info!(applied, skipped = skipped.len(), "imported stores");
    Ok(Json(ImportReport { applied, skipped }))
}

fn read_share(text: &str) -> Result<f64, String> {
    let (number, scale) = match text.strip_suffix('%') {
        Some(number) => (number.trim(), 100.0),
        None => (text, 1.0),
    };
    let share = number
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .map(|value| value / scale)
        .filter(|value| value.is_finite() && (0.0..=1.0).contains(value));
    share.ok_or_else(|| format!("share `{text}` is not a number from 0 to 1 (or 0% to 100%)"))
}

/// `POST /v1/segments`: imports the CRM's segment mix; the mix of each store named is replaced.
#[utoipa::path(
    post,
    path = "/v1/segments",
    tag = "hq",
    request_body = crate::catalog::ImportFile,
    responses(
        (status = 200, description = "Rows applied, and each row skipped with why", body = crate::catalog::ImportReport),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 422, description = "Error codes: `invalid_file`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn import_segments(
    State(state): State<AppState>,
    _admin: Admin,
    body: Result<Json<ImportFile>, JsonRejection>,
) -> Result<Json<ImportReport>, ApiError> {
    let request = read_request(body)?;
    let mut reader = delimited(&request.source, b',');
    let columns = columns(&mut reader, &["store_code", "segment", "share"], &[])?;
    let (rows, mut skipped) = read_rows(&mut reader, &columns, |row| {
        Ok((
            row.required("store_code")?.to_owned(),
            row.required("segment")?.to_owned(),
            read_share(row.required("share")?)?,
        ))
    });
    // A store whose shares add up to more than the whole is a broken export: its rows are skipped
    // and its old mix kept.
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for (_, (store, _, share)) in &rows {
        *totals.entry(store.clone()).or_default() += share;
    }
    let over: BTreeSet<String> = totals
        .iter()
        .filter(|(_, total)| **total > 1.0 + 1e-6)
        .map(|(store, _)| store.clone())
        .collect();
    let (rows, too_much): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|(_, (store, _, _))| !over.contains(store));
    for (line, (store, _, _)) in too_much {
        skipped.push(SkippedRow {
            line,
            reason: format!(
                "the shares of store `{store}` add up to {:.0}%, more than 100%",
                totals[&store] * 100.0
            ),
        });
    }
    let (applied, unknown) = state.store().replace_segments(rows).await?;
    skipped.extend(unknown);
    skipped.sort_by_key(|row| row.line);
    Ok(Json(ImportReport { applied, skipped }))
}

/// An import of a product feed: the file, and whether it is the whole of what was uploaded
/// before (products it neither lists nor skips are then removed).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedImportRequest {
    pub file_name: String,
    pub source: String,
    #[serde(default)]
    pub replace: bool,
}

/// What a product feed import did: the rows applied and skipped, what changed against what was
/// stored, and the stores that will not show some of its products because of their currency.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
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

impl From<FeedOutcome> for FeedReport {
    fn from(outcome: FeedOutcome) -> Self {
        Self {
            applied: outcome.applied,
            skipped: outcome.skipped,
            skipped_more: outcome.skipped_more,
            diff: outcome.diff,
            refused_stores: outcome.refused_stores,
        }
    }
}

/// `POST /v1/feed`: imports a Merchant Center product feed (TSV, CSV, RSS or Atom XML), upserting
/// by id, and tells the screens whose offers changed.
#[utoipa::path(
    post,
    path = "/v1/feed",
    tag = "hq",
    request_body = crate::catalog::FeedImportRequest,
    responses(
        (status = 200, description = "What the feed changed", body = crate::catalog::FeedReport),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn import_feed(
    State(state): State<AppState>,
    _admin: Admin,
    body: Result<Json<FeedImportRequest>, JsonRejection>,
) -> Result<Json<FeedReport>, ApiError> {
    let Json(request) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, IMPORT_BODY_LIMIT))?;
    let format = FeedFormat::detect(&request.file_name, request.source.as_bytes());
    let origin = FeedSource {
        name: UPLOAD_SOURCE.to_owned(),
        replace: request.replace,
    };
    let outcome = state
        .store()
        .import_products(
            Box::new(std::io::Cursor::new(request.source.into_bytes())),
            format,
            origin,
        )
        .await?
        .map_err(invalid_file)?;
    tracing::info!(
        applied = outcome.applied,
        skipped = outcome.skipped.len() + outcome.skipped_more,
        "imported a product feed"
    );
    if outcome.diff.changes_anything() {
        crate::events::publish_manifest_changed_for_all(&state);
    }
    Ok(Json(outcome.into()))
}

/// The source name of feeds uploaded by hand.
pub const UPLOAD_SOURCE: &str = "upload";

/// A price of a local-inventory row: Google's carry their currency (`4.99 EUR`); Criteo's are a
/// bare amount (`4.99`) in the store's currency, filled in when the store is known.
#[derive(Debug)]
pub struct LocalPrice {
    pub cents: i64,
    pub currency: Option<String>,
}

fn read_local_price(text: &str) -> Result<Option<LocalPrice>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let is_bare_amount = text
        .bytes()
        .all(|byte| byte.is_ascii_digit() || byte == b'.')
        && text.bytes().any(|byte| byte.is_ascii_digit());
    if is_bare_amount {
        // Read as if in any currency, then forget it: the store's is used.
        let money = parse_price(&format!("{text} XXX")).map_err(|error| error.to_string())?;
        return Ok(Some(LocalPrice {
            cents: money.cents,
            currency: None,
        }));
    }
    let money = parse_price(text).map_err(|error| error.to_string())?;
    Ok(Some(LocalPrice {
        cents: money.cents,
        currency: Some(money.currency),
    }))
}

/// One row of a local-inventory feed.
#[derive(Debug)]
pub struct InventoryRow {
    pub store: String,
    pub product: String,
    /// None when the row gives an availability instead.
    pub quantity: Option<i64>,
    pub price: Option<LocalPrice>,
    pub sale_price: Option<LocalPrice>,
    pub sale_window: Option<SaleWindow>,
    /// Empty when the row gives none.
    pub availability: String,
    pub pickup_method: String,
    pub pickup_sla: String,
}

/// The pickup methods of Google's local inventory specification.
const PICKUP_METHODS: &[&str] = &["buy", "reserve", "ship_to_store", "not_supported"];

fn read_inventory_row(row: &Row<'_>) -> Result<InventoryRow, String> {
    let quantity = match row.get("quantity") {
        "" => None,
        text => Some(
            text.parse::<i64>()
                .ok()
                .filter(|quantity| *quantity >= 0)
                .ok_or_else(|| format!("quantity `{text}` is not a whole number of units"))?,
        ),
    };
    let availability = match row.get("availability") {
        "" => String::new(),
        text => read_availability(text)?.to_owned(),
    };
    if quantity.is_none() && availability.is_empty() {
        return Err("the row gives neither a `quantity` nor an `availability`".into());
    }
    let price = read_local_price(row.get("price"))?;
    let sale_price = read_local_price(row.get("sale_price"))?;
    if let (Some(price), Some(sale)) = (&price, &sale_price)
        && price.currency != sale.currency
    {
        return Err(format!(
            "sale_price `{}` and price `{}` are in different currencies",
            row.get("sale_price"),
            row.get("price")
        ));
    }
    let sale_window = match row.get("sale_price_effective_date") {
        "" => None,
        text => Some(
            text.parse::<SaleWindow>()
                .map_err(|error| format!("sale_price_effective_date: {error}"))?,
        ),
    };
    let pickup_method = row
        .get("pickup_method")
        .to_ascii_lowercase()
        .replace(' ', "_");
    if !pickup_method.is_empty() && !PICKUP_METHODS.contains(&pickup_method.as_str()) {
        return Err(format!(
            "pickup_method `{pickup_method}` is not one of {}",
            PICKUP_METHODS.join(", ")
        ));
    }
    Ok(InventoryRow {
        store: row.required("store_code")?.to_owned(),
        product: row.required("id")?.to_owned(),
        quantity,
        price,
        sale_price,
        sale_window,
        availability,
        pickup_method,
        pickup_sla: row.get("pickup_sla").to_owned(),
    })
}

/// `POST /v1/feed/inventory`: imports local inventory (TSV, or CSV for a `.csv` file), upserting by
/// store and product, in Google's columns (`store_code`, `id`, `quantity`, `price`, `sale_price`,
/// `sale_price_effective_date`, `availability`, `pickup_method`, `pickup_sla`) or Criteo's
/// (`store_id`, `item_id`, and prices without a currency, which are the store's). A row naming a
/// store or product HQ does not know is skipped. Screens whose offers change hear of it.
#[utoipa::path(
    post,
    path = "/v1/feed/inventory",
    tag = "hq",
    request_body = crate::catalog::ImportFile,
    responses(
        (status = 200, description = "What the inventory changed", body = crate::catalog::FeedReport),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 413, description = "Error codes: `payload_too_large`", body = crate::openapi::ErrorBody),
        (status = 422, description = "Error codes: `invalid_file`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn import_inventory(
    State(state): State<AppState>,
    _admin: Admin,
    body: Result<Json<ImportFile>, JsonRejection>,
) -> Result<Json<FeedReport>, ApiError> {
    let request = read_request(body)?;
    let delimiter = if request.file_name.to_ascii_lowercase().ends_with(".csv") {
        b','
    } else {
        b'\t'
    };
    let mut reader = delimited(&request.source, delimiter);
    let columns = columns(
        &mut reader,
        &["store_code", "id"],
        &[
            "quantity",
            "price",
            "sale_price",
            "sale_price_effective_date",
            "availability",
            "pickup_method",
            "pickup_sla",
        ],
    )?;
    let (rows, mut skipped) = read_rows(&mut reader, &columns, read_inventory_row);
    let (applied, unknown, diff) = state.store().upsert_inventory(rows).await?;
    skipped.extend(unknown);
    skipped.sort_by_key(|row| row.line);
    if diff.changes_anything() {
        crate::events::publish_manifest_changed_for_all(&state);
    }
    Ok(Json(FeedReport {
        applied,
        skipped,
        diff,
        ..FeedReport::default()
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScreenList {
    pub screens: Vec<ScreenRecord>,
}

/// `GET /v1/screens`: every registered screen, by name.
#[utoipa::path(
    get,
    path = "/v1/screens",
    tag = "screens",
    responses(
        (status = 200, description = "Every screen the caller may see", body = crate::catalog::ScreenList),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn list_screens(
    State(state): State<AppState>,
    manager: Manager,
) -> Result<Json<ScreenList>, ApiError> {
    let mut screens = state.store().screens().await?;
    // Staff see the screens of their stores only.
    screens.retain(|screen| {
        manager.is_admin()
            || screen
                .store
                .as_deref()
                .is_some_and(|store| manager.may_act_on_store(store))
    });
    Ok(Json(ScreenList { screens }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreList {
    pub stores: Vec<StoreRecord>,
}

/// `GET /v1/stores`: every store, by code.
#[utoipa::path(
    get,
    path = "/v1/stores",
    tag = "hq",
    responses(
        (status = 200, description = "Every store", body = crate::catalog::StoreList),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn list_stores(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<StoreList>, ApiError> {
    Ok(Json(StoreList {
        stores: state.store().stores().await?,
    }))
}

fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".to_owned())
}

fn tags_from_json(text: &str) -> Result<Vec<String>, StorageError> {
    serde_json::from_str(text).map_err(|error| StorageError::CorruptRow(format!("tags: {error}")))
}

fn store_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(StoreRecord, String)> {
    Ok((
        StoreRecord {
            code: row.get(0)?,
            name: row.get(1)?,
            region: row.get(2)?,
            tags: Vec::new(),
            timezone: row.get(4)?,
            locale: row.get(5)?,
            currency: row.get(6)?,
        },
        row.get(3)?,
    ))
}

/// An inventory row as stored.
#[derive(Debug, PartialEq, Eq)]
struct LocalRow {
    quantity: i64,
    price_cents: Option<i64>,
    sale_price_cents: Option<i64>,
    currency: Option<String>,
    sale_window: Option<String>,
    availability: String,
    quantity_given: bool,
}

fn local_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<LocalRow> {
    Ok(LocalRow {
        quantity: row.get(0)?,
        price_cents: row.get(1)?,
        sale_price_cents: row.get(2)?,
        currency: row.get(3)?,
        sale_window: row.get(4)?,
        availability: row.get(5)?,
        quantity_given: row.get(6)?,
    })
}

impl LocalRow {
    /// The store's price, sale window and stock over the feed's.
    fn apply_to(&self, local: &mut LocalProduct) {
        local.quantity = self.quantity_given.then_some(self.quantity);
        local.local_availability =
            (!self.availability.is_empty()).then(|| self.availability.clone());
        let has_local_price = self.price_cents.is_some() || self.sale_price_cents.is_some();
        local.product.apply_local_price(
            self.price_cents,
            self.sale_price_cents,
            self.currency.clone(),
        );
        if has_local_price {
            local.product.sale_window = self
                .sale_window
                .as_deref()
                .and_then(|text| text.parse().ok());
        }
    }
}

const STORE_COLUMNS: &str = "code, name, region, tags, timezone, locale, currency";

impl SqliteStore {
    pub async fn upsert_stores(&self, rows: Vec<(u64, StoreRecord)>) -> Result<(), StorageError> {
        self.interact(move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut upsert = transaction.prepare(
                    "INSERT INTO stores (code, name, region, tags, timezone, locale, currency)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (code) DO UPDATE SET name = excluded.name,
                        region = excluded.region, tags = excluded.tags,
                        timezone = excluded.timezone, locale = excluded.locale,
                        currency = excluded.currency,
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                )?;
                for (_, store) in rows {
                    upsert.execute(params![
                        store.code,
                        store.name,
                        store.region,
                        tags_json(&store.tags),
                        store.timezone,
                        store.locale,
                        store.currency
                    ])?;
                }
            }
            transaction.commit()?;
            Ok(())
        })
        .await
    }

    /// Replaces the segment mix of every store named in `rows`; rows naming an unknown store are
    /// returned as skipped, with the number applied.
    pub async fn replace_segments(
        &self,
        rows: Vec<(u64, (String, String, f64))>,
    ) -> Result<(usize, Vec<SkippedRow>), StorageError> {
        self.interact(move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut skipped = Vec::new();
            let mut applied = 0;
            {
                let mut known = transaction.prepare("SELECT 1 FROM stores WHERE code = ?1")?;
                let mut cleared = BTreeSet::new();
                let mut clear =
                    transaction.prepare("DELETE FROM store_segments WHERE store = ?1")?;
                let mut insert = transaction.prepare(
                    "INSERT INTO store_segments (store, segment, share) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, segment) DO UPDATE SET share = excluded.share",
                )?;
                for (line, (store, segment, share)) in rows {
                    if !known.exists([&store])? {
                        skipped.push(SkippedRow {
                            line,
                            reason: unknown_store(&store),
                        });
                        continue;
                    }
                    if cleared.insert(store.clone()) {
                        clear.execute([&store])?;
                    }
                    insert.execute(params![store, segment, share])?;
                    applied += 1;
                }
            }
            transaction.commit()?;
            Ok((applied, skipped))
        })
        .await
    }

    /// Applies a product feed read from `source`; the outer error is the database's, the inner
    /// one says why the feed was refused whole.
    pub async fn import_products(
        &self,
        source: Box<dyn std::io::BufRead + Send>,
        format: FeedFormat,
        origin: FeedSource,
    ) -> Result<Result<FeedOutcome, String>, StorageError> {
        self.interact(move |connection| {
            match crate::feed::import::import_products(connection, source, format, &origin) {
                Ok(outcome) => Ok(Ok(outcome)),
                Err(ImportError::Feed(reason)) => Ok(Err(reason)),
                Err(ImportError::Database(error)) => Err(error.into()),
            }
        })
        .await
    }

    /// Upserts local inventory; rows naming an unknown store or product, or priced in another
    /// currency than the store's, are returned as skipped. The diff is per store and product
    /// (`paris-11/3017620422003`).
    pub async fn upsert_inventory(
        &self,
        rows: Vec<(u64, InventoryRow)>,
    ) -> Result<(usize, Vec<SkippedRow>, FeedDiff), StorageError> {
        self.interact(move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut skipped = Vec::new();
            let mut applied = 0;
            let mut diff = FeedDiff::default();
            {
                let mut store_currency =
                    transaction.prepare("SELECT currency FROM stores WHERE code = ?1")?;
                let mut product = transaction.prepare(&format!(
                    "{PRODUCT_SELECT} WHERE id = ?1 AND removed_at IS NULL"
                ))?;
                let mut old_row = transaction.prepare(
                    "SELECT quantity, price_cents, sale_price_cents, currency, sale_window,
                        availability, quantity_given
                     FROM inventory WHERE store = ?1 AND product = ?2",
                )?;
                let mut upsert = transaction.prepare(
                    "INSERT INTO inventory (store, product, quantity, price_cents,
                        sale_price_cents, currency, sale_window, availability, pickup_method,
                        pickup_sla, quantity_given)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     ON CONFLICT (store, product) DO UPDATE SET quantity = excluded.quantity,
                        price_cents = excluded.price_cents,
                        sale_price_cents = excluded.sale_price_cents,
                        currency = excluded.currency, sale_window = excluded.sale_window,
                        availability = excluded.availability,
                        pickup_method = excluded.pickup_method,
                        pickup_sla = excluded.pickup_sla,
                        quantity_given = excluded.quantity_given,
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                )?;
                for (line, row) in rows {
                    let Some(currency_of_store): Option<String> = store_currency
                        .query_row([&row.store], |result| result.get(0))
                        .optional()?
                    else {
                        skipped.push(SkippedRow {
                            line,
                            reason: unknown_store(&row.store),
                        });
                        continue;
                    };
                    let Some(feed_product) = product
                        .query_row([&row.product], product_from_row)
                        .optional()?
                    else {
                        skipped.push(SkippedRow {
                            line,
                            reason: format!(
                                "product `{}` is not in the product feed; import the feed first",
                                row.product
                            ),
                        });
                        continue;
                    };
                    let currency = row.price.as_ref().or(row.sale_price.as_ref()).map(|price| {
                        price
                            .currency
                            .clone()
                            .unwrap_or_else(|| currency_of_store.clone())
                    });
                    if let Some(currency) = &currency
                        && *currency != currency_of_store
                    {
                        skipped.push(SkippedRow {
                            line,
                            reason: format!(
                                "the price is in {currency}, but store `{}` sells in \
                                 {currency_of_store}",
                                row.store
                            ),
                        });
                        continue;
                    }
                    let before: Option<LocalRow> = old_row
                        .query_row(params![row.store, row.product], local_row)
                        .optional()?;
                    let new = LocalRow {
                        quantity: row.quantity.unwrap_or(0),
                        price_cents: row.price.as_ref().map(|price| price.cents),
                        sale_price_cents: row.sale_price.as_ref().map(|price| price.cents),
                        currency: currency.clone(),
                        sale_window: row.sale_window.map(|window| window.to_string()),
                        availability: row.availability.clone(),
                        quantity_given: row.quantity.is_some(),
                    };
                    let key = format!("{}/{}", row.store, row.product);
                    let stock = |local: Option<&LocalRow>| {
                        let mut product = LocalProduct {
                            product: feed_product.clone(),
                            ..LocalProduct::default()
                        };
                        if let Some(local) = local {
                            local.apply_to(&mut product);
                        }
                        (
                            product.stock() > 0,
                            product.product.price_cents,
                            product.product.sale_price_cents,
                            product.product.sale_window,
                        )
                    };
                    match &before {
                        None => diff.added.push(&key),
                        Some(before) if *before == new => diff.unchanged += 1,
                        Some(before) => {
                            let (was_in, was_price, was_sale, was_window) = stock(Some(before));
                            let (is_in, price, sale, window) = stock(Some(&new));
                            if was_in && !is_in {
                                diff.out_of_stock.push(&key);
                            } else if !was_in && is_in {
                                diff.back_in_stock.push(&key);
                            } else if (was_price, was_sale, was_window) != (price, sale, window) {
                                diff.price_changed.push(&key);
                            } else {
                                diff.other_changes.push(&key);
                            }
                        }
                    }
                    upsert.execute(params![
                        row.store,
                        row.product,
                        new.quantity,
                        new.price_cents,
                        new.sale_price_cents,
                        new.currency,
                        new.sale_window,
                        new.availability,
                        row.pickup_method,
                        row.pickup_sla,
                        new.quantity_given,
                    ])?;
                    applied += 1;
                }
            }
            transaction.commit()?;
            Ok((applied, skipped, diff))
        })
        .await
    }

    pub async fn stores(&self) -> Result<Vec<StoreRecord>, StorageError> {
        self.interact(|connection| {
            let mut statement =
                connection.prepare(&format!("SELECT {STORE_COLUMNS} FROM stores ORDER BY code"))?;
            let rows = statement
                .query_map([], store_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(mut store, tags)| {
                    store.tags = tags_from_json(&tags)?;
                    Ok(store)
                })
                .collect()
        })
        .await
    }

    pub async fn store_by_code(&self, code: String) -> Result<Option<StoreRecord>, StorageError> {
        self.interact(move |connection| {
            let row = connection
                .query_row(
                    &format!("SELECT {STORE_COLUMNS} FROM stores WHERE code = ?1"),
                    [code],
                    store_from_row,
                )
                .optional()?;
            row.map(|(mut store, tags)| {
                store.tags = tags_from_json(&tags)?;
                Ok(store)
            })
            .transpose()
        })
        .await
    }

    /// A store's segment mix: segment -> share of its customers.
    pub async fn segments_of(&self, store: String) -> Result<BTreeMap<String, f64>, StorageError> {
        self.interact(move |connection| {
            let mut statement =
                connection.prepare("SELECT segment, share FROM store_segments WHERE store = ?1")?;
            let rows = statement
                .query_map([store], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<BTreeMap<String, f64>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Every segment the CRM import named, in any store, sorted.
    pub async fn known_segments(&self) -> Result<Vec<String>, StorageError> {
        self.interact(move |connection| {
            let mut statement = connection
                .prepare("SELECT DISTINCT segment FROM store_segments ORDER BY segment")?;
            let rows = statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// The products with these ids, at `store` when given (local price and stock applied).
    /// Products a replacing import removed are not found.
    pub async fn local_products(
        &self,
        ids: Vec<String>,
        store: Option<String>,
    ) -> Result<BTreeMap<String, LocalProduct>, StorageError> {
        self.interact(move |connection| {
            let mut product = connection.prepare(&format!(
                "{PRODUCT_SELECT} WHERE id = ?1 AND removed_at IS NULL"
            ))?;
            let mut local = connection.prepare(
                "SELECT quantity, price_cents, sale_price_cents, currency, sale_window,
                    availability, quantity_given
                 FROM inventory WHERE store = ?1 AND product = ?2",
            )?;
            let mut found = BTreeMap::new();
            for id in ids {
                let Some(item) = product.query_row([&id], product_from_row).optional()? else {
                    continue;
                };
                let mut local_product = LocalProduct {
                    product: item,
                    ..LocalProduct::default()
                };
                if let Some(store) = &store {
                    let row: Option<LocalRow> =
                        local.query_row(params![store, id], local_row).optional()?;
                    if let Some(row) = row {
                        row.apply_to(&mut local_product);
                    }
                }
                found.insert(id, local_product);
            }
            Ok(found)
        })
        .await
    }

    /// Every screen, by name.
    pub async fn screens(&self) -> Result<Vec<ScreenRecord>, StorageError> {
        self.interact(|connection| {
            let mut statement = connection.prepare(
                "SELECT name, playlist, timezone, store, tags, created_at FROM screens ORDER BY name",
            )?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        ScreenRecord {
                            name: row.get(0)?,
                            playlist: row.get(1)?,
                            timezone: row.get(2)?,
                            store: row.get(3)?,
                            tags: Vec::new(),
                            created_at: row.get(5)?,
                        },
                        row.get::<_, String>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(mut screen, tags)| {
                    screen.tags = tags_from_json(&tags)?;
                    Ok(screen)
                })
                .collect()
        })
        .await
    }

    pub async fn screen_record(&self, name: String) -> Result<Option<ScreenRecord>, StorageError> {
        Ok(self
            .screens()
            .await?
            .into_iter()
            .find(|screen| screen.name == name))
    }

    /// Sets where a screen is; used right after registering it.
    pub async fn place_screen(
        &self,
        name: String,
        store: Option<String>,
        tags: Vec<String>,
    ) -> Result<(), StorageError> {
        self.interact(move |connection| {
            connection.execute(
                "UPDATE screens SET store = ?2, tags = ?3 WHERE name = ?1",
                params![name, store, tags_json(&tags)],
            )?;
            Ok(())
        })
        .await
    }

    /// A screen by its name, as a device token would resolve to it.
    pub async fn screen_by_name(
        &self,
        name: String,
    ) -> Result<Option<crate::storage::sqlite::Screen>, StorageError> {
        self.interact(move |connection| {
            Ok(connection
                .query_row(
                    "SELECT name, playlist, timezone FROM screens WHERE name = ?1",
                    [name],
                    |row| {
                        Ok(crate::storage::sqlite::Screen {
                            name: row.get(0)?,
                            playlist: row.get(1)?,
                            timezone: row.get(2)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    /// The hex sha256 of a screen's device token: the key of its QR play tokens.
    pub async fn token_sha256_of(&self, screen: String) -> Result<Option<String>, StorageError> {
        self.interact(move |connection| {
            Ok(connection
                .query_row(
                    "SELECT token_sha256 FROM screens WHERE name = ?1",
                    [screen],
                    |row| row.get(0),
                )
                .optional()?)
        })
        .await
    }
}

fn unknown_store(code: &str) -> String {
    format!("store code `{code}` is not known; import it with `vitrine stores import` first")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_fractions_or_percentages() {
        assert_eq!(read_share("0.25"), Ok(0.25));
        assert_eq!(read_share("25%"), Ok(0.25));
        assert!(read_share("1.5").is_err());
        assert!(read_share("lots").is_err());
    }
}
