//! [`CatalogStore`] on PostgreSQL: the `stores`, `store_segments`, `products` and `inventory`
//! tables, and where each screen is.
//!
//! Writes that read what is stored to say what they changed (a feed import, an inventory upload,
//! a segment mix) take a transaction-scoped advisory lock of their own, so that schedulers sharing
//! the database apply them one at a time, as SQLite's writer lock did.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use crate::feed::import::{
    FeedDiff, FeedOutcome, FeedSource, count_product, keep_fetched_image, refused_stores,
};
use crate::storage::catalog::{
    CatalogStore, FeedBatch, FeedItem, FeedItems, InventoryRow, LocalProduct, Product,
    ScreenRecord, SkippedRow, StoreRecord, StoredProduct,
};
use crate::storage::screens::Screen;
use crate::storage::{Change, StorageError};

/// The advisory lock a product feed import holds ("products" in ASCII): imports of the same
/// source would otherwise both take the next import number and remove each other's products.
const PRODUCTS_LOCK: i64 = 0x7072_6f64_7563_7473;

/// The advisory lock an inventory upload holds ("inventor" in ASCII), so that its diff is against
/// what the previous upload left.
const INVENTORY_LOCK: i64 = 0x696e_7665_6e74_6f72;

/// The advisory lock a segment import holds ("segments" in ASCII): two imports clearing and
/// refilling the same store would otherwise leave a mix of both.
const SEGMENTS_LOCK: i64 = 0x7365_676d_656e_7473;

/// The `SELECT` that [`product_from_row`] reads.
const PRODUCT_SELECT: &str = "SELECT id, title, description, link, image_link, price_cents,
    sale_price_cents, currency, availability, brand, gtin, sale_window, unit_measure,
    unit_base_measure, multipack, item_group_id, details::text, image_sha256, image_size,
    image_fetched_from FROM products";

/// Writes a chunk of products, one array parameter per column, as [`ProductColumns`] holds them.
const PRODUCT_UPSERT: &str = "INSERT INTO products (id, title, description, link, image_link,
        price_cents, sale_price_cents, currency, availability, brand, gtin, sale_window,
        unit_measure, unit_base_measure, multipack, item_group_id, details, source, import_id,
        removed_at)
    SELECT id, title, description, link, image_link, price_cents, sale_price_cents, currency,
        availability, brand, gtin, sale_window, unit_measure, unit_base_measure, multipack,
        item_group_id, details::jsonb, $18, $19, NULL
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
        $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
        $14::text[], $15::bigint[], $16::text[], $17::text[])
        AS item (id, title, description, link, image_link, price_cents, sale_price_cents,
            currency, availability, brand, gtin, sale_window, unit_measure, unit_base_measure,
            multipack, item_group_id, details)
    ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title,
        description = EXCLUDED.description, link = EXCLUDED.link,
        image_link = EXCLUDED.image_link, price_cents = EXCLUDED.price_cents,
        sale_price_cents = EXCLUDED.sale_price_cents, currency = EXCLUDED.currency,
        availability = EXCLUDED.availability, brand = EXCLUDED.brand,
        gtin = EXCLUDED.gtin, sale_window = EXCLUDED.sale_window,
        unit_measure = EXCLUDED.unit_measure,
        unit_base_measure = EXCLUDED.unit_base_measure, multipack = EXCLUDED.multipack,
        item_group_id = EXCLUDED.item_group_id, details = EXCLUDED.details,
        source = EXCLUDED.source, import_id = EXCLUDED.import_id, removed_at = NULL,
        updated_at = now()";

/// Reads a product row of [`PRODUCT_SELECT`] (see [`StoredProduct::into_product`]).
fn product_from_row(row: &Row) -> Result<Product, StorageError> {
    Ok(StoredProduct {
        id: row.try_get(0)?,
        title: row.try_get(1)?,
        description: row.try_get(2)?,
        link: row.try_get(3)?,
        image_link: row.try_get(4)?,
        price_cents: row.try_get(5)?,
        sale_price_cents: row.try_get(6)?,
        currency: row.try_get(7)?,
        availability: row.try_get(8)?,
        brand: row.try_get(9)?,
        gtin: row.try_get(10)?,
        sale_window: row.try_get(11)?,
        unit_measure: row.try_get(12)?,
        unit_base_measure: row.try_get(13)?,
        multipack: row.try_get(14)?,
        item_group_id: row.try_get(15)?,
        details: row.try_get(16)?,
        image_sha256: row.try_get(17)?,
        image_size: row.try_get(18)?,
        image_fetched_from: row.try_get(19)?,
    }
    .into_product())
}

