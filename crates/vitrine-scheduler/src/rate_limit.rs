//! Rate limits, through tower_governor: every request is counted against its bearer token (by the
//! token's sha256, so a token never sits in memory longer than the request), or against its
//! address when it carries none. Pairing requests, which anyone may send, have a much tighter limit
//! of their own per address. A refused request gets 429 with `Retry-After` and a JSON error.
//!
//! The defaults are generous: a player makes a request every few seconds at most, and a CLI push of
//! a few hundred files fits in one burst, so only a runaway client or an attacker meets them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use governor::middleware::NoOpMiddleware;
use sha2::{Digest, Sha256};
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;

use crate::error::ApiError;

/// How fast callers may go. Zero requests per second switches a limit off.
#[derive(Clone, Debug)]
pub struct RateLimits {
    /// Sustained requests per second per token (or per address without one).
    pub per_second: u32,
    /// How many requests a token may send at once before the sustained rate applies.
    pub burst: u32,
    /// New pairing codes per minute per address (`POST /v1/pairings`).
    pub pairings_per_minute: u32,
    /// How many pairing codes an address may ask for at once.
    pub pairings_burst: u32,
    /// Take the client's address from the last `X-Forwarded-For` entry, which a reverse proxy in
    /// front of the scheduler appends. Only safe when every request comes through that proxy.
    pub trust_forwarded_for: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_second: 50,
            burst: 1000,
            pairings_per_minute: 6,
            pairings_burst: 10,
            trust_forwarded_for: false,
        }
    }
}

/// What a request is counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RateKey {
    Token([u8; 32]),
    Address(IpAddr),
    /// No token and no known address (requests driven in-process by tests).
    Unknown,
}

/// The key extractor: the bearer token's hash, else the client's address.
#[derive(Clone, Debug)]
pub struct TokenOrAddress {
    /// Count pairing-style requests by address even when they carry a bearer value.
    by_address_only: bool,
    trust_forwarded_for: bool,
}

impl KeyExtractor for TokenOrAddress {
    type Key = RateKey;

    fn extract<T>(&self, request: &Request<T>) -> Result<RateKey, GovernorError> {
        if !self.by_address_only
            && let Some(token) = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split_once(' '))
                .map(|(_, token)| token.trim())
                .filter(|token| !token.is_empty())
        {
            return Ok(RateKey::Token(Sha256::digest(token.as_bytes()).into()));
        }
        if self.trust_forwarded_for
            && let Some(address) = request
                .headers()
                .get("x-forwarded-for")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.rsplit(',').next())
                .and_then(|last| last.trim().parse::<IpAddr>().ok())
        {
            return Ok(RateKey::Address(address));
        }
        Ok(request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(RateKey::Unknown, |ConnectInfo(address)| {
                RateKey::Address(address.ip())
            }))
    }
}

pub type Limiter = Arc<GovernorConfig<TokenOrAddress, NoOpMiddleware>>;

/// The limiters a scheduler uses for its whole life; shared by every router built from one state.
pub struct Limiters {
    pub general: Option<Limiter>,
    pub pairing: Option<Limiter>,
}

impl Limiters {
    pub fn new(limits: &RateLimits) -> Self {
        let general = (limits.per_second > 0).then(|| {
            build(
                TokenOrAddress {
                    by_address_only: false,
                    trust_forwarded_for: limits.trust_forwarded_for,
                },
                Duration::from_secs_f64(1.0 / f64::from(limits.per_second)),
                limits.burst,
            )
        });
        let pairing = (limits.pairings_per_minute > 0).then(|| {
            build(
                TokenOrAddress {
                    by_address_only: true,
                    trust_forwarded_for: limits.trust_forwarded_for,
                },
                Duration::from_secs_f64(60.0 / f64::from(limits.pairings_per_minute)),
                limits.pairings_burst,
            )
        });
        Self { general, pairing }
    }

    /// Forgets callers who have not been seen for a while, so the tables stay small.
    pub fn forget_idle(&self) {
        for limiter in self.general.iter().chain(&self.pairing) {
            limiter.limiter().retain_recent();
        }
    }
}

fn build(extractor: TokenOrAddress, period: Duration, burst: u32) -> Limiter {
    let config = GovernorConfigBuilder::default()
        .key_extractor(extractor)
        .period(period.max(Duration::from_nanos(1)))
        .burst_size(burst.max(1))
        .finish()
        .expect("a period and burst above zero make a valid quota");
    Arc::new(config)
}

/// The 429 (or, should a key ever fail to extract, 500) in the API's JSON error shape.
pub fn refusal(error: GovernorError) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            let wait = wait_time.max(1);
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many requests from this token (or address); wait {wait} s. The limits \
                     are set on the scheduler with --rate-limit-per-second and --rate-limit-burst"
                ),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            response
        }
        other => ApiError::internal("rate limiting", other).into_response(),
    }
}
