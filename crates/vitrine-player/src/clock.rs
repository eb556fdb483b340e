//! The player's clock: what time it is, and how far to trust it.
//!
//! A store PC may have no battery-backed clock and no network, and a schedule read at the wrong
//! time shows the wrong daypart and records wrong proof of play. So the clock takes HQ's time from
//! the `Date` header of every answer, remembers the last time HQ vouched for (in `player.sqlite3`,
//! so it survives restarts), and between answers runs on monotonic time from that anchor. Each
//! reading says how far it can be trusted ([`ClockState`]):
//!
//! - `synced`: HQ answered within the last [`SYNC_FRESH`]; the time is HQ's, carried forward on
//!   the monotonic clock. When the local clock agrees with it within [`AGREEMENT`], the local
//!   clock is used as is, so screens stay in step with each other to the millisecond instead of the
//!   `Date` header's whole seconds.
//! - `estimated`: no fresh word from HQ, but the time is plausible: HQ's time carried forward on
//!   the monotonic clock, or, after a restart without network, the local clock when it reads later
//!   than the last good time and later than [`EARLIEST_PLAUSIBLE`].
//! - `unknown`: no HQ this run and the local clock reads earlier than the last good time or
//!   earlier than [`EARLIEST_PLAUSIBLE`] (a PC whose clock battery died wakes in 1970 or 2000). The
//!   player says so (log, status, and the fallback on screen) rather than play a daypart by a
//!   clock it knows is wrong.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use vitrine_core::ClockState;

/// No reading before this instant is believed: this code did not exist before it, so a clock
/// reading earlier is a clock that lost its setting.
pub const EARLIEST_PLAUSIBLE: &str = "2026-11-01T00:00:00Z";

/// How long HQ's time counts as fresh: past this without an answer the clock is only estimated
/// (the monotonic clock drifts a few seconds a day at most, but nobody has checked).
pub const SYNC_FRESH: Duration = Duration::from_secs(15 * 60);

/// How far the local clock may stray from HQ's before HQ's time is used instead. The `Date`
/// header has whole seconds and arrives after a round trip, so smaller differences are noise.
pub const AGREEMENT: SignedDuration = SignedDuration::from_secs(2);

/// How often the last good time is written to disk while HQ keeps answering.
const PERSIST_EVERY: Duration = Duration::from_secs(60);

/// One reading of the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    pub at: Timestamp,
    pub state: ClockState,
}

pub type SharedClock = Arc<Clock>;

pub struct Clock {
    inner: Mutex<Inner>,
    /// Where the last good time is kept; `None` keeps it in memory only (tests, previews).
    connection: Option<Mutex<Connection>>,
    earliest: Timestamp,
}

struct Inner {
    /// HQ's time and the monotonic instant it was taken at, once HQ answered in this run.
    anchor: Option<(Instant, Timestamp)>,
    /// The last time HQ vouched for, from this run or an earlier one.
    last_good: Option<Timestamp>,
    last_persisted: Option<Instant>,
    /// The state last reported, so a change is logged once.
    last_state: Option<ClockState>,
}

impl Clock {
    /// A clock that remembers its last good time in the player's database under `data_dir`.
    pub fn open(data_dir: &Path) -> anyhow::Result<SharedClock> {
        let connection = crate::database::open(data_dir)?;
        let last_good: Option<String> = connection
            .query_row("SELECT last_good FROM clock WHERE slot = 0", [], |row| {
                row.get(0)
            })
            .optional()?;
        let last_good = last_good.and_then(|text| text.parse().ok());
        Ok(Arc::new(Self::with_parts(last_good, Some(connection))))
    }

    /// A clock with no memory beyond this process.
    pub fn in_memory(last_good: Option<Timestamp>) -> SharedClock {
        Arc::new(Self::with_parts(last_good, None))
    }

