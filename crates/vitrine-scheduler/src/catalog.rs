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
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use vitrine_core::offer::{Money, parse_price};

use crate::AppState;
use crate::auth::{Admin, Manager};
use crate::error::ApiError;
use crate::store::{Store, StoreError};

/// The largest import body: a feed of some tens of thousands of products.
pub const IMPORT_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// An import request: the file's name (which picks the format) and its text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    pub file_name: String,
    pub source: String,
}

/// What an import did: how many rows were applied, and each row that was skipped, with why.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportReport {
    pub applied: usize,
    pub skipped: Vec<SkippedRow>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SkippedRow {
    /// 1-based line in the file.
    pub line: u64,
    pub reason: String,
}

/// A store as the API and the manifest builder see it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
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
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
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
}

/// A product at one store: the feed's product, with the local price and stock where there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalProduct {
    pub product: Product,
    /// `None` when the store has no inventory row: stock then follows the feed's availability.
    pub quantity: Option<i64>,
}

impl LocalProduct {
    /// Units on hand as far as HQ knows: the local inventory's count, else 1 for a product the feed
    /// says is in stock (or can be ordered) and 0 otherwise.
    pub fn stock(&self) -> i64 {
        self.quantity
            .unwrap_or(match self.product.availability.as_str() {
                "out_of_stock" => 0,
                _ => 1,
            })
    }
}

/// A registered screen with where it is, for `GET /v1/screens` and the manifest builder.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
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

/// One product row of a feed, read and checked.
fn read_product(field: &dyn Fn(&str) -> String) -> Result<Product, String> {
    let id = field("id");
    if id.is_empty() {
        return Err("`id` is empty".into());
    }
    let title = field("title");
    if title.is_empty() {
        return Err(format!("product `{id}`: `title` is empty"));
    }
    let price_text = field("price");
    if price_text.is_empty() {
        return Err(format!("product `{id}`: `price` is empty"));
    }
    let price = parse_price(&price_text).map_err(|error| format!("product `{id}`: {error}"))?;
    let sale_price = optional_price(&field("sale_price"), &price.currency)
        .map_err(|error| format!("product `{id}`: sale_price: {error}"))?;
    let availability = match field("availability")
        .to_ascii_lowercase()
        .replace(' ', "_")
        .as_str()
    {
        "" | "in_stock" => "in_stock",
        "out_of_stock" => "out_of_stock",
        "preorder" => "preorder",
        "backorder" => "backorder",
        other => {
            return Err(format!(
                "product `{id}`: availability `{other}` is not one of in_stock, out_of_stock, \
                 preorder, backorder"
            ));
        }
    };
    let link = field("link");
    let is_web_address = link.starts_with("https://") || link.starts_with("http://");
    if !(link.is_empty() || is_web_address) {
        return Err(format!(
            "product `{id}`: link `{link}` is not a web address"
        ));
    }
    Ok(Product {
        id,
        title,
        description: field("description"),
        link,
        image_link: field("image_link"),
        price_cents: price.cents,
        sale_price_cents: sale_price.map(|money| money.cents),
        currency: price.currency,
        availability: availability.to_owned(),
        brand: field("brand"),
        gtin: field("gtin"),
    })
}

/// An optional price that, when present, must be in `currency`.
fn optional_price(text: &str, currency: &str) -> Result<Option<Money>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let money = parse_price(text).map_err(|error| error.to_string())?;
    if money.currency != currency {
        return Err(format!(
            "`{text}` is in {}, but the price is in {currency}",
            money.currency
        ));
    }
    Ok(Some(money))
}

const PRODUCT_COLUMNS: &[&str] = &[
    "description",
    "link",
    "image_link",
    "sale_price",
    "availability",
    "brand",
    "gtin",
];

