//! `/metrics`: HTTP series under route templates (bounded labels), counters other modules
//! feed, and fleet gauges read from the database at scrape time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{TestApp, body_bytes};
use sqlx::PgPool;

async fn scrape(app: &TestApp) -> String {
    let response = app
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/plain; version=0.0.4"
    );
    let text = String::from_utf8(body_bytes(response).await).unwrap();
    assert_exposition_format(&text);
    text
}

/// Every sample belongs to a family declared by `# TYPE` and has a numeric value.
fn assert_exposition_format(text: &str) {
    let mut families = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            families.push(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("value of `{line}`"));
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|base| families.iter().any(|f| f == base))
            .unwrap_or(name);
        assert_eq!(families.last().map(String::as_str), Some(family), "{line}");
    }
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no series `{series}` in:\n{text}"))
}

#[sqlx::test(migrations = "../migrations")]
async fn requests_counters_and_database_gauges(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    for _ in 0..3 {
        let r = app
            .send(Request::get("/healthz").body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(
        app.get("/api/v1/personas", &app.auditor).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/personas", "rgt_wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .send(
            Request::get("/no/such/path/42")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Counters other modules feed.
    let m = &app.state.metrics;
    m.logs_ingested(5);
    m.logs_ingested(2);
    m.logs_duplicate(3);
    m.logs_refused(10, "overloaded");
    m.bundle_served(StatusCode::OK);
    m.bundle_served(StatusCode::NOT_MODIFIED);
    m.bundle_served(StatusCode::NOT_MODIFIED);
    m.bundle_served(StatusCode::FORBIDDEN);
    m.push_finished("created");
    m.publish_attempt(false);
    let poll = m.long_poll();

    // Fleet state: hr-bot has two revisions, one agent seen now and one 10 minutes ago, one
    // pending and one failed publication; it-bot has nothing yet.
    let hr = app.state.store.ensure_persona("hr-bot").await.unwrap();
    app.state.store.ensure_persona("it-bot").await.unwrap();
    let mut revision_ids = Vec::new();
    for sequence in 1..=2_i64 {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO revisions (persona_id, sequence, revision, content_digest, bundle_digest,
                                    bundle, size_bytes, manifest, test_report, created_by)
             VALUES ($1, $2, $3, $4, 'b', '\\x00', 1, '{}', '{}', 'test') RETURNING id",
        )
        .bind(hr.id)
        .bind(sequence)
        .bind(format!("hr-bot-{sequence}"))
        .bind(format!("digest-{sequence}"))
        .fetch_one(&pool)
        .await
        .unwrap();
        revision_ids.push(id);
    }
    sqlx::query(
        "INSERT INTO agents (id, persona_id, last_seen_at)
         VALUES ('hr-1', $1, now()), ('hr-2', $1, now() - interval '10 minutes')",
    )
    .bind(hr.id)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO publications (revision_id, registry, repository, tag, kind, state, last_error)
         VALUES ($1, 'local', 'regent/hr-bot', 'hr-bot-1', 'revision', 'pending', NULL),
                ($2, 'local', 'regent/hr-bot', 'hr-bot-2', 'revision', 'failed', 'boom')",
    )
    .bind(revision_ids[0])
    .bind(revision_ids[1])
    .execute(&pool)
    .await
    .unwrap();

    let text = scrape(&app).await;
    let http = |route: &str, status: &str| {
        value(
            &text,
            &format!(
                r#"regent_http_requests_total{{route="{route}",method="GET",status="{status}"}}"#
            ),
        )
    };
    assert_eq!(http("/healthz", "2xx"), 3.0);
    assert_eq!(http("/api/v1/personas", "2xx"), 1.0);
    assert_eq!(http("/api/v1/personas", "4xx"), 1.0);
    assert_eq!(http("unmatched", "4xx"), 1.0);
    assert!(
        !text.contains("/no/such/path"),
        "raw paths must not become labels"
    );
    let hist = "regent_http_request_duration_seconds";
    assert_eq!(
        value(
            &text,
            &format!(r#"{hist}_count{{route="/healthz",method="GET"}}"#)
        ),
        3.0
    );
    assert_eq!(
        value(
            &text,
            &format!(r#"{hist}_bucket{{route="/healthz",method="GET",le="+Inf"}}"#)
        ),
        3.0
    );
    // Health checks answer well within 10 s even in a debug build on a busy machine.
    assert_eq!(
        value(
            &text,
            &format!(r#"{hist}_bucket{{route="/healthz",method="GET",le="10"}}"#)
        ),
        3.0
    );
    assert!(
        value(
            &text,
            &format!(r#"{hist}_sum{{route="/healthz",method="GET"}}"#)
        ) > 0.0
    );

    assert_eq!(value(&text, "regent_decision_logs_ingested_total"), 7.0);
    assert_eq!(value(&text, "regent_decision_logs_duplicate_total"), 3.0);
    assert_eq!(
        value(
            &text,
            r#"regent_decision_logs_refused_total{reason="overloaded"}"#
        ),
        10.0
    );
    assert_eq!(
        value(&text, r#"regent_bundles_served_total{status="200"}"#),
        1.0
    );
    assert_eq!(
        value(&text, r#"regent_bundles_served_total{status="304"}"#),
        2.0
    );
    assert_eq!(
        value(&text, r#"regent_bundles_served_total{status="4xx"}"#),
        1.0
    );
    assert_eq!(
        value(&text, r#"regent_pushes_total{outcome="created"}"#),
        1.0
    );
    assert_eq!(
        value(&text, r#"regent_publish_attempts_total{result="error"}"#),
        1.0
    );
    assert_eq!(value(&text, "regent_bundle_long_polls_in_flight"), 1.0);

    assert_eq!(value(&text, "regent_database_up"), 1.0);
    assert_eq!(value(&text, r#"regent_revisions{persona="hr-bot"}"#), 2.0);
    assert_eq!(value(&text, r#"regent_revisions{persona="it-bot"}"#), 0.0);
    assert_eq!(
        value(&text, r#"regent_agents_active{persona="hr-bot"}"#),
        1.0
    );
    assert_eq!(
        value(&text, r#"regent_agents_active{persona="it-bot"}"#),
        0.0
    );
    assert_eq!(value(&text, r#"regent_publications{state="pending"}"#), 1.0);
    assert_eq!(value(&text, r#"regent_publications{state="failed"}"#), 1.0);
    assert_eq!(value(&text, r#"regent_build_info{version="0.1.0"}"#), 1.0);

    // The scrape itself is counted (by the next scrape), and a finished long poll is not in
    // flight any more.
    drop(poll);
    let text = scrape(&app).await;
    assert_eq!(
        value(
            &text,
            r#"regent_http_requests_total{route="/metrics",method="GET",status="2xx"}"#
        ),
        1.0
    );
    assert_eq!(value(&text, "regent_bundle_long_polls_in_flight"), 0.0);
}

#[sqlx::test(migrations = "../migrations")]
async fn database_trouble_does_not_fail_the_scrape(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    pool.close().await;
    let text = scrape(&app).await;
    assert_eq!(value(&text, "regent_database_up"), 0.0);
    assert!(!text.contains("regent_revisions{"), "{text}");
}
