//! `vitrine validate`: reads playlist files, checks them with core's parser, checks that the media they
//! name sits next to them, and reports every problem in every file before exiting.

use std::fs::File;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;

use vitrine_core::playlist::{MAX_PLAYLIST_BYTES, Parsed, parse_playlist_with_includes};
use vitrine_core::{Diagnostic, Diagnostics, Playlist};

use crate::render::DiagnosticPrinter;

/// One playlist file, read and checked.
#[derive(Debug)]
pub struct CheckedFile {
    /// The path as the user wrote it, used in every message about the file.
    pub display_path: String,
    /// The file's text; `None` when it was too large to read, so that there is no snippet to show.
    pub source: Option<String>,
    /// The fragments it includes, path as written -> text: shown in snippets and sent with a push.
    pub includes: BTreeMap<String, String>,
    /// The playlist, when the file parsed; it may still name missing media (see `diagnostics`).
    pub playlist: Option<Playlist>,
    /// Errors and warnings, in the playlist file and in its fragments.
    pub diagnostics: Diagnostics,
}

impl CheckedFile {
    /// The playlist, if nothing in the file or its media is an error.
    pub fn valid_playlist(&self) -> Option<&Playlist> {
        if self.diagnostics.has_errors() {
            None
        } else {
            self.playlist.as_ref()
        }
    }

    /// Prints every diagnostic with a snippet of the file it is in (the playlist or a fragment).
    pub fn print_diagnostics(&self, printer: &DiagnosticPrinter) {
        for diagnostic in self.diagnostics.iter() {
            let source = if diagnostic.file == self.display_path {
                self.source.as_deref()
            } else {
                self.includes.get(&diagnostic.file).map(String::as_str)
            };
            eprintln!("{}", printer.render(diagnostic, source));
        }
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.severity == vitrine_core::Severity::Error)
            .count()
    }
}

/// Reads and checks one playlist file. Problems in the file are diagnostics in the result; only a file
/// that cannot be read at all is an error.
pub fn check_file(path: &Path) -> anyhow::Result<CheckedFile> {
    let display_path = path.display().to_string();
    let Some(source) = read_playlist_text(path, &display_path)? else {
        let size = std::fs::metadata(path).map_or(0, |metadata| metadata.len());
        // Core refuses such files too, but only once they are in memory; reading a stray video by
        // mistake would first cost its whole size, so the limit is applied while reading.
        let diagnostic = Diagnostic::error(
            &display_path,
            1,
            1,
            format!("playlist is {size} bytes, over the {MAX_PLAYLIST_BYTES}-byte limit"),
        )
        .with_hint("split it into several playlists, or check that this is the playlist file");
        return Ok(CheckedFile {
            display_path,
            source: None,
            includes: BTreeMap::new(),
            playlist: None,
            diagnostics: Diagnostics(vec![diagnostic]),
        });
    };
    let playlist_folder = path.parent().unwrap_or(Path::new("."));
    // Fragments are read from the playlist's folder, under the same rules as media paths, and
    // remembered: their text goes into snippets and travels with a push.
    let includes = RefCell::new(BTreeMap::new());
    let resolve = |include: &str| -> Result<String, String> {
        if let Some(problem) = media_path_problem(include) {
            return Err(format!("`{include}` {problem}"));
        }
        let text = std::fs::read_to_string(playlist_folder.join(include))
            .map_err(|error| format!("could not read `{include}`: {error}"))?;
        includes
            .borrow_mut()
            .insert(include.to_owned(), text.clone());
        Ok(text)
    };
    let (playlist, mut diagnostics) =
        match parse_playlist_with_includes(&display_path, &source, &resolve) {
            Ok(Parsed {
                value: playlist,
                warnings,
            }) => {
                let mut diagnostics = check_media(&playlist, &display_path, playlist_folder);
                diagnostics.0.extend(warnings.0);
                diagnostics.0.extend(
                    crate::text_check::check_text(&playlist, &display_path, playlist_folder).0,
                );
                (Some(playlist), diagnostics)
            }
            Err(diagnostics) => (None, diagnostics),
        };
    // The playlist file first, then each fragment; top to bottom in each.
    diagnostics.0.sort_by(|left, right| {
        (
            left.file != display_path,
            &left.file,
            left.line,
            left.column,
        )
            .cmp(&(
                right.file != display_path,
                &right.file,
                right.line,
                right.column,
            ))
    });
    Ok(CheckedFile {
        display_path,
        source: Some(source),
        includes: includes.into_inner(),
        playlist,
        diagnostics,
    })
}

