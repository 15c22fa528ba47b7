//! `POST /status`: OPA's payload stored as the agent's latest status plus history.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/opa.rs"]
mod opa;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{TestApp, assert_problem};
use opa::{post_json, protocol_fixture};
use regent_control_plane::store::agents::{StatusOutcome, StatusRecord};
use serde_json::{Value, json};
use sqlx::PgPool;

const OPA_ID: &str = "1780d507-aea2-45cc-ae50-fa153c8e4a5a";

async fn history(pool: &PgPool, agent: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM agent_status_history WHERE agent_id = $1")
        .bind(agent)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn agents(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM agents")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stock_opa_report_is_stored_as_latest_and_history(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let agent = app.agent_token("hr-bot").await;
    let fixture = protocol_fixture("opa-status.json");

    let response = app.send(post_json("/status", &agent, &fixture)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let stored = app.state.store.agent(OPA_ID).await.unwrap().unwrap();
    assert_eq!(stored.persona.as_deref(), Some("hr-bot"));
    assert_eq!(stored.active_revision.as_deref(), Some("hr-bot-42"));
    assert_eq!(stored.labels["app"], "hr-assistant");
    // The whole payload, unknown fields included.
    let sent: Value = serde_json::from_slice(&fixture).unwrap();
    assert_eq!(stored.last_status, sent);
    let error = stored.last_error.unwrap();
    for part in [
        "it-bot",
        "undefined function regex.matchh",
        "shared-libs",
        "plugin `decision_logs`",
    ] {
        assert!(error.contains(part), "{part} missing from {error}");
    }
    assert_eq!(history(&pool, OPA_ID).await, 1);

    // OPA reports after every poll; with a partition in the path too.
    let response = app.send(post_json("/status/eu", &agent, &fixture)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(history(&pool, OPA_ID).await, 2);
    assert_eq!(agents(&pool).await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_regent_report_records_sequence_channel_and_error(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let agent = app.agent_token("it-bot").await;
    let report = json!({
        "labels": {"id": "it-bot-a1", "channel": "staging", "version": "regent-agent/0.1.0"},
        "bundles": {"it-bot": {"name": "it-bot", "active_revision": "it-bot-7"}},
        "regent": {
            "agent_id": "it-bot-a1",
            "persona": "it-bot",
            "active_revision_sequence": 7,
            "last_error": "verify: signature by unknown key `k9`"
        }
    });
    let response = app
        .send(post_json("/status", &agent, report.to_string().as_bytes()))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let stored = app.state.store.agent("it-bot-a1").await.unwrap().unwrap();
    assert_eq!(stored.active_sequence, Some(7));
    assert_eq!(stored.active_revision.as_deref(), Some("it-bot-7"));
    assert_eq!(stored.channel.as_deref(), Some("staging"));
    assert_eq!(
        stored.last_error.as_deref(),
        Some("verify: signature by unknown key `k9`")
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_agent_token_reports_only_for_its_persona(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    app.state.store.ensure_persona("hr-bot").await.unwrap();
    let dev_agent = app.agent_token("dev-bot").await;

    // The stock report covers hr-bot, it-bot and shared-libs bundles, not dev-bot.
    let response = app
        .send(post_json(
            "/status",
            &dev_agent,
            &protocol_fixture("opa-status.json"),
        ))
        .await;
    let body = assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(
        body["detail"].as_str().unwrap().contains("dev-bot"),
        "{body}"
    );
    // Regent's block naming another persona.
    let report = json!({"labels": {"id": "x"}, "regent": {"agent_id": "x", "persona": "hr-bot"}});
    let response = app
        .send(post_json(
            "/status",
            &dev_agent,
            report.to_string().as_bytes(),
        ))
        .await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(agents(&pool).await, 0);

    // An agent id already reporting for hr-bot cannot be taken over by a dev-bot token.
    let hr_agent = app.agent_token("hr-bot").await;
    let report = json!({"labels": {"id": "shared-id"}});
    let response = app
        .send(post_json(
            "/status",
            &hr_agent,
            report.to_string().as_bytes(),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app
        .send(post_json(
            "/status",
            &dev_agent,
            report.to_string().as_bytes(),
        ))
        .await;
    assert_problem(response, StatusCode::CONFLICT, "agent_persona_conflict").await;
    let stored = app.state.store.agent("shared-id").await.unwrap().unwrap();
    assert_eq!(stored.persona.as_deref(), Some("hr-bot"));
    assert_eq!(history(&pool, "shared-id").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn malformed_reports_are_refused_with_the_place(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let agent = app.agent_token("hr-bot").await;

    let report = json!({"labels": {"version": "1.4.2"}, "bundles": {}});
    let response = app
        .send(post_json("/status", &agent, report.to_string().as_bytes()))
        .await;
    let body = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing_agent_id",
    )
    .await;
    assert_eq!(body["field"], "labels.id");

    let response = app
        .send(post_json(
            "/status",
            &agent,
            b"{\n  \"labels\": {\"id\": 5}\n}",
        ))
        .await;
    let body = assert_problem(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert_eq!(body["line"], 2, "{body}");

    let response = app
        .send(post_json("/status", &agent, b"{\"labels\": "))
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_json").await;

    let big = format!(
        "{{\"labels\":{{\"id\":\"a\",\"pad\":\"{}\"}}}}",
        "x".repeat(2 << 20)
    );
    let response = app.send(post_json("/status", &agent, big.as_bytes())).await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(agents(&pool).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn status_needs_an_agent_or_admin_token(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.state.store.ensure_persona("hr-bot").await.unwrap();
    let fixture = protocol_fixture("opa-status.json");
    let response = app
        .send(
            Request::post("/status")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(fixture.clone()))
                .unwrap(),
        )
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    for token in [&app.auditor, &app.publisher] {
        let response = app.send(post_json("/status", token, &fixture)).await;
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // An admin may relay a report; the persona comes from the first known bundle name.
    let response = app.send(post_json("/status", &app.admin, &fixture)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let stored = app.state.store.agent(OPA_ID).await.unwrap().unwrap();
    assert_eq!(stored.persona.as_deref(), Some("hr-bot"));
}

#[sqlx::test(migrations = "../migrations")]
async fn history_keeps_only_the_newest_reports(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let labels = json!({"id": "a1"});
    for n in 0..6 {
        let status = json!({"labels": {"id": "a1"}, "n": n}).to_string();
        let outcome = app
            .state
            .store
            .record_status(&StatusRecord {
                agent_id: "a1",
                persona_id: None,
                channel: None,
                labels: &labels,
                active_revision: None,
                active_sequence: None,
                last_error: None,
                status: &status,
                may_change_persona: false,
                keep_history: 3,
            })
            .await
            .unwrap();
        assert_eq!(outcome, StatusOutcome::Recorded);
    }
    let kept: Vec<i64> = sqlx::query_scalar(
        "SELECT (status->>'n')::bigint FROM agent_status_history WHERE agent_id = 'a1' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(kept, vec![3, 4, 5]);
}
