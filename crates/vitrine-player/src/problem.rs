//! Why the screen has nothing to play, in words for whoever stands in front of it.
//!
//! The sync classifies what went wrong when it asked for the manifest ([`Problem`]): the scheduler
//! could not be reached (and why: the name is not found, the connection is refused, nothing
//! answers, its certificate is not trusted), it refused this screen's token or HQ revoked it, or it
//! has no playlist for the screen yet. The render loop adds a clock it knows is wrong. While cached
//! content can play, the content plays and the problem only travels in the heartbeat; while nothing
//! can, and the problem has lasted [`NOT_PLAYING_DELAY`], the screen says it full screen
//! ([`crate::cover::not_playing_page`]).

use std::fmt;
use std::time::{Duration, Instant};

use jiff::SignedDuration;

/// How long a problem must last, with nothing to play, before the screen says it: long enough that
/// a player starting up or a scheduler restarting never flashes it, short enough that whoever
/// installs a screen sees why it stays dark while they stand there.
pub const NOT_PLAYING_DELAY: Duration = Duration::from_secs(5);

/// Why the player gets no content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The scheduler at `server` (`host:port`) cannot be reached.
    Unreachable { server: String, cause: Unreachable },
    /// The scheduler does not know this screen's token.
    TokenRefused,
    /// HQ revoked this screen's token (the scheduler's `token_revoked`).
    TokenRevoked,
    /// The scheduler knows the screen but has no playlist for it: none is assigned, or the one
    /// assigned has not been pushed yet (the scheduler's `no_playlist`).
    NoPlaylist,
    /// The local clock reads this far earlier than the last time HQ gave, and HQ cannot be asked:
    /// no schedule can be trusted (see [`crate::clock`]).
    ClockOff { behind: SignedDuration },
}

/// Why a connection to the scheduler failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreachable {
    /// DNS does not know the name (misspelt, or no DNS on this network).
    NameNotFound,
    /// Something answered at the address, but nothing listens on the port.
    ConnectionRefused,
    /// Nothing answered in time.
    TimedOut,
    /// The server's certificate is not signed by a CA this player trusts, or is not for this name.
    CertificateNotTrusted,
    /// The server's certificate has expired or is not valid yet (often a wrong clock).
    CertificateOutOfDate,
    /// Any other network failure.
    Other,
}

impl Problem {
    /// The problem in plain words, one sentence without a final stop.
    pub fn headline(&self) -> String {
        match self {
            Problem::Unreachable { server, cause } => {
                let why = match cause {
                    Unreachable::NameNotFound => ": name not found",
                    Unreachable::ConnectionRefused => ": connection refused",
                    Unreachable::TimedOut => ": no answer (timed out)",
                    Unreachable::CertificateNotTrusted => ": TLS certificate not trusted",
                    Unreachable::CertificateOutOfDate => {
                        ": TLS certificate expired or not valid yet"
                    }
                    Unreachable::Other => "",
                };
                format!("Cannot reach {server}{why}")
            }
            Problem::TokenRefused => "This screen's token was refused by the server".to_owned(),
            Problem::TokenRevoked => "This screen's token was revoked at HQ".to_owned(),
            Problem::NoPlaylist => {
                "No playlist is assigned to this screen, or it has not been pushed yet".to_owned()
            }
            Problem::ClockOff { behind } => {
                format!("This screen's clock is off by {}", in_words(*behind))
            }
        }
    }

    /// What to do about it, for the staff or the installer in front of the screen.
    pub fn hint(&self) -> &'static str {
        match self {
            Problem::Unreachable { cause, .. } => match cause {
                Unreachable::NameNotFound => {
                    "Check the server address in the player's settings for a typo, and this \
                     shop's internet connection."
                }
                Unreachable::ConnectionRefused => {
                    "Nothing answers on that port: check the port in the server address, and ask \
                     HQ whether the server is running."
                }
                Unreachable::TimedOut => {
                    "Check this shop's network and firewall; the server may also be down."
                }
                Unreachable::CertificateNotTrusted => {
                    "Check the server address; a server with its own CA needs `ca_cert` in the \
                     player's settings."
                }
                Unreachable::CertificateOutOfDate => {
                    "Check this player's date and time; if it is right, HQ must renew the \
                     server's certificate."
                }
                Unreachable::Other => "Check the server address and this shop's network.",
            },
            Problem::TokenRefused => {
                "Set the token `vitrine screens add` printed, or remove the token to pair this \
                 screen again."
            }
            Problem::TokenRevoked => {
                "Pair this screen again (remove its token or credentials.toml and restart the \
                 player), or ask HQ for a new token (`vitrine screens rotate`)."
            }
            Problem::NoPlaylist => {
                "Push this screen's playlist (`vitrine push`), or assign one to the screen at HQ."
            }
            Problem::ClockOff { .. } => {
                "Set this player's date and time, or connect it to HQ, which sets the clock."
            }
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.headline())
    }
}

