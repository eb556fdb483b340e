//! Media blobs, content-addressed by sha256, in an object store (the `object_store` crate): by
//! default a folder on local disk, `DATA_DIR/media/<first two hex>/<sha256>`, or with
//! `--media s3://BUCKET/PREFIX` an S3-compatible bucket, under `PREFIX/<first two hex>/<sha256>`,
//! which any number of schedulers may share.
//!
//! Keys are built only from a validated [`Sha256Hex`], never from text a client wrote, so no
//! request can name a path. Uploads stream into the local `DATA_DIR/tmp` while being hashed and
//! reach the store only after the digest matches: on local disk the fsynced file is renamed into
//! place (atomic, and no second copy of a large file), to a bucket it is put in one request or in
//! parts, which S3 makes visible only once complete. A blob under its key is therefore always
//! complete and correct, and a refused upload leaves nothing in the store.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vitrine_core::Sha256Hex;

/// Where the scheduler keeps media files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Media {
    /// The `media` folder inside the data folder: the default, for one scheduler (or replicas
    /// sharing one folder).
    #[default]
    Local,
    /// An S3-compatible bucket, blobs under `prefix` (empty: the bucket's root). The region,
    /// endpoint and credentials come from the standard `AWS_*` environment variables.
    S3 { bucket: String, prefix: String },
}

impl std::str::FromStr for Media {
    type Err = String;

