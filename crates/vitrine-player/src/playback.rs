//! The playback timeline: given the active manifest, the clock and which content is ready on the GPU,
//! decide what every zone shows, what to prepare next, and which plays to journal.
//!
//! It knows nothing of wgpu, winit or threads beyond the scene types it fills in, so it is tested
//! with plain values. What plays when comes from the one schedule engine in vitrine-core
//! ([`vitrine_core::schedule::Schedule`]); this module adds the player's rules:
//!
//! - **never black:** a zone keeps its item on screen until the next one is ready (decoded and
//!   uploaded); an item whose content cannot be shown is skipped and the previous one stays; the
//!   splash covers the screen until the first item of any zone is ready;
//! - **transitions** run from the moment the incoming item is first drawn, for the incoming item's
//!   transition duration;
//! - **one impression per play:** when an item leaves its zone (or the player stops) its play is
//!   journalled with when it was first drawn and how long it stayed;
//! - **say why nothing plays:** where the splash would stand in for want of content, a problem
//!   the player was told to say ([`Playback::set_not_playing`]) shows instead as the not-playing
//!   page ([`cover::not_playing_page`]); a staff's pinned fallback stays up with the problem in a
//!   line over it. Content that can play always wins;
//! - **prepare in time:** the next item's content is always wanted, and the images of the items
//!   after it that start within [`Playback::set_prepare_ahead`] of now (the player sets it from the
//!   decode times it measures).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;
use vitrine_core::offer::SlotPlay;
use vitrine_core::playlist::{Content, Item, TextStyle, Transition as ItemTransition};
use vitrine_core::schedule::{Play, Schedule};
use vitrine_core::{
    ActiveInterrupt, ClockState, DisplayPower, Impression, Manifest, OfferPlay, Sha256Hex,
    ZoneShowing,
};

use crate::cover;

use crate::render::{
    Color, ContentKey, Fit, Layer, OfferCard, Rotation, Scene, SlideDirection, TextAlign, TextSpec,
    TickerSpec, Transition, ZoneScene, transition_layers,
};

/// Content the renderer must have before an item can be shown.
#[derive(Clone, Debug, PartialEq)]
pub enum Want {
    /// A media file to decode and upload, scaled for a zone of `zone_px` with `fit`.
    Media {
        sha256: Sha256Hex,
        fit: Fit,
        zone_px: (u32, u32),
    },
    /// Text (or a clock reading) to lay out into a texture under `key`; `item` names the
    /// playlist's item, for alerts when it has to shrink or has characters no font draws.
    Text {
        key: ContentKey,
        spec: TextSpec,
        zone_px: (u32, u32),
        item: Option<String>,
    },
    /// One play of a video file: its pipeline is built and prerolled (first frame on the GPU under
    /// `key`) before the play starts. `key` is unique to the play, so the next turn of the same
    /// clip is a pipeline of its own, prerolled while this one plays.
    Video {
        key: ContentKey,
        sha256: Sha256Hex,
        /// The sound's volume (item times zone, 0 to 1) when the item plays its soundtrack.
        sound: Option<f32>,
        zone_px: (u32, u32),
        /// When the play's turn starts: a play asked for after that joins its clip midway.
        scheduled_start: Timestamp,
    },
    /// An offer card to compose under `key`; its product image (a `Media` want listed before it)
    /// must be on the GPU first.
    OfferCard {
        key: ContentKey,
        card: Box<OfferCard>,
        zone_px: (u32, u32),
    },
}

impl Want {
    pub fn key(&self) -> ContentKey {
        match self {
            Want::Media { sha256, .. } => ContentKey::Media(sha256.clone()),
            Want::Text { key, .. } | Want::OfferCard { key, .. } | Want::Video { key, .. } => {
                key.clone()
            }
        }
    }
}

/// One frame's decision.
#[derive(Debug)]
pub struct Frame {
    pub scene: Scene,
    /// Content to prepare: what is on the way in now and what comes next, zone by zone.
    pub wanted: Vec<Want>,
    /// When the picture changes next without any event (an item boundary).
    pub next_deadline: Option<Timestamp>,
    /// Whether something moves now (a transition or a ticker): draw at the display's rate.
    pub animating: bool,
    /// Items that appear for the first time in this frame, with their scheduled start, so telemetry
    /// can time how late their first frame was.
    pub started: Vec<(ContentKey, Timestamp)>,
}

/// What a zone shows, and since when.
#[derive(Clone, Debug)]
struct Showing {
    /// The manifest version, the rule, the item and its turn's start: the same item in the next
    /// turn, or in a new version of the playlist, is a new play.
    play_key: (u64, usize, usize, Timestamp),
    item_id: String,
    content: ContentKey,
    fit: Fit,
    media_sha256: Option<Sha256Hex>,
    transition: (Transition, Duration),
    started_at: Timestamp,
    playlist: String,
    playlist_version: u64,
    screen: String,
    zone: String,
    /// The item's whole turn as the schedule has it: a play that leaves before its end did not
    /// complete.
    scheduled_start: Timestamp,
    scheduled_end: Timestamp,
    /// The clock's state when the play began.
    clock: ClockState,
    /// The display's power state when the play began.
    display: DisplayPower,
    /// For an offer slot: the offer it shows.
    offer: Option<OfferPlay>,
    /// The HQ campaign that put the item on the zone, when its rule is `campaign:NAME`.
    campaign: Option<String>,
    /// The version of the manifest the play came from.
    manifest_version: u64,
    /// When a video's decoding failed mid-play: the play ended then (its last frame stays up
    /// until the next item, but that time was not a play).
    cut_short_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Default)]
struct ZoneState {
    showing: Option<Showing>,
    /// The item it replaced, drawn underneath until the transition ends.
    outgoing: Option<Showing>,
}

struct Active {
    manifest: Arc<Manifest>,
    /// When this manifest began to play: an item already under way then is due from this instant.
    activated_at: Timestamp,
    schedule: Schedule,
    /// Visual zones in drawing order (by `z`, then as written), with their state.
    zones: Vec<(String, ZoneState)>,
}

pub struct Playback {
    splash: ContentKey,
    screen_px: (u32, u32),
    rotation: Rotation,
    active: Option<Active>,
    ready: HashSet<ContentKey>,
    failed: HashSet<ContentKey>,
    finished: Vec<Impression>,
    /// How far the clock that drives the timeline is trusted; every impression records it.
    clock: ClockState,
    /// Whether the display is on, as the player last read it; every impression records the worst
    /// of its value at the play's start and at its end.
    display: DisplayPower,
    /// The key QR tokens are signed with: the sha256 of this screen's device token. Without it
    /// (standalone mode) offer cards carry no QR code.
    qr_key: Option<[u8; 32]>,
    /// Offers shown in the last two hours, with their play start: what caps per hour count.
    recent_offers: Vec<(String, Timestamp)>,
    /// Emergency messages from HQ in the order they arrived: the newest in force covers the whole
    /// screen until its end or until HQ cancels it, and an older one still in force shows again
    /// when it goes.
    interrupts: Vec<ActiveInterrupt>,
    /// A pairing code shown full screen until then (a player waiting to be paired).
    pairing: Option<(String, Timestamp)>,
    /// The screen's name shown over everything until then (HQ's `identify` command). Unlike an
    /// interrupt it ends no play: the zones play on under it, and are journalled as usual.
    identify: Option<(String, Timestamp)>,
    /// Why nothing can play, once the player has decided to say it (see [`crate::problem`]).
    not_playing: Option<NotPlaying>,
    /// What the last frame said about it: the problem, when the frame said it.
    said: Option<crate::problem::Problem>,
    /// Whether the splash is a staff's pinned fallback (`[cache] fallback`) rather than the
    /// built-in one: theirs stays on screen, with a problem in a line over it.
    fallback_pinned: bool,
    /// A segment HQ asked offer slots to target (a loyalty-app check-in): the segment, when the
    /// trigger arrived, and until when it holds. Only plays starting after its arrival follow it.
    trigger: Option<Trigger>,
    /// The display's refresh interval: a play that appears later than this after its turn's
    /// start is a glimpse, journalled as not completed.
    refresh: SignedDuration,
    /// Set when the active playlist was written for the other orientation than this screen's.
    layout_alert: Option<String>,
    /// How far ahead images are asked for: every image whose item starts within this of now is
    /// wanted, not only the next item's. Zero asks for the next item alone.
    prepare_ahead: SignedDuration,
}

/// The most items beyond the next one whose images are asked for ahead, however long the
/// decodes take: texture memory holds a dozen screens' worth.
const MAX_ITEMS_AHEAD: usize = 8;

/// The refresh interval assumed until the player says what its display has.
const DEFAULT_REFRESH: SignedDuration = SignedDuration::from_nanos(16_666_667);

#[derive(Clone, Debug)]
struct Trigger {
    segment: String,
    since: Timestamp,
    until: Timestamp,
}

impl Playback {
    /// `screen_px` is the logical (upright) screen size in pixels; text is sized from it.
    pub fn new(splash: Sha256Hex, screen_px: (u32, u32), rotation: Rotation) -> Self {
        Self {
            splash: ContentKey::Media(splash),
            screen_px,
            rotation,
            active: None,
            ready: HashSet::new(),
            failed: HashSet::new(),
            finished: Vec::new(),
            clock: ClockState::Synced,
            display: DisplayPower::Unknown,
            qr_key: None,
            recent_offers: Vec::new(),
            interrupts: Vec::new(),
            pairing: None,
            identify: None,
            not_playing: None,
            said: None,
            fallback_pinned: false,
            refresh: DEFAULT_REFRESH,
            trigger: None,
            layout_alert: None,
            prepare_ahead: SignedDuration::ZERO,
        }
    }

    /// Why the active playlist does not suit this screen, for the heartbeat's alerts: it was
    /// written for portrait screens and this one is landscape, or the other way round.
    pub fn layout_alert(&self) -> Option<&str> {
        self.layout_alert.as_deref()
    }

    /// Covers the screen with the emergency `message` until `until`, or until HQ cancels `id`.
    /// The plays on screen end now (their impressions say how long they really showed); the zones
    /// start afresh afterwards.
    pub fn interrupt(&mut self, id: u64, message: String, until: Timestamp, now: Timestamp) {
        if until <= now {
            return;
        }
        self.end_all_plays(now);
        self.interrupts.retain(|interrupt| interrupt.id != id);
        self.interrupts.push(ActiveInterrupt { id, message, until });
    }

    /// Takes the interrupt `id` off the screen now. Returns whether it was there.
    pub fn cancel_interrupt(&mut self, id: u64) -> bool {
        let before = self.interrupts.len();
        self.interrupts.retain(|interrupt| interrupt.id != id);
        self.interrupts.len() != before
    }

    /// The interrupt on screen at `now`, if any.
    pub fn active_interrupt(&self, now: Timestamp) -> Option<&ActiveInterrupt> {
        self.interrupts
            .iter()
            .rev()
            .find(|interrupt| interrupt.until > now)
    }

    /// Until when interrupts cover the screen, if any does at `now`: the latest end among them.
    pub fn covered_until(&self, now: Timestamp) -> Option<Timestamp> {
        self.interrupts
            .iter()
            .map(|interrupt| interrupt.until)
            .filter(|until| *until > now)
            .max()
    }

