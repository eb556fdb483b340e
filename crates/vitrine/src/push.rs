//! `vitrine push`: validates a playlist, uploads the media the scheduler does not have yet (addressed by
//! sha256, so a file already there is never sent twice), then publishes the playlist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use futures_util::TryStreamExt as _;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;
use tokio_util::io::ReaderStream;
use vitrine_core::Sha256Hex;

use crate::ServerArgs;
use crate::client::ApiClient;
use crate::render::DiagnosticPrinter;
use crate::validate::{self, count};

/// How much of a media file is read at a time, for hashing and for uploading.
const CHUNK_BYTES: usize = 64 * 1024;

/// The body of `POST /v1/playlists`.
#[derive(Debug, Serialize)]
struct PlaylistUpload<'a> {
    /// The file's name without its folder: the server needs no more, and folders can be private.
    file_name: &'a str,
    source: &'a str,
    /// Each media path as written in the playlist, with the sha256 of its content.
    media: &'a BTreeMap<String, Sha256Hex>,
    /// Each fragment the playlist includes, path as written -> its text.
    includes: &'a BTreeMap<String, String>,
}

/// The answer to `POST /v1/playlists`.
#[derive(Debug, Deserialize)]
struct PublishedPlaylist {
    name: String,
    version: u64,
    /// The server already had exactly this as its latest version.
    #[serde(default)]
    unchanged: bool,
}

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
    let client = ApiClient::new(server)?;

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
        if !media_exists(&client, digest)
            .await
            .with_context(|| format!("could not check whether the server has {name}"))?
        {
            upload_media(&client, digest, name, media_path)
                .await
                .with_context(|| format!("could not upload {name}"))?;
            uploaded += 1;
        }
    }

    let upload = PlaylistUpload {
        file_name,
        source,
        media: &media,
        includes: &checked.includes,
    };
    let request = client.request(Method::POST, "/v1/playlists").json(&upload);
    let response = client.send(request).await?;
    let published: PublishedPlaylist = ApiClient::read_json(response, Some(source))
        .await
        .with_context(|| format!("the server refused {}", checked.display_path))?;
    if published.unchanged {
        println!(
            "playlist \"{}\" unchanged: version {} is already this ({}, {uploaded} uploaded)",
            published.name,
            published.version,
            count(media.len(), "media file", "media files")
        );
    } else {
        println!(
            "pushed playlist \"{}\" version {} ({}, {uploaded} uploaded)",
            published.name,
            published.version,
            count(media.len(), "media file", "media files")
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

/// Whether the server already holds the content with this digest.
pub(crate) async fn media_exists(client: &ApiClient, digest: &Sha256Hex) -> anyhow::Result<bool> {
    let request = client.request(Method::HEAD, &format!("/v1/media/{digest}"));
    let response = client.send(request).await?;
    if response.status() == StatusCode::NOT_FOUND {
        return Ok(false);
    }
    ApiClient::check_status(response, None).await?;
    Ok(true)
}

/// Streams one file to the server, showing a progress bar on a terminal.
pub(crate) async fn upload_media(
    client: &ApiClient,
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
    let request = client
        .request(Method::PUT, &format!("/v1/media/{digest}"))
        .header(CONTENT_TYPE, "application/octet-stream")
        // A streamed body would otherwise go out chunked; the length lets the server refuse an
        // oversized file before any of it arrives.
        .header(CONTENT_LENGTH, length)
        .body(reqwest::Body::wrap_stream(chunks));
    let result = match client.send(request).await {
        Ok(response) => ApiClient::check_status(response, None).await.map(drop),
        Err(error) => Err(error),
    };
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
