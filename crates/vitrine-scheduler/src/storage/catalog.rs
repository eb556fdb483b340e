//! The catalog's storage: stores and their segment mix, the product feed, local inventory, and
//! where each screen is. The records here are what the import handlers write and the manifest
//! builder reads, whatever the database.
//!
//! A product feed is written as it is read: the feed reader sends checked items in batches
//! ([`FeedItems`]) and the storage applies each batch as it comes, in one transaction that commits
//! only once the reader says the feed ended well, so memory stays flat however large the feed.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::StorageError;
use crate::feed::import::{FeedDiff, FeedOutcome, FeedSource};
use crate::feed::{ProductDetails, SaleWindow, UnitPricing};
// The screen a device token resolves to, as `screen_by_name` returns it.
use crate::storage::screens::Screen;
pub use vitrine_wire::imports::SkippedRow;

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

/// A product as both databases store it, column for column (`image_*` are the `products`
/// columns of the fetched image), before the checks of reading it back.
pub(crate) struct StoredProduct {
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
    pub sale_window: Option<String>,
    pub unit_measure: Option<String>,
    pub unit_base_measure: Option<String>,
    pub multipack: Option<i64>,
    pub item_group_id: String,
    /// The feed's other attributes, as JSON text.
    pub details: String,
    pub image_sha256: Option<String>,
    pub image_size: Option<i64>,
    pub image_fetched_from: Option<String>,
}

impl StoredProduct {
    /// The product. A stored value that no longer reads (it was checked when written) is dropped
    /// rather than failing every manifest that names the product; the image counts only while the
    /// product's `image_link` is still the one it was fetched from.
    pub(crate) fn into_product(self) -> Product {
        let image_tried = self.image_fetched_from.as_deref() == Some(self.image_link.as_str());
        let image = match (self.image_sha256, self.image_size) {
            (Some(sha256), Some(size)) if image_tried => {
                sha256.parse().ok().map(|sha256| vitrine_core::MediaEntry {
                    sha256,
                    size: u64::try_from(size).unwrap_or(0),
                })
            }
            _ => None,
        };
        let base_measure = self.unit_base_measure.unwrap_or_default();
        Product {
            id: self.id,
            title: self.title,
            description: self.description,
            link: self.link,
            image_link: self.image_link,
            price_cents: self.price_cents,
            sale_price_cents: self.sale_price_cents,
            currency: self.currency,
            availability: self.availability,
            brand: self.brand,
            gtin: self.gtin,
            sale_window: self.sale_window.and_then(|text| text.parse().ok()),
            unit_pricing: self
                .unit_measure
                .and_then(|measure| UnitPricing::new(&measure, &base_measure).ok()),
            multipack: self.multipack.and_then(|count| u32::try_from(count).ok()),
            item_group_id: self.item_group_id,
            details: serde_json::from_str(&self.details).unwrap_or_default(),
            image,
            image_tried,
        }
    }
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

/// A price of a local-inventory row: Google's carry their currency (`4.99 EUR`); Criteo's are a
/// bare amount (`4.99`) in the store's currency, filled in when the store is known.
#[derive(Debug)]
pub struct LocalPrice {
    pub cents: i64,
    pub currency: Option<String>,
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

/// One item of a feed being imported, as the feed reader checked it: a product, or an item
/// skipped (with its id when it has one, so a replacing import keeps what was stored for it).
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every item is a product; boxing it would add an allocation per item"
)]
#[derive(Debug)]
pub enum FeedItem {
    Product(Product),
    Skipped {
        line: u64,
        reason: String,
        id: Option<String>,
    },
}

/// What the feed reader hands the storage: a batch of items, or how reading ended.
enum FeedMessage {
    Items(Vec<FeedItem>),
    End(Result<(), String>),
}

/// The next thing [`FeedItems`] holds.
#[derive(Debug)]
pub enum FeedBatch {
    /// Items to apply, in the feed's order.
    Items(Vec<FeedItem>),
    /// The feed was read to its end: the import may commit.
    End,
    /// The feed is refused whole (not well formed, or its reader failed): nothing of it may be
    /// committed. The text says why.
    Refused(String),
}

/// The items of a feed being read, in batches, as the reader checks them. A bounded channel: the
/// reader waits while the storage is a few batches behind, so memory stays flat.
#[derive(Debug)]
pub struct FeedItems {
    receiver: mpsc::Receiver<FeedMessage>,
}

/// The reader's end of [`FeedItems`].
#[derive(Debug)]
pub struct FeedItemSender {
    sender: mpsc::Sender<FeedMessage>,
}

/// The storage stopped taking items (it failed, or was dropped): the reader should stop.
#[derive(Debug)]
pub struct ImportStopped;

