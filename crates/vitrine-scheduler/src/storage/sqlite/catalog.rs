//! [`CatalogStore`] on SQLite: the `stores`, `store_segments`, `products` and `inventory` tables,
//! and where each screen is.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use crate::feed::import::{
    FeedDiff, FeedOutcome, FeedSource, count_product, keep_fetched_image, refused_stores,
};
use crate::storage::catalog::{
    CatalogStore, FeedBatch, FeedItem, FeedItems, InventoryRow, LocalProduct, Product,
    ScreenRecord, SkippedRow, StoreRecord, StoredProduct,
};
use crate::storage::screens::Screen;
use crate::storage::{Change, StorageError};

const PRODUCT_COLUMNS: &str = "id, title, description, link, image_link, price_cents,
    sale_price_cents, currency, availability, brand, gtin, sale_window, unit_measure,
    unit_base_measure, multipack, item_group_id, details";

/// The `SELECT` that [`product_from_row`] reads.
const PRODUCT_SELECT: &str = "SELECT id, title, description, link, image_link, price_cents,
    sale_price_cents, currency, availability, brand, gtin, sale_window, unit_measure,
    unit_base_measure, multipack, item_group_id, details, image_sha256, image_size,
    image_fetched_from FROM products";

/// Reads a product row of [`PRODUCT_SELECT`] (see [`StoredProduct::into_product`]).
fn product_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Product> {
    Ok(StoredProduct {
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
        sale_window: row.get(11)?,
        unit_measure: row.get(12)?,
        unit_base_measure: row.get(13)?,
        multipack: row.get(14)?,
        item_group_id: row.get(15)?,
        details: row.get(16)?,
        image_sha256: row.get(17)?,
        image_size: row.get(18)?,
        image_fetched_from: row.get(19)?,
    }
    .into_product())
}

