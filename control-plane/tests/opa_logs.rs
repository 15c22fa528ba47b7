//! `POST /logs`: gzip JSON arrays of decision events, stored once each, with limits that refuse
//! whole batches and store nothing of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/opa.rs"]
mod opa;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Duration, Utc};
use common::{TestApp, assert_problem, body_json};
use opa::{gzip, post_gzip, post_json, protocol_fixture};
use regent_control_plane::config::Config;
use regent_control_plane::store::logs::{DecisionLogColumns, LogMonth, PartitionState, ReasonIds};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

async fn stored(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM decision_logs")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A Regent agent's event for `persona`, decided now.
fn event(persona: &str) -> Value {
    json!({
        "labels": {"id": "agent-1"},
        "decision_id": Uuid::new_v4().to_string(),
        "timestamp": Utc::now().to_rfc3339(),
        "path": "regent/decision",
        "input": {"agent": {"id": "agent-1", "persona": persona}, "user": {"id": "u-1"}},
        "result": {"allow": true, "reasons": []}
    })
}

fn batch(events: &[Value]) -> Vec<u8> {
    serde_json::to_vec(events).unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stock_opa_batch_is_stored_once_with_derived_fields(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let agent = app.agent_token("hr-bot").await;
    let fixture = protocol_fixture("opa-decision-events.json");

    let response = app.send(post_gzip("/logs", &agent, &fixture)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body_json(response).await,
        json!({"received": 5, "stored": 5, "duplicates": 0})
    );
    assert_eq!(stored(&pool).await, 5);

    // OPA retries a chunk it thinks failed: nothing is stored twice.
    let response = app.send(post_gzip("/logs", &agent, &fixture)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body_json(response).await,
        json!({"received": 5, "stored": 0, "duplicates": 5})
    );
    assert_eq!(stored(&pool).await, 5);

    // The ingest counters on /metrics saw 5 stored and 5 duplicates.
    let metrics = app.state.metrics.render(&app.state).await;
    assert!(
        metrics.contains("regent_decision_logs_ingested_total 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("regent_decision_logs_duplicate_total 5"),
        "{metrics}"
    );

    #[derive(sqlx::FromRow)]
    struct Row {
        persona: Option<String>,
        agent_id: Option<String>,
        user_id: Option<String>,
        tool: Option<String>,
        allow: Option<bool>,
        revision: Option<String>,
        path: Option<String>,
        reasons: String,
        event: String,
    }
    let row: Row = sqlx::query_as(
        "SELECT persona, agent_id, user_id, tool, allow, revision, path, reasons, event
         FROM decision_logs WHERE decision_id = '4ca636c1-55e4-417a-b1d8-4aceb67960d1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row.persona.as_deref(), Some("hr-bot"));
    assert_eq!(row.agent_id.as_deref(), Some("hr-bot-7f9c"));
    assert_eq!(row.user_id.as_deref(), Some("u-1001"));
    assert_eq!(row.tool.as_deref(), Some("hr.get_employee_record"));
    assert_eq!(row.allow, Some(false));
    assert_eq!(row.revision.as_deref(), Some("hr-bot-42"));
    assert_eq!(row.path.as_deref(), Some("regent/hr_bot/decision"));
    assert_eq!(
        row.reasons,
        "salary_requires_hr_admin reading salary needs the hr_admin role"
    );
    // The full event as sent, fields Regent does not model included.
    let sent: Vec<Value> = serde_json::from_slice(&fixture).unwrap();
    let stored: Value = serde_json::from_str(&row.event).unwrap();
    assert_eq!(stored, sent[0]);

    // A leading `/` in the path is dropped; a deprecated top-level revision wins.
    let paths: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT path, revision FROM decision_logs WHERE decision_id IN
            ('0f0c6e8b-93a2-4f0e-8a4e-6f9e3b2f4d10', 'a3d1e1c2-7b7e-4d0b-9c1e-0c2b0f1e2d3c')
         ORDER BY decision_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        paths,
        vec![
            (
                Some("regent/hr_bot/decision".into()),
                Some("hr-bot-42".into())
            ),
            (
                Some("regent/hr_bot/decision".into()),
                Some("legacy-rev-1".into())
            ),
        ]
    );
    // The Envoy-style event names no persona; the agent token attributes it.
    let persona: Option<String> = sqlx::query_scalar(
        "SELECT persona FROM decision_logs WHERE decision_id = 'e2f6a0d4-5b7c-4c1e-9f3a-8d2b1c0e4f55'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(persona.as_deref(), Some("hr-bot"));
}

#[sqlx::test(migrations = "../migrations")]
async fn identity_bodies_and_partition_paths_are_accepted(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let agent = app.agent_token("hr-bot").await;
    let response = app
        .send(post_json(
            "/logs/eu",
            &agent,
            &batch(&[event("hr-bot"), event("hr-bot")]),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.send(post_json("/logs", &agent, b"[]")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(stored(&pool).await, 2);
    // This month's events land in this month's partition, created on demand.
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT tableoid::regclass::text FROM decision_logs")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(tables, vec![LogMonth::of(Utc::now()).table()]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_gzip_bomb_is_refused_without_storing_anything(pool: PgPool) {
    let mut config = Config::default();
    config.limits.max_log_inflated_bytes = 1 << 20;
    let app = TestApp::with_config(pool.clone(), config).await;
    let agent = app.agent_token("hr-bot").await;
    // 64 MiB of JSON whitespace around one valid event: ~64 KiB compressed.
    let mut json = b"[".to_vec();
    json.extend(serde_json::to_vec(&event("hr-bot")).unwrap());
    json.resize(json.len() + (64 << 20), b' ');
    json.push(b']');
    let request = post_gzip("/logs", &agent, &json);
    let response = app.send(request).await;
    let body = assert_problem(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "inflated_too_large",
    )
    .await;
    assert_eq!(body["limit"], 1 << 20);
    assert_eq!(stored(&pool).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn oversize_bodies_are_413_announced_or_not(pool: PgPool) {
    let mut config = Config::default();
    config.limits.max_log_body_bytes = 4096;
    let app = TestApp::with_config(pool.clone(), config).await;
    let agent = app.agent_token("hr-bot").await;
    let events: Vec<Value> = (0..40).map(|_| event("hr-bot")).collect();
    let json = batch(&events);
    assert!(json.len() > 4096);

    // Without Content-Length (streamed).
    let response = app.send(post_json("/logs", &agent, &json)).await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // With it.
    let response = app
        .send(
            Request::post("/logs")
                .header(header::AUTHORIZATION, format!("Bearer {agent}"))
                .header(header::CONTENT_LENGTH, json.len())
                .body(Body::from(json.clone()))
                .unwrap(),
        )
        .await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(stored(&pool).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn malformed_and_invalid_batches_name_the_place_and_store_nothing(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let agent = app.agent_token("hr-bot").await;

    let response = app
        .send(post_gzip("/logs", &agent, b"[\n  {\"decision_id\": }\n]"))
        .await;
    let body = assert_problem(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert_eq!(
        (body["line"].as_u64(), body["column"].as_u64()),
        (Some(2), Some(19)),
        "{body}"
    );

    let response = app
        .send(
            Request::post("/logs")
                .header(header::AUTHORIZATION, format!("Bearer {agent}"))
                .header(header::CONTENT_ENCODING, "gzip")
                .body(Body::from("not gzip at all"))
                .unwrap(),
        )
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_gzip").await;

    let mut events: Vec<Value> = (0..5).map(|_| event("hr-bot")).collect();
    events[3]["decision_id"] = json!("not-a-uuid");
    let response = app.send(post_gzip("/logs", &agent, &batch(&events))).await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_event").await;
    assert_eq!(body["field"], "events[3].decision_id");

    events[3] = event("hr-bot");
    events[4].as_object_mut().unwrap().remove("timestamp");
    let response = app.send(post_gzip("/logs", &agent, &batch(&events))).await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_event").await;
    assert_eq!(body["field"], "events[4].timestamp");

    events[4] = event("hr-bot");
    events[1]["input"]["user"]["id"] = json!("nul\u{0}here");
    let response = app.send(post_gzip("/logs", &agent, &batch(&events))).await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_event").await;
    assert_eq!(body["field"], "events[1]");

    let response = app
        .send(
            Request::post("/logs")
                .header(header::AUTHORIZATION, format!("Bearer {agent}"))
                .header(header::CONTENT_ENCODING, "br")
                .body(Body::from(gzip(b"[]")))
                .unwrap(),
        )
        .await;
    assert_problem(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_encoding",
    )
    .await;
    assert_eq!(stored(&pool).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn agent_tokens_post_only_their_personas_decisions(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let agent = app.agent_token("hr-bot").await;
    let events = vec![event("hr-bot"), event("it-bot"), event("hr-bot")];
    let response = app.send(post_gzip("/logs", &agent, &batch(&events))).await;
    let body = assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(body["field"], "events[1].persona");
    assert!(
        body["detail"].as_str().unwrap().contains("it-bot"),
        "{body}"
    );
    assert_eq!(stored(&pool).await, 0);

    // An admin may relay any persona's decisions; readers may not post.
    let response = app
        .send(post_gzip("/logs", &app.admin, &batch(&events)))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(stored(&pool).await, 3);
    for token in [&app.auditor, &app.publisher] {
        let response = app
            .send(post_gzip("/logs", token, &batch(&[event("hr-bot")])))
            .await;
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let response = app
        .send(
            Request::post("/logs")
                .body(Body::from(gzip(b"[]")))
                .unwrap(),
        )
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(stored(&pool).await, 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_exhausted_ingest_budget_answers_429_with_retry_after(pool: PgPool) {
    let mut config = Config::default();
    config.limits.ingest_queue_events = 10;
    let app = TestApp::with_config(pool.clone(), config).await;
    let agent = app.agent_token("hr-bot").await;
    let events = batch(&[event("hr-bot"), event("hr-bot")]);

    // Other batches hold 9 of the 10 event slots: a batch of 2 does not fit.
    let held = app.state.ingest.try_reserve(9).unwrap();
    let response = app.send(post_gzip("/logs", &agent, &events)).await;
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "overloaded").await;
    assert_eq!(stored(&pool).await, 0);

    drop(held);
    let response = app.send(post_gzip("/logs", &agent, &events)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(stored(&pool).await, 2);
    assert_eq!(app.state.ingest.available(), 10, "the budget is given back");
}

#[sqlx::test(migrations = "../migrations")]
async fn creating_a_partition_moves_that_months_rows_out_of_the_default(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let store = &app.state.store;
    let last_month = Utc::now() - Duration::days(40);
    let month = LogMonth::of(last_month);
    // Rows that landed in the default partition before the month's partition existed.
    let mut rows = DecisionLogColumns::default();
    for _ in 0..3 {
        rows.decision_id.push(Uuid::new_v4());
        rows.ts.push(last_month);
        rows.persona.push(Some("hr-bot".into()));
        rows.agent_id.push(None);
        rows.user_id.push(None);
        rows.tool.push(None);
        rows.allow.push(Some(true));
        rows.revision.push(None);
        rows.sequence.push(None);
        rows.path.push(None);
        rows.reasons.push(String::new());
        rows.event.push("{}".into());
    }
    let reasons = ReasonIds::default();
    assert_eq!(
        store.insert_decision_logs(&rows, &reasons).await.unwrap(),
        3
    );

    assert_eq!(
        store.ensure_log_partition(month).await.unwrap(),
        PartitionState::Created { moved: 3 }
    );
    assert_eq!(
        store.ensure_log_partition(month).await.unwrap(),
        PartitionState::Existed
    );
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT tableoid::regclass::text FROM decision_logs")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(tables, vec![month.table()]);
    // Dedup still holds across the move.
    assert_eq!(
        store.insert_decision_logs(&rows, &reasons).await.unwrap(),
        0
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_batches_are_grouped_and_each_acknowledged_exactly(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let agent = app.agent_token("hr-bot").await;
    let batches: Vec<Vec<u8>> = (0..20)
        .map(|_| batch(&(0..50).map(|_| event("hr-bot")).collect::<Vec<_>>()))
        .collect();
    // Every batch twice, all at once: the writers group what queues up, yet each request learns
    // exactly how many of its own events were new.
    let posts = batches.iter().chain(batches.iter()).map(|body| {
        let request = post_gzip("/logs", &agent, body);
        let router = app.router.clone();
        tokio::spawn(async move { body_json(opa::send(&router, request).await).await })
    });
    let mut new_events = 0;
    for post in posts.collect::<Vec<_>>() {
        let report = post.await.unwrap();
        assert_eq!(report["received"], 50, "{report}");
        assert_eq!(
            report["stored"].as_u64().unwrap() + report["duplicates"].as_u64().unwrap(),
            50
        );
        new_events += report["stored"].as_u64().unwrap();
    }
    assert_eq!(new_events, 1000);
    assert_eq!(stored(&pool).await, 1000);
}

/// A batch of one event per reasons text, all now, with `event` as the JSON text of each row.
fn rows_with_reasons(texts: &[&str], event: &str) -> DecisionLogColumns {
    let mut rows = DecisionLogColumns::default();
    for text in texts {
        rows.decision_id.push(Uuid::new_v4());
        rows.ts.push(Utc::now());
        rows.persona.push(Some("hr-bot".into()));
        rows.agent_id.push(None);
        rows.user_id.push(None);
        rows.tool.push(None);
        rows.allow.push(Some(false));
        rows.revision.push(None);
        rows.sequence.push(None);
        rows.path.push(None);
        rows.reasons.push((*text).to_owned());
        rows.event.push(event.to_owned());
    }
    rows
}

/// Every stored decision's reasons text as its `reasons_id` finds it in `decision_reason_texts`
/// (None where the id leads nowhere), and the number of distinct texts stored.
async fn reasons_by_id(pool: &PgPool) -> (Vec<(String, Option<String>)>, i64) {
    let rows = sqlx::query_as(
        "SELECT d.reasons, t.reasons FROM decision_logs d
         LEFT JOIN decision_reason_texts t ON t.id = d.reasons_id ORDER BY d.reasons",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let texts = sqlx::query_scalar("SELECT count(*) FROM decision_reason_texts")
        .fetch_one(pool)
        .await
        .unwrap();
    (rows, texts)
}

#[sqlx::test(migrations = "../migrations")]
async fn each_distinct_reasons_text_is_stored_once_and_every_decision_points_at_its_own(
    pool: PgPool,
) {
    let app = TestApp::new(pool.clone()).await;
    let store = &app.state.store;
    // A cache of one entry: it is emptied again and again, so ids come from the cache, from
    // this transaction's insert and from rows stored earlier, all in one run.
    let reasons = ReasonIds::with_capacity(1);
    let texts = [
        "rate_limited too many calls",
        "",
        "mfa_required step-up MFA",
        "rate_limited too many calls",
    ];
    let batch = rows_with_reasons(&texts, "{}");
    assert_eq!(
        store.insert_decision_logs(&batch, &reasons).await.unwrap(),
        4
    );
    let again = rows_with_reasons(
        &["mfa_required step-up MFA", "approval_required INC-00042"],
        "{}",
    );
    let other = rows_with_reasons(&["", "rate_limited too many calls"], "{}");
    assert_eq!(
        store
            .insert_decision_log_batches(&[&again, &other], &reasons)
            .await
            .unwrap(),
        vec![2, 2]
    );
    // A second writer process (its own, empty cache) reuses the stored texts.
    let fresh = ReasonIds::default();
    let later = rows_with_reasons(&["approval_required INC-00042"], "{}");
    assert_eq!(store.insert_decision_logs(&later, &fresh).await.unwrap(), 1);
    assert_eq!(fresh.len(), 1);

    let (rows, distinct) = reasons_by_id(&pool).await;
    assert_eq!(distinct, 4, "{rows:?}");
    assert_eq!(rows.len(), 9);
    for (own, by_id) in rows {
        assert_eq!(Some(own), by_id);
    }
}

/// Appends row `i` of `from` to `to` (the same decision again, as a resend carries it).
fn push_copy(to: &mut DecisionLogColumns, from: &DecisionLogColumns, i: usize) {
    to.decision_id.push(from.decision_id[i]);
    to.ts.push(from.ts[i]);
    to.persona.push(from.persona[i].clone());
    to.agent_id.push(from.agent_id[i].clone());
    to.user_id.push(from.user_id[i].clone());
    to.tool.push(from.tool[i].clone());
    to.allow.push(from.allow[i]);
    to.revision.push(from.revision[i].clone());
    to.sequence.push(from.sequence[i]);
    to.path.push(from.path[i].clone());
    to.reasons.push(from.reasons[i].clone());
    to.event.push(from.event[i].clone());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_group_holding_stored_events_is_stored_again_skipping_them(pool: PgPool) {
    // Groups are first inserted as new events; a stored one fails that attempt, which rolls
    // back (reasons texts it stored included) before the group goes in again skipping it.
    let app = TestApp::new(pool.clone()).await;
    let store = &app.state.store;
    let reasons = ReasonIds::default();
    let first = rows_with_reasons(&["a one", "a two", "a three"], r#"{"n":1}"#);
    assert_eq!(
        store.insert_decision_logs(&first, &reasons).await.unwrap(),
        3
    );
    // Two new events, a resend of one stored event, and one of the new ones twice.
    let mut resent = rows_with_reasons(&["b new", "b other"], r#"{"n":2}"#);
    push_copy(&mut resent, &first, 0);
    let copy = resent.clone();
    push_copy(&mut resent, &copy, 0);
    // A batch of the same group with a reasons text nobody stored yet.
    let fresh = rows_with_reasons(&["c brand new", "c brand new"], r#"{"n":3}"#);
    assert_eq!(
        store
            .insert_decision_log_batches(&[&resent, &fresh], &reasons)
            .await
            .unwrap(),
        vec![2, 2]
    );
    assert_eq!(stored(&pool).await, 7);
    let (rows, distinct) = reasons_by_id(&pool).await;
    assert_eq!(distinct, 6, "{rows:?}");
    for (own, by_id) in rows {
        assert_eq!(Some(own), by_id);
    }
    // The whole group resent: nothing new, nothing doubled.
    assert_eq!(
        store
            .insert_decision_log_batches(&[&fresh, &resent], &reasons)
            .await
            .unwrap(),
        vec![0, 0]
    );
    assert_eq!(stored(&pool).await, 7);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rolled_back_batch_leaves_no_reasons_id_behind(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let store = &app.state.store;
    let reasons = ReasonIds::default();
    // Postgres refuses the event text (a NUL character, which `text` cannot hold; ingest
    // refuses such events before they get here), so the whole transaction — the new reasons
    // text included — rolls back, and the cache must not remember an id that was never
    // committed.
    let refused = rows_with_reasons(&["pii_not_allowed new text"], "{\"a\":\"\u{0}\"}");
    store
        .insert_decision_logs(&refused, &reasons)
        .await
        .unwrap_err();
    assert!(reasons.is_empty());
    assert_eq!(reasons_by_id(&pool).await.1, 0);

    let accepted = rows_with_reasons(&["pii_not_allowed new text"], "{}");
    assert_eq!(
        store
            .insert_decision_logs(&accepted, &reasons)
            .await
            .unwrap(),
        1
    );
    let (rows, distinct) = reasons_by_id(&pool).await;
    assert_eq!(distinct, 1);
    assert_eq!(
        rows,
        vec![(
            "pii_not_allowed new text".into(),
            Some("pii_not_allowed new text".into())
        )]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_writers_store_a_new_reasons_text_once(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    // Eight writers with their own caches, each storing the same new texts in a different
    // order: they wait for each other on the unique digest, none deadlocks, one row per text.
    let texts = ["a first", "b second", "c third", "d fourth"];
    let writers = (0..8).map(|i| {
        let store = app.state.store.clone();
        let mut order = texts.to_vec();
        order.rotate_left(i % texts.len());
        tokio::spawn(async move {
            let rows = rows_with_reasons(&order, "{}");
            store
                .insert_decision_logs(&rows, &ReasonIds::default())
                .await
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        assert_eq!(writer.await.unwrap().unwrap(), 4);
    }
    let (rows, distinct) = reasons_by_id(&pool).await;
    assert_eq!(distinct, 4);
    assert_eq!(rows.len(), 32);
    assert!(rows.iter().all(|(own, by_id)| Some(own) == by_id.as_ref()));
}

#[sqlx::test(migrations = "../migrations")]
async fn events_are_stored_as_received_minified(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let agent = app.agent_token("hr-bot").await;
    let mut one = event("hr-bot");
    one["input"]["note"] = json!("two  spaces\nand a newline");
    let pretty = serde_json::to_vec_pretty(&vec![one.clone()]).unwrap();
    let response = app.send(post_gzip("/logs", &agent, &pretty)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text: String = sqlx::query_scalar("SELECT event::text FROM decision_logs")
        .fetch_one(&pool)
        .await
        .unwrap();
    // One line, no whitespace between tokens, the strings untouched, the same value.
    assert!(!text.contains('\n') && !text.contains(": "), "{text}");
    assert!(text.contains(r#""two  spaces\nand a newline""#), "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), one);
}

/// New events go in by binary `COPY`, events of a group holding a stored one by `INSERT …
/// UNNEST … ON CONFLICT`: both write every column as given — NULLs, non-ASCII text,
/// timestamps before and after PostgreSQL's epoch to the microsecond, 64-bit sequences.
#[sqlx::test(migrations = "../migrations")]
async fn every_column_is_stored_as_given_by_copy_and_by_insert(pool: PgPool) {
    use chrono::{DateTime, TimeZone as _};
    let app = TestApp::new(pool.clone()).await;
    let store = &app.state.store;
    let reasons = ReasonIds::default();
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    let mut rows = DecisionLogColumns::default();
    let mut push = |id: Uuid,
                    ts: DateTime<Utc>,
                    text: Option<&str>,
                    allow: Option<bool>,
                    sequence: Option<i64>,
                    reasons_text: &str| {
        let text = text.map(str::to_owned);
        rows.decision_id.push(id);
        rows.ts.push(ts);
        rows.persona.push(text.clone());
        rows.agent_id
            .push(text.clone().map(|t| format!("{t}-agent")));
        rows.user_id.push(text.clone().map(|t| format!("{t}-user")));
        rows.tool.push(text.clone().map(|t| format!("{t}-tool")));
        rows.allow.push(allow);
        rows.revision.push(text.clone().map(|t| format!("{t}-rev")));
        rows.sequence.push(sequence);
        rows.path.push(text.map(|t| format!("{t}/path")));
        rows.reasons.push(reasons_text.to_owned());
        rows.event
            .push(format!(r#"{{"decision_id":"{id}","t":"ünï ☃"}}"#));
    };
    let (a, b, c, d) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    push(
        a,
        at("2026-12-07T10:11:12.345678Z"),
        Some("hr-bøt ☃"),
        Some(true),
        Some(i64::MAX),
        "x ünï",
    );
    push(b, at("1999-12-31T23:59:59.999999Z"), None, None, None, "");
    push(
        c,
        Utc.timestamp_opt(0, 1_000).unwrap(),
        Some(""),
        Some(false),
        Some(i64::MIN),
        "y",
    );
    assert_eq!(
        store.insert_decision_logs(&rows, &reasons).await.unwrap(),
        3
    );
    // A group holding a stored event goes in by INSERT: d is new, a is skipped.
    let mut again = DecisionLogColumns::default();
    push_copy(&mut again, &rows, 0); // a
    push_copy(&mut again, &rows, 1);
    *again.decision_id.last_mut().unwrap() = d;
    assert_eq!(
        store.insert_decision_logs(&again, &reasons).await.unwrap(),
        1
    );

    type Row = (
        Uuid,
        DateTime<Utc>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<bool>,
        Option<String>,
        Option<i64>,
        Option<String>,
        String,
        String,
    );
    let stored: Vec<Row> = sqlx::query_as(
        "SELECT d.decision_id, d.ts, d.persona, d.agent_id, d.user_id, d.tool, d.allow, d.revision,
                d.sequence, d.path, t.reasons, d.event
         FROM decision_logs d JOIN decision_reason_texts t ON t.id = d.reasons_id
         WHERE d.reasons = t.reasons",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        stored.len(),
        4,
        "every row with the id of its own reasons text"
    );
    for (i, id) in rows.decision_id.iter().enumerate() {
        let want: Row = (
            *id,
            rows.ts[i],
            rows.persona[i].clone(),
            rows.agent_id[i].clone(),
            rows.user_id[i].clone(),
            rows.tool[i].clone(),
            rows.allow[i],
            rows.revision[i].clone(),
            rows.sequence[i],
            rows.path[i].clone(),
            rows.reasons[i].clone(),
            rows.event[i].clone(),
        );
        let got = stored.iter().find(|r| r.0 == *id).unwrap();
        assert_eq!(got, &want);
    }
    let via_insert = stored.iter().find(|r| r.0 == d).unwrap();
    assert_eq!(via_insert.1, rows.ts[1]);
    assert_eq!(via_insert.2, None);
    // Timestamps to the microsecond, compared in SQL too.
    let text: String =
        sqlx::query_scalar("SELECT ts::text FROM decision_logs WHERE decision_id = $1")
            .bind(a)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(text, "2026-12-07 10:11:12.345678+00");
}
