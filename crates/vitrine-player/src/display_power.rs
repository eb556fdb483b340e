//! Whether the screen's display is powered, as the kernel's DRM connectors say in sysfs: every play
//! records it, so that a play shown to a display that was asleep or switched off is not counted as
//! seen.
//!
//! Each connector is a `card*-*` folder under the DRM directory (`/sys/class/drm`, or `[display]
//! drm_dir` in the config): `card0-HDMI-A-1` holds `status` (`connected`, `disconnected` or
//! `unknown`), `dpms` (`On`, `Standby`, `Suspend` or `Off`) and, on most drivers, `enabled`
//! (`enabled` or `disabled`: whether the connector drives a picture at all). Only connected
//! connectors count: the display is on when any of them is on, off when every one is off (asleep,
//! in standby, suspended, or not driven), and unknown otherwise: no connected connector, no such
//! folder (a virtual machine, a headless test), or a file that cannot be read.
//!
//! The state is what the kernel drives, not what the panel does: a television switched off with
//! its remote while the machine still sends it a picture reads as on. HDMI-CEC could tell, but
//! asking a television its power state means sending it a message and waiting for an answer it
//! may never give (many sets answer late, or only when awake), which has no place beside a render
//! loop; the player does not ask, and a reading is never better than what DRM says.
//!
//! The reads are a few small sysfs files, which the kernel answers from memory; the render loop
//! reads them at most once a second ([`DisplayPowerProbe`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vitrine_core::DisplayPower;

/// Where the kernel lists DRM connectors.
pub const DEFAULT_DRM_DIR: &str = "/sys/class/drm";

/// How long a reading stands before the files are read again.
pub const READING_MAX_AGE: Duration = Duration::from_secs(1);

/// The display's power state from the DRM connectors under `drm_dir`.
pub fn read(drm_dir: &Path) -> DisplayPower {
    let Ok(entries) = std::fs::read_dir(drm_dir) else {
        return DisplayPower::Unknown;
    };
    let mut any_unknown = false;
    let mut any_off = false;
    for entry in entries {
        let Ok(entry) = entry else {
            any_unknown = true;
            continue;
        };
        if !is_connector(&entry.file_name().to_string_lossy()) {
            continue;
        }
        match connector_power(&entry.path()) {
            Some(DisplayPower::On) => return DisplayPower::On,
            Some(DisplayPower::Off) => any_off = true,
            Some(DisplayPower::Unknown) => any_unknown = true,
            None => {}
        }
    }
    if any_off && !any_unknown {
        DisplayPower::Off
    } else {
        DisplayPower::Unknown
    }
}

/// Whether a name under the DRM directory is a connector (`card0-HDMI-A-1`), not a card
/// (`card0`), a render node (`renderD128`) or a file (`version`).
fn is_connector(name: &str) -> bool {
    name.strip_prefix("card")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(card, connector)| {
            !card.is_empty()
                && card.bytes().all(|byte| byte.is_ascii_digit())
                && !connector.is_empty()
        })
}

/// The power state of one connector, or `None` when no display is connected to it. A connector
/// whose `status` cannot be read may have one: it reads as unknown.
fn connector_power(connector: &Path) -> Option<DisplayPower> {
    let Some(status) = read_word(&connector.join("status")) else {
        return Some(DisplayPower::Unknown);
    };
    if status != "connected" {
        return None;
    }
    // Not driven at all (no encoder, no picture): off, whatever `dpms` last said.
    if read_word(&connector.join("enabled")).as_deref() == Some("disabled") {
        return Some(DisplayPower::Off);
    }
    Some(match read_word(&connector.join("dpms")).as_deref() {
        Some("On") => DisplayPower::On,
        Some("Off" | "Standby" | "Suspend") => DisplayPower::Off,
        _ => DisplayPower::Unknown,
    })
}

/// A sysfs attribute's value, without its newline.
fn read_word(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_owned())
}

/// The display's power state for the render loop: [`read`] again only once the last reading is
/// [`READING_MAX_AGE`] old, so drawing frames costs no file reads, and each change is logged once.
#[derive(Debug)]
pub struct DisplayPowerProbe {
    drm_dir: PathBuf,
    last: Option<(Instant, DisplayPower)>,
}

impl DisplayPowerProbe {
    pub fn new(drm_dir: impl Into<PathBuf>) -> Self {
        Self {
            drm_dir: drm_dir.into(),
            last: None,
        }
    }

    /// The state at `now`: the last reading while it is fresh, else a new one.
    pub fn reading(&mut self, now: Instant) -> DisplayPower {
        if let Some((at, power)) = self.last
            && now.saturating_duration_since(at) < READING_MAX_AGE
        {
            return power;
        }
        let power = read(&self.drm_dir);
        let changed = self.last.is_none_or(|(_, last)| last != power);
        if changed {
            tracing::info!(
                display = %power,
                drm_dir = %self.drm_dir.display(),
                "display power: {power}"
            );
        }
        self.last = Some((now, power));
        power
    }
}

/// A DRM directory laid out like sysfs, for tests here and in the modules that record plays.
#[cfg(test)]
pub(crate) mod fake {
    use std::path::Path;

    /// A DRM directory laid out like sysfs: one folder per connector with its attributes.
    pub(crate) struct FakeDrm(tempfile::TempDir);