/// A clock's error in the largest unit that reads naturally: "3 minutes", "5 hours", "30 days".
fn in_words(duration: SignedDuration) -> String {
    let minutes = duration.abs().as_secs() / 60;
    let (count, unit) = if minutes < 120 {
        (minutes.max(1), "minute")
    } else if minutes < 48 * 60 {
        (minutes / 60, "hour")
    } else {
        (minutes / (24 * 60), "day")
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

/// `host:port` of a server URL, as the screen names it: what staff compare with their settings.
pub fn server_address(server: &str) -> String {
    match reqwest::Url::parse(server) {
        Ok(url) => match (url.host_str(), url.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            _ => server.to_owned(),
        },
        Err(_) => server.to_owned(),
    }
}

/// Why a request to `server` failed to reach it, by walking the error's causes: reqwest's timeout,
/// the connector's DNS failure, the socket's `ConnectionRefused`, rustls's certificate errors.
/// `None` when the failure was not one of reaching the server (the server answered).
pub fn unreachable(error: &anyhow::Error, server: &str) -> Option<Problem> {
    let request = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<reqwest::Error>())?;
    if !(request.is_connect() || request.is_timeout() || request.is_request()) {
        return None;
    }
    let mut cause = cause_in(request);
    if cause == Unreachable::Other && request.is_timeout() {
        cause = Unreachable::TimedOut;
    }
    Some(Problem::Unreachable {
        server: server_address(server),
        cause,
    })
}

/// Why a connection failed, from the first link of `error`'s chain that says.
fn cause_in(error: &(dyn std::error::Error + 'static)) -> Unreachable {
    let mut link = Some(error);
    while let Some(error) = link {
        if let Some(cause) = cause_of(error) {
            return cause;
        }
        // An I/O error's `source` skips the error it wraps, and the TLS stack wraps rustls's
        // verdict in an I/O error inside another: the wrapped error is the next link.
        link = match error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    Unreachable::Other
}

/// What one link of an error chain says about why a connection failed, if anything.
fn cause_of(error: &(dyn std::error::Error + 'static)) -> Option<Unreachable> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(certificate_cause(tls));
    }
    if let Some(io) = error.downcast_ref::<std::io::Error>() {
        return match io.kind() {
            std::io::ErrorKind::ConnectionRefused => Some(Unreachable::ConnectionRefused),
            std::io::ErrorKind::TimedOut => Some(Unreachable::TimedOut),
            _ => None,
        };
    }
    // hyper-util's connector names a resolver failure "dns error"; its type is private.
    if error.to_string() == "dns error" {
        return Some(Unreachable::NameNotFound);
    }
    None
}

fn certificate_cause(error: &rustls::Error) -> Unreachable {
    use rustls::CertificateError;
    match error {
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => Unreachable::CertificateOutOfDate,
        rustls::Error::InvalidCertificate(_) => Unreachable::CertificateNotTrusted,
        _ => Unreachable::Other,
    }
}

/// Tells when a problem has lasted long enough to be shown: the first report starts the wait, a
/// change of problem keeps it (the screen has been without content all along), and the end of
/// every problem resets it.
#[derive(Debug, Default)]
pub struct Persistence {
    since: Option<Instant>,
}

impl Persistence {
    /// The problem to show at `now`, once problems have lasted [`NOT_PLAYING_DELAY`]; otherwise
    /// `None`, and how long until it would show.
    pub fn observe(
        &mut self,
        problem: Option<Problem>,
        now: Instant,
    ) -> (Option<Problem>, Option<Duration>) {
        let Some(problem) = problem else {
            self.since = None;
            return (None, None);
        };
        let since = *self.since.get_or_insert(now);
        let lasted = now.saturating_duration_since(since);
        if lasted >= NOT_PLAYING_DELAY {
            (Some(problem), None)
        } else {
            (None, Some(NOT_PLAYING_DELAY - lasted))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    fn fail(error: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
        anyhow::Error::new(error).context("cannot reach the scheduler at http://hq.example:8080")
    }

    #[test]
    fn each_problem_is_said_in_plain_words() {
        let unreachable = |cause| Problem::Unreachable {
            server: "hq.example:8080".into(),
            cause,
        };
        let cases = [
            (
                unreachable(Unreachable::NameNotFound),
                "Cannot reach hq.example:8080: name not found",
            ),
            (
                unreachable(Unreachable::ConnectionRefused),
                "Cannot reach hq.example:8080: connection refused",
            ),
            (
                unreachable(Unreachable::TimedOut),
                "Cannot reach hq.example:8080: no answer (timed out)",
            ),
            (
                unreachable(Unreachable::CertificateNotTrusted),
                "Cannot reach hq.example:8080: TLS certificate not trusted",
            ),
            (
                unreachable(Unreachable::Other),
                "Cannot reach hq.example:8080",
            ),
            (
                Problem::TokenRefused,
                "This screen's token was refused by the server",
            ),
            (
                Problem::TokenRevoked,
                "This screen's token was revoked at HQ",
            ),
            (
                Problem::NoPlaylist,
                "No playlist is assigned to this screen, or it has not been pushed yet",
            ),
            (
                Problem::ClockOff {
                    behind: SignedDuration::from_secs(7 * 60 + 20),
                },
                "This screen's clock is off by 7 minutes",
            ),
            (
                Problem::ClockOff {
                    behind: SignedDuration::from_hours(30 * 24),
                },
                "This screen's clock is off by 30 days",
            ),
            (
                Problem::ClockOff {
                    behind: SignedDuration::from_secs(20),
                },
                "This screen's clock is off by 1 minute",
            ),
        ];
        for (problem, words) in cases {
            assert_eq!(problem.to_string(), words);
            assert!(problem.hint().ends_with('.'), "{}", problem.hint());
        }
        assert_eq!(server_address("https://hq.example"), "hq.example:443");
        assert_eq!(server_address("http://10.0.0.5:8080/"), "10.0.0.5:8080");
    }

    #[tokio::test]
    async fn a_closed_port_is_connection_refused() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let server = format!("http://127.0.0.1:{port}");
        let error = reqwest::get(&server).await.unwrap_err();
        assert_eq!(
            unreachable(&fail(error), &server),
            Some(Problem::Unreachable {
                server: format!("127.0.0.1:{port}"),
                cause: Unreachable::ConnectionRefused,
            })
        );
    }

    #[tokio::test]
    async fn a_name_no_resolver_knows_is_name_not_found() {
        // `.invalid` never resolves (RFC 6761), with or without a network.
        let server = "http://vitrine-hq.invalid:8080";
        let error = reqwest::get(server).await.unwrap_err();
        assert_eq!(
            unreachable(&fail(error), server),
            Some(Problem::Unreachable {
                server: "vitrine-hq.invalid:8080".into(),
                cause: Unreachable::NameNotFound,
            })
        );
    }

    #[test]
    fn certificate_errors_inside_io_errors_are_found() {
        // How rustls's verdict reaches reqwest: an I/O error (kind `Other`) wrapping the TLS
        // stream's (kind `InvalidData`) wrapping rustls's own.
        let wrapped = |error: rustls::CertificateError| {
            std::io::Error::other(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(error),
            ))
        };
        assert_eq!(
            cause_in(&wrapped(rustls::CertificateError::UnknownIssuer)),
            Unreachable::CertificateNotTrusted
        );
        assert_eq!(
            cause_in(&wrapped(rustls::CertificateError::Expired)),
            Unreachable::CertificateOutOfDate
        );
        assert_eq!(
            cause_in(&std::io::Error::other("something else")),
            Unreachable::Other
        );
    }

    #[test]
    fn an_answer_from_the_server_is_not_a_failure_to_reach_it() {
        let error = anyhow::anyhow!("the scheduler refused the heartbeat (500)");
        assert_eq!(unreachable(&error, "http://hq.example"), None);
    }

    #[test]
    fn a_problem_shows_only_once_it_has_lasted_the_delay() {
        let mut persistence = Persistence::default();
        let start = Instant::now();
        let problem = Problem::NoPlaylist;
        let (shown, wait) = persistence.observe(Some(problem.clone()), start);
        assert_eq!((shown, wait), (None, Some(NOT_PLAYING_DELAY)));
        // Another problem does not restart the wait: the screen has had nothing all along.
        let (shown, _) =
            persistence.observe(Some(Problem::TokenRefused), start + NOT_PLAYING_DELAY / 2);
        assert_eq!(shown, None);
        let (shown, wait) =
            persistence.observe(Some(Problem::TokenRefused), start + NOT_PLAYING_DELAY);
        assert_eq!((shown, wait), (Some(Problem::TokenRefused), None));
        // Once it clears, a new problem waits again.
        assert_eq!(
            persistence.observe(None, start + NOT_PLAYING_DELAY * 2),
            (None, None)
        );
        let (shown, _) = persistence.observe(Some(problem), start + NOT_PLAYING_DELAY * 3);
        assert_eq!(shown, None);
    }
}
