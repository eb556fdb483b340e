//! The corpus of bad files in `tests/bad/`: each `NAME.yaml` has a `NAME.expected` beside it, one
//! line per diagnostic it must produce, `FILE:LINE:COLUMN: MESSAGE FRAGMENT`, in order (other
//! diagnostics may come between). A line starting with `help: ` checks the hint of the diagnostic
//! matched just before it. Files named `campaign-*` are campaigns; the others are playlists, whose
//! includes are read from `tests/bad/`.

use std::path::{Path, PathBuf};

use vitrine_core::{Diagnostic, Diagnostics, parse_campaign, parse_playlist_with_includes};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad")
}

fn diagnostics_of(name: &str, source: &str) -> Diagnostics {
    if name.starts_with("campaign-") {
        return parse_campaign(name, source)
            .map_or_else(|diagnostics| diagnostics, |parsed| parsed.warnings);
    }
    let resolver = |include: &str| {
        std::fs::read_to_string(corpus().join(include)).map_err(|_| "no such file".to_owned())
    };
    parse_playlist_with_includes(name, source, &resolver)
        .map_or_else(|diagnostics| diagnostics, |parsed| parsed.warnings)
}

fn matches(diagnostic: &Diagnostic, expected: &str) -> bool {
    let Some((place, fragment)) = expected.split_once(": ") else {
        return false;
    };
    place
        == format!(
            "{}:{}:{}",
            diagnostic.file, diagnostic.line, diagnostic.column
        )
        && diagnostic.message.contains(fragment)
}

#[test]
fn every_bad_file_gets_its_diagnostic_at_its_place() {
    let mut names: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 30, "only {} bad files", names.len());
    let mut failures = Vec::new();
    for name in &names {
        let source = std::fs::read_to_string(corpus().join(name)).unwrap();
        let expected_path = corpus().join(name.replace(".yaml", ".expected"));
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no .expected file", name));
        let diagnostics = diagnostics_of(name, &source);
        if !diagnostics.has_errors() {
            failures.push(format!(
                "{name}: accepted, but it is in the corpus of bad files"
            ));
            continue;
        }
        let mut remaining = diagnostics.iter();
        let mut last: Option<&Diagnostic> = None;
        for line in expected.lines().filter(|line| !line.trim().is_empty()) {
            if let Some(hint) = line.strip_prefix("help: ") {
                let found = last.and_then(|diagnostic| diagnostic.hint.as_deref());
                if !found.is_some_and(|found| found.contains(hint)) {
                    failures.push(format!("{name}: expected hint `{hint}`, got {found:?}"));
                }
                continue;
            }
            match remaining.find(|diagnostic| matches(diagnostic, line)) {
                Some(diagnostic) => last = Some(diagnostic),
                None => {
                    failures.push(format!("{name}: expected `{line}`, got:\n{diagnostics}"));
                    break;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
