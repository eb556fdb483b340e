//! Download scheduling: which media to fetch first, and how fast all downloads together may go.
//!
//! A new manifest can name gigabytes of video over a store's thin line. Files download a few at a
//! time, in the order the schedule first needs them (so whatever plays soonest is there soonest),
//! and every byte passes one token bucket shared by all downloads, so the player never takes more
//! than `[cache] bandwidth_limit` from the store's connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use vitrine_core::playlist::Content;
use vitrine_core::{Manifest, Sha256Hex};

/// How far ahead the schedule is read to order downloads. Media first needed later than this comes
/// after, in digest order.
pub const ORDER_HORIZON: SignedDuration = SignedDuration::from_hours(24);

/// The digests in `missing`, ordered by when the manifest's schedule first shows each from `now`:
/// soonest first; media the schedule does not show within [`ORDER_HORIZON`] last, by digest. An
/// item's file is needed when its play starts, every product image of an offer slot's rotation
/// when the slot first plays (which offer a play shows is only decided then), and a zone's
/// background image when the zone first shows anything.
pub fn order_by_first_need(
    manifest: &Manifest,
    missing: &[Sha256Hex],
    now: Timestamp,
) -> Vec<Sha256Hex> {
    let mut first_need: HashMap<Sha256Hex, Timestamp> = HashMap::new();
    if let Ok(schedule) = manifest.schedule() {
        let horizon = now.checked_add(ORDER_HORIZON).unwrap_or(Timestamp::MAX);
        let mut need = |sha256: Option<&'_ Sha256Hex>, start: Timestamp| {
            if let Some(sha256) = sha256 {
                first_need
                    .entry(sha256.clone())
                    .and_modify(|known| *known = (*known).min(start))
                    .or_insert(start);
            }
        };
        for zone in &manifest.playlist.zones {
            let plays = schedule.timeline(&zone.name, now, horizon);
            if let (Some(first), Some(background)) = (plays.first(), &zone.background_image) {
                need(
                    manifest.sha256_of_file(&background.file),
                    first.start.max(now),
                );
            }
            for play in plays {
                let start = play.start.max(now);
                need(manifest.sha256_of(play.item), start);
                if let Content::Offer { slot, .. } = &play.item.content
                    && let Some(rotation) = manifest.offers.get(slot)
                {
                    for entry in rotation.entries.iter().chain(&rotation.fallback) {
                        if let Some(file) = &entry.card.image_file {
                            need(manifest.sha256_of_file(file), start);
                        }
                    }
                }
            }
        }
    }
    let mut ordered: Vec<Sha256Hex> = missing.to_vec();
    ordered.sort_by(|left, right| {
        let left_need = first_need.get(left).copied().unwrap_or(Timestamp::MAX);
        let right_need = first_need.get(right).copied().unwrap_or(Timestamp::MAX);
        left_need.cmp(&right_need).then_with(|| left.cmp(right))
    });
    ordered
}

