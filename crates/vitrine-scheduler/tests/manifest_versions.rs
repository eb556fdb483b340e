//! Manifest versions through `app()`: a manifest names its screen and a version that grows with
//! every change of what the screen gets, a campaign included, stays put while nothing changes, and
//! keeps growing when the scheduler restarts on the same data folder.

use axum::http::{Method, StatusCode, header};
use serde_json::json;
use vitrine_core::Manifest;
use vitrine_scheduler::Config;

mod common;

use common::{ADMIN, Harness};

const PLAYLIST: &str =
    "version: 1\nname: lobby\nitems:\n  - text: { text: Welcome, duration: 5s }\n";

const CAMPAIGN: &str = "version: 1
name: open-day
targets:
  screens: [door]
from: 2020-01-01
priority: 50
loop_slots: 1
fill:
  - text: { text: Open day, duration: 10s }
";

/// The screen's manifest and its ETag.
async fn manifest(harness: &Harness, token: &str) -> (Manifest, String) {
    let reply = harness
        .call(Method::GET, "/v1/manifest", Some(token), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let etag = reply.headers[header::ETAG]
        .to_str()
        .expect("ASCII")
        .to_owned();
    (serde_json::from_slice(&reply.body).expect("manifest"), etag)
}

#[tokio::test]
async fn the_version_grows_with_a_campaign_stays_while_nothing_changes_and_survives_a_restart() {
    let harness = Harness::new();
    let reply = harness
        .call(
            Method::POST,
            "/v1/playlists",
            Some(ADMIN),
            Some(json!({"file_name": "lobby.yaml", "source": PLAYLIST})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
    let reply = harness
        .call(
            Method::POST,
            "/v1/screens",
            Some(ADMIN),
            Some(json!({"name": "door", "playlist": "lobby"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
    let token = reply.json()["token"].as_str().expect("token").to_owned();

    let (first, first_etag) = manifest(&harness, &token).await;
    assert_eq!(first.screen, "door");
    assert!(first.version > 0);
    // Asked again with nothing changed: the same version and the same bytes.
    let (again, again_etag) = manifest(&harness, &token).await;
    assert_eq!(
        (again.version, again_etag),
        (first.version, first_etag.clone())
    );

    // A campaign changes the manifest but not the playlist: the version still grows.
    let reply = harness
        .call(
            Method::POST,
            "/v1/campaigns",
            Some(ADMIN),
            Some(json!({"file_name": "open-day.yaml", "source": CAMPAIGN})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json());
    let (with_campaign, campaign_etag) = manifest(&harness, &token).await;
    assert_eq!(with_campaign.playlist_version, first.playlist_version);
    assert_ne!(campaign_etag, first_etag);
    assert!(with_campaign.version > first.version);

    // A new process on the same data folder (or database) never numbers below what the first
    // one handed out: on SQLite it numbers anew from the clock, on PostgreSQL, where replicas
    // share versions, it finds the same content's version and the ETag stays.
    let restarted = vitrine_scheduler::open(Config {
        data_dir: harness.data_dir.path().to_path_buf(),
        admin_token: ADMIN.to_owned(),
        database: harness.database.clone(),
        media: harness.media.clone(),
    })
    .expect("reopens");
    let after_restart = Harness {
        data_dir: tempfile::tempdir().expect("temp dir"),
        state: restarted,
        database: harness.database.clone(),
        media: harness.media.clone(),
    };
    let (reopened, reopened_etag) = manifest(&after_restart, &token).await;
    match harness.database {
        vitrine_scheduler::Database::Sqlite => {
            assert!(reopened.version > with_campaign.version);
        }
        vitrine_scheduler::Database::Postgres(_) => {
            assert_eq!(reopened.version, with_campaign.version);
            assert_eq!(reopened_etag, campaign_etag);
        }
    }
    assert_eq!(reopened.playlist, with_campaign.playlist);
}
