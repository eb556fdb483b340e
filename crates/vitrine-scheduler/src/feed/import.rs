//! Applying a product feed to the store: items are read one at a time and written in one
//! transaction, so memory stays flat however large the feed, and the import says what it changed
//! (added, removed, price changed, out of stock) so that only screens whose offers change hear of
//! it.
//!
//! **Bad input loses nothing.** A bad item is skipped and reported with its line; what was stored
//! for its id stays. A feed that is not well formed XML is refused whole (nothing after the break
//! can be trusted). A product is removed only by an import that *replaces* its source (a feed
//! fetched by URL always does) and neither lists it nor skips it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::parse::{FeedFormat, ReadError, ReadItem, read_feed};
use super::product_from_item;
use crate::catalog::{Product, SkippedRow};

/// The most ids a diff lists per kind of change; the counts are always whole.
pub const DIFF_LIST_LIMIT: usize = 100;

/// The most skipped items an import reports one by one.
pub const SKIPPED_LIST_LIMIT: usize = 1000;

/// Ids of one kind of change: how many, and the first [`DIFF_LIST_LIMIT`] of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Changed {
    pub count: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

impl Changed {
    pub fn push(&mut self, id: &str) {
        self.count += 1;
        if self.ids.len() < DIFF_LIST_LIMIT {
            self.ids.push(id.to_owned());
        }
    }
}

/// What an import changed, against what was stored before it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RefusedStore {
    pub store: String,
    pub reason: String,
}

/// What an import of a product feed did.
#[derive(Debug, Default)]
pub struct FeedOutcome {
    pub applied: usize,
    pub skipped: Vec<SkippedRow>,
    /// Skipped items beyond [`SKIPPED_LIST_LIMIT`], counted only.
    pub skipped_more: usize,
    pub diff: FeedDiff,
    pub refused_stores: Vec<RefusedStore>,
}

/// Why an import failed as a whole; nothing of it was applied.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Feed(String),
    #[error(transparent)]
    Database(#[from] rusqlite::Error),
}

/// Where the products of an import come from, and whether the import is the whole of it.
#[derive(Clone, Debug)]
pub struct FeedSource {
    /// The feed's name: a registered URL feed's name, or `upload` for files sent by hand.
    pub name: String,
    /// Products of this source that the feed neither lists nor skips are removed.
    pub replace: bool,
}

fn is_available(availability: &str) -> bool {
    availability != "out_of_stock"
}

const PRODUCT_COLUMNS: &str = "id, title, description, link, image_link, price_cents,
    sale_price_cents, currency, availability, brand, gtin, sale_window, unit_measure,
    unit_base_measure, multipack, item_group_id, details";

/// The `SELECT` that [`product_from_row`] reads.
pub const PRODUCT_SELECT: &str = "SELECT id, title, description, link, image_link, price_cents,
    sale_price_cents, currency, availability, brand, gtin, sale_window, unit_measure,
    unit_base_measure, multipack, item_group_id, details, image_sha256, image_size,
    image_fetched_from FROM products";

/// Reads a product row of [`PRODUCT_SELECT`]. A stored value that no longer reads (it was
/// checked when written) is dropped rather than failing every manifest that names the product.
pub fn product_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Product> {
    let sale_window: Option<String> = row.get(11)?;
    let unit_measure: Option<String> = row.get(12)?;
    let unit_base_measure: Option<String> = row.get(13)?;
    let details: String = row.get(16)?;
    let image_link: String = row.get(4)?;
    let image_sha256: Option<String> = row.get(17)?;
    let image_size: Option<i64> = row.get(18)?;
    let fetched_from: Option<String> = row.get(19)?;
    let image_tried = fetched_from.as_deref() == Some(image_link.as_str());
    let image = match (image_sha256, image_size) {
        (Some(sha256), Some(size)) if image_tried => {
            sha256.parse().ok().map(|sha256| vitrine_core::MediaEntry {
                sha256,
                size: size.max(0) as u64,
            })
        }
        _ => None,
    };
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
        sale_window: sale_window.and_then(|text| text.parse().ok()),
        unit_pricing: unit_measure.and_then(|measure| {
            super::UnitPricing::new(&measure, unit_base_measure.as_deref().unwrap_or("")).ok()
        }),
        multipack: row.get(14)?,
        item_group_id: row.get(15)?,
        details: serde_json::from_str(&details).unwrap_or_default(),
        image,
        image_tried,
    })
}