/// `POST /v1/feed`: imports a Merchant Center product feed (TSV or RSS XML), upserting by id.
pub async fn import_feed(
    State(state): State<AppState>,
    _admin: Admin,
    body: Result<Json<ImportFile>, JsonRejection>,
) -> Result<Json<ImportReport>, ApiError> {
    let request = read_request(body)?;
    let (rows, skipped) = if request.file_name.to_ascii_lowercase().ends_with(".xml") {
        read_xml_feed(&request.source)?
    } else {
        let mut reader = delimited(&request.source, b'\t');
        let columns = columns(&mut reader, &["id", "title", "price"], PRODUCT_COLUMNS)?;
        read_rows(&mut reader, &columns, |row| {
            read_product(&|name| row.get(name).to_owned())
        })
    };
    let applied = rows.len();
    state.store().upsert_products(rows).await?;
    tracing::info!(applied, skipped = skipped.len(), "imported a product feed");
    Ok(Json(ImportReport { applied, skipped }))
}

/// Reads an RSS 2.0 Merchant Center feed: each `<item>` is a product, its fields `<g:id>`,
/// `<g:price>` and so on (the plain RSS `<title>`, `<link>` and `<description>` count too). A broken
/// item is skipped; XML that is not well formed is refused whole, since nothing after the break
/// can be trusted.
/// Rows read from a file, each with its line, and the rows skipped.
type ReadRows<T> = (Vec<(u64, T)>, Vec<SkippedRow>);

/// Line numbers of byte offsets that come in order, counted as the reader goes: each byte of
/// the file is looked at once, however many items it holds (counting from the start at every
/// item made an import quadratic in the file's size).
struct LineCounter<'source> {
    source: &'source [u8],
    /// How far newlines have been counted, and how many lines start before it.
    offset: usize,
    line: u64,
    /// Bytes looked at so far, for the test that proves the counting linear.
    scanned: usize,
}

impl<'source> LineCounter<'source> {
    fn new(source: &'source str) -> Self {
        Self {
            source: source.as_bytes(),
            offset: 0,
            line: 1,
            scanned: 0,
        }
    }

    /// The 1-based line of `offset`. An offset before the last one asked for is counted from the
    /// start again, which a forward reader never needs.
    fn line_at(&mut self, offset: u64) -> u64 {
        let offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.source.len());
        if offset < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        let newlines = self.source[self.offset..offset]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count();
        self.scanned += offset - self.offset;
        self.line += newlines as u64;
        self.offset = offset;
        self.line
    }
}

