//! `GET /bundles/{persona}` as a stock OPA uses it: ETags, 304s, long polling woken through
//! Postgres LISTEN/NOTIFY, also across replicas.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/opa.rs"]
mod opa;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{TestApp, assert_problem, body_bytes};
use opa::{move_channel, replica, send, start_listening, store_revision};
use regent_control_plane::config::Config;
use sqlx::PgPool;

const LONG_POLL_TYPE: &str = "application/vnd.openpolicyagent.bundles";

fn bundle_request(uri: &str, token: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::get(uri).header(header::AUTHORIZATION, format!("Bearer {token}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn opa_client_gets_200_with_etag_then_304(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let agent = app.agent_token("hr-bot").await;
    let rev = store_revision(&app.state.store, "hr-bot", 1).await;
    move_channel(&app.state.store, "hr-bot", "prod", &rev).await;

    let response = app.get("/bundles/hr-bot", &agent).await;
    assert_eq!(response.status(), StatusCode::OK);
    let h = response.headers().clone();
    assert_eq!(h[header::ETAG], rev.etag().as_str());
    assert_eq!(h[header::CONTENT_TYPE], "application/gzip");
    assert_eq!(h[header::CACHE_CONTROL], "no-cache");
    assert_eq!(body_bytes(response).await, rev.bytes);

    // OPA sends back the ETag it activated; every usual spelling is honoured.
    let quoted = rev.etag();
    let weak = format!("W/{}", rev.etag());
    let listed = format!("\"other\", {}", rev.etag());
    for value in [
        quoted.as_str(),
        rev.digest.as_str(),
        weak.as_str(),
        listed.as_str(),
    ] {
        let response = app
            .send(bundle_request(
                "/bundles/hr-bot",
                &agent,
                &[("if-none-match", value)],
            ))
            .await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{value}");
        assert_eq!(response.headers()[header::ETAG], rev.etag().as_str());
        assert!(body_bytes(response).await.is_empty());
    }

    // A new revision on the channel: the old ETag gets the new bundle.
    let rev2 = store_revision(&app.state.store, "hr-bot", 2).await;
    move_channel(&app.state.store, "hr-bot", "prod", &rev2).await;
    let response = app
        .send(bundle_request(
            "/bundles/hr-bot",
            &agent,
            &[("if-none-match", &rev.etag())],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::ETAG], rev2.etag().as_str());
    assert_eq!(body_bytes(response).await, rev2.bytes);
}

#[sqlx::test(migrations = "../migrations")]
async fn channels_unknown_personas_and_empty_channels(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let rev = store_revision(&app.state.store, "hr-bot", 1).await;
    move_channel(&app.state.store, "hr-bot", "staging", &rev).await;

    // prod is empty: 404 that says to push.
    let response = app.get("/bundles/hr-bot", &app.auditor).await;
    let body = assert_problem(response, StatusCode::NOT_FOUND, "no_revision").await;
    assert!(body["detail"].as_str().unwrap().contains("push"), "{body}");
    // ?channel= picks the channel.
    let response = app
        .get("/bundles/hr-bot?channel=staging", &app.auditor)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::ETAG], rev.etag().as_str());

    let response = app.get("/bundles/nobody", &app.admin).await;
    let body = assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    assert!(
        body["detail"].as_str().unwrap().contains("nobody"),
        "{body}"
    );
    let response = app.get("/bundles/hr-bot?channel=Bad!", &app.admin).await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_channel").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn bundle_access_needs_the_persona_or_a_reader(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let rev = store_revision(&app.state.store, "hr-bot", 1).await;
    move_channel(&app.state.store, "hr-bot", "prod", &rev).await;
    let it_agent = app.agent_token("it-bot").await;

    let response = app
        .send(Request::get("/bundles/hr-bot").body(Body::empty()).unwrap())
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = app.get("/bundles/hr-bot", &it_agent).await;
    let body = assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(
        body["detail"].as_str().unwrap().contains("it-bot"),
        "{body}"
    );
    for reader in [&app.admin, &app.publisher, &app.auditor] {
        assert_eq!(
            app.get("/bundles/hr-bot", reader).await.status(),
            StatusCode::OK
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn long_poll_returns_the_new_revision_within_a_second_of_a_move(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let agent = app.agent_token("hr-bot").await;
    start_listening(&app.state).await;
    let rev1 = store_revision(&app.state.store, "hr-bot", 1).await;
    move_channel(&app.state.store, "hr-bot", "prod", &rev1).await;
    let rev2 = store_revision(&app.state.store, "hr-bot", 2).await;

    let request = bundle_request(
        "/bundles/hr-bot",
        &agent,
        &[
            ("if-none-match", &rev1.etag()),
            ("prefer", "modes=snapshot,delta;wait=5"),
        ],
    );
    let router = app.router.clone();
    let poll = tokio::spawn(async move {
        let response = send(&router, request).await;
        (Instant::now(), response)
    });
    wait_for_waiter(&app.state, "hr-bot").await;

    let moved_at = Instant::now();
    move_channel(&app.state.store, "hr-bot", "prod", &rev2).await;
    let (answered_at, response) = poll.await.unwrap();
    let latency = answered_at - moved_at;
    assert!(
        latency < Duration::from_secs(1),
        "long poll answered {latency:?} after the move"
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], LONG_POLL_TYPE);
    assert_eq!(response.headers()[header::ETAG], rev2.etag().as_str());
    assert_eq!(body_bytes(response).await, rev2.bytes);
    assert_eq!(app.state.bundles.waiters("hr-bot"), 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn long_poll_times_out_with_304_capped_by_the_server_limit(pool: PgPool) {
    let mut config = Config::default();
    config.limits.max_long_poll_seconds = 1;
    let app = TestApp::with_config(pool, config).await;
    start_listening(&app.state).await;
    let rev = store_revision(&app.state.store, "hr-bot", 1).await;
    move_channel(&app.state.store, "hr-bot", "prod", &rev).await;

    let started = Instant::now();
    let response = app
        .send(bundle_request(
            "/bundles/hr-bot",
            &app.auditor,
            &[("if-none-match", &rev.etag()), ("prefer", "wait=30")],
        ))
        .await;
    let held = started.elapsed();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()[header::ETAG], rev.etag().as_str());
    assert!(held >= Duration::from_millis(950), "held only {held:?}");
    assert!(
        held < Duration::from_secs(5),
        "held {held:?}, past the 1 s server limit"
    );

    // Without an ETag the long poll answers at once, in long-poll mode.
    let response = app
        .send(bundle_request(
            "/bundles/hr-bot",
            &app.auditor,
            &[("prefer", "wait=30")],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], LONG_POLL_TYPE);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_move_through_one_replica_wakes_a_long_poll_on_another(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let agent = app.agent_token("hr-bot").await;
    let (replica_b, router_b) = replica(&app, Config::default());
    start_listening(&app.state).await;
    start_listening(&replica_b).await;
    let rev1 = store_revision(&app.state.store, "hr-bot", 1).await;
    move_channel(&app.state.store, "hr-bot", "prod", &rev1).await;
    let rev2 = store_revision(&app.state.store, "hr-bot", 2).await;

    // Warm B's head cache, so only a notification can make B see the move.
    let response = send(
        &router_b,
        bundle_request(
            "/bundles/hr-bot",
            &agent,
            &[("if-none-match", &rev1.etag())],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);

    let request = bundle_request(
        "/bundles/hr-bot",
        &agent,
        &[
            ("if-none-match", &rev1.etag()),
            ("prefer", "modes=snapshot,delta;wait=10"),
        ],
    );
    let poll = tokio::spawn(async move {
        let response = send(&router_b, request).await;
        (Instant::now(), response)
    });
    wait_for_waiter(&replica_b, "hr-bot").await;
    assert_eq!(
        app.state.bundles.waiters("hr-bot"),
        0,
        "the poll must be on replica B"
    );

    let moved_at = Instant::now();
    move_channel(&app.state.store, "hr-bot", "prod", &rev2).await;
    let (answered_at, response) = poll.await.unwrap();
    assert!(answered_at - moved_at < Duration::from_secs(1));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::ETAG], rev2.etag().as_str());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_regent_agent_gets_the_channel_it_registered(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let agent = app.agent_token("hr-bot").await;
    let prod = store_revision(&app.state.store, "hr-bot", 1).await;
    move_channel(&app.state.store, "hr-bot", "prod", &prod).await;
    let staging = store_revision(&app.state.store, "hr-bot", 2).await;
    move_channel(&app.state.store, "hr-bot", "staging", &staging).await;
    let status = serde_json::json!({
        "labels": {"id": "hr-bot-1", "channel": "staging"},
        "regent": {"agent_id": "hr-bot-1", "persona": "hr-bot"}
    });
    let response = app
        .send(opa::post_json(
            "/status",
            &agent,
            status.to_string().as_bytes(),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let response = app
        .send(bundle_request(
            "/bundles/hr-bot",
            &agent,
            &[("x-regent-agent-id", "hr-bot-1")],
        ))
        .await;
    assert_eq!(response.headers()[header::ETAG], staging.etag().as_str());
    let response = app.get("/bundles/hr-bot?agent=hr-bot-1", &agent).await;
    assert_eq!(response.headers()[header::ETAG], staging.etag().as_str());
    // Stock OPA names no agent: prod.
    let response = app.get("/bundles/hr-bot", &agent).await;
    assert_eq!(response.headers()[header::ETAG], prod.etag().as_str());
}

/// Waits until a long poll is parked on `persona` (there is no event to await for that).
async fn wait_for_waiter(state: &regent_control_plane::app::AppState, persona: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while state.bundles.waiters(persona) == 0 {
        assert!(Instant::now() < deadline, "no long poll started waiting");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