    /// Shows the screen's `name` full screen over whatever plays until `until`; playback goes on
    /// under it.
    pub fn identify(&mut self, name: String, until: Timestamp) {
        self.identify = Some((name, until));
    }

    /// Shows the pairing `code` full screen until `until`.
    pub fn show_pairing_code(&mut self, code: String, until: Timestamp) {
        self.pairing = Some((code, until));
    }

    /// Says `not_playing` where the splash would show for want of content, until set to `None`.
    pub fn set_not_playing(&mut self, not_playing: Option<NotPlaying>) {
        self.not_playing = not_playing;
    }

    /// The problem the last frame said on screen, if it said one.
    pub fn said(&self) -> Option<&crate::problem::Problem> {
        self.said.as_ref()
    }

    /// The splash is a staff's pinned fallback image: it stays up when nothing can play.
    pub fn set_fallback_pinned(&mut self) {
        self.fallback_pinned = true;
    }

    /// The item each visual zone shows, in drawing order: what the heartbeat reports.
    pub fn showing(&self) -> Vec<ZoneShowing> {
        let Some(active) = &self.active else {
            return Vec::new();
        };
        active
            .zones
            .iter()
            .filter_map(|(zone, state)| {
                Some(ZoneShowing {
                    zone: zone.clone(),
                    item: state.showing.as_ref()?.item_id.clone(),
                })
            })
            .collect()
    }

    /// Makes offer slots whose plays start from `now` until `until` prefer offers for `segment`.
    pub fn trigger(&mut self, segment: String, until: Timestamp, now: Timestamp) {
        self.trigger = Some(Trigger {
            segment,
            since: now,
            until,
        });
    }

    /// Offers shown before this playback started (read back from the journal after a restart),
    /// so that caps per hour count them as HQ's explain does.
    pub fn remember_offers(&mut self, shown: Vec<(String, Timestamp)>) {
        self.recent_offers.extend(shown);
        self.recent_offers.sort_by_key(|(_, start)| *start);
    }

    /// Sets how far the clock is trusted from now on (see `crate::clock`).
    pub fn set_clock(&mut self, clock: ClockState) {
        self.clock = clock;
    }

    /// Sets whether the display is on from now on (see [`crate::display_power`]).
    pub fn set_display(&mut self, display: DisplayPower) {
        self.display = display;
    }

    /// The display's refresh interval: how late after its turn's start a play may appear and still
    /// count as completed.
    pub fn set_refresh(&mut self, refresh: std::time::Duration) {
        self.refresh = SignedDuration::try_from(refresh).unwrap_or(DEFAULT_REFRESH);
    }

    /// Images of items starting within `ahead` of now are asked for from now on, not only the next
    /// item's: the player sets it from how long its decodes take, so a short item followed by a
    /// slow image does not delay that image's start.
    pub fn set_prepare_ahead(&mut self, ahead: Duration) {
        self.prepare_ahead = SignedDuration::try_from(ahead).unwrap_or(SignedDuration::ZERO);
    }

    /// How far ahead images are asked for now.
    pub fn prepare_ahead(&self) -> Duration {
        self.prepare_ahead.unsigned_abs()
    }

    /// Offer cards get QR codes signed with this key (see [`vitrine_core::qr_token`]).
    pub fn set_qr_key(&mut self, key: [u8; 32]) {
        self.qr_key = Some(key);
    }

    /// Switches to a new manifest. What is on screen stays until the new items are ready. A
    /// manifest whose time zone this machine does not know is refused, and the old one plays on.
    pub fn activate(&mut self, manifest: Arc<Manifest>) -> anyhow::Result<()> {
        let time_zone = TimeZone::get(&manifest.timezone).map_err(|error| {
            anyhow::anyhow!(
                "time zone `{}` is unknown here (is tzdata installed?): {error}",
                manifest.timezone
            )
        })?;
        let schedule = Schedule::new(manifest.playlist.clone(), time_zone);
        self.layout_alert = orientation_alert(&manifest.playlist, self.screen_px);
        if let Some(alert) = &self.layout_alert {
            tracing::warn!("{alert}");
        }
        let mut visual: Vec<(i32, usize, String)> = manifest
            .playlist
            .zones
            .iter()
            .enumerate()
            .filter(|(_, zone)| zone.area.is_some())
            .map(|(index, zone)| (zone.z, index, zone.name.clone()))
            .collect();
        visual.sort();
        // Zones that keep their name keep what they show, so a new version of the playlist does
        // not flash its zones back to nothing.
        let mut previous = self
            .active
            .take()
            .map(|active| active.zones)
            .unwrap_or_default();
        let zones = visual
            .into_iter()
            .map(|(_, _, name)| {
                let state = previous
                    .iter_mut()
                    .find(|(old, _)| *old == name)
                    .map(|(_, state)| std::mem::take(state))
                    .unwrap_or_default();
                (name, state)
            })
            .collect();
        // Plays of zones that are gone end now; their impressions are not lost.
        let now = Timestamp::now();
        for (_, state) in previous {
            if let Some(showing) = state.showing {
                self.finished.push(impression(
                    &showing,
                    now,
                    self.clock,
                    self.display,
                    self.refresh,
                ));
            }
        }
        // A file that failed under the old manifest gets another chance.
        self.failed.clear();
        self.active = Some(Active {
            manifest,
            activated_at: now,
            schedule,
            zones,
        });
        Ok(())
    }

    pub fn manifest(&self) -> Option<&Manifest> {
        self.active.as_ref().map(|active| &*active.manifest)
    }

    /// The renderer has this content.
    pub fn mark_ready(&mut self, key: ContentKey) {
        self.ready.insert(key);
    }

    /// The renderer dropped this content to save memory; it will be asked for again when needed.
    pub fn mark_evicted(&mut self, key: &ContentKey) {
        self.ready.remove(key);
    }

    /// This content cannot be shown; its items are skipped.
    pub fn mark_failed(&mut self, key: ContentKey) {
        self.failed.insert(key);
    }

    /// A video failed while it may be on screen: its play ends at `now` (not completed) and its
    /// last frame stays until the next item is ready; it is not asked for again.
    pub fn video_failed(&mut self, key: ContentKey, now: Timestamp) {
        if let Some(active) = &mut self.active {
            for (_, state) in &mut active.zones {
                if let Some(showing) = &mut state.showing
                    && showing.content == key
                    && showing.cut_short_at.is_none()
                {
                    showing.cut_short_at = Some(now);
                }
            }
        }
        self.failed.insert(key);
    }

    pub fn is_ready(&self, key: &ContentKey) -> bool {
        self.ready.contains(key)
    }

    /// Content on screen now, or that the active manifest's media need: what the renderer keeps
    /// when a new manifest arrives. Generated content is kept only while on screen.
    pub fn content_in_use(&self) -> HashSet<ContentKey> {
        let mut in_use = HashSet::from([self.splash.clone()]);
        if let Some(active) = &self.active {
            for entry in active.manifest.media.values() {
                in_use.insert(ContentKey::Media(entry.sha256.clone()));
            }
            for (_, state) in &active.zones {
                for showing in state.showing.iter().chain(&state.outgoing) {
                    in_use.insert(showing.content.clone());
                }
            }
        }
        in_use
    }

    /// Decides the frame for `now`: what plays, with the identify page over it while it lasts.
    pub fn tick(&mut self, now: Timestamp) -> Frame {
        let mut frame = self.tick_content(now);
        self.cover_with_identify(&mut frame, now);
        frame
    }

    /// Draws the identify page over `frame` while it lasts. Its text is asked for with the
    /// frame's; until it is ready the frame shows as it is, so a slow text never blanks content.
    fn cover_with_identify(&mut self, frame: &mut Frame, now: Timestamp) {
        if self
            .identify
            .as_ref()
            .is_some_and(|(_, until)| *until <= now)
        {
            self.identify = None;
        }
        let Some((name, until)) = &self.identify else {
            return;
        };
        let until = *until;
        let page = cover::identify_page(name, self.screen_px, self.rotation);
        let ready = page
            .wanted
            .iter()
            .all(|want| self.ready.contains(&want.key()));
        frame.wanted.extend(page.wanted);
        frame.next_deadline = Some(frame.next_deadline.map_or(until, |known| known.min(until)));
        if ready {
            frame.scene.zones.extend(page.scene.zones);
        }
    }

    /// Decides what plays at `now`, under any identify page.
    fn tick_content(&mut self, now: Timestamp) -> Frame {
        self.said = None;
        if let Some(frame) = self.interrupt_frame(now) {
            return frame;
        }
        if self.clock == ClockState::Unknown {
            // No daypart, date range or loop position can be trusted without the time: the
            // fallback shows until the clock is known again (see `crate::clock`), looked at again
            // every few seconds.
            self.end_all_plays(now);
            let recheck = now
                .checked_add(jiff::SignedDuration::from_secs(5))
                .unwrap_or(now);
            let mut frame = self.waiting_frame(Vec::new(), Some(recheck));
            // Said on the screen too, so whoever stands in front of it knows why, until the
            // not-playing page says it in full.
            if self.said.is_none() {
                frame.scene.overlay = Some(CLOCK_UNKNOWN_OVERLAY.to_owned());
            }
            return frame;
        }
        let Some(active) = &mut self.active else {
            return self.waiting_frame(Vec::new(), None);
        };
        let screen_px = self.screen_px;
        let horizon = now.checked_add(self.prepare_ahead).unwrap_or(now);
        let mut wanted = Vec::new();
        let mut next_deadline: Option<Timestamp> = None;
        let mut animating = false;
        let mut started = Vec::new();
        let mut zone_scenes = Vec::with_capacity(active.zones.len());
        let playlist = &active.manifest.playlist;
        for (zone_name, state) in &mut active.zones {
            let Some(zone) = playlist.zone(zone_name) else {
                continue;
            };
            let Some(area) = zone.area else {
                continue;
            };
            let rect = [
                area.x.fraction(),
                area.y.fraction(),
                area.width.fraction(),
                area.height.fraction(),
            ];
            let zone_px = (
                ((rect[2] * screen_px.0 as f32).round() as u32).max(1),
                ((rect[3] * screen_px.1 as f32).round() as u32).max(1),
            );
            if let Some(play) = active.schedule.what_plays(zone_name, now) {
                next_deadline = Some(next_deadline.map_or(play.end, |known| known.min(play.end)));
                let context = Context {
                    zone_volume: zone.volume.fraction(),
                    manifest: &active.manifest,
                    time_zone: active.schedule.time_zone(),
                    zone_px,
                    qr_key: self.qr_key.as_ref(),
                    recent_offers: &self.recent_offers,
                    trigger: self.trigger.as_ref(),
                };
                let (want, candidate) = describe(&play, &context, now);
                // The next item too, so its switch happens on its scheduled frame; and the images of
                // the items after it that start within the decode horizon, so that a short item
                // does not leave the one after it too little time to decode.
                let mut cursor = play.end;
                let mut ahead = 0;
                while let Some(next) = active.schedule.what_plays(zone_name, cursor) {
                    let (next_want, _) = describe(&next, &context, cursor);
                    if ahead == 0 {
                        wanted.extend(next_want);
                    } else {
                        // Only images: a video prerolls for the next item alone.
                        wanted.extend(
                            next_want
                                .into_iter()
                                .filter(|want| matches!(want, Want::Media { .. })),
                        );
                    }
                    ahead += 1;
                    if next.end <= cursor || next.end >= horizon || ahead > MAX_ITEMS_AHEAD {
                        break;
                    }
                    cursor = next.end;
                }
                if let Some(candidate) = candidate {
                    let key = candidate.content.clone();
                    if self.failed.contains(&key) {
                        // Skipped: whatever is on screen stays.
                    } else {
                        wanted.extend(want);
                        let same_play = state
                            .showing
                            .as_ref()
                            .is_some_and(|showing| showing.play_key == candidate.play_key);
                        if self.ready.contains(&key) {
                            if !same_play {
                                started.push((key.clone(), play.start.max(active.activated_at)));
                                if let Some(offer) = &candidate.offer {
                                    self.recent_offers
                                        .push((offer.offer_id.clone(), play.scheduled_start));
                                    let two_hours_ago = now
                                        .checked_sub(jiff::SignedDuration::from_hours(2))
                                        .unwrap_or(Timestamp::MIN);
                                    self.recent_offers.retain(|(_, at)| *at >= two_hours_ago);
                                }
                                let incoming = Showing {
                                    started_at: now,
                                    clock: self.clock,
                                    display: self.display,
                                    ..candidate
                                };
                                if let Some(leaving) = state.showing.replace(incoming) {
                                    self.finished.push(impression(
                                        &leaving,
                                        now,
                                        self.clock,
                                        self.display,
                                        self.refresh,
                                    ));
                                    state.outgoing = Some(leaving);
                                }
                            } else if let Some(showing) = &mut state.showing {
                                // The same play with new content: a clock's next minute.
                                showing.content = key;
                            }
                        }
                    }
                }
            }
            let layers = zone_layers(state, now, &mut animating);
            zone_scenes.push(ZoneScene {
                rect,
                background: zone.background.map(to_render_color),
                layers,
            });
        }
        let anything_shown = active
            .zones
            .iter()
            .any(|(_, state)| state.showing.is_some());
        if !anything_shown {
            return self.waiting_frame(wanted, next_deadline);
        }
        Frame {
            scene: Scene {
                background: Color::BLACK,
                rotation: self.rotation,
                zones: zone_scenes,
                overlay: None,
            },
            wanted,
            next_deadline,
            animating,
            started,
        }
    }