fn read_xml_feed(source: &str) -> Result<ReadRows<Product>, ApiError> {
    use quick_xml::events::Event;
    let mut lines = LineCounter::new(source);
    let mut line_at = |offset: u64| lines.line_at(offset);
    let mut reader = quick_xml::Reader::from_str(source);
    // Not trimmed here: text around an entity (`A &amp; B`) comes in pieces whose spaces matter.
    // Whole fields are trimmed when read.
    reader.config_mut().trim_text(false);
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    // The item being read: its line and fields so far.
    let mut item: Option<(u64, HashMap<String, String>)> = None;
    let mut field: Option<String> = None;
    loop {
        let offset = reader.buffer_position();
        let event = reader.read_event().map_err(|error| {
            invalid_file(format!(
                "the XML is not well formed at line {}: {error}",
                line_at(reader.error_position())
            ))
        })?;
        match event {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                if name == "item" {
                    item = Some((line_at(offset), HashMap::new()));
                } else if item.is_some() {
                    field = Some(name);
                }
            }
            Event::End(end) => {
                if end.local_name().as_ref() == b"item"
                    && let Some((line, fields)) = item.take()
                {
                    let read = read_product(&|name| {
                        fields
                            .get(name)
                            .map(|value| value.trim().to_owned())
                            .unwrap_or_default()
                    });
                    match read {
                        Ok(product) => rows.push((line, product)),
                        Err(reason) => skipped.push(SkippedRow { line, reason }),
                    }
                }
                field = None;
            }
            Event::Text(text) => {
                if let (Some((_, fields)), Some(name)) = (&mut item, &field) {
                    let text = text.decode().map_err(|error| {
                        invalid_file(format!("the XML text is not UTF-8: {error}"))
                    })?;
                    fields.entry(name.clone()).or_default().push_str(&text);
                }
            }
            Event::CData(data) => {
                if let (Some((_, fields)), Some(name)) = (&mut item, &field) {
                    let text = data.decode().map_err(|error| {
                        invalid_file(format!("the XML text is not UTF-8: {error}"))
                    })?;
                    fields.entry(name.clone()).or_default().push_str(&text);
                }
            }
            Event::GeneralRef(reference) => {
                if let (Some((_, fields)), Some(name)) = (&mut item, &field) {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(character)) => character.to_string(),
                        _ => {
                            let entity = reference.decode().unwrap_or_default();
                            quick_xml::escape::resolve_predefined_entity(&entity)
                                .unwrap_or("")
                                .to_owned()
                        }
                    };
                    fields.entry(name.clone()).or_default().push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok((rows, skipped))
}

/// One row of a local-inventory feed.
#[derive(Debug)]
pub struct InventoryRow {
    pub store: String,
    pub product: String,
    pub quantity: i64,
    pub price: Option<Money>,
    pub sale_price: Option<Money>,
}

/// `POST /v1/feed/inventory`: imports local inventory (TSV, or CSV for a `.csv` file), upserting by
/// store and product. A row naming a store or product HQ does not know is skipped.
pub async fn import_inventory(
    State(state): State<AppState>,
    _admin: Admin,
    body: Result<Json<ImportFile>, JsonRejection>,
) -> Result<Json<ImportReport>, ApiError> {
    let request = read_request(body)?;
    let delimiter = if request.file_name.to_ascii_lowercase().ends_with(".csv") {
        b','
    } else {
        b'\t'
    };
    let mut reader = delimited(&request.source, delimiter);
    let columns = columns(
        &mut reader,
        &["store_code", "id", "quantity"],
        &["price", "sale_price"],
    )?;
    let (rows, mut skipped) = read_rows(&mut reader, &columns, |row| {
        let quantity_text = row.required("quantity")?;
        let quantity: i64 = quantity_text
            .parse()
            .ok()
            .filter(|quantity| *quantity >= 0)
            .ok_or_else(|| format!("quantity `{quantity_text}` is not a whole number of units"))?;
        let price = match row.get("price") {
            "" => None,
            text => Some(parse_price(text).map_err(|error| error.to_string())?),
        };
        let sale_price = match (row.get("sale_price"), &price) {
            ("", _) => None,
            (text, Some(price)) => optional_price(text, &price.currency)?,
            (text, None) => Some(parse_price(text).map_err(|error| error.to_string())?),
        };
        Ok(InventoryRow {
            store: row.required("store_code")?.to_owned(),
            product: row.required("id")?.to_owned(),
            quantity,
            price,
            sale_price,
        })
    });
    let (applied, unknown) = state.store().upsert_inventory(rows).await?;
    skipped.extend(unknown);
    skipped.sort_by_key(|row| row.line);
    Ok(Json(ImportReport { applied, skipped }))
}

#[derive(Debug, Serialize)]
pub struct ScreenList {
    pub screens: Vec<ScreenRecord>,
}

/// `GET /v1/screens`: every registered screen, by name.
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

#[derive(Debug, Serialize)]
pub struct StoreList {
    pub stores: Vec<StoreRecord>,
}

/// `GET /v1/stores`: every store, by code.
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

fn tags_from_json(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::CorruptRow(format!("tags: {error}")))
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

/// An inventory row: quantity, price, sale price and currency.
type LocalRow = (i64, Option<i64>, Option<i64>, Option<String>);

const STORE_COLUMNS: &str = "code, name, region, tags, timezone, locale, currency";

const PRODUCT_SELECT: &str = "SELECT id, title, description, link, image_link, price_cents,
        sale_price_cents, currency, availability, brand, gtin FROM products";

fn product_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Product> {
    Ok(Product {
        id: row.get(0)?,
        title: row.get(1)?,
        description: row.get(2)?,
        link: row.get(3)?,
        image_link: row.get(4)?,
        price_cents: row.get(5)?,
        sale_price_cents: row.get(6)?,
        currency: row.get(7)?,
        availability: row.get(8)?,
        brand: row.get(9)?,
        gtin: row.get(10)?,
    })
}

impl Store {
    pub async fn upsert_stores(&self, rows: Vec<(u64, StoreRecord)>) -> Result<(), StoreError> {
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
    ) -> Result<(usize, Vec<SkippedRow>), StoreError> {
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

    pub async fn upsert_products(&self, rows: Vec<(u64, Product)>) -> Result<(), StoreError> {
        self.interact(move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut upsert = transaction.prepare(
                    "INSERT INTO products (id, title, description, link, image_link, price_cents,
                        sale_price_cents, currency, availability, brand, gtin)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     ON CONFLICT (id) DO UPDATE SET title = excluded.title,
                        description = excluded.description, link = excluded.link,
                        image_link = excluded.image_link, price_cents = excluded.price_cents,
                        sale_price_cents = excluded.sale_price_cents,
                        currency = excluded.currency, availability = excluded.availability,
                        brand = excluded.brand, gtin = excluded.gtin,
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                )?;
                for (_, product) in rows {
                    upsert.execute(params![
                        product.id,
                        product.title,
                        product.description,
                        product.link,
                        product.image_link,
                        product.price_cents,
                        product.sale_price_cents,
                        product.currency,
                        product.availability,
                        product.brand,
                        product.gtin
                    ])?;
                }
            }
            transaction.commit()?;
            Ok(())
        })
        .await
    }

    /// Upserts local inventory; rows naming an unknown store or product are returned as skipped.
    pub async fn upsert_inventory(
        &self,
        rows: Vec<(u64, InventoryRow)>,
    ) -> Result<(usize, Vec<SkippedRow>), StoreError> {
        self.interact(move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut skipped = Vec::new();
            let mut applied = 0;
            {
                let mut store_known =
                    transaction.prepare("SELECT 1 FROM stores WHERE code = ?1")?;
                let mut product_currency =
                    transaction.prepare("SELECT currency FROM products WHERE id = ?1")?;
                let mut upsert = transaction.prepare(
                    "INSERT INTO inventory (store, product, quantity, price_cents,
                        sale_price_cents, currency)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (store, product) DO UPDATE SET quantity = excluded.quantity,
                        price_cents = excluded.price_cents,
                        sale_price_cents = excluded.sale_price_cents,
                        currency = excluded.currency,
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                )?;
                for (line, row) in rows {
                    if !store_known.exists([&row.store])? {
                        skipped.push(SkippedRow {
                            line,
                            reason: unknown_store(&row.store),
                        });
                        continue;
                    }
                    let currency: Option<String> = product_currency
                        .query_row([&row.product], |result| result.get(0))
                        .optional()?;
                    if currency.is_none() {
                        skipped.push(SkippedRow {
                            line,
                            reason: format!(
                                "product `{}` is not in the product feed; import the feed first",
                                row.product
                            ),
                        });
                        continue;
                    }
                    let currency = row
                        .price
                        .as_ref()
                        .or(row.sale_price.as_ref())
                        .map(|money| money.currency.clone());
                    upsert.execute(params![
                        row.store,
                        row.product,
                        row.quantity,
                        row.price.as_ref().map(|money| money.cents),
                        row.sale_price.as_ref().map(|money| money.cents),
                        currency
                    ])?;
                    applied += 1;
                }
            }
            transaction.commit()?;
            Ok((applied, skipped))
        })
        .await
    }

    pub async fn stores(&self) -> Result<Vec<StoreRecord>, StoreError> {
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

    pub async fn store_by_code(&self, code: String) -> Result<Option<StoreRecord>, StoreError> {
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
    pub async fn segments_of(&self, store: String) -> Result<BTreeMap<String, f64>, StoreError> {
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
    pub async fn known_segments(&self) -> Result<Vec<String>, StoreError> {
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
    pub async fn local_products(
        &self,
        ids: Vec<String>,
        store: Option<String>,
    ) -> Result<BTreeMap<String, LocalProduct>, StoreError> {
        self.interact(move |connection| {
            let mut product = connection.prepare(&format!("{PRODUCT_SELECT} WHERE id = ?1"))?;
            let mut local = connection.prepare(
                "SELECT quantity, price_cents, sale_price_cents, currency FROM inventory
                 WHERE store = ?1 AND product = ?2",
            )?;
            let mut found = BTreeMap::new();
            for id in ids {
                let Some(mut item) = product.query_row([&id], product_from_row).optional()? else {
                    continue;
                };
                let mut quantity = None;
                if let Some(store) = &store {
                    let row: Option<LocalRow> = local
                        .query_row(params![store, id], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                        })
                        .optional()?;
                    if let Some((count, price, sale_price, currency)) = row {
                        quantity = Some(count);
                        item.apply_local_price(price, sale_price, currency);
                    }
                }
                found.insert(
                    id,
                    LocalProduct {
                        product: item,
                        quantity,
                    },
                );
            }
            Ok(found)
        })
        .await
    }

    /// Every screen, by name.
    pub async fn screens(&self) -> Result<Vec<ScreenRecord>, StoreError> {
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

    pub async fn screen_record(&self, name: String) -> Result<Option<ScreenRecord>, StoreError> {
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
    ) -> Result<(), StoreError> {
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
    ) -> Result<Option<crate::store::Screen>, StoreError> {
        self.interact(move |connection| {
            Ok(connection
                .query_row(
                    "SELECT name, playlist, timezone FROM screens WHERE name = ?1",
                    [name],
                    |row| {
                        Ok(crate::store::Screen {
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
    pub async fn token_sha256_of(&self, screen: String) -> Result<Option<String>, StoreError> {
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
    fn feed_lines_are_counted_in_one_pass() {
        let mut feed = String::from("<rss><channel>\n");
        for index in 0..5_000 {
            feed.push_str(&format!(
                "<item>\n<g:id>p{index}</g:id>\n<title>Product {index}</title>\n\
                 <g:price>1.00 EUR</g:price>\n</item>\n"
            ));
        }
        feed.push_str("</channel></rss>\n");
        let mut lines = LineCounter::new(&feed);
        let mut offsets: Vec<usize> = feed.match_indices("<item>").map(|(at, _)| at).collect();
        offsets.push(feed.len());
        let counted: Vec<u64> = offsets.iter().map(|at| lines.line_at(*at as u64)).collect();
        assert_eq!(counted[0], 2);
        assert_eq!(counted[4_999], 2 + 4_999 * 5);
        assert!(
            lines.scanned <= feed.len(),
            "{} bytes looked at for a {}-byte feed",
            lines.scanned,
            feed.len()
        );
        // And the import itself reads every item with its line.
        let (rows, skipped) = read_xml_feed(&feed).expect("well formed");
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(rows.len(), 5_000);
        assert_eq!(rows[4_999].0, 2 + 4_999 * 5);
    }

    #[test]
    fn xml_items_are_read_with_their_lines_and_entities() {
        let feed = "<?xml version=\"1.0\"?>\n<rss xmlns:g=\"http://base.google.com/ns/1.0\" version=\"2.0\"><channel>\n<item>\n<g:id>a</g:id><title>Salt &amp; pepper</title><g:price>2.50 EUR</g:price>\n</item>\n<item>\n<g:id>b</g:id><g:title>Bad</g:title><g:price>two euros</g:price>\n</item>\n</channel></rss>\n";
        let (rows, skipped) = read_xml_feed(feed).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, 3);
        assert_eq!(rows[0].1.title, "Salt & pepper");
        assert_eq!(rows[0].1.price_cents, 250);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].line, 6);
        assert!(
            skipped[0].reason.contains("two euros"),
            "{}",
            skipped[0].reason
        );
    }

    #[test]
    fn shares_are_fractions_or_percentages() {
        assert_eq!(read_share("0.25"), Ok(0.25));
        assert_eq!(read_share("25%"), Ok(0.25));
        assert!(read_share("1.5").is_err());
        assert!(read_share("lots").is_err());
    }
}
