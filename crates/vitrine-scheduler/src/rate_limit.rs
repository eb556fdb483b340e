//! Rate limits. Every request is counted against its caller once the caller is known to be valid
//! (the admin, a staff member or a screen, by the sha256 of its token, so a token never sits in
//! memory longer than the request); requests with no token, or a token nobody was given, are
//! counted against the client's address, so random tokens cannot each open a bucket of their own.
//! A token not yet in the caller caches also costs its address one request, since looking it up
//! costs a database read (a token the caches knew, whose entry only aged out, does not). Pairing
//! requests, which anyone may send, have a much tighter limit of their own per address. A refused
//! request gets 429 with `Retry-After` and a JSON error.
//!
//! The defaults are generous: a player makes a request every few seconds at most, and a CLI push of
//! a few hundred files fits in one burst, so only a runaway client or an attacker meets them.
//!
//! Replicas behind a balancer share each limit: every scheduler counts how many are alive (see
//! [`crate::storage::replicas`]) and charges each request that many times against its own buckets,
//! so N replicas together allow the configured rate, not N times it, when the balancer spreads a
//! caller's requests over them (round robin, least connections). The lookup of a token not yet
//! cached is charged to its address once per replica, since each replica looks it up for itself.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::auth::{Caller, ResolvedCaller, TokenOwner};
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
    /// A valid token: the admin's, a staff member's or a screen's.
    Token([u8; 32]),
    Address(IpAddr),
    /// No token and no known address (requests driven in-process by tests).
    Unknown,
}

/// The client's address: the last `X-Forwarded-For` entry when a trusted proxy appends it, else
/// the TCP peer. None for requests driven in-process.
pub fn client_address(
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    if trust_forwarded_for
        && let Some(address) = headers
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next())
            .and_then(|last| last.trim().parse::<IpAddr>().ok())
    {
        return Some(address);
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

fn address_key(address: Option<IpAddr>) -> RateKey {
    address.map_or(RateKey::Unknown, RateKey::Address)
}

/// A limiter of requests per key.
type KeyedLimiter = DefaultKeyedRateLimiter<RateKey>;

/// The limiters a scheduler uses for its whole life; shared by every router built from one state.
pub struct Limiters {
    /// Every request, per valid caller or per address.
    pub general: Option<Arc<KeyedLimiter>>,
    /// New pairing codes, per address.
    pub pairing: Option<Arc<KeyedLimiter>>,
    pub trust_forwarded_for: bool,
    /// How many schedulers share the limits, this one included: what each request costs here.
    replicas: AtomicU32,
}

impl Limiters {
    pub fn new(limits: &RateLimits) -> Self {
        let keyed = |period: Duration, burst: u32| {
            let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
                .expect("a period above zero makes a quota")
                .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least one"));
            Arc::new(KeyedLimiter::keyed(quota))
        };
        Self {
            general: (limits.per_second > 0).then(|| {
                keyed(
                    Duration::from_secs_f64(1.0 / f64::from(limits.per_second)),
                    limits.burst,
                )
            }),
            pairing: (limits.pairings_per_minute > 0).then(|| {
                keyed(
                    Duration::from_secs_f64(60.0 / f64::from(limits.pairings_per_minute)),
                    limits.pairings_burst,
                )
            }),
            trust_forwarded_for: limits.trust_forwarded_for,
            replicas: AtomicU32::new(1),
        }
    }

    /// Says how many schedulers share the limits now (at least this one).
    pub fn set_replicas(&self, replicas: u32) {
        self.replicas.store(replicas.max(1), Ordering::Relaxed);
    }

    /// How many schedulers share the limits, as last set.
    pub fn replicas(&self) -> u32 {
        self.replicas.load(Ordering::Relaxed)
    }

    /// Counts one request against `key` in `limiter`: as many cells as there are replicas, so
    /// that together they allow the configured rate, but never more than a full bucket holds.
    /// The error is the seconds to wait.
    fn check(&self, limiter: &KeyedLimiter, key: &RateKey) -> Result<(), u64> {
        self.charge(limiter, key, self.replicas())
    }

    /// Counts one token lookup against the address it came from, once: each replica looks a
    /// token up for its own cache, so N replicas really do N lookups of one token, and the
    /// screens behind one address (a store's, a mall's) must not run out of lookups N times as
    /// fast after every cache expiry.
    fn check_lookup(&self, limiter: &KeyedLimiter, address: &RateKey) -> Result<(), u64> {
        self.charge(limiter, address, 1)
    }

    /// Takes `cells` cells from `key`'s bucket (at most a full bucket); the error is the seconds
    /// to wait.
    fn charge(&self, limiter: &KeyedLimiter, key: &RateKey, cells: u32) -> Result<(), u64> {
        let cost = NonZeroU32::new(cells).unwrap_or(NonZeroU32::MIN);
        let outcome = match limiter.check_key_n(key, cost) {
            Ok(outcome) => outcome,
            // A bucket smaller than the replica count: each request then costs a full bucket.
            Err(governor::InsufficientCapacity(capacity)) => {
                let capacity = NonZeroU32::new(capacity).unwrap_or(NonZeroU32::MIN);
                limiter.check_key_n(key, capacity).unwrap_or(Ok(()))
            }
        };
        outcome.map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                + 1
        })
    }

    /// Forgets callers who have not been seen for a while, so the tables stay small.
    pub fn forget_idle(&self) {
        for limiter in [&self.general, &self.pairing].into_iter().flatten() {
            limiter.retain_recent();
        }
    }
}

