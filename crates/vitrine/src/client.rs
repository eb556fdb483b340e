//! The CLI's connection to the scheduler: a `vitrine-client` [`HqClient`] made from `--server`,
//! `--token` and `--ca-cert`, whose errors point at those flags, and the printing of the
//! diagnostics the server sends back with a refused playlist or campaign.

use anyhow::Context as _;
use vitrine_client::{BuildError, Hints, HqClient, ServerError};

use crate::ServerArgs;
use crate::render::DiagnosticPrinter;

/// What the client's errors suggest checking.
const HINTS: Hints = Hints {
    unreachable: "check --server or VITRINE_SERVER",
    unauthorized: "check --token or VITRINE_TOKEN",
};

/// A client for the scheduler `arguments` name, with their token.
pub fn connect(arguments: &ServerArgs) -> anyhow::Result<HqClient> {
    let certificate = match &arguments.ca_cert {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("could not read --ca-cert {}", path.display()))?;
            Some(reqwest::Certificate::from_pem(&pem).with_context(|| {
                format!("--ca-cert {} is not a PEM certificate", path.display())
            })?)
        }
        None => None,
    };
    HqClient::builder(&arguments.server)
        .token(&arguments.token)
        .ca_certificate(certificate)
        .hints(HINTS)
        .build()
        .map_err(|error| match error {
            BuildError::NotUrl(_) | BuildError::NotHttp(_) => anyhow::anyhow!("--server {error}"),
            BuildError::Http(_) => anyhow::Error::new(error),
        })
}

/// Prints the diagnostics of a refused request, if the server sent any, with snippets from
/// `source` (the text they point into); the error itself is left for the caller to report.
pub fn print_server_diagnostics(error: &anyhow::Error, source: Option<&str>) {
    if let Some(server_error) = error.downcast_ref::<ServerError>()
        && !server_error.diagnostics.is_empty()
    {
        DiagnosticPrinter::for_stderr().print_all(&server_error.diagnostics, source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_need_a_scheme_and_the_error_names_the_flag() {
        let arguments = |server: &str| ServerArgs {
            server: server.to_owned(),
            token: "t".to_owned(),
            ca_cert: None,
        };
        let error = connect(&arguments("localhost:8080")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--server `localhost:8080` must start with http:// or https://"
        );
        assert!(connect(&arguments("not a url")).is_err());
        let client = connect(&arguments("http://localhost:8080/")).unwrap();
        assert_eq!(client.base_url(), "http://localhost:8080");
    }
}