/// Products to upsert, column by column, for one `unnest` of [`PRODUCT_UPSERT`].
#[derive(Default)]
struct ProductColumns {
    id: Vec<String>,
    title: Vec<String>,
    description: Vec<String>,
    link: Vec<String>,
    image_link: Vec<String>,
    price_cents: Vec<i64>,
    sale_price_cents: Vec<Option<i64>>,
    currency: Vec<String>,
    availability: Vec<String>,
    brand: Vec<String>,
    gtin: Vec<String>,
    sale_window: Vec<Option<String>>,
    unit_measure: Vec<Option<String>>,
    unit_base_measure: Vec<Option<String>>,
    multipack: Vec<Option<i64>>,
    item_group_id: Vec<String>,
    details: Vec<String>,
}

impl ProductColumns {
    fn push(&mut self, product: Product) {
        let details = serde_json::to_string(&product.details).unwrap_or_else(|_| "{}".to_owned());
        self.sale_window
            .push(product.sale_window.map(|window| window.to_string()));
        self.unit_measure.push(
            product
                .unit_pricing
                .as_ref()
                .map(|pricing| pricing.measure.to_string()),
        );
        self.unit_base_measure.push(
            product
                .unit_pricing
                .as_ref()
                .map(|pricing| pricing.base.to_string()),
        );
        self.multipack.push(product.multipack.map(i64::from));
        self.details.push(details);
        self.id.push(product.id);
        self.title.push(product.title);
        self.description.push(product.description);
        self.link.push(product.link);
        self.image_link.push(product.image_link);
        self.price_cents.push(product.price_cents);
        self.sale_price_cents.push(product.sale_price_cents);
        self.currency.push(product.currency);
        self.availability.push(product.availability);
        self.brand.push(product.brand);
        self.gtin.push(product.gtin);
        self.item_group_id.push(product.item_group_id);
    }

    fn is_empty(&self) -> bool {
        self.id.is_empty()
    }
}

/// An import under way: its number, and what it found so far.
struct Import<'a> {
    origin: &'a FeedSource,
    import_id: i64,
    outcome: FeedOutcome,
    /// Ids of skipped items: a replacing import keeps what was stored for them.
    skipped_ids: BTreeSet<String>,
    currencies: BTreeMap<String, usize>,
}