impl FeedItems {
    /// A channel of at most `in_flight` batches between a feed reader and the storage.
    pub fn channel(in_flight: usize) -> (FeedItemSender, FeedItems) {
        let (sender, receiver) = mpsc::channel(in_flight.max(1));
        (FeedItemSender { sender }, FeedItems { receiver })
    }

    /// The next batch, waiting for the reader; for a storage that writes on a blocking thread.
    /// Must not be called from async code. Once it returned [`FeedBatch::End`] or
    /// [`FeedBatch::Refused`], there is nothing more.
    pub fn next_blocking(&mut self) -> FeedBatch {
        Self::batch(self.receiver.blocking_recv())
    }

    /// The next batch, waiting for the reader; for a storage that writes from async code.
    pub async fn next(&mut self) -> FeedBatch {
        Self::batch(self.receiver.recv().await)
    }

    fn batch(message: Option<FeedMessage>) -> FeedBatch {
        match message {
            Some(FeedMessage::Items(items)) => FeedBatch::Items(items),
            Some(FeedMessage::End(Ok(()))) => FeedBatch::End,
            Some(FeedMessage::End(Err(reason))) => FeedBatch::Refused(reason),
            // The reader went without saying how reading ended: it panicked.
            None => FeedBatch::Refused("the feed reader failed".into()),
        }
    }
}

impl FeedItemSender {
    /// Hands the storage a batch, waiting while it is behind. Must not be called from async code.
    pub fn send_blocking(&self, items: Vec<FeedItem>) -> Result<(), ImportStopped> {
        self.sender
            .blocking_send(FeedMessage::Items(items))
            .map_err(|_| ImportStopped)
    }

    /// Says how reading ended: `Ok` lets the import commit, `Err` refuses the feed whole.
    pub fn finish_blocking(self, result: Result<(), String>) -> Result<(), ImportStopped> {
        self.sender
            .blocking_send(FeedMessage::End(result))
            .map_err(|_| ImportStopped)
    }
}

/// Stores, segments, products, local inventory and screen placement.
#[async_trait::async_trait]
pub trait CatalogStore: Send + Sync {
    /// Upserts each store by its code, all in one transaction.
    async fn upsert_stores(&self, rows: Vec<(u64, StoreRecord)>) -> Result<(), StorageError>;

    /// Replaces the segment mix of every store named in `rows` (line, (store, segment, share));
    /// rows naming an unknown store are returned as skipped, with the number applied.
    async fn replace_segments(
        &self,
        rows: Vec<(u64, (String, String, f64))>,
    ) -> Result<(usize, Vec<SkippedRow>), StorageError>;

    /// Applies the product feed whose checked items come through `items`, upserting by id, in
    /// one transaction that commits only when the reader ends well; a replacing `origin` then
    /// removes its products the feed neither listed nor skipped. The outer error is the
    /// database's, the inner one says why the feed was refused whole (nothing was applied).
    async fn import_products(
        &self,
        items: FeedItems,
        origin: FeedSource,
    ) -> Result<Result<FeedOutcome, String>, StorageError>;

    /// Upserts local inventory; rows naming an unknown store or product, or priced in another
    /// currency than the store's, are returned as skipped. The diff is per store and product
    /// (`paris-11/3017620422003`).
    async fn upsert_inventory(
        &self,
        rows: Vec<(u64, InventoryRow)>,
    ) -> Result<(usize, Vec<SkippedRow>, FeedDiff), StorageError>;

    /// Every store, by code.
    async fn stores(&self) -> Result<Vec<StoreRecord>, StorageError>;

    async fn store_by_code(&self, code: String) -> Result<Option<StoreRecord>, StorageError>;

    /// A store's segment mix: segment -> share of its customers.
    async fn segments_of(&self, store: String) -> Result<BTreeMap<String, f64>, StorageError>;

    /// Every segment the CRM import named, in any store, sorted.
    async fn known_segments(&self) -> Result<Vec<String>, StorageError>;

    /// The products with these ids, at `store` when given (local price and stock applied).
    /// Products a replacing import removed are not found.
    async fn local_products(
        &self,
        ids: Vec<String>,
        store: Option<String>,
    ) -> Result<BTreeMap<String, LocalProduct>, StorageError>;

    /// Every screen, by name.
    async fn screens(&self) -> Result<Vec<ScreenRecord>, StorageError>;

    async fn screen_record(&self, name: String) -> Result<Option<ScreenRecord>, StorageError>;

    /// Sets where a screen is; used right after registering it.
    async fn place_screen(
        &self,
        name: String,
        store: Option<String>,
        tags: Vec<String>,
    ) -> Result<(), StorageError>;

    /// A screen by its name, as a device token would resolve to it.
    async fn screen_by_name(&self, name: String) -> Result<Option<Screen>, StorageError>;

    /// The hex sha256 of a screen's device token: the key of its QR play tokens.
    async fn token_sha256_of(&self, screen: String) -> Result<Option<String>, StorageError>;
}
