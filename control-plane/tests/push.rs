//! Push: stored, stamped, signed; idempotent; every rejection precise and storing nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::StatusCode;
use common::{TestApp, assert_problem, body_bytes, body_json, build_archive, tiny_copy, tiny_dir};
use regent_bundle::{Limits, read_bundle, verify_bundle};
use sqlx::PgPool;

async fn revision_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM revisions")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn push_stores_stamps_and_signs(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    app.state.store.ensure_persona("tiny-bot").await.unwrap();
    let response = app
        .push("tiny-bot", build_archive(&tiny_dir()), &app.publisher)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body = body_json(response).await;
    assert_eq!(body["revision"], "tiny-bot-1");
    assert_eq!(body["sequence"], 1);
    assert_eq!(body["created"], true);
    assert_eq!(body["signature_kid"], "test-key");
    assert_eq!(body["channels"], serde_json::json!(["staging", "prod"]));
    assert_eq!(body["tests"].as_array().unwrap().len(), 2);

    // The stored bundle is signed for the persona and stamped with revision and sequence.
    let response = app
        .get("/api/v1/personas/tiny-bot/revisions/1/bundle", &app.auditor)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = body_bytes(response).await;
    let bundle = read_bundle(&bytes, &Limits::DEFAULT).unwrap();
    let verified = verify_bundle(&bundle, app.state.keys.trusted(), Some("tiny-bot")).unwrap();
    assert_eq!(verified.kid, "test-key");
    assert_eq!(bundle.manifest.revision, "tiny-bot-1");
    assert_eq!(bundle.manifest.sequence(), Some(1));
    assert_eq!(bundle.manifest.persona(), Some("tiny-bot"));
    let source = &bundle.manifest.metadata["regent"]["source"];
    assert_eq!(source["commit"], "3f2a9c1");
    assert_eq!(source["author"], "ci@example.com");

    // Both default channels point at it, and the event log says who did it.
    let heads = app.state.store.channels("tiny-bot").await.unwrap();
    assert!(
        heads
            .iter()
            .all(|c| c.revision.as_deref() == Some("tiny-bot-1")),
        "{heads:?}"
    );
    let actors: Vec<String> = sqlx::query_scalar("SELECT actor FROM rollout_events ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(actors, ["publisher:ci", "publisher:ci"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn identical_content_is_a_no_op_and_new_content_moves_only_staging(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    app.state.store.ensure_persona("tiny-bot").await.unwrap();
    let first = body_json(
        app.push("tiny-bot", build_archive(&tiny_dir()), &app.publisher)
            .await,
    )
    .await;
    let again = app
        .push("tiny-bot", build_archive(&tiny_dir()), &app.publisher)
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again = body_json(again).await;
    assert_eq!(again["created"], false);
    assert_eq!(again["revision"], first["revision"]);
    assert_eq!(revision_count(&pool).await, 1);

    let dir = tiny_copy();
    std::fs::write(
        dir.path().join("data.json"),
        r#"{"tools": ["echo", "date"]}"#,
    )
    .unwrap();
    let second = app
        .push("tiny-bot", build_archive(dir.path()), &app.publisher)
        .await;
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(body_json(second).await["revision"], "tiny-bot-2");
    let staging = app
        .state
        .store
        .channel_head("tiny-bot", "staging")
        .await
        .unwrap()
        .unwrap();
    let prod = app
        .state
        .store
        .channel_head("tiny-bot", "prod")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((staging.sequence, prod.sequence), (2, 1));
}

