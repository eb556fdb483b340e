//! The harness the scheduler's API tests share: a scheduler on a real SQLite database and media
//! folder in a temporary directory, driven through `app()` with `oneshot`. `cargo xtask test` runs
//! the suites again with the model on PostgreSQL ([`POSTGRES_ENV`]) and the media ones with media in
//! an S3-compatible bucket ([`S3_ENV`]).

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
use vitrine_scheduler::{AppState, Config, Database, Media};

pub const ADMIN: &str = "test-admin-token-0123456789";

pub struct Harness {
    pub data_dir: TempDir,
    pub state: AppState,
    /// Where `state` stores its model; a scheduler reopened on `data_dir` uses the same.
    pub database: Database,
    /// Where `state` keeps media; a scheduler reopened on `data_dir` uses the same.
    pub media: Media,
}

/// The environment variable naming a PostgreSQL server for the tests' second pass (`cargo xtask
/// test` starts one and sets it): each scheduler a test opens then gets a schema of its own there.
pub const POSTGRES_ENV: &str = "VITRINE_TEST_POSTGRES";

/// The database a test's scheduler stores its model in: the embedded SQLite file in its data
/// folder, or a fresh schema on the server [`POSTGRES_ENV`] names.
pub fn test_database() -> Database {
    match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => Database::Postgres(fresh_schema(&url)),
        _ => Database::Sqlite,
    }
}

/// The environment variable naming an S3-compatible server (`http://127.0.0.1:PORT`) for the media
/// tests' S3 pass (`cargo xtask test` starts one, creates [`S3_BUCKET`] and sets it, with
/// `AWS_ENDPOINT_URL` and the test credentials the scheduler's client reads): each scheduler a test
/// opens then keeps its media under a prefix of its own in that bucket.
pub const S3_ENV: &str = "VITRINE_TEST_S3";

/// The bucket the S3 pass uses.
pub const S3_BUCKET: &str = "vitrine-test";

/// Where a test's scheduler keeps media: its data folder, or a fresh prefix in [`S3_BUCKET`] on
/// the server [`S3_ENV`] names.
pub fn test_media() -> Media {
    match std::env::var(S3_ENV) {
        Ok(endpoint) if !endpoint.is_empty() => {
            let configured = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
            assert_eq!(
                configured.trim_end_matches('/'),
                endpoint.trim_end_matches('/'),
                "{S3_ENV} is set: set AWS_ENDPOINT_URL to it too, with AWS_ALLOW_HTTP=true and \
                 test credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (`cargo xtask s3` \
                 prints them)"
            );
            let mut suffix = [0u8; 8];
            getrandom::fill(&mut suffix).expect("randomness");
            Media::S3 {
                bucket: S3_BUCKET.to_owned(),
                prefix: format!("test-{}", hex::encode(suffix)),
            }
        }
        _ => Media::Local,
    }
}

