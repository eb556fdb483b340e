//! The harness the scheduler's API tests share: a scheduler on a real SQLite database and media
//! folder in a temporary directory, driven through `app()` with `oneshot`.

#![allow(
    dead_code,
    reason = "each test file is its own crate and uses a different part of the harness"
)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;
use vitrine_scheduler::{AppState, Config};

pub const ADMIN: &str = "test-admin-token-0123456789";

pub struct Harness {
    pub data_dir: TempDir,
    pub state: AppState,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The stable code of an API error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.json()))
            .to_owned()
    }

    pub fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .expect("error message")
            .to_owned()
    }
}

impl Harness {
    pub fn new() -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let state = vitrine_scheduler::open(Config {
            data_dir: data_dir.path().to_path_buf(),
            admin_token: ADMIN.to_owned(),
        })
        .expect("scheduler opens");
        Self { data_dir, state }
    }

    pub fn router(&self) -> Router {
        vitrine_scheduler::app(self.state.clone())
    }

    pub fn database(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data_dir.path().join(vitrine_scheduler::DATABASE_FILE))
            .expect("database opens")
    }

    pub fn count(&self, table: &str) -> i64 {
        self.database()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .expect("count")
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Sends a request and reads only the status and headers: for answers that never end, like
    /// an open event stream. The body is dropped unread.
    pub async fn status_of(&self, request: Request<Body>) -> Reply {
        let response = self.router().oneshot(request).await.expect("infallible");
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body: Bytes::new(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.send(request(method, uri, token, body)).await
    }
}

/// A request with an optional bearer token and JSON body.
pub fn request(
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match body {
        Some(value) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(value.to_string())
        }
        None => Body::empty(),
    };
    request.body(body).expect("request")
}

/// `request` as it arrives over TCP from `address` (`198.51.100.7:40000`), the way the server
/// hands the peer to handlers and the rate limiter.
pub fn from_address(mut request: Request<Body>, address: &str) -> Request<Body> {
    let address: std::net::SocketAddr = address.parse().expect("address");
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(address));
    request
}
