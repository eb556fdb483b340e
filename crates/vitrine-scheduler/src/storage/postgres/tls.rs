//! TLS to PostgreSQL, chosen by the database URL as `psql` chooses it, so a URL that works with
//! `psql` works here:
//!
//! - `sslmode=disable`: plain TCP.
//! - `sslmode=prefer` (the default): TLS when the server offers it, plain otherwise.
//! - `sslmode=require`: TLS or no connection.
//! - `sslmode=verify-ca`: TLS, and the server's certificate must chain to a trusted authority.
//! - `sslmode=verify-full`: as `verify-ca`, and the certificate must name the host in the URL.
//!
//! The trusted authorities are those in the PEM file `sslrootcert=PATH` names, or the system's
//! (`/etc/ssl/certs`) without it. As with `psql`, `prefer` and `require` check the certificate's
//! chain only when `sslrootcert` is given; without it they encrypt but do not check who answers,
//! which the scheduler says in its log at start.
//!
//! tokio-postgres knows `disable`, `prefer` and `require` only, so the two checking modes and
//! `sslrootcert` are taken out of the URL here and become the rustls configuration.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::super::StorageError;

/// The `sslmode` values, as libpq names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(value: &str) -> Result<Self, StorageError> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(StorageError::Backend(format!(
                    "the database URL's sslmode `{other}` is not one this scheduler knows; use \
                     disable, prefer, require, verify-ca or verify-full"
                )));
            }
        })
    }

    fn ssl_mode(self) -> SslMode {
        match self {
            Self::Disable => SslMode::Disable,
            Self::Prefer => SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => SslMode::Require,
        }
    }
}

/// A database URL read: what tokio-postgres connects with, and the TLS it connects through.
pub(super) struct Connection {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
    pub mode: Mode,
    /// Whether the server's certificate is checked against trusted authorities.
    pub checked: bool,
}

impl Connection {
    /// Reads `url` (`postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=…&sslrootcert=…`) and
    /// loads the authorities its TLS trusts.
    pub fn from_url(url: &str) -> Result<Self, StorageError> {
        let (rest, mode, root) = take_tls_options(url)?;
        let mut config = tokio_postgres::Config::from_str(&rest).map_err(|error| {
            StorageError::Backend(format!(
                "the database URL is not a PostgreSQL connection string ({error}); \
                 expected postgres://USER:PASSWORD@HOST:PORT/DATABASE"
            ))
        })?;
        config.ssl_mode(mode.ssl_mode());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let checked = matches!(mode, Mode::VerifyCa | Mode::VerifyFull) || root.is_some();
        let verifier: Arc<dyn ServerCertVerifier> = if checked {
            let roots = match &root {
                Some(path) => roots_from_file(path)?,
                None => system_roots()?,
            };
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|error| {
                        StorageError::Backend(format!(
                            "the trusted authorities cannot be used: {error}"
                        ))
                    })?;
            if mode == Mode::VerifyFull {
                webpki
            } else {
                Arc::new(AnyName(webpki))
            }
        } else {
            Arc::new(Unchecked(Arc::clone(&provider)))
        };
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| StorageError::Backend(format!("TLS versions: {error}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Self {
            config,
            tls: MakeRustlsConnect::new(client),
            mode,
            checked,
        })
    }
}

/// A line for the log at start when the connection is encrypted without checking who answers;
/// `None` when that is not the case.
pub(super) fn warning(mode: Mode, checked: bool) -> Option<&'static str> {
    (mode == Mode::Require && !checked).then_some(
        "the database connection is encrypted but the server's certificate is not checked; use \
         sslmode=verify-full with sslrootcert=PATH to check it",
    )
}

