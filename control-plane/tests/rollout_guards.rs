//! What the rollout API refuses: frozen channels (409), roles (403), bad input (404/409/422) —
//! each with a precise message, and nothing stored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/rollout.rs"]
mod helpers;
#[path = "common/opa.rs"]
mod opa;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{TestApp, assert_problem, body_json, build_archive, tiny_copy};
use helpers::{Fleet, json_request, post, push_version};
use serde_json::{Value, json};
use sqlx::PgPool;

const P: &str = "/api/v1/personas/tiny-bot";

/// Counts of everything a rollout change could write.
async fn snapshot(pool: &PgPool) -> Vec<i64> {
    let one = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    vec![
        one("SELECT count(*) FROM rollout_events").await,
        one("SELECT count(*) FROM revisions").await,
        one("SELECT count(*) FROM rollouts").await,
        one("SELECT coalesce(sum(percentage), 0)::bigint FROM rollouts").await,
        one("SELECT count(*) FROM rollouts WHERE state = 'active'").await,
        one("SELECT count(*) FROM agent_pins").await,
        one("SELECT coalesce(sum(revision_id), 0)::bigint FROM channels").await,
        one("SELECT count(*) FROM publications").await,
    ]
}

/// Every mutating route with a body that would succeed on the fixture of
/// `frozen_channel_refuses_every_change`.
fn mutations() -> Vec<(&'static str, String, Value)> {
    vec![
        (
            "POST",
            format!("{P}/channels/prod/rollout"),
            json!({"revision": 2, "percentage": 10}),
        ),
        (
            "POST",
            format!("{P}/channels/prod/rollout/percentage"),
            json!({"percentage": 50}),
        ),
        (
            "POST",
            format!("{P}/channels/prod/rollout/promote"),
            json!({}),
        ),
        (
            "POST",
            format!("{P}/channels/prod/rollout/abort"),
            json!({}),
        ),
        (
            "POST",
            format!("{P}/channels/prod/rollback"),
            json!({"revision": 1, "reason": "incident"}),
        ),
        (
            "PUT",
            format!("{P}/channels/prod/pins/agent-9"),
            json!({"revision": 2}),
        ),
        (
            "DELETE",
            format!("{P}/channels/prod/pins/pinned-agent"),
            json!({}),
        ),
    ]
}

/// prod at tiny-bot-1 with a canary of tiny-bot-2 at 10%, one pinned agent.
async fn fixture(app: &TestApp) {
    push_version(app, 1).await;
    push_version(app, 2).await;
    for (method, uri, body) in [
        (
            "POST",
            format!("{P}/channels/prod/rollout"),
            json!({"revision": "tiny-bot-2", "percentage": 10}),
        ),
        (
            "PUT",
            format!("{P}/channels/prod/pins/pinned-agent"),
            json!({"revision": 1, "reason": "debugging"}),
        ),
    ] {
        let r = app
            .send(json_request(method, &uri, &app.publisher, &body))
            .await;
        assert!(r.status().is_success(), "{uri}: {}", r.status());
    }
}