    /// Ends every play on screen (shutdown); their impressions join the finished ones.
    pub fn finish(&mut self, now: Timestamp) {
        self.end_all_plays(now);
    }

    fn end_all_plays(&mut self, now: Timestamp) {
        if let Some(active) = &mut self.active {
            for (_, state) in &mut active.zones {
                if let Some(showing) = state.showing.take() {
                    self.finished.push(impression(
                        &showing,
                        now,
                        self.clock,
                        self.display,
                        self.refresh,
                    ));
                }
                state.outgoing = None;
            }
        }
    }

    /// Impressions of items that left the screen since the last call, oldest first.
    pub fn take_finished(&mut self) -> Vec<Impression> {
        std::mem::take(&mut self.finished)
    }

    /// The newest interrupt's emergency page while it lasts, else the pairing code's page. If
    /// their text cannot be drawn yet, the splash stands in: never what the interrupt was sent to
    /// replace.
    fn interrupt_frame(&mut self, now: Timestamp) -> Option<Frame> {
        self.interrupts.retain(|interrupt| interrupt.until > now);
        if self
            .pairing
            .as_ref()
            .is_some_and(|(_, until)| *until <= now)
        {
            self.pairing = None;
        }
        let (page, until) = match (self.interrupts.last(), &self.pairing) {
            (Some(interrupt), _) => (
                cover::emergency_page(&interrupt.message, self.screen_px, self.rotation),
                interrupt.until,
            ),
            (None, Some((code, until))) => (
                cover::pairing_page(code, self.screen_px, self.rotation),
                *until,
            ),
            (None, None) => return None,
        };
        // An older interrupt may show again before this one ends, if this one is cancelled; that
        // arrives as an event, so the page's own end is the only deadline.
        if !page
            .wanted
            .iter()
            .all(|want| self.ready.contains(&want.key()))
        {
            return Some(self.splash_frame(page.wanted, Some(until)));
        }
        Some(Frame {
            scene: page.scene,
            wanted: page.wanted,
            next_deadline: Some(until),
            animating: false,
            started: Vec::new(),
        })
    }

    /// What shows while nothing of the playlist can: the not-playing page when there is a
    /// problem to say (the splash until its text is ready), else the splash. `wanted` is what the
    /// playlist needs prepared meanwhile.
    fn waiting_frame(&mut self, mut wanted: Vec<Want>, next_deadline: Option<Timestamp>) -> Frame {
        let Some(not_playing) = &self.not_playing else {
            return self.splash_frame(wanted, next_deadline);
        };
        let problem = not_playing.problem.clone();
        if self.fallback_pinned {
            let mut frame = self.splash_frame(wanted, next_deadline);
            frame.scene.overlay = Some(format!("Not playing: {problem}"));
            self.said = Some(problem);
            return frame;
        }
        let page = cover::not_playing_page(
            &problem,
            not_playing.screen.as_deref(),
            self.screen_px,
            self.rotation,
        );
        let ready = page
            .wanted
            .iter()
            .all(|want| self.ready.contains(&want.key()));
        wanted.extend(page.wanted);
        if !ready {
            return self.splash_frame(wanted, next_deadline);
        }
        self.said = Some(problem);
        Frame {
            scene: page.scene,
            wanted,
            next_deadline,
            animating: false,
            started: Vec::new(),
        }
    }

    fn splash_frame(&self, wanted: Vec<Want>, next_deadline: Option<Timestamp>) -> Frame {
        let mut scene = Scene::single(self.splash.clone(), Fit::Cover);
        scene.rotation = self.rotation;
        Frame {
            scene,
            wanted,
            next_deadline,
            animating: false,
            started: Vec::new(),
        }
    }
}

/// The line drawn over the fallback while the time is unknown.
pub const CLOCK_UNKNOWN_OVERLAY: &str = "Clock unknown";

/// Why nothing can play, and the screen's name when known: what the not-playing page says.
#[derive(Clone, Debug, PartialEq)]
pub struct NotPlaying {
    pub problem: crate::problem::Problem,
    pub screen: Option<String>,
}

/// The layers of a zone at `now`: its item, over the outgoing one while a transition runs.
fn zone_layers(state: &mut ZoneState, now: Timestamp, animating: &mut bool) -> Vec<Layer> {
    let Some(showing) = &state.showing else {
        return Vec::new();
    };
    let elapsed = |since: Timestamp| now.duration_since(since).unsigned_abs();
    let incoming =
        Layer::new(showing.content.clone(), showing.fit).with_elapsed(elapsed(showing.started_at));
    if matches!(showing.content, ContentKey::Generated(ref key) if key.starts_with("ticker")) {
        *animating = true;
    }
    let (transition, duration) = showing.transition;
    let progress = if duration.is_zero() {
        1.0
    } else {
        elapsed(showing.started_at).as_secs_f32() / duration.as_secs_f32()
    };
    match &state.outgoing {
        Some(outgoing) if progress < 1.0 && transition != Transition::Cut => {
            *animating = true;
            let leaving = Layer::new(outgoing.content.clone(), outgoing.fit)
                .with_elapsed(elapsed(outgoing.started_at));
            transition_layers(Some(leaving), incoming, transition, progress)
        }
        _ => {
            state.outgoing = None;
            vec![incoming]
        }
    }
}

/// What an item needs prepared and how it would show. `None` for content this player cannot show
/// yet (offer slots before HQ fills them, audio in a visual zone).
/// What `describe` needs to know besides the play.
struct Context<'a> {
    /// The zone's volume, which multiplies each video's own.
    zone_volume: f32,
    manifest: &'a Manifest,
    time_zone: &'a TimeZone,
    zone_px: (u32, u32),
    qr_key: Option<&'a [u8; 32]>,
    recent_offers: &'a [(String, Timestamp)],
    trigger: Option<&'a Trigger>,
}

fn describe(
    play: &Play<'_>,
    context: &Context<'_>,
    now: Timestamp,
) -> (Vec<Want>, Option<Showing>) {
    let Context {
        manifest,
        time_zone,
        zone_px,
        ..
    } = *context;
    let item: &Item = play.item;
    let mut offer = None;
    let (wants, content, fit, media_sha256) = match &item.content {
        Content::Video {
            media,
            fit,
            sound,
            volume,
        } => {
            let Some(sha256) = manifest.sha256_of_file(&media.file) else {
                return (Vec::new(), None);
            };
            let key = video_key(play, sha256, zone_px);
            let want = Want::Video {
                key: key.clone(),
                sha256: sha256.clone(),
                sound: sound.then(|| volume.fraction() * context.zone_volume),
                zone_px,
                scheduled_start: play.scheduled_start,
            };
            (vec![want], key, to_render_fit(*fit), Some(sha256.clone()))
        }
        Content::Image { media, fit } => {
            let Some(sha256) = manifest.sha256_of_file(&media.file) else {
                return (Vec::new(), None);
            };
            let fit = to_render_fit(*fit);
            let want = Want::Media {
                sha256: sha256.clone(),
                fit,
                zone_px,
            };
            (
                vec![want],
                ContentKey::Media(sha256.clone()),
                fit,
                Some(sha256.clone()),
            )
        }
        Content::Text {
            text,
            style,
            ticker,
            font,
        } => {
            let spec = text_spec(
                text.clone(),
                style,
                zone_px,
                ticker.map(|ticker| ticker.speed),
                font.as_ref(),
                manifest,
            );
            let key = ticker_aware_key(&spec, zone_px);
            (
                vec![Want::Text {
                    key: key.clone(),
                    spec,
                    zone_px,
                    item: Some(item.id.clone()),
                }],
                key,
                Fit::Contain,
                None,
            )
        }
        Content::Clock {
            format,
            style,
            font,
        } => {
            let reading = now.to_zoned(time_zone.clone()).strftime(format).to_string();
            // Fitted like any text: in a narrow zone the reading is set smaller, never cut.
            let spec = text_spec(reading, style, zone_px, None, font.as_ref(), manifest);
            let key = spec.key(zone_px);
            (
                vec![Want::Text {
                    key: key.clone(),
                    spec,
                    zone_px,
                    item: Some(item.id.clone()),
                }],
                key,
                Fit::Contain,
                None,
            )
        }
        Content::Offer { slot, .. } => {
            let Some((wants, key, play_offer)) = describe_offer(slot, play, context) else {
                return (Vec::new(), None);
            };
            offer = Some(play_offer);
            (wants, key, Fit::Contain, None)
        }
        Content::Audio { .. } => return (Vec::new(), None),
    };
    let transition = match item.transition {
        ItemTransition::Cut => (Transition::Cut, Duration::ZERO),
        ItemTransition::Crossfade { duration } => (Transition::Crossfade, duration.as_std()),
        ItemTransition::Slide { duration } => {
            (Transition::Slide(SlideDirection::Left), duration.as_std())
        }
    };
    let showing = Showing {
        play_key: (
            manifest.playlist_version,
            play.rule_index,
            play.item_index,
            play.scheduled_start,
        ),
        item_id: item.id.clone(),
        content,
        fit,
        media_sha256,
        transition,
        started_at: now,
        playlist: manifest.playlist.name.clone(),
        playlist_version: manifest.playlist_version,
        screen: manifest.screen.clone(),
        zone: play.zone.to_owned(),
        scheduled_start: play.scheduled_start,
        scheduled_end: play.scheduled_end,
        clock: ClockState::Synced,
        display: DisplayPower::Unknown,
        offer,
        campaign: campaign_of(play),
        manifest_version: manifest.version,
        cut_short_at: None,
    };
    (wants, Some(showing))
}