impl Import<'_> {
    /// Applies a batch of items. Products are read and written a chunk at a time, a chunk ending
    /// before an id it already holds, so that an id listed twice compares with its first listing
    /// as written.
    async fn apply(
        &mut self,
        transaction: &deadpool_postgres::Transaction<'_>,
        batch: Vec<FeedItem>,
    ) -> Result<(), StorageError> {
        let mut chunk = Vec::with_capacity(batch.len());
        let mut ids = HashSet::new();
        for item in batch {
            match item {
                FeedItem::Product(product) => {
                    if !ids.insert(product.id.clone()) {
                        self.write(transaction, std::mem::take(&mut chunk)).await?;
                        ids = HashSet::from([product.id.clone()]);
                    }
                    chunk.push(product);
                }
                FeedItem::Skipped { line, reason, id } => {
                    self.skipped_ids.extend(id);
                    self.outcome.skip(line, reason);
                }
            }
        }
        self.write(transaction, chunk).await
    }

    /// Compares products of distinct ids with what is stored, then writes those that changed and
    /// marks the others as listed by this import.
    async fn write(
        &mut self,
        transaction: &deadpool_postgres::Transaction<'_>,
        chunk: Vec<Product>,
    ) -> Result<(), StorageError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = chunk.iter().map(|product| product.id.as_str()).collect();
        let select = transaction
            .prepare_cached(&format!(
                "{PRODUCT_SELECT} WHERE id = ANY($1) AND removed_at IS NULL"
            ))
            .await?;
        let mut stored = HashMap::new();
        for row in transaction.query(&select, &[&ids]).await? {
            let product = product_from_row(&row)?;
            stored.insert(product.id.clone(), product);
        }
        let mut changed = ProductColumns::default();
        let mut untouched = Vec::new();
        for mut product in chunk {
            self.outcome.applied += 1;
            *self.currencies.entry(product.currency.clone()).or_default() += 1;
            let old = stored.remove(&product.id);
            keep_fetched_image(old.as_ref(), &mut product);
            if count_product(&mut self.outcome.diff, old.as_ref(), &product) {
                changed.push(product);
            } else {
                untouched.push(product.id);
            }
        }
        if !untouched.is_empty() {
            let touch = transaction
                .prepare_cached(
                    "UPDATE products SET import_id = $2, source = $3 WHERE id = ANY($1)",
                )
                .await?;
            transaction
                .execute(&touch, &[&untouched, &self.import_id, &self.origin.name])
                .await?;
        }
        if !changed.is_empty() {
            let upsert = transaction.prepare_cached(PRODUCT_UPSERT).await?;
            let columns = &changed;
            let params: [&(dyn ToSql + Sync); 19] = [
                &columns.id,
                &columns.title,
                &columns.description,
                &columns.link,
                &columns.image_link,
                &columns.price_cents,
                &columns.sale_price_cents,
                &columns.currency,
                &columns.availability,
                &columns.brand,
                &columns.gtin,
                &columns.sale_window,
                &columns.unit_measure,
                &columns.unit_base_measure,
                &columns.multipack,
                &columns.item_group_id,
                &columns.details,
                &self.origin.name,
                &self.import_id,
            ];
            transaction.execute(&upsert, &params).await?;
        }
        Ok(())
    }
}

/// Applies the items of a feed as they come, in one transaction that commits only when the
/// reader says the feed ended well; the inner error says why the feed was refused whole.
async fn import_products(
    client: &mut deadpool_postgres::Object,
    mut items: FeedItems,
    origin: &FeedSource,
) -> Result<Result<FeedOutcome, String>, StorageError> {
    let transaction = client.transaction().await?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&PRODUCTS_LOCK])
        .await?;
    let import_id: i64 = transaction
        .query_one("SELECT COALESCE(MAX(import_id), 0) + 1 FROM products", &[])
        .await?
        .try_get(0)?;
    let mut import = Import {
        origin,
        import_id,
        outcome: FeedOutcome::default(),
        skipped_ids: BTreeSet::new(),
        currencies: BTreeMap::new(),
    };
    // The reader checks items on a thread of its own while this task writes; returning early
    // (an error, or a refused feed) drops `items`, which lets the reader go.
    loop {
        match items.next().await {
            FeedBatch::Items(batch) => import.apply(&transaction, batch).await?,
            FeedBatch::End => break,
            // Dropping the transaction rolls back what was written of the feed.
            FeedBatch::Refused(reason) => return Ok(Err(reason)),
        }
    }
    let Import {
        mut outcome,
        skipped_ids,
        currencies,
        ..
    } = import;
    if origin.replace {
        let skipped: Vec<String> = skipped_ids.into_iter().collect();
        let mut removed = transaction
            .query(
                "UPDATE products SET removed_at = now(), updated_at = now()
                 WHERE source = $1 AND import_id <> $2 AND removed_at IS NULL
                    AND NOT (id = ANY($3))
                 RETURNING id",
                &[&origin.name, &import_id, &skipped],
            )
            .await?
            .iter()
            .map(|row| row.try_get::<_, String>(0))
            .collect::<Result<Vec<_>, _>>()?;
        removed.sort_unstable();
        for id in removed {
            outcome.diff.removed.push(&id);
        }
    }
    let stores = transaction
        .query("SELECT code, currency FROM stores ORDER BY code", &[])
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<Vec<(String, String)>, tokio_postgres::Error>>()?;
    outcome.refused_stores = refused_stores(&currencies, stores);
    transaction.commit().await?;
    Ok(Ok(outcome))
}

