//! HQ's pages of the web console over HTTP, on the real router and database: campaigns with
//! diagnostics at their line, publishing and rolling back; store imports and their reports; staff
//! tokens shown once; confirming a pairing code; the media library's uploads and thumbnails; CSRF
//! on every new form; and staff kept off HQ's pages with the API's own 403.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{ADMIN, Harness, Reply};
use serde_json::json;
use sha2::{Digest, Sha256};

const STORES: &str = "code,name,region,tags,timezone,locale,currency
store-a,Store A,north,,Europe/Paris,fr-FR,EUR
";

fn campaign(text: &str) -> String {
    format!(
        "version: 1\nname: spring\ntargets:\n  all: true\nfrom: 2020-01-01\nloop_slots: 1\nfill:\n  - text: {{ text: {text}, duration: 5s }}\n"
    )
}

struct Console {
    harness: Harness,
    staff_a: String,
}

impl Console {
    async fn new() -> Self {
        let harness = Harness::new();
        let ok = |reply: Reply| {
            assert!(
                reply.status.is_success(),
                "{} {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
            reply.json()
        };
        ok(harness
            .call(
                Method::POST,
                "/v1/stores",
                Some(ADMIN),
                Some(json!({"file_name": "stores.csv", "source": STORES})),
            )
            .await);
        let staff_a = ok(harness
            .call(
                Method::POST,
                "/v1/staff",
                Some(ADMIN),
                Some(json!({"name": "alice", "stores": ["store-a"]})),
            )
            .await)["token"]
            .as_str()
            .expect("token")
            .to_owned();
        Self { harness, staff_a }
    }

    async fn sign_in(&self, token: &str) -> String {
        self.harness.console_sign_in(token).await
    }

    async fn get(&self, cookie: &str, uri: &str) -> Reply {
        self.harness.console_get(Some(cookie), uri).await
    }

    async fn form(&self, cookie: Option<&str>, uri: &str, fields: &[(&str, &str)]) -> Reply {
        self.harness.console_form(cookie, uri, fields).await
    }

    async fn csrf(&self, cookie: &str) -> String {
        self.harness.console_csrf(cookie).await
    }

    /// Uploads `bytes` as the media library's script does: the bytes as the body, the digest in
    /// the path and the CSRF token in a header.
    async fn upload(&self, cookie: &str, csrf: Option<&str>, sha256: &str, bytes: &[u8]) -> Reply {
        let mut request = Request::post(format!("/console/media/upload/{sha256}"))
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, bytes.len());
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        self.harness
            .send(request.body(Body::from(bytes.to_vec())).expect("request"))
            .await
    }

    fn campaign_versions(&self) -> i64 {
        self.harness
            .query_i64("SELECT COUNT(*) FROM campaigns WHERE name = 'spring'")
    }
}

fn text(reply: &Reply) -> String {
    reply.text()
}

fn location(reply: &Reply) -> &str {
    reply
        .headers
        .get(header::LOCATION)
        .expect("a redirect")
        .to_str()
        .expect("text")
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_pixel(width, height, image::Rgb([10, 120, 200]));
    let mut bytes = Vec::new();
    picture
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("encode");
    bytes
}