fn push_to(channel: &str, archive: Vec<u8>, token: &str) -> Request<Body> {
    Request::post(format!("{P}/revisions?channel={channel}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/gzip")
        .body(Body::from(archive))
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn frozen_channel_refuses_every_change_and_stores_nothing(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    fixture(&app).await;
    let frozen = post(
        &app,
        &format!("{P}/channels/prod/freeze"),
        &app.admin,
        json!({"reason": "incident 42"}),
    )
    .await;
    assert_eq!(frozen.status(), StatusCode::OK);
    assert_eq!(body_json(frozen).await["kind"], "channel_frozen");
    let before = snapshot(&pool).await;

    for (method, uri, body) in mutations() {
        let r = app
            .send(json_request(method, &uri, &app.publisher, &body))
            .await;
        let problem = assert_problem(r, StatusCode::CONFLICT, "channel_frozen").await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("channel `prod` of persona `tiny-bot` is frozen")
                && detail.contains("admin:admin")
                && detail.contains("incident 42")
                && detail.contains("regent rollout unfreeze tiny-bot prod"),
            "{method} {uri}: {detail}"
        );
    }
    // A push that would move the frozen channel is refused too, and stores no revision.
    let dir = tiny_copy();
    std::fs::write(
        dir.path().join("data.json"),
        r#"{"tools": ["echo", "new"]}"#,
    )
    .unwrap();
    let r = app
        .send(push_to("prod", build_archive(dir.path()), &app.publisher))
        .await;
    let problem = assert_problem(r, StatusCode::CONFLICT, "conflict").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("frozen"),
        "{problem}"
    );
    let again = post(
        &app,
        &format!("{P}/channels/prod/freeze"),
        &app.admin,
        json!({}),
    )
    .await;
    assert_problem(again, StatusCode::CONFLICT, "frozen_state").await;
    assert_eq!(
        snapshot(&pool).await,
        before,
        "nothing changed while frozen"
    );

    // staging is not frozen: a push there still works.
    let r = app
        .send(push_to(
            "staging",
            build_archive(dir.path()),
            &app.publisher,
        ))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let r = post(
        &app,
        &format!("{P}/channels/prod/unfreeze"),
        &app.publisher,
        json!({"reason": "resolved"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(
        &app,
        &format!("{P}/channels/prod/rollout/percentage"),
        &app.publisher,
        json!({"percentage": 50}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let log = body_json(
        app.get(&format!("{P}/rollout-events?limit=3"), &app.auditor)
            .await,
    )
    .await;
    let kinds: Vec<_> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("rollout_percentage", "publisher:ci"),
            ("channel_unfrozen", "publisher:ci"),
            ("push", "publisher:ci"),
        ]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn auditors_and_agents_change_nothing(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    fixture(&app).await;
    let agent = app.agent_token("tiny-bot").await;
    let before = snapshot(&pool).await;
    let mut routes = mutations();
    routes.extend([
        ("POST", format!("{P}/channels/prod/freeze"), json!({})),
        ("POST", format!("{P}/channels/prod/unfreeze"), json!({})),
        ("POST", format!("{P}/channels"), json!({"name": "canary"})),
    ]);
    for token in [&app.auditor, &agent] {
        for (method, uri, body) in &routes {
            let r = app.send(json_request(method, uri, token, body)).await;
            let problem = assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap()
                    .contains("publisher or admin"),
                "{method} {uri}: {problem}"
            );
        }
    }
    assert_eq!(snapshot(&pool).await, before);

    // Auditors read everything; agents read only their own assignment.
    for uri in [
        format!("{P}/channels"),
        format!("{P}/channels/prod"),
        format!("{P}/rollout-events"),
        format!("{P}/pins"),
        format!("{P}/assignments/agent-1"),
    ] {
        assert_eq!(
            app.get(&uri, &app.auditor).await.status(),
            StatusCode::OK,
            "{uri}"
        );
    }
    for uri in [format!("{P}/channels"), format!("{P}/rollout-events")] {
        assert_eq!(
            app.get(&uri, &agent).await.status(),
            StatusCode::FORBIDDEN,
            "{uri}"
        );
    }
    let mine = app
        .get(&format!("{P}/assignments/pinned-agent"), &agent)
        .await;
    assert_eq!(mine.status(), StatusCode::OK);
    let mine = body_json(mine).await;
    assert_eq!(mine["revision"], "tiny-bot-1");
    assert_eq!(mine["source"]["kind"], "pin");
    let other = app.agent_token("hr-bot").await;
    let r = app
        .get(&format!("{P}/assignments/pinned-agent"), &other)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_requests_get_precise_problems_and_store_nothing(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    push_version(&app, 1).await;
    push_version(&app, 2).await;
    opa::store_revision(&app.state.store, "other-bot", 1).await;
    let before = snapshot(&pool).await;
    let start = format!("{P}/channels/prod/rollout");
    let cases: Vec<(String, Value, StatusCode, &str, &str)> = vec![
        (
            start.clone(),
            json!({"revision": 99, "percentage": 10}),
            StatusCode::NOT_FOUND,
            "unknown_revision",
            "revision `99` of persona `tiny-bot` not found",
        ),
        (
            start.clone(),
            json!({"revision": "other-bot-1", "percentage": 10}),
            StatusCode::NOT_FOUND,
            "unknown_revision",
            "`other-bot-1`",
        ),
        (
            start.clone(),
            json!({"revision": 2, "percentage": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_percentage",
            "`0` is outside 1..=100",
        ),
        (
            start.clone(),
            json!({"revision": 2, "percentage": 101}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_percentage",
            "`101`",
        ),
        (
            start.clone(),
            json!({"percentage": 10}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "candidate_required",
            "`revision`",
        ),
        (
            start.clone(),
            json!({"revision": 2, "from_channel": "staging", "percentage": 10}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "ambiguous_candidate",
            "not both",
        ),
        (
            start.clone(),
            json!({"revision": 1, "percentage": 10}),
            StatusCode::CONFLICT,
            "already_on_revision",
            "already runs `tiny-bot-1`",
        ),
        (
            start.clone(),
            json!({"revision": 2, "percentage": 10, "extra": 1}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "unknown field `extra`",
        ),
        (
            format!("{P}/channels/nope/rollout"),
            json!({"revision": 2, "percentage": 10}),
            StatusCode::NOT_FOUND,
            "not_found",
            "channel `nope` of persona `tiny-bot`",
        ),
        (
            format!("{P}/channels/prod/rollout/percentage"),
            json!({"percentage": 20}),
            StatusCode::CONFLICT,
            "no_active_rollout",
            "has no active rollout",
        ),
        (
            format!("{P}/channels/prod/rollout/promote"),
            json!({}),
            StatusCode::CONFLICT,
            "no_active_rollout",
            "regent rollout start tiny-bot prod",
        ),
        (
            format!("{P}/channels/prod/rollout/abort"),
            json!({}),
            StatusCode::CONFLICT,
            "no_active_rollout",
            "has no active rollout",
        ),
        (
            format!("{P}/channels/prod/rollback"),
            json!({"revision": 2}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason_required",
            "a reason is required",
        ),
        (
            format!("{P}/channels/prod/rollback"),
            json!({"revision": "other-bot-1", "reason": "x"}),
            StatusCode::NOT_FOUND,
            "unknown_revision",
            "`other-bot-1` of persona `tiny-bot`",
        ),
        (
            format!("{P}/channels/prod/rollback"),
            json!({"revision": 1, "reason": "x"}),
            StatusCode::CONFLICT,
            "already_on_revision",
            "already runs",
        ),
        (
            format!("{P}/channels"),
            json!({"name": "prod"}),
            StatusCode::CONFLICT,
            "conflict",
            "already has a channel `prod`",
        ),
        (
            format!("{P}/channels"),
            json!({"name": "Bad Name"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "is not a channel name",
        ),
        (
            "/api/v1/personas/ghost/channels/prod/rollout".into(),
            json!({"revision": 1, "percentage": 5}),
            StatusCode::NOT_FOUND,
            "not_found",
            "persona `ghost` not found",
        ),
    ];
    for (uri, body, status, code, needle) in cases {
        let r = post(&app, &uri, &app.publisher, body.clone()).await;
        let problem = assert_problem(r, status, code).await;
        assert!(
            problem["detail"].as_str().unwrap().contains(needle),
            "{uri} {body}: {problem}"
        );
    }
    assert_eq!(snapshot(&pool).await, before, "no refusal stored anything");

    // A second rollout while one is active; a canary on an empty channel.
    let r = post(
        &app,
        &start,
        &app.publisher,
        json!({"revision": 2, "percentage": 5}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = post(
        &app,
        &start,
        &app.publisher,
        json!({"revision": 2, "percentage": 5}),
    )
    .await;
    assert_problem(r, StatusCode::CONFLICT, "rollout_active").await;
    let r = post(
        &app,
        &format!("{P}/channels"),
        &app.publisher,
        json!({"name": "canary"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = post(
        &app,
        &format!("{P}/channels/canary/rollout"),
        &app.publisher,
        json!({"revision": 2, "percentage": 5}),
    )
    .await;
    assert_problem(r, StatusCode::CONFLICT, "empty_channel").await;
    // Revisions only move forward: an older candidate is a rollback, not a canary.
    let r = post(
        &app,
        &format!("{P}/channels"),
        &app.publisher,
        json!({"name": "ahead", "revision": 2}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = post(
        &app,
        &format!("{P}/channels/ahead/rollout"),
        &app.publisher,
        json!({"revision": 1, "percentage": 5}),
    )
    .await;
    let problem = assert_problem(r, StatusCode::CONFLICT, "candidate_older").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("use a rollback"),
        "{problem}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn pins_and_new_channels_decide_what_an_agent_gets(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let fleet = Fleet::new(&app, "tiny-bot", 0).await;
    push_version(&app, 1).await;
    push_version(&app, 2).await;
    // Full canary of 2 on prod, but one agent pinned to 1.
    let r = post(
        &app,
        &format!("{P}/channels/prod/rollout"),
        &app.publisher,
        json!({"from_channel": "staging", "percentage": 100}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(fleet.fetch(&app, "a1").await, "tiny-bot-2");
    let r = app
        .send(json_request(
            "PUT",
            &format!("{P}/channels/prod/pins/a1"),
            &app.publisher,
            &json!({"revision": "tiny-bot-1", "reason": "repro"}),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(fleet.fetch(&app, "a1").await, "tiny-bot-1");
    assert_eq!(fleet.fetch(&app, "a2").await, "tiny-bot-2");
    let pins = body_json(app.get(&format!("{P}/pins"), &app.auditor).await).await;
    assert_eq!(pins["pins"][0]["agent_id"], "a1");
    assert_eq!(pins["pins"][0]["pinned_by"], "publisher:ci");
    let r = app
        .send(json_request(
            "DELETE",
            &format!("{P}/channels/prod/pins/a1"),
            &app.publisher,
            &json!({}),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(fleet.fetch(&app, "a1").await, "tiny-bot-2");
    let r = app
        .send(json_request(
            "DELETE",
            &format!("{P}/channels/prod/pins/a1"),
            &app.publisher,
            &json!({}),
        ))
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "not_pinned").await;

    // A new channel starting from staging's revision; agents choose it with `?channel=`.
    let r = post(
        &app,
        &format!("{P}/channels"),
        &app.publisher,
        json!({"name": "beta", "from_channel": "staging", "reason": "early adopters"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(body_json(r).await["to_revision"], "tiny-bot-2");
    let r = app
        .get("/bundles/tiny-bot?channel=beta&agent=a3", &fleet.token)
        .await;
    assert_eq!(r.headers()["x-regent-revision"], "tiny-bot-2");
    let beta = body_json(app.get(&format!("{P}/channels/beta"), &app.auditor).await).await;
    assert_eq!(beta["revision"], "tiny-bot-2");
    assert_eq!(beta["frozen"], false);
    let r = app.get(&format!("{P}/channels/gamma"), &app.auditor).await;
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
}
