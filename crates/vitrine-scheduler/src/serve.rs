//! The plain-HTTP server under the router, with the connection limits `axum::serve` cannot set: a
//! client that opens a connection and sends its request slowly, or not at all (slowloris), or
//! stops halfway through a body, is cut off instead of holding a connection and a task forever.
//!
//! Connections are served with hyper's HTTP/1.1 server directly. Plain HTTP is what the scheduler
//! speaks on loopback behind the TLS proxy (nginx talks HTTP/1.1 to it); HTTP/2 comes through TLS,
//! where [`crate::tls`] sets the same limits on axum-server.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// How long a client has to send a request's whole header, counted from when the connection
/// starts waiting for it: right after it opens, and after each response on a kept-alive
/// connection. So this is also how long an idle keep-alive connection stays open.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a request body may send nothing before the request is cut off. Uploads stream in
/// small frames, so a working upload never waits this long for its next one.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The limits every connection is served with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`BODY_IDLE_TIMEOUT`].
    pub body_idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_idle_timeout: BODY_IDLE_TIMEOUT,
        }
    }
}

/// `router` with every request body cut off after `timeout` without a frame; the handler reading
/// it sees an error, as for a body the client broke off.
pub fn with_body_idle_timeout(router: Router, timeout: Duration) -> Router {
    router.layer(axum::middleware::map_request(
        move |request: Request| async move {
            request.map(|body| Body::new(tower_http::timeout::TimeoutBody::new(timeout, body)))
        },
    ))
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish. Handlers see the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let router = with_body_idle_timeout(router, limits.body_idle_timeout);
    // Dropping `begin_shutdown` tells every connection to finish; each holds a `finished`
    // receiver until it is done, so `closed()` waits for the last of them.
    let (begin_shutdown, shutting_down) = watch::channel(());
    let (finished, connection_done) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, address) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: back off a little rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(address));
            router.clone().oneshot(request.map(Body::new))
        });
        let mut shutting_down = shutting_down.clone();
        let connection_done = connection_done.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let mut connection = pin!(
                builder
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
            );
            let mut asked_to_finish = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%address, %error, "connection ended with an error");
                        }
                        break;
                    }
                    _ = shutting_down.changed(), if !asked_to_finish => {
                        asked_to_finish = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(connection_done);
        });
    }
    drop(listener);
    drop(begin_shutdown);
    drop(connection_done);
    finished.closed().await;
}