/// The HQ campaign a play belongs to: campaigns reach a screen as rules named `campaign:NAME`.
pub(crate) fn campaign_of(play: &Play<'_>) -> Option<String> {
    play.reason
        .rule
        .name
        .strip_prefix("campaign:")
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
}

/// Says so when `playlist` was written for the other orientation than a screen of `screen_px`
/// (logical, after the configured rotation): its zones would be squeezed or stretched.
fn orientation_alert(playlist: &vitrine_core::Playlist, screen_px: (u32, u32)) -> Option<String> {
    use vitrine_core::playlist::Orientation;
    let (width, height) = screen_px;
    let (wanted, this, rotations) = match playlist.orientation {
        Orientation::Portrait if width > height => ("portrait", "landscape", "90 or 270"),
        Orientation::Landscape if height > width => ("landscape", "portrait", "0 or 180"),
        _ => return None,
    };
    Some(format!(
        "playlist `{}` is written for {wanted} screens (its `orientation`), and this screen is \
         {this} ({width}x{height}); set `rotation` to {rotations} in the player's configuration \
         to match how the screen is mounted, or give it a {this} playlist",
        playlist.name
    ))
}

/// A video play's content key: the clip, the play (its turn, rule and item) and the zone, so each
/// play has its own pipeline and picture, and the next turn of the same clip is prerolled apart.
fn video_key(play: &Play<'_>, sha256: &Sha256Hex, zone_px: (u32, u32)) -> ContentKey {
    ContentKey::generated(
        "video",
        &[
            sha256.as_str().as_bytes(),
            &play.scheduled_start.as_millisecond().to_le_bytes(),
            &(play.rule_index as u64).to_le_bytes(),
            &(play.item_index as u64).to_le_bytes(),
            play.zone.as_bytes(),
            &zone_px.0.to_le_bytes(),
            &zone_px.1.to_le_bytes(),
        ],
    )
}

/// What an offer slot shows in `play`: the offer HQ's rotation picks for it (the same pick on every
/// frame of the play, since the pick depends only on the screen, the slot and the play's start), as
/// a card with the store's prices and a QR code that names this very play.
fn describe_offer(
    slot: &str,
    play: &Play<'_>,
    context: &Context<'_>,
) -> Option<(Vec<Want>, ContentKey, OfferPlay)> {
    let manifest = context.manifest;
    let rotation = manifest.offers.get(slot)?;
    // A trigger counts for plays that start while it holds (from its arrival on this screen).
    let trigger = context
        .trigger
        .filter(|trigger| (trigger.since..trigger.until).contains(&play.scheduled_start))
        .map(|trigger| trigger.segment.as_str());
    let entry = rotation.pick(&SlotPlay {
        screen: &manifest.screen,
        slot,
        start: play.scheduled_start,
        recent: context.recent_offers,
        trigger,
    })?;
    let mut wants = Vec::new();
    let image = entry
        .card
        .image_file
        .as_deref()
        .and_then(|file| manifest.sha256_of_file(file))
        .map(|sha256| {
            wants.push(Want::Media {
                sha256: sha256.clone(),
                fit: Fit::Contain,
                zone_px: context.zone_px,
            });
            ContentKey::Media(sha256.clone())
        });
    // A card gets a QR code only when a scan leads somewhere (the scheduler decided it with the
    // rule its redirect uses).
    let qr_url = match (&manifest.qr_base_url, context.qr_key) {
        (Some(base), Some(key)) if entry.card.has_destination => Some(format!(
            "{}/q/{}",
            base.trim_end_matches('/'),
            vitrine_core::qr_token::encode(
                &manifest.screen,
                &entry.offer_id,
                entry.arm,
                play.scheduled_start,
                key,
            )
        )),
        _ => None,
    };
    let locale = store_locale(manifest);
    let card = OfferCard {
        title: entry.card.title.clone(),
        // The price exactly as the scheduler set it: none stays none, whatever the store's currency.
        price: entry.card.price.clone(),
        locale,
        badge: entry.card.badge.clone(),
        validity: entry.card.validity.clone(),
        image,
        qr_url,
        font: play
            .item
            .font()
            .and_then(|font| manifest.sha256_of_file(&font.file).cloned()),
        unit_price: entry.card.unit_price.clone(),
    };
    let key = card.key(context.zone_px);
    wants.push(Want::OfferCard {
        key: key.clone(),
        card: Box::new(card),
        zone_px: context.zone_px,
    });
    let play_offer = OfferPlay {
        offer_id: entry.offer_id.clone(),
        campaign: entry.campaign.clone(),
        arm: entry.arm,
        price: entry.card.price.clone(),
    };
    Some((wants, key, play_offer))
}

/// The store's locale, which prices and Han characters follow; `en-US` without a store.
fn store_locale(manifest: &Manifest) -> String {
    manifest
        .store
        .as_ref()
        .map_or_else(|| "en-US".to_owned(), |store| store.locale.clone())
}

/// Tickers are keyed with a `ticker` prefix so the timeline knows they move.
fn ticker_aware_key(spec: &TextSpec, zone_px: (u32, u32)) -> ContentKey {
    match (spec.ticker.is_some(), spec.key(zone_px)) {
        (true, ContentKey::Generated(key)) => ContentKey::Generated(format!("ticker-{key}")),
        (_, key) => key,
    }
}

fn text_spec(
    text: String,
    style: &TextStyle,
    zone_px: (u32, u32),
    ticker_speed: Option<vitrine_core::timing::Percent>,
    font: Option<&vitrine_core::playlist::MediaRef>,
    manifest: &Manifest,
) -> TextSpec {
    TextSpec {
        text,
        size_px: (style.size.fraction() * zone_px.1 as f32).max(1.0),
        min_size_px: (style.min_size.fraction() * zone_px.1 as f32).max(1.0),
        font: font.and_then(|font| manifest.sha256_of_file(&font.file).cloned()),
        locale: store_locale(manifest),
        colour: to_render_color(style.color),
        align: match style.align {
            vitrine_core::playlist::Align::Left => TextAlign::Left,
            vitrine_core::playlist::Align::Center => TextAlign::Center,
            vitrine_core::playlist::Align::Right => TextAlign::Right,
        },
        bold: false,
        ticker: ticker_speed.map(|speed| TickerSpec {
            speed_px_per_s: speed.fraction() * zone_px.0 as f32,
            gap_px: zone_px.0 as f32 / 4.0,
        }),
        background: style.background.map(to_render_color),
    }
}

fn to_render_color(color: vitrine_core::timing::Color) -> Color {
    Color {
        r: color.red,
        g: color.green,
        b: color.blue,
        a: color.alpha,
    }
}

fn to_render_fit(fit: vitrine_core::playlist::Fit) -> Fit {
    match fit {
        vitrine_core::playlist::Fit::Contain => Fit::Contain,
        vitrine_core::playlist::Fit::Cover => Fit::Cover,
        vitrine_core::playlist::Fit::Stretch => Fit::Stretch,
    }
}

