//! `vitrine`: the command-line tool store staff and HQ use to check playlists and send them to the
//! scheduler.
//!
//! Every command returns `anyhow::Result`; `main` prints the whole cause chain on one line so that a
//! person sees both what failed and why (`could not read x.yaml: No such file or directory`). Usage
//! errors keep clap's exit code 2, and any failure, including a playlist with errors, exits 1.

mod client;
mod explain;
mod push;
mod render;
mod screens;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "vitrine",
    version,
    about = "Check playlists and send them to a Vitrine scheduler."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check playlist files and the media they name; prints every problem with its line and column.
    Validate {
        /// Playlist YAML files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print the result as JSON on stdout instead of human-readable diagnostics.
        #[arg(long)]
        json: bool,
    },
    /// Validate a playlist, upload the media the server lacks, and publish the playlist.
    Push {
        /// The playlist YAML file to push.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Say what a playlist plays at an instant, zone by zone, and why (which rule won, what it
    /// shadowed).
    Explain {
        /// The playlist YAML file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Store time like `2026-03-29T02:30`, or an instant with an offset (`…Z`, `…+01:00`).
        #[arg(long)]
        at: String,
        /// IANA time zone of the store; default: the playlist's `timezone`, else this computer's.
        #[arg(long)]
        tz: Option<String>,
        /// Only this zone.
        #[arg(long)]
        zone: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print what a playlist plays over a period, zone by zone.
    Preview {
        /// The playlist YAML file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Start, in store time (`2026-03-29T08:00`) or with an offset.
        #[arg(long)]
        from: String,
        /// End (excluded).
        #[arg(long)]
        to: String,
        /// IANA time zone of the store; default: the playlist's `timezone`, else this computer's.
        #[arg(long)]
        tz: Option<String>,
        /// Only this zone.
        #[arg(long)]
        zone: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Manage the screens registered with the scheduler.
    Screens {
        #[command(subcommand)]
        command: ScreensCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ScreensCommand {
    /// Register a screen and print its device token on stdout.
    Add {
        /// The screen's name, e.g. `store-12-entrance`.
        name: String,
        /// The playlist the screen plays.
        #[arg(long)]
        playlist: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Where the scheduler is and how to authenticate to it; shared by every command that talks to it.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Base URL of the Vitrine scheduler, e.g. `https://signage.example.com`.
    #[arg(long, env = "VITRINE_SERVER", value_name = "URL")]
    pub server: String,
    /// API token sent as `Authorization: Bearer`.
    // The value is hidden from `--help` so that a token in the environment never lands in a
    // screenshot or a support ticket.
    #[arg(
        long,
        env = "VITRINE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(exit_code) => exit_code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate { files, json } => validate::run(&files, json),
        Command::Explain {
            file,
            at,
            tz,
            zone,
            json,
        } => explain::explain(&file, &at, tz.as_deref(), zone.as_deref(), json),
        Command::Preview {
            file,
            from,
            to,
            tz,
            zone,
            json,
        } => explain::preview(&file, &from, &to, tz.as_deref(), zone.as_deref(), json),
        Command::Push { file, server } => {
            async_runtime()?.block_on(push::run(&file, &server))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Screens {
            command:
                ScreensCommand::Add {
                    name,
                    playlist,
                    server,
                },
        } => {
            async_runtime()?.block_on(screens::add(&name, &playlist, &server))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A single-threaded runtime: the CLI does one transfer at a time, and validation needs no runtime.
fn async_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")
}
