//! End-to-end throughput of the OPA-compatible APIs over real TCP against a real Postgres:
//! `POST /logs` events/s (gzip batches from concurrent posters, every event checked in the table
//! afterwards) and `GET /bundles/{persona}` 304s/s with `If-None-Match`.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/regent_dev \
//!   cargo bench -p regent-control-plane --bench ingest
//! ```
//! It creates a scratch database on DATABASE_URL's server, migrates it and drops it at the end.
//! Knobs (environment): `BENCH_EVENTS` (200000), `BENCH_BATCH` (500), `BENCH_POSTERS` (8),
//! `BENCH_304_SECONDS` (5), `BENCH_304_CLIENTS` (16), `BENCH_SETUP_SQL` (SQL run after migrating,
//! to measure a schema variant), `BENCH_WRITERS` (`limits.ingest_writers`; default half the pool),
//! `BENCH_IDS` (`v4`, OPA's random decision ids, or `v7`, regent-agent's time-ordered ones).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use chrono::Utc;
use flate2::Compression;
use flate2::write::GzEncoder;
use regent_bundle::{KeyAlgorithm, SigningKey};
use regent_control_plane::app::{self, AppState};
use regent_control_plane::auth::{Role, generate_token};
use regent_control_plane::config::Config;
use regent_control_plane::keyring::KeyRing;
use regent_control_plane::services;
use regent_control_plane::store::Store;
use serde_json::json;

mod support;
use support::knob;

fn main() -> Result<()> {
    support::on_scratch_db("regent_bench", |url| async move { bench(&url).await })
}

