//! The sidecar's HTTP API, in-process on a loopback port: the persona cases through OPA's `/v1/data` and
//! Regent's `/v1/decide`; `/health`, `/metrics`, body limits and errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;

use common::{PERSONAS, bundles_dir, config, key, persona_bundle};
use regent_agent::{Agent, shutdown};
use regent_bundle::cases;
use serde_json::{Value, json};

async fn serve(agent: Agent) -> (SocketAddr, shutdown::ShutdownTrigger) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, signal) = shutdown::channel();
    tokio::spawn(regent_agent::http::serve(agent, listener, signal));
    (addr, trigger)
}

async fn post(client: &reqwest::Client, url: String, body: &Value) -> (u16, Value) {
    let response = client.post(url).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persona_cases_pass_through_the_http_api() {
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let mut config = config(state.path(), &[&key], &PERSONAS);
    config.evaluation.time_limit_seconds = 5.0;
    let agent = Agent::new(config).unwrap();
    let (addr, _trigger) = serve(agent.clone()).await;
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");

    // Not ready: 503 naming each persona.
    let response = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["personas"]["hr-bot"]
            .as_str()
            .unwrap()
            .contains("no policy bundle is active")
    );

    for (i, persona) in PERSONAS.iter().enumerate() {
        agent
            .activate(persona, &persona_bundle(persona, i as u64 + 1, &key))
            .unwrap();
    }
    assert_eq!(
        client
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let mut failures = Vec::new();
    for persona in PERSONAS {
        let file = cases::load(&bundles_dir().join(persona).join(cases::CASES_FILE)).unwrap();
        for case in &file.cases {
            let (status, body) = post(
                &client,
                format!("{base}/v1/data/regent/persona/decision?persona={persona}"),
                &json!({"input": case.input}),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            assert!(body["decision_id"].as_str().unwrap().len() == 36);
            let opa = cases::compare(&body["result"], &case.expect);
            let (status, body) = post(
                &client,
                format!("{base}/v1/decide"),
                &json!({"persona": persona, "input": case.input}),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["persona"], persona);
            assert_eq!(
                body["revision"],
                format!(
                    "{persona}-{}",
                    PERSONAS.iter().position(|p| *p == persona).unwrap() + 1
                )
            );
            let regent = cases::compare(&body, &case.expect);
            if !opa.is_empty() || !regent.is_empty() {
                failures.push(format!("{persona} / {}: {opa:?} {regent:?}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The persona shorthand and input.agent.persona both pick the persona.
    let input = json!({"agent": {"id": "a", "persona": "it-bot"}, "user": {"id": "u"}, "action": {"kind": "tool_call", "tool": {"name": "x"}}, "context": {"time": "2026-11-24T10:15:00Z"}});
    let (status, body) = post(
        &client,
        format!("{base}/v1/data/it-bot"),
        &json!({"input": input}),
    )
    .await;
    assert_eq!(
        (status, body["result"]["allow"].clone()),
        (200, json!(false))
    );
    let (status, _) = post(
        &client,
        format!("{base}/v1/data/regent/persona/decision"),
        &json!({"input": input}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = post(
        &client,
        format!("{base}/v1/data/regent/persona/other"),
        &json!({"input": input}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "resource_not_found");
    let (status, _) = post(
        &client,
        format!("{base}/v1/decide"),
        &json!({"persona": "nope", "input": input}),
    )
    .await;
    assert_eq!(status, 404);

    // Limits and errors.
    // Just over the 1 MiB limit, on its own connection (the server answers without reading the rest).
    let big = "x".repeat(1024 * 1024 + 1024);
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/decide"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let response = client
        .post(format!("{base}/v1/decide"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        client
            .get(format!("{base}/v1/decide"))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    assert_eq!(
        client
            .get(format!("{base}/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("regent_agent_decisions_total{persona=\"hr-bot\",allow=\"true\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "regent_agent_decision_duration_seconds_bucket{persona=\"it-bot\",le=\"+Inf\"}"
        )
    );
    assert!(metrics.contains("regent_agent_bundle_swaps_total{persona=\"dev-bot\"} 1"));
}