/// Applies the items of a feed as they come, in one transaction that commits only when the
/// reader says the feed ended well; the inner error says why the feed was refused whole.
fn import_products(
    connection: &mut Connection,
    mut items: FeedItems,
    origin: &FeedSource,
) -> Result<Result<FeedOutcome, String>, StorageError> {
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
        let mut write = |item: FeedItem| -> Result<(), rusqlite::Error> {
            let mut product = match item {
                FeedItem::Product(product) => product,
                FeedItem::Skipped { line, reason, id } => {
                    skipped_ids.extend(id);
                    outcome.skip(line, reason);
                    return Ok(());
                }
            };
            outcome.applied += 1;
            *currencies.entry(product.currency.clone()).or_default() += 1;
            let old = select
                .query_row([&product.id], product_from_row)
                .optional()?;
            keep_fetched_image(old.as_ref(), &mut product);
            if !count_product(&mut outcome.diff, old.as_ref(), &product) {
                touch.execute(params![product.id, import_id, origin.name])?;
                return Ok(());
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
        // The reader checks items on a thread of its own while this one writes; returning early
        // (an error, or a refused feed) drops `items`, which lets the reader go.
        loop {
            match items.next_blocking() {
                FeedBatch::Items(batch) => batch.into_iter().try_for_each(&mut write)?,
                FeedBatch::End => break,
                // Dropping the transaction rolls back what was written of the feed.
                FeedBatch::Refused(reason) => return Ok(Err(reason)),
            }
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
        outcome.refused_stores = refused_stores(&currencies, stores);
    }
    transaction.commit()?;
    Ok(Ok(outcome))
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

#[async_trait::async_trait]
impl CatalogStore for SqliteStore {
    async fn upsert_stores(&self, rows: Vec<(u64, StoreRecord)>) -> Result<(), StorageError> {
        let written = !rows.is_empty();
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
        .await?;
        if written {
            self.changes.announce(Change::Content);
        }
        Ok(())
    }

    /// Replaces the segment mix of every store named in `rows`; rows naming an unknown store are
    /// returned as skipped, with the number applied.
    async fn replace_segments(
        &self,
        rows: Vec<(u64, (String, String, f64))>,
    ) -> Result<(usize, Vec<SkippedRow>), StorageError> {
        let (applied, skipped) = self
            .interact(move |connection| {
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
            .await?;
        if applied > 0 {
            self.changes.announce(Change::Content);
        }
        Ok((applied, skipped))
    }

    async fn import_products(
        &self,
        items: FeedItems,
        origin: FeedSource,
    ) -> Result<Result<FeedOutcome, String>, StorageError> {
        let outcome = self
            .interact(move |connection| import_products(connection, items, &origin))
            .await?;
        if let Ok(outcome) = &outcome
            && outcome.diff.changes_anything()
        {
            self.changes.announce(Change::Content);
        }
        Ok(outcome)
    }

    /// Upserts local inventory; rows naming an unknown store or product, or priced in another
    /// currency than the store's, are returned as skipped. The diff is per store and product
    /// (`paris-11/3017620422003`).
    async fn upsert_inventory(
        &self,
        rows: Vec<(u64, InventoryRow)>,
    ) -> Result<(usize, Vec<SkippedRow>, FeedDiff), StorageError> {
        let (applied, skipped, diff) = self
            .interact(move |connection| {
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
                        let currency =
                            row.price.as_ref().or(row.sale_price.as_ref()).map(|price| {
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
                                } else if (was_price, was_sale, was_window) != (price, sale, window)
                                {
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
            .await?;
        if diff.changes_anything() {
            self.changes.announce(Change::Content);
        }
        Ok((applied, skipped, diff))
    }

    async fn stores(&self) -> Result<Vec<StoreRecord>, StorageError> {
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

    async fn store_by_code(&self, code: String) -> Result<Option<StoreRecord>, StorageError> {
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
    async fn segments_of(&self, store: String) -> Result<BTreeMap<String, f64>, StorageError> {
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
    async fn known_segments(&self) -> Result<Vec<String>, StorageError> {
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
    async fn local_products(
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
    async fn screens(&self) -> Result<Vec<ScreenRecord>, StorageError> {
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

    async fn screen_record(&self, name: String) -> Result<Option<ScreenRecord>, StorageError> {
        Ok(self
            .screens()
            .await?
            .into_iter()
            .find(|screen| screen.name == name))
    }

    /// Sets where a screen is; used right after registering it.
    async fn place_screen(
        &self,
        name: String,
        store: Option<String>,
        tags: Vec<String>,
    ) -> Result<(), StorageError> {
        let placed = self
            .interact({
                let name = name.clone();
                move |connection| {
                    Ok(connection.execute(
                        "UPDATE screens SET store = ?2, tags = ?3 WHERE name = ?1",
                        params![name, store, tags_json(&tags)],
                    )? > 0)
                }
            })
            .await?;
        if placed {
            self.changes.announce(Change::Screen(name));
        }
        Ok(())
    }

    /// A screen by its name, as a device token would resolve to it.
    async fn screen_by_name(&self, name: String) -> Result<Option<Screen>, StorageError> {
        self.interact(move |connection| {
            Ok(connection
                .query_row(
                    "SELECT name, playlist, timezone FROM screens WHERE name = ?1",
                    [name],
                    |row| {
                        Ok(Screen {
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
    async fn token_sha256_of(&self, screen: String) -> Result<Option<String>, StorageError> {
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
    use crate::storage::Storage;

    fn product(id: &str, price_cents: i64) -> Product {
        Product {
            id: id.to_owned(),
            title: format!("Product {id}"),
            price_cents,
            currency: "EUR".to_owned(),
            availability: "in_stock".to_owned(),
            ..Product::default()
        }
    }

    fn source(name: &str, replace: bool) -> FeedSource {
        FeedSource {
            name: name.to_owned(),
            replace,
        }
    }

    /// Feeds `items` to an import, then ends the feed with `end` (None: the reader vanishes).
    async fn import(
        store: &SqliteStore,
        items: Vec<FeedItem>,
        end: Option<Result<(), String>>,
        origin: FeedSource,
    ) -> Result<FeedOutcome, String> {
        let (sender, feed) = FeedItems::channel(2);
        let reader = tokio::task::spawn_blocking(move || {
            sender.send_blocking(items).expect("the import takes items");
            if let Some(end) = end {
                sender
                    .finish_blocking(end)
                    .expect("the import takes the end");
            }
        });
        let outcome = store
            .import_products(feed, origin)
            .await
            .expect("the database works");
        reader.await.expect("the reader finishes");
        outcome
    }

    fn open() -> (tempfile::TempDir, SqliteStore) {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let store =
            SqliteStore::open(&folder.path().join("test.sqlite")).expect("the database opens");
        (folder, store)
    }

    #[tokio::test]
    async fn an_import_applies_its_items_and_announces_what_changed() {
        let (_folder, store) = open();
        let before = store.changes().generation();
        let outcome = import(
            &store,
            vec![
                FeedItem::Product(product("a", 100)),
                FeedItem::Skipped {
                    line: 3,
                    reason: "`price` is empty".into(),
                    id: Some("b".into()),
                },
            ],
            Some(Ok(())),
            source("shop", true),
        )
        .await
        .expect("the feed is applied");
        assert_eq!(outcome.applied, 1);
        assert_eq!(outcome.diff.added.ids, ["a"]);
        assert_eq!(outcome.skipped.len(), 1);
        assert!(store.changes().generation() > before);

        let found = store
            .local_products(vec!["a".into()], None)
            .await
            .expect("the database works");
        assert_eq!(found["a"].product, product("a", 100));

        // The same feed again changes nothing, and says nothing.
        let before = store.changes().generation();
        let outcome = import(
            &store,
            vec![FeedItem::Product(product("a", 100))],
            Some(Ok(())),
            source("shop", true),
        )
        .await
        .expect("the feed is applied");
        assert_eq!(outcome.diff.unchanged, 1);
        assert!(!outcome.diff.changes_anything());
        assert_eq!(store.changes().generation(), before);
    }

    #[tokio::test]
    async fn a_refused_feed_commits_nothing() {
        let (_folder, store) = open();
        let refused = import(
            &store,
            vec![FeedItem::Product(product("a", 100))],
            Some(Err("line 9: the XML is not well formed".into())),
            source("shop", true),
        )
        .await;
        assert_eq!(
            refused.expect_err("the feed is refused"),
            "line 9: the XML is not well formed"
        );
        // A reader that goes without saying how reading ended failed: nothing of it is kept.
        let vanished = import(
            &store,
            vec![FeedItem::Product(product("b", 100))],
            None,
            source("shop", true),
        )
        .await;
        assert_eq!(
            vanished.expect_err("the feed is refused"),
            "the feed reader failed"
        );
        let found = store
            .local_products(vec!["a".into(), "b".into()], None)
            .await
            .expect("the database works");
        assert!(found.is_empty(), "{found:?}");
    }

    #[tokio::test]
    async fn placing_a_screen_announces_that_screen() {
        let (_folder, store) = open();
        store
            .interact(|connection| {
                connection.execute(
                    "INSERT INTO screens (name, token_sha256, playlist) VALUES ('hall', 'x', 'p')",
                    [],
                )?;
                Ok(())
            })
            .await
            .expect("the database works");
        let mut changes = store.changes().subscribe();
        store
            .place_screen("hall".into(), None, vec!["entrance".into()])
            .await
            .expect("the database works");
        assert_eq!(changes.try_recv().ok(), Some(Change::Screen("hall".into())));
        // An unknown screen changes nothing.
        store
            .place_screen("nowhere".into(), None, Vec::new())
            .await
            .expect("the database works");
        assert!(changes.try_recv().is_err());
        let record = store
            .screen_record("hall".into())
            .await
            .expect("the database works")
            .expect("the screen is registered");
        assert_eq!(record.tags, ["entrance"]);
    }
}
