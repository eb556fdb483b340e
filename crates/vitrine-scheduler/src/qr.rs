//! `GET /q/{token}`: where a shopper's phone lands after scanning an offer's QR code. The play token
//! (`vitrine_core::qr_token`) is checked against the screen's key, the scan is recorded with the
//! play it joins to, and the phone is redirected (302) to the product page with UTM parameters.
//!
//! No token is needed to call it: it is public by nature. A token that is malformed, forged, names
//! an unknown screen or offer, is older than [`TOKEN_LIFETIME`], or was made by a screen after it
//! was revoked gets a small friendly page with status 404, never an error body meant for programs.
//!
//! A photographed code can be replayed, so every hit is not a scan. The first hit of a code from
//! one shopper device (its address and browser, hashed with a server secret) is a unique scan, up
//! to [`MAX_UNIQUE_SCANS_PER_TOKEN`] devices per code; further hits from a device already seen are
//! stored up to [`MAX_HITS_PER_TOKEN`] per code. Hits past both bounds are still redirected, but
//! not stored. Reports give both figures: raw hits and unique scans.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use vitrine_core::campaign::Offer;
use vitrine_core::qr_token::{self, PlayToken, TokenError};

use crate::AppState;
use crate::catalog::Product;
use crate::error::ApiError;
pub use crate::storage::scans::{MAX_HITS_PER_TOKEN, MAX_UNIQUE_SCANS_PER_TOKEN, ScanRecord};

/// How long after a play its QR code still leads somewhere; a photo of the screen shared days later
/// should not count as a scan of that play.
pub const TOKEN_LIFETIME: SignedDuration = SignedDuration::from_hours(24);

/// How far in the future a play may claim to be: screens' clocks drift a little.
const CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(5);

/// The most of a user agent kept with a scan.
const MAX_USER_AGENT: usize = 256;

const NOT_FOUND_PAGE: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Offer not found</title>\
<style>body{font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}</style>\
</head><body><h1>This offer is no longer available</h1><p>The code you scanned has expired or is not \
valid. Offers on our screens change often: have a look at the screen again, or ask in store.</p>\
</body></html>\n";

fn not_found_page() -> Response {
    (StatusCode::NOT_FOUND, Html(NOT_FOUND_PAGE)).into_response()
}

/// `GET /q/{token}`.
#[utoipa::path(
    get,
    path = "/q/{token}",
    tag = "shoppers",
    params(
        ("token" = String, Path, description = "The play token a QR code carries"),
    ),
    responses(
        (status = 302, description = "To the offer's page, with UTM parameters naming the campaign and offer"),
        (status = 404, description = "An unknown or expired code: a page for the shopper", body = String, content_type = "text/html"),
        (status = 400, description = "Error codes: `bad_request`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Error codes: `rate_limited`", body = crate::openapi::ErrorBody),
        (status = 500, description = "Error codes: `internal`", body = crate::openapi::ErrorBody),
        (status = 503, description = "Error codes: `database_unavailable`", body = crate::openapi::ErrorBody),
    ),
    security(()),
)]
pub async fn scan(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
) -> Result<Response, ApiError> {
    let Some(play) = verify(&state, &token).await? else {
        return Ok(not_found_page());
    };
    let now = Timestamp::now();
    let too_old = play
        .played_at
        .checked_add(TOKEN_LIFETIME)
        .is_ok_and(|expiry| expiry < now);
    let from_future = now
        .checked_add(CLOCK_SKEW)
        .is_ok_and(|latest| play.played_at > latest);
    if too_old || from_future {
        return Ok(not_found_page());
    }
    let Some((campaign, link)) = destination(&state, &play).await? else {
        return Ok(not_found_page());
    };
    let user_agent: String = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(MAX_USER_AGENT)
        .collect();
    let address = crate::rate_limit::client_address(
        &headers,
        &extensions,
        state.limiters().trust_forwarded_for,
    );
    let device = shopper_device(&state, address, &user_agent);
    let stored = state
        .storage()
        .record_scan(ScanRecord {
            token,
            play: play.clone(),
            campaign: campaign.clone(),
            scanned_at: now,
            user_agent,
            device,
        })
        .await?;
    if stored {
        state.metrics().ingested(crate::metrics::Ingested::Scans, 1);
    }
    let location = with_utm(&link, &campaign, &play.offer_id);
    let location = HeaderValue::from_str(&location)
        .map_err(|error| ApiError::internal("making a redirect", error))?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            // Every scan must reach us to be counted; no cache may answer for us.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}

/// The play a token stands for, or `None` when it is not one of ours.
pub async fn verify(state: &AppState, token: &str) -> Result<Option<PlayToken>, ApiError> {
    // The key depends on the screen the token names, and looking it up is async: a first decode
    // without any key reads the name (refusing junk cheaply), the second checks the signature.
    let screen = match qr_token::decode(token, |_| None) {
        Err(TokenError::UnknownScreen(screen)) => screen,
        _ => return Ok(None),
    };
    let Some((key_hex, revoked_at)) = state.storage().screen_key(screen).await? else {
        return Ok(None);
    };
    let mut key = [0u8; 32];
    if hex::decode_to_slice(&key_hex, &mut key).is_err() {
        return Err(ApiError::internal(
            "reading a screen's key",
            "token_sha256 is not 64 hex digits",
        ));
    }
    let Ok(play) = qr_token::decode(token, |_| Some(key)) else {
        return Ok(None);
    };
    // A revoked screen's key may be in the wrong hands: what it signs from the revocation on is
    // not trusted. Plays from before still lead to their offers.
    if revoked_at.is_some_and(|revoked_at| play.played_at >= revoked_at) {
        return Ok(None);
    }
    Ok(Some(play))
}

/// Who scanned, as far as a redirect can tell: the phone's address and browser, hashed with a
/// secret of this server so the stored value names no one.
fn shopper_device(state: &AppState, address: Option<std::net::IpAddr>, user_agent: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"vitrine scan device\0");
    hasher.update(state.admin_token_sha256());
    hasher.update(
        address
            .map(|address| address.to_string())
            .unwrap_or_default(),
    );
    hasher.update(b"\0");
    hasher.update(user_agent.as_bytes());
    hex::encode(hasher.finalize())
}