#[sqlx::test(migrations = "../migrations")]
async fn rego_syntax_error_names_file_and_line_and_stores_nothing(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    app.state.store.ensure_persona("tiny-bot").await.unwrap();
    let dir = tiny_copy();
    std::fs::write(
        dir.path().join("broken.rego"),
        "package regent.persona\n\nbroken if {\n  input.x ==\n}\n",
    )
    .unwrap();
    let response = app
        .push("tiny-bot", build_archive(dir.path()), &app.publisher)
        .await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "compile_error").await;
    assert_eq!(body["file"], "regent/persona/broken.rego");
    assert_eq!(body["line"], 5);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("regent/persona/broken.rego` line 5"),
        "{body}"
    );
    assert_eq!(revision_count(&pool).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn failing_test_rule_is_named_and_nothing_is_stored(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    app.state.store.ensure_persona("tiny-bot").await.unwrap();
    let dir = tiny_copy();
    std::fs::write(
        dir.path().join("wrong_test.rego"),
        "package regent.persona_test\n\ntest_rm_is_allowed if {\n  data.regent.persona.decision.allow with input as {\"action\": {\"tool\": {\"name\": \"rm\"}}}\n}\n",
    )
    .unwrap();
    let response = app
        .push("tiny-bot", build_archive(dir.path()), &app.publisher)
        .await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "tests_failed").await;
    assert_eq!(body["failed"], 1);
    assert!(
        body["failed_tests"]
            .as_str()
            .unwrap()
            .contains("data.regent.persona_test.test_rm_is_allowed"),
        "{body}"
    );
    assert_eq!(revision_count(&pool).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn hostile_archive_is_refused_with_its_reason(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    app.state.store.ensure_persona("tiny-bot").await.unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    let data = b"package x\n";
    header.as_mut_bytes()[..12].copy_from_slice(b"../evil.rego");
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append(&header, &data[..]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &builder.into_inner().unwrap()).unwrap();
    let response = app
        .push("tiny-bot", gz.finish().unwrap(), &app.publisher)
        .await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_bundle").await;
    assert!(
        body["detail"].as_str().unwrap().contains("../evil.rego"),
        "{body}"
    );
    let response = app
        .push("tiny-bot", b"not a gzip at all".to_vec(), &app.publisher)
        .await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_bundle").await;
    assert_eq!(revision_count(&pool).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn oversize_body_is_413(pool: PgPool) {
    let mut config = regent_control_plane::config::Config::default();
    config.limits.max_bundle_bytes = 1024;
    let app = TestApp::with_config(pool.clone(), config).await;
    app.state.store.ensure_persona("tiny-bot").await.unwrap();
    let response = app.push("tiny-bot", vec![0x1f; 4096], &app.publisher).await;
    let body = assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(body["limit"], 1024);
    assert_eq!(revision_count(&pool).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_persona_is_404(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let response = app
        .push("ghost-bot", build_archive(&tiny_dir()), &app.publisher)
        .await;
    let body = assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    assert!(
        body["detail"].as_str().unwrap().contains("ghost-bot"),
        "{body}"
    );
    assert_eq!(revision_count(&pool).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn bundle_for_another_persona_is_refused(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    app.state.store.ensure_persona("hr-bot").await.unwrap();
    let response = app
        .push("hr-bot", build_archive(&tiny_dir()), &app.publisher)
        .await;
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "persona_mismatch",
    )
    .await;
    assert_eq!(revision_count(&pool).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn only_publishers_and_admins_push(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let agent = app.agent_token("tiny-bot").await;
    for token in [&app.auditor, &agent] {
        let response = app
            .push("tiny-bot", build_archive(&tiny_dir()), token)
            .await;
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let response = app
        .push("tiny-bot", build_archive(&tiny_dir()), &app.admin)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(revision_count(&pool).await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn agent_token_for_another_persona_cannot_download(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    app.state.store.ensure_persona("tiny-bot").await.unwrap();
    app.push("tiny-bot", build_archive(&tiny_dir()), &app.publisher)
        .await;
    let other = app.agent_token("hr-bot").await;
    let response = app
        .get("/api/v1/personas/tiny-bot/revisions/1/bundle", &other)
        .await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let own = app.agent_token("tiny-bot").await;
    let response = app
        .get("/api/v1/personas/tiny-bot/revisions/1/bundle", &own)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[sqlx::test(migrations = "../migrations")]
async fn list_show_diff_and_keys(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    app.state.store.ensure_persona("tiny-bot").await.unwrap();
    app.push("tiny-bot", build_archive(&tiny_dir()), &app.publisher)
        .await;
    let dir = tiny_copy();
    std::fs::write(
        dir.path().join("policy.rego"),
        std::fs::read_to_string(tiny_dir().join("policy.rego"))
            .unwrap()
            .replace("listed tool", "tool on the allow list"),
    )
    .unwrap();
    app.push("tiny-bot", build_archive(dir.path()), &app.publisher)
        .await;

    let list = body_json(
        app.get("/api/v1/personas/tiny-bot/revisions", &app.auditor)
            .await,
    )
    .await;
    let seqs: Vec<i64> = list["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 1]);

    let show = body_json(
        app.get(
            "/api/v1/personas/tiny-bot/revisions/tiny-bot-2",
            &app.auditor,
        )
        .await,
    )
    .await;
    assert_eq!(show["sequence"], 2);
    assert_eq!(show["test_report"]["passed"], 2);
    assert_eq!(show["source"]["commit"], "3f2a9c1");

    let diff = body_json(
        app.get("/api/v1/personas/tiny-bot/diff?from=1&to=2", &app.auditor)
            .await,
    )
    .await;
    let files = diff["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, [".manifest", "regent/persona/policy.rego"], "{diff}");
    let policy = &files[1];
    assert_eq!(policy["status"], "modified");
    assert_eq!(
        (
            policy["lines_added"].as_u64(),
            policy["lines_removed"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let unified = policy["unified"].as_str().unwrap();
    assert!(unified.contains("-decision := {\"allow\": true, \"reasons\": [{\"code\": \"listed_tool\", \"message\": \"listed tool\"}]"), "{unified}");
    assert!(unified.contains("+decision := {\"allow\": true, \"reasons\": [{\"code\": \"listed_tool\", \"message\": \"tool on the allow list\"}]"), "{unified}");

    let response = app
        .get("/api/v1/personas/tiny-bot/revisions/9", &app.auditor)
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;

    // The JWKS needs no token and carries the signing key.
    let keys = body_json(
        app.send(
            axum::http::Request::get("/api/v1/keys")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await,
    )
    .await;
    let key = &keys["keys"][0];
    assert_eq!(key["kid"], "test-key");
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["alg"], "ES256");
    let pem = key["x-regent-pem"].as_str().unwrap();
    regent_bundle::PublicKey::from_pem("test-key", pem).unwrap();
}
