//! The README's "Using it" block is the product's how-to, so it runs here, line by line and in
//! order: the real `vitrine-scheduler`, the real `vitrine` CLI and real headless players on
//! loopback. Every line must succeed, so the README cannot drift from the product (it once paired a
//! screen in a store it had not imported yet, with a playlist it never pushed).
//!
//! The lines are run as written. The test only puts its own things in place of the reader's: the
//! paths and addresses in [`READER_PLACES`], the variables in [`TEST_VARIABLES`], and for players
//! the flags in [`PLAYER_FLAGS`], since a test needs them to stop and to draw offscreen. A line
//! whose program is not one of Vitrine's fails the test, as does a variable no earlier line set.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use vitrine_e2e::{Process, binary, frames, runtime_dir, write_solid_png};

/// Places in the README that are the reader's, and what stands for each here (under the test's
/// temporary folder unless it starts with `/`). A word is replaced only when it is one of these
/// exactly.
const READER_PLACES: &[(&str, &str)] = &[
    // A fixed port could be taken; the scheduler says which one it got.
    ("127.0.0.1:8080", "/127.0.0.1:0"),
    ("/var/lib/vitrine-scheduler", "hq"),
    ("/var/lib/vitrine-player", "player"),
    ("/etc/vitrine/player.toml", "player.toml"),
    ("/tmp/frames", "frames"),
    ("/srv/shop", "shop"),
];

/// The address the README gives HQ; it becomes the scheduler's real one.
const HQ_URL: &str = "https://hq.example";

/// Variables the README uses that no line of it sets, and where the test takes them from.
const TEST_VARIABLES: &[(&str, &str)] = &[
    (
        "ADMIN_TOKEN",
        "the `admin-token` file the scheduler writes into its data folder",
    ),
    (
        "CODE",
        "the pairing code a player started with only --server prints",
    ),
];

/// Added to every `vitrine-player` line: offscreen, small, and stopping by itself.
const PLAYER_FLAGS: &[&str] = &["--size", "160x90", "--fps", "10", "--run-for", "4s"];

/// Lines the test cannot run, with why. Keep it short: every entry is a line the README may get
/// wrong unnoticed.
const NOT_RUN: &[(&str, &str)] = &[(
    "vitrine screens screenshot paris-11-entrance --out entrance.jpg   # what it shows now, as a JPEG",
    "it waits for the screen's answer, and no player of the README is online by then; \
     tests/commands.rs takes a screenshot of a running player",
)];

/// The `sh` blocks of the README's "Using it" section, as (line number, line).
fn using_it_lines(readme: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut in_section = false;
    let mut in_block = false;
    for (index, line) in readme.lines().enumerate() {
        if line.starts_with("## ") {
            in_section = line == "## Using it";
            continue;
        }
        if !in_section {
            continue;
        }
        if line.starts_with("```") {
            in_block = !in_block && line == "```sh";
            continue;
        }
        if in_block {
            lines.push((index + 1, line.to_owned()));
        }
    }
    lines
}

/// A shell line split into words the way `sh` would for the forms the README uses: quotes,
/// `$NAME` and `"$NAME"`, a comment after `#`, and `NAME=$(command)`.
#[derive(Debug, PartialEq)]
enum Line {
    Blank,
    Command(Vec<String>),
    /// `NAME=$(command)`: the command's stdout, trimmed, becomes `NAME`.
    Capture(String, Vec<String>),
}

fn parse_line(text: &str, variables: &BTreeMap<String, String>) -> Result<Line, String> {
    let trimmed = text.trim_start();
    if let Some((name, rest)) = trimmed.split_once("=$(")
        && !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit() || byte == b'_')
    {
        let (words, after) = split_words(rest, variables, true)?;
        let after = after.ok_or("`$(` is not closed on its line")?;
        if !(after.trim().is_empty() || after.trim_start().starts_with('#')) {
            return Err(format!("text after `$(...)`: {after}"));
        }
        return Ok(Line::Capture(name.to_owned(), words));
    }
    let (words, _) = split_words(trimmed, variables, false)?;
    Ok(if words.is_empty() {
        Line::Blank
    } else {
        Line::Command(words)
    })
}

