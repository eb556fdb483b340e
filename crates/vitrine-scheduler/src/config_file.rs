//! `--config FILE`: the scheduler's flags read from a TOML file, as a package installs it in
//! `/etc/vitrine/scheduler.toml`. Its keys are the long flags (`data_dir` or `data-dir` for
//! `--data-dir`); a flag given on the command line, or its environment variable, wins over the
//! file. An unknown key, a value of the wrong type or one the flag refuses stops the start with the
//! file, line and column named.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgAction, Command, Parser};
use toml::Spanned;

/// The flag that names the file; the parsed type must have it as `config: Option<PathBuf>`.
const CONFIG: &str = "config";

/// Parses `argv` into `T`, taking the flags the command line leaves unset from the `--config`
/// file when one is given.
pub fn parse<T: Parser>(argv: Vec<OsString>) -> Result<T, clap::Error> {
    let command = T::command();
    // A first look only for --config and for what the command line and environment set; the
    // full check (missing companions such as --tls-key) comes with the file's flags merged in.
    let matches = command
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(&argv)?;
    let Some(path) = matches.get_one::<PathBuf>(CONFIG).cloned() else {
        return T::try_parse_from(argv);
    };
    let text = std::fs::read_to_string(&path).map_err(|error| {
        raw(
            ErrorKind::Io,
            format!(
                "cannot read the config file {}: {error}; give --config an existing file, or \
                 leave it out to use only flags",
                path.display()
            ),
        )
    })?;
    let from_file = flags_from_file(&command, &path, &text, |id| {
        matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    })?;
    let mut merged: Vec<OsString> = argv.iter().take(1).cloned().collect();
    merged.extend(from_file.iter().map(|flag| OsString::from(&flag.argument)));
    merged.extend(argv.iter().skip(1).cloned());
    T::try_parse_from(merged).map_err(|error| locate(error, &path, &from_file))
}

/// One flag the file gave, and where.
#[derive(Debug)]
struct FileFlag {
    long: String,
    argument: String,
    line: usize,
    column: usize,
}

fn flags_from_file(
    command: &Command,
    path: &Path,
    text: &str,
    set_elsewhere: impl Fn(&str) -> bool,
) -> Result<Vec<FileFlag>, clap::Error> {
    let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(text).map_err(|error| {
            raw(
                ErrorKind::InvalidValue,
                format!("invalid config file {}: {error}", path.display()),
            )
        })?;
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut flags = Vec::new();
    for (key, value) in entries {
        let (line, column) = line_column(text, key.span().start);
        let at = format!("{}:{line}:{column}", path.display());
        let long = key.get_ref().replace('_', "-");
        let Some(arg) = command
            .get_arguments()
            .find(|arg| arg.get_long() == Some(long.as_str()) && arg.get_id() != CONFIG)
        else {
            return Err(raw(
                ErrorKind::UnknownArgument,
                unknown_key(command, &at, key.get_ref()),
            ));
        };
        if let Some(earlier) = seen.insert(long.clone(), key.get_ref().clone()) {
            return Err(raw(
                ErrorKind::ArgumentConflict,
                format!(
                    "{at}: `{}` sets --{long} again (as `{earlier}` did); keep one of them",
                    key.get_ref()
                ),
            ));
        }
        let (value_line, value_column) = line_column(text, value.span().start);
        let value_at = format!("{}:{value_line}:{value_column}", path.display());
        let values = values_of(arg.get_action(), value.get_ref()).map_err(|expected| {
            raw(
                ErrorKind::InvalidValue,
                format!(
                    "{value_at}: `{}` takes {expected}, not {}",
                    key.get_ref(),
                    describe(value.get_ref())
                ),
            )
        })?;
        if set_elsewhere(arg.get_id().as_str()) {
            continue;
        }
        for value in values {
            flags.push(FileFlag {
                argument: match value {
                    Some(value) => format!("--{long}={value}"),
                    None => format!("--{long}"),
                },
                long: long.clone(),
                line: value_line,
                column: value_column,
            });
        }
    }
    Ok(flags)
}

