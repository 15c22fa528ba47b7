//! The decision-log pipeline against a scriptable server: outage → spool → delivery in order, exactly once;
//! `429` + `Retry-After` respected; `413` splits; a poison batch is moved aside, counted and not retried;
//! the spool cap drops oldest and counts; a full memory queue spills to disk; shutdown flushes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::fake::{Answer, FakeServer};
use common::{action, config, eventually, fast, key, marker_bundle};
use regent_agent::{Agent, AgentConfig, shutdown};

struct Harness {
    agent: Agent,
    trigger: shutdown::ShutdownTrigger,
    task: tokio::task::JoinHandle<()>,
    _state: Option<tempfile::TempDir>,
}

fn agent_config(
    state: &std::path::Path,
    server: &FakeServer,
    key: &regent_bundle::SigningKey,
) -> AgentConfig {
    let mut config = config(state, &[key], &["swap-bot"]);
    config.server = Some(server.url());
    config.token = Some("rgt_test".into());
    fast(&mut config);
    config
}

fn start(
    config: AgentConfig,
    key: &regent_bundle::SigningKey,
) -> (
    Agent,
    shutdown::ShutdownTrigger,
    tokio::task::JoinHandle<()>,
) {
    let agent = Agent::new(config).unwrap();
    if agent.persona("swap-bot").unwrap().snapshot().is_none() {
        agent
            .activate("swap-bot", &marker_bundle("swap-bot", 1, "m-1", key))
            .unwrap();
    }
    let (trigger, signal) = shutdown::channel();
    let task = tokio::spawn({
        let agent = agent.clone();
        async move { agent.run(signal).await }
    });
    (agent, trigger, task)
}

impl Harness {
    async fn new(
        config: AgentConfig,
        key: &regent_bundle::SigningKey,
        state: Option<tempfile::TempDir>,
    ) -> Harness {
        let (agent, trigger, task) = start(config, key);
        Harness {
            agent,
            trigger,
            task,
            _state: state,
        }
    }

    fn decide(&self, n: usize, tool: &str) -> Vec<String> {
        (0..n)
            .map(|_| {
                self.agent
                    .decide(&action("swap-bot", tool))
                    .decision_id
                    .to_string()
            })
            .collect()
    }

    fn counter(&self, f: impl Fn(&regent_agent::logs::LogCounters) -> u64) -> u64 {
        f(self
            .agent
            .persona("swap-bot")
            .unwrap()
            .log_counters()
            .unwrap())
    }

