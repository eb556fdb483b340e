//! The holes an attacker's review found, each closed and kept closed: rate limits that random
//! tokens cannot dodge, staff kept to their stores' playlists and the tags HQ gives them, pairing
//! that one network cannot starve and that mints a token once, per-store quotas, unused media
//! collected, caches left alone by media uploads, answers that do not tell staff what exists
//! elsewhere, and a private data folder.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{ADMIN, Harness, Reply};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vitrine_scheduler::quota::Quotas;
use vitrine_scheduler::rate_limit::RateLimits;

const STORES: &str = "code,name,region,tags,timezone,locale,currency
store-a,Store A,north,,Europe/Paris,fr-FR,EUR
store-b,Store B,south,,Europe/Paris,fr-FR,EUR
";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A request as it arrives from `address` over TCP.
fn from_address(
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
    address: &str,
) -> Request<Body> {
    common::from_address(common::request(method, uri, token, body), address)
}

async fn ok(
    harness: &Harness,
    method: Method,
    uri: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let reply = harness.call(method, uri, Some(token), body).await;
    assert!(
        reply.status.is_success(),
        "{uri}: {} {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

async fn upload(harness: &Harness, token: &str, bytes: &[u8]) -> Reply {
    let request = Request::builder()
        .method(Method::PUT)
        .uri(format!("/v1/media/{}", sha256_hex(bytes)))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(bytes.to_vec()))
        .expect("request");
    harness.send(request).await
}

fn playlist(name: &str, file: &str, media: &[u8]) -> Value {
    json!({
        "file_name": format!("{name}.yaml"),
        "source": format!(
            "version: 1\nname: {name}\nitems:\n  - image: {{ file: \"{file}\", duration: 5s }}\n"
        ),
        "media": { file: sha256_hex(media) },
    })
}

/// `playlist` with a comment that makes it a new version (a push of an unchanged playlist stores
/// nothing).
fn edited_playlist(name: &str, file: &str, media: &[u8], edit: usize) -> Value {
    let mut body = playlist(name, file, media);
    let source = format!("{}# edit {edit}\n", body["source"].as_str().unwrap());
    body["source"] = Value::String(source);
    body
}

/// Two stores with a staff member each (alice may use the `entrance` tag), each store's own
/// playlist pushed by its staff, and an HQ playlist.
struct Chain {
    harness: Harness,
    alice: String,
    bob: String,
}

async fn chain() -> Chain {
    chain_with(Harness::new()).await
}

async fn chain_with(harness: Harness) -> Chain {
    ok(
        &harness,
        Method::POST,
        "/v1/stores",
        ADMIN,
        Some(json!({"file_name": "stores.csv", "source": STORES})),
    )
    .await;
    let mut tokens = Vec::new();
    for (name, store, tags) in [
        ("alice", "store-a", vec!["entrance"]),
        ("bob", "store-b", vec![]),
    ] {
        let made = ok(
            &harness,
            Method::POST,
            "/v1/staff",
            ADMIN,
            Some(json!({"name": name, "stores": [store], "tags": tags})),
        )
        .await;
        tokens.push(made["token"].as_str().expect("token").to_owned());
    }
    for (token, media, name) in [
        (&tokens[0], b"a".as_slice(), "pa"),
        (&tokens[1], b"b".as_slice(), "pb"),
        (&ADMIN.to_owned(), b"hq".as_slice(), "hq"),
    ] {
        assert!(upload(&harness, token, media).await.status.is_success());
        ok(
            &harness,
            Method::POST,
            "/v1/playlists",
            token,
            Some(playlist(name, "x.png", media)),
        )
        .await;
    }
    Chain {
        harness,
        alice: tokens[0].clone(),
        bob: tokens[1].clone(),
    }
}

/// Two replicas behind a balancer that spreads a caller's requests share one limit: together they
/// allow the burst once, not once each.
#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test runs it on its private server"]
async fn replicas_share_one_rate_limit() {
    let first = Harness::new();
    let second = first.replica();
    let limits = RateLimits {
        // A request a second: little refills over the milliseconds the test takes.
        per_second: 1,
        burst: 10,
        ..RateLimits::default()
    };
    for harness in [&first, &second] {
        harness.state.set_rate_limits(&limits);
    }
    // Each says it is alive, then counts: the first sees one (itself), the second both; the
    // first's next beat sees both as well.
    for harness in [&first, &second, &first] {
        vitrine_scheduler::rate_limit::share_with_replicas(&harness.state)
            .await
            .expect("the replicas are counted");
    }
    for harness in [&first, &second] {
        assert_eq!(harness.state.limiters().replicas(), 2);
    }
    let mut passed = 0;
    for attempt in 0..20 {
        let replica = if attempt % 2 == 0 { &first } else { &second };
        let reply = replica
            .call(Method::GET, "/v1/screens", Some(ADMIN), None)
            .await;
        match reply.status {
            StatusCode::OK => passed += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    // The burst of 10, and at most one more should a second go by between the first and the last.
    assert!(
        (10..=11).contains(&passed),
        "{passed} of 20 passed through two replicas sharing a burst of 10"
    );
}

#[tokio::test]
async fn made_up_tokens_share_their_address_bucket() {
    let harness = Harness::new();
    harness.state.set_rate_limits(&RateLimits {
        per_second: 1,
        burst: 3,
        ..RateLimits::default()
    });
    let mut statuses = Vec::new();
    for attempt in 0..5 {
        let request = from_address(
            Method::GET,
            "/v1/manifest",
            Some(&format!("random-token-{attempt}")),
            None,
            "198.51.100.7:40000",
        );
        statuses.push(harness.send(request).await.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
        ],
        "each made-up token is counted against the address, not a bucket of its own"
    );
    // Another address is not held back by this one's flood, and the admin has a bucket of its
    // own.
    let request = from_address(
        Method::GET,
        "/v1/manifest",
        Some("x"),
        None,
        "198.51.100.8:1",
    );
    assert_eq!(harness.send(request).await.status, StatusCode::UNAUTHORIZED);
    let request = from_address(
        Method::GET,
        "/v1/staff",
        Some(ADMIN),
        None,
        "198.51.100.7:1",
    );
    assert_eq!(harness.send(request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn staff_give_screens_only_their_stores_playlists_and_allowed_tags() {
    let chain = chain().await;
    let harness = &chain.harness;
    let add = |token: String, body: Value| async move {
        harness
            .call(Method::POST, "/v1/screens", Some(&token), Some(body))
            .await
    };
    let allowed = add(
        chain.alice.clone(),
        json!({"name": "a1", "playlist": "pa", "store": "store-a", "tags": ["entrance"]}),
    )
    .await;
    assert_eq!(allowed.status, StatusCode::CREATED, "{}", allowed.json());

    // Another store's playlist, HQ's playlist and a name never pushed (which staff would claim)
    // are refused alike, so staff learn nothing of what exists.
    let mut messages = Vec::new();
    for (name, playlist) in [("a2", "pb"), ("a3", "hq"), ("a4", "default")] {
        let refused = add(
            chain.alice.clone(),
            json!({"name": name, "playlist": playlist, "store": "store-a"}),
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{playlist}");
        messages.push(refused.error_message().replace(playlist, "NAME"));
    }
    assert!(
        messages.windows(2).all(|pair| pair[0] == pair[1]),
        "{messages:#?}"
    );
    assert!(
        messages[0].contains("not one of your stores' playlists"),
        "{}",
        messages[0]
    );
    // Asking to give a playlist not pushed yet, which is HQ's to do, changes nothing for staff.
    let opted_in = add(
        chain.alice.clone(),
        json!({"name": "a4", "playlist": "default", "store": "store-a", "allow_unpushed": true}),
    )
    .await;
    assert_eq!(opted_in.status, StatusCode::FORBIDDEN);
    assert_eq!(
        opted_in.error_message().replace("default", "NAME"),
        messages[0]
    );

    let tagged = add(
        chain.alice.clone(),
        json!({"name": "a5", "playlist": "pa", "store": "store-a", "tags": ["vip"]}),
    )
    .await;
    assert_eq!(tagged.status, StatusCode::FORBIDDEN);
    assert!(
        tagged.error_message().contains("tag `vip`"),
        "{}",
        tagged.error_message()
    );
    let untagged_staff = add(
        chain.bob.clone(),
        json!({"name": "b1", "playlist": "pb", "store": "store-b", "tags": ["entrance"]}),
    )
    .await;
    assert_eq!(
        untagged_staff.status,
        StatusCode::FORBIDDEN,
        "bob was given no tags"
    );

    // Pairing goes through the same rules.
    let started = harness
        .call(Method::POST, "/v1/pairings", None, None)
        .await
        .json();
    let code = started["code"].as_str().expect("code");
    let refused = harness
        .call(
            Method::POST,
            &format!("/v1/pairings/{code}"),
            Some(&chain.alice),
            Some(json!({"store": "store-a", "playlist": "pb"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Store B's playlist stays B's to push: nothing in store A plays it.
    let pushed = harness
        .call(
            Method::POST,
            "/v1/playlists",
            Some(&chain.bob),
            Some(edited_playlist("pb", "x.png", b"b", 1)),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED);
    // And neither store's staff may push the other's or HQ's.
    for (token, name, media) in [
        (&chain.alice, "pb", b"b".as_slice()),
        (&chain.bob, "pa", b"a".as_slice()),
        (&chain.bob, "hq", b"hq".as_slice()),
    ] {
        let refused = harness
            .call(
                Method::POST,
                "/v1/playlists",
                Some(token),
                Some(playlist(name, "x.png", media)),
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{name}");
    }
    // HQ assigns any playlist.
    let by_admin = add(
        ADMIN.to_owned(),
        json!({"name": "a6", "playlist": "hq", "store": "store-a", "tags": ["vip"]}),
    )
    .await;
    assert_eq!(by_admin.status, StatusCode::CREATED);
}

#[tokio::test]
async fn staff_get_the_same_answer_for_an_unknown_screen_and_another_stores() {
    let chain = chain().await;
    let harness = &chain.harness;
    ok(
        harness,
        Method::POST,
        "/v1/screens",
        &chain.bob,
        Some(json!({"name": "b1", "playlist": "pb", "store": "store-b"})),
    )
    .await;
    for (method, path) in [
        (Method::GET, "/v1/screens/NAME/status"),
        (Method::GET, "/v1/impressions?screen=NAME"),
        (
            Method::GET,
            "/v1/explain?screen=NAME&at=2026-12-05T09:30:00Z",
        ),
        (Method::POST, "/v1/screens/NAME/revoke"),
        (Method::POST, "/v1/screens/NAME/rotate"),
    ] {
        let answers: Vec<(StatusCode, String)> = {
            let mut answers = Vec::new();
            for screen in ["b1", "no-such-screen"] {
                let reply = harness
                    .call(
                        method.clone(),
                        &path.replace("NAME", screen),
                        Some(&chain.alice),
                        None,
                    )
                    .await;
                answers.push((reply.status, reply.error_message().replace(screen, "NAME")));
            }
            answers
        };
        assert_eq!(answers[0].0, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(answers[0], answers[1], "{path}");
        assert!(!answers[0].1.contains("store-b"), "{}", answers[0].1);
    }
    // The admin is told when a screen does not exist.
    let reply = harness
        .call(
            Method::GET,
            "/v1/screens/no-such-screen/status",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pairing_codes_are_bounded_per_address_and_prefix_and_the_oldest_give_way() {
    let harness = Harness::new();
    harness.state.set_rate_limits(&RateLimits {
        pairings_per_minute: 0,
        ..RateLimits::default()
    });
    let ask = |address: String| {
        let harness = &harness;
        async move {
            harness
                .send(from_address(
                    Method::POST,
                    "/v1/pairings",
                    None,
                    None,
                    &address,
                ))
                .await
        }
    };
    for _ in 0..20 {
        assert_eq!(
            ask("203.0.113.9:1".into()).await.status,
            StatusCode::CREATED
        );
    }
    let count = |filter: &str| -> i64 {
        harness.query_i64(&format!("SELECT COUNT(*) FROM pairings WHERE {filter}"))
    };
    assert_eq!(
        count("address = '203.0.113.9'"),
        vitrine_scheduler::pairing::MAX_PENDING_PER_ADDRESS
    );
    for host in 1..=200 {
        assert_eq!(
            ask(format!("198.51.100.{host}:1")).await.status,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        count("prefix = '198.51.100.0/24'"),
        vitrine_scheduler::pairing::MAX_PENDING_PER_PREFIX
    );

    // A full table, as a flood from a thousand networks leaves it: a new player still gets a
    // code, and the oldest waiting code gives way.
    {
        let now = jiff::Timestamp::now();
        let expires = now + jiff::SignedDuration::from_mins(15);
        let free = vitrine_scheduler::pairing::MAX_PENDING - count("1 = 1");
        let rows: Vec<String> = (0..free)
            .map(|index| {
                format!(
                    "('F{index:07}', 'x', '{now}', '{expires}', '10.{a}.{b}.1', '10.{a}.{b}.0/24')",
                    a = index / 256,
                    b = index % 256,
                )
            })
            .collect();
        harness.execute(&format!(
            "INSERT INTO pairings (code, secret_sha256, created_at, expires_at, address, prefix)
             VALUES {}",
            rows.join(", ")
        ));
    }
    assert_eq!(count("1 = 1"), vitrine_scheduler::pairing::MAX_PENDING);
    let reply = ask("192.0.2.44:1".into()).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(count("1 = 1"), vitrine_scheduler::pairing::MAX_PENDING);
    assert_eq!(count("address = '192.0.2.44'"), 1);
}

#[tokio::test]
async fn uploading_media_leaves_cached_manifests_alone() {
    let chain = chain().await;
    let harness = &chain.harness;
    // The last push tells connected screens in a task of its own, which moves the generation as
    // it starts; on this single-threaded test runtime one yield lets it start.
    tokio::task::yield_now().await;
    let before = harness.state.generation();
    assert_eq!(
        upload(harness, ADMIN, b"new bytes").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        upload(harness, ADMIN, b"new bytes").await.status,
        StatusCode::OK
    );
    assert_eq!(
        upload(harness, &chain.alice, b"new bytes").await.status,
        StatusCode::OK
    );
    assert_eq!(
        harness.state.generation(),
        before,
        "a stored blob changes no manifest, so no cache is flushed"
    );
    ok(
        harness,
        Method::POST,
        "/v1/playlists",
        &chain.alice,
        Some(playlist("pa", "y.png", b"new bytes")),
    )
    .await;
    assert_ne!(
        harness.state.generation(),
        before,
        "a new playlist version does"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_racing_each_other_cannot_pass_their_stores_quota_together() {
    let harness = Harness::new();
    harness.state.set_quotas(Quotas {
        store_media_bytes: 20,
        ..Quotas::default()
    });
    let chain = chain_with(harness).await;
    let harness = &chain.harness;
    let media_before = harness.count("media");
    // Alice's store holds 1 byte ("a"): room for one more file of 15 bytes, not two. Eight
    // different files at once each pass the check made before their bytes are read.
    let files: Vec<Vec<u8>> = (0..8u8).map(|fill| vec![fill + 100; 15]).collect();
    let replies = futures_util::future::join_all(
        files.iter().map(|file| upload(harness, &chain.alice, file)),
    )
    .await;
    let stored: Vec<&Vec<u8>> = files
        .iter()
        .zip(&replies)
        .filter(|(_, reply)| reply.status == StatusCode::CREATED)
        .map(|(file, _)| file)
        .collect();
    assert_eq!(
        stored.len(),
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for (file, reply) in files.iter().zip(&replies) {
        if reply.status != StatusCode::CREATED {
            assert_eq!(reply.status, StatusCode::INSUFFICIENT_STORAGE);
            assert_eq!(reply.error_code(), "quota_exceeded");
            // Refused: not indexed, so not served.
            let head = harness
                .call(
                    Method::HEAD,
                    &format!("/v1/media/{}", sha256_hex(file)),
                    Some(ADMIN),
                    None,
                )
                .await;
            assert_eq!(head.status, StatusCode::NOT_FOUND);
            // Nor kept: nothing would ever collect a file no index row names.
            let digest = sha256_hex(file).parse().expect("a digest");
            assert!(
                !harness
                    .state
                    .blobs()
                    .contains(&digest)
                    .await
                    .expect("the media store"),
                "a refused upload's file was left behind"
            );
        }
    }
    assert_eq!(harness.count("media"), media_before + 1);
}

/// The storage's half of the playlist quota: versions inserted at once for one store, each
/// checked in the transaction that inserts it, stop at the quota together.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn versions_inserted_at_once_for_one_store_stay_within_its_quota() {
    use vitrine_scheduler::storage::playlists::{
        NewPlaylistVersion, PlaylistInsert, PlaylistQuota,
    };
    let harness = Harness::new();
    let storage = harness.state.storage();
    // Each version stores 100 bytes of source and `{}`: 102 bytes. A quota of 250 has room for
    // two (0 + 100, then 102 + 100), not three (204 + 100).
    let inserts = (0..8).map(|push| {
        storage.insert_playlist(NewPlaylistVersion {
            name: format!("p{push}"),
            file_name: format!("p{push}.yaml"),
            source: "x".repeat(100),
            includes: Default::default(),
            compiled: "{}".into(),
            media: Default::default(),
            owner_stores: Some(vec!["store-a".into()]),
            quota: Some(PlaylistQuota {
                stores: vec!["store-a".into()],
                adds: 100,
                bytes: 250,
            }),
        })
    });
    let results = futures_util::future::join_all(inserts).await;
    let stored = results
        .iter()
        .filter(|result| matches!(result, Ok(PlaylistInsert::Stored(_))))
        .count();
    assert_eq!(stored, 2, "{results:?}");
    for result in &results {
        match result {
            Ok(PlaylistInsert::Stored(version)) => assert_eq!(*version, 1),
            Ok(PlaylistInsert::OverQuota { store, used }) => {
                assert_eq!((store.as_str(), *used), ("store-a", 204));
            }
            Err(error) => panic!("{error}"),
        }
    }
    assert_eq!(
        storage
            .store_playlist_bytes("store-a".into())
            .await
            .expect("the store's bytes"),
        204
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn playlist_pushes_sent_at_once_stop_at_their_stores_quota() {
    let pushes: Vec<Value> = (100..108)
        .map(|edit| edited_playlist("pa", "x.png", b"a", edit))
        .collect();
    let version_bytes = pushes[0]["source"].as_str().expect("a source").len() as u64;
    // Alice's store holds its first version of "pa" (its source, and `{}` for no fragments):
    // room for one more version, not two.
    let first = playlist("pa", "x.png", b"a")["source"]
        .as_str()
        .expect("a source")
        .len() as u64
        + 2;
    let quota = first + version_bytes + version_bytes / 2;
    let harness = Harness::new();
    harness.state.set_quotas(Quotas {
        store_playlist_bytes: quota,
        ..Quotas::default()
    });
    let chain = chain_with(harness).await;
    let harness = &chain.harness;
    let used = harness
        .state
        .storage()
        .store_playlist_bytes("store-a".into())
        .await
        .expect("the store's bytes");
    assert!(
        used + version_bytes <= quota && quota < used + 2 * version_bytes,
        "the store holds {used} bytes: the quota of {quota} is not room for exactly one more"
    );
    let versions_before = harness.count("playlists");
    let replies = futures_util::future::join_all(pushes.into_iter().map(|push| {
        harness.call(
            Method::POST,
            "/v1/playlists",
            Some(&chain.alice),
            Some(push),
        )
    }))
    .await;
    let statuses: Vec<StatusCode> = replies.iter().map(|reply| reply.status).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|status| **status == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    for reply in replies
        .iter()
        .filter(|reply| reply.status != StatusCode::CREATED)
    {
        assert_eq!(reply.status, StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(reply.error_code(), "quota_exceeded");
        assert!(
            reply.error_message().contains("store-a"),
            "{}",
            reply.error_message()
        );
    }
    assert_eq!(harness.count("playlists"), versions_before + 1);
}

#[tokio::test]
async fn staff_uploads_and_playlist_versions_count_against_their_stores_quota() {
    let harness = Harness::new();
    harness.state.set_quotas(Quotas {
        store_media_bytes: 20,
        store_playlist_bytes: 400,
        ..Quotas::default()
    });
    let chain = chain_with(harness).await;
    let harness = &chain.harness;
    // Alice's store holds 1 byte ("a") already.
    assert_eq!(
        upload(harness, &chain.alice, &[7; 10]).await.status,
        StatusCode::CREATED
    );
    let refused = upload(harness, &chain.alice, &[8; 15]).await;
    assert_eq!(refused.status, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(refused.error_code(), "quota_exceeded");
    assert!(
        refused.error_message().contains("store-a"),
        "{}",
        refused.error_message()
    );
    assert!(
        refused.error_message().contains("20 bytes"),
        "{}",
        refused.error_message()
    );
    let media_before = harness.count("media");
    assert_eq!(
        harness
            .call(
                Method::HEAD,
                &format!("/v1/media/{}", sha256_hex(&[8; 15])),
                Some(ADMIN),
                None
            )
            .await
            .status,
        StatusCode::NOT_FOUND,
        "nothing was stored"
    );
    // Another store and HQ are not held back by store A's quota.
    assert_eq!(
        upload(harness, &chain.bob, &[8; 15]).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        upload(harness, ADMIN, &[9; 100]).await.status,
        StatusCode::CREATED
    );
    assert_eq!(harness.count("media"), media_before + 2);

    // Playlist versions: each about 90 bytes of YAML, until the store's 400 bytes are spent.
    let versions_before = harness.count("playlists");
    let mut refused = None;
    for edit in 0..10 {
        let reply = harness
            .call(
                Method::POST,
                "/v1/playlists",
                Some(&chain.alice),
                Some(edited_playlist("pa", "x.png", b"a", edit)),
            )
            .await;
        if reply.status != StatusCode::CREATED {
            refused = Some(reply);
            break;
        }
    }
    let refused = refused.expect("the quota runs out");
    assert_eq!(refused.status, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(refused.error_code(), "quota_exceeded");
    let stored = harness.count("playlists") - versions_before;
    assert!(
        (2..10).contains(&stored),
        "{stored} versions stored before the refusal"
    );
    // HQ's pushes are not counted.
    ok(
        harness,
        Method::POST,
        "/v1/playlists",
        ADMIN,
        Some(playlist("hq", "x.png", b"hq")),
    )
    .await;
}

#[tokio::test]
async fn media_no_version_names_is_collected_after_the_grace_period() {
    let chain = chain().await;
    let harness = &chain.harness;
    assert_eq!(
        upload(harness, &chain.alice, b"never used").await.status,
        StatusCode::CREATED
    );
    let unused = sha256_hex(b"never used");
    let used = sha256_hex(b"a");
    let now = jiff::Timestamp::now();
    // Within the grace period nothing goes.
    let removed = vitrine_scheduler::quota::collect_unused_media(&harness.state, now)
        .await
        .expect("collected");
    assert_eq!(removed, 0);
    let later = now + jiff::SignedDuration::from_hours(25);
    let removed = vitrine_scheduler::quota::collect_unused_media(&harness.state, later)
        .await
        .expect("collected");
    assert_eq!(removed, 1);
    for (sha256, expected) in [(&unused, StatusCode::NOT_FOUND), (&used, StatusCode::OK)] {
        let reply = harness
            .call(
                Method::HEAD,
                &format!("/v1/media/{sha256}"),
                Some(ADMIN),
                None,
            )
            .await;
        assert_eq!(reply.status, expected, "{sha256}");
        let digest: vitrine_core::Sha256Hex = sha256.parse().expect("a digest");
        let stored = harness
            .state
            .blobs()
            .contains(&digest)
            .await
            .expect("media store");
        assert_eq!(
            stored,
            expected == StatusCode::OK,
            "{sha256} in the media store"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let chain = chain().await;
    let data_dir = chain.harness.data_dir.path();
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(data_dir), 0o700);
    // On PostgreSQL the folder holds no database, but still the key that signs manifests.
    let files: &[&str] = match chain.harness.database {
        vitrine_scheduler::Database::Sqlite => &[
            "vitrine.sqlite3",
            "vitrine.sqlite3-wal",
            "manifest-signing-key",
        ],
        vitrine_scheduler::Database::Postgres(_) => &["manifest-signing-key"],
    };
    for file in files {
        assert_eq!(mode(&data_dir.join(file)), 0o600, "{file}");
    }
    // An existing folder left readable by others is narrowed when the scheduler opens it.
    let folder = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(folder.path().join("vitrine.sqlite3"), b"").expect("file");
    std::fs::set_permissions(
        folder.path().join("vitrine.sqlite3"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let _state = vitrine_scheduler::open(vitrine_scheduler::Config {
        data_dir: folder.path().to_path_buf(),
        admin_token: ADMIN.to_owned(),
        // The modes of the embedded database's files are what this checks.
        database: vitrine_scheduler::Database::Sqlite,
        media: vitrine_scheduler::Media::Local,
    })
    .expect("opens");
    assert_eq!(mode(folder.path()), 0o700);
    assert_eq!(mode(&folder.path().join("vitrine.sqlite3")), 0o600);
}

#[tokio::test]
async fn a_playlist_over_a_limit_is_refused_with_the_limit_named_and_nothing_stored() {
    let harness = Harness::new();
    let loops: String = (0..=vitrine_core::playlist::MAX_RULES_PER_ZONE)
        .map(|index| {
            format!(
                "  - name: loop-{index}\n    priority: {index}\n    items:\n      \
                 - text: {{ text: Hi, duration: 5s }}\n"
            )
        })
        .collect();
    let source = format!("version: 1\nname: big\nloops:\n{loops}");
    let reply = harness
        .call(
            Method::POST,
            "/v1/playlists",
            Some(ADMIN),
            Some(json!({"file_name": "big.yaml", "source": source})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_code(), "invalid_playlist");
    let limit = format!(
        "over the limit of {} rules per zone",
        vitrine_core::playlist::MAX_RULES_PER_ZONE
    );
    assert!(
        reply.error_message().contains(&limit),
        "{}",
        reply.error_message()
    );
    assert_eq!(harness.count("playlists"), 0);
    // The checks ran off the request threads: the server answers as before.
    let health = harness.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
}