/// The file's text, or `None` when it is over the playlist size limit.
fn read_playlist_text(path: &Path, display_path: &str) -> anyhow::Result<Option<String>> {
    let file = File::open(path).with_context(|| format!("could not read {display_path}"))?;
    let limit = u64::try_from(MAX_PLAYLIST_BYTES).unwrap_or(u64::MAX);
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("could not read {display_path}"))?;
    if bytes.len() > MAX_PLAYLIST_BYTES {
        return Ok(None);
    }
    let text = String::from_utf8(bytes)
        .with_context(|| format!("could not read {display_path}: it is not UTF-8 text"))?;
    Ok(Some(text))
}

/// Checks every media file the playlist names: it must be a relative path inside the playlist's
/// folder, and a file must exist there. Diagnostics come back in the order they appear in the file.
pub fn check_media(playlist: &Playlist, display_path: &str, playlist_folder: &Path) -> Diagnostics {
    // Paths that escape the folder get their own diagnostic below, so `check_media` must not also
    // call them missing.
    let mut diagnostics = playlist.check_media(display_path, |file| {
        media_path_problem(file).is_some() || playlist_folder.join(file).is_file()
    });
    for reference in playlist.media() {
        if let Some(problem) = media_path_problem(&reference.file) {
            diagnostics.0.push(
                Diagnostic::error(
                    reference.origin.file(display_path),
                    reference.origin.line,
                    reference.origin.column,
                    format!("media file `{}` {problem}", reference.file),
                )
                .with_hint(
                    "media paths are relative to the playlist's folder and stay inside it; \
                     copy the file next to the playlist and name it without `/` at the start or `..`",
                ),
            );
        }
    }
    diagnostics
}

/// Why a media path may not be used, if it may not. Playlists are pushed to a server and copied between
/// stores, so a path that points outside the playlist's folder would mean different files in
/// different places, or files the author never meant to publish.
fn media_path_problem(file: &str) -> Option<&'static str> {
    let path = Path::new(file);
    let mut components = path.components();
    if path.has_root()
        || components
            .any(|component| matches!(component, Component::Prefix(_) | Component::RootDir))
    {
        return Some("is an absolute path");
    }
    if path
        .components()
        .any(|component| component == Component::ParentDir)
    {
        return Some("leaves the playlist's folder through `..`");
    }
    None
}

/// The `--json` output: one entry per file, in the order given.
#[derive(Debug, Serialize)]
struct JsonReport {
    files: Vec<JsonFile>,
}

#[derive(Debug, Serialize)]
struct JsonFile {
    file: String,
    ok: bool,
    diagnostics: Diagnostics,
    /// Set when the file could not be read at all, with the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs `vitrine validate`: checks every file, even after one fails, and exits 1 if any has errors.
pub fn run(paths: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let printer = DiagnosticPrinter::for_stderr();
    let mut report = JsonReport { files: Vec::new() };
    let mut failed_files = 0;
    for path in paths {
        match check_file(path) {
            Ok(checked) => {
                let ok = !checked.diagnostics.has_errors();
                if !ok {
                    failed_files += 1;
                }
                if json {
                    report.files.push(JsonFile {
                        file: checked.display_path,
                        ok,
                        diagnostics: checked.diagnostics,
                        error: None,
                    });
                    continue;
                }
                checked.print_diagnostics(&printer);
                if let Some(playlist) = checked.valid_playlist() {
                    println!(
                        "✓ {}: playlist \"{}\", {}",
                        checked.display_path,
                        playlist.name,
                        count(playlist.items().count(), "item", "items")
                    );
                }
            }
            Err(error) => {
                failed_files += 1;
                if json {
                    report.files.push(JsonFile {
                        file: path.display().to_string(),
                        ok: false,
                        diagnostics: Diagnostics::default(),
                        error: Some(format!("{error:#}")),
                    });
                } else {
                    eprintln!("error: {error:#}\n");
                }
            }
        }
    }
    if json {
        let text =
            serde_json::to_string_pretty(&report).context("could not write the JSON report")?;
        println!("{text}");
    } else if failed_files > 0 {
        eprintln!(
            "error: {} of {} failed validation",
            failed_files,
            count(paths.len(), "playlist file", "playlist files")
        );
    }
    Ok(if failed_files > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `1 item`, `2 items`.
pub fn count(number: usize, singular: &str, plural: &str) -> String {
    if number == 1 {
        format!("{number} {singular}")
    } else {
        format!("{number} {plural}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_paths_must_stay_in_the_playlist_folder() {
        assert_eq!(media_path_problem("red.png"), None);
        assert_eq!(media_path_problem("media/red.png"), None);
        assert_eq!(media_path_problem("./red.png"), None);
        assert_eq!(
            media_path_problem("/etc/passwd"),
            Some("is an absolute path")
        );
        assert!(media_path_problem("../red.png").is_some());
        assert!(media_path_problem("media/../../red.png").is_some());
    }
}
