//! Media through the API and into the media store, checked in the store itself: the data folder's
//! `media/`, or (with `VITRINE_TEST_S3`, as `cargo xtask test` runs it a second time) the objects
//! in an S3-compatible bucket, read with a client of their own.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};
use vitrine_core::Sha256Hex;
use vitrine_scheduler::Media;

use common::{ADMIN, Harness, Reply};

/// The keys of every blob the harness's scheduler keeps, read from the store directly.
async fn stored_keys(harness: &Harness) -> Vec<String> {
    match &harness.media {
        Media::Local => {
            let media = harness.data_dir.path().join("media");
            let mut keys = Vec::new();
            for folder in std::fs::read_dir(&media).expect("media folder") {
                let folder = folder.expect("entry").path();
                for file in std::fs::read_dir(&folder).expect("media subfolder") {
                    let file = file.expect("entry").path();
                    let relative = file.strip_prefix(&media).expect("under media/");
                    keys.push(relative.to_string_lossy().into_owned());
                }
            }
            keys.sort();
            keys
        }
        Media::S3 { bucket, prefix } => {
            let bucket = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .expect("a client of the test bucket");
            let under = Key::from(prefix.as_str());
            let mut keys: Vec<String> = bucket
                .list(Some(&under))
                .map_ok(|meta| {
                    meta.location
                        .prefix_match(&under)
                        .expect("listed under the prefix")
                        .map(|part| part.as_ref().to_owned())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .try_collect()
                .await
                .expect("the bucket lists");
            keys.sort();
            keys
        }
    }
}

/// The bytes stored under `digest`, read from the store directly.
async fn stored_bytes(harness: &Harness, digest: &Sha256Hex) -> Option<Vec<u8>> {
    let key = format!("{}/{}", &digest.as_str()[..2], digest.as_str());
    match &harness.media {
        Media::Local => std::fs::read(harness.data_dir.path().join("media").join(key)).ok(),
        Media::S3 { bucket, prefix } => {
            let bucket = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .expect("a client of the test bucket");
            match bucket.get(&Key::from(format!("{prefix}/{key}"))).await {
                Ok(object) => Some(object.bytes().await.expect("object body").to_vec()),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(error) => panic!("reading the bucket: {error}"),
            }
        }
    }
}

async fn put(harness: &Harness, digest: &Sha256Hex, bytes: Vec<u8>) -> Reply {
    let request = Request::put(format!("/v1/media/{digest}"))
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .body(Body::from(bytes))
        .expect("request");
    harness.send(request).await
}

async fn get(harness: &Harness, digest: &Sha256Hex, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::get(format!("/v1/media/{digest}"))
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    harness
        .send(request.body(Body::empty()).expect("request"))
        .await
}

/// Over one part of a multipart upload to a bucket (8 MiB), so the S3 pass sends it in parts.
fn large_file() -> Vec<u8> {
    (0..9 * 1024 * 1024 + 17)
        .map(|index: usize| (index.wrapping_mul(31) % 251) as u8)
        .collect()
}

#[tokio::test]
async fn an_upload_reaches_the_store_only_once_verified_and_downloads_by_range() {
    let harness = Harness::new();
    let bytes = large_file();
    let size = bytes.len();
    let digest = Sha256Hex::of_bytes(&bytes);
    let key = format!("{}/{}", &digest.as_str()[..2], digest.as_str());

    // The same bytes but one, under this digest: refused, and nothing reaches the store.
    let mut tampered = bytes.clone();
    tampered[size / 2] ^= 1;
    let refused = put(&harness, &digest, tampered).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.error_code(), "hash_mismatch");
    assert_eq!(stored_keys(&harness).await, Vec::<String>::new());
    assert_eq!(stored_bytes(&harness, &digest).await, None);
    let leftovers = std::fs::read_dir(harness.data_dir.path().join("tmp"))
        .expect("tmp folder")
        .count();
    assert_eq!(leftovers, 0, "a refused upload left a temporary file");

    let stored = put(&harness, &digest, bytes.clone()).await;
    assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.json());
    assert_eq!(stored_keys(&harness).await, vec![key.clone()]);
    assert!(stored_bytes(&harness, &digest).await.as_ref() == Some(&bytes));
    let again = put(&harness, &digest, bytes.clone()).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(stored_keys(&harness).await, vec![key]);

    let whole = get(&harness, &digest, &[]).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert!(whole.body.as_ref() == bytes.as_slice(), "the whole file");
    assert_eq!(whole.headers[header::CONTENT_LENGTH], size.to_string());
    assert_eq!(whole.headers[header::ACCEPT_RANGES], "bytes");
    let etag = format!("\"{digest}\"");
    assert_eq!(whole.headers[header::ETAG], etag.as_str());
    assert!(whole.headers.contains_key(header::LAST_MODIFIED));

    // One range, as a player resuming a download asks: from an offset to the end.
    let resumed = get(&harness, &digest, &[("range", "bytes=8388600-")]).await;
    assert_eq!(resumed.status, StatusCode::PARTIAL_CONTENT);
    assert!(resumed.body.as_ref() == &bytes[8_388_600..]);
    assert_eq!(
        resumed.headers[header::CONTENT_RANGE],
        format!("bytes 8388600-{}/{size}", size - 1).as_str()
    );
    let middle = get(&harness, &digest, &[("range", "bytes=100-199")]).await;
    assert_eq!(middle.status, StatusCode::PARTIAL_CONTENT);
    assert!(middle.body.as_ref() == &bytes[100..200]);
    assert_eq!(middle.headers[header::CONTENT_LENGTH], "100");
    let tail = get(&harness, &digest, &[("range", "bytes=-10")]).await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert!(tail.body.as_ref() == &bytes[size - 10..]);

    // Past the end, or several ranges at once: 416 with the size.
    for unsatisfiable in [format!("bytes={size}-"), "bytes=0-1,5-9".to_owned()] {
        let refused = get(&harness, &digest, &[("range", &unsatisfiable)]).await;
        assert_eq!(
            refused.status,
            StatusCode::RANGE_NOT_SATISFIABLE,
            "{unsatisfiable}"
        );
        assert_eq!(
            refused.headers[header::CONTENT_RANGE],
            format!("bytes */{size}").as_str()
        );
    }

    // The digest is the ETag: a cache holding it gets 304, and a range conditional on another
    // version gets the whole file.
    let unchanged = get(&harness, &digest, &[("if-none-match", &etag)]).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert!(unchanged.body.is_empty());
    let other = get(
        &harness,
        &digest,
        &[("range", "bytes=0-9"), ("if-range", "\"elsewhere\"")],
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body.len(), size);
    let same = get(
        &harness,
        &digest,
        &[("range", "bytes=0-9"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(same.status, StatusCode::PARTIAL_CONTENT);
    assert!(same.body.as_ref() == &bytes[..10]);

    // Media no version names goes from the store once its grace period is over.
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48);
    let removed = vitrine_scheduler::quota::collect_unused_media(&harness.state, later)
        .await
        .expect("collected");
    assert_eq!(removed, 1);
    assert_eq!(stored_keys(&harness).await, Vec::<String>::new());
    let gone = get(&harness, &digest, &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error_code(), "media_not_found");
}

#[tokio::test]
async fn a_blob_removed_from_the_store_by_hand_is_not_found_and_an_upload_restores_it() {
    let harness = Harness::new();
    let bytes = b"a picture".to_vec();
    let digest = Sha256Hex::of_bytes(&bytes);
    assert_eq!(
        put(&harness, &digest, bytes.clone()).await.status,
        StatusCode::CREATED
    );
    harness
        .state
        .blobs()
        .remove(&digest)
        .await
        .expect("removed");

    let missing = get(&harness, &digest, &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "media_not_found");
    // Indexed but not in the store: the upload stores it again.
    let restored = put(&harness, &digest, bytes.clone()).await;
    assert_eq!(restored.status, StatusCode::OK);
    assert_eq!(stored_bytes(&harness, &digest).await, Some(bytes));
}

#[tokio::test]
async fn a_media_store_that_fails_answers_503_and_stores_nothing() {
    let harness = match common::test_media() {
        Media::Local => Harness::new(),
        // A bucket of its own, so that taking it away leaves the shared test bucket alone.
        Media::S3 { prefix, .. } => {
            let bucket = format!("vitrine-gone-{}", &prefix[5..]);
            s3_bucket(reqwest::Method::PUT, &bucket).await;
            Harness::with_media(Media::S3 { bucket, prefix })
        }
    };
    let bytes = b"a clip".to_vec();
    let digest = Sha256Hex::of_bytes(&bytes);
    match &harness.media {
        // The folder blobs go in becomes a file: no blob can be written there.
        Media::Local => {
            let media = harness.data_dir.path().join("media");
            std::fs::remove_dir(&media).expect("media folder removed");
            std::fs::write(&media, b"not a folder").expect("a file in its place");
        }
        Media::S3 { bucket, .. } => s3_bucket(reqwest::Method::DELETE, bucket).await,
    }
    let refused = put(&harness, &digest, bytes).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.json()
    );
    assert_eq!(refused.error_code(), "media_unavailable");
    assert_eq!(refused.headers[header::RETRY_AFTER], "2");
    assert_eq!(harness.count("media"), 0, "nothing was indexed");
    let leftovers = std::fs::read_dir(harness.data_dir.path().join("tmp"))
        .expect("tmp folder")
        .count();
    assert_eq!(leftovers, 0, "the refused upload left a temporary file");
}

/// A bucket that does not answer stops the start, with the bucket named and the settings to check.
#[tokio::test]
async fn a_scheduler_on_a_missing_bucket_does_not_start() {
    if common::test_media() == Media::Local {
        // Without a test server there is no endpoint to ask; the S3 pass runs this.
        return;
    }
    let data_dir = tempfile::tempdir().expect("temp dir");
    let error = vitrine_scheduler::open(vitrine_scheduler::Config {
        data_dir: data_dir.path().to_path_buf(),
        admin_token: ADMIN.to_owned(),
        database: vitrine_scheduler::Database::Sqlite,
        media: "s3://vitrine-never-made/hq".parse().expect("a media URL"),
    })
    .err()
    .expect("the start fails");
    let line = format!("{error:#}");
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains("s3://vitrine-never-made/hq"), "{line}");
    assert!(line.contains("cannot be reached"), "{line}");
    assert!(line.contains("AWS_ENDPOINT_URL"), "{line}");
}

/// Creates (PUT) or deletes (DELETE) a bucket on the test server, which asks for no signature.
async fn s3_bucket(method: reqwest::Method, bucket: &str) {
    let endpoint = std::env::var(common::S3_ENV).expect("the S3 pass");
    let reply = reqwest::Client::new()
        .request(
            method.clone(),
            format!("{}/{bucket}", endpoint.trim_end_matches('/')),
        )
        .send()
        .await
        .expect("the test server answers");
    assert!(
        reply.status().is_success(),
        "{method} {bucket}: {}",
        reply.status()
    );
}
