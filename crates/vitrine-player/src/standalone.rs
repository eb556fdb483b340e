//! Standalone mode: a shop with one screen and no scheduler. The player plays a local folder's
//! `playlist.yaml`, and reloads it whenever it is saved.
//!
//! A reload goes through the same gates as a manifest from HQ: the YAML is validated by vitrine-core
//! (an invalid edit keeps the old playlist playing and logs every diagnostic with its line), each
//! media file is hashed and copied into the content-addressed cache, and only then is the new
//! manifest activated. The last good one is kept in the cache, so a restart plays it even if the
//! file on disk is broken at that moment.
//!
//! **Invariant:** only files inside the folder are read. A name with `..` or a leading `/` is
//! refused, and so is one that resolves, through a symbolic link anywhere on its way, to a file
//! outside the folder: a playlist edit cannot show or copy what lies elsewhere on the machine.

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, mpsc};

use anyhow::{Context, bail};
use vitrine_core::playlist::parse_playlist_with_includes;
use vitrine_core::{Manifest, MediaEntry, Severity};

use crate::cache::{ActiveManifest, MediaCache, hash_file};
use crate::events::{PlayerEvent, SharedSink};
use crate::watch::{FolderWatch, watch_folder};

/// The screen name standalone plays are journalled under.
pub const STANDALONE_SCREEN: &str = "standalone";

/// Keeps the folder watched and the loader running; dropping it stops both.
pub struct Standalone {
    _watch: FolderWatch,
}

/// The playlist file and its folder, from `--playlist DIR` or `--playlist FILE`.
pub fn locate(path: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let file = if path.is_dir() {
        path.join("playlist.yaml")
    } else {
        path.to_owned()
    };
    if !file.is_file() {
        bail!(
            "no playlist at {}; give a folder holding playlist.yaml, or the YAML file itself",
            file.display()
        );
    }
    let folder = file
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok((file, folder))
}

/// Loads the playlist now, then again after every save, posting each good version.
pub fn start(path: &Path, data_dir: &Path, sink: SharedSink) -> anyhow::Result<Standalone> {
    let (file, folder) = locate(path)?;
    let cache = MediaCache::open(data_dir)?;
    let (changed, changes) = mpsc::channel::<()>();
    let watch = watch_folder(&folder, move || {
        let _ = changed.send(());
    })?;
    std::thread::Builder::new()
        .name("vitrine-standalone".into())
        .spawn(move || {
            let mut version = 0u64;
            let mut last_etag = None;
            loop {
                version += 1;
                match load(&file, &folder, &cache, version) {
                    Ok(active) if last_etag.as_ref() != Some(&active.etag) => {
                        tracing::info!(file = %file.display(), "standalone playlist loaded");
                        last_etag = Some(active.etag.clone());
                        sink.post(PlayerEvent::ManifestActivated(Arc::new(active.manifest)));
                    }
                    Ok(_) => tracing::debug!("playlist saved without changes"),
                    Err(error) => tracing::error!(
                        file = %file.display(),
                        "the playlist was not reloaded; the previous one keeps playing: {error:#}"
                    ),
                }
                if changes.recv().is_err() {
                    return;
                }
                // One save is often several events; the debouncer merged most, drain the rest.
                while changes.try_recv().is_ok() {}
            }
        })?;
    Ok(Standalone { _watch: watch })
}

