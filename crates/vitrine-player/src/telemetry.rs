//! Frame telemetry: how long frames take, how many refreshes were missed, how many frames showed a
//! transition gap, and how late each item's first frame came. The render loop feeds it one record
//! per presented frame; the summary goes to the logs, to HQ with the heartbeat, and on screen with
//! `--show-stats`.
//!
//! Definitions, precisely:
//! - **frame time**: from the start of the frame's work (`started`) to the instant it was presented
//!   (`presented`: after `queue.present`, or when the GPU finished an offscreen frame).
//! - **missed refreshes**: counted only between two frames while something moves (the earlier frame
//!   was [`FrameReport::animating`]): `round(gap between presents / refresh) - 1`. An idle screen
//!   that redraws once per item change misses nothing.
//! - **transition gap**: a presented frame in which some zone with layers was not fully covered: a
//!   layer's texture was missing, or the layers drawn at full opacity did not cover the zone (see
//!   [`FrameReport::gap_zones`]). A correct crossfade or slide never makes one.
//! - **first-frame latency**: for an item announced with [`FrameTelemetry::expect_item`], the first
//!   presented frame that drew its content, minus its scheduled start. The player asks the schedule
//!   about the instant its frame will be presented (see [`FrameTelemetry::presentation_lead`]), so a
//!   frame may show an item up to half a refresh before its start, when that frame is the one
//!   nearest to it: the latency is then the distance either way, and the signed offsets are kept
//!   for `--stats-file`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::render::{ContentKey, FrameReport};

/// Frame times kept for the percentiles: the last minute at 60 Hz.
const WINDOW: usize = 3600;

pub struct FrameTelemetry {
    refresh: Duration,
    frame_times: VecDeque<Duration>,
    latencies: VecDeque<Duration>,
    frames: u64,
    missed_refreshes: u64,
    transition_gaps: u64,
    late_items: u64,
    items_started: u64,
    last_present: Option<(Instant, bool)>,
    expected: HashMap<ContentKey, Instant>,
    /// A smoothed frame time: how far ahead of its presentation a frame is decided.
    recent_frame_time: Duration,
    /// Every frame and every item start since start-up, for `--stats-file`; `None` unless asked.
    log: Option<TelemetryLog>,
}

/// Every frame's time and every item's first-frame offset, unbounded: what `--stats-file` writes
/// so that a benchmark can compute its own percentiles across runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TelemetryLog {
    /// Each presented frame's time, in milliseconds.
    pub frame_ms: Vec<f64>,
    /// Whether that frame moved (a transition, a ticker): only those are due every refresh.
    pub frame_animating: Vec<bool>,
    /// Whether that frame left a zone uncovered (a transition gap).
    pub frame_gap: Vec<bool>,
    /// Each item's first presented frame minus its scheduled start, in milliseconds: negative
    /// when the frame nearest the start came before it.
    pub first_frame_offset_ms: Vec<f64>,
}

/// Totals since start and percentiles over the recent window: what goes to the logs and HQ.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TelemetrySummary {
    pub frames: u64,
    pub refresh_ms: f64,
    pub frame_time_p50_ms: f64,
    pub frame_time_p99_ms: f64,
    pub frame_time_max_ms: f64,
    pub missed_refreshes: u64,
    pub transition_gaps: u64,
    pub items_started: u64,
    /// Items whose first frame came more than one refresh away from their scheduled start.
    pub late_items: u64,
    pub first_frame_latency_p50_ms: f64,
    pub first_frame_latency_max_ms: f64,
}

impl FrameTelemetry {
    /// `refresh` is the display's refresh interval (16.7 ms at 60 Hz).
    pub fn new(refresh: Duration) -> Self {
        Self {
            refresh: refresh.max(Duration::from_micros(100)),
            frame_times: VecDeque::with_capacity(WINDOW),
            latencies: VecDeque::with_capacity(256),
            frames: 0,
            missed_refreshes: 0,
            transition_gaps: 0,
            late_items: 0,
            items_started: 0,
            last_present: None,
            expected: HashMap::new(),
            recent_frame_time: Duration::ZERO,
            log: None,
        }
    }

    /// Keeps every frame and item start from now on, for [`FrameTelemetry::log`].
    pub fn keep_log(&mut self) {
        self.log.get_or_insert_with(TelemetryLog::default);
    }

    /// Every frame and item start since [`FrameTelemetry::keep_log`].
    pub fn log(&self) -> Option<&TelemetryLog> {
        self.log.as_ref()
    }

