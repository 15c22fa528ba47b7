//! Decision benchmarks (see `agent-client/BENCHMARKS.md` for figures and how to run them):
//! - criterion: `decide` per persona (one thread = one core), with and without the decision-log pipeline
//!   shipping to a local server, and the engine-reuse strategies;
//! - then a report printed to stdout: p50/p99 latency in steady state and during swaps, throughput of one agent
//!   shared by 1 and by N deciding threads, cold start to first
//!   decision (library and sidecar process), and the sidecar's VmRSS with the three personas loaded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_debug_implementations
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::fake::{Answer, FakeServer};
use common::{PERSONAS, bundles_dir, config, key, marker_bundle, persona_bundle};
use criterion::{Criterion, Throughput};
use regent_agent::{Agent, EngineReuse, shutdown};
use regent_bundle::{SigningKey, cases};
use regent_protocol::AgentActionV1;

/// The sidecar's allocator (`src/bin/regent-agent.rs`), so that the library figures are the sidecar's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A representative input per persona: its first case that is a valid agent-action and is allowed.
fn sample(persona: &str) -> AgentActionV1 {
    if persona == "tiny-bot" {
        return common::action("tiny-bot", "echo");
    }
    let file = cases::load(&bundles_dir().join(persona).join(cases::CASES_FILE)).unwrap();
    file.cases
        .iter()
        .filter(|c| c.expect.allow)
        .find_map(|c| AgentActionV1::from_value(c.input.clone()).ok())
        .unwrap()
}

/// Every case of the persona's `cases.yaml` that is a valid agent action, allowed and denied, in file order
/// (the tiny persona: its one sample). Decisions over these are the persona's mixed workload.
fn case_inputs(persona: &str) -> Vec<AgentActionV1> {
    if persona == "tiny-bot" {
        return vec![sample(persona)];
    }
    let file = cases::load(&bundles_dir().join(persona).join(cases::CASES_FILE)).unwrap();
    file.cases
        .iter()
        .filter_map(|c| AgentActionV1::from_value(c.input.clone()).ok())
        .collect()
}

fn bundle(persona: &str, sequence: u64, key: &SigningKey) -> Vec<u8> {
    if persona == "tiny-bot" {
        marker_bundle("tiny-bot", sequence, &format!("m-{sequence}"), key)
    } else {
        persona_bundle(persona, sequence, key)
    }
}

const ALL: [&str; 4] = ["tiny-bot", "hr-bot", "it-bot", "dev-bot"];

fn agent(state: &std::path::Path, key: &SigningKey) -> Agent {
    let mut config = config(state, &[key], &ALL);
    config.evaluation.time_limit_seconds = 5.0;
    let agent = Agent::new(config).unwrap();
    for persona in ALL {
        agent.activate(persona, &bundle(persona, 1, key)).unwrap();
    }
    agent
}

