//! The rollout model end to end through the real router and Postgres: a canary over 100
//! simulated agents, raising it, promoting, rolling back (re-issue), and the event log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/rollout.rs"]
mod helpers;
#[path = "common/opa.rs"]
mod opa;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use common::{TestApp, body_bytes, body_json};
use helpers::{Fleet, post, push_version};
use regent_bundle::{Limits, read_bundle, verify_bundle};
use serde_json::json;
use sqlx::PgPool;

const PERSONA: &str = "tiny-bot";

#[sqlx::test(migrations = "../migrations")]
async fn canary_at_30_then_60_then_promote_over_100_agents(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let fleet = Fleet::new(&app, PERSONA, 100).await;
    assert_eq!(push_version(&app, 1).await, "tiny-bot-1"); // staging and (empty) prod
    assert_eq!(push_version(&app, 2).await, "tiny-bot-2"); // staging only
    assert!(fleet.all_on(&app, "tiny-bot-1").await);

    // staging → prod promotion is a rollout on prod whose candidate is staging's revision.
    let started = post(
        &app,
        "/api/v1/personas/tiny-bot/channels/prod/rollout",
        &app.publisher,
        json!({"from_channel": "staging", "percentage": 30, "reason": "canary v2"}),
    )
    .await;
    assert_eq!(started.status(), StatusCode::CREATED);
    let started = body_json(started).await;
    assert_eq!(started["kind"], "rollout_started");
    assert_eq!(started["from_revision"], "tiny-bot-1");
    assert_eq!(started["to_revision"], "tiny-bot-2");
    let rollout_id = started["rollout_id"].as_i64().unwrap();

    let at30 = fleet.on(&app, "tiny-bot-2").await;
    assert!(
        (25..=35).contains(&at30.len()),
        "{} on the canary",
        at30.len()
    );
    // The same ones every time, and exactly those the documented hash puts in.
    assert_eq!(fleet.on(&app, "tiny-bot-2").await, at30);
    let expected: BTreeSet<String> = fleet
        .ids
        .iter()
        .filter(|id| regent_control_plane::services::rollout::bucket(rollout_id, id) < 30)
        .cloned()
        .collect();
    assert_eq!(at30, expected);
    // A stock OPA (no agent id) stays on the channel revision during the canary.
    let stock = app.get("/bundles/tiny-bot", &fleet.token).await;
    assert_eq!(stock.headers()["x-regent-revision"], "tiny-bot-1");

    let raised = post(
        &app,
        "/api/v1/personas/tiny-bot/channels/prod/rollout/percentage",
        &app.publisher,
        json!({"percentage": 60, "reason": "looks good"}),
    )
    .await;
    assert_eq!(raised.status(), StatusCode::OK);
    let at60 = fleet.on(&app, "tiny-bot-2").await;
    assert!((55..=65).contains(&at60.len()), "{} at 60%", at60.len());
    assert!(at30.is_subset(&at60), "everyone in at 30% stays in at 60%");

    // Convergence counts each agent against its own assignment.
    fleet.report_active(&app).await;
    let channels = body_json(
        app.get("/api/v1/personas/tiny-bot/channels", &app.auditor)
            .await,
    )
    .await;
    let prod = channel(&channels, "prod");
    assert_eq!(prod["rollout"]["percentage"], 60);
    assert_eq!(prod["rollout"]["candidate"], "tiny-bot-2");
    assert_eq!(prod["rollout"]["started_by"], "publisher:ci");
    assert_eq!(prod["agents"]["total"], 100);
    assert_eq!(prod["agents"]["on_target"], 100);
    assert_eq!(prod["agents"]["assigned_candidate"], at60.len());
    assert_eq!(prod["agents"]["stale"], 0);
    assert_eq!(prod["agents"]["erroring"], 0);

    let promoted = post(
        &app,
        "/api/v1/personas/tiny-bot/channels/prod/rollout/promote",
        &app.publisher,
        json!({"reason": "ship it"}),
    )
    .await;
    assert_eq!(promoted.status(), StatusCode::OK);
    assert!(fleet.all_on(&app, "tiny-bot-2").await, "promote moves all");
    // Stock OPA (no agent id) gets the channel revision too.
    let stock = app.get("/bundles/tiny-bot", &fleet.token).await;
    assert_eq!(stock.headers()["x-regent-revision"], "tiny-bot-2");

    // Before reporting, nobody is on the new target; after, everyone.
    let channels = body_json(
        app.get("/api/v1/personas/tiny-bot/channels", &app.auditor)
            .await,
    )
    .await;
    let prod = channel(&channels, "prod");
    assert_eq!(prod["revision"], "tiny-bot-2");
    assert!(prod["rollout"].is_null());
    assert_eq!(
        prod["agents"]["on_target"],
        at60.len(),
        "only the canary ran it already"
    );
    fleet.report_active(&app).await;
    let channels = body_json(
        app.get("/api/v1/personas/tiny-bot/channels", &app.auditor)
            .await,
    )
    .await;
    assert_eq!(
        channel(&channels, "prod")["agents"]["converged_percent"],
        100.0
    );

    // Every step is in the log, newest first, with actor, from, to, percentage, reason.
    let log = body_json(
        app.get(
            "/api/v1/personas/tiny-bot/rollout-events?channel=prod",
            &app.auditor,
        )
        .await,
    )
    .await;
    let steps: Vec<_> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
                e["from_revision"].as_str().map(str::to_owned),
                e["to_revision"].as_str().map(str::to_owned),
                e["percentage"].as_i64(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        steps,
        [
            (
                "rollout_promoted".into(),
                "publisher:ci".into(),
                s("tiny-bot-1"),
                s("tiny-bot-2"),
                Some(100),
                "ship it".into()
            ),
            (
                "rollout_percentage".into(),
                "publisher:ci".into(),
                s("tiny-bot-1"),
                s("tiny-bot-2"),
                Some(60),
                "looks good".into()
            ),
            (
                "rollout_started".into(),
                "publisher:ci".into(),
                s("tiny-bot-1"),
                s("tiny-bot-2"),
                Some(30),
                "canary v2".into()
            ),
            (
                "push".into(),
                "publisher:ci".into(),
                None,
                s("tiny-bot-1"),
                Some(100),
                "new revision pushed".into()
            ),
        ]
    );
    assert_eq!(log["events"][0]["details"]["rollout_id"], rollout_id);
}

