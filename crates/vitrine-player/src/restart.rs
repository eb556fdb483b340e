//! Restarting the player in place: after pairing (to sync with the new credentials) and on HQ's
//! `restart` command. The render loop is asked to shut down cleanly (the play on screen is
//! journalled, the journal is SQLite and durable, the network thread tries a last upload), then
//! the process executes itself again with the same arguments. `exec` keeps the process id, so
//! this works the same under systemd (whose watchdog follows the id) and without it.

use std::sync::Mutex;

use anyhow::Context;

use crate::events::{EventSink, PlayerEvent};

/// Why a restart was asked for, once one was.
static REQUESTED: Mutex<Option<String>> = Mutex::new(None);

/// Asks for a restart: the render loop shuts down, and [`restart_if_requested`] starts the
/// player again. `reason` is logged now and at the restart.
pub fn request(sink: &dyn EventSink, reason: &str) {
    tracing::warn!(%reason, "restarting the player");
    *REQUESTED
        .lock()
        .unwrap_or_else(|poison| poison.into_inner()) = Some(reason.to_owned());
    sink.post(PlayerEvent::Shutdown);
}

/// Why a restart was asked for, if one was.
pub fn requested() -> Option<String> {
    REQUESTED
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .clone()
}

/// After the player stopped: executes it again with the same arguments if a restart was asked
/// for, else passes `outcome` on. Returns only on failure.
pub fn restart_if_requested(outcome: anyhow::Result<()>) -> anyhow::Result<()> {
    outcome?;
    let Some(reason) = requested() else {
        return Ok(());
    };
    let executable = std::env::current_exe().context("cannot find the player's executable")?;
    tracing::warn!(%reason, executable = %executable.display(), "starting the player again");
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = std::process::Command::new(&executable)
            .args(std::env::args_os().skip(1))
            .exec();
        Err(error).with_context(|| format!("cannot start {} again", executable.display()))
    }
    #[cfg(not(unix))]
    {
        anyhow::bail!("{reason}; start {} again by hand", executable.display())
    }
}
