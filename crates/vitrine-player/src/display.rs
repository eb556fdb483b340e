//! Which monitor the window goes on: the one the config names (by connector name such as `HDMI-1`,
//! or by index in the system's list), else the primary one, else the first. A monitor that is
//! missing (unplugged, renamed) falls back with a warning instead of failing: a screen that shows
//! content on the wrong output is fixable remotely, a player that refuses to start is not.

use std::str::FromStr;

use winit::event_loop::ActiveEventLoop;
use winit::monitor::MonitorHandle;

/// The config's choice of monitor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum MonitorChoice {
    /// The system's primary monitor (or the first, if none is primary).
    #[default]
    Primary,
    /// The n-th monitor, from 0, in the order the system lists them.
    Index(usize),
    /// The monitor with this name (`HDMI-1`, `DP-2`); case does not matter.
    Name(String),
}

impl FromStr for MonitorChoice {
    type Err = std::convert::Infallible;

    /// `primary` (or empty), a number, or a name.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        Ok(if text.is_empty() || text.eq_ignore_ascii_case("primary") {
            MonitorChoice::Primary
        } else if let Ok(index) = text.parse() {
            MonitorChoice::Index(index)
        } else {
            MonitorChoice::Name(text.to_owned())
        })
    }
}

/// What the choice needs to know of a monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorDescription {
    pub name: Option<String>,
    pub size: (u32, u32),
    pub is_primary: bool,
}

/// The monitor picked, and why it is not the one asked for, if it is not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    pub index: usize,
    pub fallback_reason: Option<String>,
}

/// Picks from `monitors` (in the system's order); `None` only when there are none at all.
pub fn choose(choice: &MonitorChoice, monitors: &[MonitorDescription]) -> Option<Chosen> {
    if monitors.is_empty() {
        return None;
    }
    let primary = monitors
        .iter()
        .position(|monitor| monitor.is_primary)
        .unwrap_or(0);
    let names = || {
        monitors
            .iter()
            .enumerate()
            .map(|(index, monitor)| {
                format!(
                    "{index}: {}",
                    monitor.name.as_deref().unwrap_or("(unnamed)")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let fallback = |reason: String| {
        Some(Chosen {
            index: primary,
            fallback_reason: Some(format!(
                "{reason}; using the primary monitor (have {})",
                names()
            )),
        })
    };
    match choice {
        MonitorChoice::Primary => Some(Chosen {
            index: primary,
            fallback_reason: None,
        }),
        MonitorChoice::Index(index) if *index < monitors.len() => Some(Chosen {
            index: *index,
            fallback_reason: None,
        }),
        MonitorChoice::Index(index) => fallback(format!("there is no monitor {index}")),
        MonitorChoice::Name(name) => {
            match monitors.iter().position(|monitor| {
                monitor
                    .name
                    .as_deref()
                    .is_some_and(|candidate| candidate.eq_ignore_ascii_case(name))
            }) {
                Some(index) => Some(Chosen {
                    index,
                    fallback_reason: None,
                }),
                None => fallback(format!("there is no monitor named `{name}`")),
            }
        }
    }
}

/// Picks the monitor for the window from winit's list, logging any fallback.
pub fn select_monitor(
    event_loop: &ActiveEventLoop,
    choice: &MonitorChoice,
) -> Option<MonitorHandle> {
    let primary = event_loop.primary_monitor();
    let handles: Vec<MonitorHandle> = event_loop.available_monitors().collect();
    let descriptions: Vec<MonitorDescription> = handles
        .iter()
        .map(|handle| MonitorDescription {
            name: handle.name(),
            size: (handle.size().width, handle.size().height),
            is_primary: primary.as_ref() == Some(handle),
        })
        .collect();
    let chosen = choose(choice, &descriptions).or_else(|| {
        tracing::warn!("the display reports no monitors; the window manager places the window");
        None
    })?;
    if let Some(reason) = &chosen.fallback_reason {
        tracing::warn!("{reason}");
    }
    handles.into_iter().nth(chosen.index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitors() -> Vec<MonitorDescription> {
        let monitor = |name: &str, is_primary| MonitorDescription {
            name: Some(name.into()),
            size: (1920, 1080),
            is_primary,
        };
        vec![
            monitor("eDP-1", false),
            monitor("HDMI-1", true),
            monitor("DP-2", false),
        ]
    }

    #[test]
    fn choices_parse_from_config_text() {
        assert_eq!("".parse(), Ok(MonitorChoice::Primary));
        assert_eq!("Primary".parse(), Ok(MonitorChoice::Primary));
        assert_eq!("2".parse(), Ok(MonitorChoice::Index(2)));
        assert_eq!("HDMI-1".parse(), Ok(MonitorChoice::Name("HDMI-1".into())));
    }

    #[test]
    fn monitors_are_found_by_name_index_or_primacy() {
        let pick = |choice: MonitorChoice| choose(&choice, &monitors()).unwrap();
        assert_eq!(pick(MonitorChoice::Primary).index, 1);
        assert_eq!(pick(MonitorChoice::Index(2)).index, 2);
        assert_eq!(pick(MonitorChoice::Name("dp-2".into())).index, 2);
        assert_eq!(
            pick(MonitorChoice::Name("DP-2".into())).fallback_reason,
            None
        );
    }

    #[test]
    fn a_missing_monitor_falls_back_to_the_primary_and_says_why() {
        let chosen = choose(&MonitorChoice::Name("HDMI-3".into()), &monitors()).unwrap();
        assert_eq!(chosen.index, 1);
        let reason = chosen.fallback_reason.unwrap();
        assert!(
            reason.contains("HDMI-3") && reason.contains("1: HDMI-1"),
            "{reason}"
        );
        assert_eq!(
            choose(&MonitorChoice::Index(7), &monitors()).unwrap().index,
            1
        );
        assert_eq!(choose(&MonitorChoice::Primary, &[]), None);
    }
}
