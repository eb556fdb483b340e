//! The `vitrine-scheduler` binary: reads its flags, opens the data folder, binds, announces the bound
//! address on stdout (scripts and tests read that line) and serves until SIGTERM or Ctrl-C.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use vitrine_scheduler::feed::fetch::{AllowedNetwork, FetchPolicy};
use vitrine_scheduler::quota::Quotas;
use vitrine_scheduler::rate_limit::RateLimits;
use vitrine_scheduler::{Config, Database, Media, auth, notify, tls};

mod config_file;

/// Vitrine's HQ scheduler: screens, media, playlists, manifests and proof of play over HTTP.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Read flags from this TOML file, one key per long flag (`data_dir = "/var/lib/x"`,
    /// `trust_forwarded_for = true`, `feed_allow = ["10.0.0.0/8"]`); flags given here and their
    /// environment variables win over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Address to listen on; port 0 picks a free port (the bound address is printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,

    /// Folder for the database, media blobs and the generated admin token.
    #[arg(long, value_name = "DIR", default_value = "./vitrine-data")]
    data_dir: PathBuf,

    /// Where the model is stored: a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE),
    /// which any number of schedulers may share, or `sqlite` for the file in --data-dir.
    #[arg(
        long,
        value_name = "URL",
        env = "VITRINE_DATABASE",
        hide_env_values = true,
        default_value = "sqlite"
    )]
    database: Database,

    /// Where media files are kept: `local` for DIR/media, or an S3-compatible bucket as
    /// s3://BUCKET/PREFIX, which any number of schedulers may share. The bucket's region, endpoint
    /// and credentials come from AWS_REGION, AWS_ENDPOINT_URL (AWS_ALLOW_HTTP=true for plain
    /// HTTP), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; the bucket must answer at start.
    #[arg(
        long,
        value_name = "URL",
        env = "VITRINE_MEDIA",
        default_value = "local"
    )]
    media: Media,

    /// The HQ admin token. Without it (or VITRINE_ADMIN_TOKEN), DIR/admin-token is read, or created
    /// with a random token.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "VITRINE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// The address shoppers' phones reach this scheduler at, like `https://go.shop.example`;
    /// offer QR codes lead to `URL/q/TOKEN`. Without it QR codes point at the listen address,
    /// which only phones on the same network can reach (fine on a test bench), and a warning
    /// says so at start-up.
    #[arg(long, value_name = "URL", env = "VITRINE_PUBLIC_URL")]
    public_url: Option<String>,

    /// Serve HTTPS with this PEM certificate chain (with --tls-key). Without it the scheduler
    /// serves plain HTTP, for loopback behind a TLS-terminating reverse proxy.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Sustained requests per second each token (or address, without a token) may make; 0 turns
    /// rate limiting off.
    #[arg(long, value_name = "N", default_value_t = RateLimits::default().per_second)]
    rate_limit_per_second: u32,
    /// How many requests a token may make at once before the sustained rate applies.
    #[arg(long, value_name = "N", default_value_t = RateLimits::default().burst)]
    rate_limit_burst: u32,
    /// Pairing codes each address may ask for per minute (`POST /v1/pairings`); 0 turns it off.
    #[arg(long, value_name = "N", default_value_t = RateLimits::default().pairings_per_minute)]
    pairing_limit_per_minute: u32,
    /// Count unauthenticated calls by the last X-Forwarded-For address. Only behind a reverse
    /// proxy that sets it, and only if nothing reaches the scheduler around the proxy.
    #[arg(long)]
    trust_forwarded_for: bool,

    /// Bytes of media one store's staff may keep stored (HQ's uploads are not counted).
    #[arg(long, value_name = "BYTES", default_value_t = Quotas::default().store_media_bytes)]
    store_media_quota: u64,
    /// Bytes of playlist versions one store's playlists may hold.
    #[arg(long, value_name = "BYTES", default_value_t = Quotas::default().store_playlist_bytes)]
    store_playlist_quota: u64,
    /// Hours an uploaded file that no playlist or campaign version names is kept before it is
    /// removed.
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    unused_media_grace: u64,

    /// Days raw plays (the rows of the ad log export and the chain report) are kept; older ones
    /// are deleted every hour. Their figures stay in the rollups, which the plays report reads,
    /// for good. 0 keeps raw plays for good.
    #[arg(long, value_name = "DAYS", default_value_t = 0)]
    raw_play_retention_days: u32,

    /// A non-public address or network (`10.1.2.3`, `10.0.0.0/8`, `::1`) that product feeds
    /// registered by URL may be fetched from; repeat for several. Without it, a feed URL whose
    /// host resolves to a loopback, private or link-local address is refused.
    #[arg(long, value_name = "ADDRESS[/PREFIX]")]
    feed_allow: Vec<AllowedNetwork>,
    /// The most bytes a fetched feed may weigh, as sent and once decompressed.
    #[arg(long, value_name = "BYTES", default_value_t = FetchPolicy::default().max_bytes)]
    feed_max_bytes: u64,
    /// The longest a feed fetch may take, like `5m`.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    feed_timeout: String,

    /// Serve Prometheus metrics as `http://ADDR/metrics` on a listener of their own (like
    /// `127.0.0.1:9465`), for the monitoring network only. Off without it.
    #[arg(long, value_name = "ADDR", env = "VITRINE_METRICS_LISTEN")]
    metrics_listen: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let args: Args =
        config_file::parse(std::env::args_os().collect()).unwrap_or_else(|error| error.exit());
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let admin_token = match args.admin_token {
        Some(token) => token,
        None => {
            let (token, created) = auth::load_or_create_admin_token(&args.data_dir)?;
            match created {
                Some(path) => tracing::info!(
                    path = %path.display(),
                    "generated an admin token; read it from this file"
                ),
                None => tracing::info!(
                    path = %args.data_dir.join(auth::ADMIN_TOKEN_FILE).display(),
                    "using the admin token from this file"
                ),
            }
            token
        }
    };
    let state = vitrine_scheduler::open(Config {
        data_dir: args.data_dir.clone(),
        admin_token,
        database: args.database.clone(),
        media: args.media.clone(),
    })?;
    state.set_rate_limits(&RateLimits {
        per_second: args.rate_limit_per_second,
        burst: args.rate_limit_burst,
        pairings_per_minute: args.pairing_limit_per_minute,
        trust_forwarded_for: args.trust_forwarded_for,
        ..RateLimits::default()
    });
    state.set_quotas(Quotas {
        store_media_bytes: args.store_media_quota,
        store_playlist_bytes: args.store_playlist_quota,
        unused_media_grace: std::time::Duration::from_secs(
            args.unused_media_grace.saturating_mul(60 * 60),
        ),
    });
    state.set_raw_play_retention_days(args.raw_play_retention_days);
    state.set_feed_policy(FetchPolicy {
        allow: args.feed_allow.clone(),
        max_bytes: args.feed_max_bytes,
        timeout: vitrine_core::ItemDuration::parse(&args.feed_timeout)
            .map_err(|error| anyhow::anyhow!("--feed-timeout: {error}"))?
            .as_std(),
    });
    // Read before binding, so a bad certificate stops the start with its file named.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::load(cert, key).await?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    match &args.public_url {
        Some(url) => state.set_public_url(url),
        None => {
            // QR codes need an address shoppers' phones reach; the listen address is only right
            // on a test bench, so it is used, and said.
            let url = format!("{scheme}://{address}");
            tracing::warn!(
                %url,
                "no --public-url: offer QR codes point at the listen address; set --public-url \
                 (or VITRINE_PUBLIC_URL) to the address shoppers' phones reach"
            );
            state.set_public_url(&url);
        }
    }

    // Listening for SIGTERM starts before anyone is told the scheduler serves.
    let shutdown_signal = shutdown_signal();
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "vitrine-scheduler listening on {scheme}://{address}"
    )
    .and_then(|()| stdout.flush())
    .context("writing to stdout")?;
    drop(stdout);
    tracing::info!(%address, data_dir = %args.data_dir.display(), media = %args.media, "serving");

    // The metrics listener stops with the API.
    let (stop_metrics, _) = tokio::sync::watch::channel(());
    // Metrics are bound after the API line, so scripts reading the first line are unaffected.
    if let Some(metrics_listen) = &args.metrics_listen {
        let metrics_listener = tokio::net::TcpListener::bind(metrics_listen)
            .await
            .with_context(|| {
                format!("listening for metrics on {metrics_listen} (--metrics-listen)")
            })?;
        let metrics_address = metrics_listener
            .local_addr()
            .context("reading the bound metrics address")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "vitrine-scheduler metrics on http://{metrics_address}/metrics"
        )
        .and_then(|()| stdout.flush())
        .context("writing to stdout")?;
        drop(stdout);
        let mut stopped = stop_metrics.subscribe();
        tokio::spawn(vitrine_scheduler::metrics::serve(
            metrics_listener,
            state.clone(),
            async move {
                let _ = stopped.changed().await;
            },
        ));
    }

    notify::start_watchdog(&state, address, tls.is_none(), scheme);
    // The listener is bound and accepts from here on: connections made now wait in its backlog
    // until the server below takes them.
    notify::ready(&format!("serving {scheme}://{address}"));
    let shutdown = async move {
        shutdown_signal.await;
        notify::stopping();
        let _ = stop_metrics.send(());
    };

    match tls {
        Some(config) => {
            let listener = listener
                .into_std()
                .context("handing the listener to the TLS server")?;
            tls::run(listener, state, config, shutdown).await?;
        }
        None => vitrine_scheduler::run(listener, state, shutdown).await?,
    }
    tracing::info!("stopped");
    Ok(())
}