/// Creates an empty schema on the server at `url` and returns a URL whose connections use it.
fn fresh_schema(url: &str) -> String {
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).expect("randomness");
    let schema = format!("test_{}", hex::encode(suffix));
    let server = url.to_owned();
    let statement = format!("CREATE SCHEMA {schema}");
    // On a thread of its own: tests call this from inside their tokio runtime.
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async move {
                let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
                    .await
                    .unwrap_or_else(|error| panic!("{POSTGRES_ENV}={server}: {error}"));
                let connection = tokio::spawn(connection);
                client
                    .batch_execute(&statement)
                    .await
                    .expect("create schema");
                drop(client);
                let _ = connection.await;
            });
    })
    .join()
    .expect("schema created");
    vitrine_scheduler::storage::postgres::url_with_schema(url, &schema)
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

    /// The body as text (an HTML page, say).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
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
        Self::with_media(test_media())
    }

    /// A harness whose scheduler keeps its media in `media`.
    pub fn with_media(media: Media) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database = test_database();
        let state = vitrine_scheduler::open(Config {
            data_dir: data_dir.path().to_path_buf(),
            admin_token: ADMIN.to_owned(),
            database: database.clone(),
            media: media.clone(),
        })
        .expect("scheduler opens");
        Self {
            data_dir,
            state,
            database,
            media,
        }
    }

    /// A second scheduler beside this one, as a replica: the same signing key and media (one
    /// data folder here) and the same database, which must be PostgreSQL.
    pub fn replica(&self) -> Harness {
        assert!(
            matches!(self.database, Database::Postgres(_)),
            "set {POSTGRES_ENV} to a PostgreSQL server"
        );
        Harness {
            state: vitrine_scheduler::open(Config {
                data_dir: self.data_dir.path().to_path_buf(),
                admin_token: ADMIN.to_owned(),
                database: self.database.clone(),
                media: self.media.clone(),
            })
            .expect("the replica opens"),
            data_dir: tempfile::tempdir().expect("temp dir"),
            database: self.database.clone(),
            media: self.media.clone(),
        }
    }

    pub fn router(&self) -> Router {
        vitrine_scheduler::app(self.state.clone())
    }

    /// The embedded database, for the checks only SQLite has (its files, its locks).
    pub fn database(&self) -> rusqlite::Connection {
        assert_eq!(
            self.database,
            Database::Sqlite,
            "this check reads the SQLite file; use query_i64 or execute for both backends"
        );
        rusqlite::Connection::open(self.data_dir.path().join(vitrine_scheduler::DATABASE_FILE))
            .expect("database opens")
    }

    pub fn count(&self, table: &str) -> i64 {
        self.query_i64(&format!("SELECT COUNT(*) FROM {table}"))
    }

    /// The one integer `sql` selects (NULL reads as 0), from whichever database the scheduler
    /// uses: `sql` must be valid on both.
    pub fn query_i64(&self, sql: &str) -> i64 {
        let row = self.row(sql);
        let value = row.first().unwrap_or_else(|| panic!("{sql}: no column"));
        value.as_deref().map_or(0, |text| {
            text.parse().unwrap_or_else(|_| panic!("{sql}: {text}"))
        })
    }

    /// The first row `sql` selects, every value as text (NULL as None); panics if there is none.
    pub fn row(&self, sql: &str) -> Vec<Option<String>> {
        self.rows(sql)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{sql}: no row"))
    }

    /// The rows `sql` selects, every value as text (NULL as None), from whichever database the
    /// scheduler uses: `sql` must be valid on both.
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match &self.database {
            Database::Sqlite => {
                let database = self.database();
                let mut statement = database
                    .prepare(sql)
                    .unwrap_or_else(|error| panic!("{sql}: {error}"));
                let columns = statement.column_count();
                statement
                    .query_map([], |row| {
                        (0..columns)
                            .map(|index| {
                                Ok(match row.get_ref(index)? {
                                    rusqlite::types::ValueRef::Null => None,
                                    rusqlite::types::ValueRef::Integer(value) => {
                                        Some(value.to_string())
                                    }
                                    rusqlite::types::ValueRef::Real(value) => {
                                        Some(value.to_string())
                                    }
                                    rusqlite::types::ValueRef::Text(text)
                                    | rusqlite::types::ValueRef::Blob(text) => {
                                        Some(String::from_utf8_lossy(text).into_owned())
                                    }
                                })
                            })
                            .collect()
                    })
                    .and_then(Iterator::collect)
                    .unwrap_or_else(|error| panic!("{sql}: {error}"))
            }
            Database::Postgres(url) => {
                let sql = sql.to_owned();
                let messages = on_postgres(url, move |client| {
                    Box::pin(async move { client.simple_query(&sql).await })
                });
                messages
                    .into_iter()
                    .filter_map(|message| match message {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|index| row.get(index).map(str::to_owned))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect()
            }
        }
    }

    /// Runs statements valid on both databases, as an operator or a fault would.
    pub fn execute(&self, sql: &str) {
        match &self.database {
            Database::Sqlite => self
                .database()
                .execute_batch(sql)
                .unwrap_or_else(|error| panic!("{sql}: {error}")),
            Database::Postgres(url) => {
                let sql = sql.to_owned();
                on_postgres(url, move |client| {
                    Box::pin(async move { client.batch_execute(&sql).await })
                });
            }
        }
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

/// The web console as a browser uses it: forms, the session cookie and its CSRF token.
impl Harness {
    /// Signs in to the console with `token`; returns the session cookie (`vitrine_session=…`).
    pub async fn console_sign_in(&self, token: &str) -> String {
        let reply = self
            .console_form(
                None,
                "/console/sign-in",
                &[("token", token), ("next", "/console/fleet")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
        let cookie = reply
            .headers
            .get(header::SET_COOKIE)
            .expect("a session cookie")
            .to_str()
            .expect("text")
            .to_owned();
        cookie.split(';').next().expect("name=value").to_owned()
    }

    /// A console page, with the session cookie if given.
    pub async fn console_get(&self, cookie: Option<&str>, uri: &str) -> Reply {
        let mut request = Request::get(uri);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).expect("request"))
            .await
    }

    /// A console form sent as a browser sends it, with the session cookie if given.
    pub async fn console_form(
        &self,
        cookie: Option<&str>,
        uri: &str,
        fields: &[(&str, &str)],
    ) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request =
            Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::from(body)).expect("request"))
            .await
    }

    /// The CSRF token the console's pages carry for this session.
    pub async fn console_csrf(&self, cookie: &str) -> String {
        let page = self
            .console_get(Some(cookie), "/console/fleet")
            .await
            .text();
        let marker = r#"name="csrf-token" content=""#;
        let start = page.find(marker).expect("the page carries its CSRF token") + marker.len();
        page[start..start + page[start..].find('"').expect("end")].to_owned()
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

type PostgresCall<T> = Box<
    dyn for<'a> FnOnce(
            &'a tokio_postgres::Client,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, tokio_postgres::Error>> + Send + 'a>,
        > + Send,
>;

/// Runs `call` on a connection of its own to `url`, on a thread of its own (tests call this from
/// inside their tokio runtime), and panics with the server's message if it fails.
fn on_postgres<T: Send + 'static>(
    url: &str,
    call: impl for<'a> FnOnce(
        &'a tokio_postgres::Client,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<T, tokio_postgres::Error>> + Send + 'a>,
    > + Send
    + 'static,
) -> T {
    let url = url.to_owned();
    let call: PostgresCall<T> = Box::new(call);
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap_or_else(|error| panic!("{url}: {error}"));
                let connection = tokio::spawn(connection);
                let result = call(&client)
                    .await
                    .unwrap_or_else(|error| panic!("PostgreSQL: {error:?}"));
                drop(client);
                let _ = connection.await;
                result
            })
    })
    .join()
    .expect("PostgreSQL call")
}
