//! The bundle-API client's protocol edge cases against a scriptable server: `If-None-Match` carries the ETag
//! of the last activated bundle, long polling is kept only with OPA's media type, a body that does not match
//! its ETag is refused, errors back off (OPA's 100 ms × 1.6 with jitter) and show in status, a refused bundle
//! is not re-verified on every poll.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fake::{Answer, FakeServer};
use common::{action, config, eventually, fast, key, marker_bundle};
use regent_agent::snapshot::sha256_hex;
use regent_agent::{Agent, SourceConfig, shutdown};

fn start(
    server: &FakeServer,
    state: &std::path::Path,
    key: &regent_bundle::SigningKey,
) -> (
    Agent,
    shutdown::ShutdownTrigger,
    tokio::task::JoinHandle<()>,
) {
    let mut config = config(state, &[key], &["swap-bot"]);
    config.server = Some(server.url());
    config.token = Some("rgt_agent".into());
    config.personas[0].source = Some(SourceConfig::ControlPlane {
        channel: Some("canary".into()),
    });
    config.decision_logs.enabled = false;
    config.status.enabled = false;
    fast(&mut config);
    let agent = Agent::new(config).unwrap();
    let (trigger, signal) = shutdown::channel();
    let task = tokio::spawn({
        let agent = agent.clone();
        async move { agent.run(signal).await }
    });
    (agent, trigger, task)
}

fn marker(agent: &Agent) -> String {
    agent
        .decide(&action("swap-bot", "echo"))
        .reasons
        .first()
        .map(|r| r.message.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etags_long_polling_and_digest_checks() {
    let key = key("k1");
    let v1 = marker_bundle("swap-bot", 1, "m-1", &key);
    let v2 = marker_bundle("swap-bot", 2, "m-2", &key);
    let etag1 = format!("\"{}\"", sha256_hex(&v1));
    let current: Arc<Mutex<(Vec<u8>, String, &'static str)>> = Arc::new(Mutex::new((
        v1.clone(),
        etag1.clone(),
        "application/vnd.openpolicyagent.bundles",
    )));
    let server = FakeServer::start({
        let current = current.clone();
        move |seen| {
            let (body, etag, content_type) = current.lock().unwrap().clone();
            if seen.header("if-none-match") == Some(etag.as_str()) {
                return Answer::status(304).with_header("etag", &etag);
            }
            Answer::status(200)
                .with_header("etag", &etag)
                .with_header("content-type", content_type)
                .with_body(body)
        }
    })
    .await;
    let state = tempfile::tempdir().unwrap();
    let (agent, trigger, task) = start(&server, state.path(), &key);
    eventually(10, "v1", || marker(&agent) == "m-1").await;
    eventually(10, "a conditional request", || {
        server.requests("/bundles/swap-bot").len() >= 3
    })
    .await;
    let requests = server.requests("/bundles/swap-bot");
    let first = &requests[0];
    assert_eq!(first.header("authorization"), Some("Bearer rgt_agent"));
    assert_eq!(first.header("if-none-match"), None);
    assert_eq!(first.header("prefer"), Some("modes=snapshot;wait=2"));
    assert_eq!(first.header("x-regent-agent-id"), Some("test-agent"));
    assert_eq!(requests[1].header("if-none-match"), Some(etag1.as_str()));
    assert!(
        server
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.method == "GET")
    );

    // A 200 without OPA's media type ends long polling (OPA's rule): later requests do not ask to wait.
    *current.lock().unwrap() = (
        v2.clone(),
        format!("\"{}\"", sha256_hex(&v2)),
        "application/gzip",
    );
    eventually(10, "v2", || marker(&agent) == "m-2").await;
    let before = server.requests("/bundles/swap-bot").len();
    eventually(10, "more polls", || {
        server.requests("/bundles/swap-bot").len() > before + 1
    })
    .await;
    let last = server.requests("/bundles/swap-bot").last().unwrap().clone();
    assert_eq!(last.header("prefer"), Some("modes=snapshot"));

    // A body whose hash is not its ETag is refused (and v2 keeps deciding).
    let v3 = marker_bundle("swap-bot", 3, "m-3", &key);
    *current.lock().unwrap() = (v3, format!("\"{}\"", sha256_hex(&v1)), "application/gzip");
    eventually(10, "digest mismatch in status", || {
        agent.status_report("swap-bot").unwrap().bundles["swap-bot"]
            .message
            .clone()
            .unwrap_or_default()
            .contains("digest mismatch")
    })
    .await;
    assert_eq!(marker(&agent), "m-2");
    trigger.trigger();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_back_off_and_show_in_status() {
    let key = key("k1");
    let server = FakeServer::start(|_| Answer::status(500).with_body(b"boom".to_vec())).await;
    let state = tempfile::tempdir().unwrap();
    let (agent, trigger, task) = start(&server, state.path(), &key);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // 100 ms × 1.6ⁿ (±20 %), capped at max_delay (0.2 s here): about 8–10 requests in 1.5 s, not hundreds.
    let n = server.requests("/bundles/swap-bot").len();
    assert!((3..=20).contains(&n), "{n} requests in 1.5 s");
    let report = agent.status_report("swap-bot").unwrap();
    let bundle = &report.bundles["swap-bot"];
    assert_eq!(bundle.http_code, Some(500));
    assert!(bundle.message.as_deref().unwrap().contains("boom"));
    assert!(bundle.last_request.is_some() && bundle.last_successful_request.is_none());

    // A refused bundle is not verified again on every poll.
    let stranger = common::key("k1");
    let bad = marker_bundle("swap-bot", 1, "m-1", &stranger);
    let etag = format!("\"{}\"", sha256_hex(&bad));
    server.set_handler(move |_| {
        Answer::status(200)
            .with_header("etag", &etag)
            .with_body(bad.clone())
    });
    eventually(10, "refused", || {
        agent.persona("swap-bot").unwrap().metrics.verify_failures() >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        agent.persona("swap-bot").unwrap().metrics.verify_failures(),
        1
    );
    assert!(!agent.decide(&action("swap-bot", "echo")).allow);
    trigger.trigger();
    task.await.unwrap();
}