/// What the reading thread hands the writing one: a product checked, or an item skipped (with its
/// id when it has one, so a replacing import keeps what was stored for it).
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every message is a product; boxing it would add an allocation per item"
)]
enum Parsed {
    Product(Product),
    Skipped {
        line: u64,
        reason: String,
        id: Option<String>,
    },
}

/// Items per message between the reading and the writing thread, and messages in flight.
const BATCH: usize = 256;
const BATCHES_IN_FLIGHT: usize = 8;

/// Reads and checks every item, sending them in batches; stops when the writer has gone.
fn read_and_check(
    source: impl BufRead,
    format: FeedFormat,
    sender: std::sync::mpsc::SyncSender<Vec<Parsed>>,
) -> Result<(), ReadError<String>> {
    let stopped = || "the import stopped while the feed was read".to_owned();
    let mut batch = Vec::with_capacity(BATCH);
    read_feed(source, format, |read| {
        batch.push(match read {
            ReadItem::Item(item) => match product_from_item(&item) {
                Ok(product) => Parsed::Product(product),
                Err(reason) => Parsed::Skipped {
                    line: item.line,
                    reason,
                    id: Some(item.first("id").to_owned()).filter(|id| !id.is_empty()),
                },
            },
            ReadItem::Unreadable { line, reason } => Parsed::Skipped {
                line,
                reason,
                id: None,
            },
        });
        if batch.len() == BATCH {
            sender
                .send(std::mem::take(&mut batch))
                .map_err(|_| stopped())?;
        }
        Ok(())
    })?;
    if !batch.is_empty() {
        sender
            .send(batch)
            .map_err(|_| ReadError::Stopped(stopped()))?;
    }
    Ok(())
}

