//! `vitrine push`: validates a playlist, uploads the media the scheduler does not have yet (addressed by
//! sha256, so a file already there is never sent twice), then publishes the playlist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use futures_util::TryStreamExt as _;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;
use tokio_util::io::ReaderStream;
use vitrine_client::HqClient;
use vitrine_core::Sha256Hex;
use vitrine_wire::playlists::PushPlaylist;

use crate::ServerArgs;
use crate::client::{connect, print_server_diagnostics};
use crate::render::DiagnosticPrinter;
use crate::validate::{self, count};

/// How much of a media file is read at a time, for hashing and for uploading.
const CHUNK_BYTES: usize = 64 * 1024;

pub async fn run(path: &Path, server: &ServerArgs) -> anyhow::Result<()> {
    let checked = validate::check_file(path)?;
    let printer = DiagnosticPrinter::for_stderr();
    // Warnings are shown even for a playlist that goes out, so they are not silently published.
    checked.print_diagnostics(&printer);
    let (Some(playlist), Some(source)) = (checked.valid_playlist(), checked.source.as_deref())
    else {
        bail!(
            "refusing to push {}: fix the {} above first",
            checked.display_path,
            count(checked.error_count(), "error", "errors")
        );
    };
    let file_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .with_context(|| format!("{} has no file name in UTF-8", checked.display_path))?;
    let playlist_folder = path.parent().unwrap_or(Path::new("."));
    let client = connect(server)?;

    // A file named twice is hashed once, and content named under two paths is uploaded once.
    let media_names: BTreeSet<&str> = playlist
        .media()
        .map(|reference| reference.file.as_str())
        .collect();
    let mut media = BTreeMap::new();
    let mut files_by_digest: BTreeMap<Sha256Hex, (&str, PathBuf)> = BTreeMap::new();
    for name in media_names {
        let media_path = playlist_folder.join(name);
        let digest = sha256_of_file(&media_path)
            .await
            .with_context(|| format!("could not read media file {}", media_path.display()))?;
        files_by_digest
            .entry(digest.clone())
            .or_insert((name, media_path));
        media.insert(name.to_owned(), digest);
    }

    let mut uploaded = 0;
    for (digest, (name, media_path)) in &files_by_digest {
        if !client
            .media_exists(digest)
            .await
            .with_context(|| format!("could not check whether the server has {name}"))?
        {
            upload_media(&client, digest, name, media_path)
                .await
                .with_context(|| format!("could not upload {name}"))?;
            uploaded += 1;
        }
    }

    let upload = PushPlaylist {
        file_name: file_name.to_owned(),
        source: source.to_owned(),
        media,
        includes: checked.includes.clone(),
    };
    let published = client
        .push_playlist(&upload)
        .await
        .inspect_err(|error| print_server_diagnostics(error, Some(source)))
        .with_context(|| format!("the server refused {}", checked.display_path))?;
    if published.unchanged {
        println!(
            "playlist \"{}\" unchanged: version {} is already this ({}, {uploaded} uploaded)",
            published.name,
            published.version,
            count(upload.media.len(), "media file", "media files")
        );
    } else {
        println!(
            "pushed playlist \"{}\" version {} ({}, {uploaded} uploaded)",
            published.name,
            published.version,
            count(upload.media.len(), "media file", "media files")
        );
    }
    Ok(())
}

/// The sha256 of a file's content, read in chunks so that a large video never sits in memory.
pub(crate) async fn sha256_of_file(path: &Path) -> std::io::Result<Sha256Hex> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; CHUNK_BYTES];
    loop {
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            return Ok(Sha256Hex::from_hasher(hasher));
        }
        hasher.update(&buffer[..read]);
    }
}

/// Streams one file to the server, showing a progress bar on a terminal.
pub(crate) async fn upload_media(
    client: &HqClient,
    digest: &Sha256Hex,
    name: &str,
    path: &Path,
) -> anyhow::Result<()> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("could not open {}", path.display()))?;
    let length = file
        .metadata()
        .await
        .with_context(|| format!("could not read the size of {}", path.display()))?
        .len();
    let progress_bar = ProgressBar::new(length)
        .with_style(upload_style())
        .with_prefix(name.to_owned());
    let progress = progress_bar.clone();
    let chunks = ReaderStream::with_capacity(file, CHUNK_BYTES).inspect_ok(move |chunk| {
        progress.inc(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
    });
    let result = client
        .upload_media(digest, length, reqwest::Body::wrap_stream(chunks))
        .await;
    progress_bar.finish_and_clear();
    result?;
    eprintln!("uploaded {name} ({})", HumanBytes(length));
    Ok(())
}

fn upload_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .expect("the progress bar template is written correctly")
    .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_a_file_as_sha256sum_does() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("media.bin");
        // More than one chunk, and not a multiple of the chunk size.
        let content: Vec<u8> = (0..CHUNK_BYTES * 2 + 17)
            .map(|index| (index % 251) as u8)
            .collect();
        std::fs::write(&path, &content).unwrap();
        assert_eq!(
            sha256_of_file(&path).await.unwrap(),
            Sha256Hex::of_bytes(&content)
        );
    }

    #[test]
    fn the_progress_bar_template_is_valid() {
        upload_style();
    }
}
