//! The web console over HTTP, on the real router and database: sign-in sessions and their cookie,
//! CSRF refusals, staff limited to their stores, the fleet's pages, filters and "behind" state,
//! its live stream, and publishing, refusing and rolling back playlists. The browser end to end
//! (Chromium) is in the workspace's `tests/console.rs`.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{ADMIN, Harness, Reply};
use futures_util::StreamExt;
use serde_json::json;
use tower::ServiceExt;

const STORES: &str = "code,name,region,tags,timezone,locale,currency
store-a,Store A,north,,Europe/Paris,fr-FR,EUR
store-b,Store B,south,,Europe/Paris,fr-FR,EUR
";

fn playlist(name: &str, text: &str) -> String {
    format!("version: 1\nname: {name}\nitems:\n  - text: {{ text: {text}, duration: 5s }}\n")
}

struct Console {
    harness: Harness,
    staff_a: String,
    /// Device tokens by screen.
    screens: Vec<(String, String)>,
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
        // Store A's playlist, pushed by its staff; HQ's lobby.
        ok(harness
            .call(
                Method::POST,
                "/v1/playlists",
                Some(&staff_a),
                Some(json!({"file_name": "a.yaml", "source": playlist("pa", "Hello")})),
            )
            .await);
        ok(harness
            .call(
                Method::POST,
                "/v1/playlists",
                Some(ADMIN),
                Some(json!({"file_name": "lobby.yaml", "source": playlist("lobby", "Welcome")})),
            )
            .await);
        let mut screens = Vec::new();
        for (name, store, playlist) in [("a1", "store-a", "pa"), ("b1", "store-b", "lobby")] {
            let created = ok(harness
                .call(
                    Method::POST,
                    "/v1/screens",
                    Some(ADMIN),
                    Some(json!({"name": name, "playlist": playlist, "store": store})),
                )
                .await);
            screens.push((
                name.to_owned(),
                created["token"].as_str().expect("token").to_owned(),
            ));
        }
        Self {
            harness,
            staff_a,
            screens,
        }
    }

    fn device_token(&self, screen: &str) -> &str {
        &self
            .screens
            .iter()
            .find(|(name, _)| name == screen)
            .expect("screen")
            .1
    }

    async fn sign_in(&self, token: &str) -> String {
        self.harness.console_sign_in(token).await
    }

    async fn get(&self, cookie: Option<&str>, uri: &str) -> Reply {
        self.harness.console_get(cookie, uri).await
    }

    async fn form(&self, cookie: Option<&str>, uri: &str, fields: &[(&str, &str)]) -> Reply {
        self.harness.console_form(cookie, uri, fields).await
    }

    async fn csrf(&self, cookie: &str) -> String {
        self.harness.console_csrf(cookie).await
    }

    async fn heartbeat(&self, screen: &str, body: serde_json::Value) {
        let reply = self
            .harness
            .call(
                Method::POST,
                "/v1/heartbeat",
                Some(self.device_token(screen)),
                Some(body),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
    }

    fn versions(&self, name: &str) -> i64 {
        self.harness.query_i64(&format!(
            "SELECT COUNT(*) FROM playlists WHERE name = '{name}'"
        ))
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

#[tokio::test]
async fn signing_in_gives_a_strict_http_only_session_that_pages_need() {
    let console = Console::new().await;
    // Not signed in: to the sign-in page, which comes back to the page asked for.
    let reply = console.get(None, "/console/screens/a1?at=now").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(
        location(&reply),
        "/console/sign-in?next=%2Fconsole%2Fscreens%2Fa1%3Fat%3Dnow"
    );
    // Wrong tokens are refused with what to do.
    let unknown = console
        .form(None, "/console/sign-in", &[("token", "nobody-has-this")])
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(
        text(&unknown).contains("not known here"),
        "{}",
        text(&unknown)
    );
    let device = console
        .form(
            None,
            "/console/sign-in",
            &[("token", console.device_token("a1"))],
        )
        .await;
    assert_eq!(device.status, StatusCode::UNAUTHORIZED);
    assert!(text(&device).contains("a screen cannot sign in"));
    // A sign-in posted from another site is refused.
    let request = Request::post("/console/sign-in")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "hq.example")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::from(format!("token={ADMIN}")))
        .expect("request");
    assert_eq!(
        console.harness.send(request).await.status,
        StatusCode::FORBIDDEN
    );

    let reply = console
        .form(
            None,
            "/console/sign-in",
            &[("token", ADMIN), ("next", "/console/screens/a1")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&reply), "/console/screens/a1");
    let set_cookie = reply.headers[header::SET_COOKIE].to_str().expect("text");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    // Plain HTTP on loopback: a `Secure` cookie would never come back.
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().expect("cookie");
    let value = cookie.split_once('=').expect("name=value").1;
    // Only the cookie's hash is stored.
    let stored = console
        .harness
        .rows("SELECT id_sha256 FROM console_sessions");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0][0].as_deref(), Some(value));
    // A redirect after sign-in never leaves the console.
    let reply = console
        .form(
            None,
            "/console/sign-in",
            &[("token", ADMIN), ("next", "https://evil.example/")],
        )
        .await;
    assert_eq!(location(&reply), "/console/fleet");

    let fleet = console.get(Some(cookie), "/console/fleet").await;
    assert_eq!(fleet.status, StatusCode::OK);
    let page = text(&fleet);
    assert!(page.contains(r#"data-screen="a1""#) && page.contains(r#"data-screen="b1""#));
}

#[tokio::test]
async fn a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let console = Console::new().await;
    let cookie = console.sign_in(ADMIN).await;
    let csrf = console.csrf(&cookie).await;
    let before = console.versions("lobby");
    let edit = playlist("lobby", "Changed");
    for forged in [None, Some("forged-token")] {
        let mut fields = vec![("source", edit.as_str()), ("action", "publish")];
        if let Some(forged) = forged {
            fields.push(("csrf", forged));
        }
        let reply = console
            .form(Some(&cookie), "/console/playlists/lobby/publish", &fields)
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{forged:?}");
        let reply = console
            .form(Some(&cookie), "/console/screens/a1/command", &{
                let mut fields = vec![("command", "resync")];
                if let Some(forged) = forged {
                    fields.push(("csrf", forged));
                }
                fields
            })
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(console.versions("lobby"), before);
    // Sign-out needs it too; with it, the session ends.
    let reply = console.form(Some(&cookie), "/console/sign-out", &[]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = console
        .form(Some(&cookie), "/console/sign-out", &[("csrf", &csrf)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let reply = console.get(Some(&cookie), "/console/fleet").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "signed out");
}

#[tokio::test]
async fn staff_see_and_touch_only_their_stores_screens_and_playlists() {
    let console = Console::new().await;
    let cookie = console.sign_in(&console.staff_a).await;
    let csrf = console.csrf(&cookie).await;
    let fleet = text(&console.get(Some(&cookie), "/console/fleet").await);
    assert!(fleet.contains(r#"data-screen="a1""#), "{fleet}");
    // Looked for as markup: the page's random CSRF token may hold the letters `b1`.
    assert!(
        [">b1<", "\"b1\"", "/b1"]
            .iter()
            .all(|named| !fleet.contains(named)),
        "another store's screen is not even named"
    );
    // Even asking for it by store or name finds nothing.
    let filtered = text(
        &console
            .get(Some(&cookie), "/console/fleet?store=store-b")
            .await,
    );
    assert!(filtered.contains("0 screens") && !filtered.contains("data-screen="));
    let reply = console.get(Some(&cookie), "/console/screens/b1").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(!text(&reply).contains("lobby"), "no data of b1 leaks");
    let reply = console
        .form(
            Some(&cookie),
            "/console/screens/b1/command",
            &[("csrf", &csrf), ("command", "resync")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        console
            .get(Some(&cookie), "/console/screens/a1")
            .await
            .status,
        StatusCode::OK
    );
    // HQ's playlist is not theirs to see or change; their own is.
    let list = text(&console.get(Some(&cookie), "/console/playlists").await);
    assert!(list.contains(">pa<") && !list.contains(">lobby<"), "{list}");
    assert_eq!(
        console
            .get(Some(&cookie), "/console/playlists/lobby")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let lobby = console.versions("lobby");
    let reply = console
        .form(
            Some(&cookie),
            "/console/playlists/lobby/rollback",
            &[("csrf", &csrf), ("version", "1")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(console.versions("lobby"), lobby);
    // The staff token revoked: its console session ends with it.
    let reply = console
        .harness
        .call(Method::POST, "/v1/staff/alice/revoke", Some(ADMIN), None)
        .await;
    assert!(reply.status.is_success());
    let reply = console.get(Some(&cookie), "/console/fleet").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(location(&reply).starts_with("/console/sign-in"));
}

#[tokio::test]
async fn an_expired_session_goes_back_to_sign_in_and_returns_to_the_page() {
    let console = Console::new().await;
    let cookie = console.sign_in(ADMIN).await;
    assert_eq!(
        console
            .get(Some(&cookie), "/console/playlists")
            .await
            .status,
        StatusCode::OK
    );
    console
        .harness
        .execute("UPDATE console_sessions SET expires_at = '2001-01-01T00:00:00.000000000Z'");
    let reply = console.get(Some(&cookie), "/console/playlists/lobby").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(
        location(&reply),
        "/console/sign-in?next=%2Fconsole%2Fplaylists%2Flobby"
    );
    assert_eq!(console.harness.count("console_sessions"), 0, "deleted");
}

#[tokio::test]
async fn a_broken_upload_shows_each_problem_at_its_line_and_a_fix_and_a_rollback_are_new_versions()
{
    let console = Console::new().await;
    let cookie = console.sign_in(ADMIN).await;
    let csrf = console.csrf(&cookie).await;
    // A typo on line 3 (`itmes`).
    let broken = "version: 1\nname: lobby\nitmes:\n  - text: { text: Oops, duration: 5s }\n";
    for action in ["validate", "publish"] {
        let reply = console
            .form(
                Some(&cookie),
                "/console/playlists/lobby/publish",
                &[("csrf", &csrf), ("source", broken), ("action", action)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{action}");
        let page = text(&reply);
        let line = page
            .find(r#"<li id="L3" class="has-problem">"#)
            .unwrap_or_else(|| panic!("line 3 is marked: {page}"));
        let diagnostic = page[line..].find("lobby.yaml:3:").expect("its diagnostic");
        assert!(
            page[line..line + diagnostic].find(r#"id="L4""#).is_none(),
            "the diagnostic sits under line 3"
        );
        assert!(page.contains("nothing was published"));
        // The text typed is kept in the editor, to fix.
        assert!(page.contains("itmes:"));
    }
    assert_eq!(console.versions("lobby"), 1, "the current version is kept");

    // Validate a good one: checked, not stored.
    let fixed = playlist("lobby", "Spring sale");
    let reply = console
        .form(
            Some(&cookie),
            "/console/playlists/lobby/publish",
            &[("csrf", &csrf), ("source", &fixed), ("action", "validate")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(text(&reply).contains("No problem found"));
    assert_eq!(console.versions("lobby"), 1);
    let reply = console
        .form(
            Some(&cookie),
            "/console/playlists/lobby/publish",
            &[("csrf", &csrf), ("source", &fixed), ("action", "publish")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(console.versions("lobby"), 2);
    let page = text(&console.get(Some(&cookie), "/console/playlists/lobby").await);
    assert!(
        page.contains(r#"<span id="current-version">2</span>"#),
        "{page}"
    );

    let diff = text(
        &console
            .get(Some(&cookie), "/console/playlists/lobby/diff?from=1&to=2")
            .await,
    );
    assert!(diff.contains(r#"<tr class="del">"#) && diff.contains("Welcome"));
    assert!(diff.contains(r#"<tr class="add">"#) && diff.contains("Spring sale"));

    let reply = console
        .form(
            Some(&cookie),
            "/console/playlists/lobby/rollback",
            &[("csrf", &csrf), ("version", "1")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(console.versions("lobby"), 3, "a rollback adds a version");
    let third = console
        .harness
        .row("SELECT source FROM playlists WHERE name = 'lobby' AND version = 3");
    assert_eq!(
        third[0].as_deref(),
        Some(playlist("lobby", "Welcome").as_str())
    );
}

#[tokio::test]
async fn the_fleet_pages_filters_and_shows_a_push_that_has_not_arrived() {
    let console = Console::new().await;
    for index in 0..55 {
        let reply = console
            .harness
            .call(
                Method::POST,
                "/v1/screens",
                Some(ADMIN),
                Some(json!({"name": format!("z{index:02}"), "playlist": "lobby",
                            "store": "store-b", "tags": ["aisle"]})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let cookie = console.sign_in(ADMIN).await;
    let first = text(&console.get(Some(&cookie), "/console/fleet").await);
    assert!(first.contains("57 screens · page 1 of 2"), "{first}");
    assert_eq!(first.matches("data-screen=").count(), 50);
    let second = text(&console.get(Some(&cookie), "/console/fleet?page=2").await);
    assert_eq!(second.matches("data-screen=").count(), 7);
    let tagged = text(
        &console
            .get(Some(&cookie), "/console/fleet?tag=aisle&q=z0")
            .await,
    );
    assert!(tagged.contains("10 screens"), "{tagged}");
    let region = text(
        &console
            .get(Some(&cookie), "/console/fleet?region=north")
            .await,
    );
    assert!(region.contains("1 screen ") && region.contains(r#"data-screen="a1""#));

    // a1 reads its manifest, and reports it is showing it: up to date, online.
    let manifest = console
        .harness
        .call(
            Method::GET,
            "/v1/manifest",
            Some(console.device_token("a1")),
            None,
        )
        .await
        .json();
    let version = manifest["version"].as_u64().expect("version");
    console
        .heartbeat(
            "a1",
            json!({"uptime_s": 5, "unsent_impressions": 3, "playlist": "pa",
                   "playlist_version": 1, "manifest_version": version,
                   "showing": [{"zone": "main", "item": "hello"}]}),
        )
        .await;
    let online = text(
        &console
            .get(Some(&cookie), "/console/fleet?state=online")
            .await,
    );
    assert!(
        online.contains("1 screen ") && online.contains("up to date"),
        "{online}"
    );
    assert!(online.contains("hello"), "what it shows");
    let silent = text(
        &console
            .get(Some(&cookie), "/console/fleet?state=silent")
            .await,
    );
    assert!(silent.contains("56 screens"), "{silent}");

    // Store A's staff publish a new version: HQ builds a newer manifest, the screen still
    // reports the old one: behind.
    let reply = console
        .harness
        .call(
            Method::POST,
            "/v1/playlists",
            Some(&console.staff_a),
            Some(json!({"file_name": "a.yaml", "source": playlist("pa", "New")})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let newer = console
        .harness
        .call(
            Method::GET,
            "/v1/manifest",
            Some(console.device_token("a1")),
            None,
        )
        .await
        .json()["version"]
        .as_u64()
        .expect("version");
    assert!(newer > version);
    let behind = text(
        &console
            .get(Some(&cookie), "/console/fleet?state=behind")
            .await,
    );
    assert!(
        behind.contains("1 screen ") && behind.contains("behind:"),
        "{behind}"
    );
    assert!(behind.contains("(newest v2)"), "{behind}");
    console
        .heartbeat(
            "a1",
            json!({"uptime_s": 9, "unsent_impressions": 0, "playlist": "pa",
                   "playlist_version": 2, "manifest_version": newer}),
        )
        .await;
    let behind = text(
        &console
            .get(Some(&cookie), "/console/fleet?state=behind")
            .await,
    );
    assert!(behind.contains("0 screens"), "{behind}");
    let bad = console
        .get(Some(&cookie), "/console/fleet?state=asleep")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(text(&bad).contains("online, offline, silent, behind, alerting"));
}

#[tokio::test]
async fn the_live_fleet_names_the_screens_heard_from_and_only_the_callers() {
    let console = Console::new().await;
    let cookie = console.sign_in(&console.staff_a).await;
    let request = Request::get("/console/fleet/live")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .expect("request");
    let response = console
        .harness
        .router()
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut stream = response.into_body().into_data_stream();
    // Heard after the stream opened: b1 (not this person's store), then a1.
    tokio::time::sleep(Duration::from_millis(50)).await;
    console
        .heartbeat("b1", json!({"uptime_s": 1, "unsent_impressions": 0}))
        .await;
    console
        .heartbeat("a1", json!({"uptime_s": 1, "unsent_impressions": 0}))
        .await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains("\"a1\"") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no event named a1 in time; got {seen:?}"))
            .expect("the stream goes on")
            .expect("a chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: heard"), "{seen}");
    assert!(
        !seen.contains("b1"),
        "another store's screen is not named: {seen}"
    );
}

#[tokio::test]
async fn behind_an_https_address_the_session_cookie_is_secure() {
    let console = Console::new().await;
    console
        .harness
        .state
        .set_public_url("https://hq.shop.example");
    let reply = console
        .form(None, "/console/sign-in", &[("token", ADMIN)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let set_cookie = reply.headers[header::SET_COOKIE].to_str().expect("text");
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
}

#[tokio::test]
async fn signing_out_everywhere_is_hqs_and_ends_every_session() {
    let console = Console::new().await;
    let admin = console.sign_in(ADMIN).await;
    let staff = console.sign_in(&console.staff_a).await;
    let staff_csrf = console.csrf(&staff).await;
    // Staff may not, and their attempt ends nothing.
    let reply = console
        .form(
            Some(&staff),
            "/console/sessions/end-all",
            &[("csrf", &staff_csrf)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(console.harness.count("console_sessions"), 2);
    let admin_csrf = console.csrf(&admin).await;
    assert!(
        text(&console.get(Some(&admin), "/console/fleet").await).contains("Sign out everywhere")
    );
    let reply = console
        .form(
            Some(&admin),
            "/console/sessions/end-all",
            &[("csrf", &admin_csrf)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    for cookie in [&admin, &staff] {
        let reply = console.get(Some(cookie), "/console/fleet").await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "signed out");
    }
    assert_eq!(console.harness.count("console_sessions"), 0);
}
