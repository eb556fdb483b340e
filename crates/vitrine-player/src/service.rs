//! Running as a systemd service: the notify protocol and journald.
//!
//! With `Type=notify` and `WatchdogSec=` in its unit, systemd gives the player `NOTIFY_SOCKET` and
//! `WATCHDOG_USEC`. The player then says:
//! - `READY=1` once the render loop has presented its first frame (window or headless);
//! - `WATCHDOG=1` every half watchdog interval, but only when the render loop went round since the
//!   last pet: a deadlocked loop or a GPU call that never returns stops the pets, and systemd
//!   restarts the player. Both render loops turn at least once a second even on a static screen
//!   (the headless loop at its frame rate, the window loop's idle wake-up), so a quiet screen is
//!   never taken for a hung one;
//! - `STATUS=` what plays, whenever that changes (`systemctl status vitrine-player` shows it);
//! - `STOPPING=1` when it starts shutting down.
//!
//! Without `NOTIFY_SOCKET` none of this runs.
//!
//! `--simulate-hang-after DURATION` makes the render loop block forever after that long, so an
//! installer can watch systemd restart the player (and the tests can prove the pets stop).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

use crate::status::{RenderStatus, SharedStatus};

/// The render loop's turns, and whether it has presented a frame.
static TURNS: AtomicU64 = AtomicU64::new(0);
static DREW: AtomicBool = AtomicBool::new(false);
static STOPPING: AtomicBool = AtomicBool::new(false);
/// When the render loop should hang on purpose (`--simulate-hang-after`).
static HANG_AT: OnceLock<Instant> = OnceLock::new();
/// The notifier thread, started once per process.
static STARTED: Mutex<bool> = Mutex::new(false);

/// How often the notifier looks at the loop when systemd asks for no watchdog: READY and STATUS
/// still go out this promptly.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// One turn of the render loop: what the watchdog pets for. Call it from the loop itself, once
/// per iteration, and never from another thread. Hangs here forever once
/// `--simulate-hang-after` has passed.
pub fn turn() {
    if let Some(hang_at) = HANG_AT.get()
        && Instant::now() >= *hang_at
    {
        hang();
    }
    TURNS.fetch_add(1, Ordering::Release);
}

/// The render loop presented a frame: the first one makes the player ready.
pub fn drew() {
    DREW.store(true, Ordering::Release);
}

/// The player is shutting down: says `STOPPING=1` (the watchdog keeps being petted while the last
/// plays are journalled and uploaded, which `FINAL_UPLOAD_DEADLINE` and systemd's stop timeout
/// bound).
pub fn stopping() {
    if !STOPPING.swap(true, Ordering::AcqRel) {
        notify(&[NotifyState::Stopping]);
    }
}

/// Arms `--simulate-hang-after`: the render loop blocks forever `after` from now.
pub fn simulate_hang_after(after: Duration) {
    let _ = HANG_AT.set(Instant::now() + after);
}

fn hang() -> ! {
    tracing::warn!(
        "the render loop now hangs on purpose (--simulate-hang-after): with a watchdog \
         configured, systemd restarts the player within WatchdogSec"
    );
    loop {
        std::thread::park();
    }
}

fn notify(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!("cannot notify systemd: {error}");
    }
}

/// Starts telling systemd about the player, when systemd listens (`NOTIFY_SOCKET`): readiness,
/// watchdog pets and status, from a thread of its own. Once per process.
pub fn start(status: SharedStatus) -> anyhow::Result<()> {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return Ok(());
    }
    let mut started = STARTED.lock().unwrap_or_else(|poison| poison.into_inner());
    if *started {
        return Ok(());
    }
    // `WATCHDOG_PID`, when set, names the process the watchdog is for.
    let watchdog = sd_notify::watchdog_enabled();
    let check = watchdog.map_or(IDLE_CHECK, |interval| interval / 2);
    tracing::info!(
        watchdog_ms = watchdog.map(|interval| interval.as_millis() as u64),
        "systemd notification on"
    );
    std::thread::Builder::new()
        .name("vitrine-systemd".into())
        .spawn(move || notifier(status, watchdog.is_some(), check))?;
    *started = true;
    Ok(())
}