/// Logs go to the journal with their fields when systemd connected stderr to it, and to stderr
/// as text otherwise, so that stdout carries only the "listening on" lines.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let journald = stderr_is_the_journal()
        .then(|| match tracing_journald::layer() {
            Ok(layer) => Some(layer.with_syslog_identifier("vitrine-scheduler".to_owned())),
            Err(error) => {
                eprintln!("cannot reach journald ({error}); logging to stderr");
                None
            }
        })
        .flatten();
    let registry = tracing_subscriber::registry().with(filter);
    match journald {
        Some(layer) => registry.with(layer).init(),
        None => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init(),
    }
}

/// Whether stderr is the journal stream systemd named in `JOURNAL_STREAM` (`DEVICE:INODE`), as
/// systemd.exec(5) says to check: a shell started from a unit inherits the variable, but its
/// stderr is a terminal.
fn stderr_is_the_journal() -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
            return false;
        };
        let Some((device, inode)) = stream.to_str().and_then(|text| text.split_once(':')) else {
            return false;
        };
        // `/proc/self/fd/2` resolves to stderr itself, socket or not.
        std::fs::metadata("/proc/self/fd/2").is_ok_and(|stderr| {
            device.parse() == Ok(stderr.dev()) && inode.parse() == Ok(stderr.ino())
        })
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// Completes on Ctrl-C or SIGTERM (what systemd sends), whichever comes first. The handlers are
/// installed when this is called, not when the future is first polled, so a SIGTERM that comes
/// right after start-up (`systemctl stop` just after READY) still stops the scheduler cleanly.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let streams = {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &str| {
            signal(kind)
                .inspect_err(|error| tracing::error!(%error, "cannot listen for {name}"))
                .ok()
        };
        (
            listen(SignalKind::interrupt(), "Ctrl-C"),
            listen(SignalKind::terminate(), "SIGTERM"),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (interrupt, terminate) = streams;
            let wait = |stream: Option<tokio::signal::unix::Signal>| async move {
                match stream {
                    Some(mut stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down; finishing requests in flight");
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Args;

    #[test]
    fn the_help_says_what_happens_without_a_public_url() {
        let help = Args::command().render_long_help().to_string();
        assert!(
            help.contains("Without it QR codes point at the listen address"),
            "{help}"
        );
        assert!(!help.contains("no QR code"), "{help}");
    }
}
