//! The corpus of files with several mistakes each in `tests/mistakes/`: one run of validation must
//! report every one of them, each at its line and column with its hint. `NAME.yaml` is checked
//! against `NAME.expected`, the full list of diagnostics of one run, with `expect-test`
//! (`UPDATE_EXPECT=1` rewrites them; read each diff). Files named `campaign-*` are campaigns; the
//! others are playlists, whose includes are read from `tests/mistakes/`.

use std::path::{Path, PathBuf};

use expect_test::expect_file;
use vitrine_core::{Diagnostics, parse_campaign, parse_playlist_with_includes};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mistakes")
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

#[test]
fn one_run_reports_every_mistake_of_each_file() {
    let mut names: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 15, "only {} files", names.len());
    for name in &names {
        let source = std::fs::read_to_string(corpus().join(name)).unwrap();
        let diagnostics = diagnostics_of(name, &source);
        let errors = diagnostics.errors().count();
        assert!(
            (3..=8).contains(&errors),
            "{name}: {errors} errors, and every file of the corpus holds 3 to 8 mistakes:\n{diagnostics}"
        );
        let expected = corpus().join(name.replace(".yaml", ".expected"));
        expect_file![expected].assert_eq(&format!("{diagnostics}\n"));
    }
}
