//! systemd's notification protocol, for `Type=notify` units with `WatchdogSec=`: `READY=1` once
//! the scheduler serves, `WATCHDOG=1` only while it can really answer, `STATUS=` lines saying what
//! it serves, and `STOPPING=1` when it shuts down. Without `NOTIFY_SOCKET` (run by hand, in tests,
//! in a container) nothing is sent.
//!
//! The watchdog is petted by a task that probes, each half period, what a request needs: an HTTP
//! request to the scheduler's own listener (the accept loop and the router answer) and a write
//! through the connection pool (the database takes heartbeats and proof of play). A deadlocked
//! runtime, a wedged database or an exhausted pool stops the pets, and systemd restarts the
//! service once `WatchdogSec` passes without one.

use std::net::SocketAddr;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::AppState;

/// Whether systemd (or a test standing in for it) listens for notifications.
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}

/// Tells systemd the scheduler serves, with a first status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd the scheduler is shutting down, so the stop is not taken for a crash.
pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("shutting down; finishing requests in flight"),
    ]);
}

/// The watchdog's period as systemd set it (`WATCHDOG_USEC`, for this process), if any.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|period| !period.is_zero())
}

/// How often the status line is refreshed when systemd set no watchdog.
const STATUS_PERIOD: Duration = Duration::from_secs(30);

/// Starts the task that probes the scheduler and, while [`probe`] succeeds, pets the watchdog every
/// half period if systemd asked for one; either way it keeps the `STATUS=` line current (every
/// [`STATUS_PERIOD`] without a watchdog). Nothing starts without `NOTIFY_SOCKET`. `address` is the
/// bound API address; `plain_http` is false under TLS, where the probe skips the HTTP request (it
/// would need the server's certificate to trust).
pub fn start_watchdog(state: &AppState, address: SocketAddr, plain_http: bool, scheme: &str) {
    if !enabled() {
        return;
    }
    let watchdog = watchdog_period();
    let interval = watchdog.map_or(STATUS_PERIOD, |period| period / 2);
    let state = state.clone();
    let scheme = scheme.to_owned();
    if let Some(period) = watchdog {
        tracing::info!(
            period_ms = period.as_millis() as u64,
            "petting systemd's watchdog while the scheduler answers"
        );
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticks.tick().await;
            // A probe that takes longer than the interval counts as failed: the pet would come
            // too late anyway, and a hung probe must not hold the next one up.
            let outcome = probe(&state, address, plain_http, interval).await;
            match outcome {
                Ok(status) => {
                    if failing {
                        tracing::info!("the scheduler answers again");
                        failing = false;
                    }
                    let status = format!("serving {scheme}://{address}; {status}");
                    if watchdog.is_some() {
                        send(&[NotifyState::Watchdog, NotifyState::Status(&status)]);
                    } else {
                        send(&[NotifyState::Status(&status)]);
                    }
                }
                Err(problem) => {
                    if !failing {
                        if watchdog.is_some() {
                            tracing::error!(
                                %problem,
                                "the scheduler cannot answer; not petting systemd's watchdog, \
                                 which restarts it unless this clears"
                            );
                        } else {
                            tracing::error!(%problem, "the scheduler cannot answer");
                        }
                        failing = true;
                    }
                    send(&[NotifyState::Status(&format!("not answering: {problem}"))]);
                }
            }
        }
    });
}

/// What the scheduler needs to answer requests, tried for real: its own listener answers
/// `GET /healthz`, and the database takes a write, each within half of `limit`. Returns the
/// status line to show, or what failed.
pub async fn probe(
    state: &AppState,
    address: SocketAddr,
    plain_http: bool,
    limit: Duration,
) -> Result<String, String> {
    let part_limit = limit / 2;
    let within = |what: &str| format!("{what} within {} ms", part_limit.as_millis());
    if plain_http {
        tokio::time::timeout(part_limit, probe_http(address))
            .await
            .map_err(|_| within(&format!("GET /healthz on {address} got no answer")))??;
    }
    tokio::time::timeout(part_limit, state.storage().probe_writable())
        .await
        .map_err(|_| within("the database took no write"))?
        .map_err(|error| format!("the database takes no write: {error}"))?;
    let since = jiff::Timestamp::now()
        .checked_sub(
            jiff::SignedDuration::try_from(crate::metrics::ONLINE_WINDOW).unwrap_or_default(),
        )
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let online = tokio::time::timeout(part_limit, state.storage().screens_heard_since(since))
        .await
        .map_err(|_| within("the database answered no read"))?
        .map_err(|error| format!("the database cannot be read: {error}"))?;
    Ok(format!(
        "{online} screens online, {} event streams open",
        state.hub().open_streams()
    ))
}

/// Sends `GET /healthz` to the listener and expects a 200.
async fn probe_http(address: SocketAddr) -> Result<(), String> {
    // A wildcard address is reached on loopback.
    let target = match address {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, v4.port()))
        }
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, v6.port()))
        }
        other => other,
    };
    let failed = |error: std::io::Error| format!("GET /healthz on {target}: {error}");
    let mut stream = tokio::net::TcpStream::connect(target)
        .await
        .map_err(failed)?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .map_err(failed)?;
    let mut head = [0_u8; 12];
    stream.read_exact(&mut head).await.map_err(failed)?;
    if &head == b"HTTP/1.1 200" {
        Ok(())
    } else {
        Err(format!(
            "GET /healthz on {target} answered `{}`",
            String::from_utf8_lossy(&head)
        ))
    }
}