fn store_from_row(row: &Row) -> Result<StoreRecord, StorageError> {
    let tags: String = row.try_get(3)?;
    Ok(StoreRecord {
        code: row.try_get(0)?,
        name: row.try_get(1)?,
        region: row.try_get(2)?,
        tags: super::from_json_text(&tags, "tags")?,
        timezone: row.try_get(4)?,
        locale: row.try_get(5)?,
        currency: row.try_get(6)?,
    })
}

const STORE_SELECT: &str =
    "SELECT code, name, region, tags::text, timezone, locale, currency FROM stores";

/// An inventory row as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LocalRow {
    quantity: i64,
    price_cents: Option<i64>,
    sale_price_cents: Option<i64>,
    currency: Option<String>,
    sale_window: Option<String>,
    availability: String,
    quantity_given: bool,
}

/// The columns [`local_row`] reads, from the first on.
const LOCAL_COLUMNS: &str = "quantity, price_cents, sale_price_cents, currency, sale_window,
    availability, quantity_given";

/// Reads [`LOCAL_COLUMNS`] starting at column `first`.
fn local_row(row: &Row, first: usize) -> Result<LocalRow, StorageError> {
    Ok(LocalRow {
        quantity: row.try_get(first)?,
        price_cents: row.try_get(first + 1)?,
        sale_price_cents: row.try_get(first + 2)?,
        currency: row.try_get(first + 3)?,
        sale_window: row.try_get(first + 4)?,
        availability: row.try_get(first + 5)?,
        quantity_given: row.try_get(first + 6)?,
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

/// Inventory rows to upsert, column by column, for one `unnest`.
#[derive(Default)]
struct InventoryColumns {
    store: Vec<String>,
    product: Vec<String>,
    quantity: Vec<i64>,
    price_cents: Vec<Option<i64>>,
    sale_price_cents: Vec<Option<i64>>,
    currency: Vec<Option<String>>,
    sale_window: Vec<Option<String>>,
    availability: Vec<String>,
    pickup_method: Vec<String>,
    pickup_sla: Vec<String>,
    quantity_given: Vec<bool>,
}

/// How an inventory row changes what a store shows, for the diff.
fn count_inventory(
    diff: &mut FeedDiff,
    key: &str,
    feed_product: &Product,
    before: Option<&LocalRow>,
    new: &LocalRow,
) {
    let stock = |local: &LocalRow| {
        let mut product = LocalProduct {
            product: feed_product.clone(),
            ..LocalProduct::default()
        };
        local.apply_to(&mut product);
        (
            product.stock() > 0,
            product.product.price_cents,
            product.product.sale_price_cents,
            product.product.sale_window,
        )
    };
    match before {
        None => diff.added.push(key),
        Some(before) if before == new => diff.unchanged += 1,
        Some(before) => {
            let (was_in, was_price, was_sale, was_window) = stock(before);
            let (is_in, price, sale, window) = stock(new);
            if was_in && !is_in {
                diff.out_of_stock.push(key);
            } else if !was_in && is_in {
                diff.back_in_stock.push(key);
            } else if (was_price, was_sale, was_window) != (price, sale, window) {
                diff.price_changed.push(key);
            } else {
                diff.other_changes.push(key);
            }
        }
    }
}

#[async_trait::async_trait]
impl CatalogStore for PostgresStore {
    async fn upsert_stores(&self, rows: Vec<(u64, StoreRecord)>) -> Result<(), StorageError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut client = self.client().await?;
        let transaction = client.transaction().await?;
        let upsert = transaction
            .prepare_cached(
                "INSERT INTO stores (code, name, region, tags, timezone, locale, currency)
                 VALUES ($1, $2, $3, $4::text::jsonb, $5, $6, $7)
                 ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,
                    region = EXCLUDED.region, tags = EXCLUDED.tags,
                    timezone = EXCLUDED.timezone, locale = EXCLUDED.locale,
                    currency = EXCLUDED.currency, updated_at = now()",
            )
            .await?;
        for (_, store) in rows {
            let tags = super::json_text(&store.tags)?;
            transaction
                .execute(
                    &upsert,
                    &[
                        &store.code,
                        &store.name,
                        &store.region,
                        &tags,
                        &store.timezone,
                        &store.locale,
                        &store.currency,
                    ],
                )
                .await?;
        }
        transaction.commit().await?;
        self.changes.announce(Change::Content);
        Ok(())
    }

    /// Replaces the segment mix of every store named in `rows`; rows naming an unknown store are
    /// returned as skipped, with the number applied.
    async fn replace_segments(
        &self,
        rows: Vec<(u64, (String, String, f64))>,
    ) -> Result<(usize, Vec<SkippedRow>), StorageError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&SEGMENTS_LOCK])
            .await?;
        let codes: Vec<&str> = rows
            .iter()
            .map(|(_, (store, _, _))| store.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let known = transaction
            .query("SELECT code FROM stores WHERE code = ANY($1)", &[&codes])
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<HashSet<String>, _>>()?;
        let clear = transaction
            .prepare_cached("DELETE FROM store_segments WHERE store = $1")
            .await?;
        let insert = transaction
            .prepare_cached(
                "INSERT INTO store_segments (store, segment, share) VALUES ($1, $2, $3)
                 ON CONFLICT (store, segment) DO UPDATE SET share = EXCLUDED.share",
            )
            .await?;
        let mut skipped = Vec::new();
        let mut applied = 0;
        let mut cleared = BTreeSet::new();
        for (line, (store, segment, share)) in &rows {
            if !known.contains(store) {
                skipped.push(SkippedRow {
                    line: *line,
                    reason: unknown_store(store),
                });
                continue;
            }
            if cleared.insert(store.clone()) {
                transaction.execute(&clear, &[store]).await?;
            }
            transaction
                .execute(&insert, &[store, segment, share])
                .await?;
            applied += 1;
        }
        transaction.commit().await?;
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
        let mut client = self.client().await?;
        let outcome = import_products(&mut client, items, &origin).await?;
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
        let mut client = self.client().await?;
        let transaction = client.transaction().await?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&INVENTORY_LOCK])
            .await?;
        let codes: Vec<&str> = rows
            .iter()
            .map(|(_, row)| row.store.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let store_currencies = transaction
            .query(
                "SELECT code, currency FROM stores WHERE code = ANY($1)",
                &[&codes],
            )
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<HashMap<String, String>, tokio_postgres::Error>>()?;
        let ids: Vec<&str> = rows
            .iter()
            .map(|(_, row)| row.product.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut feed_products = HashMap::new();
        for row in transaction
            .query(
                &format!("{PRODUCT_SELECT} WHERE id = ANY($1) AND removed_at IS NULL"),
                &[&ids],
            )
            .await?
        {
            let product = product_from_row(&row)?;
            feed_products.insert(product.id.clone(), product);
        }
        let (pair_stores, pair_products): (Vec<&str>, Vec<&str>) = rows
            .iter()
            .map(|(_, row)| (row.store.as_str(), row.product.as_str()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .unzip();
        // What each store and product holds now, as the rows before it in this upload left it.
        let mut current: HashMap<(String, String), LocalRow> = HashMap::new();
        for row in transaction
            .query(
                &format!(
                    "SELECT store, product, {LOCAL_COLUMNS} FROM inventory
                     WHERE (store, product) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
                ),
                &[&pair_stores, &pair_products],
            )
            .await?
        {
            current.insert((row.try_get(0)?, row.try_get(1)?), local_row(&row, 2)?);
        }

        let mut skipped = Vec::new();
        let mut applied = 0;
        let mut diff = FeedDiff::default();
        // The last row of the upload for each store and product, which is what is written.
        let mut written: BTreeMap<(String, String), (LocalRow, String, String)> = BTreeMap::new();
        for (line, row) in rows {
            let Some(currency_of_store) = store_currencies.get(&row.store) else {
                skipped.push(SkippedRow {
                    line,
                    reason: unknown_store(&row.store),
                });
                continue;
            };
            let Some(feed_product) = feed_products.get(&row.product) else {
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
                && currency != currency_of_store
            {
                skipped.push(SkippedRow {
                    line,
                    reason: format!(
                        "the price is in {currency}, but store `{}` sells in {currency_of_store}",
                        row.store
                    ),
                });
                continue;
            }
            let new = LocalRow {
                quantity: row.quantity.unwrap_or(0),
                price_cents: row.price.as_ref().map(|price| price.cents),
                sale_price_cents: row.sale_price.as_ref().map(|price| price.cents),
                currency,
                sale_window: row.sale_window.map(|window| window.to_string()),
                availability: row.availability.clone(),
                quantity_given: row.quantity.is_some(),
            };
            let key = format!("{}/{}", row.store, row.product);
            let pair = (row.store, row.product);
            count_inventory(&mut diff, &key, feed_product, current.get(&pair), &new);
            current.insert(pair.clone(), new.clone());
            written.insert(pair, (new, row.pickup_method, row.pickup_sla));
            applied += 1;
        }
        if !written.is_empty() {
            let mut columns = InventoryColumns::default();
            for ((store, product), (row, pickup_method, pickup_sla)) in written {
                columns.store.push(store);
                columns.product.push(product);
                columns.quantity.push(row.quantity);
                columns.price_cents.push(row.price_cents);
                columns.sale_price_cents.push(row.sale_price_cents);
                columns.currency.push(row.currency);
                columns.sale_window.push(row.sale_window);
                columns.availability.push(row.availability);
                columns.pickup_method.push(pickup_method);
                columns.pickup_sla.push(pickup_sla);
                columns.quantity_given.push(row.quantity_given);
            }
            transaction
                .execute(
                    "INSERT INTO inventory (store, product, quantity, price_cents,
                        sale_price_cents, currency, sale_window, availability, pickup_method,
                        pickup_sla, quantity_given)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[],
                        $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                        $11::boolean[])
                     ON CONFLICT (store, product) DO UPDATE SET quantity = EXCLUDED.quantity,
                        price_cents = EXCLUDED.price_cents,
                        sale_price_cents = EXCLUDED.sale_price_cents,
                        currency = EXCLUDED.currency, sale_window = EXCLUDED.sale_window,
                        availability = EXCLUDED.availability,
                        pickup_method = EXCLUDED.pickup_method,
                        pickup_sla = EXCLUDED.pickup_sla,
                        quantity_given = EXCLUDED.quantity_given,
                        updated_at = now()",
                    &[
                        &columns.store,
                        &columns.product,
                        &columns.quantity,
                        &columns.price_cents,
                        &columns.sale_price_cents,
                        &columns.currency,
                        &columns.sale_window,
                        &columns.availability,
                        &columns.pickup_method,
                        &columns.pickup_sla,
                        &columns.quantity_given,
                    ],
                )
                .await?;
        }
        transaction.commit().await?;
        if diff.changes_anything() {
            self.changes.announce(Change::Content);
        }
        Ok((applied, skipped, diff))
    }

    async fn stores(&self) -> Result<Vec<StoreRecord>, StorageError> {
        let client = self.client().await?;
        client
            .query(&format!("{STORE_SELECT} ORDER BY code"), &[])
            .await?
            .iter()
            .map(store_from_row)
            .collect()
    }

    async fn store_by_code(&self, code: String) -> Result<Option<StoreRecord>, StorageError> {
        let client = self.client().await?;
        client
            .query_opt(&format!("{STORE_SELECT} WHERE code = $1"), &[&code])
            .await?
            .as_ref()
            .map(store_from_row)
            .transpose()
    }

    /// A store's segment mix: segment -> share of its customers.
    async fn segments_of(&self, store: String) -> Result<BTreeMap<String, f64>, StorageError> {
        let client = self.client().await?;
        Ok(client
            .query(
                "SELECT segment, share FROM store_segments WHERE store = $1",
                &[&store],
            )
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, tokio_postgres::Error>>()?)
    }

    /// Every segment the CRM import named, in any store, sorted.
    async fn known_segments(&self) -> Result<Vec<String>, StorageError> {
        let client = self.client().await?;
        Ok(client
            .query(
                "SELECT DISTINCT segment FROM store_segments ORDER BY segment",
                &[],
            )
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    /// The products with these ids, at `store` when given (local price and stock applied).
    /// Products a replacing import removed are not found.
    async fn local_products(
        &self,
        ids: Vec<String>,
        store: Option<String>,
    ) -> Result<BTreeMap<String, LocalProduct>, StorageError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = self.client().await?;
        let mut found = BTreeMap::new();
        for row in client
            .query(
                &format!("{PRODUCT_SELECT} WHERE id = ANY($1) AND removed_at IS NULL"),
                &[&ids],
            )
            .await?
        {
            let product = product_from_row(&row)?;
            found.insert(
                product.id.clone(),
                LocalProduct {
                    product,
                    ..LocalProduct::default()
                },
            );
        }
        if let Some(store) = &store
            && !found.is_empty()
        {
            let products: Vec<&str> = found.keys().map(String::as_str).collect();
            for row in client
                .query(
                    &format!(
                        "SELECT product, {LOCAL_COLUMNS} FROM inventory
                         WHERE store = $1 AND product = ANY($2)"
                    ),
                    &[store, &products],
                )
                .await?
            {
                let product: String = row.try_get(0)?;
                let local = local_row(&row, 1)?;
                if let Some(local_product) = found.get_mut(&product) {
                    local.apply_to(local_product);
                }
            }
        }
        Ok(found)
    }

    /// Every screen, by name.
    async fn screens(&self) -> Result<Vec<ScreenRecord>, StorageError> {
        let client = self.client().await?;
        client
            .query(&format!("{SCREEN_SELECT} ORDER BY name"), &[])
            .await?
            .iter()
            .map(screen_from_row)
            .collect()
    }

    async fn screen_record(&self, name: String) -> Result<Option<ScreenRecord>, StorageError> {
        let client = self.client().await?;
        client
            .query_opt(&format!("{SCREEN_SELECT} WHERE name = $1"), &[&name])
            .await?
            .as_ref()
            .map(screen_from_row)
            .transpose()
    }

    /// Sets where a screen is; used right after registering it.
    async fn place_screen(
        &self,
        name: String,
        store: Option<String>,
        tags: Vec<String>,
    ) -> Result<(), StorageError> {
        let tags = super::json_text(&tags)?;
        let client = self.client().await?;
        let placed = client
            .execute(
                "UPDATE screens SET store = $2, tags = $3::text::jsonb WHERE name = $1",
                &[&name, &store, &tags],
            )
            .await?
            > 0;
        if placed {
            self.changes.announce(Change::Screen(name));
        }
        Ok(())
    }

    /// A screen by its name, as a device token would resolve to it.
    async fn screen_by_name(&self, name: String) -> Result<Option<Screen>, StorageError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT name, playlist, timezone FROM screens WHERE name = $1",
                &[&name],
            )
            .await?
            .map(|row| {
                Ok(Screen {
                    name: row.try_get(0)?,
                    playlist: row.try_get(1)?,
                    timezone: row.try_get(2)?,
                })
            })
            .transpose()
    }

    /// The hex sha256 of a screen's device token: the key of its QR play tokens.
    async fn token_sha256_of(&self, screen: String) -> Result<Option<String>, StorageError> {
        let client = self.client().await?;
        Ok(client
            .query_opt(
                "SELECT token_sha256 FROM screens WHERE name = $1",
                &[&screen],
            )
            .await?
            .map(|row| row.try_get(0))
            .transpose()?)
    }
}

const SCREEN_SELECT: &str =
    "SELECT name, playlist, timezone, store, tags::text, created_at FROM screens";

fn screen_from_row(row: &Row) -> Result<ScreenRecord, StorageError> {
    let tags: String = row.try_get(4)?;
    Ok(ScreenRecord {
        name: row.try_get(0)?,
        playlist: row.try_get(1)?,
        timezone: row.try_get(2)?,
        store: row.try_get(3)?,
        tags: super::from_json_text(&tags, "tags")?,
        created_at: super::stored_time(row.try_get(5)?),
    })
}

fn unknown_store(code: &str) -> String {
    format!("store code `{code}` is not known; import it with `vitrine stores import` first")
}