/// How often a scheduler says it is alive and counts the schedulers sharing its limits.
pub const REPLICA_BEAT: Duration = Duration::from_secs(5);

/// Says this scheduler is alive and shares the limits among the schedulers that are (one on
/// SQLite); returns how many. The housekeeping does it every [`REPLICA_BEAT`].
pub async fn share_with_replicas(state: &AppState) -> Result<u32, ApiError> {
    let replicas = state
        .storage()
        .replicas_alive(jiff::Timestamp::now())
        .await?;
    let limiters = state.limiters();
    if limiters.replicas() != replicas {
        tracing::info!(
            replicas,
            "the rate limits are shared among this many schedulers"
        );
    }
    limiters.set_replicas(replicas);
    Ok(replicas)
}

/// The pairing limit, as middleware on `POST /v1/pairings`: anyone may ask for a code, so asking
/// is limited per address, far below other calls.
pub async fn limit_pairings(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let limiters = state.limiters().clone();
    let Some(pairing) = &limiters.pairing else {
        return next.run(request).await;
    };
    let address = address_key(client_address(
        request.headers(),
        request.extensions(),
        limiters.trust_forwarded_for,
    ));
    if let Err(wait) = limiters.check(pairing, &address) {
        state
            .metrics()
            .rate_limited(crate::metrics::RateLimit::Pairing);
        return too_many_requests(wait);
    }
    next.run(request).await
}

/// The general limit, as middleware: finds who is calling (through the caller caches, so a known
/// token costs no database read), and counts the request against that caller, or against the
/// address when the token is missing or nobody's.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response<Body> {
    let limiters = state.limiters().clone();
    let Some(general) = &limiters.general else {
        return next.run(request).await;
    };
    let address = address_key(client_address(
        request.headers(),
        request.extensions(),
        limiters.trust_forwarded_for,
    ));
    // The seconds to wait when `key` is over its limit.
    let check = |key: &RateKey| limiters.check(general, key);
    // The token is hashed once: its sha256 is the rate key, the admin check and the caches' key.
    let (key, caller) = match crate::auth::bearer_of(request.headers()) {
        None => (address, None),
        Some(token) => {
            let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            let key = RateKey::Token(digest);
            if crate::auth::is_admin_token_sha256(&digest, state.admin_token_sha256()) {
                (key, Some(Caller::Admin))
            } else {
                let token_sha256 = hex::encode(digest);
                if let Some(caller) = crate::auth::cached_caller(&state, &token_sha256) {
                    (key, Some(caller))
                } else {
                    // A lookup costs a database read: the address pays for it first, so a flood
                    // of made-up tokens is refused before it reaches the database. A token the
                    // caches knew as valid, whose entry only aged out, does not: otherwise every
                    // busy screen behind one address (a store's NAT) would charge it again, once
                    // per request in flight, each time its entry ages out.
                    if !crate::auth::known_caller(&state, &token_sha256)
                        && let Err(wait) = limiters.check_lookup(general, &address)
                    {
                        state
                            .metrics()
                            .rate_limited(crate::metrics::RateLimit::General);
                        return too_many_requests(wait);
                    }
                    match crate::auth::resolve_token(&state, &token_sha256).await {
                        Ok(TokenOwner::Screen(screen)) => (key, Some(Caller::Screen(screen))),
                        Ok(TokenOwner::Staff(staff)) => (key, Some(Caller::Staff(staff))),
                        // Revoked, unknown, or a database error the handler will report: the
                        // address has been counted already.
                        _ => return next.run(request).await,
                    }
                }
            }
        }
    };
    if let Err(wait) = check(&key) {
        state
            .metrics()
            .rate_limited(crate::metrics::RateLimit::General);
        return too_many_requests(wait);
    }
    let mut request = request;
    if let Some(caller) = caller {
        request.extensions_mut().insert(ResolvedCaller(caller));
    }
    next.run(request).await
}

fn too_many_requests(wait: u64) -> Response<Body> {
    let wait = wait.max(1);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn passing(limiters: &Limiters, requests: usize) -> usize {
        let general = limiters.general.as_ref().expect("a general limit");
        (0..requests)
            .filter(|_| limiters.check(general, &RateKey::Unknown).is_ok())
            .count()
    }

    #[test]
    fn each_replica_charges_a_request_once_per_replica_alive() {
        let limits = RateLimits {
            per_second: 1,
            burst: 12,
            ..RateLimits::default()
        };
        let alone = Limiters::new(&limits);
        assert_eq!(passing(&alone, 30), 12);

        let one_of_three = Limiters::new(&limits);
        one_of_three.set_replicas(3);
        assert_eq!(passing(&one_of_three, 30), 4, "a third of the burst here");
        // Token lookups are this replica's own work: charged once each.
        let lookups = Limiters::new(&limits);
        lookups.set_replicas(3);
        let general = lookups.general.as_ref().expect("a general limit");
        let looked_up = (0..30)
            .filter(|_| lookups.check_lookup(general, &RateKey::Unknown).is_ok())
            .count();
        assert_eq!(looked_up, 12);

        // More replicas than the bucket holds: a request takes the whole bucket, never none.
        let one_of_many = Limiters::new(&limits);
        one_of_many.set_replicas(40);
        assert_eq!(passing(&one_of_many, 30), 1);
        assert!(
            one_of_many
                .check(one_of_many.general.as_ref().unwrap(), &RateKey::Unknown)
                .is_err()
        );
    }
}