    /// How far ahead of now the frame being decided will be presented: the recent frame time, and
    /// on a refresh grid (frames due every refresh: headless, or a window while something moves)
    /// half a refresh more, so an item starts in the frame presented nearest its scheduled start
    /// rather than in the first one after it. Never more than one refresh.
    pub fn presentation_lead(&self, on_refresh_grid: bool) -> Duration {
        let grid = if on_refresh_grid {
            self.refresh / 2
        } else {
            Duration::ZERO
        };
        (self.recent_frame_time + grid).min(self.refresh)
    }

    pub fn refresh(&self) -> Duration {
        self.refresh
    }

    /// The item showing `content` is scheduled to start at `scheduled`; its first frame will be
    /// timed against it.
    pub fn expect_item(&mut self, content: ContentKey, scheduled: Instant) {
        self.expected.insert(content, scheduled);
    }

    /// Records one presented frame.
    pub fn record_frame(&mut self, started: Instant, presented: Instant, report: &FrameReport) {
        let before = (self.missed_refreshes, self.items_started, self.late_items);
        self.record(started, presented, report);
        crate::metrics::global().record_frame(
            presented.saturating_duration_since(started),
            crate::metrics::FrameCounts {
                missed_refreshes: self.missed_refreshes - before.0,
                gap: report.gap_zones > 0,
                items_started: self.items_started - before.1,
                late_items: self.late_items - before.2,
            },
        );
    }

    fn record(&mut self, started: Instant, presented: Instant, report: &FrameReport) {
        self.frames += 1;
        let frame_time = presented.saturating_duration_since(started);
        push_bounded(&mut self.frame_times, frame_time, WINDOW);
        // An exponential average over about eight frames: quick to follow, calm about one outlier.
        self.recent_frame_time = if self.frames == 1 {
            frame_time
        } else {
            (self.recent_frame_time * 7 + frame_time) / 8
        };
        if let Some(log) = &mut self.log {
            log.frame_ms.push(frame_time.as_secs_f64() * 1000.0);
            log.frame_animating.push(report.animating);
            log.frame_gap.push(report.gap_zones > 0);
        }
        if let Some((previous, was_animating)) = self.last_present
            && was_animating
        {
            let refreshes = presented.saturating_duration_since(previous).as_secs_f64()
                / self.refresh.as_secs_f64();
            self.missed_refreshes += (refreshes.round() as u64).saturating_sub(1);
        }
        self.last_present = Some((presented, report.animating));
        if report.gap_zones > 0 {
            self.transition_gaps += 1;
        }
        for content in &report.drawn {
            if let Some(scheduled) = self.expected.remove(content) {
                let (latency, offset_ms) = if presented >= scheduled {
                    let late = presented - scheduled;
                    (late, late.as_secs_f64() * 1000.0)
                } else {
                    let early = scheduled - presented;
                    (early, -early.as_secs_f64() * 1000.0)
                };
                self.items_started += 1;
                if latency > self.refresh {
                    self.late_items += 1;
                }
                push_bounded(&mut self.latencies, latency, 1024);
                if let Some(log) = &mut self.log {
                    log.first_frame_offset_ms.push(offset_ms);
                }
            }
        }
    }

    pub fn summary(&self) -> TelemetrySummary {
        let milliseconds = |duration: Duration| duration.as_secs_f64() * 1000.0;
        TelemetrySummary {
            frames: self.frames,
            refresh_ms: milliseconds(self.refresh),
            frame_time_p50_ms: milliseconds(percentile(&self.frame_times, 0.50)),
            frame_time_p99_ms: milliseconds(percentile(&self.frame_times, 0.99)),
            frame_time_max_ms: milliseconds(percentile(&self.frame_times, 1.0)),
            missed_refreshes: self.missed_refreshes,
            transition_gaps: self.transition_gaps,
            items_started: self.items_started,
            late_items: self.late_items,
            first_frame_latency_p50_ms: milliseconds(percentile(&self.latencies, 0.50)),
            first_frame_latency_max_ms: milliseconds(percentile(&self.latencies, 1.0)),
        }
    }

    /// Items whose first frame was presented so far.
    pub fn items_started(&self) -> u64 {
        self.items_started
    }

    /// The `--show-stats` text.
    pub fn overlay_text(&self) -> String {
        let summary = self.summary();
        format!(
            "frame p50 {:.1} ms  p99 {:.1} ms  missed {}  gaps {}\nitems {}  late {}  first frame p50 {:.1} ms",
            summary.frame_time_p50_ms,
            summary.frame_time_p99_ms,
            summary.missed_refreshes,
            summary.transition_gaps,
            summary.items_started,
            summary.late_items,
            summary.first_frame_latency_p50_ms
        )
    }
}

