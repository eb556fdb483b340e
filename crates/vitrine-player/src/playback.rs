//! The playback timeline: given the active manifest, the clock and which media are ready on the GPU,
//! decide what the screen shows, what to decode next, and which plays to journal.
//!
//! It knows nothing of wgpu, winit or threads, so it is tested with plain values. What plays when comes
//! from the one schedule engine in vitrine-core; this module only adds the player's rules:
//! never show black (keep the last item up while the next one is not ready, or show the splash),
//! and one impression for every item that was on screen.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;
use uuid::Uuid;
use vitrine_core::{Impression, Loop, Manifest, Sha256Hex};

/// What is on screen and since when.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Showing {
    /// The item's index and its slot's start: the same item in the next loop is a new play.
    slot_key: (usize, Timestamp),
    item_id: String,
    sha256: Sha256Hex,
    screen: String,
    playlist: String,
    playlist_version: u64,
    started_at: Timestamp,
}

/// The result of one tick: what to draw, what to decode, and when to tick again at the latest.
#[derive(Debug, PartialEq, Eq)]
pub struct Tick {
    /// The media to draw full screen; the splash's digest when nothing else can be shown.
    pub content: Sha256Hex,
    /// Media the renderer should have soon: the current item and the next one.
    pub wanted: Vec<Sha256Hex>,
    pub next_deadline: Option<Timestamp>,
}

pub struct Playback {
    splash: Sha256Hex,
    manifest: Option<Arc<Manifest>>,
    schedule: Loop,
    ready: HashSet<Sha256Hex>,
    failed: HashSet<Sha256Hex>,
    showing: Option<Showing>,
    finished: Vec<Impression>,
}

impl Playback {
    pub fn new(splash: Sha256Hex) -> Self {
        Self {
            splash,
            manifest: None,
            schedule: Loop::new(Vec::new()),
            ready: HashSet::new(),
            failed: HashSet::new(),
            showing: None,
            finished: Vec::new(),
        }
    }

