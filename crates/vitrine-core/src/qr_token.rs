//! Play tokens: what the QR code of an offer play carries (`/q/{token}`), so that a scan joins back to
//! the screen, the offer, the arm and the time of the play.
//!
//! A token is made on the screen, offline, for every play, and checked by the scheduler when a
//! shopper scans it. Both sides know the same key without sharing a secret over the wire: the key is
//! the sha256 of the screen's device token, which the player knows (it holds the token) and the
//! scheduler stores (as `token_sha256`). The token is authenticated with HMAC-SHA256, so nobody
//! without the key can forge a play or change its offer or time; it is not encrypted, since nothing in
//! it is secret.
//!
//! Layout before base64url (no padding): version (1 byte), arm (1), play start in Unix milliseconds
//! (8, big-endian), screen length (1) and bytes, offer id length (1) and bytes, then the first 16
//! bytes of the HMAC over everything before it. A typical token is about 80 characters, small enough
//! for a QR code a phone reads from across an aisle.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

use crate::offer::Arm;

/// The token layout this build writes and reads.
const TOKEN_VERSION: u8 = 1;

/// How many bytes of the HMAC a token keeps: 128 bits is far beyond guessing, and shorter tokens
/// make smaller QR codes.
const TAG_BYTES: usize = 16;

/// The longest token accepted before decoding, so junk never costs more than a glance.
pub const MAX_TOKEN_LENGTH: usize = 512;

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayToken {
    pub screen: String,
    pub offer_id: String,
    pub arm: Arm,
    pub played_at: Timestamp,
}

/// Why a token was refused. The scheduler answers all of them alike, with a friendly 404 page.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not in the expected format")]
    Malformed,
    #[error("the token names screen `{0}`, which is not known")]
    UnknownScreen(String),
    #[error("the token's signature does not match")]
    Forged,
}

/// A token for one play of `offer_id` on `screen`. Names longer than 255 bytes are cut at 255
/// (screen names are at most 64; offer ids are short).
pub fn encode(
    screen: &str,
    offer_id: &str,
    arm: Arm,
    play_start: Timestamp,
    key: &[u8; 32],
) -> String {
    let mut payload = Vec::with_capacity(12 + screen.len() + offer_id.len() + TAG_BYTES);
    payload.push(TOKEN_VERSION);
    payload.push(match arm {
        Arm::Treatment => 0,
        Arm::Control => 1,
    });
    payload.extend_from_slice(&play_start.as_millisecond().to_be_bytes());
    for name in [screen, offer_id] {
        let bytes = &name.as_bytes()[..name.len().min(255)];
        payload.push(bytes.len() as u8);
        payload.extend_from_slice(bytes);
    }
    let tag = tag_of(&payload, key);
    payload.extend_from_slice(&tag[..TAG_BYTES]);
    URL_SAFE_NO_PAD.encode(payload)
}

/// Reads and checks a token; `key_of` gives the key of the screen it names.
pub fn decode(
    token: &str,
    key_of: impl Fn(&str) -> Option<[u8; 32]>,
) -> Result<PlayToken, TokenError> {
    if token.len() > MAX_TOKEN_LENGTH {
        return Err(TokenError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| TokenError::Malformed)?;
    if bytes.len() < 12 + TAG_BYTES {
        return Err(TokenError::Malformed);
    }
    let (payload, tag) = bytes.split_at(bytes.len() - TAG_BYTES);
    let mut reader = Reader { bytes: payload };
    if reader.take(1)? != [TOKEN_VERSION] {
        return Err(TokenError::Malformed);
    }
    let arm = match reader.take(1)? {
        [0] => Arm::Treatment,
        [1] => Arm::Control,
        _ => return Err(TokenError::Malformed),
    };
    let mut millis = [0u8; 8];
    millis.copy_from_slice(reader.take(8)?);
    let played_at = Timestamp::from_millisecond(i64::from_be_bytes(millis))
        .map_err(|_| TokenError::Malformed)?;
    let screen = reader.name()?;
    let offer_id = reader.name()?;
    if !reader.bytes.is_empty() {
        return Err(TokenError::Malformed);
    }
    let key = key_of(&screen).ok_or_else(|| TokenError::UnknownScreen(screen.clone()))?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(payload);
    // `verify_truncated_left` compares in constant time, so timing does not leak the tag.
    mac.verify_truncated_left(tag)
        .map_err(|_| TokenError::Forged)?;
    Ok(PlayToken {
        screen,
        offer_id,
        arm,
        played_at,
    })
}

fn tag_of(payload: &[u8], key: &[u8; 32]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], TokenError> {
        if self.bytes.len() < count {
            return Err(TokenError::Malformed);
        }
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(taken)
    }

    fn name(&mut self) -> Result<String, TokenError> {
        let length = self.take(1)?[0] as usize;
        String::from_utf8(self.take(length)?.to_vec()).map_err(|_| TokenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn played_at() -> Timestamp {
        "2026-12-05T09:30:12.345Z".parse().unwrap()
    }

    #[test]
    fn a_token_round_trips_and_is_url_safe() {
        let token = encode(
            "paris-11.entrance",
            "hazelnut",
            Arm::Control,
            played_at(),
            &KEY,
        );
        assert!(token.len() < 90, "{token}");
        assert!(
            token
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        );
        let decoded = decode(&token, |screen| {
            (screen == "paris-11.entrance").then_some(KEY)
        })
        .unwrap();
        assert_eq!(
            decoded,
            PlayToken {
                screen: "paris-11.entrance".into(),
                offer_id: "hazelnut".into(),
                arm: Arm::Control,
                played_at: played_at(),
            }
        );
    }

    #[test]
    fn a_changed_token_or_another_key_is_refused() {
        let token = encode("s", "offer", Arm::Treatment, played_at(), &KEY);
        assert_eq!(decode(&token, |_| Some([8; 32])), Err(TokenError::Forged));
        assert_eq!(
            decode(&token, |_| None),
            Err(TokenError::UnknownScreen("s".into()))
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        // Claim the control arm without the key.
        bytes[1] = 1;
        let tampered = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(decode(&tampered, |_| Some(KEY)), Err(TokenError::Forged));
        for junk in ["", "not a token", "AAAA", &"A".repeat(600)] {
            assert_eq!(
                decode(junk, |_| Some(KEY)),
                Err(TokenError::Malformed),
                "{junk}"
            );
        }
    }
}