impl fmt::Display for TelemetrySummary {
    /// One line for the logs.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} frames, frame time p50 {:.1} ms p99 {:.1} ms max {:.1} ms, {} missed refreshes \
             ({:.1} ms), {} transition gaps, {} items started ({} late, first frame p50 {:.1} ms)",
            self.frames,
            self.frame_time_p50_ms,
            self.frame_time_p99_ms,
            self.frame_time_max_ms,
            self.missed_refreshes,
            self.refresh_ms,
            self.transition_gaps,
            self.items_started,
            self.late_items,
            self.first_frame_latency_p50_ms
        )
    }
}

fn push_bounded(values: &mut VecDeque<Duration>, value: Duration, bound: usize) {
    if values.len() == bound {
        values.pop_front();
    }
    values.push_back(value);
}

/// The nearest-rank percentile (`fraction` 0.5 is the median, 1.0 the maximum); zero when empty.
pub fn percentile(values: &VecDeque<Duration>, fraction: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted: Vec<Duration> = values.iter().copied().collect();
    sorted.sort_unstable();
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFRESH: Duration = Duration::from_micros(16_667);

    fn report(animating: bool, gap_zones: u32, drawn: &[&str]) -> FrameReport {
        FrameReport {
            missing: Vec::new(),
            gap_zones,
            animating,
            drawn: drawn
                .iter()
                .map(|name| ContentKey::Generated((*name).into()))
                .collect(),
        }
    }

    #[test]
    fn late_frames_while_animating_count_missed_refreshes_and_idle_ones_do_not() {
        let mut telemetry = FrameTelemetry::new(REFRESH);
        let start = Instant::now();
        let at = |refreshes: u32| start + REFRESH * refreshes;
        telemetry.record_frame(at(0), at(0), &report(true, 0, &[]));
        telemetry.record_frame(at(1), at(1), &report(true, 0, &[]));
        // Three refreshes later: two were missed.
        telemetry.record_frame(at(4), at(4), &report(false, 0, &[]));
        // Idle for a long time, then one frame: nothing was due in between.
        telemetry.record_frame(at(100), at(100), &report(true, 0, &[]));
        assert_eq!(telemetry.summary().missed_refreshes, 2);
    }

    #[test]
    fn gaps_and_first_frame_latency_are_counted_per_frame() {
        let mut telemetry = FrameTelemetry::new(REFRESH);
        let start = Instant::now();
        telemetry.expect_item(ContentKey::Generated("b".into()), start);
        telemetry.expect_item(ContentKey::Generated("c".into()), start);
        telemetry.record_frame(
            start,
            start + Duration::from_millis(5),
            &report(true, 0, &["a", "b"]),
        );
        telemetry.record_frame(
            start,
            start + Duration::from_millis(40),
            &report(true, 1, &["c"]),
        );
        let summary = telemetry.summary();
        assert_eq!(summary.transition_gaps, 1);
        assert_eq!(summary.items_started, 2);
        assert_eq!(summary.late_items, 1);
        assert_eq!(summary.first_frame_latency_max_ms, 40.0);
        assert_eq!(summary.frame_time_p50_ms, 5.0);
        assert!(telemetry.overlay_text().contains("gaps 1"));
        assert!(summary.to_string().contains("1 transition gaps"));
    }

    #[test]
    fn an_item_shown_just_before_its_start_is_early_not_late_and_the_log_keeps_the_sign() {
        let mut telemetry = FrameTelemetry::new(REFRESH);
        telemetry.keep_log();
        let start = Instant::now();
        telemetry.expect_item(
            ContentKey::Generated("b".into()),
            start + Duration::from_millis(10),
        );
        telemetry.record_frame(
            start,
            start + Duration::from_millis(4),
            &report(true, 0, &["b"]),
        );
        let summary = telemetry.summary();
        assert_eq!((summary.items_started, summary.late_items), (1, 0));
        assert_eq!(summary.first_frame_latency_max_ms, 6.0);
        let log = telemetry.log().expect("kept");
        assert_eq!(log.first_frame_offset_ms, vec![-6.0]);
        assert_eq!(log.frame_ms, vec![4.0]);
        assert_eq!(log.frame_animating, vec![true]);
        // The lead is the recent frame time, plus half a refresh on a refresh grid.
        assert_eq!(telemetry.presentation_lead(false), Duration::from_millis(4));
        assert_eq!(
            telemetry.presentation_lead(true),
            Duration::from_millis(4) + REFRESH / 2
        );
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: VecDeque<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&values, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&values, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&VecDeque::new(), 0.5), Duration::ZERO);
    }
}