#[sqlx::test(migrations = "../migrations")]
async fn rollback_reissues_old_content_as_a_new_signed_revision(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let fleet = Fleet::new(&app, PERSONA, 100).await;
    push_version(&app, 1).await;
    push_version(&app, 2).await;
    for (uri, body) in [
        (
            "rollout",
            json!({"revision": "tiny-bot-2", "percentage": 100}),
        ),
        ("rollout/promote", json!({})),
    ] {
        let r = post(
            &app,
            &format!("/api/v1/personas/tiny-bot/channels/prod/{uri}"),
            &app.publisher,
            body,
        )
        .await;
        assert!(r.status().is_success(), "{uri}: {}", r.status());
    }
    // A canary of something else is under way when the incident hits.
    push_version(&app, 3).await;
    let r = post(
        &app,
        "/api/v1/personas/tiny-bot/channels/prod/rollout",
        &app.publisher,
        json!({"revision": 3, "percentage": 20}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let r = post(
        &app,
        "/api/v1/personas/tiny-bot/channels/prod/rollback",
        &app.publisher,
        json!({"revision": "tiny-bot-1", "reason": "v2 denies payroll lookups"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let outcome = body_json(r).await;
    assert_eq!(outcome["revision"], "tiny-bot-4");
    assert_eq!(outcome["sequence"], 4);
    assert_eq!(outcome["reissue_of"], "tiny-bot-1");
    assert_eq!(outcome["kind"], "rollback");
    assert!(outcome["ended_rollout"].is_i64());

    let old = body_json(
        app.get("/api/v1/personas/tiny-bot/revisions/1", &app.auditor)
            .await,
    )
    .await;
    let new = body_json(
        app.get("/api/v1/personas/tiny-bot/revisions/4", &app.auditor)
            .await,
    )
    .await;
    assert_eq!(new["content_digest"], old["content_digest"]);
    assert_ne!(new["bundle_digest"], old["bundle_digest"]);
    assert_eq!(new["reissue_of"], old["id"]);
    assert_eq!(new["created_by"], "publisher:ci");

    // The bytes carry the new sequence and a valid signature by the active key.
    let bytes = body_bytes(
        app.get("/api/v1/personas/tiny-bot/revisions/4/bundle", &app.auditor)
            .await,
    )
    .await;
    let bundle = read_bundle(&bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(bundle.manifest.revision, "tiny-bot-4");
    assert_eq!(bundle.manifest.sequence(), Some(4));
    assert_eq!(
        bundle.content_digest(),
        old["content_digest"].as_str().unwrap()
    );
    let verified = verify_bundle(&bundle, app.state.keys.trusted(), Some("tiny-bot")).unwrap();
    assert_eq!(verified.kid, "test-key");

    // Every agent converges on it (the canary ended with the rollback).
    assert!(fleet.all_on(&app, "tiny-bot-4").await);
    fleet.report_active(&app).await;
    let channels = body_json(
        app.get("/api/v1/personas/tiny-bot/channels", &app.auditor)
            .await,
    )
    .await;
    let prod = channel(&channels, "prod");
    assert!(prod["rollout"].is_null());
    assert_eq!(prod["revision"], "tiny-bot-4");
    assert_eq!(prod["agents"]["on_target"], 100);
    assert_eq!(prod["agents"]["converged_percent"], 100.0);
    let log = body_json(
        app.get(
            "/api/v1/personas/tiny-bot/rollout-events?limit=1",
            &app.auditor,
        )
        .await,
    )
    .await;
    let event = &log["events"][0];
    assert_eq!(event["kind"], "rollback");
    assert_eq!(event["from_revision"], "tiny-bot-2");
    assert_eq!(event["to_revision"], "tiny-bot-4");
    assert_eq!(event["reason"], "v2 denies payroll lookups");
    assert_eq!(event["details"]["reissue_of"], "tiny-bot-1");
    assert!(
        log["next_before"].is_i64(),
        "a full page says where to go on"
    );
}

fn channel<'a>(channels: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    channels["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no channel {name}: {channels}"))
}

#[sqlx::test(migrations = "../migrations")]
async fn long_poll_wakes_when_a_canary_starts_and_only_the_in_bucket_agent_moves(pool: PgPool) {
    use std::time::{Duration, Instant};

    use axum::body::Body;
    use axum::http::{Request, header};
    use regent_control_plane::services::rollout::bucket;

    let app = TestApp::new(pool).await;
    let fleet = Fleet::new(&app, PERSONA, 0).await;
    push_version(&app, 1).await;
    push_version(&app, 2).await;
    opa::start_listening(&app.state).await;

    // A fresh database: the first rollout gets id 1, so buckets are known in advance.
    let ids: Vec<String> = (0..100).map(|i| format!("poller-{i}")).collect();
    let inside = ids.iter().find(|id| bucket(1, id) < 50).unwrap().clone();
    let outside = ids.iter().find(|id| bucket(1, id) >= 50).unwrap().clone();
    let etag = app
        .get(&format!("/bundles/tiny-bot?agent={inside}"), &fleet.token)
        .await
        .headers()[header::ETAG]
        .to_str()
        .unwrap()
        .to_owned();
    let poll = |agent: String| {
        let request = Request::get(format!("/bundles/tiny-bot?agent={agent}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", fleet.token))
            .header("if-none-match", &etag)
            .header("prefer", "modes=snapshot,delta;wait=20")
            .body(Body::empty())
            .unwrap();
        let router = app.router.clone();
        tokio::spawn(async move { opa::send(&router, request).await })
    };
    let in_poll = poll(inside);
    let out_poll = poll(outside);
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.state.bundles.waiters("tiny-bot") < 2 {
        assert!(
            Instant::now() < deadline,
            "the long polls never started waiting"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let started_at = Instant::now();
    let started = body_json(
        post(
            &app,
            "/api/v1/personas/tiny-bot/channels/prod/rollout",
            &app.publisher,
            json!({"revision": "tiny-bot-2", "percentage": 50}),
        )
        .await,
    )
    .await;
    assert_eq!(started["rollout_id"], 1);
    let response = in_poll.await.unwrap();
    assert!(started_at.elapsed() < Duration::from_secs(2));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-regent-revision"], "tiny-bot-2");
    assert!(
        !out_poll.is_finished(),
        "the agent outside the bucket keeps waiting"
    );
    out_poll.abort();
}

/// Waits until the publication worker has nothing pending (and nothing failed).
async fn wait_published(pool: &PgPool) {
    use std::time::Duration;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (pending, failed): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'failed')
             FROM publications",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(failed, 0);
        if pending == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{pending} still pending"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn promote_and_rollback_move_the_oci_channel_tag(pool: PgPool) {
    use common::registry::TestRegistry;
    use regent_control_plane::config::Config;

    let registry = TestRegistry::start_new().await;
    let config = Config {
        registries: vec![registry.config("local")],
        ..Config::default()
    };
    let app = TestApp::with_config(pool.clone(), config).await;
    let _workers = regent_control_plane::publish::spawn(app.state.clone());
    push_version(&app, 1).await;
    push_version(&app, 2).await;
    wait_published(&pool).await;
    let tagged = |tag: &str| {
        registry.inspect_raw(&format!("regent/tiny-bot:{tag}"))["annotations"]
            ["org.opencontainers.image.revision"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(tagged("prod"), "tiny-bot-1");
    assert_eq!(tagged("staging"), "tiny-bot-2");

    let uri = "/api/v1/personas/tiny-bot/channels/prod";
    let r = post(
        &app,
        &format!("{uri}/rollout"),
        &app.publisher,
        json!({"from_channel": "staging", "percentage": 50}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    wait_published(&pool).await;
    assert_eq!(
        tagged("prod"),
        "tiny-bot-1",
        "a canary does not move the tag"
    );
    let r = post(
        &app,
        &format!("{uri}/rollout/promote"),
        &app.publisher,
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    wait_published(&pool).await;
    assert_eq!(tagged("prod"), "tiny-bot-2");

    let r = post(
        &app,
        &format!("{uri}/rollback"),
        &app.publisher,
        json!({"revision": 1, "reason": "regression"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    wait_published(&pool).await;
    assert_eq!(tagged("tiny-bot-3"), "tiny-bot-3");
    assert_eq!(tagged("prod"), "tiny-bot-3");
    let verified = regent_control_plane::publish::cosign::verify_cosign(
        &registry.config("local"),
        "regent/tiny-bot:prod",
        &app.state.keys.signing().public_key().to_pem(),
    )
    .await;
    assert!(verified.is_ok(), "{verified:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn convergence_counts_stale_erroring_and_channel_members(pool: PgPool) {
    use helpers::json_request;

    let app = TestApp::new(pool.clone()).await;
    let fleet = Fleet::new(&app, PERSONA, 4).await;
    push_version(&app, 1).await;
    push_version(&app, 2).await;
    fleet.report_active(&app).await; // four prod agents on tiny-bot-1
    // One staging agent that failed to activate its bundle.
    let report = json!({
        "labels": {"id": "staging-agent", "channel": "staging"},
        "bundles": {"tiny-bot": {"name": "tiny-bot", "active_revision": "tiny-bot-1",
            "code": "bundle_error", "message": "signature invalid"}},
    });
    let r = app
        .send(json_request("POST", "/status", &fleet.token, &report))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // One prod agent last seen ten minutes ago.
    sqlx::query("UPDATE agents SET last_seen_at = now() - interval '10 minutes' WHERE id = $1")
        .bind(&fleet.ids[0])
        .execute(&pool)
        .await
        .unwrap();

    let channels = body_json(
        app.get("/api/v1/personas/tiny-bot/channels", &app.auditor)
            .await,
    )
    .await;
    let prod = &channel(&channels, "prod")["agents"];
    assert_eq!(
        (prod["total"].as_i64(), prod["on_target"].as_i64()),
        (Some(4), Some(4))
    );
    assert_eq!(
        (prod["stale"].as_i64(), prod["erroring"].as_i64()),
        (Some(1), Some(0))
    );
    let staging = &channel(&channels, "staging")["agents"];
    assert_eq!(staging["total"], 1);
    assert_eq!(
        staging["on_target"], 0,
        "it runs tiny-bot-1, staging is at tiny-bot-2"
    );
    assert_eq!(staging["erroring"], 1);
    assert_eq!(staging["converged_percent"], 0.0);
    // The threshold is the caller's: with 20 minutes nobody is stale.
    let channels = body_json(
        app.get(
            "/api/v1/personas/tiny-bot/channels?stale_after=1200",
            &app.auditor,
        )
        .await,
    )
    .await;
    assert_eq!(channel(&channels, "prod")["agents"]["stale"], 0);

    // The event log pages newest first without overlap.
    let first = body_json(
        app.get(
            "/api/v1/personas/tiny-bot/rollout-events?limit=2",
            &app.auditor,
        )
        .await,
    )
    .await;
    let before = first["next_before"].as_i64().unwrap();
    let second = body_json(
        app.get(
            &format!("/api/v1/personas/tiny-bot/rollout-events?limit=2&before={before}"),
            &app.auditor,
        )
        .await,
    )
    .await;
    let ids = |page: &serde_json::Value| -> Vec<i64> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    let (a, b) = (ids(&first), ids(&second));
    assert_eq!(a.len(), 2);
    assert_eq!(b.len(), 1, "three push events in all");
    assert!(a[0] > a[1] && a[1] > b[0]);
    assert!(second["next_before"].is_null());
}
