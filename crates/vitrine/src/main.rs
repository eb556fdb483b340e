//! `vitrine`: the command-line tool store staff and HQ use to check playlists and send them to the
//! scheduler.
//!
//! Every command returns `anyhow::Result`; `main` prints the whole cause chain on one line so that a
//! person sees both what failed and why (`could not read x.yaml: No such file or directory`). Usage
//! errors keep clap's exit code 2, and any failure, including a playlist with errors, exits 1.

mod client;
mod explain;
mod hq;
mod hq_explain;
mod live;
mod push;
mod render;
mod screens;
mod staff;
mod text_check;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use vitrine_wire::events::Audience;

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
    ///
    /// With `--screen` instead of a file, asks the scheduler about a registered screen: the
    /// campaigns that target it, and for offer slots each offer's eligibility, segment score, caps
    /// and holdout.
    Explain {
        /// The playlist YAML file.
        #[arg(value_name = "FILE", required_unless_present = "screen")]
        file: Option<PathBuf>,
        /// A screen registered with the scheduler, instead of a file.
        #[arg(long, conflicts_with_all = ["file", "tz", "zone"])]
        screen: Option<String>,
        /// With `--screen`: only this offer slot, explained even if no zone plays it at `--at`.
        #[arg(long, requires = "screen")]
        slot: Option<String>,
        #[command(flatten)]
        scheduler: OptionalServerArgs,
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
    /// Tokens for store staff, each limited to its stores (admin token only).
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// HQ campaigns: push, list and show them.
    Campaign {
        #[command(subcommand)]
        command: CampaignCommand,
    },
    /// Import the store list (CSV: code,name,region,tags,timezone,locale,currency). Exits 1 if
    /// any row was skipped; the others are applied.
    Stores {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Import the CRM's segment mix (CSV: store_code,segment,share).
    Segments {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Import where screens stand and how many people see each play (CSV:
    /// screen,zone,venue_zone,multiplier,source; zone empty for the whole screen; venue_zone one
    /// of exterior, entrance, checkout, in_aisle, other).
    Audience {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Import a Google Merchant Center feed (TSV, CSV, RSS or Atom XML), or with `--inventory`
    /// a local-inventory feed in Google's or Criteo's columns; what changed is printed.
    Feed {
        #[command(subcommand)]
        command: FeedCommand,
    },
    /// Put an emergency message on screens, full screen, within seconds; `list` the interrupts in
    /// force, `cancel` one or all of them.
    #[command(
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        override_usage = "vitrine interrupt MESSAGE --duration DURATION [--screen S] [--store S] \
                          [--region R] [--tag T]\n       vitrine interrupt list\n       \
                          vitrine interrupt cancel (ID | --all [--screen S] [--store S] [--region R] [--tag T])"
    )]
    Interrupt {
        #[command(subcommand)]
        command: Option<InterruptCommand>,
        #[command(flatten)]
        send: InterruptSend,
    },
    /// Make a store's next offer slots target a customer segment, e.g. after a loyalty-app check-in.
    Trigger {
        /// The store's code.
        #[arg(long)]
        store: String,
        /// The segment, as in the CRM export.
        #[arg(long)]
        segment: String,
        /// How long it holds, e.g. 10m.
        #[arg(long, default_value = "10m")]
        ttl: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Reports from the scheduler.
    Reports {
        #[command(subcommand)]
        command: ReportsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CampaignCommand {
    /// Validate a campaign, upload the media the server lacks, and store it as a new version.
    Push {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the newest version of every campaign.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print a campaign's stored source and its versions.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Send the file; skipped rows are printed as FILE:LINE: reason.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, Subcommand)]
enum FeedCommand {
    /// Send the feed; skipped rows are printed as FILE:LINE: reason.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The file is a local-inventory feed.
        #[arg(long)]
        inventory: bool,
        /// The file is the whole catalogue: products of earlier uploads it leaves out (and does
        /// not skip) are removed.
        #[arg(long, conflicts_with = "inventory")]
        replace: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Have the scheduler fetch a feed from a URL on a schedule (If-None-Match, gzip); each
    /// fetch replaces what the feed listed before.
    Add {
        name: String,
        url: String,
        /// How often, like `15m` or `1h`; at least a minute.
        #[arg(long, default_value = "1h")]
        every: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// The feeds fetched by URL, their last fetch and their alerts.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Fetch a feed now and print what changed.
    Fetch {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Stop fetching a feed; its products stay.
    Remove {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ReportsCommand {
    /// Plays, completed and delivered plays, seconds, gross impressions, scans and share of voice,
    /// grouped by any of campaign, offer, arm, creative, playlist, item, store, region, screen,
    /// zone, venue_zone, hour, day (store time); with the holdout uplift and how impressions
    /// are computed. Staff: their stores' screens only.
    Plays {
        /// Like `campaign,store,day`.
        #[arg(long, value_name = "DIMENSIONS")]
        group_by: Option<String>,
        /// The first day, `YYYY-MM-DD` (default: six days before --to).
        #[arg(long)]
        from: Option<String>,
        /// The last day, included (default: today).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        campaign: Option<String>,
        #[arg(long)]
        store: Option<String>,
        #[arg(long)]
        screen: Option<String>,
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Per screen and day, whether its plays' hash chain is intact, and where it first breaks.
    Chain {
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Impressions and QR scans per offer and arm, and the uplift over the control (staff: their
    /// stores' screens only). A scan whose play has not been uploaded yet is shown as pending.
    Scans {
        #[arg(long)]
        campaign: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Sending an interrupt: `vitrine interrupt MESSAGE --duration 5m --store paris-11`. Its fields
/// are options only because `list` and `cancel` share the command without them; clap requires
/// them whenever no subcommand is given.
#[derive(Debug, Args)]
struct InterruptSend {
    /// The message, e.g. "Please leave the store by the nearest exit".
    #[arg(required = true)]
    message: Option<String>,
    /// How long it stays, e.g. 5m.
    #[arg(long, required = true)]
    duration: Option<String>,
    #[command(flatten)]
    audience: AudienceArgs,
    /// Base URL of the Vitrine scheduler, as for every other command.
    #[arg(long, env = "VITRINE_SERVER", value_name = "URL", required = true)]
    server: Option<String>,
    /// API token sent as `Authorization: Bearer`.
    #[arg(
        long,
        env = "VITRINE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        required = true
    )]
    token: Option<String>,
    /// A PEM CA certificate to trust, for an https scheduler whose certificate a private CA
    /// signed.
    #[arg(long, env = "VITRINE_CA_CERT", value_name = "PEM")]
    ca_cert: Option<PathBuf>,
}

/// Which screens: the union of everything given.
#[derive(Debug, Args)]
struct AudienceArgs {
    /// Screens by name (repeat for several).
    #[arg(long = "screen")]
    screens: Vec<String>,
    /// Every screen of a region.
    #[arg(long)]
    region: Option<String>,
    /// Every screen of a store (repeat for several).
    #[arg(long = "store")]
    stores: Vec<String>,
    /// Every screen with a tag (repeat for several).
    #[arg(long = "tag")]
    tags: Vec<String>,
}

impl AudienceArgs {
    fn audience(self) -> Audience {
        Audience {
            screens: self.screens,
            region: self.region,
            stores: self.stores,
            tags: self.tags,
        }
    }
}

#[derive(Debug, Subcommand)]
enum InterruptCommand {
    /// List the interrupts in force: id, until when, the screens they cover, the message.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Take an interrupt off its screens now: by the id `list` shows, or every interrupt on the
    /// screens named with `--all`.
    Cancel {
        /// The interrupt's id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<u64>,
        /// Every interrupt in force on the screens named.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        audience: AudienceArgs,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ScreensCommand {
    /// Register a screen and print its device token on stdout.
    Add {
        /// The screen's name, e.g. `store-12-entrance`.
        name: String,
        /// The playlist the screen plays; it must have been pushed (`vitrine push`).
        #[arg(long)]
        playlist: String,
        /// Register it even though the playlist has not been pushed yet (admin only); the screen
        /// shows the splash until it is.
        #[arg(long)]
        not_pushed_yet: bool,
        /// The code of the store it is in.
        #[arg(long)]
        store: Option<String>,
        /// A tag campaigns can target, like `entrance`; repeat for more.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Its IANA time zone; default: its store's.
        #[arg(long)]
        timezone: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the registered screens.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show a screen's newest heartbeat: what it plays, how well it draws, what waits to be sent.
    Status {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Pair the screen that shows CODE: registers it in the store; the player then fetches its
    /// token by itself. Prints the screen's name.
    Pair {
        /// The code the screen shows, e.g. K7M2QX.
        code: String,
        /// The code of the store it is in (staff tokens: one of theirs).
        #[arg(long)]
        store: String,
        /// The screen's name; default: STORE-CODE.
        #[arg(long)]
        name: Option<String>,
        /// The playlist it plays, pushed already; default: `default`.
        #[arg(long)]
        playlist: Option<String>,
        /// Pair it even though the playlist has not been pushed yet (admin only); the screen
        /// shows the splash until it is.
        #[arg(long)]
        not_pushed_yet: bool,
        /// A tag campaigns can target; repeat for more.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Its IANA time zone; default: its store's.
        #[arg(long)]
        timezone: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Revoke a screen's token: it is refused at once; the player keeps playing its cache and
    /// says it needs pairing again.
    Revoke {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Take a screenshot of what a screen shows now: sends it the `screenshot` command, waits for
    /// the JPEG it sends HQ (at most 960 pixels wide) and writes it to FILE.
    Screenshot {
        name: String,
        /// Where to write the JPEG, e.g. lobby.jpg.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// How long to wait for the screen's answer, e.g. 10s or 1m.
        #[arg(long, default_value = "10s", value_parser = parse_timeout)]
        timeout: std::time::Duration,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show the screen's name full screen for 10 s, over whatever plays, so whoever stands in
    /// front of it can tell which one it is.
    Identify {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Restart the screen's player in place (it flushes its journal and starts again with the
    /// same settings).
    Restart {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Give a screen a new token (printed on stdout); the old one stops working.
    Rotate {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, Subcommand)]
enum StaffCommand {
    /// Make a staff token for one or more stores and print it on stdout, once.
    Add {
        /// Who holds it, e.g. `alice.store-12`.
        name: String,
        /// A store it may act on; repeat for more.
        #[arg(long = "store", value_name = "STORE", required = true)]
        stores: Vec<String>,
        /// A screen tag it may put on screens (campaigns target tags); repeat for more. None by
        /// default.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List staff tokens (never the tokens themselves).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Revoke a staff token; it is refused at once.
    Revoke {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// [`ServerArgs`] for a command that needs a server only in one of its forms.
#[derive(Debug, Args)]
pub struct OptionalServerArgs {
    /// Base URL of the Vitrine scheduler (with `--screen`).
    #[arg(long, env = "VITRINE_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// API token (with `--screen`).
    #[arg(
        long,
        env = "VITRINE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// A PEM CA certificate to trust for an https scheduler with a private CA.
    #[arg(long, env = "VITRINE_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
}

impl OptionalServerArgs {
    fn required(self) -> anyhow::Result<ServerArgs> {
        match (self.server, self.token) {
            (Some(server), Some(token)) => Ok(ServerArgs {
                server,
                token,
                ca_cert: self.ca_cert,
            }),
            _ => anyhow::bail!(
                "--screen asks the scheduler: give --server and --token (or set VITRINE_SERVER and VITRINE_TOKEN)"
            ),
        }
    }
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
    /// A PEM CA certificate to trust, for an https scheduler whose certificate a private CA
    /// signed (the system's roots are trusted too).
    #[arg(long, env = "VITRINE_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
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
            screen,
            slot,
            scheduler,
            at,
            tz,
            zone,
            json,
        } => match (screen, file) {
            (Some(screen), _) => {
                let server = scheduler.required()?;
                async_runtime()?.block_on(hq_explain::run(
                    &screen,
                    &at,
                    slot.as_deref(),
                    &server,
                    json,
                ))?;
                Ok(ExitCode::SUCCESS)
            }
            (None, Some(file)) => {
                explain::explain(&file, &at, tz.as_deref(), zone.as_deref(), json)
            }
            (None, None) => anyhow::bail!("give a playlist FILE or --screen NAME"),
        },
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
                    not_pushed_yet,
                    store,
                    tags,
                    timezone,
                    server,
                },
        } => {
            let placement = screens::Placement {
                store: store.as_deref(),
                tags: &tags,
                timezone: timezone.as_deref(),
            };
            async_runtime()?.block_on(screens::add(
                &name,
                &playlist,
                not_pushed_yet,
                placement,
                &server,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Screens {
            command: ScreensCommand::List { json, server },
        } => {
            async_runtime()?.block_on(hq::list_screens(&server, json))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Screens {
            command: ScreensCommand::Status { name, json, server },
        } => {
            async_runtime()?.block_on(hq::screen_status(&name, &server, json))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Screens {
            command:
                ScreensCommand::Pair {
                    code,
                    store,
                    name,
                    playlist,
                    not_pushed_yet,
                    tags,
                    timezone,
                    server,
                },
        } => {
            let placement = screens::Placement {
                store: Some(&store),
                tags: &tags,
                timezone: timezone.as_deref(),
            };
            async_runtime()?.block_on(screens::pair(
                &code,
                &store,
                name.as_deref(),
                playlist.as_deref(),
                not_pushed_yet,
                placement,
                &server,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Screens {
            command: ScreensCommand::Revoke { name, server },
        } => {
            async_runtime()?.block_on(screens::revoke(&name, &server))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Screens {
            command: ScreensCommand::Rotate { name, server },
        } => {
            async_runtime()?.block_on(screens::rotate(&name, &server))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Screens {
            command:
                ScreensCommand::Screenshot {
                    name,
                    out,
                    timeout,
                    server,
                },
        } => {
            async_runtime()?.block_on(screens::screenshot(&name, &out, timeout, &server))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Screens {
            command: ScreensCommand::Identify { name, server },
        } => {
            async_runtime()?.block_on(screens::command(&name, "identify", &server))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Screens {
            command: ScreensCommand::Restart { name, server },
        } => {
            async_runtime()?.block_on(screens::command(&name, "restart", &server))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Staff { command } => {
            let runtime = async_runtime()?;
            match command {
                StaffCommand::Add {
                    name,
                    stores,
                    tags,
                    server,
                } => runtime.block_on(staff::add(&name, &stores, &tags, &server))?,
                StaffCommand::List { json, server } => {
                    runtime.block_on(staff::list(&server, json))?
                }
                StaffCommand::Revoke { name, server } => {
                    runtime.block_on(staff::revoke(&name, &server))?
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Campaign { command } => {
            let runtime = async_runtime()?;
            match command {
                CampaignCommand::Push { file, server } => {
                    runtime.block_on(hq::push_campaign(&file, &server))?
                }
                CampaignCommand::List { json, server } => {
                    runtime.block_on(hq::list_campaigns(&server, json))?
                }
                CampaignCommand::Show { name, json, server } => {
                    runtime.block_on(hq::show_campaign(&name, &server, json))?
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Stores {
            command: ImportCommand::Import { file, server },
        } => async_runtime()?.block_on(hq::import(hq::ImportKind::Stores, &file, false, &server)),
        Command::Segments {
            command: ImportCommand::Import { file, server },
        } => async_runtime()?.block_on(hq::import(hq::ImportKind::Segments, &file, false, &server)),
        Command::Audience {
            command: ImportCommand::Import { file, server },
        } => async_runtime()?.block_on(hq::import(hq::ImportKind::Audience, &file, false, &server)),
        Command::Feed {
            command:
                FeedCommand::Import {
                    file,
                    inventory,
                    replace,
                    server,
                },
        } => {
            let kind = if inventory {
                hq::ImportKind::Inventory
            } else {
                hq::ImportKind::Feed
            };
            async_runtime()?.block_on(hq::import(kind, &file, replace, &server))
        }
        Command::Feed {
            command:
                FeedCommand::Add {
                    name,
                    url,
                    every,
                    server,
                },
        } => async_runtime()?
            .block_on(hq::add_feed(&name, &url, &every, &server))
            .map(|()| ExitCode::SUCCESS),
        Command::Feed {
            command: FeedCommand::List { json, server },
        } => async_runtime()?
            .block_on(hq::list_feeds(&server, json))
            .map(|()| ExitCode::SUCCESS),
        Command::Feed {
            command: FeedCommand::Fetch { name, server },
        } => async_runtime()?.block_on(hq::fetch_feed(&name, &server)),
        Command::Feed {
            command: FeedCommand::Remove { name, server },
        } => async_runtime()?
            .block_on(hq::remove_feed(&name, &server))
            .map(|()| ExitCode::SUCCESS),
        Command::Interrupt {
            command: None,
            send:
                InterruptSend {
                    message: Some(message),
                    duration: Some(duration),
                    audience,
                    server: Some(server),
                    token: Some(token),
                    ca_cert,
                },
        } => {
            let server = ServerArgs {
                server,
                token,
                ca_cert,
            };
            async_runtime()?.block_on(live::interrupt(
                audience.audience(),
                &message,
                &duration,
                &server,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Interrupt { command: None, .. } => {
            // clap requires every field above when no subcommand is given.
            anyhow::bail!(
                "say what to put on screens (`vitrine interrupt MESSAGE --duration 5m --store S`), \
                 or `vitrine interrupt list` / `vitrine interrupt cancel`"
            )
        }
        Command::Interrupt {
            command: Some(InterruptCommand::List { json, server }),
            ..
        } => {
            async_runtime()?.block_on(live::list_interrupts(json, &server))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Interrupt {
            command:
                Some(InterruptCommand::Cancel {
                    id,
                    all,
                    audience,
                    server,
                }),
            ..
        } => {
            let named_screens = !audience.screens.is_empty()
                || audience.region.is_some()
                || !audience.stores.is_empty()
                || !audience.tags.is_empty();
            let target = match id {
                Some(_) if named_screens => anyhow::bail!(
                    "an interrupt's id names it everywhere; to cancel every interrupt on some \
                     screens, use --all with --screen, --store, --region or --tag"
                ),
                Some(id) => live::CancelTarget::Id(id),
                None => {
                    debug_assert!(all, "clap requires an id or --all");
                    live::CancelTarget::All(audience.audience())
                }
            };
            async_runtime()?.block_on(live::cancel_interrupts(target, &server))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Trigger {
            store,
            segment,
            ttl,
            server,
        } => {
            async_runtime()?.block_on(live::trigger(&store, &segment, &ttl, &server))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reports {
            command:
                ReportsCommand::Scans {
                    campaign,
                    json,
                    server,
                },
        } => {
            async_runtime()?.block_on(hq::scan_report(campaign.as_deref(), &server, json))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reports {
            command:
                ReportsCommand::Plays {
                    group_by,
                    from,
                    to,
                    campaign,
                    store,
                    screen,
                    region,
                    json,
                    server,
                },
        } => {
            let query: Vec<(&str, String)> = [
                ("group_by", group_by),
                ("from", from),
                ("to", to),
                ("campaign", campaign),
                ("store", store),
                ("screen", screen),
                ("region", region),
            ]
            .into_iter()
            .filter_map(|(name, value)| value.map(|value| (name, value)))
            .collect();
            async_runtime()?.block_on(hq::play_report(&query, &server, json))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reports {
            command:
                ReportsCommand::Chain {
                    from,
                    to,
                    json,
                    server,
                },
        } => {
            let query: Vec<(&str, String)> = [("from", from), ("to", to)]
                .into_iter()
                .filter_map(|(name, value)| value.map(|value| (name, value)))
                .collect();
            async_runtime()?.block_on(hq::chain_report(&query, &server, json))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A wait like `10s`, `500ms` or `1m` (jiff's friendly durations, or ISO 8601 `PT10S`).
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let duration: jiff::SignedDuration = text
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write it like 10s, 500ms or 1m"))?;
    std::time::Duration::try_from(duration)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| format!("`{text}` is not a positive duration"))
}

/// A single-threaded runtime: the CLI does one transfer at a time, and validation needs no runtime.
fn async_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_like_durations_and_must_be_positive() {
        assert_eq!(parse_timeout("10s"), Ok(std::time::Duration::from_secs(10)));
        assert_eq!(
            parse_timeout("500ms"),
            Ok(std::time::Duration::from_millis(500))
        );
        assert_eq!(parse_timeout("1m"), Ok(std::time::Duration::from_secs(60)));
        assert!(parse_timeout("0s").is_err());
        assert!(
            parse_timeout("soon")
                .unwrap_err()
                .contains("10s, 500ms or 1m")
        );
    }
}