    impl FakeDrm {
        pub(crate) fn new() -> Self {
            let drm = FakeDrm(tempfile::tempdir().unwrap());
            // What sits beside the connectors, and must be ignored.
            std::fs::create_dir(drm.path().join("card0")).unwrap();
            std::fs::create_dir(drm.path().join("renderD128")).unwrap();
            std::fs::write(drm.path().join("version"), "drm 1.1.0 20060810\n").unwrap();
            drm
        }

        pub(crate) fn path(&self) -> &Path {
            self.0.path()
        }

        /// Sets a connector's attributes, as the kernel writes them (with a newline); `None`
        /// leaves that file out.
        pub(crate) fn connector(
            &self,
            name: &str,
            status: &str,
            dpms: Option<&str>,
            enabled: Option<&str>,
        ) {
            let folder = self.path().join(name);
            std::fs::create_dir_all(&folder).unwrap();
            for (file, value) in [
                ("status", Some(status)),
                ("dpms", dpms),
                ("enabled", enabled),
            ] {
                let path = folder.join(file);
                match value {
                    Some(value) => std::fs::write(&path, format!("{value}\n")).unwrap(),
                    None => {
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeDrm as Drm;
    use super::*;

    #[test]
    fn a_connected_display_that_is_on_reads_on() {
        let drm = Drm::new();
        drm.connector("card0-HDMI-A-1", "connected", Some("On"), Some("enabled"));
        drm.connector("card0-DP-1", "disconnected", Some("Off"), Some("disabled"));
        assert_eq!(read(drm.path()), DisplayPower::On);
        // Without an `enabled` file (some drivers), `dpms` alone decides.
        drm.connector("card0-HDMI-A-1", "connected", Some("On"), None);
        assert_eq!(read(drm.path()), DisplayPower::On);
    }

    #[test]
    fn every_connected_display_asleep_or_undriven_reads_off() {
        let drm = Drm::new();
        for dpms in ["Off", "Standby", "Suspend"] {
            drm.connector("card0-HDMI-A-1", "connected", Some(dpms), Some("enabled"));
            assert_eq!(read(drm.path()), DisplayPower::Off, "{dpms}");
        }
        // On by `dpms`, but the connector drives no picture.
        drm.connector("card0-HDMI-A-1", "connected", Some("On"), Some("disabled"));
        assert_eq!(read(drm.path()), DisplayPower::Off);
        drm.connector("card1-eDP-1", "connected", Some("Off"), Some("enabled"));
        assert_eq!(read(drm.path()), DisplayPower::Off);
        // One connected display on is enough.
        drm.connector("card1-eDP-1", "connected", Some("On"), Some("enabled"));
        assert_eq!(read(drm.path()), DisplayPower::On);
    }

    #[test]
    fn no_connected_display_no_folder_or_unreadable_files_read_unknown() {
        let drm = Drm::new();
        assert_eq!(read(drm.path()), DisplayPower::Unknown, "no connector");
        drm.connector("card0-HDMI-A-1", "disconnected", Some("Off"), None);
        drm.connector("card0-Writeback-1", "unknown", Some("On"), None);
        assert_eq!(read(drm.path()), DisplayPower::Unknown, "none connected");
        assert_eq!(
            read(&drm.path().join("missing")),
            DisplayPower::Unknown,
            "no DRM directory"
        );
        drm.connector("card0-DP-1", "connected", None, None);
        assert_eq!(read(drm.path()), DisplayPower::Unknown, "no dpms");
        drm.connector("card0-DP-1", "connected", Some("Sleepy"), None);
        assert_eq!(
            read(drm.path()),
            DisplayPower::Unknown,
            "a value never seen"
        );
        // One display off and one that cannot be told: not known to be off.
        drm.connector("card0-DP-2", "connected", Some("Off"), None);
        assert_eq!(read(drm.path()), DisplayPower::Unknown);
        // A connector whose status cannot be read may be connected.
        let drm = Drm::new();
        drm.connector("card0-DP-1", "connected", Some("Off"), None);
        std::fs::create_dir(drm.path().join("card0-DP-2")).unwrap();
        assert_eq!(read(drm.path()), DisplayPower::Unknown);
    }

    #[test]
    fn only_card_connector_folders_count() {
        assert!(is_connector("card0-HDMI-A-1"));
        assert!(is_connector("card12-eDP-1"));
        for name in [
            "card0",
            "card-HDMI",
            "cardX-DP-1",
            "card0-",
            "renderD128",
            "version",
        ] {
            assert!(!is_connector(name), "{name}");
        }
    }

    #[test]
    fn the_probe_reads_again_only_once_its_reading_is_a_second_old() {
        let drm = Drm::new();
        drm.connector("card0-HDMI-A-1", "connected", Some("On"), Some("enabled"));
        let mut probe = DisplayPowerProbe::new(drm.path());
        let start = Instant::now();
        assert_eq!(probe.reading(start), DisplayPower::On);
        drm.connector("card0-HDMI-A-1", "connected", Some("Off"), Some("enabled"));
        assert_eq!(
            probe.reading(start + Duration::from_millis(999)),
            DisplayPower::On,
            "cached"
        );
        assert_eq!(
            probe.reading(start + READING_MAX_AGE),
            DisplayPower::Off,
            "read again"
        );
    }
}
