//! Watches a standalone playlist folder and says when its YAML changed.
//!
//! The parent folder is watched rather than the file, because editors save by writing a new file and
//! renaming it over the old one: a watch on the old file would see it vanish and hear nothing more.
//! Events are debounced, so one save (often several events) leads to one reload.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

/// How long the folder must stay quiet before a change is reported.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// Keeps the watch alive; dropping it stops watching.
pub struct FolderWatch {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

/// Calls `on_change` (on the watcher's thread) after files that playlists are made of change in
/// `folder` or below: YAML and media alike, since a replaced image must be shown too.
pub fn watch_folder(
    folder: &Path,
    on_change: impl Fn() + Send + 'static,
) -> anyhow::Result<FolderWatch> {
    let mut debouncer =
        new_debouncer(
            DEBOUNCE,
            None,
            move |result: DebounceEventResult| match result {
                Ok(events) => {
                    let relevant = events.iter().any(|event| {
                        !event.kind.is_access()
                            && event.paths.iter().any(|path| !is_editor_scratch(path))
                    });
                    if relevant {
                        on_change();
                    }
                }
                Err(errors) => {
                    for error in errors {
                        tracing::warn!("watching the playlist folder: {error}");
                    }
                }
            },
        )
        .context("cannot start watching the playlist folder")?;
    debouncer
        .watch(folder, RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch {}", folder.display()))?;
    Ok(FolderWatch {
        _debouncer: debouncer,
    })
}

/// Swap and backup files editors write beside the real one (`.x.yaml.swp`, `x.yaml~`, `4913`).
fn is_editor_scratch(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy())
        .unwrap_or_default();
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.starts_with(".#")
        || name == "4913"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn an_atomic_rename_on_save_is_seen_once() {
        let folder = tempfile::tempdir().unwrap();
        let playlist = folder.path().join("playlist.yaml");
        std::fs::write(&playlist, "version: 1\n").unwrap();
        let (sender, receiver) = mpsc::channel();
        let _watch = watch_folder(folder.path(), move || {
            let _ = sender.send(());
        })
        .unwrap();
        // What vim and VS Code do: write a temporary file, then rename it over the original.
        let temporary = folder.path().join(".playlist.yaml.tmp");
        std::fs::write(&temporary, "version: 1\nname: new\n").unwrap();
        std::fs::rename(&temporary, &playlist).unwrap();
        receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the save is reported");
        // Once: the write, the create and the rename are one save, so one reload. Anything more
        // would arrive within a debounce period of the first report; four are waited out.
        assert_eq!(
            receiver.recv_timeout(DEBOUNCE * 4),
            Err(mpsc::RecvTimeoutError::Timeout),
            "one save is reported once"
        );
        // Later saves are still seen, once each: the watch survived the rename.
        std::fs::write(&playlist, "version: 1\nname: newer\n").unwrap();
        receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("a second save is reported");
        assert_eq!(
            receiver.recv_timeout(DEBOUNCE * 4),
            Err(mpsc::RecvTimeoutError::Timeout),
            "the second save is reported once"
        );
    }

    #[test]
    fn editor_scratch_files_are_ignored() {
        assert!(is_editor_scratch(Path::new("/x/.playlist.yaml.swp")));
        assert!(is_editor_scratch(Path::new("/x/playlist.yaml~")));
        assert!(!is_editor_scratch(Path::new("/x/playlist.yaml")));
    }
}
