//! The HQ web console, served by the scheduler itself at `/`: the fleet, each screen, the
//! playlists, the proof-of-play reports, and HQ's campaigns, media, stores, feeds, staff and
//! pairing codes, as
//! server-rendered pages (maud) with a little hand-written JavaScript for the live parts. Every
//! asset is compiled into the binary.
//!
//! **Sign-in:** a person signs in with a token (the admin token, or a staff token). The console
//! keeps a session: a random id in an HttpOnly, SameSite=Strict cookie (`Secure` when browsers
//! reach the scheduler over HTTPS), stored only as its sha256
//! (in the database, so any replica serves it) with the sha256 of the token it was opened with
//! and a CSRF token. Every request resolves the session's token again, through the same caches
//! as the API: a revoked staff token ends its sessions at once. Sessions end after
//! [`SESSION_LIFETIME`], at sign-out, or all at once from the admin's "sign out everywhere".
//!
//! **One authorisation path:** a session resolves to the same [`Manager`] an API request with
//! that token would, and the pages call the API's own handlers with it (pushing a playlist,
//! sending a command, explaining a play), so staff see and touch exactly what the API lets them.
//!
//! **CSRF:** every form carries the session's CSRF token, and every POST without the right one is
//! refused with 403, before anything else is looked at.

mod campaigns;
mod content;
mod fleet;
mod hq;
mod media;
mod reports;
mod screen;
mod yaml;

use axum::Router;
use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::auth::{Manager, TokenOwner};
use crate::error::ApiError;
use crate::storage::console::ConsoleSession;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "vitrine_session";

/// How long a session lasts from sign-in: a working day.
pub const SESSION_LIFETIME: SignedDuration = SignedDuration::from_hours(12);

const STYLE: &str = include_str!("assets/console.css");
const SCRIPT: &str = include_str!("assets/console.js");

/// The console's routes: pages, forms and the live fleet stream. They are not part of the JSON
/// API (`crate::routes`) and answer HTML.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(hq::routes())
        .route("/", get(home))
        .route("/console", get(home))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/sessions/end-all", post(end_all_sessions))
        .route("/console/assets/console.css", get(style))
        .route("/console/assets/console.js", get(script))
        .route("/console/fleet", get(fleet::page))
        .route("/console/fleet/rows", get(fleet::rows))
        .route("/console/fleet/live", get(fleet::live))
        .route("/console/reports", get(reports::page))
        .route("/console/reports/chain", get(reports::chain))
        .route("/console/reports/export", get(reports::export))
        .route("/console/screens/{name}", get(screen::page))
        .route("/console/screens/{name}/command", post(screen::command))
        .route(
            "/console/screens/{name}/screenshot",
            get(screen::screenshot),
        )
        .route(
            "/console/playlists",
            get(content::list).post(content::create),
        )
        .route("/console/playlists/{name}", get(content::playlist))
        .route(
            "/console/playlists/{name}/versions/{version}",
            get(content::version),
        )
        .route("/console/playlists/{name}/diff", get(content::diff))
        .route("/console/playlists/{name}/publish", post(content::publish))
        .route(
            "/console/playlists/{name}/rollback",
            post(content::rollback),
        )
}

/// A signed-in person: who they act as, and their session.
#[derive(Clone, Debug)]
pub struct ConsoleUser {
    /// What the API would let their token do.
    pub manager: Manager,
    /// The sha256 of the session's cookie.
    session_sha256: String,
    csrf: String,
}

impl ConsoleUser {
    /// Who is signed in, in words, for the page header.
    fn who(&self) -> String {
        match &self.manager {
            Manager::Admin => "HQ (admin)".to_owned(),
            Manager::Staff(staff) => format!("{} · {}", staff.name, staff.stores.join(", ")),
        }
    }

