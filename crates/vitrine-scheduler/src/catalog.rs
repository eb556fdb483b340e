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
use serde::Serialize;
use vitrine_core::offer::parse_price;

use crate::feed::import::{FeedOutcome, FeedSource};
use crate::feed::{FeedFormat, SaleWindow, read_availability};
pub use vitrine_wire::imports::{FeedImportRequest, FeedReport, ImportFile, ImportReport};
pub use vitrine_wire::screens::ScreenList;

use vitrine_wire::plays::{Audience, AudienceList};

use crate::AppState;
use crate::auth::{Admin, Manager};
use crate::error::ApiError;
use crate::storage::plays::{AudienceRow, VENUE_ZONES};

pub use crate::storage::catalog::{
    InventoryRow, LocalPrice, LocalProduct, Product, ScreenRecord, SkippedRow, StoreRecord,
};

/// The largest import body: a feed of some tens of thousands of products.
pub const IMPORT_BODY_LIMIT: usize = 32 * 1024 * 1024;

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
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
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
    state.storage().upsert_stores(rows).await?;
    tracing::info!(applied, skipped = skipped.len(), "imported stores");
    Ok(Json(ImportReport { applied, skipped }))
}

/// `POST /v1/audience`: imports where screens stand and how many people see them, as CSV with
/// `screen`, `venue_zone`, `multiplier` and `source`, and optionally `zone` (empty or absent for
/// the whole screen). A screen's (or zone's) row replaces what it had. Plays take the audience in
/// force when they reach HQ: gross impressions = delivered plays × multiplier.
#[utoipa::path(
    post,
    path = "/v1/audience",
    tag = "reports",
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
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn import_audience(
    State(state): State<AppState>,
    _admin: Admin,
    body: Result<Json<ImportFile>, JsonRejection>,
) -> Result<Json<ImportReport>, ApiError> {
    let request = read_request(body)?;
    let mut reader = delimited(&request.source, b',');
    let columns = columns(
        &mut reader,
        &["screen", "venue_zone", "multiplier", "source"],
        &["zone"],
    )?;
    let (rows, mut skipped) = read_rows(&mut reader, &columns, read_audience);
    let mut applied = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        if state.storage().screen_exists(row.screen.clone()).await? {
            applied.push(row);
        } else {
            skipped.push(SkippedRow {
                line,
                reason: format!(
                    "no screen is named `{}`; register it first (`vitrine screens add`)",
                    row.screen.chars().take(80).collect::<String>()
                ),
            });
        }
    }
    skipped.sort_by_key(|row| row.line);
    let count = applied.len();
    state.storage().set_audiences(applied).await?;
    tracing::info!(
        applied = count,
        skipped = skipped.len(),
        "imported audiences"
    );
    Ok(Json(ImportReport {
        applied: count,
        skipped,
    }))
}

fn read_audience(row: &Row<'_>) -> Result<AudienceRow, String> {
    let screen = row.required("screen")?.to_owned();
    let venue_zone = row
        .required("venue_zone")?
        .to_ascii_lowercase()
        .replace('-', "_");
    if !VENUE_ZONES.contains(&venue_zone.as_str()) {
        return Err(format!(
            "venue zone `{venue_zone}` is not one of {}",
            VENUE_ZONES.join(", ")
        ));
    }
    let text = row.required("multiplier")?;
    let multiplier = text
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|value| value.is_finite() && (0.0..=1_000_000.0).contains(value))
        .ok_or_else(|| {
            format!("multiplier `{text}` is not a number from 0 to 1000000, like `12.5`")
        })?;
    Ok(AudienceRow {
        screen,
        zone: row.get("zone").to_owned(),
        venue_zone,
        multiplier_milli: (multiplier * 1000.0).round() as i64,
        source: row.required("source")?.to_owned(),
    })
}

/// `GET /v1/audience`: every screen's (and zone's) venue zone, multiplier and its source.
#[utoipa::path(
    get,
    path = "/v1/audience",
    tag = "reports",
    responses(
        (status = 200, description = "The screens' audiences", body = vitrine_wire::plays::AudienceList),
        (status = 401, description = "Error codes: `token_revoked`, `unauthorized`", body = crate::openapi::ErrorBody),
        (status = 403, description = "Error codes: `forbidden`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn list_audience(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<AudienceList>, ApiError> {
    let audience = state
        .storage()
        .audiences(None)
        .await?
        .into_iter()
        .map(|row| Audience {
            screen: row.screen,
            zone: row.zone,
            venue_zone: row.venue_zone,
            multiplier: row.multiplier_milli as f64 / 1000.0,
            source: row.source,
        })
        .collect();
    Ok(Json(AudienceList { audience }))
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
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
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
    let (applied, unknown) = state.storage().replace_segments(rows).await?;
    skipped.extend(unknown);
    skipped.sort_by_key(|row| row.line);
    Ok(Json(ImportReport { applied, skipped }))
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
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
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
    let outcome = crate::feed::import::import_products(
        state.storage(),
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
    Ok(Json(outcome.into()))
}

/// The source name of feeds uploaded by hand.
pub const UPLOAD_SOURCE: &str = "upload";

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
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
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
    let (applied, unknown, diff) = state.storage().upsert_inventory(rows).await?;
    skipped.extend(unknown);
    skipped.sort_by_key(|row| row.line);
    Ok(Json(FeedReport {
        applied,
        skipped,
        diff,
        ..FeedReport::default()
    }))
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
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = []), ("staff" = [])),
)]
pub async fn list_screens(
    State(state): State<AppState>,
    manager: Manager,
) -> Result<Json<ScreenList>, ApiError> {
    let mut screens = state.storage().screens().await?;
    // Staff see the screens of their stores only.
    screens.retain(|screen| {
        manager.is_admin()
            || screen
                .store
                .as_deref()
                .is_some_and(|store| manager.may_act_on_store(store))
    });
    let screens = screens
        .into_iter()
        .map(|screen| vitrine_wire::screens::ScreenRecord {
            name: screen.name,
            playlist: screen.playlist,
            timezone: screen.timezone,
            store: screen.store,
            tags: screen.tags,
            created_at: screen.created_at,
        })
        .collect();
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
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(("admin" = [])),
)]
pub async fn list_stores(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<StoreList>, ApiError> {
    Ok(Json(StoreList {
        stores: state.storage().stores().await?,
    }))
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
