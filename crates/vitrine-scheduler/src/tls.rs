//! HTTPS without a proxy: the same router served through axum-server with rustls, from a PEM
//! certificate chain and key (`--tls-cert`, `--tls-key`). Behind a reverse proxy that terminates
//! TLS (the README shows nginx) the scheduler serves plain HTTP on loopback instead.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;

use crate::AppState;

/// How long open connections may take to finish once shutdown begins.
const GRACE_PERIOD: Duration = Duration::from_secs(10);

/// Reads the certificate chain and private key; the error names the file at fault.
pub async fn load(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    // rustls needs one process-wide crypto provider when more than one is compiled in; which one
    // is installed first does not matter, so a second attempt failing is fine.
    let _already_installed = rustls::crypto::aws_lc_rs::default_provider().install_default();
    for (what, path) in [("certificate", cert), ("key", key)] {
        std::fs::metadata(path).with_context(|| {
            format!(
                "cannot read the TLS {what} {} (give PEM files to --tls-cert and --tls-key)",
                path.display()
            )
        })?;
    }
    RustlsConfig::from_pem_file(cert, key).await.with_context(|| {
        format!(
            "cannot use {} and {} as a TLS certificate chain and private key (both PEM; the key \
             must match the first certificate)",
            cert.display(),
            key.display()
        )
    })
}

/// Serves the API over TLS on `listener` until `shutdown` completes, with the default
/// [`crate::serve::ConnectionLimits`].
pub async fn run(
    listener: std::net::TcpListener,
    state: AppState,
    config: RustlsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let limits = crate::serve::ConnectionLimits::default();
    run_with_limits(listener, state, config, limits, shutdown).await
}

/// [`run`] with other connection limits (tests shorten the timeouts).
pub async fn run_with_limits(
    listener: std::net::TcpListener,
    state: AppState,
    config: RustlsConfig,
    limits: crate::serve::ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    state.set_serves_tls();
    let handle: Handle<SocketAddr> = Handle::new();
    let hub = state.hub().clone();
    let shutdown_handle = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        // Event streams never end by themselves; the hub ends them so the grace period is not
        // spent waiting for them.
        hub.close();
        shutdown_handle.graceful_shutdown(Some(GRACE_PERIOD));
    });
    crate::start_housekeeping(&state);
    // The same connection limits as plain HTTP (see `crate::serve`): the first request and every
    // header must arrive in time, and a body that stalls is cut off.
    let mut server = axum_server::from_tcp_rustls(listener, config)
        .context("preparing the TLS listener")?
        .first_request_timeout(limits.header_read_timeout)
        .handle(handle);
    server
        .http_builder()
        .http1()
        .header_read_timeout(limits.header_read_timeout);
    // HTTP/2 has no header timeout of its own; pings find connections whose peer is gone.
    server
        .http_builder()
        .http2()
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    let router = crate::serve::with_body_idle_timeout(crate::app(state), limits.body_idle_timeout);
    server
        .serve(router.into_make_service_with_connect_info::<SocketAddr>())
        .await
        .context("serving HTTPS")
}