/// The command-line values a TOML value stands for (`None` for a bare switch), or what the flag
/// expects instead.
fn values_of(action: &ArgAction, value: &toml::Value) -> Result<Vec<Option<String>>, &'static str> {
    let scalar = |value: &toml::Value| match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(number) => Some(number.to_string()),
        toml::Value::Float(number) => Some(number.to_string()),
        _ => None,
    };
    match action {
        ArgAction::SetTrue => match value {
            toml::Value::Boolean(true) => Ok(vec![None]),
            toml::Value::Boolean(false) => Ok(Vec::new()),
            _ => Err("true or false"),
        },
        ArgAction::Append => match value {
            toml::Value::Array(items) => items
                .iter()
                .map(|item| scalar(item).map(Some).ok_or("a list of strings"))
                .collect(),
            other => scalar(other)
                .map(|text| vec![Some(text)])
                .ok_or("a string or a list of strings"),
        },
        _ => scalar(value)
            .map(|text| vec![Some(text)])
            .ok_or("a string or a number"),
    }
}

fn describe(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

fn unknown_key(command: &Command, at: &str, key: &str) -> String {
    let keys: Vec<String> = command
        .get_arguments()
        .filter(|arg| arg.get_id() != CONFIG)
        .filter_map(|arg| arg.get_long())
        .filter(|long| !matches!(*long, "help" | "version"))
        .map(|long| long.replace('-', "_"))
        .collect();
    let closest = keys
        .iter()
        .map(|candidate| {
            (
                strsim::levenshtein(candidate, &key.replace('-', "_")),
                candidate,
            )
        })
        .min()
        .filter(|(distance, _)| *distance <= 3)
        .map(|(_, candidate)| format!(" (did you mean `{candidate}`?)"))
        .unwrap_or_default();
    format!(
        "{at}: unknown key `{key}`{closest}; the keys are the long flags of \
         `vitrine-scheduler --help`: {}",
        keys.join(", ")
    )
}

/// Names the file, line and column of a value the file gave that clap refused.
fn locate(error: clap::Error, path: &Path, flags: &[FileFlag]) -> clap::Error {
    let Some(ContextValue::String(argument)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    let long = argument
        .trim_start_matches("--")
        .split([' ', '='])
        .next()
        .unwrap_or_default();
    let Some(flag) = flags.iter().find(|flag| flag.long == long) else {
        return error;
    };
    let rendered = error.to_string();
    let message = rendered
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ");
    raw(
        error.kind(),
        format!(
            "{}:{}:{}: {message}",
            path.display(),
            flag.line,
            flag.column
        ),
    )
}

fn raw(kind: ErrorKind, message: String) -> clap::Error {
    clap::Error::raw(kind, format!("{message}\n"))
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// The shapes of the scheduler's flags: a value with a default, a number, a switch, a
    /// repeatable one, a pair that requires each other, one with an environment variable.
    #[derive(Debug, Parser)]
    struct Flags {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        #[arg(long, default_value_t = 10)]
        rate_limit_burst: u32,
        #[arg(long)]
        trust_forwarded_for: bool,
        #[arg(long)]
        feed_allow: Vec<String>,
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        #[arg(long, env = "VITRINE_CONFIG_FILE_TEST_URL")]
        public_url: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    fn parse_with(file: &tempfile::NamedTempFile, flags: &[&str]) -> Result<Flags, clap::Error> {
        let mut argv: Vec<OsString> = vec!["vitrine-scheduler".into(), "--config".into()];
        argv.push(file.path().into());
        argv.extend(flags.iter().map(OsString::from));
        parse(argv)
    }

    #[test]
    fn the_file_sets_what_the_command_line_leaves_unset() {
        let config = file(
            "listen = \"0.0.0.0:443\"\nrate_limit_burst = 40\ntrust-forwarded-for = true\n\
             feed_allow = [\"10.0.0.0/8\", \"::1\"]\ntls_cert = \"/etc/c.pem\"\n",
        );
        let flags = parse_with(
            &config,
            &["--rate-limit-burst", "7", "--tls-key", "/etc/k.pem"],
        )
        .unwrap();
        assert_eq!(flags.listen, "0.0.0.0:443");
        assert_eq!(flags.rate_limit_burst, 7, "the command line wins");
        assert!(flags.trust_forwarded_for);
        assert_eq!(flags.feed_allow, ["10.0.0.0/8", "::1"]);
        // --tls-cert from the file satisfies the command line's --tls-key, and the other way.
        assert_eq!(flags.tls_cert.as_deref(), Some(Path::new("/etc/c.pem")));
        assert_eq!(flags.tls_key.as_deref(), Some(Path::new("/etc/k.pem")));
    }

    #[test]
    fn false_leaves_a_switch_off_and_no_file_means_only_flags() {
        let config = file("trust_forwarded_for = false\n");
        assert!(!parse_with(&config, &[]).unwrap().trust_forwarded_for);
        let flags: Flags = parse(vec!["s".into(), "--listen".into(), "[::1]:1".into()]).unwrap();
        assert_eq!(flags.listen, "[::1]:1");
        assert_eq!(flags.rate_limit_burst, 10);
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line_column_and_the_closest_key() {
        let config = file("listen = \"127.0.0.1:9\"\n\n  listn = \"x\"\n");
        let message = parse_with(&config, &[]).unwrap_err().to_string();
        let at = format!(
            "{}:3:3: unknown key `listn` (did you mean `listen`?)",
            config.path().display()
        );
        assert!(message.contains(&at), "{message}");
        // Every flag but --config, --help and --version, in the order --help lists them.
        let keys = "--help`: listen, rate_limit_burst, trust_forwarded_for, feed_allow, tls_cert, \
                    tls_key, public_url";
        assert!(message.trim_end().ends_with(keys), "{message}");
    }

    #[test]
    fn a_value_the_flag_refuses_names_where_it_is() {
        let config = file("listen = \"127.0.0.1:9\"\nrate_limit_burst = \"lots\"\n");
        let message = parse_with(&config, &[]).unwrap_err().to_string();
        let at = format!(
            "{}:2:20: invalid value 'lots' for '--rate-limit-burst",
            config.path().display()
        );
        assert!(message.contains(&at), "{message}");

        let config = file("trust_forwarded_for = \"yes\"\n");
        let message = parse_with(&config, &[]).unwrap_err().to_string();
        let at = format!(
            "{}:1:23: `trust_forwarded_for` takes true or false, not a string",
            config.path().display()
        );
        assert!(message.contains(&at), "{message}");

        let config = file("listen = [\"a\"]\n");
        let message = parse_with(&config, &[]).unwrap_err().to_string();
        assert!(
            message.contains(":1:10: `listen` takes a string or a number, not a list"),
            "{message}"
        );
    }

    #[test]
    fn a_key_given_twice_or_broken_toml_or_a_missing_file_is_an_error() {
        let config = file("feed_allow = \"a\"\nfeed-allow = \"b\"\n");
        let message = parse_with(&config, &[]).unwrap_err().to_string();
        assert!(
            message.contains(":2:1: `feed-allow` sets --feed-allow again (as `feed_allow` did)"),
            "{message}"
        );

        let config = file("listen = \n");
        let message = parse_with(&config, &[]).unwrap_err().to_string();
        assert!(message.contains("invalid config file"), "{message}");
        assert!(message.contains("line 1"), "{message}");

        let argv = vec![
            "s".into(),
            "--config".into(),
            "/nonexistent/scheduler.toml".into(),
        ];
        let message = parse::<Flags>(argv).unwrap_err().to_string();
        assert!(
            message.contains("cannot read the config file /nonexistent/scheduler.toml"),
            "{message}"
        );
    }

    #[test]
    fn the_packaged_file_is_valid_for_the_scheduler() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../packaging/scheduler.toml"
        );
        let argv = vec!["vitrine-scheduler".into(), "--config".into(), path.into()];
        let args: crate::Args = parse(argv).unwrap();
        assert_eq!(args.listen, "127.0.0.1:8080");
        assert_eq!(args.data_dir, Path::new("/var/lib/vitrine-scheduler"));
        assert!(args.trust_forwarded_for);
    }
}
