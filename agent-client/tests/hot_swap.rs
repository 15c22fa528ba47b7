//! Hot swap under load: threads decide continuously while the bundle changes 100 times. No decision fails or
//! waits on a swap, and each one is attributable to exactly one revision: the revision the agent reports and
//! the marker the policy computed from that revision's data always agree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{action, config, key, marker_bundle};
use regent_agent::{Activation, Agent, EngineReuse};

const SWAPS: u64 = 100;
const THREADS: usize = 3;

#[test]
fn a_hundred_swaps_under_load_fail_no_decision_and_mix_no_revisions() {
    swaps_under_load(EngineReuse::PerCall);
}

#[test]
fn the_same_with_per_thread_engines() {
    swaps_under_load(EngineReuse::PerThread);
}

fn swaps_under_load(reuse: EngineReuse) {
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let agent = Agent::new(config(state.path(), &[&key], &["swap-bot"])).unwrap();
    agent.set_engine_reuse(reuse);
    // Build every revision up front so the swap loop measures activation, not building.
    let bundles: Vec<Vec<u8>> = (1..=SWAPS + 1)
        .map(|seq| marker_bundle("swap-bot", seq, &format!("m-{seq}"), &key))
        .collect();
    agent.activate("swap-bot", &bundles[0]).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (agent, stop) = (agent.clone(), stop.clone());
            std::thread::spawn(move || {
                let input = action("swap-bot", "echo");
                let mut seen: BTreeMap<u64, u64> = BTreeMap::new();
                let mut latencies = Vec::new();
                let mut problems = Vec::new();
                let mut last_sequence = 0;
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let d = agent.decide(&input);
                    latencies.push(started.elapsed());
                    let sequence = d.sequence.unwrap_or(0);
                    let marker = d
                        .reasons
                        .first()
                        .map(|r| r.message.clone())
                        .unwrap_or_default();
                    if !d.allow || d.reasons.len() != 1 || d.reasons[0].code != "marker" {
                        problems.push(format!("failed decision: {d:?}"));
                    } else if marker != format!("m-{sequence}")
                        || d.revision.as_deref() != Some(&format!("swap-bot-{sequence}"))
                    {
                        problems.push(format!(
                            "mixed revisions: revision {:?} sequence {sequence} marker {marker}",
                            d.revision
                        ));
                    }
                    if sequence < last_sequence {
                        problems.push(format!("went back from {last_sequence} to {sequence}"));
                    }
                    last_sequence = sequence;
                    *seen.entry(sequence).or_default() += 1;
                }
                (seen, latencies, problems)
            })
        })
        .collect();

    let mut swap_times = Vec::new();
    for (i, bundle) in bundles.iter().enumerate().skip(1) {
        let started = Instant::now();
        let outcome = agent.activate("swap-bot", bundle).unwrap();
        swap_times.push(started.elapsed());
        assert_eq!(
            outcome,
            Activation::Activated {
                revision: format!("swap-bot-{}", i + 1),
                sequence: i as u64 + 1
            }
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(20));
    stop.store(true, Ordering::Relaxed);

    let mut all_seen: BTreeMap<u64, u64> = BTreeMap::new();
    let mut latencies = Vec::new();
    for worker in workers {
        let (seen, lat, problems) = worker.join().unwrap();
        assert!(
            problems.is_empty(),
            "{} problems, first: {:?}",
            problems.len(),
            &problems[..problems.len().min(5)]
        );
        for (k, v) in seen {
            *all_seen.entry(k).or_default() += v;
        }
        latencies.extend(lat);
    }
    latencies.sort();
    let total: u64 = all_seen.values().sum();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    swap_times.sort();
    println!(
        "{total} decisions over {} revisions during {SWAPS} swaps; latency p50 {:?} p99 {:?} max {:?}; activation p50 {:?} max {:?}",
        all_seen.len(),
        pct(0.5),
        pct(0.99),
        latencies.last().unwrap(),
        swap_times[swap_times.len() / 2],
        swap_times.last().unwrap()
    );
    assert_eq!(
        agent
            .persona("swap-bot")
            .unwrap()
            .metrics
            .swaps
            .load(Ordering::Relaxed),
        SWAPS + 1
    );
    assert_eq!(
        *all_seen.keys().last().unwrap(),
        SWAPS + 1,
        "the last revision served"
    );
    assert!(
        all_seen.len() > (SWAPS / 2) as usize,
        "decisions interleaved with most swaps: {all_seen:?}"
    );
    // Nothing waits for a swap: a decision never takes as long as an activation does.
    assert!(
        *latencies.last().unwrap() < Duration::from_secs(1),
        "slowest decision {:?}",
        latencies.last()
    );
}