async fn bench(url: &str) -> Result<()> {
    let mut config = Config::default();
    if let Ok(writers) = std::env::var("BENCH_WRITERS") {
        config.limits.ingest_writers = Some(writers.parse().context("BENCH_WRITERS")?);
    }
    let store = Store::connect(url, config.database_max_connections).await?;
    store.migrate().await?;
    // Lets a schema variant be measured without a migration, e.g.
    // `BENCH_SETUP_SQL='ALTER TABLE decision_logs ALTER COLUMN event TYPE json'`.
    if let Ok(setup) = std::env::var("BENCH_SETUP_SQL") {
        sqlx::raw_sql(sqlx::AssertSqlSafe(setup.clone()))
            .execute(&store.pool)
            .await
            .with_context(|| format!("BENCH_SETUP_SQL `{setup}`"))?;
        println!("setup: {setup}");
    }
    let keys = KeyRing::new(
        SigningKey::generate("bench", KeyAlgorithm::Es256)?,
        Vec::new(),
    )?;
    let state = AppState::new(config, store.clone(), keys);
    services::bundles::spawn(state.clone());
    services::ingest::spawn(state.clone());
    state.bundles.until_listening().await;
    let persona = "hr-bot";
    store.ensure_persona(persona).await?;
    let token = generate_token();
    store
        .create_token(&token, "bench-agent", Role::Agent, Some(persona), "bench")
        .await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = app::router(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;

    ingest(&client, addr, &token, &store).await?;
    not_modified(&client, addr, &token, &store, persona).await?;
    store.pool.close().await;
    Ok(())
}

/// One realistic agent decision (~1 KiB of JSON, like the protocol fixture's first event).
/// Reasons as a persona's rules write them: a few allow reasons, ten deny reasons, and one deny
/// in five naming a ticket (so the run also stores new distinct reasons texts all the time).
const ALLOW_REASONS: [(&str, &str); 3] = [
    ("own_record", "employees may see their whole own record"),
    (
        "directory_fields_only",
        "only directory fields were requested; they are visible to every employee",
    ),
    (
        "hr_admin_same_org",
        "hr_admin of org emea may see personal data of employees in that org",
    ),
];
const DENY_REASONS: [(&str, &str); 10] = [
    (
        "salary_requires_hr_admin",
        "reading salary needs the hr_admin role",
    ),
    (
        "outside_business_hours",
        "requests outside 08:00-18:00 are refused",
    ),
    (
        "approval_required",
        "this action needs an approval from a manager",
    ),
    (
        "secret_scope_denied",
        "the secret is outside the agent's scope",
    ),
    (
        "bulk_export_blocked",
        "bulk exports over 1000 rows are blocked",
    ),
    ("production_deploy_frozen", "production deploys are frozen"),
    ("pii_not_allowed", "PII fields cannot leave the HR system"),
    (
        "tool_not_granted",
        "the tool is not in this persona's allow-list",
    ),
    ("rate_limited", "too many calls in one minute"),
    ("mfa_required", "step-up MFA is required"),
];

/// A decision id as OPA makes them (random, v4: the default) or as `regent-agent` does
/// (time-ordered, v7: `BENCH_IDS=v7`). Random ids land all over the primary key's B-tree.
fn decision_id() -> uuid::Uuid {
    static V7: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *V7.get_or_init(|| std::env::var("BENCH_IDS").is_ok_and(|v| v == "v7")) {
        uuid::Uuid::now_v7()
    } else {
        uuid::Uuid::new_v4()
    }
}

fn event(n: usize) -> serde_json::Value {
    let allow = !n.is_multiple_of(3);
    let (code, message) = if allow {
        let (code, message) = ALLOW_REASONS[n % ALLOW_REASONS.len()];
        (code, message.to_owned())
    } else {
        let (code, message) = DENY_REASONS[(n / 3) % DENY_REASONS.len()];
        if n.is_multiple_of(5) {
            (
                code,
                format!("{message} (ticket INC-{:05})", (n * 7919) % 100_000),
            )
        } else {
            (code, message.to_owned())
        }
    };
    json!({
        "labels": {"id": "hr-bot-7f9c", "version": "regent-agent/0.1.0"},
        "decision_id": decision_id().to_string(),
        "bundles": {"hr-bot": {"revision": "hr-bot-42"}},
        "path": "regent/hr_bot/decision",
        "input": {
            "agent": {"id": "hr-bot-7f9c", "persona": "hr-bot", "labels": {"env": "prod"}},
            "user": {"id": format!("u-{}", n % 5000), "roles": ["employee"], "attributes": {"org": "emea"}},
            "action": {
                "kind": "tool_call",
                "tool": {"name": "hr.get_employee_record", "server": "hris-mcp", "args": {"employee_id": format!("e-{n}")}},
                "resource": {"type": "employee_record", "id": format!("e-{n}"), "fields": ["name", "salary"]}
            },
            "context": {"time": Utc::now().to_rfc3339(), "session_id": format!("s-{}", n % 997), "approvals": []}
        },
        "result": {
            "allow": allow,
            "reasons": [{"code": code, "message": message}],
            "obligations": []
        },
        "timestamp": Utc::now().to_rfc3339(),
        "metrics": {"timer_rego_query_eval_ns": 101232},
        "allow": allow,
        "revision_sequence": 42
    })
}

async fn ingest(
    client: &reqwest::Client,
    addr: SocketAddr,
    token: &str,
    store: &Store,
) -> Result<()> {
    let total = knob("BENCH_EVENTS", 200_000);
    let batch = knob("BENCH_BATCH", 500).max(1);
    let posters = knob("BENCH_POSTERS", 8).max(1);
    // Bodies are built before the clock starts: the figure is the server's, not the client's.
    let mut bodies = Vec::new();
    let mut raw_bytes = 0;
    for start in (0..total).step_by(batch) {
        let events: Vec<_> = (start..(start + batch).min(total)).map(event).collect();
        let json = serde_json::to_vec(&events)?;
        raw_bytes += json.len();
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&json)?;
        bodies.push(gz.finish()?);
    }
    let gz_bytes: usize = bodies.iter().map(Vec::len).sum();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let stored = Arc::new(AtomicU64::new(0));
    let throttled = Arc::new(AtomicU64::new(0));
    let url = format!("http://{addr}/logs");
    println!("ingest: {} batches built; posting", bodies.len());
    let cpu_before = CpuTimes::read();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..posters {
        let (client, url, token) = (client.clone(), url.clone(), token.to_owned());
        let (bodies, next, stored, throttled) = (
            bodies.clone(),
            next.clone(),
            stored.clone(),
            throttled.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                loop {
                    let response = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .header("content-encoding", "gzip")
                        .body(body.clone())
                        .send()
                        .await?;
                    if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                        throttled.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    if !response.status().is_success() {
                        bail!(
                            "POST /logs: {} {}",
                            response.status(),
                            response.text().await?
                        );
                    }
                    let report: serde_json::Value = response.json().await?;
                    stored.fetch_add(report["stored"].as_u64().unwrap_or(0), Ordering::Relaxed);
                    break;
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let cpu = CpuTimes::read().and_then(|now| now.since(&cpu_before));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM decision_logs")
        .fetch_one(&store.pool)
        .await?;
    // Every event has its own decision id: distinct ids = events kept, none merged or lost.
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT decision_id) FROM decision_logs")
        .fetch_one(&store.pool)
        .await?;
    let acknowledged = stored.load(Ordering::Relaxed);
    println!(
        "ingest: {total} events in {} batches of {batch} from {posters} posters, {:.1} MiB JSON / {:.1} MiB gzip",
        bodies.len(),
        raw_bytes as f64 / 1048576.0,
        gz_bytes as f64 / 1048576.0
    );
    println!(
        "ingest: {:.2} s → {:.0} events/s ({:.0} batches/s), {} throttled (429) retries",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        bodies.len() as f64 / elapsed.as_secs_f64(),
        throttled.load(Ordering::Relaxed)
    );
    println!(
        "ingest: rows in decision_logs = {rows}, distinct decision_ids = {distinct}, acknowledged as stored = {acknowledged}, sent = {total}"
    );
    if let Some(cpu) = cpu {
        let per_event = |seconds: f64| seconds * 1e6 / total as f64;
        println!(
            "ingest: CPU per event {:.1} µs on the whole machine ({:.0} % of {} cores busy): Postgres {:.1} µs, this process (server + load generator) {:.1} µs",
            per_event(cpu.busy),
            100.0 * cpu.busy / (cpu.busy + cpu.idle),
            cpu.cores,
            per_event(cpu.postgres),
            per_event(cpu.this_process)
        );
    }
    if rows != total as i64 || distinct != total as i64 || acknowledged != total as u64 {
        bail!("lost events: sent {total}, stored {rows}, acknowledged {acknowledged}");
    }
    println!("ingest: 0 lost");
    Ok(())
}

async fn not_modified(
    client: &reqwest::Client,
    addr: SocketAddr,
    token: &str,
    store: &Store,
    persona: &str,
) -> Result<()> {
    let seconds = knob("BENCH_304_SECONDS", 5) as u64;
    let clients = knob("BENCH_304_CLIENTS", 16).max(1);
    let (etag, _) = support::store_on_prod(store, persona, 1, b"a bundle").await?;

    let url = format!("http://{addr}/bundles/{persona}");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, token, etag, count) = (
            client.clone(),
            url.clone(),
            token.to_owned(),
            etag.clone(),
            count.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let response = client
                    .get(&url)
                    .bearer_auth(&token)
                    .header("if-none-match", &etag)
                    .send()
                    .await?;
                if response.status() != reqwest::StatusCode::NOT_MODIFIED {
                    bail!("GET /bundles: expected 304, got {}", response.status());
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed);
    println!(
        "bundles: {n} × 304 in {elapsed:.2} s from {clients} clients → {:.0} responses/s",
        n as f64 / elapsed
    );
    Ok(())
}

/// CPU seconds spent so far, from `/proc` (Linux): the machine's busy and idle time, this
/// process's, and that of every process named `postgres` (backends that exit in between are
/// missed; the pool's connections live through the run).
struct CpuTimes {
    busy: f64,
    idle: f64,
    cores: usize,
    this_process: f64,
    postgres: f64,
}

impl CpuTimes {
    fn read() -> Option<CpuTimes> {
        let tick = 100.0; // USER_HZ on Linux
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let total: Vec<f64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let idle = (total.get(3)? + total.get(4)?) / tick;
        let busy = total.iter().take(8).sum::<f64>() / tick - idle;
        let cores = stat
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .count();
        let process_seconds = |stat: &str| -> Option<f64> {
            // Fields after the `(comm)`: state is 3rd; utime and stime are 14th and 15th.
            let after = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = after.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / tick)
        };
        let this_process = process_seconds(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        let mut postgres = 0.0;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let path = entry.path();
            let is_pid = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            if !is_pid {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
                continue;
            };
            if stat.contains("(postgres)") {
                postgres += process_seconds(&stat).unwrap_or(0.0);
            }
        }
        Some(CpuTimes {
            busy,
            idle,
            cores,
            this_process,
            postgres,
        })
    }

    fn since(self, before: &Option<CpuTimes>) -> Option<CpuTimes> {
        let before = before.as_ref()?;
        Some(CpuTimes {
            busy: self.busy - before.busy,
            idle: self.idle - before.idle,
            cores: self.cores,
            this_process: self.this_process - before.this_process,
            postgres: self.postgres - before.postgres,
        })
    }
}
