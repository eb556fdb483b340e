//! The `vitrine-scheduler` binary: reads its flags, opens the data folder, binds, announces the bound
//! address on stdout (scripts and tests read that line) and serves until SIGTERM or Ctrl-C.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use vitrine_scheduler::{Config, auth};

/// Vitrine's HQ scheduler: screens, media, playlists, manifests and proof of play over HTTP.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free port (the bound address is printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,

    /// Folder for the database, media blobs and the generated admin token.
    #[arg(long, value_name = "DIR", default_value = "./vitrine-data")]
    data_dir: PathBuf,

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
    /// offer QR codes lead to `URL/q/TOKEN`. Without it offer cards carry no QR code.
    #[arg(long, value_name = "URL", env = "VITRINE_PUBLIC_URL")]
    public_url: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr so that stdout carries only the "listening on" line.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
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
    })?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    match &args.public_url {
        Some(url) => state.set_public_url(url),
        None => {
            // QR codes need an address shoppers' phones reach; the listen address is only right
            // on a test bench, so it is used, and said.
            let url = format!("http://{address}");
            tracing::warn!(
                %url,
                "no --public-url: offer QR codes point at the listen address; set --public-url \
                 (or VITRINE_PUBLIC_URL) to the address shoppers' phones reach"
            );
            state.set_public_url(&url);
        }
    }

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "vitrine-scheduler listening on http://{address}")
        .and_then(|()| stdout.flush())
        .context("writing to stdout")?;
    drop(stdout);
    tracing::info!(%address, data_dir = %args.data_dir.display(), "serving");

    vitrine_scheduler::run(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM (what systemd sends), whichever comes first.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down; finishing requests in flight");
}