    fn with_parts(last_good: Option<Timestamp>, connection: Option<Connection>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                anchor: None,
                last_good,
                last_persisted: None,
                last_state: None,
            }),
            connection: connection.map(Mutex::new),
            earliest: EARLIEST_PLAUSIBLE
                .parse()
                .expect("EARLIEST_PLAUSIBLE is RFC 3339"),
        }
    }

    /// The time now, and how far to trust it.
    pub fn now(&self) -> Reading {
        self.reading_at(Timestamp::now(), Instant::now())
    }

    /// The reading for a moment when the local clock said `local` and the monotonic clock
    /// `monotonic`. Logs when the state changes.
    pub fn reading_at(&self, local: Timestamp, monotonic: Instant) -> Reading {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let reading = read(&inner, self.earliest, local, monotonic);
        if inner.last_state != Some(reading.state) {
            match reading.state {
                ClockState::Synced => tracing::info!(at = %reading.at, "clock synced with HQ"),
                ClockState::Estimated => tracing::warn!(
                    at = %reading.at,
                    last_good = ?inner.last_good,
                    "clock estimated: HQ has not confirmed the time recently"
                ),
                ClockState::Unknown => tracing::error!(
                    local = %local,
                    last_good = ?inner.last_good,
                    earliest = %self.earliest,
                    "clock unknown: the local clock reads earlier than the last good time or \
                     this release, and HQ cannot be reached; showing the fallback until HQ answers \
                     (set the system clock or restore the network)"
                ),
            }
            inner.last_state = Some(reading.state);
        }
        reading
    }

    /// Takes HQ's time from an answer: `server` is its `Date` header, read at `received`. The
    /// header has whole seconds, so the middle of that second is taken.
    pub fn observe_server_time(&self, server: Timestamp, received: Instant) {
        let server = server + SignedDuration::from_millis(500);
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        inner.anchor = Some((received, server));
        inner.last_good = Some(inner.last_good.map_or(server, |last| last.max(server)));
        let due = inner
            .last_persisted
            .is_none_or(|at| received.duration_since(at) >= PERSIST_EVERY);
        if due {
            inner.last_persisted = Some(received);
            let last_good = inner.last_good;
            drop(inner);
            if let Some(last_good) = last_good {
                self.persist(last_good);
            }
        }
    }

    /// Reads an HTTP `Date` header value (IMF-fixdate, as RFC 9110 asks) and observes it.
    pub fn observe_date_header(&self, value: &str, received: Instant) {
        match jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(value) {
            Ok(server) => self.observe_server_time(server, received),
            Err(error) => tracing::debug!("ignoring an unreadable Date header `{value}`: {error}"),
        }
    }

    /// The last time HQ vouched for.
    pub fn last_good(&self) -> Option<Timestamp> {
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .last_good
    }

    fn persist(&self, last_good: Timestamp) {
        let Some(connection) = &self.connection else {
            return;
        };
        let connection = connection
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        // Only ever forward: a later write from an older answer must not lower the floor.
        let result = connection.execute(
            "INSERT INTO clock (slot, last_good) VALUES (0, ?1)
             ON CONFLICT (slot) DO UPDATE SET last_good = excluded.last_good
             WHERE excluded.last_good > clock.last_good",
            params![sortable(last_good)],
        );
        if let Err(error) = result {
            tracing::warn!("cannot store the last good time: {error}");
        }
    }
}

/// RFC 3339 in UTC with nine fractional digits, so text order is time order.
fn sortable(at: Timestamp) -> String {
    format!("{at:.9}")
}

