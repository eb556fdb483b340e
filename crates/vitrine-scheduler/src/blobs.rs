//! Media blobs on local disk, content-addressed: `DATA_DIR/media/<first two hex>/<sha256>`.
//!
//! File names are built only from a validated [`Sha256Hex`], never from text a client wrote, so no
//! request can name a path. Uploads stream into `DATA_DIR/tmp` while being hashed and are renamed into
//! place only after the digest matches and the data is fsynced, so a blob at its final path is always
//! complete and correct.

use std::io;
use std::path::{Path, PathBuf};

use axum::body::Body;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use vitrine_core::Sha256Hex;

/// Where blobs and in-progress uploads live.
#[derive(Clone, Debug)]
pub struct BlobStore {
    media_dir: PathBuf,
    tmp_dir: PathBuf,
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

/// An upload in the temporary folder. [`BlobStore::receive`] hands it out only once its digest
/// matched and it is fsynced; dropping it without [`BlobStore::keep`] deletes the file, so an
/// abandoned or refused upload leaves nothing behind.
#[derive(Debug)]
pub struct Upload {
    path: PathBuf,
    pub size: u64,
    kept: bool,
}

impl BlobStore {
    /// Creates the folders if needed and removes uploads a previous run left half-written.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let media_dir = data_dir.join("media");
        let tmp_dir = data_dir.join("tmp");
        std::fs::create_dir_all(&media_dir)?;
        std::fs::create_dir_all(&tmp_dir)?;
        for entry in std::fs::read_dir(&tmp_dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(Self { media_dir, tmp_dir })
    }

    /// Where the blob with this digest lives (whether or not it is there).
    pub fn path_of(&self, sha256: &Sha256Hex) -> PathBuf {
        let digest = sha256.as_str();
        self.media_dir.join(&digest[..2]).join(digest)
    }

    /// Streams `body` to a temporary file while hashing it, refusing it past `limit` bytes or if its
    /// digest is not `expected`. On success the data is on disk and fsynced, ready for
    /// [`BlobStore::keep`].
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
        file.sync_all().await?;
        Ok(upload)
    }

    /// Moves a verified upload to its content address. The rename is atomic, and renaming over an
    /// existing blob is harmless because both files hold the same bytes.
    pub async fn keep(&self, mut upload: Upload, sha256: &Sha256Hex) -> io::Result<()> {
        let final_path = self.path_of(sha256);
        let folder = final_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.media_dir.clone());
        tokio::fs::create_dir_all(&folder).await?;
        tokio::fs::rename(&upload.path, &final_path).await?;
        upload.kept = true;
        // The rename is durable only once the folder's entry is on disk.
        tokio::task::spawn_blocking(move || std::fs::File::open(&folder)?.sync_all())
            .await
            .map_err(io::Error::other)??;
        Ok(())
    }
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
