//! Product feeds as merchants publish them: Google Merchant Center's product data specification
//! read in full ([`parse`]), the price rules that depend on time and quantity ([`pricing`]), the
//! import that applies a feed and says what it changed ([`import`]), feeds fetched from a URL on a
//! schedule ([`fetch`]) or uploaded as a raw body however large ([`upload`]), and product images
//! fetched into the media store ([`images`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vitrine_core::offer::{Money, parse_price};

use crate::catalog::Product;

pub mod fetch;
pub mod images;
pub mod import;
pub mod parse;
pub mod pricing;
pub mod upload;

pub use parse::{FeedFormat, Group, RawItem, ReadItem};
pub use pricing::{SaleWindow, UnitPricing};

/// What the feed says about a product beyond what cards and offers use: kept whole, so nothing a
/// merchant sent is lost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductDetails {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_image_links: Vec<String>,
    /// Merchant Center attributes Vitrine does not model (`condition`, `color`, `size`,
    /// `product_type`, `custom_label_0`, ...), by name, each with its values in order.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Nested structures: `shipping`, `tax`, `installment`, `loyalty_program`, `product_detail`...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    /// Elements outside the Merchant Center namespace, by their name as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_elements: Vec<(String, String)>,
}

impl ProductDetails {
    /// What sets this variant apart within its `item_group_id`: colour, size and so on.
    pub fn variant(&self) -> BTreeMap<&str, &str> {
        parse::VARIANT_ATTRIBUTES
            .iter()
            .filter_map(|name| {
                let value = self.attributes.get(*name)?.first()?;
                Some((*name, value.as_str()))
            })
            .collect()
    }
}

/// The attributes [`product_from_item`] reads into [`Product`]'s own fields.
const MODELLED: &[&str] = &[
    "id",
    "title",
    "description",
    "summary",
    "link",
    "image_link",
    "additional_image_link",
    "price",
    "sale_price",
    "sale_price_effective_date",
    "availability",
    "brand",
    "gtin",
    "item_group_id",
    "unit_pricing_measure",
    "unit_pricing_base_measure",
    "multipack",
];

/// The longest product id Merchant Center takes.
const MAX_ID_LENGTH: usize = 50;

fn web_address(name: &str, text: &str) -> Result<(), String> {
    if text.is_empty() || text.starts_with("https://") || text.starts_with("http://") {
        Ok(())
    } else {
        Err(format!("{name} `{text}` is not a web address"))
    }
}

/// Reads `availability` as Merchant Center spells it (`in stock`, `in_stock`, `preorder`).
pub fn read_availability(text: &str) -> Result<&'static str, String> {
    match text
        .trim()
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
        .as_str()
    {
        "" | "in_stock" => Ok("in_stock"),
        "out_of_stock" => Ok("out_of_stock"),
        "preorder" | "pre_order" => Ok("preorder"),
        "backorder" | "back_order" => Ok("backorder"),
        "limited_availability" => Ok("in_stock"),
        other => Err(format!(
            "availability `{other}` is not one of in_stock, out_of_stock, preorder, backorder"
        )),
    }
}

/// An optional price that, when present, must be in `currency`: each price names its own
/// currency, and a sale cannot be in another one than the price it lowers.
pub fn optional_price(text: &str, currency: &str) -> Result<Option<Money>, String> {
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

/// Checks one item of a feed and makes it a product, or says why it cannot be one.
pub fn product_from_item(item: &RawItem) -> Result<Product, String> {
    let id = item.first("id");
    if id.is_empty() {
        return Err("`id` is empty".into());
    }
    if id.chars().count() > MAX_ID_LENGTH {
        return Err(format!(
            "id `{id}` is longer than {MAX_ID_LENGTH} characters"
        ));
    }
    let in_product = |message: String| format!("product `{id}`: {message}");
    let title = item.first("title");
    if title.is_empty() {
        return Err(in_product("`title` is empty".into()));
    }
    let price_text = item.first("price");
    if price_text.is_empty() {
        return Err(in_product("`price` is empty".into()));
    }
    let price = parse_price(price_text).map_err(|error| in_product(error.to_string()))?;
    let sale_price = optional_price(item.first("sale_price"), &price.currency)
        .map_err(|error| in_product(format!("sale_price: {error}")))?;
    let sale_window = match item.first("sale_price_effective_date") {
        "" => None,
        text => Some(
            text.parse::<SaleWindow>()
                .map_err(|error| in_product(format!("sale_price_effective_date: {error}")))?,
        ),
    };
    let availability = read_availability(item.first("availability")).map_err(in_product)?;
    let link = item.first("link");
    web_address("link", link).map_err(in_product)?;
    let image_link = item.first("image_link");
    web_address("image_link", image_link).map_err(in_product)?;
    let additional_image_links: Vec<String> = item
        .all("additional_image_link")
        .map(str::to_owned)
        .collect();
    for link in &additional_image_links {
        web_address("additional_image_link", link).map_err(in_product)?;
    }
    let unit_pricing = match (
        item.first("unit_pricing_measure"),
        item.first("unit_pricing_base_measure"),
    ) {
        ("", "") => None,
        ("", _) => {
            return Err(in_product(
                "unit_pricing_base_measure needs a unit_pricing_measure".into(),
            ));
        }
        (measure, base) => Some(UnitPricing::new(measure, base).map_err(in_product)?),
    };
    let multipack = match item.first("multipack") {
        "" => None,
        text => Some(
            text.parse::<u32>()
                .ok()
                .filter(|count| *count >= 2)
                .ok_or_else(|| {
                    in_product(format!("multipack `{text}` is not a whole number above 1"))
                })?,
        ),
    };
    let description = match item.first("description") {
        "" => item.first("summary"),
        text => text,
    };
    let details = ProductDetails {
        additional_image_links,
        attributes: parse::collect_attributes(
            item.fields
                .iter()
                .filter(|(name, value)| {
                    !MODELLED.contains(&name.as_str()) && !value.trim().is_empty()
                })
                .map(|(name, value)| (name.as_str(), value.trim())),
        ),
        groups: item.groups.clone(),
        other_elements: item.other_elements.clone(),
    };
    Ok(Product {
        id: id.to_owned(),
        title: title.to_owned(),
        description: description.to_owned(),
        link: link.to_owned(),
        image_link: image_link.to_owned(),
        price_cents: price.cents,
        sale_price_cents: sale_price.map(|money| money.cents),
        currency: price.currency,
        availability: availability.to_owned(),
        brand: item.first("brand").to_owned(),
        gtin: item.first("gtin").to_owned(),
        sale_window,
        unit_pricing,
        multipack,
        item_group_id: item.first("item_group_id").to_owned(),
        details,
        image: None,
        image_tried: false,
    })
}
