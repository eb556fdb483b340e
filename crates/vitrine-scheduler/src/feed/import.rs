//! Applying a product feed to the store: items are read one at a time and written in one
//! transaction, so memory stays flat however large the feed, and the import says what it changed
//! (added, removed, price changed, out of stock) so that only screens whose offers change hear of
//! it.
//!
//! **Bad input loses nothing.** A bad item is skipped and reported with its line; what was stored
//! for its id stays. A feed that is not well formed XML is refused whole (nothing after the break
//! can be trusted). A product is removed only by an import that *replaces* its source (a feed
//! fetched by URL always does) and neither lists it nor skips it.

use std::collections::BTreeMap;
use std::io::BufRead;

use super::parse::{FeedFormat, ReadError, ReadItem, read_feed};
use super::product_from_item;
use crate::catalog::{Product, SkippedRow};
use crate::storage::StorageError;
use crate::storage::catalog::{CatalogStore, FeedItem, FeedItemSender, FeedItems};
pub use vitrine_wire::imports::{Changed, FeedDiff, RefusedStore};

/// The most skipped items an import reports one by one.
pub const SKIPPED_LIST_LIMIT: usize = 1000;

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

impl FeedOutcome {
    /// Reports a skipped item: listed while fewer than [`SKIPPED_LIST_LIMIT`] are, else counted.
    pub fn skip(&mut self, line: u64, reason: String) {
        if self.skipped.len() < SKIPPED_LIST_LIMIT {
            self.skipped.push(SkippedRow { line, reason });
        } else {
            self.skipped_more += 1;
        }
    }
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

/// The fetched image is the store's, not the feed's: a product whose link did not change keeps
/// the image stored for it (and whether its link was tried already).
pub fn keep_fetched_image(old: Option<&Product>, product: &mut Product) {
    if let Some(old) = old
        && old.image_link == product.image_link
    {
        product.image = old.image.clone();
        product.image_tried = old.image_tried;
    }
}

/// Counts in `diff` how `product` differs from what was stored for its id (None: nothing was). Returns
/// false when it is the same product, which need not be written again.
pub fn count_product(diff: &mut FeedDiff, old: Option<&Product>, product: &Product) -> bool {
    match old {
        None => diff.added.push(&product.id),
        Some(old) if *old == *product => {
            diff.unchanged += 1;
            return false;
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
            } else if price(old) != price(product) {
                diff.price_changed.push(&product.id);
            } else {
                diff.other_changes.push(&product.id);
            }
        }
    }
    true
}

/// The stores that sell in another currency than some products of a feed, which are not shown
/// there. `currencies` counts the feed's products by currency; `stores` is every store's code and
/// currency, by code.
pub fn refused_stores(
    currencies: &BTreeMap<String, usize>,
    stores: Vec<(String, String)>,
) -> Vec<RefusedStore> {
    let mut refused = Vec::new();
    for (store, store_currency) in stores {
        let foreign: Vec<String> = currencies
            .iter()
            .filter(|(currency, _)| **currency != store_currency)
            .map(|(currency, count)| format!("{count} in {currency}"))
            .collect();
        if !foreign.is_empty() {
            refused.push(RefusedStore {
                reason: format!(
                    "store `{store}` sells in {store_currency}, but products of this feed \
                     are priced otherwise ({}): they are not shown there",
                    foreign.join(", ")
                ),
                store,
            });
        }
    }
    refused
}

/// Items per batch between the reading thread and the storage, and batches in flight.
const BATCH: usize = 256;
const BATCHES_IN_FLIGHT: usize = 8;

/// Reads and checks every item, sending them in batches, then says how reading ended; stops when
/// the storage has stopped taking them.
fn read_and_check(source: impl BufRead, format: FeedFormat, sender: FeedItemSender) {
    let stopped = || "the import stopped while the feed was read".to_owned();
    let mut batch = Vec::with_capacity(BATCH);
    let read = read_feed(source, format, |read| {
        batch.push(match read {
            ReadItem::Item(item) => match product_from_item(&item) {
                Ok(product) => FeedItem::Product(product),
                Err(reason) => FeedItem::Skipped {
                    line: item.line,
                    reason,
                    id: Some(item.first("id").to_owned()).filter(|id| !id.is_empty()),
                },
            },
            ReadItem::Unreadable { line, reason } => FeedItem::Skipped {
                line,
                reason,
                id: None,
            },
        });
        if batch.len() == BATCH {
            sender
                .send_blocking(std::mem::take(&mut batch))
                .map_err(|_| stopped())?;
        }
        Ok(())
    })
    .and_then(|()| {
        if !batch.is_empty() {
            sender
                .send_blocking(batch)
                .map_err(|_| ReadError::Stopped(stopped()))?;
        }
        Ok(())
    });
    // A storage that stopped taking items has failed, and says why itself.
    let _ = sender.finish_blocking(read.map_err(|error| error.to_string()));
}

/// Reads a feed from `source` and applies it to `storage` in one transaction: items are read and
/// checked on a thread of their own while the storage writes, the two overlapping, with at most a
/// few batches in memory between them. The outer error is the database's, the inner one says why
/// the feed was refused whole (nothing of it was applied).
pub async fn import_products(
    storage: &dyn CatalogStore,
    source: Box<dyn BufRead + Send>,
    format: FeedFormat,
    origin: FeedSource,
) -> Result<Result<FeedOutcome, String>, StorageError> {
    let (sender, items) = FeedItems::channel(BATCHES_IN_FLIGHT);
    let reader = tokio::task::spawn_blocking(move || read_and_check(source, format, sender));
    let written = storage.import_products(items, origin).await;
    // A storage that stopped early dropped its end, which lets the reader go: its next send fails.
    // Whatever the reader came to, the storage heard it.
    let _ = reader.await;
    written
}