/// Validates the playlist, brings its media into the cache and activates it there.
fn load(
    file: &Path,
    folder: &Path,
    cache: &MediaCache,
    version: u64,
) -> anyhow::Result<ActiveManifest> {
    let display_name = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string());
    let source =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let resolve = |include: &str| -> Result<String, String> {
        let path = inside(folder, include)?;
        std::fs::read_to_string(&path).map_err(|error| format!("cannot read {include}: {error}"))
    };
    let parsed = parse_playlist_with_includes(&display_name, &source, &resolve)
        .map_err(|diagnostics| anyhow::anyhow!("{diagnostics}"))?;
    for warning in parsed.warnings.iter() {
        tracing::warn!("{warning}");
    }
    let playlist = parsed.value;
    // A name that leaves the folder is not "missing": the loop below refuses it, saying why.
    let missing = playlist.check_media(&display_name, |media| {
        inside(folder, media).map_or(true, |path| path.is_file())
    });
    if missing
        .iter()
        .any(|problem| problem.severity == Severity::Error)
    {
        bail!("{missing}");
    }

    let mut entries = std::collections::BTreeMap::new();
    for reference in playlist.media() {
        if entries.contains_key(&reference.file) {
            continue;
        }
        let source_path = inside(folder, &reference.file).map_err(anyhow::Error::msg)?;
        let entry = bring_into_cache(cache, &source_path)?;
        entries.insert(reference.file.clone(), entry);
    }
    let time_zone = playlist
        .timezone
        .clone()
        .or_else(|| jiff::tz::TimeZone::system().iana_name().map(str::to_owned))
        .unwrap_or_else(|| "UTC".to_owned());
    let mut manifest = Manifest::build(STANDALONE_SCREEN, &time_zone, &playlist, version, |file| {
        entries.get(file).cloned()
    })
    .map_err(|missing| anyhow::anyhow!("media vanished while loading: {}", missing.0))?;
    // The ETag ignores the load counter, so a save that changes nothing changes nothing on screen.
    manifest.playlist_version = 0;
    let etag = vitrine_core::Sha256Hex::of_bytes(&serde_json::to_vec(&manifest)?).to_string();
    manifest.playlist_version = version;
    let active = ActiveManifest { etag, manifest };
    cache.activate(&active)?;
    Ok(active)
}

/// Copies a local media file into the cache under its digest (a hard link where the file system
/// allows), written to a `.part` name first so a crash never leaves a half file under a final name.
fn bring_into_cache(cache: &MediaCache, source: &Path) -> anyhow::Result<MediaEntry> {
    let sha256 =
        hash_file(source).with_context(|| format!("cannot read media {}", source.display()))?;
    let size = std::fs::metadata(source)?.len();
    if !cache.has_verified(&sha256)? {
        let part = cache.part_path_of(&sha256);
        let _ = std::fs::remove_file(&part);
        if std::fs::hard_link(source, &part).is_err() {
            std::fs::copy(source, &part)
                .with_context(|| format!("cannot copy {} into the cache", source.display()))?;
        }
        // The file may have changed between hashing and copying; check what was stored.
        if hash_file(&part)? != sha256 {
            let _ = std::fs::remove_file(&part);
            bail!(
                "{} changed while it was being loaded; it will be read again on the next save",
                source.display()
            );
        }
        std::fs::rename(&part, cache.path_of(&sha256))?;
        cache.record_verified(&sha256, size)?;
    }
    Ok(MediaEntry { sha256, size })
}