/// The record of a play that leaves the screen at `now`. It completed if it was on screen from
/// within one `refresh` of its turn's start until the turn was over (a glimpse of a turn already
/// under way is not a play); it claims the worst clock and display state of its start and its end.
/// The sequence number and the link to the previous record come from the journal when it is
/// committed.
fn impression(
    showing: &Showing,
    now: Timestamp,
    clock: ClockState,
    display: DisplayPower,
    refresh: SignedDuration,
) -> Impression {
    // A play cut short by a decode error ended then, whatever stayed on screen afterwards.
    let now = showing.cut_short_at.map_or(now, |cut| cut.min(now));
    Impression {
        id: Uuid::now_v7(),
        sequence: 0,
        screen: showing.screen.clone(),
        playlist: showing.playlist.clone(),
        playlist_version: showing.playlist_version,
        zone: showing.zone.clone(),
        item_id: showing.item_id.clone(),
        media_sha256: showing.media_sha256.clone(),
        scheduled_start: showing.scheduled_start,
        scheduled_end: Some(showing.scheduled_end),
        started_at: showing.started_at,
        ended_at: now.max(showing.started_at),
        completed: vitrine_core::impression::covers_turn(
            showing.scheduled_start,
            showing.scheduled_end,
            showing.started_at,
            now,
            refresh,
        ),
        clock: showing.clock.worst(clock),
        offer: showing.offer.clone(),
        campaign: showing.campaign.clone(),
        manifest_version: showing.manifest_version,
        player_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        display: showing.display.worst(display),
        previous: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_core::MediaEntry;

    fn digest(name: &str) -> Sha256Hex {
        Sha256Hex::of_bytes(name.as_bytes())
    }

    fn key(name: &str) -> ContentKey {
        ContentKey::Media(digest(name))
    }

    fn manifest(yaml: &str) -> Arc<Manifest> {
        let playlist = vitrine_core::parse_playlist("test.yaml", yaml).unwrap();
        Arc::new(
            Manifest::build("lobby", "Europe/Paris", &playlist, 3, |file| {
                Some(MediaEntry {
                    sha256: digest(file.trim_end_matches(".png")),
                    size: 1,
                })
            })
            .unwrap(),
        )
    }

    const RED_BLUE: &str = "version: 1\nname: demo\nitems:\n  - image: { file: red.png, duration: 1s }\n  - image: { file: blue.png, duration: 1s }\n";

    fn at(milliseconds: i64) -> Timestamp {
        Timestamp::from_millisecond(milliseconds).unwrap()
    }

    fn shown(frame: &Frame) -> Vec<Vec<(ContentKey, f32)>> {
        frame
            .scene
            .zones
            .iter()
            .map(|zone| {
                zone.layers
                    .iter()
                    .map(|layer| (layer.content.clone(), layer.opacity))
                    .collect()
            })
            .collect()
    }

    fn playback() -> Playback {
        let mut playback = Playback::new(digest("splash"), (1920, 1080), Rotation::Deg0);
        playback.mark_ready(key("splash"));
        playback
    }

    #[test]
    fn shows_the_splash_until_content_is_ready_then_follows_the_schedule() {
        let mut playback = playback();
        assert_eq!(
            shown(&playback.tick(at(0))),
            vec![vec![(key("splash"), 1.0)]]
        );

        playback.activate(manifest(RED_BLUE)).unwrap();
        let frame = playback.tick(at(100));
        assert_eq!(
            shown(&frame),
            vec![vec![(key("splash"), 1.0)]],
            "red is not ready"
        );
        let wanted: Vec<ContentKey> = frame.wanted.iter().map(Want::key).collect();
        assert_eq!(
            wanted,
            vec![key("blue"), key("red")],
            "the next item, then this one"
        );
        assert_eq!(frame.next_deadline, Some(at(1000)));

        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        assert_eq!(
            shown(&playback.tick(at(200))),
            vec![vec![(key("red"), 1.0)]]
        );
        assert_eq!(
            shown(&playback.tick(at(1000))),
            vec![vec![(key("blue"), 1.0)]]
        );
        assert_eq!(
            shown(&playback.tick(at(2500))),
            vec![vec![(key("red"), 1.0)]]
        );
    }

    #[test]
    fn images_are_asked_for_as_far_ahead_as_decodes_take() {
        const SHORT_THEN_LONG: &str = "version: 1\nname: demo\nitems:\n  - image: { file: a.png, duration: 1s }\n  - image: { file: b.png, duration: 100ms }\n  - image: { file: c.png, duration: 1s }\n  - image: { file: d.png, duration: 1s }\n";
        let wanted = |playback: &mut Playback| -> Vec<ContentKey> {
            playback
                .tick(at(100))
                .wanted
                .iter()
                .map(Want::key)
                .collect()
        };
        let mut playback = playback();
        playback.activate(manifest(SHORT_THEN_LONG)).unwrap();
        assert_eq!(
            wanted(&mut playback),
            vec![key("b"), key("a")],
            "without a horizon, the next item alone"
        );
        // Decodes take long enough that c, starting 1.1 s from here, must be asked for now.
        playback.set_prepare_ahead(Duration::from_millis(1500));
        assert_eq!(
            wanted(&mut playback),
            vec![key("b"), key("c"), key("a")],
            "every image starting within the horizon, and not d beyond it"
        );
    }

    #[test]
    fn keeps_the_last_item_up_while_the_next_cannot_be_shown() {
        let mut playback = playback();
        playback.activate(manifest(RED_BLUE)).unwrap();
        playback.mark_ready(key("red"));
        assert_eq!(shown(&playback.tick(at(0))), vec![vec![(key("red"), 1.0)]]);
        // Blue is late: red stays.
        assert_eq!(
            shown(&playback.tick(at(1100))),
            vec![vec![(key("red"), 1.0)]]
        );
        // Blue is broken: red stays, and blue is not asked for again.
        playback.mark_failed(key("blue"));
        let frame = playback.tick(at(1500));
        assert_eq!(shown(&frame), vec![vec![(key("red"), 1.0)]]);
        assert!(frame.wanted.iter().all(|want| want.key() != key("blue")));
        assert!(
            playback.take_finished().is_empty(),
            "red is still on screen"
        );
    }

    #[test]
    fn every_play_yields_one_impression_with_its_shown_duration() {
        let mut playback = playback();
        playback.activate(manifest(RED_BLUE)).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        for millisecond in (0..3500).step_by(50) {
            playback.tick(at(millisecond));
        }
        playback.finish(at(3500));
        let impressions = playback.take_finished();
        let summary: Vec<(&str, i64, i64, u64, bool)> = impressions
            .iter()
            .map(|impression| {
                (
                    impression.item_id.as_str(),
                    impression.scheduled_start.as_millisecond(),
                    impression.started_at.as_millisecond(),
                    impression.duration_ms(),
                    impression.completed,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("item-1", 0, 0, 1000, true),
                ("item-2", 1000, 1000, 1000, true),
                ("item-1", 2000, 2000, 1000, true),
                ("item-2", 3000, 3000, 500, false)
            ],
            "the last play is cut by the shutdown"
        );
        assert!(impressions.iter().all(|impression| {
            impression.zone == "main"
                && impression.clock == ClockState::Synced
                && impression.sequence == 0
        }));
        assert!(
            impressions
                .iter()
                .all(|impression| impression.playlist_version == 3 && impression.screen == "lobby")
        );
        assert_eq!(impressions[1].media_sha256, Some(digest("blue")));
        let ids: HashSet<Uuid> = impressions.iter().map(|impression| impression.id).collect();
        assert_eq!(ids.len(), 4, "ids are unique");
    }

    const THREE_SECONDS: &str = "version: 1\nname: demo\nitems:\n  - image: { id: red, file: red.png, duration: 3s }\n  - image: { id: blue, file: blue.png, duration: 3s }\n";

    /// Ticks at every deadline the frames ask for, as the player's loop does, from `from` to
    /// `to`, then shuts down; `(item, started_at, shown ms, completed)` of each play.
    fn run_between(
        playback: &mut Playback,
        from: i64,
        to: i64,
        late_by: i64,
    ) -> Vec<(String, i64, u64, bool)> {
        let mut now = at(from);
        while now < at(to) {
            let frame = playback.tick(now);
            now = frame.next_deadline.unwrap() + SignedDuration::from_millis(late_by);
        }
        playback.finish(at(to));
        playback
            .take_finished()
            .iter()
            .map(|impression| {
                (
                    impression.item_id.clone(),
                    impression.started_at.as_millisecond(),
                    impression.duration_ms(),
                    impression.completed,
                )
            })
            .collect()
    }

    #[test]
    fn a_play_joined_mid_turn_is_journalled_as_a_glimpse_not_a_completed_play() {
        let mut playback = playback();
        playback.activate(manifest(THREE_SECONDS)).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        // The player starts 406 ms before the end of red's turn.
        let plays = run_between(&mut playback, 2_594, 9_000, 0);
        assert_eq!(
            plays,
            vec![
                ("red".to_owned(), 2_594, 406, false),
                ("blue".to_owned(), 3_000, 3_000, true),
                ("red".to_owned(), 6_000, 3_000, true),
            ],
            "the tail of red's turn was shown and says so"
        );
    }

    #[test]
    fn a_play_that_appears_within_one_refresh_of_its_turn_completes_it() {
        let mut playback = playback();
        playback.set_refresh(std::time::Duration::from_millis(100));
        playback.activate(manifest(THREE_SECONDS)).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        let plays = run_between(&mut playback, 0, 6_000, 60);
        assert_eq!(
            plays,
            vec![
                ("red".to_owned(), 0, 3_060, true),
                ("blue".to_owned(), 3_060, 2_940, true),
            ],
            "60 ms late at a 100 ms refresh is on time"
        );
        let mut playback = self::playback();
        playback.activate(manifest(THREE_SECONDS)).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        let plays = run_between(&mut playback, 0, 6_000, 60);
        assert_eq!(
            plays[1],
            ("blue".to_owned(), 3_060, 2_940, false),
            "60 ms late at 60 Hz missed the start of its turn"
        );
    }

    #[test]
    fn the_rest_of_a_turn_after_an_interrupt_is_not_a_completed_play() {
        let mut playback = playback();
        playback.activate(manifest(THREE_SECONDS)).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        playback.tick(at(0));
        playback.interrupt(1, "Evacuate".into(), at(1_000), at(500));
        playback.tick(at(500));
        let plays = run_between(&mut playback, 1_000, 3_000, 0);
        assert_eq!(
            plays,
            vec![
                ("red".to_owned(), 0, 500, false),
                ("red".to_owned(), 1_000, 2_000, false),
            ],
            "cut by the interrupt, then the rest of the turn"
        );
    }

    #[test]
    fn a_text_items_style_and_transition_reach_the_renderer() {
        let mut playback = playback();
        playback
            .activate(manifest(
                "version: 1\nname: demo\nitems:\n  - image: { file: red.png, duration: 5s }\n  - text: { text: Sale, size: 10%, color: \"#123456\", align: right, ticker: { speed: 25% }, duration: 5s, transition: { slide: 400ms } }\n",
            ))
            .unwrap();
        playback.mark_ready(key("red"));
        let frame = playback.tick(at(0));
        let (text_key, spec) = frame
            .wanted
            .iter()
            .find_map(|want| match want {
                Want::Text { key, spec, .. } => Some((key.clone(), spec.clone())),
                _ => None,
            })
            .expect("the text is prepared before its turn");
        assert_eq!(spec.colour, Color::rgb(0x12, 0x34, 0x56));
        assert_eq!(spec.align, TextAlign::Right);
        assert_eq!(spec.size_px, 108.0, "10% of 1080 px");
        let ticker = spec.ticker.expect("a ticker");
        assert_eq!(ticker.speed_px_per_s, 480.0, "25% of 1920 px a second");
        playback.mark_ready(text_key.clone());
        let frame = playback.tick(at(5_200));
        let layers = &frame.scene.zones[0].layers;
        assert_eq!(layers.len(), 2, "mid-slide, both show: {layers:?}");
        assert_eq!(layers[1].content, text_key);
        // A slide moves the pictures sideways at full opacity (a crossfade would fade them).
        assert!(layers[1].offset[0] != 0.0, "{layers:?}");
        assert!(
            layers.iter().all(|layer| layer.opacity == 1.0),
            "{layers:?}"
        );
    }

    /// Every wanted thing ready, then the layers of the zone at `millis`.
    fn layers_at(playback: &mut Playback, millis: i64) -> Vec<crate::render::Layer> {
        let frame = playback.tick(at(millis));
        for want in &frame.wanted {
            playback.mark_ready(want.key());
        }
        playback.tick(at(millis)).scene.zones[0].layers.clone()
    }

    #[test]
    fn each_items_fit_and_transition_reach_the_scene() {
        let mut playback = playback();
        playback
            .activate(manifest(
                "version: 1\nname: demo\ndefaults: { fit: stretch }\nitems:\n  - image: { file: red.png, duration: 4s }\n  - image: { file: blue.png, duration: 4s, transition: { crossfade: 1s } }\n  - clock: { duration: 4s, transition: { slide: 1s } }\n  - video: { file: clip.png, duration: 4s, fit: contain }\n",
            ))
            .unwrap();
        let first = layers_at(&mut playback, 0);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].fit, Fit::Stretch, "the defaults' fit");
        // Half-way through blue's crossfade: both show, blue half opaque.
        layers_at(&mut playback, 4_000);
        let crossfade = layers_at(&mut playback, 4_500);
        assert_eq!(crossfade.len(), 2, "{crossfade:?}");
        assert!((crossfade[1].opacity - 0.5).abs() < 0.01, "{crossfade:?}");
        assert_eq!(crossfade[1].offset, [0.0, 0.0]);
        // Half-way through the clock's slide: both at full opacity, shifted sideways.
        layers_at(&mut playback, 8_000);
        let slide = layers_at(&mut playback, 8_500);
        assert_eq!(slide.len(), 2, "{slide:?}");
        assert!(slide.iter().all(|layer| layer.opacity == 1.0), "{slide:?}");
        assert!(slide[1].offset[0] != 0.0, "{slide:?}");
        // The video's own fit wins over the defaults'.
        layers_at(&mut playback, 12_000);
        let video = layers_at(&mut playback, 12_500);
        assert_eq!(video.last().unwrap().fit, Fit::Contain, "{video:?}");
    }

    #[test]
    fn an_offer_items_transition_reaches_the_scene() {
        let mut manifest = (*manifest(
            "version: 1\nname: demo\nitems:\n  - image: { file: red.png, duration: 4s }\n  - offer: { slot: promo, duration: 4s, transition: { crossfade: 2s } }\n",
        ))
        .clone();
        manifest.offers.insert(
            "promo".into(),
            vitrine_core::offer::OfferRotation {
                entries: vec![offer("croissant", &[])],
                fallback: None,
            },
        );
        let mut playback = playback();
        playback.activate(Arc::new(manifest)).unwrap();
        layers_at(&mut playback, 0);
        layers_at(&mut playback, 4_000);
        let crossfade = layers_at(&mut playback, 5_000);
        assert_eq!(crossfade.len(), 2, "{crossfade:?}");
        assert!((crossfade[1].opacity - 0.5).abs() < 0.01, "{crossfade:?}");
    }

    #[test]
    fn a_text_items_background_reaches_the_renderer() {
        let mut playback = playback();
        playback
            .activate(manifest(
                "version: 1\nname: demo\nitems:\n  - text: { text: Sale, background: \"#ff000080\", duration: 5s }\n  - clock: { background: \"#00ff00\", color: \"#000000\", size: 20%, align: left, duration: 5s }\n",
            ))
            .unwrap();
        let backgrounds = |frame: &Frame| -> Vec<Option<Color>> {
            frame
                .wanted
                .iter()
                .filter_map(|want| match want {
                    Want::Text { spec, .. } => Some(spec.background),
                    _ => None,
                })
                .collect()
        };
        let frame = playback.tick(at(0));
        let clock = frame
            .wanted
            .iter()
            .find_map(|want| match want {
                Want::Text { spec, .. } if spec.background == Some(Color::rgb(0, 255, 0)) => {
                    Some(spec.clone())
                }
                _ => None,
            })
            .expect("the clock comes next");
        assert_eq!(
            (clock.colour, clock.align, clock.size_px),
            (Color::rgb(0, 0, 0), TextAlign::Left, 216.0),
            "the clock's colour, alignment and 20% of 1080 px"
        );
        assert_eq!(
            backgrounds(&frame),
            vec![
                Some(Color::rgb(0, 255, 0)),
                Some(Color {
                    r: 255,
                    g: 0,
                    b: 0,
                    a: 128
                }),
            ],
            "the clock that comes next, then the text on screen"
        );
    }

    #[test]
    fn a_new_version_of_the_playlist_starts_a_new_play() {
        let one_item =
            "version: 1\nname: demo\nitems:\n  - image: { file: red.png, duration: 1h }\n";
        let mut playback = playback();
        playback.activate(manifest(one_item)).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        playback.tick(at(0));
        let mut newer = (*manifest(&one_item.replace("red.png", "blue.png"))).clone();
        newer.playlist_version = 4;
        playback.activate(Arc::new(newer)).unwrap();
        let frame = playback.tick(at(500));
        assert_eq!(shown(&frame)[0].last().unwrap().0, key("blue"));
        assert_eq!(frame.started.len(), 1, "blue's first frame is timed");
        let finished = playback.take_finished();
        assert_eq!(finished.len(), 1, "red's play ended with the old version");
        assert_eq!(finished[0].duration_ms(), 500);
        assert!(!finished[0].completed, "cut short by the new version");
    }

    #[test]
    fn an_unknown_clock_shows_the_fallback_until_the_time_is_known_again() {
        let mut playback = playback();
        playback.activate(manifest(RED_BLUE)).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        playback.tick(at(0));
        playback.set_clock(ClockState::Unknown);
        let frame = playback.tick(at(500));
        assert_eq!(shown(&frame), vec![vec![(key("splash"), 1.0)]]);
        assert_eq!(frame.next_deadline, Some(at(5_500)), "looked at again");
        assert_eq!(frame.scene.overlay.as_deref(), Some(CLOCK_UNKNOWN_OVERLAY));
        let ended = playback.take_finished();
        assert_eq!(ended.len(), 1, "red's play ends when the time is lost");
        assert_eq!(ended[0].clock, ClockState::Unknown);
        assert!(!ended[0].completed);
        playback.tick(at(1_500));
        assert!(
            playback.take_finished().is_empty(),
            "nothing plays, nothing counts"
        );

        playback.set_clock(ClockState::Synced);
        let frame = playback.tick(at(2_000));
        assert_eq!(shown(&frame), vec![vec![(key("red"), 1.0)]]);
    }

    #[test]
    fn impressions_carry_the_clock_state_of_their_play() {
        let mut playback = playback();
        playback.activate(manifest(RED_BLUE)).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        playback.tick(at(0));
        playback.set_clock(ClockState::Estimated);
        playback.tick(at(1000));
        playback.set_clock(ClockState::Synced);
        playback.tick(at(2000));
        let clocks: Vec<ClockState> = playback
            .take_finished()
            .iter()
            .map(|impression| impression.clock)
            .collect();
        assert_eq!(
            clocks,
            vec![ClockState::Estimated, ClockState::Estimated],
            "a play that began or ended on an estimated clock is estimated"
        );
    }

    /// The texts a frame wants laid out, in order.
    fn wanted_texts(frame: &Frame) -> Vec<String> {
        frame
            .wanted
            .iter()
            .filter_map(|want| match want {
                Want::Text { spec, .. } => Some(spec.text.clone()),
                Want::Media { .. } | Want::OfferCard { .. } | Want::Video { .. } => None,
            })
            .collect()
    }

    /// Marks everything `frame` wants as prepared, as the render loop does.
    fn prepare_all(playback: &mut Playback, frame: &Frame) {
        for want in &frame.wanted {
            playback.mark_ready(want.key());
        }
    }

    fn revoked(screen: Option<&str>) -> NotPlaying {
        NotPlaying {
            problem: crate::problem::Problem::TokenRevoked,
            screen: screen.map(str::to_owned),
        }
    }

    #[test]
    fn with_nothing_to_play_the_screen_says_why_with_its_name_and_version() {
        let mut playback = playback();
        playback.set_not_playing(Some(revoked(Some("door"))));
        // The page's text is laid out first; the splash stands in for that frame.
        let frame = playback.tick(at(0));
        assert_eq!(shown(&frame), vec![vec![(key("splash"), 1.0)]]);
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            wanted_texts(&frame),
            vec![
                cover::NOT_PLAYING_HEADING.to_owned(),
                "This screen's token was revoked at HQ".to_owned(),
                crate::problem::Problem::TokenRevoked.hint().to_owned(),
                format!("Screen: door · vitrine-player {version}"),
            ]
        );
        prepare_all(&mut playback, &frame);
        let frame = playback.tick(at(100));
        assert_eq!(frame.scene.background, cover::NOT_PLAYING_BACKGROUND);
        assert_eq!(frame.scene.zones.len(), 4);
        assert!(frame.scene.zones.iter().all(|zone| zone.background
            == Some(cover::NOT_PLAYING_BACKGROUND)
            && zone.layers.len() == 1));
        assert_eq!(
            playback.said(),
            Some(&crate::problem::Problem::TokenRevoked)
        );

        // A screen whose name the player does not know yet says so.
        playback.set_not_playing(Some(revoked(None)));
        let frame = playback.tick(at(200));
        assert_eq!(
            wanted_texts(&frame).last().unwrap(),
            &format!("Screen: not known yet · vitrine-player {version}")
        );

        // The problem clears: the splash again, and nothing said.
        playback.set_not_playing(None);
        let frame = playback.tick(at(300));
        assert_eq!(shown(&frame), vec![vec![(key("splash"), 1.0)]]);
        assert_eq!(playback.said(), None);
    }

    #[test]
    fn content_that_can_play_plays_whatever_the_problem() {
        let mut playback = playback();
        playback.activate(manifest(RED_BLUE)).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        playback.set_not_playing(Some(NotPlaying {
            problem: crate::problem::Problem::Unreachable {
                server: "hq.example:443".into(),
                cause: crate::problem::Unreachable::ConnectionRefused,
            },
            screen: Some("door".into()),
        }));
        for millis in [0, 500, 1500] {
            let frame = playback.tick(at(millis));
            assert_ne!(frame.scene.background, cover::NOT_PLAYING_BACKGROUND);
            assert!(wanted_texts(&frame).is_empty(), "no page is prepared");
            assert_eq!(playback.said(), None);
        }
        assert_eq!(
            shown(&playback.tick(at(1500))),
            vec![vec![(key("blue"), 1.0)]]
        );
    }

    #[test]
    fn a_pinned_fallback_stays_up_with_the_problem_in_a_line_over_it() {
        let mut playback = playback();
        playback.set_fallback_pinned();
        playback.set_not_playing(Some(revoked(Some("door"))));
        let frame = playback.tick(at(0));
        assert_eq!(shown(&frame), vec![vec![(key("splash"), 1.0)]]);
        assert_eq!(
            frame.scene.overlay.as_deref(),
            Some("Not playing: This screen's token was revoked at HQ")
        );
    }

    #[test]
    fn a_clock_known_wrong_is_said_on_the_page_instead_of_the_clock_unknown_line() {
        let mut playback = playback();
        playback.activate(manifest(RED_BLUE)).unwrap();
        playback.mark_ready(key("red"));
        playback.set_clock(ClockState::Unknown);
        playback.set_not_playing(Some(NotPlaying {
            problem: crate::problem::Problem::ClockOff {
                behind: SignedDuration::from_hours(30 * 24),
            },
            screen: Some("door".into()),
        }));
        let frame = playback.tick(at(0));
        assert_eq!(frame.scene.overlay.as_deref(), Some(CLOCK_UNKNOWN_OVERLAY));
        assert!(
            wanted_texts(&frame).contains(&"This screen's clock is off by 30 days".to_owned()),
            "{:?}",
            wanted_texts(&frame)
        );
        prepare_all(&mut playback, &frame);
        let frame = playback.tick(at(100));
        assert_eq!(frame.scene.background, cover::NOT_PLAYING_BACKGROUND);
        assert_eq!(frame.scene.overlay, None, "the page says it in full");
        assert!(
            frame.next_deadline.is_some(),
            "the clock is looked at again"
        );
    }

    #[test]
    fn a_crossfade_keeps_the_outgoing_item_under_the_incoming_one() {
        let mut playback = playback();
        playback
            .activate(manifest(
                "version: 1\nname: demo\ndefaults: { transition: { crossfade: 400ms } }\nitems:\n  - image: { file: red.png, duration: 1s }\n  - image: { file: blue.png, duration: 1s }\n",
            ))
            .unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        playback.tick(at(0));
        assert!(!playback.tick(at(500)).animating);
        playback.tick(at(1000));
        let midway = playback.tick(at(1200));
        assert!(midway.animating);
        let layers = &shown(&midway)[0];
        assert_eq!(layers.len(), 2, "{layers:?}");
        assert_eq!(
            layers[0],
            (key("red"), 1.0),
            "the outgoing item stays opaque"
        );
        assert_eq!(layers[1].0, key("blue"));
        assert!((layers[1].1 - 0.5).abs() < 0.05, "halfway: {}", layers[1].1);
        assert_eq!(
            shown(&playback.tick(at(1500))),
            vec![vec![(key("blue"), 1.0)]]
        );
    }

    #[test]
    fn zones_are_drawn_bottom_to_top_with_text_prepared_for_their_size() {
        let mut playback = playback();
        playback
            .activate(manifest(
                "version: 1\nname: demo\nlayout:\n  banner:\n    area: { x: 0%, y: 80%, width: 100%, height: 20% }\n    z: 2\n    items:\n      - text: { text: \"Hello\", size: 50%, duration: 10s }\n  main:\n    items:\n      - image: { file: red.png, duration: 10s }\n",
            ))
            .unwrap();
        let frame = playback.tick(at(0));
        let text = frame
            .wanted
            .iter()
            .find_map(|want| match want {
                Want::Text { spec, zone_px, .. } => Some((spec.clone(), *zone_px)),
                Want::Media { .. } | Want::OfferCard { .. } | Want::Video { .. } => None,
            })
            .expect("the banner's text is wanted");
        assert_eq!(text.1, (1920, 216));
        assert_eq!(text.0.text, "Hello");
        assert!(
            (text.0.size_px - 108.0).abs() < 0.5,
            "half the zone's height"
        );
        for want in &frame.wanted {
            playback.mark_ready(want.key());
        }
        let frame = playback.tick(at(10));
        let rects: Vec<[f32; 4]> = frame.scene.zones.iter().map(|zone| zone.rect).collect();
        assert_eq!(
            rects,
            vec![[0.0, 0.0, 1.0, 1.0], [0.0, 0.8, 1.0, 0.2]],
            "main under banner"
        );
    }

    fn offer(offer_id: &str, segments: &[&str]) -> vitrine_core::offer::OfferEntry {
        vitrine_core::offer::OfferEntry {
            offer_id: offer_id.into(),
            campaign: Some("winter".into()),
            arm: vitrine_core::offer::Arm::Treatment,
            weight: 1,
            priority: 0,
            windows: Vec::new(),
            cap_per_hour: None,
            holdout_basis_points: 0,
            segments: segments.iter().map(|segment| segment.to_string()).collect(),
            card: vitrine_core::offer::OfferCardData {
                title: format!("{offer_id} title"),
                price: Some(vitrine_core::offer::CardPrice {
                    cents: 1299,
                    old_cents: Some(1599),
                    currency: "EUR".into(),
                }),
                badge: None,
                validity: None,
                image_file: Some("product.png".into()),
                has_destination: true,
                unit_price: None,
            },
        }
    }

    fn offer_manifest(entries: Vec<vitrine_core::offer::OfferEntry>) -> Arc<Manifest> {
        let mut manifest = (*manifest(
            "version: 1\nname: demo\nitems:\n  - offer: { slot: promo, duration: 10s }\n  - image: { file: product.png, duration: 10s }\n",
        ))
        .clone();
        manifest.offers.insert(
            "promo".into(),
            vitrine_core::offer::OfferRotation {
                entries,
                fallback: None,
            },
        );
        manifest.store = Some(vitrine_core::manifest::StoreInfo {
            code: "PAR-01".into(),
            locale: "fr-FR".into(),
            currency: "EUR".into(),
        });
        manifest.qr_base_url = Some("https://hq.example/".into());
        Arc::new(manifest)
    }

    fn card_of(frame: &Frame) -> Option<OfferCard> {
        frame.wanted.iter().find_map(|want| match want {
            Want::OfferCard { card, .. } => Some((**card).clone()),
            _ => None,
        })
    }

    #[test]
    fn an_offer_slot_shows_the_picked_offer_with_a_qr_code_for_this_play() {
        let mut playback = playback();
        let device_key = [7u8; 32];
        playback.set_qr_key(device_key);
        playback
            .activate(offer_manifest(vec![offer("croissant", &[])]))
            .unwrap();
        let frame = playback.tick(at(0));
        let kinds: Vec<ContentKey> = frame.wanted.iter().map(Want::key).collect();
        assert_eq!(
            kinds[kinds.len() - 2],
            key("product"),
            "the picture before the card"
        );
        let card = card_of(&frame).expect("a card is wanted");
        assert_eq!(card.title, "croissant title");
        let price = card.price.clone().expect("a price");
        assert_eq!((price.cents, price.old_cents), (1299, Some(1599)));
        assert_eq!(card.locale, "fr-FR");
        let url = card.qr_url.clone().expect("a QR code");
        let token = url.strip_prefix("https://hq.example/q/").expect(&url);
        let play = vitrine_core::qr_token::decode(token, |screen| {
            (screen == "lobby").then_some(device_key)
        })
        .unwrap();
        assert_eq!(play.offer_id, "croissant");
        assert_eq!(play.played_at, at(0));

        for want in &frame.wanted {
            playback.mark_ready(want.key());
        }
        let frame = playback.tick(at(10));
        assert_eq!(shown(&frame)[0], vec![(card.key((1920, 1080)), 1.0)]);
        playback.finish(at(4_000));
        let impressions = playback.take_finished();
        let offer = impressions[0]
            .offer
            .as_ref()
            .expect("the offer is in the impression");
        assert_eq!(offer.offer_id, "croissant");
        assert_eq!(offer.campaign.as_deref(), Some("winter"));
        assert_eq!(offer.price, card.price, "the price the card showed");
        // An offer's campaign is the offer's; the play's own campaign is that of its rule.
        assert_eq!(impressions[0].campaign, None);
    }

    #[test]
    fn a_card_without_a_price_or_a_destination_shows_neither() {
        let mut playback = playback();
        playback.set_qr_key([7u8; 32]);
        let mut control = offer("croissant", &[]);
        control.card.price = None;
        control.card.has_destination = false;
        playback.activate(offer_manifest(vec![control])).unwrap();
        let card = card_of(&playback.tick(at(0))).expect("a card is wanted");
        assert_eq!(
            card.price, None,
            "no price, not the store's currency with 0 cents"
        );
        assert_eq!(card.qr_url, None, "no QR code that leads nowhere");
        playback.mark_ready(card.key((1920, 1080)));
        playback.tick(at(10));
        playback.finish(at(4_000));
        let impressions = playback.take_finished();
        let offer = impressions[0].offer.as_ref().expect("an offer play");
        assert_eq!(offer.price, None, "no price shown, none recorded");
    }

    #[test]
    fn a_slot_hq_has_not_filled_is_skipped_and_the_zone_keeps_its_item() {
        let mut playback = playback();
        let mut manifest = (*offer_manifest(vec![offer("croissant", &[])])).clone();
        manifest.offers.clear();
        playback.activate(Arc::new(manifest)).unwrap();
        playback.mark_ready(key("product"));
        // 10 s into the loop: the image; then the empty slot's turn keeps the image up.
        assert_eq!(
            shown(&playback.tick(at(10_000)))[0],
            vec![(key("product"), 1.0)]
        );
        assert_eq!(
            shown(&playback.tick(at(20_500)))[0],
            vec![(key("product"), 1.0)]
        );
    }

    #[test]
    fn a_playlist_for_the_other_orientation_raises_an_alert() {
        let portrait = "version: 1\nname: tall\norientation: portrait\nitems:\n  - image: { file: red.png, duration: 1s }\n";
        let landscape = portrait.replace("portrait", "landscape");
        let alert_on = |yaml: &str, screen_px| {
            let mut playback = Playback::new(digest("splash"), screen_px, Rotation::Deg0);
            playback.activate(manifest(yaml)).unwrap();
            playback.layout_alert().map(str::to_owned)
        };
        assert_eq!(
            alert_on(portrait, (1920, 1080)).as_deref(),
            Some(
                "playlist `tall` is written for portrait screens (its `orientation`), and this \
                 screen is landscape (1920x1080); set `rotation` to 90 or 270 in the player's \
                 configuration to match how the screen is mounted, or give it a landscape playlist"
            )
        );
        assert_eq!(alert_on(portrait, (1080, 1920)), None);
        assert_eq!(alert_on(&landscape, (1920, 1080)), None);
        assert!(alert_on(&landscape, (1080, 1920)).is_some());
        // A playlist that says nothing is for landscape screens.
        let unsaid = portrait.replace("orientation: portrait\n", "");
        assert!(alert_on(&unsaid, (1080, 1920)).is_some());
    }

    #[test]
    fn offers_shown_before_a_restart_count_towards_their_cap() {
        let mut capped = offer("capped", &[]);
        capped.cap_per_hour = Some(1);
        capped.priority = 1;
        let manifest = offer_manifest(vec![capped, offer("other", &[])]);
        let title_at = |remembered: Vec<(String, Timestamp)>| {
            let mut playback = playback();
            playback.remember_offers(remembered);
            playback.activate(manifest.clone()).unwrap();
            card_of(&playback.tick(at(0))).map(|card| card.title)
        };
        assert_eq!(title_at(Vec::new()).as_deref(), Some("capped title"));
        assert_eq!(
            title_at(vec![("capped".into(), at(-60_000))]).as_deref(),
            Some("other title"),
            "the play a minute before the restart used the hour's one play"
        );
    }

    #[test]
    fn a_trigger_steers_the_next_slots_to_its_segment() {
        let mut playback = playback();
        playback
            .activate(offer_manifest(vec![
                offer("for-families", &["families"]),
                offer("for-students", &["students"]),
            ]))
            .unwrap();
        let picks = |playback: &mut Playback, start: i64| {
            card_of(&playback.tick(at(start))).map(|card| card.title)
        };
        playback.trigger("students".into(), at(1_000_000), at(0));
        // Every slot that starts while the trigger holds shows the students' offer.
        for start in (20_000..200_000).step_by(20_000) {
            assert_eq!(
                picks(&mut playback, start).as_deref(),
                Some("for-students title"),
                "slot at {start}"
            );
        }
    }

    #[test]
    fn an_interrupt_covers_the_screen_then_the_zones_start_again() {
        let mut playback = playback();
        playback.activate(manifest(RED_BLUE)).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        playback.tick(at(0));
        playback.interrupt(
            7,
            "Please leave by the nearest exit".into(),
            at(5_000),
            at(400),
        );
        let ended = playback.take_finished();
        assert_eq!(ended.len(), 1);
        assert_eq!(
            ended[0].duration_ms(),
            400,
            "red's play ends when the interrupt begins"
        );
        assert!(!ended[0].completed, "the interrupt cut it short");

        let frame = playback.tick(at(500));
        let text_keys: Vec<ContentKey> = frame.wanted.iter().map(Want::key).collect();
        assert_eq!(
            shown(&frame),
            vec![vec![(key("splash"), 1.0)]],
            "text not laid out yet"
        );
        for text_key in &text_keys {
            playback.mark_ready(text_key.clone());
        }
        let frame = playback.tick(at(600));
        assert_eq!(
            shown(&frame),
            vec![
                vec![(text_keys[0].clone(), 1.0)],
                vec![(text_keys[1].clone(), 1.0)],
                vec![]
            ],
            "the heading in its band, the message, the bottom band"
        );
        assert_eq!(frame.scene.zones[0].background, Some(cover::ALERT_RED));
        assert_eq!(frame.next_deadline, Some(at(5_000)));
        assert_eq!(
            playback
                .active_interrupt(at(600))
                .map(|interrupt| interrupt.id),
            Some(7)
        );
        assert!(playback.showing().is_empty(), "no zone shows an item");

        // At 5 s the loop is on blue (its third turn), and it starts as a new play.
        let frame = playback.tick(at(5_000));
        assert_eq!(shown(&frame), vec![vec![(key("blue"), 1.0)]]);
        assert_eq!(frame.started.len(), 1);
    }

    #[test]
    fn identify_shows_the_name_over_what_plays_without_ending_or_journalling_a_play() {
        let mut playback = playback();
        playback.activate(manifest(RED_BLUE)).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        playback.tick(at(0));
        playback.identify("lobby-left".into(), at(10_400));
        assert!(playback.take_finished().is_empty(), "identify ends no play");

        let frame = playback.tick(at(500));
        assert_eq!(
            shown(&frame),
            vec![vec![(key("red"), 1.0)]],
            "the name's text is not laid out yet: the content shows as it is"
        );
        let name_keys: Vec<ContentKey> = frame
            .wanted
            .iter()
            .map(Want::key)
            .filter(|wanted| matches!(wanted, ContentKey::Generated(_)))
            .collect();
        assert_eq!(name_keys.len(), 1, "{:?}", frame.wanted);
        playback.mark_ready(name_keys[0].clone());
        let frame = playback.tick(at(600));
        assert_eq!(
            shown(&frame),
            vec![vec![(key("red"), 1.0)], vec![(name_keys[0].clone(), 1.0)]],
            "the name over the zone, which plays on under it"
        );
        assert_eq!(
            frame.scene.zones[1].background,
            Some(cover::IDENTIFY_BACKGROUND)
        );
        assert_eq!(frame.scene.zones[1].rect, [0.0, 0.0, 1.0, 1.0]);
        assert!(
            frame
                .next_deadline
                .is_some_and(|deadline| deadline <= at(10_400))
        );
        assert!(playback.take_finished().is_empty());
        // Red's turn ends under the page as it would have: one completed play, no more.
        playback.tick(at(1_000));
        let finished = playback.take_finished();
        assert_eq!(finished.len(), 1);
        assert!(finished[0].completed);
        // After ten seconds the content alone again, where the loop is.
        let frame = playback.tick(at(10_400));
        assert_eq!(frame.scene.zones.len(), 1);
        assert!(!frame.wanted.iter().any(|want| want.key() == name_keys[0]));
    }

    #[test]
    fn a_cancelled_interrupt_leaves_the_screen_at_once_and_an_older_one_shows_again() {
        let mut playback = playback();
        playback.activate(manifest(RED_BLUE)).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        playback.tick(at(0));
        playback.interrupt(1, "Storm warning".into(), at(60_000), at(100));
        playback.interrupt(2, "Spill in aisle 4".into(), at(30_000), at(200));
        assert_eq!(playback.covered_until(at(300)), Some(at(60_000)));
        let message_of = |playback: &mut Playback, now: i64| -> Option<String> {
            let frame = playback.tick(at(now));
            frame.wanted.iter().find_map(|want| match want {
                Want::Text { spec, .. } if spec.text != cover::ALERT_HEADING => {
                    Some(spec.text.clone())
                }
                _ => None,
            })
        };
        assert_eq!(
            message_of(&mut playback, 300).as_deref(),
            Some("Spill in aisle 4")
        );
        assert!(
            !playback.cancel_interrupt(99),
            "an unknown id changes nothing"
        );
        assert!(playback.cancel_interrupt(2));
        assert_eq!(
            message_of(&mut playback, 400).as_deref(),
            Some("Storm warning")
        );
        assert_eq!(
            playback
                .active_interrupt(at(400))
                .map(|interrupt| interrupt.id),
            Some(1)
        );
        assert!(playback.cancel_interrupt(1));
        assert_eq!(playback.covered_until(at(500)), None);
        // Long before either would have ended, the playlist is back (red's second turn).
        let frame = playback.tick(at(2_500));
        assert_eq!(shown(&frame), vec![vec![(key("red"), 1.0)]]);
        assert_eq!(
            playback.showing(),
            [ZoneShowing {
                zone: "main".into(),
                item: playback_item_id(&playback)
            }]
        );
    }

    /// The id of the item the only zone shows.
    fn playback_item_id(playback: &Playback) -> String {
        playback.active.as_ref().unwrap().zones[0]
            .1
            .showing
            .as_ref()
            .unwrap()
            .item_id
            .clone()
    }

    fn video_keys(frame: &Frame) -> Vec<(ContentKey, Option<f32>)> {
        frame
            .wanted
            .iter()
            .filter_map(|want| match want {
                Want::Video { key, sound, .. } => Some((key.clone(), *sound)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_video_play_has_its_own_key_and_the_next_one_is_wanted_ahead() {
        let mut playback = playback();
        playback
            .activate(manifest(
                "version: 1\nname: demo\nlayout:\n  main:\n    volume: 50%\n    items:\n      - video: { file: clip.mp4, duration: 2s, sound: true, volume: 80% }\n",
            ))
            .unwrap();
        let first = video_keys(&playback.tick(at(0)));
        assert_eq!(first.len(), 2, "this play and the next: {first:?}");
        let (this_play, next_play) = (&first[1].0, &first[0].0);
        assert_ne!(this_play, next_play, "the next turn prerolls apart");
        let sound = first[1].1.expect("the item plays its sound");
        assert!((sound - 0.4).abs() < 1e-6, "item 80% of zone 50%: {sound}");
        playback.mark_ready(this_play.clone());
        playback.mark_ready(next_play.clone());
        assert_eq!(shown(&playback.tick(at(10)))[0][0].0, *this_play);
        // At the turn's end the prerolled next play takes over, with no frame in between.
        assert_eq!(shown(&playback.tick(at(2_000)))[0][0].0, *next_play);
    }

    #[test]
    fn a_video_that_fails_mid_play_keeps_its_last_frame_and_is_journalled_as_cut_short() {
        let mut playback = playback();
        playback
            .activate(manifest(
                "version: 1\nname: demo\nitems:\n  - video: { file: clip.mp4, duration: 10s }\n  - image: { file: red.png, duration: 10s }\n",
            ))
            .unwrap();
        let video = video_keys(&playback.tick(at(0)))
            .into_iter()
            .map(|(key, _)| key)
            .next()
            .unwrap();
        playback.mark_ready(video.clone());
        playback.mark_ready(key("red"));
        playback.tick(at(100));
        playback.video_failed(video.clone(), at(4_000));
        let frame = playback.tick(at(5_000));
        assert_eq!(
            shown(&frame)[0],
            vec![(video.clone(), 1.0)],
            "the last frame stays"
        );
        assert!(
            video_keys(&frame).is_empty(),
            "the failed play is not asked for again"
        );
        playback.tick(at(10_000));
        let finished = playback.take_finished();
        assert_eq!(finished.len(), 1);
        assert_eq!(
            finished[0].duration_ms(),
            3_900,
            "shown until the error, not after"
        );
        assert!(!finished[0].completed, "cut short by the error");
    }

    /// Red all day, with blue put on the zone for its first 2 s of every 10 by HQ's campaign
    /// `winter-sale`: campaigns reach a screen as interrupt rules named `campaign:NAME`, in
    /// manifest version 17.
    fn campaign_manifest() -> Arc<Manifest> {
        let mut manifest = Arc::unwrap_or_clone(manifest(
            "version: 1\nname: demo\nitems:\n  - image: { id: red, file: red.png, duration: 1s }\ninterrupts:\n  - name: winter\n    every: 10s\n    priority: 5\n    items:\n      - image: { id: blue, file: blue.png, duration: 2s }\n",
        ));
        manifest.version = 17;
        let rule = manifest.playlist.zones[0]
            .rules
            .iter_mut()
            .find(|rule| rule.name == "winter")
            .expect("the interrupt rule");
        rule.name = "campaign:winter-sale".into();
        Arc::new(manifest)
    }

    #[test]
    fn impressions_carry_their_campaign_and_the_manifest_and_player_versions() {
        let mut playback = playback();
        playback.activate(campaign_manifest()).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        for millisecond in (0..3500).step_by(50) {
            playback.tick(at(millisecond));
        }
        playback.finish(at(3500));
        let impressions = playback.take_finished();
        let campaigns: Vec<(&str, Option<&str>)> = impressions
            .iter()
            .map(|impression| (impression.item_id.as_str(), impression.campaign.as_deref()))
            .collect();
        assert_eq!(
            campaigns,
            vec![("blue", Some("winter-sale")), ("red", None), ("red", None)],
            "only the campaign rule's play names the campaign"
        );
        assert_eq!(impressions[0].media_sha256, Some(digest("blue")));
        for impression in &impressions {
            assert_eq!(impression.manifest_version, 17);
            assert_eq!(impression.playlist_version, 3);
            assert_eq!(
                impression.player_version.as_deref(),
                Some(env!("CARGO_PKG_VERSION"))
            );
            assert_eq!(impression.previous, None, "the journal links records");
        }
    }

    #[test]
    fn impressions_record_the_worst_display_state_of_their_start_and_end() {
        let drm = crate::display_power::fake::FakeDrm::new();
        let mut probe = crate::display_power::DisplayPowerProbe::new(drm.path());
        let mut reading = std::time::Instant::now();
        // As the player does every frame: the display's state, read from DRM, before the tick.
        let mut tick = |playback: &mut Playback, dpms: &str, millisecond: i64| {
            drm.connector("card0-HDMI-A-1", "connected", Some(dpms), Some("enabled"));
            reading += crate::display_power::READING_MAX_AGE;
            playback.set_display(probe.reading(reading));
            playback.tick(at(millisecond));
        };
        let mut playback = playback();
        playback.activate(manifest(RED_BLUE)).unwrap();
        playback.mark_ready(key("red"));
        playback.mark_ready(key("blue"));
        tick(&mut playback, "On", 0);
        tick(&mut playback, "On", 1000);
        tick(&mut playback, "Standby", 2000);
        tick(&mut playback, "On", 3000);
        tick(&mut playback, "Off", 4000);
        tick(&mut playback, "Off", 5000);
        tick(&mut playback, "On", 6000);
        // A display that can no longer be read at the end: not known to have been on.
        drm.connector("card0-HDMI-A-1", "connected", None, None);
        reading += crate::display_power::READING_MAX_AGE;
        playback.set_display(probe.reading(reading));
        playback.finish(at(6500));
        let states: Vec<DisplayPower> = playback
            .take_finished()
            .iter()
            .map(|impression| impression.display)
            .collect();
        assert_eq!(
            states,
            vec![
                DisplayPower::On,
                DisplayPower::Off,
                DisplayPower::Off,
                DisplayPower::Off,
                DisplayPower::Off,
                DisplayPower::Off,
                DisplayPower::Unknown,
            ],
            "on throughout; ended in standby; began in standby; ended off; off throughout; began \
             off; began on and ended unknown"
        );
    }
}