/// A token bucket: `rate` bytes per second refill it, up to `burst` bytes. Pure arithmetic on the
/// instants it is given, so its behaviour is tested without waiting.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket. The burst is a quarter second of traffic, at least 16 KiB, so a cap is
    /// smooth yet chunks of a normal size pass.
    pub fn new(rate_bytes_per_second: u64, now: Instant) -> Self {
        let rate = rate_bytes_per_second.max(1) as f64;
        let burst = (rate / 4.0).max(16.0 * 1024.0);
        Self {
            rate,
            burst,
            tokens: burst,
            updated: now,
        }
    }

    /// Takes `bytes` at `now` and returns how long the caller must wait before sending them. The
    /// bucket may go into debt, which later callers wait off: a chunk larger than the burst is
    /// paid for by waiting, never refused.
    pub fn take(&mut self, bytes: u64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.updated = self.updated.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// The bandwidth cap every download of one player shares.
#[derive(Clone, Debug)]
pub struct Bandwidth {
    bucket: Arc<std::sync::Mutex<TokenBucket>>,
}

impl Bandwidth {
    pub fn new(rate_bytes_per_second: u64) -> Self {
        Self {
            bucket: Arc::new(std::sync::Mutex::new(TokenBucket::new(
                rate_bytes_per_second,
                Instant::now(),
            ))),
        }
    }

    /// Waits until `bytes` more may go through.
    pub async fn acquire(&self, bytes: u64) {
        let wait = self
            .bucket
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take(bytes, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_core::MediaEntry;

    #[test]
    fn the_bucket_lets_the_burst_through_then_holds_to_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(100_000, start);
        // The burst is 25 000 bytes (a quarter second at 100 kB/s).
        assert_eq!(bucket.take(25_000, start), Duration::ZERO);
        // Another 50 000 at once: half a second of debt.
        let wait = bucket.take(50_000, start);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        // After that half second the debt is paid, and the next 10 000 bytes wait 0.1 s.
        let later = start + Duration::from_millis(500);
        let wait = bucket.take(10_000, later);
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        // A long pause refills to the burst, no further.
        let much_later = later + Duration::from_secs(60);
        assert_eq!(bucket.take(25_000, much_later), Duration::ZERO);
        let wait = bucket.take(1_000, much_later);
        assert!((wait.as_secs_f64() - 0.01).abs() < 1e-9, "{wait:?}");
    }

    #[test]
    fn over_a_long_transfer_the_average_rate_is_the_cap() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1_000_000, start);
        let mut now = start;
        let chunk = 64 * 1024;
        let mut sent = 0u64;
        while sent < 50_000_000 {
            now += bucket.take(chunk, now);
            sent += chunk;
        }
        let seconds = now.duration_since(start).as_secs_f64();
        let rate = sent as f64 / seconds;
        // The burst lets the first quarter second through free; the rest is exactly the rate.
        assert!(
            (rate - 1_000_000.0).abs() / 1_000_000.0 < 0.01,
            "{rate} bytes/s"
        );
    }

    fn manifest() -> Manifest {
        let playlist = vitrine_core::parse_playlist(
            "demo.yaml",
            "version: 1\nname: demo\nitems:\n  - image: { file: a.png, duration: 10s }\n  - image: { file: b.png, duration: 10s }\n  - image: { file: c.png, duration: 10s }\n",
        )
        .unwrap();
        Manifest::build("lobby", "UTC", &playlist, 1, |file| {
            Some(MediaEntry {
                sha256: Sha256Hex::of_bytes(file.as_bytes()),
                size: 10,
            })
        })
        .unwrap()
    }

    #[test]
    fn media_download_in_the_order_the_schedule_first_shows_it() {
        let manifest = manifest();
        let a = Sha256Hex::of_bytes(b"a.png");
        let b = Sha256Hex::of_bytes(b"b.png");
        let c = Sha256Hex::of_bytes(b"c.png");
        let unused = Sha256Hex::of_bytes(b"only an offer card shows this");
        let missing = vec![a.clone(), b.clone(), c.clone(), unused.clone()];
        // The loop is 30 s long and anchored to the epoch: 12 s into it, b is on screen, c next.
        let now = Timestamp::from_second(30 * 1000 + 12).unwrap();
        assert_eq!(
            order_by_first_need(&manifest, &missing, now),
            vec![b, c, a, unused]
        );
    }

    #[test]
    fn a_zone_background_is_needed_when_the_zone_first_shows() {
        let playlist = vitrine_core::parse_playlist(
            "demo.yaml",
            "version: 1\nname: demo\nlayout:\n  main:\n    area: { x: 0%, y: 0%, width: 100%, height: 100% }\n    background_image: backdrop.png\n    items:\n      - image: { file: a.png, duration: 10s }\n      - image: { file: b.png, duration: 10s }\n",
        )
        .unwrap();
        let manifest = Manifest::build("lobby", "UTC", &playlist, 1, |file| {
            Some(MediaEntry {
                sha256: Sha256Hex::of_bytes(file.as_bytes()),
                size: 10,
            })
        })
        .unwrap();
        let backdrop = Sha256Hex::of_bytes(b"backdrop.png");
        let a = Sha256Hex::of_bytes(b"a.png");
        let b = Sha256Hex::of_bytes(b"b.png");
        // 12 s into the 20 s loop: b shows now, with the backdrop behind it; a comes next.
        let now = Timestamp::from_second(20 * 1000 + 12).unwrap();
        assert_eq!(
            order_by_first_need(&manifest, &[a.clone(), b.clone(), backdrop.clone()], now),
            if backdrop < b {
                vec![backdrop, b, a]
            } else {
                vec![b, backdrop, a]
            },
            "the backdrop and b are both needed now, a in 8 s"
        );
    }
}
