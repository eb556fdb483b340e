//! The figures of the scheduler past one machine: two release-built replicas on one private
//! PostgreSQL server (`crate::postgres`), sharing a data folder (the signing key and media) as
//! docs/scale.md sets them up.
//!
//! - manifest requests/s under wrk through nginx balancing the two replicas, against nginx serving
//!   the same bytes as a static file, A B interleaved, rate limits as shipped (the `net` figure's
//!   method, with the load balancer a deployment puts in front);
//! - impression ingest/s over HTTP in batches of 1000 into PostgreSQL, against a raw `COPY` of the
//!   same rows into the same schema (its own copy of it), one transaction per batch;
//! - push propagation p50/p99 to 10,000 simulated players spread over both replicas, published
//!   through the first, against the 1 s limit: a player on the second hears it through
//!   `LISTEN`/`NOTIFY`.
//!
//! Everything runs on this one machine: PostgreSQL, both replicas, nginx, wrk and the simulated
//! players share its cores, which a real deployment spreads over several.

use std::path::Path;

use super::net::{
    Guard, Nginx, manifest_against_nginx, push_figures, run_net_bench, start_scheduler,
};
use super::{Figure, ROUNDS, median, numbers};
use crate::{cargo, postgres, run_command};

const INGEST_BATCHES_PER_ROUND: usize = 20;
/// How many screens' tokens wrk rotates through. Every request reaches the replicas from the
/// balancer's one address, and each replica looks every token up for its own cache, charged to
/// that address (bursts of 1000 lookups): over 1000 screens the first round was answered 429 a
/// few thousand times. At the rates two replicas serve here, 500 tokens also stay within their
/// own limit (each request charged once per replica alive).
const MANIFEST_SCREENS: usize = 500;
/// Simulated players, rounds, and how long a round may take (players still waiting then count as
/// the whole wait, a lower bound).
const PUSH_CLIENTS: usize = 10_000;
const PUSH_ROUNDS: usize = 3;
const PUSH_ROUND_TIMEOUT_S: u64 = 60;

pub fn figures(target: &Path) -> anyhow::Result<Vec<Figure>> {
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "vitrine-scheduler",
        "--bin",
        "vitrine-scheduler",
        "--example",
        "net_bench",
    ]))?;
    let scheduler_binary = target.join("release/vitrine-scheduler");
    let net_bench = target.join("release/examples/net_bench");
    let scratch = target.join("bench/scale");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(scratch.join("proxy/logs"))?;
    let server = postgres::Server::start(
        &std::env::temp_dir().join(format!("vitrine-bench-postgres-{}", std::process::id())),
    )?;
    let bench = |server: &str, arguments: &[&str]| run_net_bench(&net_bench, server, arguments);

    eprintln!("xtask bench: two release schedulers on PostgreSQL, rate limits as shipped");
    let hq = scratch.join("hq");
    let replicas = start_replicas(&scheduler_binary, &hq, &server.url, &[])?;
    let first = replicas[0].1.clone();
    let upstreams: Vec<String> = replicas
        .iter()
        .map(|(_, url)| url.trim_start_matches("http://").to_owned())
        .collect();
    let balancer = Nginx::start_proxy(&scratch.join("proxy"), &upstreams)?;
    eprintln!("xtask bench: manifests through nginx balancing the two replicas");
    let (ours_rps, nginx_rps) = manifest_against_nginx(
        &net_bench,
        &first,
        &balancer.url,
        &scratch,
        MANIFEST_SCREENS,
    )?;
    drop(balancer);

    eprintln!("xtask bench: impression ingest on PostgreSQL against COPY");
    let ingest = bench(
        &first,
        &[
            "ingest",
            "--batches",
            &INGEST_BATCHES_PER_ROUND.to_string(),
            "--rounds",
            &ROUNDS.to_string(),
            "--postgres",
            &server.url,
        ],
    )?;
    let http_ingest = median(&numbers(&ingest, "http_per_s")?);
    let copy_ingest = median(&numbers(&ingest, "copy_per_s")?);
    drop(replicas);

    eprintln!("xtask bench: two release schedulers without rate limits for the push");
    let replicas = start_replicas(
        &scheduler_binary,
        &hq,
        &server.url,
        &["--rate-limit-per-second", "0"],
    )?;
    let servers: Vec<&str> = replicas.iter().map(|(_, url)| url.as_str()).collect();
    let output = bench(
        servers[0],
        &[
            "push",
            "--clients",
            &PUSH_CLIENTS.to_string(),
            "--rounds",
            &PUSH_ROUNDS.to_string(),
            "--round-timeout-s",
            &PUSH_ROUND_TIMEOUT_S.to_string(),
            "--player-servers",
            &servers.join(","),
        ],
    )?;
    let [push_p50, push_p99] = push_figures(
        &output,
        "pg_push_p50_10000_simulated_players_2_replicas",
        "pg_push_p99_10000_simulated_players_2_replicas",
    )?;
    drop(replicas);
    drop(server);

    Ok(vec![
        Figure {
            name: "pg_manifest_requests_per_s_2_replicas",
            unit: "req/s",
            ours: ours_rps,
            peer: nginx_rps,
            peer_name: "nginx, same bytes as a static file; ours through nginx over 2 replicas on \
                        PostgreSQL, one machine (wrk -t2 -c64)",
            goal: "ratio >= 0.8".into(),
            pass: ours_rps >= 0.8 * nginx_rps,
        },
        Figure {
            name: "pg_impression_ingest_per_s_batches_of_1000",
            unit: "rows/s",
            ours: http_ingest,
            peer: copy_ingest,
            peer_name: "raw COPY of the same rows into the same schema, one transaction per batch",
            goal: "ratio >= 0.5".into(),
            pass: http_ingest >= 0.5 * copy_ingest,
        },
        push_p50,
        push_p99,
    ])
}

/// Two schedulers on the database at `database` sharing the data folder `hq`, the second started
/// once the first has migrated the schema; each killed when dropped, with its URL.
fn start_replicas(
    binary: &Path,
    hq: &Path,
    database: &str,
    extra: &[&str],
) -> anyhow::Result<Vec<(Guard, String)>> {
    let mut arguments = vec!["--database", database];
    arguments.extend_from_slice(extra);
    let mut replicas = Vec::new();
    for _ in 0..2 {
        replicas.push(start_scheduler(binary, hq, &arguments)?);
    }
    Ok(replicas)
}