fn notifier(status: SharedStatus, watchdog: bool, check: Duration) {
    let mut ready = false;
    let mut last_turns = TURNS.load(Ordering::Acquire);
    let mut said = String::new();
    loop {
        std::thread::sleep(check);
        let turns = TURNS.load(Ordering::Acquire);
        let stopping = STOPPING.load(Ordering::Acquire);
        if !ready && DREW.load(Ordering::Acquire) {
            ready = true;
            notify(&[NotifyState::Ready]);
        }
        if ready {
            let line = status_line(&status.lock().unwrap_or_else(|poison| poison.into_inner()));
            if line != said {
                notify(&[NotifyState::Status(&line)]);
                said = line;
            }
        }
        // systemd's watchdog runs once the service is ready; start-up has its own timeout.
        if watchdog && ready && (turns != last_turns || stopping) {
            notify(&[NotifyState::Watchdog]);
        } else if watchdog && ready {
            tracing::error!(
                "the render loop has not turned for {} ms: watchdog not petted",
                check.as_millis()
            );
        }
        last_turns = turns;
    }
}

/// What `systemctl status` shows: `playing lobby v3: zone main → promo-3, zone ticker → news`.
pub fn status_line(status: &RenderStatus) -> String {
    // One line: a newline would end the STATUS= field early.
    status_text(status).replace(['\n', '\r'], " ")
}

fn status_text(status: &RenderStatus) -> String {
    if let Some(interrupt) = &status.interrupt {
        return format!(
            "interrupt {} on screen: {}",
            interrupt.id, interrupt.message
        );
    }
    let Some(playlist) = &status.playlist else {
        return "no playlist yet: showing the splash".to_owned();
    };
    let mut line = format!("playing {playlist}");
    if let Some(version) = status.playlist_version {
        line.push_str(&format!(" v{version}"));
    }
    if !status.showing.is_empty() {
        let zones: Vec<String> = status
            .showing
            .iter()
            .map(|showing| format!("zone {} → {}", showing.zone, showing.item))
            .collect();
        line.push_str(": ");
        line.push_str(&zones.join(", "));
    }
    line
}

/// A journald layer, when the player's stderr is journald's stream (systemd sets `JOURNAL_STREAM`
/// to that stream's device and inode) and journald's socket answers: log fields (item, zone,
/// media, error) then arrive as journal fields. `None` otherwise, and the log stays on stderr.
pub fn journald() -> Option<tracing_journald::Layer> {
    let stream = std::env::var("JOURNAL_STREAM").ok()?;
    // stderr is what systemd connected to the journal, not redirected elsewhere since.
    let stderr = std::fs::metadata("/proc/self/fd/2").ok()?;
    if !is_stream(&stream, &stderr) {
        return None;
    }
    tracing_journald::layer().ok()
}

/// Whether `JOURNAL_STREAM` (`DEVICE:INODE`) names the file `metadata` describes.
fn is_stream(journal_stream: &str, metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Some((device, inode)) = journal_stream.split_once(':') else {
        return false;
    };
    device.parse() == Ok(metadata.dev()) && inode.parse() == Ok(metadata.ino())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_core::{ActiveInterrupt, ZoneShowing};

    #[test]
    fn journald_takes_the_log_only_when_stderr_is_its_stream() {
        use std::os::unix::fs::MetadataExt as _;
        let file = tempfile::NamedTempFile::new().unwrap();
        let metadata = file.as_file().metadata().unwrap();
        let stream = format!("{}:{}", metadata.dev(), metadata.ino());
        assert!(is_stream(&stream, &metadata));
        // Inherited by a program whose stderr now goes elsewhere (a pipe, a terminal).
        let other = format!("{}:{}", metadata.dev(), metadata.ino() + 1);
        assert!(!is_stream(&other, &metadata));
        assert!(!is_stream("", &metadata));
        assert!(!is_stream("garbage", &metadata));
    }

    #[test]
    fn the_status_line_says_what_plays_in_one_line() {
        let mut status = RenderStatus::default();
        assert_eq!(status_line(&status), "no playlist yet: showing the splash");
        status.playlist = Some("lobby".into());
        status.playlist_version = Some(3);
        status.showing = vec![
            ZoneShowing {
                zone: "main".into(),
                item: "promo-3".into(),
            },
            ZoneShowing {
                zone: "ticker".into(),
                item: "news\nforged".into(),
            },
        ];
        assert_eq!(
            status_line(&status),
            "playing lobby v3: zone main → promo-3, zone ticker → news forged"
        );
        status.interrupt = Some(ActiveInterrupt {
            id: 41,
            message: "Leave by\nthe main exit".into(),
            until: "2026-12-04T10:05:00Z".parse().unwrap(),
        });
        assert_eq!(
            status_line(&status),
            "interrupt 41 on screen: Leave by the main exit"
        );
    }
}