/// `relative` under `folder`, refusing absolute paths, `..`, and symbolic links that lead out of the
/// folder: a playlist names files beside it. An existing file comes back resolved, so what is read
/// is what was checked.
fn inside(folder: &Path, relative: &str) -> Result<PathBuf, String> {
    let path = Path::new(relative);
    let escapes = path.is_absolute()
        || path
            .components()
            .any(|component| !matches!(component, Component::Normal(_) | Component::CurDir));
    if escapes {
        return Err(format!(
            "`{relative}` must be a path inside the playlist's folder (no leading `/`, no `..`)"
        ));
    }
    let joined = folder.join(path);
    let (Ok(resolved), Ok(root)) = (joined.canonicalize(), folder.canonicalize()) else {
        // Not there (yet): the caller reports a missing file.
        return Ok(joined);
    };
    if !resolved.starts_with(&root) {
        return Err(format!(
            "`{relative}` is a symbolic link (or goes through one) to {}, outside the playlist's \
             folder {}; only files inside the folder are played, so copy the file into it",
            resolved.display(),
            root.display()
        ));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_folder() {
        let folder = Path::new("/srv/shop");
        assert_eq!(
            inside(folder, "media/a.png").unwrap(),
            folder.join("media/a.png")
        );
        assert!(inside(folder, "../etc/passwd").is_err());
        assert!(inside(folder, "/etc/passwd").is_err());
        assert!(inside(folder, "media/../../x").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_out_of_the_folder_is_refused_and_one_within_it_plays() {
        let folder = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let secret = elsewhere.path().join("secret.txt");
        std::fs::write(&secret, b"not for the screen").unwrap();
        std::os::unix::fs::symlink(&secret, folder.path().join("poster.png")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), folder.path().join("media")).unwrap();
        std::fs::write(folder.path().join("red.png"), b"red").unwrap();
        std::os::unix::fs::symlink("red.png", folder.path().join("alias.png")).unwrap();
        let file = folder.path().join("playlist.yaml");
        let cache = MediaCache::open(data.path()).unwrap();

        // Straight to the file, and through a linked folder.
        for name in ["poster.png", "media/secret.txt"] {
            std::fs::write(
                &file,
                format!(
                    "version: 1\nname: shop\nitems:\n  - image: {{ file: {name}, duration: 5s }}\n"
                ),
            )
            .unwrap();
            let error = format!("{:#}", load(&file, folder.path(), &cache, 1).unwrap_err());
            assert!(
                error.contains(&format!("`{name}` is a symbolic link"))
                    && error.contains("outside the playlist's folder"),
                "{error}"
            );
            let leaked = vitrine_core::Sha256Hex::of_bytes(b"not for the screen");
            assert!(!cache.has_verified(&leaked).unwrap(), "nothing was copied");
        }

        // An include through a link out of the folder is refused the same way.
        std::fs::write(elsewhere.path().join("more.yaml"), "items: []\n").unwrap();
        std::fs::write(
            &file,
            "version: 1\nname: shop\ninclude: [media/more.yaml]\nitems:\n  - image: { file: red.png, duration: 5s }\n",
        )
        .unwrap();
        let error = format!("{:#}", load(&file, folder.path(), &cache, 1).unwrap_err());
        assert!(error.contains("outside the playlist's folder"), "{error}");

        // A link that stays inside the folder is fine.
        std::fs::write(
            &file,
            "version: 1\nname: shop\nitems:\n  - image: { file: alias.png, duration: 5s }\n",
        )
        .unwrap();
        let active = load(&file, folder.path(), &cache, 2).unwrap();
        assert_eq!(
            active.manifest.sha256_of_file("alias.png"),
            Some(&vitrine_core::Sha256Hex::of_bytes(b"red"))
        );
    }

    #[test]
    fn a_folder_with_a_valid_playlist_loads_and_a_broken_edit_is_refused() {
        let folder = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("red.png"), b"not really a png").unwrap();
        let file = folder.path().join("playlist.yaml");
        std::fs::write(
            &file,
            "version: 1\nname: shop\nitems:\n  - image: { file: red.png, duration: 5s }\n",
        )
        .unwrap();
        let cache = MediaCache::open(data.path()).unwrap();
        let active = load(&file, folder.path(), &cache, 1).unwrap();
        assert_eq!(active.manifest.playlist.name, "shop");
        let digest = vitrine_core::Sha256Hex::of_bytes(b"not really a png");
        assert!(cache.has_verified(&digest).unwrap());
        assert_eq!(active.manifest.sha256_of_file("red.png"), Some(&digest));

        std::fs::write(
            &file,
            "version: 1\nname: shop\nitems:\n  - image: { file: red.png, durration: 5s }\n",
        )
        .unwrap();
        let error = load(&file, folder.path(), &cache, 2)
            .unwrap_err()
            .to_string();
        assert!(error.contains("playlist.yaml:4:29"), "{error}");
        assert_eq!(
            cache.active_manifest().unwrap().unwrap().etag,
            active.etag,
            "the cache still holds the last good playlist"
        );

        std::fs::write(
            &file,
            "version: 1\nname: shop\nitems:\n  - image: { file: blue.png, duration: 5s }\n",
        )
        .unwrap();
        let error = load(&file, folder.path(), &cache, 3)
            .unwrap_err()
            .to_string();
        assert!(error.contains("blue.png"), "{error}");
    }
}
