//! Scenario 5: a stock OPA-style client — plain HTTP, nothing from Regent's crates — against the
//! real server: bundle download with a strong ETag, `If-None-Match` → 304, a `Prefer: wait=N`
//! long poll answered as soon as a push moves the channel, a gzip'd JSON array of decision
//! events on `POST /logs` (resent: stored once), `POST /status` reflected in the fleet data.

use std::io::Write as _;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use regent_e2e::control_plane::Options;
use regent_e2e::registry::sha256_digest;
use regent_e2e::{ControlPlane, Database, Stack, fleet};
use serde_json::{Value, json};

use crate::common::marker_persona;

const PERSONA: &str = "opa-bot";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_opa_client_works_against_the_server() {
    let stack = Stack::new("opa_client");
    let db = Database::create(&stack).await;
    let cp = ControlPlane::start(&stack, &db.url, Options::default()).await;
    cp.create_persona(PERSONA).await;
    let v1 = cp
        .push(
            &marker_persona(&stack.dir("src/v1"), PERSONA, "m-1"),
            Some("prod"),
        )
        .await;
    let token = cp.token("opa-1", "agent", Some(PERSONA)).await;
    let http = reqwest::Client::builder().no_gzip().build().unwrap();
    let bundle_url = format!("{}/bundles/{PERSONA}", cp.url());

    // Download: 200, a tar.gz whose sha256 is the strong ETag.
    let r = http
        .get(&bundle_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..2], [0x1f, 0x8b], "gzip");
    assert_eq!(
        etag,
        format!(
            "\"{}\"",
            sha256_digest(&bytes).trim_start_matches("sha256:")
        )
    );
    assert!(!etag.starts_with("W/"), "a strong ETag");

    // Same ETag: 304 with no body.
    let r = http
        .get(&bundle_url)
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert!(r.bytes().await.unwrap().is_empty());

    // A long poll with the current ETag waits; a push to prod answers it with the new bundle.
    let long_poll = tokio::spawn({
        let (http, url, token, etag) = (
            http.clone(),
            bundle_url.clone(),
            token.clone(),
            etag.clone(),
        );
        async move {
            let started = Instant::now();
            let r = http
                .get(&url)
                .bearer_auth(&token)
                .header("if-none-match", &etag)
                .header("prefer", "modes=snapshot;wait=30")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
            let etag = r.headers()["etag"].to_str().unwrap().to_owned();
            let body = r.bytes().await.unwrap();
            (status, content_type, etag, body, started.elapsed())
        }
    });
    // Only push once the poll is parked on the server (its in-flight gauge says so).
    regent_e2e::eventually(10.0, "the long poll is waiting", async || {
        metric(&cp, "regent_bundle_long_polls_in_flight").await >= 1.0
    })
    .await;
    assert!(!long_poll.is_finished());
    let pushed_at = Instant::now();
    let v2 = cp
        .push(
            &marker_persona(&stack.dir("src/v2"), PERSONA, "m-2"),
            Some("prod"),
        )
        .await;
    let (status, content_type, etag2, body, waited) =
        tokio::time::timeout(Duration::from_secs(10), long_poll)
            .await
            .unwrap()
            .unwrap();
    println!(
        "long poll answered {:?} after the push ({waited:?} in all)",
        pushed_at.elapsed()
    );
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/vnd.openpolicyagent.bundles");
    assert_ne!(etag2, etag);
    assert_eq!(
        format!("\"{}\"", sha256_digest(&body).trim_start_matches("sha256:")),
        etag2
    );
    assert_eq!(
        sha256_digest(&body),
        fleet::bundle_digest(db.pool(), &v2.revision).await
    );
    // A long poll with an old ETag returns at once.
    let quick = Instant::now();
    let r = http
        .get(&bundle_url)
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .header("prefer", "modes=snapshot;wait=30")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(quick.elapsed() < Duration::from_secs(5));

    // Decision logs: a gzip'd JSON array of OPA EventV1s, sent twice (a retry): stored once.
    let events: Vec<Value> = (0..25)
        .map(|i| {
            json!({
                "decision_id": uuid::Uuid::new_v4().to_string(),
                "labels": {"id": "opa-1", "version": "1.0.0"},
                "path": "regent/persona/decision",
                "input": {"action": {"tool": {"name": "echo"}}, "user": {"id": format!("u-{i}")}},
                "result": {"allow": true, "reasons": [{"code": "marker", "message": "m-2"}], "obligations": []},
                "bundles": {PERSONA: {"revision": v2.revision}},
                "timestamp": chrono::Utc::now().to_rfc3339(),
                "metrics": {"timer_rego_query_eval_ns": 1000},
            })
        })
        .collect();
    let ids: Vec<String> = events
        .iter()
        .map(|e| e["decision_id"].as_str().unwrap().to_owned())
        .collect();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&serde_json::to_vec(&events).unwrap()).unwrap();
    let gz = gz.finish().unwrap();
    for _ in 0..2 {
        let r = http
            .post(format!("{}/logs", cp.url()))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(gz.clone())
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "{}: {}",
            r.status(),
            r.text().await.unwrap()
        );
    }
    assert_eq!(fleet::stored(db.pool(), &ids).await, Some((25, 25)));
    let revision: Option<String> = sqlx::query_scalar(
        "SELECT DISTINCT revision FROM decision_logs WHERE decision_id = $1::uuid",
    )
    .bind(&ids[0])
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(revision.as_deref(), Some(v2.revision.as_str()));

    // Status: OPA's report shape; the fleet data shows the agent and its active revision.
    let status = json!({
        "labels": {"id": "opa-1", "version": "1.0.0"},
        "bundles": {PERSONA: {
            "name": PERSONA,
            "active_revision": v2.revision,
            "last_successful_download": chrono::Utc::now().to_rfc3339(),
            "last_successful_activation": chrono::Utc::now().to_rfc3339(),
            "metrics": {"timer_bundle_request_ns": 1000}
        }},
        "plugins": {"bundle": {"state": "OK"}, "decision_logs": {"state": "OK"}, "status": {"state": "OK"}},
        "metrics": {"prometheus": {}}
    });
    let r = http
        .post(format!("{}/status", cp.url()))
        .bearer_auth(&token)
        .json(&status)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "{}: {}",
        r.status(),
        r.text().await.unwrap()
    );
    let row = fleet::agent(db.pool(), "opa-1").await.unwrap();
    assert_eq!(row.active_revision.as_deref(), Some(v2.revision.as_str()));
    assert_eq!(row.last_error, None);

    // An error in the report reaches the fleet data.
    let mut failing = status.clone();
    failing["bundles"][PERSONA]["code"] = json!("bundle_error");
    failing["bundles"][PERSONA]["message"] = json!("signature verification failed");
    let r = http
        .post(format!("{}/status", cp.url()))
        .bearer_auth(&token)
        .json(&failing)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let row = fleet::agent(db.pool(), "opa-1").await.unwrap();
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|e| e.contains("signature verification failed")),
        "{row:?}"
    );
    // The agent token is for its persona only.
    let r = http
        .get(format!("{}/bundles/other-bot", cp.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let _ = v1;
}

async fn metric(cp: &ControlPlane, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", cp.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
