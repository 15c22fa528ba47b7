//! Rollout → convergence for a fleet of long-polling agents: `BENCH_AGENTS` (1,000) simulated
//! agents long-poll one control plane (`GET /bundles/{persona}?agent=<id>` with `If-None-Match`
//! and `Prefer: wait=30`, as `regent-agent` and OPA do) over real TCP against a real Postgres;
//! then the channel moves to a new revision (the transaction a push or promote commits, with
//! its `pg_notify`), and every agent's time from that commit to having the new bundle's bytes
//! is recorded. Repeated `BENCH_ROUNDS` (5) times; p50/p90/p99/max per round and overall.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/regent_dev \
//!   cargo bench -p regent-control-plane --bench fleet
//! ```
//! It creates a scratch database on DATABASE_URL's server, migrates it and drops it at the end.
//! Knobs: `BENCH_AGENTS` (1000), `BENCH_ROUNDS` (5), `BENCH_BUNDLE_KIB` (40: size of each
//! revision's bundle, about the shipped personas' compressed size), `BENCH_WAIT` (30).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use rand::RngCore as _;
use regent_bundle::{KeyAlgorithm, SigningKey};
use regent_control_plane::app::{self, AppState};
use regent_control_plane::auth::{Role, generate_token};
use regent_control_plane::config::Config;
use regent_control_plane::keyring::KeyRing;
use regent_control_plane::services;
use regent_control_plane::store::Store;
use tokio::sync::{Mutex, watch};

const PERSONA: &str = "hr-bot";

mod support;
use support::knob;

fn main() -> Result<()> {
    support::on_scratch_db("regent_bench_fleet", |url| async move { bench(&url).await })
}

/// Each agent holds one connection, the server one per agent: check the descriptor limit
/// first (no `unsafe` here to raise it; `ulimit -n` does).
fn check_fd_limit(agents: usize) -> Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(soft) = soft
        && soft < 2 * agents + 200
    {
        bail!(
            "open-file limit {soft} is too low for {agents} agents (client and server sockets): run `ulimit -n {}` first",
            2 * agents + 200
        );
    }
    Ok(())
}

async fn bench(url: &str) -> Result<()> {
    let agents = knob("BENCH_AGENTS", 1000).max(1);
    let rounds = knob("BENCH_ROUNDS", 5).max(1);
    let bundle_bytes = knob("BENCH_BUNDLE_KIB", 40) * 1024;
    let wait = knob("BENCH_WAIT", 30);
    check_fd_limit(agents)?;

    let config = Config::default();
    let store = Store::connect(url, config.database_max_connections).await?;
    store.migrate().await?;
    let keys = KeyRing::new(
        SigningKey::generate("bench", KeyAlgorithm::Es256)?,
        Vec::new(),
    )?;
    let state = AppState::new(config, store.clone(), keys);
    services::bundles::spawn(state.clone());
    state.bundles.until_listening().await;
    store.ensure_persona(PERSONA).await?;
    let token = generate_token();
    store
        .create_token(&token, "bench-agents", Role::Agent, Some(PERSONA), "bench")
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = app::router(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut etag = publish(&store, 1, bundle_bytes).await?;
    println!(
        "fleet: {agents} agents long-polling {PERSONA} (wait={wait}s, bundle {} KiB) on {addr}",
        bundle_bytes / 1024
    );
    // One client, one connection per agent (a parked long poll holds its connection).
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(wait as u64 + 30))
        .build()?;
    let arrivals: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..agents {
        tasks.push(tokio::spawn(agent(
            client.clone(),
            format!("http://{addr}/bundles/{PERSONA}?agent=bench-agent-{i:04}"),
            token.clone(),
            etag.clone(),
            wait,
            arrivals.clone(),
            errors.clone(),
            stop_rx.clone(),
        )));
    }

    let metrics_url = format!("http://{addr}/metrics");
    let mut all = Vec::new();
    for round in 1..=rounds {
        // Every agent parked on the server before the move, as in a fleet at rest.
        wait_parked(&client, &metrics_url, agents).await?;
        arrivals.lock().await.clear();
        let sequence = round as i64 + 1;
        let (next_etag, moved) = publish_timed(&store, sequence, bundle_bytes).await?;
        let deadline = moved + Duration::from_secs(30);
        loop {
            let n = arrivals
                .lock()
                .await
                .iter()
                .filter(|(s, _)| *s == sequence as u64)
                .count();
            if n >= agents {
                break;
            }
            if Instant::now() > deadline {
                bail!("round {round}: only {n} of {agents} agents converged within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut latencies: Vec<Duration> = arrivals
            .lock()
            .await
            .iter()
            .map(|(_, at)| at.saturating_duration_since(moved))
            .collect();
        latencies.sort();
        println!("round {round}: {}", summary(&latencies));
        all.extend(latencies);
        etag = next_etag;
    }
    all.sort();
    println!(
        "fleet: {rounds} rounds × {agents} agents: {} (errors {}; last etag {etag})",
        summary(&all),
        errors.load(Ordering::Relaxed)
    );
    let _ = stop_tx.send(true);
    for task in tasks {
        task.abort();
    }
    store.pool.close().await;
    Ok(())
}

fn summary(sorted: &[Duration]) -> String {
    let at = |q: f64| {
        let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[i].as_secs_f64() * 1000.0
    };
    format!(
        "n={} p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        sorted.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

/// One simulated agent: long-polls with its current ETag; on a 200 records when it got the
/// whole body (tagged with the revision's sequence) and polls on with the new ETag.
#[allow(clippy::too_many_arguments)]
async fn agent(
    client: reqwest::Client,
    url: String,
    token: String,
    mut etag: String,
    wait: usize,
    arrivals: Arc<Mutex<Vec<(u64, Instant)>>>,
    errors: Arc<AtomicU64>,
    stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let response = client
            .get(&url)
            .bearer_auth(&token)
            .header("if-none-match", &etag)
            .header("prefer", format!("modes=snapshot;wait={wait}"))
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match response.status() {
            reqwest::StatusCode::NOT_MODIFIED => {}
            reqwest::StatusCode::OK => {
                let new_etag = response
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let revision = response
                    .headers()
                    .get("x-regent-revision")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|r| r.rsplit_once('-'))
                    .and_then(|(_, seq)| seq.parse::<u64>().ok())
                    .unwrap_or(0);
                if response.bytes().await.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                arrivals.lock().await.push((revision, Instant::now()));
                etag = new_etag;
            }
            _ => {
                errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Waits until the server counts `agents` long polls in flight.
async fn wait_parked(client: &reqwest::Client, metrics_url: &str, agents: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = client.get(metrics_url).send().await?.text().await?;
        let parked = text
            .lines()
            .find_map(|l| l.strip_prefix("regent_bundle_long_polls_in_flight "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as usize;
        if parked >= agents {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {parked} of {agents} agents parked within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn publish(store: &Store, sequence: i64, size: usize) -> Result<String> {
    Ok(publish_timed(store, sequence, size).await?.0)
}

/// A new revision of `size` random bytes on `prod`; see `support::store_on_prod`.
async fn publish_timed(store: &Store, sequence: i64, size: usize) -> Result<(String, Instant)> {
    let mut bytes = vec![0u8; size];
    rand::rng().fill_bytes(&mut bytes);
    support::store_on_prod(store, PERSONA, sequence, &bytes).await
}