    /// `local` for the data folder, `s3://BUCKET` or `s3://BUCKET/PREFIX` for a bucket.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let help = "give `local` (the default: the media folder in the data folder) or an \
                    S3-compatible bucket as s3://BUCKET/PREFIX, with the region, endpoint and \
                    credentials in AWS_REGION, AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and \
                    AWS_SECRET_ACCESS_KEY";
        if text == "local" {
            return Ok(Self::Local);
        }
        let Some(location) = text.strip_prefix("s3://") else {
            return Err(format!(
                "`{text}` is not a media store this scheduler can use: {help}"
            ));
        };
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        let valid_bucket = !bucket.is_empty()
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !valid_bucket {
            return Err(format!(
                "`{text}` does not name a bucket (lowercase letters, digits, `-` and `.`): {help}"
            ));
        }
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() && Key::parse(prefix).is_err() {
            return Err(format!(
                "`{text}`: `{prefix}` is not a usable key prefix (no empty, `.` or `..` parts, no \
                 control characters): {help}"
            ));
        }
        Ok(Self::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl std::fmt::Display for Media {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local => write!(formatter, "local"),
            Self::S3 { bucket, prefix } if prefix.is_empty() => write!(formatter, "s3://{bucket}"),
            Self::S3 { bucket, prefix } => write!(formatter, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Where blobs and in-progress uploads live.
#[derive(Clone, Debug)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// The key blobs sit under in `store`: `media` in the data folder, or the bucket's prefix.
    prefix: Key,
    /// The local folder uploads are received in, whichever store keeps the blobs.
    tmp_dir: PathBuf,
    /// The local store is rooted at the data folder: a verified upload is renamed into place.
    local: bool,
    /// `--media` as given, for messages.
    described: Arc<str>,
}

/// Why an upload was not kept.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("the body is over the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the body's sha256 is {actual} but the URL names {expected}")]
    HashMismatch {
        expected: Sha256Hex,
        actual: Sha256Hex,
    },
    /// The client went away or sent a malformed body.
    #[error("reading the request body: {0}")]
    Body(axum::Error),
    #[error("writing the upload to disk: {0}")]
    Io(#[from] io::Error),
}

/// A failure of the media store itself: unreachable, refusing, or a local disk error.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the media store ({store}) failed: {source}")]
    Store {
        store: Arc<str>,
        source: object_store::Error,
    },
    #[error("reading a received upload: {0}")]
    Io(#[from] io::Error),
}

/// An upload in the temporary folder. [`BlobStore::receive`] hands it out only once its digest
/// matched; dropping it without [`BlobStore::keep`] moving it deletes the file, so an abandoned,
/// refused or duplicate upload leaves nothing behind.
#[derive(Debug)]
pub struct Upload {
    path: PathBuf,
    pub size: u64,
    kept: bool,
}

/// A stored blob's size and when it was stored.
#[derive(Clone, Debug)]
pub struct BlobInfo {
    pub size: u64,
    pub last_modified: jiff::Timestamp,
}

/// Bytes of a blob, as they come from the store.
pub type BlobStream = BoxStream<'static, Result<Bytes, object_store::Error>>;

/// Uploads up to this size go to a bucket in one request; larger ones in parts of this size.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// A bucket that does not answer is reported within seconds, not after the crate's default of
/// ten retries over three minutes: a request waiting on it answers 503, the start stops.
fn retry_config() -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(20),
        ..RetryConfig::default()
    }
}

impl BlobStore {
    /// Prepares `media`: for the local store, creates the folders; for a bucket, checks that it
    /// answers (a one-key listing under the prefix). Either way, removes uploads a previous run
    /// left half-received in `DATA_DIR/tmp`.
    pub fn open(data_dir: &Path, media: &Media) -> anyhow::Result<Self> {
        let tmp_dir = data_dir.join("tmp");
        std::fs::create_dir_all(&tmp_dir)?;
        for entry in std::fs::read_dir(&tmp_dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::remove_file(entry.path())?;
            }
        }
        let described: Arc<str> = media.to_string().into();
        match media {
            Media::Local => {
                std::fs::create_dir_all(data_dir.join("media"))?;
                // Rooted at the data folder so that `tmp/` and `media/` are one store and a kept
                // upload is a rename; keys are only ever `media/…` and `tmp/…`.
                let store = LocalFileSystem::new_with_prefix(data_dir)?.with_fsync(true);
                Ok(Self {
                    store: Arc::new(store),
                    prefix: Key::from("media"),
                    tmp_dir,
                    local: true,
                    described,
                })
            }
            Media::S3 { bucket, prefix } => {
                let key_prefix = Key::parse(prefix)
                    .map_err(|error| anyhow::anyhow!("its prefix is not a usable key: {error}"))?;
                let builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry_config());
                check_bucket(builder.clone(), prefix)?;
                let store = builder.build()?;
                Ok(Self {
                    store: Arc::new(store),
                    prefix: key_prefix,
                    tmp_dir,
                    local: false,
                    described,
                })
            }
        }
    }

    /// Whether the blobs live in the data folder (`media/…`) rather than a bucket.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// The blob's key in the store: `<prefix>/<first two hex>/<sha256>`.
    pub fn key_of(&self, sha256: &Sha256Hex) -> Key {
        let digest = sha256.as_str();
        self.prefix.clone().join(&digest[..2]).join(digest)
    }

    /// Streams `body` to a temporary file while hashing it, refusing it past `limit` bytes or if its
    /// digest is not `expected`. On success the data is on local disk (fsynced when it is to be
    /// renamed into the local store), ready for [`BlobStore::keep`].
    pub async fn receive(
        &self,
        body: Body,
        expected: &Sha256Hex,
        limit: u64,
    ) -> Result<Upload, ReceiveError> {
        // The guard exists before the file does, so every early return below removes it.
        let mut upload = Upload {
            path: self
                .tmp_dir
                .join(format!("{}.part", uuid::Uuid::now_v7().simple())),
            size: 0,
            kept: false,
        };
        let mut file = tokio::fs::File::create_new(&upload.path).await?;
        let mut hasher = Sha256::new();
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(ReceiveError::Body)?;
            upload.size += chunk.len() as u64;
            if upload.size > limit {
                return Err(ReceiveError::TooLarge { limit });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        let actual = Sha256Hex::from_hasher(hasher);
        if actual != *expected {
            return Err(ReceiveError::HashMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        if self.local {
            // The rename into place is durable only for data already on disk.
            file.sync_all().await?;
        } else {
            file.flush().await?;
        }
        Ok(upload)
    }

    /// Makes a verified upload visible under its content address. Storing over an existing blob
    /// is harmless: both hold the same bytes.
    pub async fn keep(&self, mut upload: Upload, sha256: &Sha256Hex) -> Result<(), BlobError> {
        let key = self.key_of(sha256);
        if self.local {
            let name = upload
                .path
                .file_name()
                .and_then(|name| name.to_str())
                .ok_or_else(|| io::Error::other("an upload's file name is not UTF-8"))?;
            let from = Key::from("tmp").join(name);
            // Atomic; with fsync on, the crate syncs the folders whose entries changed.
            self.store
                .rename(&from, &key)
                .await
                .map_err(|source| self.failed(source))?;
            upload.kept = true;
            return Ok(());
        }
        let mut file = tokio::fs::File::open(&upload.path).await?;
        if upload.size <= PART_SIZE as u64 {
            let mut bytes = Vec::with_capacity(upload.size as usize);
            file.read_to_end(&mut bytes).await?;
            self.store
                .put(&key, PutPayload::from(bytes))
                .await
                .map_err(|source| self.failed(source))?;
            return Ok(());
        }
        // In parts: nothing is visible under the key until the last part completes it.
        let parts = self
            .store
            .put_multipart(&key)
            .await
            .map_err(|source| self.failed(source))?;
        let mut writer = WriteMultipart::new_with_chunk_size(parts, PART_SIZE);
        let mut buffer = vec![0u8; 1024 * 1024];
        let sent: Result<(), BlobError> = async {
            loop {
                let read = file.read(&mut buffer).await?;
                if read == 0 {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|source| self.failed(source))?;
                writer.write(&buffer[..read]);
            }
        }
        .await;
        match sent {
            Ok(()) => {
                writer
                    .finish()
                    .await
                    .map_err(|source| self.failed(source))?;
                Ok(())
            }
            Err(error) => {
                // Parts already sent are discarded; a failure to say so only leaves parts that
                // the bucket's lifecycle rules clean up, never a visible object.
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(%sha256, error = %abort, "could not abort a multipart upload");
                }
                Err(error)
            }
        }
    }

    /// The blob's size and time of storing, or None if the store lacks it.
    pub async fn info(&self, sha256: &Sha256Hex) -> Result<Option<BlobInfo>, BlobError> {
        match self.store.head(&self.key_of(sha256)).await {
            Ok(meta) => Ok(Some(BlobInfo {
                size: meta.size,
                last_modified: timestamp_of(meta.last_modified.timestamp()),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.failed(source)),
        }
    }

    /// Whether the store holds the blob.
    pub async fn contains(&self, sha256: &Sha256Hex) -> Result<bool, BlobError> {
        Ok(self.info(sha256).await?.is_some())
    }

    /// The blob's bytes in `range` (all of them without one), streamed; None if the store lacks it.
    pub async fn read(
        &self,
        sha256: &Sha256Hex,
        range: Option<Range<u64>>,
    ) -> Result<Option<BlobStream>, BlobError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        match self.store.get_opts(&self.key_of(sha256), options).await {
            Ok(result) => Ok(Some(result.into_stream())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.failed(source)),
        }
    }

    /// The whole blob in memory; None if the store lacks it. For small blobs and checks.
    pub async fn read_all(&self, sha256: &Sha256Hex) -> Result<Option<Bytes>, BlobError> {
        match self.store.get(&self.key_of(sha256)).await {
            Ok(result) => result
                .bytes()
                .await
                .map(Some)
                .map_err(|source| self.failed(source)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.failed(source)),
        }
    }

    /// Deletes the blob; one already gone is not an error.
    pub async fn remove(&self, sha256: &Sha256Hex) -> Result<(), BlobError> {
        match self.store.delete(&self.key_of(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(self.failed(source)),
        }
    }

    fn failed(&self, source: object_store::Error) -> BlobError {
        BlobError::Store {
            store: self.described.clone(),
            source,
        }
    }
}

/// Seconds since the epoch as a timestamp, clamped into jiff's range.
fn timestamp_of(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Asks the bucket for one key under `prefix`, on a runtime of its own (start-up code is
/// synchronous, and a client must not outlive the runtime its connections were made on), so a
/// wrong bucket, endpoint or credentials stop the start with the bucket named.
fn check_bucket(builder: AmazonS3Builder, prefix: &str) -> anyhow::Result<()> {
    let store: AmazonS3 = builder.build()?;
    let prefix = (!prefix.is_empty()).then(|| format!("{prefix}/"));
    let listed = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|error| error.to_string())?
                    .block_on(store.list_paginated(
                        prefix.as_deref(),
                        PaginatedListOptions {
                            max_keys: Some(1),
                            ..PaginatedListOptions::default()
                        },
                    ))
                    .map(drop)
                    .map_err(|error| error.to_string())
            })
            .join()
            .unwrap_or_else(|_| Err("the check panicked".to_owned()))
    });
    listed.map_err(|error| {
        let error = one_line(&error);
        anyhow::anyhow!(
            "the bucket cannot be reached ({error}); check its name and \
             AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
             (AWS_ALLOW_HTTP=true for a plain-HTTP endpoint)"
        )
    })
}