fn bench_decide(c: &mut Criterion) {
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let agent = agent(state.path(), &key);
    let mut group = c.benchmark_group("decide");
    group.throughput(Throughput::Elements(1));
    for persona in ALL {
        let input = sample(persona);
        assert!(
            agent.decide(&input).allow,
            "{persona}: the sample must be allowed"
        );
        group.bench_function(persona, |b| {
            b.iter(|| black_box(agent.decide(black_box(&input))))
        });
    }
    group.finish();

    // The whole cases file, one decision per iteration in turn: the mean cost of the persona's mix.
    let mut group = c.benchmark_group("decide_cases");
    group.throughput(Throughput::Elements(1));
    for persona in PERSONAS {
        let inputs = case_inputs(persona);
        let allowed = inputs.iter().filter(|i| agent.decide(i).allow).count();
        println!(
            "decide_cases/{persona}: {} inputs, {allowed} allowed",
            inputs.len()
        );
        let mut next = 0;
        group.bench_function(persona, |b| {
            b.iter(|| {
                next = (next + 1) % inputs.len();
                black_box(agent.decide(black_box(&inputs[next])))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("engine_reuse");
    group.throughput(Throughput::Elements(1));
    let state2 = tempfile::tempdir().unwrap();
    let per_thread = self::agent(state2.path(), &key);
    per_thread.set_engine_reuse(EngineReuse::PerThread);
    let per_call = agent.clone();
    per_call.set_engine_reuse(EngineReuse::PerCall);
    for persona in ["tiny-bot", "hr-bot"] {
        let input = sample(persona);
        group.bench_function(format!("per_thread/{persona}"), |b| {
            b.iter(|| black_box(per_thread.decide(black_box(&input))))
        });
        group.bench_function(format!("per_call/{persona}"), |b| {
            b.iter(|| black_box(per_call.decide(black_box(&input))))
        });
    }
    group.finish();
}

/// `decide` with the decision-log pipeline on: events built, queued, batched, gzip'd and posted to a local
/// server by the shipper, which shares the machine.
fn bench_logged(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(FakeServer::start(|_| Answer::status(200)));
    // Keep the recorder from growing without bound: only count.
    server.set_handler(|_| Answer::status(204));
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let mut config = config(state.path(), &[&key], &["tiny-bot", "hr-bot"]);
    config.server = Some(server.url());
    config.status.enabled = false;
    config.decision_logs.flush_interval_seconds = 0.2;
    let agent = Agent::new(config).unwrap();
    agent
        .activate("tiny-bot", &bundle("tiny-bot", 1, &key))
        .unwrap();
    agent
        .activate("hr-bot", &bundle("hr-bot", 1, &key))
        .unwrap();
    let (trigger, signal) = shutdown::channel();
    let task = runtime.spawn({
        let agent = agent.clone();
        async move { agent.run(signal).await }
    });
    let mut group = c.benchmark_group("decide_logged");
    group.throughput(Throughput::Elements(1));
    for persona in ["tiny-bot", "hr-bot"] {
        let input = sample(persona);
        group.bench_function(persona, |b| {
            b.iter(|| black_box(agent.decide(black_box(&input))))
        });
    }
    group.finish();
    trigger.trigger();
    runtime.block_on(task).unwrap();
    server.seen.lock().unwrap().clear();
    let counters = agent
        .persona("tiny-bot")
        .unwrap()
        .log_counters()
        .unwrap()
        .clone();
    println!(
        "decide_logged: tiny-bot delivered {} spilled {} dropped {:?}",
        counters.delivered.load(Ordering::Relaxed),
        counters.spilled.load(Ordering::Relaxed),
        counters.drops()
    );
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    (at(0.5), at(0.99), *samples.last().unwrap())
}

/// p50/p99 on one thread, steady state and while another thread swaps the bundle every 10 ms.
fn latency_report() {
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let agent = agent(state.path(), &key);
    for persona in ALL {
        // The persona's whole cases file in turn (mixed allow/deny).
        let inputs = case_inputs(persona);
        let n = if persona == "tiny-bot" {
            200_000
        } else {
            20_000
        };
        let samples: Vec<Duration> = (0..n)
            .map(|i| {
                let t = Instant::now();
                black_box(agent.decide(&inputs[i % inputs.len()]));
                t.elapsed()
            })
            .collect();
        let (p50, p99, max) = percentiles(samples);
        // Swaps: pre-build the revisions, then activate one every 10 ms on another thread.
        let revisions: Vec<Vec<u8>> = (2..=41).map(|s| bundle(persona, s, &key)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = std::thread::spawn({
            let (agent, stop) = (agent.clone(), stop.clone());
            move || {
                let mut swaps = 0;
                for bundle in &revisions {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    agent.activate(persona, bundle).unwrap();
                    swaps += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                swaps
            }
        });
        let mut samples = Vec::new();
        let started = Instant::now();
        while !swapper.is_finished() && started.elapsed() < Duration::from_secs(20) {
            let t = Instant::now();
            black_box(agent.decide(&inputs[samples.len() % inputs.len()]));
            samples.push(t.elapsed());
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        let (sp50, sp99, smax) = percentiles(samples);
        println!(
            "latency {persona}: steady p50 {p50:?} p99 {p99:?} max {max:?} | during {swaps} swaps p50 {sp50:?} p99 {sp99:?} max {smax:?}"
        );
        // Back to sequence 1 for the next persona's agent state is not needed: each persona is independent.
    }
}

/// Throughput of one `Agent` shared by 1 and by N threads (N = the machine's cores, at least 2), each thread
/// deciding the persona's cases in turn for a fixed time: whether deciding threads slow each other down (shared
/// reference counts, allocator, the snapshot's `ArcSwap`). Scaling = rate with N threads ÷ (N × rate with one).
fn scaling_report() {
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let agent = agent(state.path(), &key);
    let cores = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .max(2);
    let seconds = std::env::var("REGENT_BENCH_SCALING_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    for persona in ALL {
        let inputs = Arc::new(case_inputs(persona));
        let rate = |threads: usize| {
            let stop = Arc::new(AtomicBool::new(false));
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let (agent, inputs, stop) = (agent.clone(), inputs.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let mut n = 0usize;
                        while !stop.load(Ordering::Relaxed) {
                            let decision = agent.decide(&inputs[(n + t) % inputs.len()]);
                            assert!(decision.revision.is_some(), "{decision:?}");
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            let started = Instant::now();
            std::thread::sleep(Duration::from_secs_f64(seconds));
            stop.store(true, Ordering::Relaxed);
            let decided: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
            decided as f64 / started.elapsed().as_secs_f64()
        };
        let one = rate(1);
        let many = rate(cores);
        println!(
            "scaling {persona}: 1 thread {one:.0} decisions/s, {cores} threads {many:.0} decisions/s ({:.2}× of {cores}× ideal)",
            many / (one * cores as f64)
        );
    }
}

/// Library cold start: `Agent::new` over a state dir holding the three personas' last-known-good copies (read,
/// verify, compile, warm), then the first decision of each.
fn cold_start_report() {
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    drop(agent(state.path(), &key));
    let mut config = config(state.path(), &[&key], &ALL);
    config.evaluation.time_limit_seconds = 5.0;
    for _ in 0..3 {
        let started = Instant::now();
        let agent = Agent::new(config.clone()).unwrap();
        let loaded = started.elapsed();
        let mut firsts = Vec::new();
        for persona in PERSONAS {
            let t = Instant::now();
            assert!(agent.decide(&sample(persona)).allow);
            firsts.push(format!("{persona} {:?}", t.elapsed()));
        }
        println!(
            "cold start (library, 3 personas + tiny from disk): Agent::new {loaded:?}; first decisions: {}",
            firsts.join(", ")
        );
    }
}

/// The sidecar process: start → healthy (decisions served) with the three personas from disk, and VmRSS.
fn sidecar_report() {
    let key = key("k1");
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    {
        let mut config = config(&state, &[&key], &PERSONAS);
        config.evaluation.time_limit_seconds = 5.0;
        let agent = Agent::new(config).unwrap();
        for persona in PERSONAS {
            agent.activate(persona, &bundle(persona, 1, &key)).unwrap();
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = serde_json::json!({
        "agent_id": "bench", "state_dir": state, "keys": [{"kid": "k1", "pem": key.public_key().to_pem()}],
        "personas": PERSONAS.iter().map(|p| serde_json::json!({"name": p, "source": {"type": "none"}})).collect::<Vec<_>>(),
        "evaluation": {"time_limit_seconds": 5.0},
        "http": {"listen": format!("127.0.0.1:{port}")},
    });
    let config_path = work.path().join("agent.yaml");
    std::fs::write(&config_path, yaml_serde::to_string(&yaml).unwrap()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for round in 0..3 {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_regent-agent"))
            .arg("--config")
            .arg(&config_path)
            .env("REGENT_AGENT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let (healthy, first) = runtime.block_on(async {
            loop {
                if let Ok(r) = client.get(format!("{base}/health")).send().await
                    && r.status() == 200
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let healthy = started.elapsed();
            let input = serde_json::to_value(sample("hr-bot")).unwrap();
            let r = client
                .post(format!("{base}/v1/decide"))
                .json(&serde_json::json!({"input": input}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let first = started.elapsed();
            // Exercise every persona a little before measuring memory.
            for persona in PERSONAS {
                let input = serde_json::to_value(sample(persona)).unwrap();
                for _ in 0..200 {
                    client
                        .post(format!("{base}/v1/decide"))
                        .json(&serde_json::json!({"input": input}))
                        .send()
                        .await
                        .unwrap();
                }
            }
            (healthy, first)
        });
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let rss: String = status
            .lines()
            .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "sidecar round {round}: start → healthy {healthy:?}, → first decision answered {first:?}; {rss}"
        );
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_decide(&mut criterion);
    bench_logged(&mut criterion);
    criterion.final_summary();
    // `cargo bench` passes `--bench`; REGENT_BENCH_REPORTS=0 skips the slower reports (e.g. with a filter).
    let reports = std::env::var("REGENT_BENCH_REPORTS").map_or(true, |v| v != "0");
    if reports && std::env::args().any(|a| a == "--bench") {
        latency_report();
        scaling_report();
        cold_start_report();
        sidecar_report();
    }
}