/// Splits `text` into words, expanding variables; with `in_substitution`, stops at the unquoted
/// `)` that closes it and gives back what follows.
fn split_words<'a>(
    text: &'a str,
    variables: &BTreeMap<String, String>,
    in_substitution: bool,
) -> Result<(Vec<String>, Option<&'a str>), String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut characters = text.char_indices().peekable();
    while let Some((index, character)) = characters.next() {
        match (quote, character) {
            (Some(open), close) if open == close => quote = None,
            (Some('\''), other) => word.get_or_insert_default().push(other),
            (None, '\'' | '"') => {
                quote = Some(character);
                word.get_or_insert_default();
            }
            (_, '$') => {
                let mut name = String::new();
                while let Some(&(_, next)) = characters.peek() {
                    if next.is_ascii_alphanumeric() || next == '_' {
                        name.push(next);
                        characters.next();
                    } else {
                        break;
                    }
                }
                let value = variables
                    .get(&name)
                    .ok_or_else(|| format!("`${name}` is set by no earlier line"))?;
                word.get_or_insert_default().push_str(value);
            }
            (None, '#') if word.is_none() => break,
            (None, ')') if in_substitution => {
                words.extend(word.take());
                return Ok((words, Some(&text[index + 1..])));
            }
            (None, '(' | ')' | ';' | '|' | '&' | '<' | '>' | '`' | '\\' | '[' | ']' | '*') => {
                return Err(format!("`{character}` is shell this test does not run"));
            }
            (None, blank) if blank.is_whitespace() => words.extend(word.take()),
            (_, other) => word.get_or_insert_default().push(other),
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".to_owned());
    }
    words.extend(word.take());
    Ok((words, None))
}

/// The README run so far: its variables, and the processes it started.
struct Run {
    root: PathBuf,
    variables: BTreeMap<String, String>,
    /// The variables `export` gave the `vitrine` commands.
    exported: BTreeMap<String, String>,
    hq_url: Option<String>,
    scheduler: Option<Process>,
    /// The player that showed the pairing code.
    pairing_player: Option<Process>,
    players_run: usize,
}

impl Run {
    /// A word with the reader's places and HQ's address put in the test's.
    fn place(&self, word: &str) -> String {
        if word == HQ_URL {
            return self
                .hq_url
                .clone()
                .expect("HQ's address is used before a line starts the scheduler");
        }
        match READER_PLACES.iter().find(|(reader, _)| *reader == word) {
            Some((_, ours)) => match ours.strip_prefix('/') {
                Some(literal) => literal.to_owned(),
                None => self.root.join(ours).to_str().expect("UTF-8").to_owned(),
            },
            None => word.to_owned(),
        }
    }

    fn placed(&self, words: &[String]) -> Vec<String> {
        words.iter().map(|word| self.place(word)).collect()
    }

    fn start_scheduler(&mut self, arguments: &[String]) {
        let data_dir = arguments
            .windows(2)
            .find(|pair| pair[0] == "--data-dir")
            .map(|pair| PathBuf::from(&pair[1]))
            .expect("the scheduler line names its --data-dir");
        let mut process = Process::spawn(
            "vitrine-scheduler",
            Command::new(binary("vitrine-scheduler"))
                .args(arguments)
                .env_remove("VITRINE_ADMIN_TOKEN")
                .stdout(Stdio::piped()),
        )
        .unwrap();
        let stdout = process.child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .expect("the scheduler printed nothing")
            .unwrap();
        let url = first
            .strip_prefix("vitrine-scheduler listening on ")
            .unwrap_or_else(|| panic!("the scheduler's first line: {first}"))
            .to_owned();
        std::thread::spawn(move || for _ in lines {});
        let admin_token = std::fs::read_to_string(data_dir.join("admin-token"))
            .expect("the scheduler writes its admin token into its data folder");
        self.variables
            .insert("ADMIN_TOKEN".into(), admin_token.trim().to_owned());
        self.hq_url = Some(url);
        self.scheduler = Some(process);
    }

    /// Runs the real CLI from the workspace root, as the README's paths are written.
    fn vitrine(&self, arguments: &[String]) -> Output {
        let mut command = Command::new(binary("vitrine"));
        for name in ["VITRINE_SERVER", "VITRINE_TOKEN", "VITRINE_CA_CERT"] {
            command.env_remove(name);
        }
        command
            .args(arguments)
            .envs(&self.exported)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .output()
            .unwrap()
    }

    /// A screen is another machine: none of HQ's variables are set there.
    fn player_command(&self) -> Command {
        let mut command = Command::new(binary("vitrine-player"));
        for name in [
            "VITRINE_SERVER",
            "VITRINE_TOKEN",
            "VITRINE_SERVER_KEY",
            "VITRINE_CA_CERT",
            "VITRINE_PLAYER_CONFIG",
        ] {
            command.env_remove(name);
        }
        command.env("XDG_RUNTIME_DIR", runtime_dir(&self.root).unwrap());
        command
    }

    /// Runs a player line offscreen until `--run-for` stops it; it must exit cleanly having
    /// drawn frames.
    fn run_player(&mut self, number: usize, arguments: &[String]) {
        self.players_run += 1;
        let mut arguments = arguments.to_vec();
        if !arguments.iter().any(|argument| argument == "--headless") {
            arguments.push("--headless".into());
        }
        let frames_dir = match arguments.windows(2).find(|pair| pair[0] == "--frames-dir") {
            Some(pair) => PathBuf::from(&pair[1]),
            None => {
                let own = self.root.join(format!("frames-{number}"));
                arguments.push("--frames-dir".into());
                arguments.push(own.to_str().unwrap().to_owned());
                own
            }
        };
        arguments.extend(PLAYER_FLAGS.iter().map(|flag| (*flag).to_owned()));
        let log = self.root.join(format!("player-{number}.log"));
        let mut command = self.player_command();
        command
            .args(&arguments)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut player = Process::spawn("vitrine-player", &mut command).unwrap();
        let status = player.wait(Duration::from_secs(60)).unwrap();
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            status.success(),
            "README line {number}: `vitrine-player {}` failed ({status}):\n{log}",
            arguments.join(" ")
        );
        assert!(
            !frames(&frames_dir).is_empty(),
            "README line {number}: the player drew no frame into {}:\n{log}",
            frames_dir.display()
        );
    }

    /// Starts a player with only the scheduler's address, as the README says, and reads the
    /// pairing code it prints.
    fn pairing_code(&mut self) -> String {
        let url = self.hq_url.clone().expect("pairing before the scheduler");
        let mut command = self.player_command();
        command
            .args(["--server", &url, "--headless"])
            .arg("--data-dir")
            .arg(self.root.join("paired-player"))
            .args([
                "--size",
                "160x90",
                "--fps",
                "10",
                "--poll-interval",
                "200ms",
            ])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.root.join("paired-player.log")).unwrap());
        let mut player = Process::spawn("vitrine-player", &mut command).unwrap();
        let stdout = player.child.stdout.take().unwrap();
        let (codes, code) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("vitrine-player: pair this screen with code ")
                {
                    let _ = codes.send(rest.chars().take_while(|c| !c.is_whitespace()).collect());
                }
            }
        });
        let code: String = code
            .recv_timeout(Duration::from_secs(60))
            .expect("a player with only --server shows a pairing code");
        self.pairing_player = Some(player);
        code
    }

    /// What the README's config file would hold on that screen: HQ and the token the README's
    /// `screens add` printed.
    fn write_player_config(&self) {
        let token = self
            .variables
            .get("DEVICE_TOKEN")
            .expect("a config-file line before the README registered a screen");
        let config = format!(
            "server = \"{}\"\ntoken = \"{token}\"\ndata_dir = \"{}\"\n\n[audio]\ndevice = \"null\"\n",
            self.hq_url
                .as_deref()
                .expect("a config before the scheduler"),
            self.place("/var/lib/vitrine-player"),
        );
        std::fs::write(self.place("/etc/vitrine/player.toml"), config).unwrap();
    }

    fn run_line(&mut self, number: usize, text: &str) {
        if text.contains("$CODE") && !self.variables.contains_key("CODE") {
            let code = self.pairing_code();
            self.variables.insert("CODE".into(), code);
        }
        let line = parse_line(text, &self.variables)
            .unwrap_or_else(|error| panic!("README line {number}: {error}: {text}"));
        let (capture, words) = match line {
            Line::Blank => return,
            Line::Command(words) => (None, words),
            Line::Capture(name, words) => (Some(name), words),
        };
        let arguments = self.placed(&words[1..]);
        match (words[0].as_str(), &capture) {
            ("export", None) => {
                for assignment in &arguments {
                    let (name, value) = assignment
                        .split_once('=')
                        .unwrap_or_else(|| panic!("README line {number}: export {assignment}"));
                    let value = self.place(value);
                    self.variables.insert(name.into(), value.clone());
                    self.exported.insert(name.into(), value);
                }
            }
            ("vitrine-scheduler", None) => self.start_scheduler(&arguments),
            ("vitrine", _) => {
                let output = self.vitrine(&arguments);
                assert!(
                    output.status.success(),
                    "README line {number}: `vitrine {}` failed ({}):\n{}{}",
                    arguments.join(" "),
                    output.status,
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
                if let Some(name) = capture {
                    let value = String::from_utf8(output.stdout).unwrap().trim().to_owned();
                    self.variables.insert(name, value);
                }
            }
            ("vitrine-player", None) => {
                if arguments
                    .iter()
                    .any(|argument| argument.ends_with("player.toml"))
                {
                    self.write_player_config();
                }
                self.run_player(number, &arguments);
            }
            (program, _) => panic!(
                "README line {number}: `{program}` is not a command this test knows how to run; \
                 teach tests/readme.rs, or list the line in NOT_RUN with why: {text}"
            ),
        }
    }
}

