//! The HTTP client for the scheduler's API: authentication, and errors that say which server could not
//! be reached or what the server objected to.

use std::fmt;
use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use vitrine_core::Diagnostic;

use crate::ServerArgs;
use crate::render::DiagnosticPrinter;

/// A connection to one scheduler with one token.
#[derive(Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    /// The server's base URL without a trailing slash, so that API paths can be appended.
    base_url: String,
    token: String,
}

impl ApiClient {
    pub fn new(arguments: &ServerArgs) -> anyhow::Result<Self> {
        let base_url = arguments.server.trim_end_matches('/').to_owned();
        // `Url::parse` reads `localhost:8080` as a URL with the scheme `localhost`, so the scheme is
        // checked by hand to catch the most common slip.
        let parsed = reqwest::Url::parse(&base_url)
            .with_context(|| format!("--server `{}` is not a URL", arguments.server))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!(
                "--server `{}` must start with http:// or https://",
                arguments.server
            );
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("vitrine/", env!("CARGO_PKG_VERSION")))
            // Only the connection gets a deadline: uploads of large videos legitimately take long.
            .connect_timeout(Duration::from_secs(15));
        if let Some(path) = &arguments.ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("could not read --ca-cert {}", path.display()))?;
            let certificate = reqwest::Certificate::from_pem(&pem).with_context(|| {
                format!("--ca-cert {} is not a PEM certificate", path.display())
            })?;
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder
            .build()
            .context("could not set up the HTTP client")?;
        Ok(Self {
            http,
            base_url,
            token: arguments.token.clone(),
        })
    }

    /// A request to `path` (which starts with `/v1/`), carrying the token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(&self.token)
    }

    /// Sends a request. A failure to connect names the server and suggests checking `--server`.
    pub async fn send(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        request.send().await.map_err(|error| {
            let context = if error.is_connect() || error.is_timeout() {
                format!(
                    "could not reach the Vitrine server at {} (check --server or VITRINE_SERVER)",
                    self.base_url
                )
            } else {
                format!("request to the Vitrine server at {} failed", self.base_url)
            };
            anyhow::Error::new(error).context(context)
        })
    }

    /// The JSON body of a successful response; any other status becomes a [`ServerError`], whose
    /// diagnostics are printed first (with snippets from `source`, the text they point into, if
    /// given).
    pub async fn read_json<T: DeserializeOwned>(
        response: Response,
        source: Option<&str>,
    ) -> anyhow::Result<T> {
        let response = Self::check_status(response, source).await?;
        let status = response.status();
        response.json().await.with_context(|| {
            format!("the server answered {status} with a body vitrine does not understand")
        })
    }

    /// The response itself if its status is a success; otherwise as [`ApiClient::read_json`].
    pub async fn check_status(
        response: Response,
        source: Option<&str>,
    ) -> anyhow::Result<Response> {
        if response.status().is_success() {
            return Ok(response);
        }
        let server_error = ServerError::from_response(response).await;
        if !server_error.diagnostics.is_empty() {
            DiagnosticPrinter::for_stderr().print_all(&server_error.diagnostics, source);
        }
        Err(server_error.into())
    }
}

/// What the server said when it refused a request. Its diagnostics are printed separately, so they
/// are not part of the message.
#[derive(Debug)]
pub struct ServerError {
    pub status: StatusCode,
    pub code: Option<String>,
    pub message: String,
    pub diagnostics: Vec<Diagnostic>,
}

/// The scheduler's error body: `{"error": {"code": ..., "message": ..., "diagnostics": [...]}}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorFields,
}

#[derive(Debug, Deserialize)]
struct ErrorFields {
    code: String,
    message: String,
    #[serde(default)]
    diagnostics: Vec<Diagnostic>,
}

/// How much of a body that is not the scheduler's JSON is quoted, e.g. a proxy's HTML error page.
const QUOTED_BODY_CHARACTERS: usize = 200;

impl ServerError {
    async fn from_response(response: Response) -> Self {
        let status = response.status();
        // A body that cannot be read still leaves the status to report.
        let body = response.text().await.unwrap_or_default();
        Self::from_body(status, &body)
    }

    fn from_body(status: StatusCode, body: &str) -> Self {
        match serde_json::from_str::<ErrorBody>(body) {
            Ok(parsed) => Self {
                status,
                code: Some(parsed.error.code),
                message: parsed.error.message,
                diagnostics: parsed.error.diagnostics,
            },
            Err(_) => {
                let quoted: String = body.trim().chars().take(QUOTED_BODY_CHARACTERS).collect();
                let message = if quoted.is_empty() {
                    status
                        .canonical_reason()
                        .unwrap_or("no explanation given")
                        .to_owned()
                } else {
                    quoted.replace(['\r', '\n'], " ")
                };
                Self {
                    status,
                    code: None,
                    message,
                    diagnostics: Vec::new(),
                }
            }
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} (HTTP {}", self.message, self.status)?;
        if let Some(code) = &self.code {
            write!(formatter, ", code `{code}`")?;
        }
        write!(formatter, ")")?;
        // A 401 is about the token itself: missing, unknown or revoked. A 403 means the server
        // knew the token and it may not do this; its message says what the token may do, and
        // another token would only help if it carries the right.
        match self.status {
            StatusCode::UNAUTHORIZED => write!(formatter, "; check --token or VITRINE_TOKEN")?,
            StatusCode::FORBIDDEN => write!(
                formatter,
                "; the token was accepted, but it lacks the right to do this"
            )?,
            _ => {}
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_schedulers_error_body() {
        let error = ServerError::from_body(
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"{"error":{"code":"invalid_playlist","message":"the playlist has errors","diagnostics":[
                {"severity":"error","file":"a.yaml","line":3,"column":5,"message":"bad"}]}}"#,
        );
        assert_eq!(error.diagnostics.len(), 1);
        assert_eq!(
            error.to_string(),
            "the playlist has errors (HTTP 422 Unprocessable Entity, code `invalid_playlist`)"
        );
    }

    #[test]
    fn other_bodies_are_quoted_and_auth_failures_point_at_the_token() {
        let error = ServerError::from_body(StatusCode::BAD_GATEWAY, "<html>\nupstream down</html>");
        assert_eq!(
            error.to_string(),
            "<html> upstream down</html> (HTTP 502 Bad Gateway)"
        );
        let error = ServerError::from_body(StatusCode::UNAUTHORIZED, "");
        assert_eq!(
            error.to_string(),
            "Unauthorized (HTTP 401 Unauthorized); check --token or VITRINE_TOKEN"
        );
        let error = ServerError::from_body(
            StatusCode::FORBIDDEN,
            r#"{"error":{"code":"forbidden","message":"this needs the admin token"}}"#,
        );
        assert_eq!(
            error.to_string(),
            "this needs the admin token (HTTP 403 Forbidden, code `forbidden`); the token was \
             accepted, but it lacks the right to do this"
        );
    }

    #[test]
    fn server_urls_need_a_scheme() {
        let arguments = |server: &str| ServerArgs {
            server: server.to_owned(),
            token: "t".to_owned(),
            ca_cert: None,
        };
        assert!(ApiClient::new(&arguments("localhost:8080")).is_err());
        assert!(ApiClient::new(&arguments("not a url")).is_err());
        let client = ApiClient::new(&arguments("http://localhost:8080/")).unwrap();
        assert_eq!(client.base_url, "http://localhost:8080");
    }
}
