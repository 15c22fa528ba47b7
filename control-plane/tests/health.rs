//! Health, readiness, and authentication at the edge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{TestApp, assert_problem};
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn health_and_readiness(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let response = app
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .send(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[sqlx::test(migrations = "../migrations")]
async fn tokens_are_stored_hashed_and_revocation_works(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 3);
    for hash in &stored {
        assert_eq!(hash.len(), 32);
        assert!(!String::from_utf8_lossy(hash).contains("rgt_"));
    }
    let principal = app
        .state
        .store
        .authenticate(&app.auditor)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(principal.role, regent_control_plane::auth::Role::Auditor);
    app.state.store.revoke_token("audit").await.unwrap();
    assert!(
        app.state
            .store
            .authenticate(&app.auditor)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.state
            .store
            .authenticate("rgt_made_up")
            .await
            .unwrap()
            .is_none()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn agent_tokens_need_a_persona(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let err = app
        .state
        .store
        .create_token(
            "rgt_x",
            "bad",
            regent_control_plane::auth::Role::Agent,
            None,
            "t",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, regent_control_plane::store::StoreError::Invalid { .. }),
        "{err}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn missing_and_malformed_credentials_are_401_problems(pool: PgPool) {
    let app = TestApp::new(pool).await;
    // Any authenticated route works here; the keys endpoint is public-read for any role.
    let response = app
        .send(
            Request::get("/api/v1/personas")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let body = assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(body["detail"].as_str().unwrap().contains("Authorization"));
    let response = app
        .send(
            Request::get("/api/v1/personas")
                .header(header::AUTHORIZATION, "Basic Zm9vOmJhcg==")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = app.get("/api/v1/personas", "rgt_not_a_real_token").await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