#[test]
fn the_readme_using_it_block_runs_in_order() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let lines = using_it_lines(&readme);
    assert!(
        lines.len() > 10,
        "no `sh` block under \"## Using it\" in {}",
        readme_path.display()
    );
    for (not_run, _) in NOT_RUN {
        assert!(
            lines.iter().any(|(_, line)| line.trim() == *not_run),
            "NOT_RUN lists a line the README no longer has: {not_run}"
        );
    }

    let workspace = tempfile::tempdir().unwrap();
    let root = workspace.path().to_owned();
    // The standalone shop: a folder with its playlist and the image beside it.
    let shop = root.join("shop");
    std::fs::create_dir_all(&shop).unwrap();
    write_solid_png(&shop.join("red.png"), [255, 0, 0]).unwrap();
    std::fs::write(
        shop.join("playlist.yaml"),
        "version: 1\nname: shop\nitems:\n  - image: { file: red.png, duration: 5s }\n",
    )
    .unwrap();
    let mut run = Run {
        root,
        variables: BTreeMap::new(),
        exported: BTreeMap::new(),
        hq_url: None,
        scheduler: None,
        pairing_player: None,
        players_run: 0,
    };
    let mut commands_run = 0;
    for (number, text) in &lines {
        if NOT_RUN.iter().any(|(line, _)| text.trim() == *line) {
            continue;
        }
        let blank = matches!(parse_line(text, &BTreeMap::new()), Ok(Line::Blank));
        run.run_line(*number, text);
        if !blank {
            commands_run += 1;
        }
    }
    assert!(run.scheduler.is_some(), "the README starts no scheduler");
    assert!(run.players_run > 0, "the README starts no player");
    // Every variable the test provides is one the README uses; one that is not is a stale list.
    for (name, from) in TEST_VARIABLES {
        assert!(
            lines
                .iter()
                .any(|(_, line)| line.contains(&format!("${name}"))),
            "TEST_VARIABLES lists ${name} ({from}), which the README no longer uses"
        );
    }
    println!("ran {commands_run} lines of the README's \"Using it\"");
}

#[test]
fn lines_split_as_sh_splits_them() {
    let variables = BTreeMap::from([("CODE".to_owned(), "K7M2QX".to_owned())]);
    assert_eq!(
        parse_line(
            r#"vitrine interrupt "Leave now" --ttl 5m   # a comment, "quoted""#,
            &variables
        ),
        Ok(Line::Command(
            ["vitrine", "interrupt", "Leave now", "--ttl", "5m"]
                .map(String::from)
                .to_vec()
        ))
    );
    assert_eq!(
        parse_line(
            r#"TOKEN=$(vitrine screens pair "$CODE" --store s)  # prints it"#,
            &variables
        ),
        Ok(Line::Capture(
            "TOKEN".into(),
            ["vitrine", "screens", "pair", "K7M2QX", "--store", "s"]
                .map(String::from)
                .to_vec()
        ))
    );
    assert_eq!(
        parse_line("   # only a comment", &variables),
        Ok(Line::Blank)
    );
    assert!(parse_line("vitrine push \"$UNSET\"", &variables).is_err());
    assert!(parse_line("vitrine explain x [--zone main]", &variables).is_err());
}
