//! The rollout model end to end through the real router and Postgres: a canary over 100
//! simulated agents, raising it, promoting, rolling back (re-issue), and the event log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/rollout.rs"]
mod helpers;

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
    let channels = body_json(
        app.get("/api/v1/personas/tiny-bot/channels", &app.auditor)
            .await,
    )
    .await;
    assert!(channel(&channels, "prod")["rollout"].is_null());
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