/// `url` without its `sslmode` and `sslrootcert` options, and what they said. Both forms of
/// connection string are read: a URL's query, or `key=value` words.
fn take_tls_options(url: &str) -> Result<(String, Mode, Option<PathBuf>), StorageError> {
    let mut mode = None;
    let mut root = None;
    let mut take = |key: &str, value: String| -> Result<bool, StorageError> {
        match key {
            "sslmode" => mode = Some(Mode::parse(&value)?),
            "sslrootcert" => root = Some(PathBuf::from(value)),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_owned(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|pair| !pair.is_empty()) {
                    let taken = match url::form_urlencoded::parse(pair.as_bytes()).next() {
                        Some((key, value)) => take(&key, value.into_owned())?,
                        None => false,
                    };
                    if !taken {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = Vec::new();
        for word in url.split_whitespace() {
            let taken = match word.split_once('=') {
                Some((key, value)) => take(key.trim(), value.trim_matches('\'').to_owned())?,
                None => false,
            };
            if !taken {
                kept.push(word);
            }
        }
        kept.join(" ")
    };
    Ok((rest, mode.unwrap_or(Mode::Prefer), root))
}

fn roots_from_file(path: &std::path::Path) -> Result<RootCertStore, StorageError> {
    let unreadable = |error: &dyn std::fmt::Display| {
        StorageError::Backend(format!(
            "the database URL's sslrootcert `{}` cannot be read as PEM certificates: {error}",
            path.display()
        ))
    };
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(path).map_err(|error| unreadable(&error))? {
        let certificate = certificate.map_err(|error| unreadable(&error))?;
        roots.add(certificate).map_err(|error| unreadable(&error))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"it holds no certificate"));
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, StorageError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(StorageError::Backend(
            "the system trusts no certificate authority to check the database server with; \
             name the server's authority with sslrootcert=PATH in the database URL"
                .to_owned(),
        ));
    }
    Ok(roots)
}

/// `verify-ca`: the chain is checked, the name in it is not.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0
            .verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0
            .verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without `sslrootcert`: any certificate is taken, as `psql` takes it;
/// the handshake's signatures are still checked against the certificate presented.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A hint for what to change when connecting failed on TLS; `None` for other failures.
pub(super) fn hint(error: &str) -> Option<&'static str> {
    if error.contains("server does not support TLS") {
        Some(
            "the server does not offer TLS: turn ssl on in its postgresql.conf, or use \
             sslmode=prefer or sslmode=disable in the database URL",
        )
    } else if error.contains("not valid for name") || error.contains("NotValidForName") {
        Some(
            "the server's certificate does not name the host in the database URL: connect by a \
             name the certificate holds, or use sslmode=verify-ca to check the authority only",
        )
    } else if error.contains("invalid peer certificate") {
        Some(
            "the server's certificate is not trusted: name its authority with sslrootcert=PATH \
             in the database URL",
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_options_leave_the_url_and_the_rest_stays() {
        let (rest, mode, root) = take_tls_options(
            "postgres://hq:secret@db.example:5432/vitrine?sslmode=verify-full\
             &application_name=hq&sslrootcert=%2Fetc%2Fvitrine%2Fdb-ca.pem",
        )
        .expect("a URL");
        assert_eq!(
            rest,
            "postgres://hq:secret@db.example:5432/vitrine?application_name=hq"
        );
        assert_eq!(mode, Mode::VerifyFull);
        assert_eq!(root, Some(PathBuf::from("/etc/vitrine/db-ca.pem")));

        let (rest, mode, root) = take_tls_options("postgres://hq@db/vitrine").expect("a URL");
        assert_eq!(
            (rest.as_str(), mode, root),
            ("postgres://hq@db/vitrine", Mode::Prefer, None)
        );

        let (rest, mode, _) =
            take_tls_options("host=db user=hq sslmode=require dbname=vitrine").expect("words");
        assert_eq!(rest, "host=db user=hq dbname=vitrine");
        assert_eq!(mode, Mode::Require);
    }

    #[test]
    fn an_unknown_sslmode_names_the_ones_there_are() {
        let Err(error) = take_tls_options("postgres://hq@db/vitrine?sslmode=allow") else {
            panic!("sslmode=allow was taken");
        };
        let message = error.to_string();
        assert!(message.contains("`allow`"), "{message}");
        assert!(message.contains("verify-full"), "{message}");
    }

    #[test]
    fn only_an_unchecked_required_connection_is_warned_of() {
        let required =
            Connection::from_url("postgres://hq@db/vitrine?sslmode=require").expect("a connection");
        assert!(!required.checked);
        assert!(warning(required.mode, required.checked).is_some());
        let preferred = Connection::from_url("postgres://hq@db/vitrine").expect("a connection");
        assert_eq!(preferred.mode, Mode::Prefer);
        assert!(warning(preferred.mode, preferred.checked).is_none());
        let missing = Connection::from_url(
            "postgres://hq@db/vitrine?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        );
        let Err(error) = missing else {
            panic!("a missing sslrootcert was taken");
        };
        assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
    }

    /// The test server's URL for a fresh schema, and the authority its certificate chains to
    /// (`cargo xtask test` starts it with TLS and names the authority).
    async fn server_and_authority() -> (String, String) {
        let authority = std::env::var("VITRINE_TEST_POSTGRES_CA")
            .ok()
            .filter(|path| !path.is_empty())
            .expect("VITRINE_TEST_POSTGRES_CA names the test server's authority");
        (
            super::super::versions::tests::scratch_database().await,
            authority,
        )
    }

    async fn encrypted(store: &super::super::PostgresStore) -> bool {
        store
            .client()
            .await
            .expect("a connection")
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("the connection's TLS state")
            .get(0)
    }

    fn refusal(url: &str) -> String {
        match super::super::PostgresStore::open(url) {
            Ok(_) => panic!("{url} was connected to"),
            Err(error) => error.to_string(),
        }
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL with TLS: cargo xtask test runs it on its private server"]
    async fn verify_full_connects_over_tls_to_the_server_its_authority_vouches_for() {
        let (url, authority) = server_and_authority().await;
        let store = super::super::PostgresStore::open(&format!(
            "{url}&sslmode=verify-full&sslrootcert={authority}"
        ))
        .expect("the store over TLS");
        assert!(encrypted(&store).await);

        let plain = super::super::PostgresStore::open(&format!("{url}&sslmode=disable"))
            .expect("the store without TLS");
        assert!(!encrypted(&plain).await);
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL with TLS: cargo xtask test runs it on its private server"]
    async fn a_certificate_for_another_name_passes_verify_ca_only() {
        let (url, authority) = server_and_authority().await;
        // The certificate is for 127.0.0.1; connect to the same address by the name localhost.
        let by_name = url.replacen("@127.0.0.1:", "@localhost:", 1);
        assert_ne!(by_name, url, "the test server is on 127.0.0.1");
        let message = refusal(&format!(
            "{by_name}&hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={authority}"
        ));
        assert!(message.contains("does not name the host"), "{message}");

        let store = super::super::PostgresStore::open(&format!(
            "{by_name}&hostaddr=127.0.0.1&sslmode=verify-ca&sslrootcert={authority}"
        ))
        .expect("verify-ca takes the authority's certificate whatever its name");
        assert!(encrypted(&store).await);
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL with TLS: cargo xtask test runs it on its private server"]
    async fn a_server_vouched_for_by_another_authority_is_refused_with_what_to_change() {
        let (url, _) = server_and_authority().await;
        let stranger = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
            .expect("a certificate");
        let folder = tempfile::tempdir().expect("a folder");
        let other = folder.path().join("other-ca.pem");
        std::fs::write(&other, stranger.cert.pem()).expect("written");
        let message = refusal(&format!(
            "{url}&sslmode=verify-full&sslrootcert={}",
            other.display()
        ));
        assert!(message.contains("not trusted"), "{message}");
        assert!(message.contains("sslrootcert"), "{message}");
    }
}
