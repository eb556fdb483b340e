//! What the benchmarks need around a release player run: its configuration, the plays it
//! journalled (the proof that the work a figure times happened), and its memory as it runs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The `[video] decoder` the benchmarks run the player with, and the mpv option that makes the
/// same choice: `software` (the default: the machines here have no video hardware, and it makes
/// runs comparable between machines) or `auto` (`VITRINE_BENCH_DECODER=auto`: hardware where
/// present, on both sides).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    Software,
    Auto,
}

impl Decoder {
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var("VITRINE_BENCH_DECODER").as_deref() {
            Err(_) | Ok("" | "software") => Ok(Decoder::Software),
            Ok("auto") => Ok(Decoder::Auto),
            Ok(other) => bail!("VITRINE_BENCH_DECODER={other}: use `software` or `auto`"),
        }
    }

    /// The player's `[video] decoder` value.
    pub fn setting(self) -> &'static str {
        match self {
            Decoder::Software => "software",
            Decoder::Auto => "auto",
        }
    }

    /// mpv's matching `--hwdec`.
    pub fn mpv_hwdec(self) -> &'static str {
        match self {
            Decoder::Software => "--hwdec=no",
            Decoder::Auto => "--hwdec=auto",
        }
    }
}

/// Writes the player's configuration for a benchmark into `directory`: the decoder choice, and
/// no sound device (the peers play with `--ao=null`).
pub fn write_config(directory: &Path, decoder: Decoder) -> anyhow::Result<std::path::PathBuf> {
    let config = directory.join("player.toml");
    std::fs::write(
        &config,
        format!(
            "[video]\ndecoder = \"{}\"\n[audio]\ndevice = \"null\"\n",
            decoder.setting()
        ),
    )?;
    Ok(config)
}

/// One journalled play.
pub struct Play {
    pub item_id: String,
    pub completed: bool,
    /// Seconds on screen, from its start to its end.
    pub seconds: f64,
}

/// The plays a player journalled in its data directory (`player.sqlite3`, table `journal`).
pub fn plays(data: &Path) -> anyhow::Result<Vec<Play>> {
    let database = data.join("player.sqlite3");
    let connection = rusqlite::Connection::open_with_flags(
        &database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .with_context(|| format!("cannot open the player's journal {}", database.display()))?;
    let mut statement = connection.prepare(
        "SELECT json_extract(body, '$.item_id'), json_extract(body, '$.completed'), \
         (julianday(json_extract(body, '$.ended_at')) \
          - julianday(json_extract(body, '$.started_at'))) * 86400.0 \
         FROM journal ORDER BY sequence",
    )?;
    let plays = statement
        .query_map([], |row| {
            Ok(Play {
                item_id: row.get::<_, Option<String>>(0)?.unwrap_or_default(),
                completed: row.get::<_, Option<bool>>(1)?.unwrap_or(false),
                seconds: row.get::<_, Option<f64>>(2)?.unwrap_or(0.0),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(plays)
}

/// The seconds the plays of `item_id` were on screen, after checking that at least `completed`
/// of them played their whole turn: a player that failed to decode shows nothing and would
/// otherwise look cheap.
pub fn seconds_shown(
    data: &Path,
    item_id: &str,
    completed: usize,
    what: &str,
) -> anyhow::Result<f64> {
    let plays: Vec<Play> = plays(data)?
        .into_iter()
        .filter(|play| play.item_id == item_id)
        .collect();
    let done = plays.iter().filter(|play| play.completed).count();
    if done < completed {
        bail!(
            "{what}: the player journalled {done} completed play(s) of item `{item_id}` \
             ({} in all), not {completed}: the work did not happen, so its figure would measure \
             a failure (see its log above)",
            plays.len()
        );
    }
    Ok(plays.iter().map(|play| play.seconds).sum())
}

/// What `/usr/bin/time` says about a whole command: CPU seconds (user + system), peak RSS and
/// wall seconds. The command must succeed.
pub struct Usage {
    pub cpu_seconds: f64,
    pub peak_rss_mib: f64,
    pub wall_seconds: f64,
}

pub fn usage(command: &mut Command) -> anyhow::Result<Usage> {
    usage_under(&[], command)
}

/// [`usage`] of `command` run under `wrapper` (such as `xvfb-run -a`): the wrapper's own use is
/// not counted.
pub fn usage_under(wrapper: &[&str], command: &mut Command) -> anyhow::Result<Usage> {
    let report = std::env::temp_dir().join(format!(
        "vitrine-bench-usage-{}-{:?}.txt",
        std::process::id(),
        std::thread::current().id()
    ));
    let program = command.get_program().to_owned();
    let arguments: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let mut timed = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut timed = Command::new(first);
            timed.args(rest).arg("/usr/bin/time");
            timed
        }
        None => Command::new("/usr/bin/time"),
    };
    timed
        .args(["-f", "%U %S %M %e", "-o"])
        .arg(&report)
        .arg(&program)
        .args(&arguments)
        .envs(
            command
                .get_envs()
                .filter_map(|(key, value)| value.map(|value| (key, value))),
        );
    let output = timed
        .output()
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}",
            program.to_string_lossy(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = std::fs::read_to_string(&report)?;
    let _ = std::fs::remove_file(&report);
    // The last line: /usr/bin/time writes "Command exited with ..." lines before it.
    let numbers: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("unreadable /usr/bin/time output `{text}`"))?;
    let [user, system, peak_kib, wall] = numbers[..] else {
        bail!("unreadable /usr/bin/time output `{text}`");
    };
    Ok(Usage {
        cpu_seconds: user + system,
        peak_rss_mib: peak_kib / 1024.0,
        wall_seconds: wall,
    })
}

/// Runs `command` to its end and samples its resident memory (`VmRSS` in `/proc/PID/status`)
/// every `interval`: (seconds since start, MiB) pairs. The command must succeed.
pub fn rss_samples(command: &mut Command, interval: Duration) -> anyhow::Result<Vec<(f64, f64)>> {
    let started = Instant::now();
    let mut child = command.spawn().context("cannot start the player")?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut samples = Vec::new();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|number| number.parse::<f64>().ok())
        {
            samples.push((started.elapsed().as_secs_f64(), kib / 1024.0));
        }
        std::thread::sleep(interval);
    };
    if !status.success() {
        bail!("the player failed ({status})");
    }
    Ok(samples)
}