    /// Switches to a new manifest. What is on screen stays until the new items are ready.
    pub fn activate(&mut self, manifest: Arc<Manifest>) {
        self.schedule = manifest.schedule();
        // A file that failed under the old manifest gets another chance if the new one still uses it.
        self.failed.clear();
        self.manifest = Some(manifest);
    }

    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_deref()
    }

    /// The renderer has this media on the GPU.
    pub fn mark_ready(&mut self, sha256: Sha256Hex) {
        self.ready.insert(sha256);
    }

    /// The renderer dropped this media to save memory.
    pub fn mark_evicted(&mut self, sha256: &Sha256Hex) {
        self.ready.remove(sha256);
    }

    /// This media cannot be shown; its items are skipped.
    pub fn mark_failed(&mut self, sha256: Sha256Hex) {
        self.failed.insert(sha256);
    }

    pub fn is_failed(&self, sha256: &Sha256Hex) -> bool {
        self.failed.contains(sha256)
    }

    /// Media the current manifest uses, plus what is on screen: everything the renderer must keep.
    pub fn media_in_use(&self) -> HashSet<Sha256Hex> {
        let mut in_use: HashSet<Sha256Hex> = self
            .manifest
            .iter()
            .flat_map(|manifest| manifest.media.iter().map(|entry| entry.sha256.clone()))
            .collect();
        if let Some(showing) = &self.showing {
            in_use.insert(showing.sha256.clone());
        }
        in_use.insert(self.splash.clone());
        in_use
    }

    /// Advances to `now`: the frame about to be drawn shows the returned content.
    pub fn tick(&mut self, now: Timestamp) -> Tick {
        let Some(manifest) = self.manifest.clone() else {
            return Tick {
                content: self.splash.clone(),
                wanted: Vec::new(),
                next_deadline: None,
            };
        };
        let Some(slot) = self.schedule.what_plays(now) else {
            return Tick {
                content: self.current_content(),
                wanted: Vec::new(),
                next_deadline: None,
            };
        };
        let item = &manifest.items[slot.item_index];
        let next_item = &manifest.items[(slot.item_index + 1) % manifest.items.len()];
        let wanted: Vec<Sha256Hex> = [&item.media, &next_item.media]
            .into_iter()
            .filter(|sha256| !self.failed.contains(*sha256))
            .cloned()
            .collect();

        let slot_key = (slot.item_index, slot.start);
        let already_showing = self
            .showing
            .as_ref()
            .is_some_and(|showing| showing.slot_key == slot_key);
        if !already_showing && self.ready.contains(&item.media) {
            self.finish_showing(now);
            self.showing = Some(Showing {
                slot_key,
                item_id: item.id.clone(),
                sha256: item.media.clone(),
                screen: manifest.screen.clone(),
                playlist: manifest.playlist.clone(),
                playlist_version: manifest.playlist_version,
                started_at: now,
            });
        }
        Tick {
            content: self.current_content(),
            wanted,
            next_deadline: Some(slot.end),
        }
    }

    /// Ends the play on screen (shutdown); its impression joins the finished ones.
    pub fn finish(&mut self, now: Timestamp) {
        self.finish_showing(now);
    }

    /// Impressions of items that left the screen since the last call, oldest first.
    pub fn take_finished(&mut self) -> Vec<Impression> {
        std::mem::take(&mut self.finished)
    }

    fn current_content(&self) -> Sha256Hex {
        match &self.showing {
            Some(showing) if self.ready.contains(&showing.sha256) => showing.sha256.clone(),
            _ => self.splash.clone(),
        }
    }

    fn finish_showing(&mut self, now: Timestamp) {
        let Some(showing) = self.showing.take() else {
            return;
        };
        let shown = now.duration_since(showing.started_at);
        self.finished.push(Impression {
            id: Uuid::now_v7(),
            screen: showing.screen,
            playlist: showing.playlist,
            playlist_version: showing.playlist_version,
            item_id: showing.item_id,
            media_sha256: showing.sha256,
            started_at: showing.started_at,
            duration_ms: shown.as_millis().max(0) as u64,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_core::{ManifestItem, MediaEntry};

    fn digest(name: &str) -> Sha256Hex {
        Sha256Hex::of_bytes(name.as_bytes())
    }

    fn manifest(items: &[(&str, u64)]) -> Arc<Manifest> {
        Arc::new(Manifest {
            schema: 1,
            screen: "lobby".into(),
            playlist: "demo".into(),
            playlist_version: 3,
            items: items
                .iter()
                .enumerate()
                .map(|(index, (name, duration_ms))| ManifestItem {
                    id: format!("item-{}", index + 1),
                    media: digest(name),
                    duration_ms: *duration_ms,
                })
                .collect(),
            media: items
                .iter()
                .map(|(name, _)| MediaEntry {
                    sha256: digest(name),
                    size: 1,
                })
                .collect(),
        })
    }

    fn at(milliseconds: i64) -> Timestamp {
        Timestamp::from_millisecond(milliseconds).unwrap()
    }

    #[test]
    fn shows_the_splash_until_content_is_ready_then_follows_the_schedule() {
        let mut playback = Playback::new(digest("splash"));
        assert_eq!(playback.tick(at(0)).content, digest("splash"));

        playback.activate(manifest(&[("red", 1000), ("blue", 1000)]));
        let tick = playback.tick(at(100));
        assert_eq!(tick.content, digest("splash"), "red is not on the GPU yet");
        assert_eq!(tick.wanted, vec![digest("red"), digest("blue")]);
        assert_eq!(tick.next_deadline, Some(at(1000)));

        playback.mark_ready(digest("red"));
        playback.mark_ready(digest("blue"));
        assert_eq!(playback.tick(at(200)).content, digest("red"));
        assert_eq!(playback.tick(at(1000)).content, digest("blue"));
        assert_eq!(playback.tick(at(2500)).content, digest("red"));
    }

    #[test]
    fn keeps_the_last_item_up_while_the_next_is_not_ready() {
        let mut playback = Playback::new(digest("splash"));
        playback.activate(manifest(&[("red", 1000), ("broken", 1000)]));
        playback.mark_ready(digest("red"));
        assert_eq!(playback.tick(at(0)).content, digest("red"));
        playback.mark_failed(digest("broken"));
        let tick = playback.tick(at(1500));
        assert_eq!(tick.content, digest("red"), "never black, never the splash");
        assert_eq!(
            tick.wanted,
            vec![digest("red")],
            "the broken file is not asked for again"
        );
        assert!(
            playback.take_finished().is_empty(),
            "red is still on screen"
        );
    }

    #[test]
    fn every_play_yields_one_impression_with_its_shown_duration() {
        let mut playback = Playback::new(digest("splash"));
        playback.activate(manifest(&[("red", 1000), ("blue", 1000)]));
        playback.mark_ready(digest("red"));
        playback.mark_ready(digest("blue"));
        for millisecond in (0..3500).step_by(50) {
            playback.tick(at(millisecond));
        }
        playback.finish(at(3500));
        let impressions = playback.take_finished();
        let summary: Vec<(&str, i64, u64)> = impressions
            .iter()
            .map(|impression| {
                (
                    impression.item_id.as_str(),
                    impression.started_at.as_millisecond(),
                    impression.duration_ms,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("item-1", 0, 1000),
                ("item-2", 1000, 1000),
                ("item-1", 2000, 1000),
                ("item-2", 3000, 500)
            ]
        );
        assert!(
            impressions
                .iter()
                .all(|impression| impression.playlist_version == 3)
        );
        let ids: HashSet<Uuid> = impressions.iter().map(|impression| impression.id).collect();
        assert_eq!(ids.len(), 4, "ids are unique");
    }

    #[test]
    fn a_single_item_loop_is_a_new_play_each_time_round() {
        let mut playback = Playback::new(digest("splash"));
        playback.activate(manifest(&[("red", 1000)]));
        playback.mark_ready(digest("red"));
        playback.tick(at(0));
        playback.tick(at(1000));
        playback.tick(at(2000));
        assert_eq!(playback.take_finished().len(), 2);
    }
}