/// Reads a feed from `source` and applies it in one transaction.
pub fn import_products(
    connection: &mut Connection,
    source: impl BufRead + Send,
    format: FeedFormat,
    origin: &FeedSource,
) -> Result<FeedOutcome, ImportError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let import_id: i64 = transaction.query_row(
        "SELECT COALESCE(MAX(import_id), 0) + 1 FROM products",
        [],
        |row| row.get(0),
    )?;
    let mut outcome = FeedOutcome::default();
    // Ids of skipped items: a replacing import keeps what was stored for them.
    let mut skipped_ids: BTreeSet<String> = BTreeSet::new();
    let mut currencies: BTreeMap<String, usize> = BTreeMap::new();
    {
        let mut select = transaction.prepare(&format!(
            "{PRODUCT_SELECT} WHERE id = ?1 AND removed_at IS NULL"
        ))?;
        let mut touch =
            transaction.prepare("UPDATE products SET import_id = ?2, source = ?3 WHERE id = ?1")?;
        let mut upsert = transaction.prepare(&format!(
            "INSERT INTO products ({PRODUCT_COLUMNS}, source, import_id, removed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                     ?18, ?19, NULL)
             ON CONFLICT (id) DO UPDATE SET title = excluded.title,
                description = excluded.description, link = excluded.link,
                image_link = excluded.image_link, price_cents = excluded.price_cents,
                sale_price_cents = excluded.sale_price_cents, currency = excluded.currency,
                availability = excluded.availability, brand = excluded.brand,
                gtin = excluded.gtin, sale_window = excluded.sale_window,
                unit_measure = excluded.unit_measure,
                unit_base_measure = excluded.unit_base_measure, multipack = excluded.multipack,
                item_group_id = excluded.item_group_id, details = excluded.details,
                source = excluded.source, import_id = excluded.import_id, removed_at = NULL,
                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
        ))?;
        let skip = |outcome: &mut FeedOutcome, line: u64, reason: String| {
            if outcome.skipped.len() < SKIPPED_LIST_LIMIT {
                outcome.skipped.push(SkippedRow { line, reason });
            } else {
                outcome.skipped_more += 1;
            }
        };
        // Reading and checking run on a thread of their own while this one writes: the two
        // overlap, and the bounded channel keeps at most a few batches in memory.
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<Parsed>>(BATCHES_IN_FLIGHT);
        let (written, read) = std::thread::scope(|scope| {
            let reader = scope.spawn(move || read_and_check(source, format, sender));
            let mut write = |parsed: Parsed| -> Result<(), rusqlite::Error> {
                let mut product = match parsed {
                    Parsed::Product(product) => product,
                    Parsed::Skipped { line, reason, id } => {
                        skipped_ids.extend(id);
                        skip(&mut outcome, line, reason);
                        return Ok(());
                    }
                };
                outcome.applied += 1;
                *currencies.entry(product.currency.clone()).or_default() += 1;
                let old = select
                    .query_row([&product.id], product_from_row)
                    .optional()?;
                // The fetched image is the store's, not the feed's: it stays while the link does.
                if let Some(old) = &old
                    && old.image_link == product.image_link
                {
                    product.image = old.image.clone();
                    product.image_tried = old.image_tried;
                }
                let diff = &mut outcome.diff;
                match &old {
                    None => diff.added.push(&product.id),
                    Some(old) if *old == product => {
                        diff.unchanged += 1;
                        touch.execute(params![product.id, import_id, origin.name])?;
                        return Ok(());
                    }
                    Some(old) => {
                        let price = |product: &Product| {
                            (
                                product.price_cents,
                                product.sale_price_cents,
                                product.sale_window,
                                product.currency.clone(),
                            )
                        };
                        let (was, is) = (
                            is_available(&old.availability),
                            is_available(&product.availability),
                        );
                        if was && !is {
                            diff.out_of_stock.push(&product.id);
                        } else if !was && is {
                            diff.back_in_stock.push(&product.id);
                        } else if price(old) != price(&product) {
                            diff.price_changed.push(&product.id);
                        } else {
                            diff.other_changes.push(&product.id);
                        }
                    }
                }
                let details =
                    serde_json::to_string(&product.details).unwrap_or_else(|_| "{}".to_owned());
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
                    product.gtin,
                    product.sale_window.map(|window| window.to_string()),
                    product
                        .unit_pricing
                        .as_ref()
                        .map(|pricing| pricing.measure.to_string()),
                    product
                        .unit_pricing
                        .as_ref()
                        .map(|pricing| pricing.base.to_string()),
                    product.multipack,
                    product.item_group_id,
                    details,
                    origin.name,
                    import_id,
                ])?;
                Ok(())
            };
            let written = receiver.iter().flatten().try_for_each(&mut write);
            // A writer that stopped early lets the reader go: its next send fails.
            drop(receiver);
            (written, reader.join())
        });
        written?;
        match read {
            Ok(Ok(())) => {}
            Ok(Err(other)) => return Err(ImportError::Feed(other.to_string())),
            Err(_) => return Err(ImportError::Feed("the feed reader failed".into())),
        }
    }
    if origin.replace {
        let mut gone = transaction.prepare(
            "SELECT id FROM products
             WHERE source = ?1 AND import_id != ?2 AND removed_at IS NULL ORDER BY id",
        )?;
        let mut remove = transaction.prepare(
            "UPDATE products SET removed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE id = ?1",
        )?;
        let ids = gone
            .query_map(params![origin.name, import_id], |row| {
                row.get::<_, String>(0)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for id in ids {
            if skipped_ids.contains(&id) {
                continue;
            }
            remove.execute([&id])?;
            outcome.diff.removed.push(&id);
        }
    }
    {
        let mut stores = transaction.prepare("SELECT code, currency FROM stores ORDER BY code")?;
        let stores = stores
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (store, store_currency) in stores {
            let foreign: Vec<String> = currencies
                .iter()
                .filter(|(currency, _)| **currency != store_currency)
                .map(|(currency, count)| format!("{count} in {currency}"))
                .collect();
            if !foreign.is_empty() {
                outcome.refused_stores.push(RefusedStore {
                    reason: format!(
                        "store `{store}` sells in {store_currency}, but products of this feed \
                         are priced otherwise ({}): they are not shown there",
                        foreign.join(", ")
                    ),
                    store,
                });
            }
        }
    }
    transaction.commit()?;
    Ok(outcome)
}