fn read(inner: &Inner, earliest: Timestamp, local: Timestamp, monotonic: Instant) -> Reading {
    if let Some((anchor_instant, anchor_time)) = inner.anchor {
        let elapsed = monotonic.saturating_duration_since(anchor_instant);
        let carried = anchor_time
            .checked_add(SignedDuration::try_from(elapsed).unwrap_or(SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX);
        let at = if (local.duration_since(carried)).abs() <= AGREEMENT {
            local
        } else {
            carried
        };
        let state = if elapsed < SYNC_FRESH {
            ClockState::Synced
        } else {
            ClockState::Estimated
        };
        return Reading { at, state };
    }
    let floor = inner.last_good.map_or(earliest, |last| last.max(earliest));
    // A little slack below the floor: the last good time was taken from a `Date` header rounded
    // to the middle of its second, and a clock a second behind is still a working clock.
    if local >= floor - AGREEMENT {
        Reading {
            at: local,
            state: ClockState::Estimated,
        }
    } else {
        Reading {
            at: floor,
            state: ClockState::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn without_hq_a_plausible_local_clock_is_estimated_and_an_implausible_one_unknown() {
        let clock = Clock::in_memory(Some(at("2026-11-20T12:00:00Z")));
        let now = Instant::now();
        let week_later = clock.reading_at(at("2026-11-27T12:00:00Z"), now);
        assert_eq!(week_later.state, ClockState::Estimated);
        assert_eq!(week_later.at, at("2026-11-27T12:00:00Z"));

        let before_last_good = clock.reading_at(at("2026-11-19T12:00:00Z"), now);
        assert_eq!(before_last_good.state, ClockState::Unknown);

        let fresh = Clock::in_memory(None);
        assert_eq!(
            fresh.reading_at(at("1970-01-01T00:00:10Z"), now).state,
            ClockState::Unknown,
            "a clock that lost its setting"
        );
        assert_eq!(
            fresh.reading_at(at("2026-12-01T00:00:00Z"), now).state,
            ClockState::Estimated
        );
    }

    #[test]
    fn hq_time_runs_on_monotonic_time_and_goes_stale() {
        let clock = Clock::in_memory(None);
        let anchor = Instant::now();
        clock.observe_server_time(at("2026-11-22T10:00:00Z"), anchor);
        // The local clock is a day off: HQ's time, carried forward, wins.
        let reading =
            clock.reading_at(at("2026-11-21T10:00:00Z"), anchor + Duration::from_secs(60));
        assert_eq!(reading.state, ClockState::Synced);
        assert_eq!(reading.at, at("2026-11-22T10:01:00.5Z"));
        // A local clock within the agreement is kept, to the millisecond.
        let agreeing = at("2026-11-22T10:01:01.234Z");
        assert_eq!(
            clock
                .reading_at(agreeing, anchor + Duration::from_secs(60))
                .at,
            agreeing
        );
        // Past the freshness window it is only an estimate, still carried on monotonic time.
        let later = anchor + SYNC_FRESH + Duration::from_secs(1);
        let stale = clock.reading_at(at("1970-01-01T00:00:00Z"), later);
        assert_eq!(stale.state, ClockState::Estimated);
        assert!(stale.at > at("2026-11-22T10:15:00Z"), "{}", stale.at);
    }

    #[test]
    fn the_last_good_time_survives_a_restart_and_only_moves_forward() {
        let directory = tempfile::tempdir().unwrap();
        let clock = Clock::open(directory.path()).unwrap();
        clock.observe_date_header("Sun, 22 Nov 2026 21:22:14 GMT", Instant::now());
        assert_eq!(clock.last_good(), Some(at("2026-11-22T21:22:14.5Z")));
        drop(clock);

        let reopened = Clock::open(directory.path()).unwrap();
        assert_eq!(reopened.last_good(), Some(at("2026-11-22T21:22:14.5Z")));
        assert_eq!(
            reopened
                .reading_at(at("2026-11-22T08:00:00Z"), Instant::now())
                .state,
            ClockState::Unknown,
            "a clock that went back before the last good time is not believed"
        );
        // An older answer arriving late does not lower the floor.
        reopened.observe_server_time(at("2026-11-01T00:00:00Z"), Instant::now());
        assert_eq!(reopened.last_good(), Some(at("2026-11-22T21:22:14.5Z")));
        reopened.observe_date_header("not a date", Instant::now());
        assert_eq!(reopened.last_good(), Some(at("2026-11-22T21:22:14.5Z")));
    }
}