/// A store's error on one line: an S3 error document (`<Error><Code>…`) shortened to its code
/// and message, and line breaks gone, so the start fails with one line.
fn one_line(error: &str) -> String {
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = error.find(&open)? + open.len();
        let end = start + error[start..].find(&format!("</{name}>"))?;
        Some(error[start..end].to_owned())
    };
    let shortened = match (
        error.find("<?xml").or(error.find("<Error>")),
        element("Code"),
    ) {
        (Some(document), Some(code)) => {
            let message = element("Message").unwrap_or_default();
            format!("{}{code}: {message}", &error[..document])
        }
        _ => error.to_owned(),
    };
    shortened.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.kept {
            // A single unlink; cheap enough to do inline even on an async worker. A failure here
            // only leaves a file that the next start removes.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Media, one_line};

    #[test]
    fn an_s3_error_document_is_cut_to_its_code_and_message_on_one_line() {
        let error = "Error performing GET http://127.0.0.1:9000/b?list-type=2 - Server returned \
                     non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?>\n<Error><Code>\
                     NoSuchBucket</Code><Message>The specified bucket does not exist</Message>\
                     <BucketName>b</BucketName></Error>";
        assert_eq!(
            one_line(error),
            "Error performing GET http://127.0.0.1:9000/b?list-type=2 - Server returned non-2xx \
             status code: 404 Not Found: NoSuchBucket: The specified bucket does not exist"
        );
        assert_eq!(one_line("connection\nrefused"), "connection refused");
    }

    #[test]
    fn media_is_local_or_an_s3_bucket_with_an_optional_prefix() {
        assert_eq!("local".parse::<Media>(), Ok(Media::Local));
        assert_eq!(
            "s3://vitrine-media".parse::<Media>(),
            Ok(Media::S3 {
                bucket: "vitrine-media".into(),
                prefix: String::new()
            })
        );
        let nested: Media = "s3://vitrine-media/hq/media/".parse().expect("parses");
        assert_eq!(
            nested,
            Media::S3 {
                bucket: "vitrine-media".into(),
                prefix: "hq/media".into()
            }
        );
        assert_eq!(nested.to_string(), "s3://vitrine-media/hq/media");
        for wrong in [
            "",
            "s3://",
            "s3:///x",
            "S3://b",
            "s3://Big",
            "/srv/media",
            "s3://b/a//c",
        ] {
            let error = wrong.parse::<Media>().expect_err(wrong);
            assert!(error.contains("s3://BUCKET/PREFIX"), "{wrong}: {error}");
        }
    }
}