    /// The hidden form field that carries the CSRF token.
    fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }

    /// The refusal of a form or POST that does not carry this session's CSRF token, if it does
    /// not.
    fn forged(&self, sent: Option<&str>, headers: &HeaderMap) -> Option<Response> {
        let sent = sent.or_else(|| {
            headers
                .get("x-csrf-token")
                .and_then(|value| value.to_str().ok())
        });
        match sent {
            Some(sent) if bool::from(sent.as_bytes().ct_eq(self.csrf.as_bytes())) => None,
            _ => Some(problem(
                Some(self),
                StatusCode::FORBIDDEN,
                "This form cannot be accepted",
                "It did not carry this session's security token (CSRF), so it may not come from \
                 this console. Go back, reload the page and send it again.",
            )),
        }
    }
}

/// Where an unsigned visitor is sent: the sign-in page, which returns them to `next`.
fn to_sign_in(next: &str) -> Response {
    let next = url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>();
    Redirect::to(&format!("/console/sign-in?next={next}")).into_response()
}

/// The path and query a request asked for, to come back to after signing in.
fn requested_page(parts: &Parts) -> String {
    if parts.method == Method::GET {
        parts
            .uri
            .path_and_query()
            .map_or_else(|| "/console/fleet".to_owned(), ToString::to_string)
    } else {
        // A form sent with an expired session: back to the page the form was on.
        parts
            .headers
            .get(header::REFERER)
            .and_then(|referer| referer.to_str().ok())
            .and_then(|referer| url::Url::parse(referer).ok())
            .map(|url| match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_owned(),
            })
            .filter(|path| is_local_page(path))
            .unwrap_or_else(|| "/console/fleet".to_owned())
    }
}

/// Whether `next` is a page of this console, so sign-in never redirects elsewhere.
fn is_local_page(next: &str) -> bool {
    next.starts_with("/console") && !next.starts_with("//") && !next.contains('\\')
}

/// The session cookie's value, if the request has one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value)
        })
}

/// What a session's token resolves to now, as the API would resolve it; `None` once it is revoked
/// or unknown.
async fn manager_of(state: &AppState, token_sha256: &str) -> Result<Option<Manager>, ApiError> {
    if hex::decode(token_sha256).is_ok_and(|digest| {
        bool::from(
            digest
                .as_slice()
                .ct_eq(state.admin_token_sha256().as_slice()),
        )
    }) {
        return Ok(Some(Manager::Admin));
    }
    Ok(
        match crate::auth::resolve_token(state, token_sha256).await? {
            TokenOwner::Staff(staff) => Some(Manager::Staff(staff)),
            TokenOwner::Screen(_) | TokenOwner::Revoked | TokenOwner::Unknown => None,
        },
    )
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(cookie) = session_cookie(&parts.headers) else {
            return Err(to_sign_in(&requested_page(parts)));
        };
        let session_sha256 = crate::auth::token_sha256(cookie);
        let session = state
            .storage()
            .session(session_sha256.clone(), Timestamp::now())
            .await
            .map_err(|error| ApiError::from(error).into_response())?;
        let Some(ConsoleSession {
            token_sha256, csrf, ..
        }) = session
        else {
            return Err(to_sign_in(&requested_page(parts)));
        };
        match manager_of(state, &token_sha256).await {
            Ok(Some(manager)) => Ok(Self {
                manager,
                session_sha256,
                csrf,
            }),
            Ok(None) => {
                // The token was revoked: its sessions end with it.
                let _ = state.storage().end_session(session_sha256).await;
                Err(to_sign_in(&requested_page(parts)))
            }
            Err(error) => Err(error.into_response()),
        }
    }
}

