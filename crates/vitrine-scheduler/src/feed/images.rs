//! Product images: a feed's `image_link` fetched into the media store once, the first time an
//! offer card needs it, through the same guarded fetcher as feeds (public addresses only unless
//! allow-listed, a size limit, a timeout). It is decoded with limits, resized once to fit
//! [`IMAGE_SIDE`] pixels, stored as PNG by its sha256, and from then on offer cards of the product
//! show it (unless the offer names an image of its own), like any other media of the manifest.
//!
//! A fetch that fails is logged and not tried again until the feed gives another link; the card
//! shows no picture meanwhile, never a broken one.

use std::collections::BTreeSet;
use std::io::BufReader;
use std::sync::{Mutex, OnceLock};

use axum::body::Body;
use sha2::{Digest, Sha256};
use vitrine_core::Sha256Hex;

use super::fetch::{Download, FetchPolicy, download};
use crate::AppState;

/// The largest side of a stored product image, in pixels.
pub const IMAGE_SIDE: u32 = 1024;
/// The most a product image may weigh as sent.
pub const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;
/// The largest picture decoded, per side, and the most memory its decoding may take.
const MAX_DECODED_SIDE: u32 = 16_384;
const MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;

/// The product images being fetched now, by product id and link, so each is fetched once.
fn in_flight() -> &'static Mutex<BTreeSet<(String, String)>> {
    static IN_FLIGHT: OnceLock<Mutex<BTreeSet<(String, String)>>> = OnceLock::new();
    IN_FLIGHT.get_or_init(|| Mutex::new(BTreeSet::new()))
}

/// Fetches the image of each product in `wanted` (id, link) that has none yet for that link, in
/// the background; when one arrives, screens whose cards show the product are told.
pub fn fetch_missing(state: &AppState, wanted: Vec<(String, String)>) {
    for (product, link) in wanted {
        let key = (product.clone(), link.clone());
        let started = in_flight()
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(key.clone());
        if !started {
            continue;
        }
        let state = state.clone();
        tokio::spawn(async move {
            let result = fetch_one(&state, &link).await;
            let recorded = match result {
                Ok((sha256, size)) => {
                    tracing::info!(%product, %link, %sha256, "stored a product image");
                    state
                        .storage()
                        .record_product_image(product.clone(), link.clone(), Some((sha256, size)))
                        .await
                }
                Err(error) => {
                    tracing::warn!(%product, %link, %error, "cannot fetch a product image; its cards show none");
                    state
                        .storage()
                        .record_product_image(product.clone(), link.clone(), None)
                        .await
                }
            };
            in_flight()
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .remove(&key);
            // A recorded image is announced by the storage write; the push follows from there.
            if let Err(error) = recorded {
                tracing::warn!(%product, %error, "cannot record a product image");
            }
        });
    }
}

/// Downloads, decodes, resizes and stores one image; its digest and size.
async fn fetch_one(state: &AppState, link: &str) -> Result<(Sha256Hex, u64), String> {
    let url =
        reqwest::Url::parse(link).map_err(|error| format!("`{link}` is not a URL: {error}"))?;
    let policy = FetchPolicy {
        max_bytes: MAX_IMAGE_BYTES.min(state.feed_policy().max_bytes),
        ..state.feed_policy()
    };
    let downloaded = match download(&url, &policy, None, None).await? {
        Download::Body(downloaded) => downloaded,
        Download::NotModified => return Err("the server answered 304 to a plain GET".into()),
    };
    let png = tokio::task::spawn_blocking(move || resize_to_png(downloaded.file))
        .await
        .map_err(|error| error.to_string())??;
    let sha256 = Sha256Hex::from_hasher(Sha256::new_with_prefix(&png));
    let size = png.len() as u64;
    let upload = state
        .blobs()
        .receive(Body::from(png), &sha256, size)
        .await
        .map_err(|error| format!("cannot store the image: {error}"))?;
    state
        .blobs()
        .keep(upload, &sha256)
        .await
        .map_err(|error| format!("cannot store the image: {error}"))?;
    state
        .storage()
        .record_media(sha256.clone(), size)
        .await
        .map_err(|error| format!("cannot index the image: {error}"))?;
    Ok((sha256, size))
}

/// Decodes a picture with limits and writes it back as PNG, no side over [`IMAGE_SIDE`].
fn resize_to_png(file: std::fs::File) -> Result<Vec<u8>, String> {
    let mut reader = image::ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .map_err(|error| format!("cannot read the image: {error}"))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let picture = reader
        .decode()
        .map_err(|error| format!("cannot decode the image: {error}"))?;
    let picture = if picture.width() > IMAGE_SIDE || picture.height() > IMAGE_SIDE {
        picture.resize(
            IMAGE_SIDE,
            IMAGE_SIDE,
            image::imageops::FilterType::Triangle,
        )
    } else {
        picture
    };
    let mut png = Vec::new();
    picture
        .to_rgba8()
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|error| format!("cannot encode the image: {error}"))?;
    Ok(png)
}