/// The campaign of the offer a play showed and the page its QR code leads to: the offer's `url`,
/// else its product's `link` in the feed.
async fn destination(
    state: &AppState,
    play: &PlayToken,
) -> Result<Option<(String, String)>, ApiError> {
    let Some(context) = crate::campaigns::screen_context(state, &play.screen).await? else {
        return Ok(None);
    };
    for (stored, _) in &context.campaigns {
        let offer = stored
            .campaign
            .offer_pools
            .iter()
            .flat_map(|pool| &pool.offers)
            .find(|offer| offer.id == play.offer_id);
        let Some(offer) = offer else {
            continue;
        };
        let products = match &offer.product {
            Some(product) => {
                state
                    .storage()
                    .local_products(vec![product.clone()], None)
                    .await?
            }
            None => BTreeMap::new(),
        };
        let product = offer
            .product
            .as_ref()
            .and_then(|product| products.get(product))
            .map(|local| &local.product);
        return Ok(
            offer_link(offer, product).map(|link| (stored.campaign.name.clone(), link.to_owned()))
        );
    }
    Ok(None)
}

/// Where a scan of `offer`'s QR code leads: its `url`, else the feed `product`'s `link`; `None`
/// when neither is there. The redirect above and the manifest builder (which gives a card a QR
/// code only when this is `Some`) both use it, so every QR code a screen shows leads somewhere.
pub fn offer_link<'a>(offer: &'a Offer, product: Option<&'a Product>) -> Option<&'a str> {
    offer
        .url
        .as_deref()
        .or_else(|| product.map(|product| product.link.as_str()))
        .filter(|link| !link.is_empty())
}

/// `link` with the UTM parameters that let the shop's analytics credit the screen.
pub fn with_utm(link: &str, campaign: &str, offer_id: &str) -> String {
    let (base, fragment) = match link.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (link, None),
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    let mut url = format!(
        "{base}{separator}utm_source=vitrine&utm_medium=screen&utm_campaign={}&utm_content={}",
        percent_encode(campaign),
        percent_encode(offer_id)
    );
    if let Some(fragment) = fragment {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utm_parameters_are_added_whatever_the_link() {
        assert_eq!(
            with_utm("https://shop.example/p/1", "winter sale", "a&b"),
            "https://shop.example/p/1?utm_source=vitrine&utm_medium=screen&utm_campaign=winter%20sale&utm_content=a%26b"
        );
        assert_eq!(
            with_utm("https://shop.example/p?id=1#top", "c", "o"),
            "https://shop.example/p?id=1&utm_source=vitrine&utm_medium=screen&utm_campaign=c&utm_content=o#top"
        );
    }
}