#[tokio::test]
async fn a_campaign_typo_shows_at_its_line_and_keeps_the_version_a_fix_publishes_and_a_rollback_adds_one()
 {
    let console = Console::new().await;
    let cookie = console.sign_in(ADMIN).await;
    let csrf = console.csrf(&cookie).await;
    let reply = console
        .form(
            Some(&cookie),
            "/console/campaigns",
            &[
                ("csrf", &csrf),
                ("file_name", "spring.yaml"),
                ("source", &campaign("Hello")),
                ("action", "publish"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", text(&reply));
    assert_eq!(location(&reply), "/console/campaigns/spring");
    assert_eq!(console.campaign_versions(), 1);
    let list = text(&console.get(&cookie, "/console/campaigns").await);
    assert!(list.contains(r#"href="/console/campaigns/spring">spring</a>"#));

    // A typo on line 7 (`fil`).
    let broken = campaign("Oops").replace("fill:", "fil:");
    for action in ["validate", "publish"] {
        let reply = console
            .form(
                Some(&cookie),
                "/console/campaigns/spring/publish",
                &[("csrf", &csrf), ("source", &broken), ("action", action)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{action}");
        let page = text(&reply);
        let line = page
            .find(r#"<li id="L7" class="has-problem">"#)
            .unwrap_or_else(|| panic!("line 7 is marked: {page}"));
        let diagnostic = page[line..]
            .find("spring.yaml:7:1")
            .expect("its diagnostic, with its column");
        assert!(
            page[line..line + diagnostic].find(r#"id="L8""#).is_none(),
            "the diagnostic sits under line 7"
        );
        assert!(page.contains("nothing was published"));
        assert!(page.contains("fil:"), "the text typed is kept to fix");
    }
    assert_eq!(
        console.campaign_versions(),
        1,
        "the current version is kept"
    );

    let fixed = campaign("Spring sale");
    let reply = console
        .form(
            Some(&cookie),
            "/console/campaigns/spring/publish",
            &[("csrf", &csrf), ("source", &fixed), ("action", "validate")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(text(&reply).contains("No problem found"));
    assert_eq!(console.campaign_versions(), 1, "validating stores nothing");
    let reply = console
        .form(
            Some(&cookie),
            "/console/campaigns/spring/publish",
            &[("csrf", &csrf), ("source", &fixed), ("action", "publish")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(console.campaign_versions(), 2);
    let api = console
        .harness
        .call(Method::GET, "/v1/campaigns/spring", Some(ADMIN), None)
        .await
        .json();
    assert_eq!(api["version"], 2);
    assert_eq!(api["source"], fixed.as_str());
    let page = text(&console.get(&cookie, "/console/campaigns/spring").await);
    assert!(page.contains(r#"<span id="current-version">2</span>"#));

    let diff = text(
        &console
            .get(&cookie, "/console/campaigns/spring/diff?from=1&to=2")
            .await,
    );
    assert!(diff.contains(r#"<tr class="del">"#) && diff.contains("Hello"));
    assert!(diff.contains(r#"<tr class="add">"#) && diff.contains("Spring sale"));

    let reply = console
        .form(
            Some(&cookie),
            "/console/campaigns/spring/rollback",
            &[("csrf", &csrf), ("version", "1")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(console.campaign_versions(), 3, "a rollback adds a version");
    let third = console
        .harness
        .row("SELECT source FROM campaigns WHERE name = 'spring' AND version = 3");
    assert_eq!(third[0].as_deref(), Some(campaign("Hello").as_str()));
    let old = text(
        &console
            .get(&cookie, "/console/campaigns/spring/versions/2")
            .await,
    );
    assert!(old.contains("Spring sale"), "every version stays readable");
}

#[tokio::test]
async fn stores_imported_in_the_console_are_the_apis_and_a_bad_row_shows_its_line_and_why() {
    let console = Console::new().await;
    let cookie = console.sign_in(ADMIN).await;
    let csrf = console.csrf(&cookie).await;
    let source = "code,name,region,tags,timezone,locale,currency\r\n\
                  store-b,Store B,south,mall;late,Europe/Lisbon,pt-PT,EUR\r\n\
                  store-c,Store C,south,,Mars/Olympus,fr-FR,EUR\r\n";
    let reply = console
        .form(
            Some(&cookie),
            "/console/stores/import",
            &[
                ("csrf", &csrf),
                ("file_name", "stores.csv"),
                ("source", source),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let page = text(&reply);
    assert!(
        page.contains(r#"<strong id="applied">1</strong>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"<strong id="skipped">1</strong>"#),
        "{page}"
    );
    let report = console
        .harness
        .call(
            Method::POST,
            "/v1/stores",
            Some(ADMIN),
            Some(
                json!({"file_name": "stores.csv", "source": source.replace("store-b", "store-d")}),
            ),
        )
        .await
        .json();
    let reason = report["skipped"][0]["reason"].as_str().expect("a reason");
    let row = format!(
        "<tr><td class=\"number\">3</td><td>{}</td></tr>",
        maud::html! { (reason) }.into_string()
    );
    assert!(
        page.contains(&row),
        "line 3 and the API's reason: {row} in {page}"
    );

    let stores = console
        .harness
        .call(Method::GET, "/v1/stores", Some(ADMIN), None)
        .await
        .json();
    let store_b = stores["stores"]
        .as_array()
        .expect("stores")
        .iter()
        .find(|store| store["code"] == "store-b")
        .expect("store-b was imported");
    assert_eq!(store_b["timezone"], "Europe/Lisbon");
    let mut tags: Vec<&str> = store_b["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|tag| tag.as_str())
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, ["late", "mall"]);
    // The list shows it, with its region, tags and time zone.
    let list = text(&console.get(&cookie, "/console/stores").await);
    assert!(list.contains("<th scope=\"row\">store-b</th><td>Store B</td><td>south</td>"));
    assert!(list.contains("Europe/Lisbon"));
}

#[tokio::test]
async fn a_feed_registered_in_the_console_shows_its_state_and_last_error_and_a_feed_file_imports() {
    let console = Console::new().await;
    let cookie = console.sign_in(ADMIN).await;
    let csrf = console.csrf(&cookie).await;
    // With no allow-list, a loopback URL is refused at each fetch: the feed's alert.
    let reply = console
        .form(
            Some(&cookie),
            "/console/feeds",
            &[
                ("csrf", &csrf),
                ("name", "shop"),
                ("url", "http://127.0.0.1:9/feed.xml"),
                ("every", "15m"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", text(&reply));
    assert!(text(&reply).contains("Registered feed shop, fetched every 15 min."));
    let refused = console
        .form(
            Some(&cookie),
            "/console/feeds",
            &[
                ("csrf", &csrf),
                ("name", "bad"),
                ("url", "ftp://x.example/"),
                ("every", "15m"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&refused).contains("is not an http or https URL"));

    let fetched = console
        .form(
            Some(&cookie),
            "/console/feeds/shop/fetch",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(fetched.status, StatusCode::BAD_GATEWAY);
    assert!(text(&fetched).contains("a loopback address"));
    let page = text(&console.get(&cookie, "/console/feeds").await);
    let row = page
        .find("<th scope=\"row\">shop</th>")
        .expect("the feed's row");
    let row = &page[row..row + page[row..].find("</tr>").expect("row end")];
    assert!(
        row.contains(r#"<span class="problem">failing</span>"#),
        "{row}"
    );
    assert!(row.contains("--feed-allow"), "its last error: {row}");

    let removed = console
        .form(
            Some(&cookie),
            "/console/feeds/shop/remove",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let feeds = console
        .harness
        .call(Method::GET, "/v1/feeds", Some(ADMIN), None)
        .await
        .json();
    assert_eq!(feeds["feeds"], json!([]));

    let products = "id\ttitle\tlink\tprice\tavailability\n\
                    cola\tCola\thttps://shop.example/cola\t1.79 EUR\tin stock\n\
                    broken\tNo price\thttps://shop.example/broken\t\tin stock\n";
    let reply = console
        .form(
            Some(&cookie),
            "/console/feeds/import",
            &[
                ("csrf", &csrf),
                ("file_name", "products.tsv"),
                ("source", products),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", text(&reply));
    let page = text(&reply);
    assert!(
        page.contains(r#"<strong id="applied">1</strong>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"<strong id="skipped">1</strong>"#),
        "{page}"
    );
    assert!(page.contains(r#"<tr><td class="number">3</td>"#), "{page}");
    assert_eq!(console.harness.count("products"), 1);
}

#[tokio::test]
async fn a_staff_token_is_shown_once_and_never_again_and_works() {
    let console = Console::new().await;
    let cookie = console.sign_in(ADMIN).await;
    let csrf = console.csrf(&cookie).await;
    let reply = console
        .form(
            Some(&cookie),
            "/console/staff",
            &[
                ("csrf", &csrf),
                ("name", "bob"),
                ("stores", "store-a"),
                ("tags", ""),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", text(&reply));
    assert_eq!(
        reply.headers.get(header::CACHE_CONTROL).unwrap(),
        "no-store"
    );
    let page = text(&reply);
    let start = page
        .find(r#"id="new-token" readonly value=""#)
        .expect("the token is shown")
        + r#"id="new-token" readonly value=""#.len();
    let token = &page[start..start + page[start..].find('"').expect("end")];
    assert!(token.len() >= 32, "{token}");
    // It is bob's: it signs in, acting on store A only.
    let bobs = console.sign_in(token).await;
    let fleet = text(&console.get(&bobs, "/console/fleet").await);
    assert!(fleet.contains("bob · store-a"));

    let list = text(&console.get(&cookie, "/console/staff").await);
    assert!(list.contains("<th scope=\"row\">bob</th><td>store-a</td>"));
    assert!(!list.contains(token), "the list never shows a token");
    assert!(!list.contains(&console.staff_a));

    // Revoking it from the console ends bob's session.
    let reply = console
        .form(
            Some(&cookie),
            "/console/staff/bob/revoke",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let after = console.get(&bobs, "/console/fleet").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(location(&after).starts_with("/console/sign-in"));
}

#[tokio::test]
async fn confirming_a_pairing_code_in_the_console_makes_the_screen() {
    let console = Console::new().await;
    console
        .harness
        .call(
            Method::POST,
            "/v1/playlists",
            Some(&console.staff_a),
            Some(json!({"file_name": "lobby.yaml", "source": "version: 1\nname: lobby\nitems:\n  - text: { text: Hi, duration: 5s }\n"})),
        )
        .await;
    let code = console
        .harness
        .call(Method::POST, "/v1/pairings", None, None)
        .await
        .json()["code"]
        .as_str()
        .expect("code")
        .to_owned();
    // Staff of store A pair it, into their store.
    let cookie = console.sign_in(&console.staff_a).await;
    let csrf = console.csrf(&cookie).await;
    let pair = |store: &'static str| {
        let (csrf, code, cookie) = (csrf.clone(), code.clone(), cookie.clone());
        let console = &console;
        async move {
            console
                .form(
                    Some(&cookie),
                    "/console/pairing",
                    &[
                        ("csrf", csrf.as_str()),
                        ("code", code.as_str()),
                        ("name", "entrance"),
                        ("store", store),
                        ("playlist", "lobby"),
                        ("tags", ""),
                    ],
                )
                .await
        }
    };
    let refused = pair("store-b").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(console.harness.count("screens"), 0);
    let reply = pair("store-a").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", text(&reply));
    assert!(text(&reply).contains(r#"<a href="/console/screens/entrance">entrance</a>"#));
    let screens = console
        .harness
        .call(Method::GET, "/v1/screens", Some(ADMIN), None)
        .await
        .json();
    let entrance = screens["screens"]
        .as_array()
        .expect("screens")
        .iter()
        .find(|screen| screen["name"] == "entrance")
        .expect("the screen exists");
    assert_eq!(entrance["store"], "store-a");
    assert_eq!(entrance["playlist"], "lobby");
}

#[tokio::test]
async fn a_media_upload_is_checked_against_its_sha256_and_a_picture_gets_a_thumbnail() {
    let console = Console::new().await;
    let cookie = console.sign_in(ADMIN).await;
    let csrf = console.csrf(&cookie).await;
    let picture = png(640, 320);
    let right = hex::encode(Sha256::digest(&picture));
    let wrong = hex::encode(Sha256::digest(b"something else"));

    let refused = console.upload(&cookie, Some(&csrf), &wrong, &picture).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&refused).contains(&format!("the uploaded bytes have sha256 {right}")));
    assert_eq!(console.harness.count("media"), 0, "nothing was stored");

    let stored = console.upload(&cookie, Some(&csrf), &right, &picture).await;
    assert_eq!(stored.status, StatusCode::SEE_OTHER, "{}", text(&stored));
    assert_eq!(
        location(&stored),
        format!("/console/media?uploaded={right}")
    );
    // Stored as `PUT /v1/media` stores it: the API serves the same bytes.
    let served = console
        .harness
        .call(
            Method::GET,
            &format!("/v1/media/{right}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body.as_ref(), picture.as_slice());

    let library = text(&console.get(&cookie, "/console/media").await);
    let thumbnail_uri = format!("/console/media/{right}/thumbnail");
    assert!(
        library.contains(&format!(r#"id="media-{right}""#)),
        "{library}"
    );
    assert!(
        library.contains(&format!(r#"src="{thumbnail_uri}""#)),
        "{library}"
    );

    let thumbnail = console.get(&cookie, &thumbnail_uri).await;
    assert_eq!(thumbnail.status, StatusCode::OK);
    assert_eq!(
        thumbnail.headers.get(header::CONTENT_TYPE).unwrap(),
        "image/png"
    );
    let small = image::load_from_memory(&thumbnail.body).expect("a picture");
    assert_eq!((small.width(), small.height()), (160, 80));
    let etag = thumbnail
        .headers
        .get(header::ETAG)
        .expect("an ETag")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(etag.contains(&right));
    let again = console
        .harness
        .send(
            Request::get(&thumbnail_uri)
                .header(header::COOKIE, &cookie)
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    // A playlist that names the file shows under it, with the file name it gives.
    let pushed = console
        .harness
        .call(
            Method::POST,
            "/v1/playlists",
            Some(ADMIN),
            Some(json!({
                "file_name": "lobby.yaml",
                "source": "version: 1\nname: lobby\nitems:\n  - image: { file: banner.png, duration: 5s }\n",
                "media": {"banner.png": right},
            })),
        )
        .await;
    assert!(pushed.status.is_success(), "{}", text(&pushed));
    let library = text(&console.get(&cookie, "/console/media").await);
    assert!(
        library.contains(
            r#"playlist <a href="/console/playlists/lobby/versions/1">lobby v1</a> as <code>banner.png</code>"#
        ),
        "{library}"
    );
    // Not a picture: its type, and no thumbnail.
    let words = b"plain words".to_vec();
    let digest = hex::encode(Sha256::digest(&words));
    let stored = console.upload(&cookie, Some(&csrf), &digest, &words).await;
    assert_eq!(stored.status, StatusCode::SEE_OTHER);
    let library = text(&console.get(&cookie, "/console/media").await);
    assert!(!library.contains(&format!("/console/media/{digest}/thumbnail")));
    let none = console
        .get(&cookie, &format!("/console/media/{digest}/thumbnail"))
        .await;
    assert_eq!(none.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_campaign_names_a_file_of_the_media_library_in_its_media_field() {
    let console = Console::new().await;
    let cookie = console.sign_in(ADMIN).await;
    let csrf = console.csrf(&cookie).await;
    let picture = png(32, 32);
    let digest = hex::encode(Sha256::digest(&picture));
    let source = "version: 1\nname: spring\ntargets:\n  all: true\nfrom: 2020-01-01\nloop_slots: 1\nfill:\n  - image: { file: banner.png, duration: 5s }\n";
    let publish = |media: String| {
        let (cookie, csrf) = (cookie.clone(), csrf.clone());
        let console = &console;
        async move {
            console
                .form(
                    Some(&cookie),
                    "/console/campaigns",
                    &[
                        ("csrf", csrf.as_str()),
                        ("source", source),
                        ("media", media.as_str()),
                        ("action", "publish"),
                    ],
                )
                .await
        }
    };
    // Not uploaded yet: the API's refusal, nothing stored.
    let refused = publish(format!("banner.png {digest}")).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text(&refused).contains("names media the scheduler does not have: banner.png"),
        "{}",
        text(&refused)
    );
    let unreadable = publish("banner.png not-a-digest".to_owned()).await;
    assert_eq!(unreadable.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&unreadable).contains("media files, line 1: `banner.png not-a-digest`"));
    assert_eq!(console.campaign_versions(), 0);

    let stored = console
        .upload(&cookie, Some(&csrf), &digest, &picture)
        .await;
    assert_eq!(stored.status, StatusCode::SEE_OTHER);
    let reply = publish(format!("banner.png {digest}\n")).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", text(&reply));
    assert_eq!(console.campaign_versions(), 1);
    // The campaign's page gives the map back to edit, and the library names the campaign.
    let page = text(&console.get(&cookie, "/console/campaigns/spring").await);
    assert!(page.contains(&format!("banner.png {digest}")), "{page}");
    let library = text(&console.get(&cookie, "/console/media").await);
    assert!(library.contains(
        r#"campaign <a href="/console/campaigns/spring/versions/1">spring v1</a> as <code>banner.png</code>"#
    ));
}

#[tokio::test]
async fn every_new_form_refuses_a_missing_or_forged_csrf_token() {
    let console = Console::new().await;
    let cookie = console.sign_in(ADMIN).await;
    let forms: &[(&str, &[(&str, &str)])] = &[
        (
            "/console/campaigns",
            &[("source", "version: 1\n"), ("action", "publish")],
        ),
        (
            "/console/campaigns/spring/publish",
            &[("source", "version: 1\n"), ("action", "publish")],
        ),
        ("/console/campaigns/spring/rollback", &[("version", "1")]),
        (
            "/console/stores/import",
            &[("file_name", "stores.csv"), ("source", STORES)],
        ),
        (
            "/console/segments/import",
            &[("file_name", "segments.csv"), ("source", "x")],
        ),
        (
            "/console/feeds",
            &[
                ("name", "f"),
                ("url", "https://x.example/"),
                ("every", "1h"),
            ],
        ),
        (
            "/console/feeds/import",
            &[("file_name", "feed.tsv"), ("source", "x")],
        ),
        (
            "/console/inventory/import",
            &[("file_name", "inventory.tsv"), ("source", "x")],
        ),
        ("/console/feeds/f/fetch", &[]),
        ("/console/feeds/f/remove", &[]),
        (
            "/console/staff",
            &[("name", "mallory"), ("stores", "store-a")],
        ),
        ("/console/staff/alice/revoke", &[]),
        ("/console/pairing", &[("code", "ABCD-EFGH")]),
        ("/console/media/upload", &[]),
    ];
    for (uri, fields) in forms {
        for csrf in [None, Some("forged")] {
            let mut all = fields.to_vec();
            if let Some(csrf) = csrf {
                all.push(("csrf", csrf));
            }
            let reply = console.form(Some(&cookie), uri, &all).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{uri} with {csrf:?}");
            assert!(text(&reply).contains("security token (CSRF)"), "{uri}");
        }
    }
    let picture = png(4, 4);
    let digest = hex::encode(Sha256::digest(&picture));
    for csrf in [None, Some("forged")] {
        let reply = console.upload(&cookie, csrf, &digest, &picture).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "upload with {csrf:?}");
    }
    assert_eq!(console.harness.count("media"), 0);
    assert_eq!(console.harness.count("campaigns"), 0);
    assert_eq!(
        console
            .harness
            .query_i64("SELECT COUNT(*) FROM staff WHERE revoked_at IS NULL"),
        1,
        "alice kept her token and no one was added"
    );
    assert_eq!(console.harness.count("stores"), 1);
}

#[tokio::test]
async fn staff_get_the_apis_403_on_hqs_pages_and_see_only_their_links() {
    let console = Console::new().await;
    let cookie = console.sign_in(&console.staff_a).await;
    let csrf = console.csrf(&cookie).await;
    for uri in [
        "/console/campaigns",
        "/console/campaigns/spring",
        "/console/campaigns/spring/versions/1",
        "/console/campaigns/spring/diff?from=1&to=2",
        "/console/stores",
        "/console/feeds",
        "/console/staff",
    ] {
        let reply = console.get(&cookie, uri).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{uri}");
        let page = text(&reply);
        assert!(
            page.contains(
                "this needs the admin token; staff token `alice` acts only on store store-a"
            ),
            "{uri}: {page}"
        );
    }
    let mine = campaign("Mine");
    for (uri, fields) in [
        (
            "/console/stores/import",
            vec![("file_name", "stores.csv"), ("source", STORES)],
        ),
        (
            "/console/staff",
            vec![("name", "eve"), ("stores", "store-a")],
        ),
        (
            "/console/campaigns",
            vec![("source", mine.as_str()), ("action", "publish")],
        ),
    ] {
        let mut fields = fields;
        fields.push(("csrf", &csrf));
        let reply = console.form(Some(&cookie), uri, &fields).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{uri}");
    }
    assert_eq!(console.harness.count("campaigns"), 0);
    assert_eq!(console.harness.count("staff"), 1);
    // Their pages work, and the navigation offers only what they may use.
    for uri in ["/console/media", "/console/pairing"] {
        assert_eq!(
            console.get(&cookie, uri).await.status,
            StatusCode::OK,
            "{uri}"
        );
    }
    // The media library shows them the files their stores' playlists name, and only those uses.
    let picture = png(8, 8);
    let digest = hex::encode(Sha256::digest(&picture));
    let put = console
        .harness
        .send(
            Request::put(format!("/v1/media/{digest}"))
                .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
                .body(Body::from(picture))
                .unwrap(),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    let push = |token: String, name: &'static str| {
        let digest = digest.clone();
        let console = &console;
        async move {
            let reply = console
                .harness
                .call(
                    Method::POST,
                    "/v1/playlists",
                    Some(&token),
                    Some(json!({
                        "file_name": format!("{name}.yaml"),
                        "source": format!("version: 1\nname: {name}\nitems:\n  - image: {{ file: {name}.png, duration: 5s }}\n"),
                        "media": {format!("{name}.png"): digest},
                    })),
                )
                .await;
            assert!(reply.status.is_success(), "{}", text(&reply));
        }
    };
    push(ADMIN.to_owned(), "hq-lobby").await;
    let library = text(&console.get(&cookie, "/console/media").await);
    assert!(
        !library.contains(&digest),
        "HQ's file is not theirs: {library}"
    );
    push(console.staff_a.clone(), "window").await;
    let library = text(&console.get(&cookie, "/console/media").await);
    assert!(
        library.contains(&format!(r#"id="media-{digest}""#)),
        "{library}"
    );
    assert!(library.contains("as <code>window.png</code>"));
    assert!(!library.contains("hq-lobby"), "HQ's use of it stays HQ's");

    let fleet = text(&console.get(&cookie, "/console/fleet").await);
    for link in ["/console/media", "/console/pairing"] {
        assert!(fleet.contains(&format!(r#"href="{link}""#)), "{link}");
    }
    for link in [
        "/console/campaigns",
        "/console/stores",
        "/console/staff",
        "/console/feeds",
    ] {
        assert!(!fleet.contains(&format!(r#"href="{link}""#)), "{link}");
    }
}