    async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

fn ok(_: &common::fake::Seen) -> Answer {
    Answer::status(200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_spools_then_everything_arrives_once_in_order() {
    let server = FakeServer::start(|_| Answer::status(503)).await;
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let h = Harness::new(agent_config(state.path(), &server, &key), &key, Some(state)).await;
    let mut ids = h.decide(150, "echo");
    eventually(10, "events spooled", || {
        h.counter(|c| c.spool_events.load(Ordering::Relaxed)) == 150
    })
    .await;
    let report = h.agent.status_report("swap-bot").unwrap();
    let regent = report.regent.unwrap();
    assert_eq!(regent.decision_logs.spool_events, 150);
    assert!(regent.last_error.unwrap().contains("503"));
    assert_eq!(report.decision_logs.unwrap().http_code, Some(503));
    // More decisions during the outage queue up behind the spool.
    ids.extend(h.decide(50, "echo"));
    server.set_handler(ok);
    eventually(10, "all delivered", || {
        h.counter(|c| c.delivered.load(Ordering::Relaxed)) == 200
    })
    .await;
    assert_eq!(
        server.logged_ids(),
        ids,
        "every event once, in decision order"
    );
    assert_eq!(h.counter(|c| c.spool_events.load(Ordering::Relaxed)), 0);
    // Batches carry the OPA headers and Regent's fields.
    let request = &server.requests("/logs")[0];
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    assert_eq!(request.header("authorization"), Some("Bearer rgt_test"));
    let event = &request.json()[0];
    assert_eq!(event["persona"], "swap-bot");
    assert_eq!(event["labels"]["id"], "test-agent");
    assert_eq!(event["bundles"]["swap-bot"]["revision"], "swap-bot-1");
    assert_eq!(event["path"], "regent/persona/decision");
    assert_eq!(event["tool"], "echo");
    assert_eq!(event["allow"], true);
    assert_eq!(event["revision_sequence"], 1);
    assert_eq!(event["result"]["reasons"][0]["message"], "m-1");
    // Status went out too, with Regent's block.
    eventually(5, "a status report", || {
        !server.requests("/status").is_empty()
    })
    .await;
    let status = server.requests("/status").last().unwrap().json();
    assert_eq!(status["labels"]["id"], "test-agent");
    assert_eq!(
        status["bundles"]["swap-bot"]["active_revision"],
        "swap-bot-1"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_respected() {
    let server = FakeServer::start(|_| Answer::status(429).with_header("retry-after", "1")).await;
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let h = Harness::new(agent_config(state.path(), &server, &key), &key, Some(state)).await;
    let ids = h.decide(3, "echo");
    eventually(5, "first attempt", || !server.requests("/logs").is_empty()).await;
    let first = Instant::now();
    server.set_handler(ok);
    eventually(10, "delivered", || {
        h.counter(|c| c.delivered.load(Ordering::Relaxed)) == 3
    })
    .await;
    assert!(
        first.elapsed() >= Duration::from_millis(900),
        "retried after {:?}, before Retry-After",
        first.elapsed()
    );
    assert_eq!(
        server.requests("/logs").len(),
        2,
        "no retry before Retry-After"
    );
    assert_eq!(server.logged_ids(), ids);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_splits_and_poison_is_moved_aside() {
    // 413 for more than 4 events; 400 for any batch holding a `poison` call.
    let server = FakeServer::start(|seen| {
        if seen.path != "/logs" {
            return Answer::status(204);
        }
        let events = seen.json();
        let events = events.as_array().unwrap();
        if events.len() > 4 {
            Answer::status(413)
        } else if events.iter().any(|e| e["tool"] == "poison") {
            Answer::status(400)
        } else {
            Answer::status(200)
        }
    })
    .await;
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let spool_dir = state.path().join("spool/swap-bot");
    let h = Harness::new(agent_config(state.path(), &server, &key), &key, Some(state)).await;
    let mut good = h.decide(9, "echo");
    let poison = h.decide(1, "poison");
    good.extend(h.decide(10, "echo"));
    eventually(10, "settled", || {
        h.counter(|c| c.delivered.load(Ordering::Relaxed) + c.poisoned.load(Ordering::Relaxed))
            == 20
    })
    .await;
    let delivered: BTreeSet<String> = server
        .logged_ids()
        .into_iter()
        .filter(|id| !poison.contains(id))
        .collect();
    let all_good: BTreeSet<String> = good.iter().cloned().collect();
    // Everything but the poison batch arrived; the poison batch (the poison event and its batch-mates) is aside.
    let poisoned = h.counter(|c| c.poisoned.load(Ordering::Relaxed));
    assert!((1..=4).contains(&poisoned), "poisoned {poisoned}");
    assert_eq!(delivered.len() as u64, 20 - poisoned);
    assert!(delivered.is_subset(&all_good));
    // Every accepted batch was within the server's limit: the 413s were split.
    assert!(
        server
            .requests("/logs")
            .iter()
            .filter(|r| r.status == 200)
            .all(|r| r.json().as_array().unwrap().len() <= 4)
    );
    assert!(server.requests("/logs").iter().any(|r| r.status == 413));
    let aside: Vec<_> = std::fs::read_dir(spool_dir.join("poison"))
        .unwrap()
        .collect();
    assert_eq!(aside.len(), 1);
    let attempts = server.requests("/logs").len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        server.requests("/logs").len(),
        attempts,
        "the poison batch is not retried"
    );
    let report = h.agent.status_report("swap-bot").unwrap();
    assert_eq!(
        report.decision_logs.unwrap().metrics.unwrap()["counter_decision_logs_poisoned"],
        poisoned
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spool_cap_drops_oldest_and_counts_every_drop() {
    let server = FakeServer::start(|_| Answer::status(503)).await;
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let mut config = agent_config(state.path(), &server, &key);
    config.decision_logs.spool_max_bytes = 16 * 1024;
    config.decision_logs.spool_segment_bytes = 4 * 1024;
    let h = Harness::new(config, &key, Some(state)).await;
    let ids = h.decide(200, "echo");
    eventually(10, "queue drained", || {
        h.agent
            .persona("swap-bot")
            .unwrap()
            .log_queue()
            .unwrap()
            .is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dropped = h.counter(|c| c.dropped_spool.load(Ordering::Relaxed));
    assert!(dropped > 0);
    assert!(h.counter(|c| c.spool_bytes.load(Ordering::Relaxed)) <= 16 * 1024);
    let report = h.agent.status_report("swap-bot").unwrap();
    let counters = report.metrics.unwrap().prometheus.unwrap();
    assert_eq!(
        counters["counter_decision_logs_dropped_spool_size_limit_exceeded"],
        dropped
    );
    assert_eq!(
        report
            .regent
            .unwrap()
            .decision_logs
            .dropped
            .decision_logs_dropped_spool_size_limit_exceeded,
        dropped
    );
    server.set_handler(ok);
    eventually(10, "rest delivered", || {
        h.counter(|c| c.delivered.load(Ordering::Relaxed)) + dropped == 200
    })
    .await;
    // What was dropped is the oldest; what arrived is the newest, in order.
    assert_eq!(server.logged_ids(), ids[dropped as usize..].to_vec());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_spills_to_disk_and_shutdown_flushes() {
    let server = FakeServer::start(ok).await;
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let mut config = agent_config(state.path(), &server, &key);
    config.decision_logs.queue_capacity = 5;
    // Not running yet: nothing drains the queue, so all but 5 spill.
    let agent = Agent::new(config.clone()).unwrap();
    agent
        .activate("swap-bot", &marker_bundle("swap-bot", 1, "m-1", &key))
        .unwrap();
    let mut ids: Vec<String> = (0..25)
        .map(|_| {
            agent
                .decide(&action("swap-bot", "echo"))
                .decision_id
                .to_string()
        })
        .collect();
    let counters = agent
        .persona("swap-bot")
        .unwrap()
        .log_counters()
        .unwrap()
        .clone();
    assert_eq!(counters.spilled.load(Ordering::Relaxed), 20);
    assert_eq!(counters.spool_events.load(Ordering::Relaxed), 20);
    assert_eq!(counters.dropped_buffer.load(Ordering::Relaxed), 0);
    let (trigger, signal) = shutdown::channel();
    let task = tokio::spawn({
        let agent = agent.clone();
        async move { agent.run(signal).await }
    });
    eventually(10, "spill delivered", || {
        counters.delivered.load(Ordering::Relaxed) == 25
    })
    .await;
    // Decide and stop at once: the shutdown flush delivers what was queued.
    ids.extend((0..3).map(|_| {
        agent
            .decide(&action("swap-bot", "echo"))
            .decision_id
            .to_string()
    }));
    trigger.trigger();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counters.delivered.load(Ordering::Relaxed), 28);
    let got: BTreeSet<String> = server.logged_ids().into_iter().collect();
    assert_eq!(got, ids.into_iter().collect::<BTreeSet<_>>());
    assert_eq!(server.logged_ids().len(), 28);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_an_outage_spools_and_the_next_start_delivers() {
    let server = FakeServer::start(|_| Answer::status(503)).await;
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let config = agent_config(state.path(), &server, &key);
    let h = Harness::new(config.clone(), &key, None).await;
    let ids = h.decide(40, "echo");
    h.stop().await;
    assert!(server.logged_ids().is_empty());
    server.set_handler(ok);
    let h = Harness::new(config, &key, Some(state)).await;
    eventually(10, "delivered after restart", || {
        h.counter(|c| c.delivered.load(Ordering::Relaxed)) == 40
    })
    .await;
    assert_eq!(server.logged_ids(), ids);
    h.stop().await;
}
