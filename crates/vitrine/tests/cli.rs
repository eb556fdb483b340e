//! Runs the built `vitrine` binary on playlists written into a temporary folder, and, for `push` and
//! `screens add`, against a small fake scheduler that records what it was sent.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use tempfile::TempDir;
use vitrine_core::Sha256Hex;

const DEMO: &str = "\
version: 1
name: demo
items:
  - image:
      file: red.png
      duration: 1s
  - image: { file: blue.png, duration: 1s }
";

const RED_PNG: &[u8] = b"pretend this is a red PNG";
const BLUE_PNG: &[u8] = b"pretend this is a blue PNG, a little longer";

/// A temporary folder holding `files`, which is where `vitrine` runs.
fn folder_with(files: &[(&str, &[u8])]) -> TempDir {
    let folder = TempDir::new().unwrap();
    for (name, content) in files {
        std::fs::write(folder.path().join(name), content).unwrap();
    }
    folder
}

/// Runs `vitrine` in `folder`, with no server settings inherited from whoever runs the tests.
fn vitrine(folder: &Path, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(arguments)
        .current_dir(folder)
        .env_remove("VITRINE_SERVER")
        .env_remove("VITRINE_TOKEN")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn a_valid_playlist_passes() {
    let folder = folder_with(&[
        ("demo.yaml", DEMO.as_bytes()),
        ("red.png", RED_PNG),
        ("blue.png", BLUE_PNG),
    ]);
    let output = vitrine(folder.path(), &["validate", "demo.yaml"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "✓ demo.yaml: playlist \"demo\", 2 items\n");
}

#[test]
fn an_unknown_key_is_shown_at_its_location_with_a_suggestion() {
    let bad = DEMO.replace("      duration: 1s\n", "      durration: 1s\n");
    let folder = folder_with(&[
        ("bad.yaml", bad.as_bytes()),
        ("red.png", RED_PNG),
        ("blue.png", BLUE_PNG),
    ]);
    let output = vitrine(folder.path(), &["validate", "bad.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    assert!(errors.contains("bad.yaml:6:7"), "{errors}");
    assert!(errors.contains("did you mean `duration`"), "{errors}");
    // The snippet shows the line with the mistake and underlines the key.
    assert!(errors.contains("6 │       durration: 1s"), "{errors}");
    assert!(errors.contains("      ─────────\n"), "{errors}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn five_ordinary_mistakes_are_all_reported_in_one_run() {
    let first_try = "\
version: 1
name: bakery
dayparts:
  breakfast: { from: \"07:00\", to: \"11:00\" }
layout:
  main:
    background: #202020
    items:
      - image: { file: red.png, duration: 10, fit: fill }
      - image: { file: blue.png, duration: 10s, colour: red }
";
    let folder = folder_with(&[
        ("first-try.yaml", first_try.as_bytes()),
        ("red.png", RED_PNG),
        ("blue.png", BLUE_PNG),
    ]);
    let output = vitrine(folder.path(), &["validate", "--json", "first-try.yaml"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let mut found = Vec::new();
    collect_diagnostics(&report, &mut found);
    assert_eq!(
        found,
        [
            "4:14 `breakfast` is a mapping (`key: value` pairs), but it should be a daypart: a span of the day like `\"07:00-11:00\"`",
            "7:15 `background` is empty: a colour must be in quotes, like `\"#ff0000\"`",
            "9:43 duration `10` has no unit: a duration needs one, like `10s` or `1m30s`",
            "9:52 `fit: fill` is not a fit",
            "10:49 unknown field `colour` in an image item, which takes `id`, `file`, `duration`, `fit` and `transition`",
        ]
    );
}

/// Every diagnostic in a `validate --json` report, as `LINE:COLUMN MESSAGE`.
fn collect_diagnostics(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) if map.contains_key("message") => found.push(format!(
            "{}:{} {}",
            map["line"],
            map["column"],
            map["message"].as_str().unwrap_or_default()
        )),
        serde_json::Value::Object(map) => {
            for entry in map.values() {
                collect_diagnostics(entry, found);
            }
        }
        serde_json::Value::Array(entries) => {
            for entry in entries {
                collect_diagnostics(entry, found);
            }
        }
        _ => {}
    }
}

/// Text the screen would shrink, cut or draw as boxes, and a "font" that is a PNG, are told by
/// `validate` at the item's line, with the sizes a 1920×1080 screen would give.
#[test]
fn text_that_would_not_show_whole_is_warned_about_before_it_reaches_a_screen() {
    let playlist = "\
version: 1
name: hours
defaults: { duration: 10s }
items:
  - text: { id: hours, text: \"Open until 19:00\" }
  - text: { id: japanese, text: \"営業時間 10:00–20:00 Noël 🎄\", size: 10% }
  - text: { id: logo, text: \"Prix \\uE000 12 €\", size: 10% }
  - text: { id: terms, text: \"Valid in participating stores while stocks last. \", size: 10%, min_size: 10% }
  - text: { id: brand, text: \"Soldes\", size: 10%, font: { file: brand.otf } }
";
    let terms = "Valid in participating stores while stocks last. ".repeat(12);
    let playlist = playlist.replace("Valid in participating stores while stocks last. ", &terms);
    let folder = folder_with(&[
        ("hours.yaml", playlist.as_bytes()),
        ("brand.otf", b"\x89PNG\r\n\x1a\n not a font at all"),
    ]);
    let output = vitrine(folder.path(), &["validate", "--json", "hours.yaml"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let mut found = Vec::new();
    collect_diagnostics(&report, &mut found);
    expect_test::expect![[r#"
        [
            "5:5 text item `hours` does not fit its zone at 540 px on a 1920×1080 screen: it is shrunk to 369 px",
            "7:5 no font has a glyph for `\u{e000}` (U+E000) in text item `logo`: the screen would show a box",
            "8:5 text item `terms` does not fit its zone even at its `min_size`, 108 px, on a 1920×1080 screen: its end is cut with an ellipsis",
            "9:65 font file `brand.otf` cannot be used: not a font file (TTF, OTF, WOFF or WOFF2): it is a PNG image (26 bytes)",
        ]
    "#]]
    .assert_debug_eq(&found);
}

#[test]
fn missing_media_is_reported_at_the_line_naming_it() {
    let folder = folder_with(&[("demo.yaml", DEMO.as_bytes()), ("red.png", RED_PNG)]);
    let output = vitrine(folder.path(), &["validate", "demo.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    assert!(errors.contains("demo.yaml:7:20"), "{errors}");
    assert!(
        errors.contains("media file `blue.png` not found"),
        "{errors}"
    );
}

#[test]
fn media_outside_the_playlist_folder_is_refused() {
    let playlist = DEMO
        .replace("file: red.png", "file: ../red.png")
        .replace("file: blue.png", "file: /etc/hostname");
    let folder = folder_with(&[("escape.yaml", playlist.as_bytes())]);
    let output = vitrine(folder.path(), &["validate", "escape.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    // Core refuses such paths as it reads the file, before any disk is looked at.
    assert!(errors.contains("escape.yaml:5:13"), "{errors}");
    assert!(
        errors.contains("media paths must stay inside the playlist's folder"),
        "{errors}"
    );
    let absolute = DEMO.replace("file: blue.png", "file: /etc/hostname");
    let folder = folder_with(&[("absolute.yaml", absolute.as_bytes()), ("red.png", RED_PNG)]);
    let output = vitrine(folder.path(), &["validate", "absolute.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    assert!(errors.contains("absolute.yaml:7:20"), "{errors}");
    assert!(errors.contains("media paths must be relative"), "{errors}");
}

#[test]
fn json_output_carries_every_location() {
    let folder = folder_with(&[("demo.yaml", DEMO.as_bytes()), ("red.png", RED_PNG)]);
    let output = vitrine(folder.path(), &["validate", "--json", "demo.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let file = &report["files"][0];
    assert_eq!(file["file"], "demo.yaml");
    assert_eq!(file["ok"], false);
    let diagnostic = &file["diagnostics"][0];
    assert_eq!(diagnostic["line"], 7);
    assert_eq!(diagnostic["column"], 20);
    assert_eq!(diagnostic["severity"], "error");
    assert!(diagnostic["hint"].is_string());
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
}

#[test]
fn every_file_is_checked_and_every_problem_reported() {
    let unknown_key = DEMO.replace("      duration: 1s\n", "      durration: 1s\n");
    let bad_values =
        "version: 2\nname: demo\nitems:\n  - image: { file: red.png, duration: -1s }\n";
    let folder = folder_with(&[
        ("one.yaml", unknown_key.as_bytes()),
        ("good.yaml", DEMO.as_bytes()),
        ("two.yaml", bad_values.as_bytes()),
        ("red.png", RED_PNG),
        ("blue.png", BLUE_PNG),
    ]);
    let arguments = [
        "validate",
        "one.yaml",
        "missing.yaml",
        "good.yaml",
        "two.yaml",
    ];
    let output = vitrine(folder.path(), &arguments);
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    for expected in [
        "one.yaml:6:7",
        "could not read missing.yaml: No such file or directory",
        "two.yaml:1:10",
        "two.yaml:4:39",
        "3 of 4 playlist files failed validation",
    ] {
        assert!(
            errors.contains(expected),
            "expected {expected:?} in:\n{errors}"
        );
    }
    assert_eq!(stdout(&output), "✓ good.yaml: playlist \"demo\", 2 items\n");

    let json_output = vitrine(
        folder.path(),
        &[&["validate", "--json"], &arguments[1..]].concat(),
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&json_output)).unwrap();
    let oks: Vec<bool> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["ok"].as_bool().unwrap())
        .collect();
    assert_eq!(oks, [false, false, true, false]);
    assert_eq!(
        report["files"][3]["diagnostics"].as_array().unwrap().len(),
        2
    );
}

#[test]
fn usage_errors_exit_with_2() {
    let folder = TempDir::new().unwrap();
    assert_eq!(vitrine(folder.path(), &["validate"]).status.code(), Some(2));
    assert_eq!(
        vitrine(folder.path(), &["frobnicate"]).status.code(),
        Some(2)
    );
    // Without --server or VITRINE_SERVER, push cannot start.
    let output = vitrine(folder.path(), &["push", "demo.yaml", "--token", "t"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

/// One request the fake scheduler received.
#[derive(Clone, Debug)]
struct RecordedRequest {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A scheduler stand-in on loopback: answers each request with what `respond` returns (status and
/// JSON body) and records it.
struct FakeServer {
    url: String,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl FakeServer {
    fn start(respond: fn(&RecordedRequest) -> (u16, String)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        // The thread lives as long as the test process; each connection gets its own thread so that
        // a kept-alive connection never blocks the next one.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let recorded = Arc::clone(&recorded);
                std::thread::spawn(move || serve_connection(stream.unwrap(), respond, &recorded));
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve_connection(
    stream: TcpStream,
    respond: fn(&RecordedRequest) -> (u16, String),
    recorded: &Mutex<Vec<RecordedRequest>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap().to_owned();
        let path = parts.next().unwrap().to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut header_line = String::new();
            reader.read_line(&mut header_line).unwrap();
            let header_line = header_line.trim_end();
            if header_line.is_empty() {
                break;
            }
            let (name, value) = header_line.split_once(':').unwrap();
            headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
        }
        // The CLI promises a Content-Length on every body; a chunked body would hang here and fail.
        let length: usize = headers
            .get("content-length")
            .map_or(0, |value| value.parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let request = RecordedRequest {
            method,
            path,
            headers,
            body,
        };
        let (status, response_body) = respond(&request);
        recorded.lock().unwrap().push(request.clone());
        let body_to_send = if request.method == "HEAD" {
            ""
        } else {
            &response_body
        };
        write!(
            writer,
            "HTTP/1.1 {status} Whatever\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body_to_send}",
            if request.method == "HEAD" { 0 } else { response_body.len() }
        )
        .unwrap();
        writer.flush().unwrap();
    }
}

/// The server holds red.png already, and accepts everything else.
fn scheduler_holding_red(request: &RecordedRequest) -> (u16, String) {
    let red = format!("/v1/media/{}", Sha256Hex::of_bytes(RED_PNG));
    match (request.method.as_str(), request.path.as_str()) {
        ("HEAD", path) if path == red => (200, String::new()),
        ("HEAD", _) => (404, String::new()),
        ("PUT", _) => (201, String::new()),
        ("POST", "/v1/playlists") => (201, r#"{"name":"demo","version":3}"#.to_owned()),
        ("POST", "/v1/screens") => (
            201,
            r#"{"screen":"entrance","token":"device-token-123"}"#.to_owned(),
        ),
        ("GET", "/v1/server-key") => (
            200,
            r#"{"algorithm":"ed25519","public_key":"ab12"}"#.to_owned(),
        ),
        _ => (500, "unexpected request".to_owned()),
    }
}

#[test]
fn push_says_when_the_server_already_has_the_playlist() {
    let playlist = format!("{DEMO}  - image: {{ file: red.png, duration: 2s }}\n");
    let folder = folder_with(&[
        ("demo.yaml", playlist.as_bytes()),
        ("red.png", RED_PNG),
        ("blue.png", BLUE_PNG),
    ]);
    let server = FakeServer::start(|request| match request.method.as_str() {
        "POST" => (
            200,
            r#"{"name":"demo","version":3,"unchanged":true}"#.to_owned(),
        ),
        _ => scheduler_holding_red(request),
    });
    let output = vitrine(
        folder.path(),
        &[
            "push",
            "demo.yaml",
            "--server",
            &server.url,
            "--token",
            "staff-token",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "playlist \"demo\" unchanged: version 3 is already this (2 media files, 1 uploaded)\n"
    );
}

#[test]
fn push_uploads_only_missing_media_then_publishes() {
    let playlist = format!("{DEMO}  - image: {{ file: red.png, duration: 2s }}\n");
    let folder = folder_with(&[
        ("demo.yaml", playlist.as_bytes()),
        ("red.png", RED_PNG),
        ("blue.png", BLUE_PNG),
    ]);
    let server = FakeServer::start(scheduler_holding_red);
    let output = vitrine(
        folder.path(),
        &[
            "push",
            "demo.yaml",
            "--server",
            &server.url,
            "--token",
            "staff-token",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "pushed playlist \"demo\" version 3 (2 media files, 1 uploaded)\n"
    );

    let requests = server.requests();
    let summary: Vec<(&str, &str)> = requests
        .iter()
        .map(|request| (request.method.as_str(), request.path.as_str()))
        .collect();
    let blue = format!("/v1/media/{}", Sha256Hex::of_bytes(BLUE_PNG));
    let red = format!("/v1/media/{}", Sha256Hex::of_bytes(RED_PNG));
    assert_eq!(
        summary
            .iter()
            .filter(|(method, _)| *method == "HEAD")
            .count(),
        2
    );
    assert!(summary.contains(&("HEAD", red.as_str())));
    assert!(summary.contains(&("PUT", blue.as_str())));
    assert_eq!(summary.last(), Some(&("POST", "/v1/playlists")));
    assert_eq!(summary.len(), 4, "{summary:?}");
    for request in &requests {
        assert_eq!(request.headers["authorization"], "Bearer staff-token");
    }

    let upload = requests
        .iter()
        .find(|request| request.method == "PUT")
        .unwrap();
    assert_eq!(upload.body, BLUE_PNG);
    assert_eq!(upload.headers["content-length"], BLUE_PNG.len().to_string());

    let publish: serde_json::Value = serde_json::from_slice(&requests[3].body).unwrap();
    assert_eq!(publish["file_name"], "demo.yaml");
    assert_eq!(publish["source"], playlist);
    assert_eq!(
        publish["media"],
        serde_json::json!({
            "red.png": Sha256Hex::of_bytes(RED_PNG).to_string(),
            "blue.png": Sha256Hex::of_bytes(BLUE_PNG).to_string(),
        })
    );
}

#[test]
fn push_refuses_an_invalid_playlist_without_contacting_the_server() {
    let folder = folder_with(&[("demo.yaml", DEMO.as_bytes()), ("red.png", RED_PNG)]);
    let server = FakeServer::start(scheduler_holding_red);
    let output = vitrine(
        folder.path(),
        &["push", "demo.yaml", "--server", &server.url, "--token", "t"],
    );
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    assert!(errors.contains("demo.yaml:7:20"), "{errors}");
    assert!(
        errors.contains("refusing to push demo.yaml: fix the 1 error above first"),
        "{errors}"
    );
    assert!(server.requests().is_empty());
}

#[test]
fn push_shows_what_the_server_objected_to() {
    fn refusing_scheduler(request: &RecordedRequest) -> (u16, String) {
        match request.method.as_str() {
            "HEAD" => (200, String::new()),
            _ => (
                422,
                r#"{"error":{"code":"invalid_playlist","message":"the playlist names a screen that does not exist",
                    "diagnostics":[{"severity":"error","file":"demo.yaml","line":2,"column":7,
                    "message":"no such store","hint":"check the name"}]}}"#
                    .to_owned(),
            ),
        }
    }
    let folder = folder_with(&[
        ("demo.yaml", DEMO.as_bytes()),
        ("red.png", RED_PNG),
        ("blue.png", BLUE_PNG),
    ]);
    let server = FakeServer::start(refusing_scheduler);
    let output = vitrine(
        folder.path(),
        &["push", "demo.yaml", "--server", &server.url, "--token", "t"],
    );
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    assert!(errors.contains("[demo.yaml:2:7]"), "{errors}");
    assert!(errors.contains("2 │ name: demo"), "{errors}");
    assert!(errors.contains("help: check the name"), "{errors}");
    assert!(
        errors.contains(
            "error: the server refused demo.yaml: the playlist names a screen that does not exist \
             (HTTP 422 Unprocessable Entity, code `invalid_playlist`)"
        ),
        "{errors}"
    );
}

#[test]
fn a_refusal_of_a_valid_token_names_the_missing_right_not_the_token() {
    fn admin_only_scheduler(_: &RecordedRequest) -> (u16, String) {
        (
            403,
            r#"{"error":{"code":"forbidden","message":"this needs the admin token; staff token `alice` acts only on store paris-11: it may push its stores' playlists"}}"#
                .to_owned(),
        )
    }
    let folder = folder_with(&[]);
    let server = FakeServer::start(admin_only_scheduler);
    let output = vitrine(
        folder.path(),
        &[
            "campaign",
            "list",
            "--server",
            &server.url,
            "--token",
            "staff-token",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    assert!(
        errors.contains("this needs the admin token; staff token `alice` acts only on store"),
        "the scheduler's reason is shown: {errors}"
    );
    assert!(
        errors.contains("the token was accepted, but it lacks the right to do this"),
        "{errors}"
    );
    assert!(!errors.contains("check --token"), "{errors}");
}

#[test]
fn the_scan_report_shows_scans_still_waiting_for_their_play() {
    fn reporting_scheduler(_: &RecordedRequest) -> (u16, String) {
        (
            200,
            r#"{"rows":[{"campaign":"winter-sale","offer":"cola","arm":"treatment",
                "impressions":4,"partial_plays":1,"scans":2,"scan_devices":3,"scan_hits":5,
                "pending_scans":1,"scan_rate":0.4}],"uplift":[]}"#
                .to_owned(),
        )
    }
    let folder = folder_with(&[]);
    let server = FakeServer::start(reporting_scheduler);
    let output = vitrine(
        folder.path(),
        &["reports", "scans", "--server", &server.url, "--token", "t"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec![
                "CAMPAIGN",
                "OFFER",
                "ARM",
                "IMPRESSIONS",
                "PARTIAL",
                "SCANS",
                "PHONES",
                "HITS",
                "PENDING",
                "RATE"
            ],
            vec![
                "winter-sale",
                "cola",
                "treatment",
                "4",
                "1",
                "2",
                "3",
                "5",
                "1",
                "40.00%"
            ],
        ],
        "{text}"
    );
}

#[test]
fn an_unreachable_server_is_named() {
    let folder = folder_with(&[
        ("demo.yaml", DEMO.as_bytes()),
        ("red.png", RED_PNG),
        ("blue.png", BLUE_PNG),
    ]);
    // A port that was just free: nothing listens there once the listener is dropped.
    let address = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{address}");
    let output = Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["push", "demo.yaml"])
        .current_dir(folder.path())
        .env("VITRINE_SERVER", &url)
        .env("VITRINE_TOKEN", "t")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    assert!(
        errors.contains(&format!("could not reach the Vitrine server at {url}")),
        "{errors}"
    );
    assert!(errors.contains("check --server"), "{errors}");
}

#[test]
fn screens_add_prints_the_token_alone_on_stdout() {
    let folder = TempDir::new().unwrap();
    let server = FakeServer::start(scheduler_holding_red);
    let output = vitrine(
        folder.path(),
        &[
            "screens",
            "add",
            "entrance",
            "--playlist",
            "demo",
            "--server",
            &server.url,
            "--token",
            "hq-token",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "device-token-123\n");
    assert!(stderr(&output).contains("player's configuration"));
    // The manifest key goes beside the token, on stderr, as the config line to paste.
    assert!(
        stderr(&output).contains("server_key = \"ab12\""),
        "{}",
        stderr(&output)
    );
    // And the screen's name, which binds the player to this screen's manifests.
    assert!(
        stderr(&output).contains("\nscreen = \"entrance\""),
        "{}",
        stderr(&output)
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        (requests[1].method.as_str(), requests[1].path.as_str()),
        ("GET", "/v1/server-key")
    );
    assert_eq!(requests[0].headers["authorization"], "Bearer hq-token");
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"name": "entrance", "playlist": "demo"})
    );
}

fn scheduler_with_interrupts(request: &RecordedRequest) -> (u16, String) {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/v1/interrupts") => (
            201,
            r#"{"id":1733300000000001,"screens":["door","till"],"connected":2,"until":"2026-12-04T10:05:00Z"}"#.into(),
        ),
        ("GET", "/v1/interrupts") => (
            200,
            r#"{"interrupts":[{"id":1733300000000001,"message":"Leave by the main exit","until":"2026-12-04T10:05:00Z","screens":["door","till"]}]}"#.into(),
        ),
        ("POST", "/v1/interrupts/1733300000000001/cancel") | ("POST", "/v1/interrupts/cancel") => (
            200,
            r#"{"cancelled":[{"id":1733300000000001,"screens":["door","till"],"connected":2}]}"#.into(),
        ),
        _ => (404, r#"{"error":{"code":"not_found","message":"no such route"}}"#.into()),
    }
}

#[test]
fn interrupts_are_listed_and_cancelled_by_id_or_for_a_store() {
    let folder = TempDir::new().unwrap();
    let server = FakeServer::start(scheduler_with_interrupts);
    let run = |arguments: &[&str]| {
        let mut all = arguments.to_vec();
        all.extend(["--server", &server.url, "--token", "hq-token"]);
        vitrine(folder.path(), &all)
    };
    // Sending still takes the message first, with the subcommands beside it.
    let sent = run(&[
        "interrupt",
        "Leave by the main exit",
        "--duration",
        "5m",
        "--store",
        "paris-11",
    ]);
    assert_eq!(sent.status.code(), Some(0), "{}", stderr(&sent));
    assert!(
        stdout(&sent).starts_with("interrupt sent to 2 screens"),
        "{}",
        stdout(&sent)
    );
    let listed = run(&["interrupt", "list"]);
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    let listed = stdout(&listed);
    assert!(
        listed.contains("1733300000000001   2026-12-04T10:05:00Z"),
        "{listed}"
    );
    assert!(listed.contains("door,till"), "{listed}");
    assert!(
        listed.trim_end().ends_with("Leave by the main exit"),
        "{listed}"
    );

    let by_id = run(&["interrupt", "cancel", "1733300000000001"]);
    assert_eq!(by_id.status.code(), Some(0), "{}", stderr(&by_id));
    assert!(
        stdout(&by_id).starts_with("interrupt 1733300000000001 cancelled on 2 screens"),
        "{}",
        stdout(&by_id)
    );
    let for_store = run(&["interrupt", "cancel", "--all", "--store", "paris-11"]);
    assert_eq!(for_store.status.code(), Some(0), "{}", stderr(&for_store));
    // An id and screens together are refused before anything is sent.
    let both = run(&["interrupt", "cancel", "7", "--store", "paris-11"]);
    assert_eq!(both.status.code(), Some(1));
    assert!(stderr(&both).contains("--all"), "{}", stderr(&both));
    // Neither is a usage error.
    assert_eq!(run(&["interrupt", "cancel"]).status.code(), Some(2));

    let requests = server.requests();
    let asked: Vec<(&str, &str)> = requests
        .iter()
        .map(|request| (request.method.as_str(), request.path.as_str()))
        .collect();
    assert_eq!(
        asked,
        [
            ("POST", "/v1/interrupts"),
            ("GET", "/v1/interrupts"),
            ("POST", "/v1/interrupts/1733300000000001/cancel"),
            ("POST", "/v1/interrupts/cancel"),
        ]
    );
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["message"], "Leave by the main exit");
    assert_eq!(body["stores"], serde_json::json!(["paris-11"]));
    let body: serde_json::Value = serde_json::from_slice(&requests[3].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"screens": [], "stores": ["paris-11"], "tags": []})
    );
}

/// A playlist the scheduler has never seen is refused with its suggestion, shown as it is; with
/// `--not-pushed-yet` the CLI asks for the screen anyway and passes the scheduler's warning on.
#[test]
fn screens_add_shows_an_unknown_playlist_refused_or_warned_with_not_pushed_yet() {
    fn scheduler_without_lobyy(request: &RecordedRequest) -> (u16, String) {
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/v1/screens") if body["allow_unpushed"] == true => (
                201,
                r#"{"screen":"door","token":"device-token-123","warning":"playlist `spring` has not been pushed yet: the screen shows the splash until it is (`vitrine push FILE.yaml`)"}"#
                    .to_owned(),
            ),
            ("POST", "/v1/screens") => (
                404,
                r#"{"error":{"code":"playlist_not_pushed","message":"no playlist called `lobyy` has been pushed; did you mean `lobby`? Pushed playlists: demo, lobby."}}"#
                    .to_owned(),
            ),
            ("GET", "/v1/server-key") => (200, r#"{"public_key":"ab12"}"#.to_owned()),
            _ => (500, "unexpected request".to_owned()),
        }
    }
    let folder = TempDir::new().unwrap();
    let server = FakeServer::start(scheduler_without_lobyy);
    let add = |playlist: &str, extra: &[&str]| {
        let mut arguments = vec!["screens", "add", "door", "--playlist", playlist];
        arguments.extend_from_slice(extra);
        arguments.extend_from_slice(&["--server", &server.url, "--token", "hq-token"]);
        vitrine(folder.path(), &arguments)
    };

    let refused = add("lobyy", &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(stdout(&refused), "", "no token for a refused screen");
    assert!(
        stderr(&refused).contains("could not add screen \"door\"")
            && stderr(&refused).contains("did you mean `lobby`? Pushed playlists: demo, lobby."),
        "{}",
        stderr(&refused)
    );

    let warned = add("spring", &["--not-pushed-yet"]);
    assert_eq!(warned.status.code(), Some(0), "{}", stderr(&warned));
    assert_eq!(stdout(&warned), "device-token-123\n");
    assert!(
        stderr(&warned).contains(
            "warning: playlist `spring` has not been pushed yet: the screen shows the splash"
        ),
        "{}",
        stderr(&warned)
    );
    let bodies: Vec<serde_json::Value> = server
        .requests()
        .iter()
        .filter(|request| request.path == "/v1/screens")
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect();
    assert_eq!(
        bodies,
        [
            serde_json::json!({"name": "door", "playlist": "lobyy"}),
            serde_json::json!({"name": "door", "playlist": "spring", "allow_unpushed": true}),
        ]
    );
}

/// What a scheduler answers to each list and report the CLI prints, with a field the CLI does
/// not know in each, as a newer scheduler might send.
fn listing_scheduler(request: &RecordedRequest) -> (u16, String) {
    let path = request.path.as_str();
    let body = if path.starts_with("/v1/campaigns") {
        r#"{"campaigns":[{"name":"winter-sale","version":2,"layer":"default","priority":-5,
            "from":"2026-12-01","targets":{"all":true},"offers":3,
            "created_at":"2026-11-30T10:00:00Z","added_later":1}]}"#
    } else if path.starts_with("/v1/screens") {
        r#"{"screens":[{"name":"door","playlist":"lobby","timezone":"","store":null,
            "tags":["entrance","window"],"created_at":"2026-11-30T10:00:00Z","added_later":1}]}"#
    } else if path.starts_with("/v1/staff") {
        r#"{"staff":[{"name":"alice","stores":["paris-11","lyon-2"],
            "created_at":"2026-12-01T08:00:00Z","added_later":1}]}"#
    } else if path.starts_with("/v1/feeds") {
        r#"{"feeds":[{"name":"shop","url":"https://shop.example/p.xml","interval_seconds":900,
            "etag":null,"last_modified":null,"last_attempt_at":"2026-12-05T09:00:00Z",
            "last_success_at":null,"alert":"HTTP 500","added_later":1}]}"#
    } else if path.starts_with("/v1/explain") {
        r#"{"screen":"door","at":"2026-12-05T09:30:00Z","timezone":"Europe/Paris",
            "campaigns":[{"name":"winter","because":"it targets all screens","applies":true}],
            "not_targeted":[],
            "zones":[{"zone":"main","item":null,"reason":"no rule applies: the fallback shows"}],
            "offers":[{"slot":"deal","play_start":"2026-12-05T09:30:00Z",
                "pick":{"considered":[{"offer_id":"cola","campaign":"winter","weight":2,
                    "priority":0,"verdict":"capped","shown_last_hour":4,"cap":4}],
                    "trigger":{"segment":"families","followed":false},"total_weight":0,
                    "holdout_roll":1234,"fallback":true},
                "eligible":[{"slot":"deal","campaign":"winter","offer_id":"cola",
                    "segment_score":0.5,"weight":2}],
                "excluded":[{"slot":"deal","campaign":"winter","offer_id":"tea",
                    "reason":"out of stock"}],
                "shown_last_hour":{"cola":4}}],
            "added_later":1}"#
    } else {
        return (
            404,
            r#"{"error":{"code":"not_found","message":"no such path"}}"#.to_owned(),
        );
    };
    (200, body.to_owned())
}

#[test]
fn lists_and_explanations_print_as_before_and_json_as_the_server_wrote_it() {
    let folder = folder_with(&[]);
    let server = FakeServer::start(listing_scheduler);
    let run = |arguments: &[&str]| {
        let mut arguments = arguments.to_vec();
        arguments.extend(["--server", &server.url, "--token", "t"]);
        let output = vitrine(folder.path(), &arguments);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        stdout(&output)
    };
    assert_eq!(
        run(&["campaign", "list"]),
        "NAME                     VERSION LAYER    PRIORITY FROM       UNTIL      OFFERS\n\
         winter-sale                    2 default        -5 2026-12-01 -               3\n"
    );
    assert_eq!(
        run(&["screens", "list"]),
        "NAME                         PLAYLIST         STORE        TIMEZONE           TAGS\n\
         door                         lobby            -            (store's)          entrance,window\n"
    );
    assert_eq!(
        run(&["staff", "list"]),
        "NAME                     STORES                           CREATED                    REVOKED\n\
         alice                    paris-11,lyon-2                  2026-12-01T08:00:00Z       -\n"
    );
    assert_eq!(
        run(&["feed", "list"]),
        "NAME                 EVERY (S) LAST FETCH                   LAST SUCCESS                 URL\n\
         shop                       900 2026-12-05T09:00:00Z         -                            https://shop.example/p.xml\n  \
         alert: HTTP 500\n"
    );
    assert_eq!(
        run(&[
            "explain",
            "--screen",
            "door",
            "--at",
            "2026-12-05T09:30:00Z"
        ]),
        "screen door at 2026-12-05T09:30:00Z (store -, Europe/Paris)\n  \
         campaign winter applies: it targets all screens\n  \
         zone main: - — no rule applies: the fallback shows\n  \
         slot deal at 2026-12-05T09:30:00Z: shows - (-, arm -)\n    \
         eligible winter / cola: segment score 0.50, weight 2, stock -\n    \
         cola: capped (4 of 4 this hour)\n    \
         trigger for segment `families` in force, but none of its offers may show now: the \
         normal order\n    \
         holdout roll 1234 of 10000 (the control shows below the offer's holdout share)\n    \
         not eligible winter / tea: out of stock\n"
    );
    // `--json` prints what the server sent, fields this CLI does not know included.
    for command in [
        &["campaign", "list", "--json"][..],
        &["screens", "list", "--json"],
        &["staff", "list", "--json"],
        &["feed", "list", "--json"],
        &[
            "explain",
            "--screen",
            "door",
            "--at",
            "2026-12-05T09:30:00Z",
            "--json",
        ],
    ] {
        let printed: serde_json::Value = serde_json::from_str(&run(command)).unwrap();
        let path = match command[0] {
            "campaign" => "/v1/campaigns",
            "screens" => "/v1/screens",
            "staff" => "/v1/staff",
            "feed" => "/v1/feeds",
            _ => "/v1/explain",
        };
        let (_, sent) = listing_scheduler(&RecordedRequest {
            method: "GET".to_owned(),
            path: path.to_owned(),
            headers: HashMap::new(),
            body: Vec::new(),
        });
        let sent: serde_json::Value = serde_json::from_str(&sent).unwrap();
        assert_eq!(printed, sent, "{command:?}");
    }
}