/// The console's page frame: header, navigation and the page's own content.
fn layout(user: Option<&ConsoleUser>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(user) = user {
                    meta name="csrf-token" content=(user.csrf);
                }
                title { (title) " · Vitrine" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/console/fleet" { "Vitrine" }
                    @if let Some(user) = user {
                        nav aria-label="Main" {
                            a href="/console/fleet" { "Fleet" }
                            a href="/console/playlists" { "Playlists" }
                            @if user.manager.is_admin() {
                                a href="/console/campaigns" { "Campaigns" }
                            }
                            a href="/console/media" { "Media" }
                            a href="/console/reports" { "Reports" }
                            @if user.manager.is_admin() {
                                a href="/console/stores" { "Stores" }
                                a href="/console/staff" { "Staff" }
                                a href="/console/feeds" { "Feeds" }
                            }
                            a href="/console/pairing" { "Pair a screen" }
                        }
                        div class="who" {
                            span { (user.who()) }
                            form method="post" action="/console/sign-out" class="inline" {
                                (user.csrf_field())
                                button type="submit" { "Sign out" }
                            }
                            @if user.manager.is_admin() {
                                form method="post" action="/console/sessions/end-all" class="inline" {
                                    (user.csrf_field())
                                    button type="submit" title="Ends every console session, yours included: for a lost laptop or a leaked cookie" { "Sign out everywhere" }
                                }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An HTML page with a status.
fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        markup.into_string(),
    )
        .into_response()
}

/// A page that says what went wrong and what to do.
fn problem(user: Option<&ConsoleUser>, status: StatusCode, title: &str, message: &str) -> Response {
    html_response(
        status,
        layout(
            user,
            title,
            html! {
                p class="problem" role="alert" { (message) }
                p { a href="/console/fleet" { "Back to the fleet" } }
            },
        ),
    )
}

/// An API error as a console page, with the API's own words.
fn api_problem(user: &ConsoleUser, error: &ApiError) -> Response {
    let title = match error.status() {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        status if status.is_server_error() => "The scheduler could not do this",
        _ => "This cannot be done",
    };
    problem(Some(user), error.status(), title, error.message())
}

async fn home(user: Result<ConsoleUser, Response>) -> Response {
    match user {
        Ok(_) => Redirect::to("/console/fleet").into_response(),
        Err(_) => Redirect::to("/console/sign-in").into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct SignInQuery {
    next: Option<String>,
}

fn sign_in_form(next: &str, message: Option<&str>) -> Markup {
    layout(
        None,
        "Sign in",
        html! {
            @if let Some(message) = message {
                p class="problem" role="alert" id="sign-in-problem" { (message) }
            }
            form method="post" action="/console/sign-in" class="card narrow" {
                input type="hidden" name="next" value=(next);
                label for="token" { "Token" }
                input id="token" name="token" type="password" required autocomplete="current-password"
                    aria-describedby="token-help";
                p id="token-help" class="help" {
                    "HQ signs in with the admin token (the file " code { "admin-token" }
                    " in the scheduler's data folder); store staff with the token from "
                    code { "vitrine staff add" } "."
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

async fn sign_in_page(Query(query): Query<SignInQuery>) -> Response {
    let next = query
        .next
        .filter(|next| is_local_page(next))
        .unwrap_or_else(|| "/console/fleet".to_owned());
    html_response(StatusCode::OK, sign_in_form(&next, None))
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    token: String,
    #[serde(default)]
    next: String,
}

/// Whether a request's `Origin`, when a browser sends one, is this server: a sign-in posted from
/// another site is refused.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    url::Url::parse(origin).is_ok_and(|origin| {
        let origin_host = match origin.port() {
            Some(port) => format!("{}:{port}", origin.host_str().unwrap_or_default()),
            None => origin.host_str().unwrap_or_default().to_owned(),
        };
        host == Some(origin_host.as_str())
    })
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = if is_local_page(&form.next) {
        form.next.clone()
    } else {
        "/console/fleet".to_owned()
    };
    if !same_origin(&headers) {
        return problem(
            None,
            StatusCode::FORBIDDEN,
            "Sign-in refused",
            "This sign-in was sent from another site. Open the console's own sign-in page.",
        );
    }
    let token = form.token.trim();
    let refused =
        |message: &str| html_response(StatusCode::UNAUTHORIZED, sign_in_form(&next, Some(message)));
    if token.is_empty() {
        return refused("Enter a token.");
    }
    let token_sha256 = crate::auth::token_sha256(token);
    match crate::auth::resolve_token(&state, &token_sha256).await {
        Ok(TokenOwner::Screen(screen)) => {
            return refused(&format!(
                "This is screen {}'s device token; a screen cannot sign in. Use the admin token \
                 or a staff token.",
                screen.name
            ));
        }
        Ok(TokenOwner::Revoked) => {
            return refused("This token was revoked. Ask HQ for a new one (`vitrine staff add`).");
        }
        Ok(TokenOwner::Unknown)
            if !crate::auth::is_admin_token(token, state.admin_token_sha256()) =>
        {
            return refused("This token is not known here. Check it and try again.");
        }
        Ok(_) => {}
        Err(error) => return error.into_response(),
    }
    let (Ok(session_id), Ok(csrf)) = (crate::auth::generate_token(), crate::auth::generate_token())
    else {
        return ApiError::internal("making a session", "no randomness").into_response();
    };
    let Ok(expires_at) = Timestamp::now().checked_add(SESSION_LIFETIME) else {
        return ApiError::internal("making a session", "time out of range").into_response();
    };
    let session = ConsoleSession {
        token_sha256,
        csrf,
        expires_at,
    };
    if let Err(error) = state
        .storage()
        .create_session(crate::auth::token_sha256(&session_id), session)
        .await
    {
        return ApiError::from(error).into_response();
    }
    let mut response = Redirect::to(&next).into_response();
    let cookie = format!(
        "{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_LIFETIME.as_secs(),
        if sent_over_https(&state) {
            "; Secure"
        } else {
            ""
        }
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Whether browsers reach the console over HTTPS: the scheduler serves TLS itself, or its public
/// address (`--public-url`, behind a TLS proxy) is `https://`. The cookie is then `Secure`.
fn sent_over_https(state: &AppState) -> bool {
    state.serves_tls()
        || state
            .public_url()
            .is_some_and(|url| url.starts_with("https://"))
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

/// A response that removes the session cookie.
fn forget_cookie(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("vitrine_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

async fn sign_out(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    if let Err(error) = state
        .storage()
        .end_session(user.session_sha256.clone())
        .await
    {
        return ApiError::from(error).into_response();
    }
    forget_cookie(Redirect::to("/console/sign-in").into_response())
}

/// Ends every console session, the admin's own included: for a lost laptop or a leaked cookie.
async fn end_all_sessions(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = user.forged(form.csrf.as_deref(), &headers) {
        return refused;
    }
    if !user.manager.is_admin() {
        return problem(
            Some(&user),
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Only HQ (the admin token) may sign everyone out.",
        );
    }
    match state.storage().end_all_sessions().await {
        Ok(ended) => {
            tracing::info!(sessions = ended, "ended every console session");
            forget_cookie(Redirect::to("/console/sign-in").into_response())
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STYLE,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// A time as people read it in the console: UTC, to the second.
fn when(time: Timestamp) -> String {
    time.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// How long ago `time` was, in words: "12 s ago", "5 min ago", "3 h ago", "2 days ago".
fn ago(time: Timestamp, now: Timestamp) -> String {
    let seconds = now.duration_since(time).as_secs().max(0);
    match seconds {
        0..60 => format!("{seconds} s ago"),
        60..3600 => format!("{} min ago", seconds / 60),
        3600..86_400 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

/// Text a URL query can carry.
fn query_escaped(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_returns_only_to_console_pages() {
        assert!(is_local_page("/console/screens/lobby-1"));
        assert!(is_local_page("/console/fleet?state=offline"));
        for elsewhere in [
            "https://evil.example/",
            "//evil.example/console",
            "/\\evil.example",
            "/v1/screens",
            "",
        ] {
            assert!(!is_local_page(elsewhere), "{elsewhere}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; vitrine_session=abc123; other=1"),
        );
        assert_eq!(session_cookie(&headers), Some("abc123"));
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn ages_read_as_words() {
        let now: Timestamp = "2026-12-05T12:00:00Z".parse().unwrap();
        let before = |seconds: i64| now - SignedDuration::from_secs(seconds);
        assert_eq!(ago(before(12), now), "12 s ago");
        assert_eq!(ago(before(300), now), "5 min ago");
        assert_eq!(ago(before(3 * 3600), now), "3 h ago");
        assert_eq!(ago(before(2 * 86_400), now), "2 days ago");
    }
}
