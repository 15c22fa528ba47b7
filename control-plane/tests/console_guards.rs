//! Every mutating console route, walked from the console's own table
//! (`http::console::mutating_paths`), refuses: a signed-out visitor (303 to sign-in), a missing
//! or wrong CSRF token (403), and the auditor role (403) — and none of those attempts changes
//! anything. A route added to the console without being in the table is not reachable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod console_support;
#[path = "common/rollout.rs"]
mod helpers;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::TestApp;
use console_support::*;
use regent_control_plane::http::console::mutating_paths;
use sqlx::PgPool;

fn concrete(pattern: &str) -> String {
    let path = pattern
        .replace("{persona}", "tiny-bot")
        .replace("{channel}", "prod");
    assert!(
        !path.contains('{'),
        "add a test value for a parameter of `{pattern}`"
    );
    path
}

async fn event_count(app: &TestApp) -> usize {
    app.state
        .store
        .all_rollout_events(None, 1000, None)
        .await
        .unwrap()
        .len()
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn every_mutating_route_refuses_signed_out_bad_csrf_and_auditors(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let first = helpers::push_version(&app, 1).await;
    helpers::push_version(&app, 2).await;
    let publisher = sign_in_token(&app, &app.publisher).await;
    let auditor = sign_in_token(&app, &app.auditor).await;
    let paths = mutating_paths();
    assert!(
        paths.len() >= 7,
        "the rollout controls are listed: {paths:?}"
    );
    let before = event_count(&app).await;
    // Fields that would make each action valid, so only the guard can refuse it.
    let fields = [
        ("revision", first.as_str()),
        ("percentage", "30"),
        ("reason", "guard test"),
        ("confirm", "yes"),
    ];
    for pattern in &paths {
        let path = concrete(pattern);

        let signed_out = app
            .send(
                Request::post(&path)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(form_body(&fields)))
                    .unwrap(),
            )
            .await;
        assert_sign_in_redirect(&signed_out);

        let mut with_csrf = vec![("csrf", auditor.csrf.as_str())];
        with_csrf.extend_from_slice(&fields);
        let page = Page::from(auditor.post_raw(&app, &path, &with_csrf).await).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "auditor on {path}");
        assert!(
            page.one(".error-page .message").contains("auditor"),
            "{path}"
        );
        assert_eq!(
            page.headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );

        let page = Page::from(publisher.post_raw(&app, &path, &fields).await).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "missing csrf on {path}");
        assert!(
            page.one(".error-page .message")
                .contains("no security token")
        );

        let mut wrong = vec![("csrf", auditor.csrf.as_str())];
        wrong.extend_from_slice(&fields);
        let page = Page::from(publisher.post_raw(&app, &path, &wrong).await).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "wrong csrf on {path}");
        assert!(page.one(".error-page .message").contains("does not match"));

        // The route exists and reaches its handler for a publisher (first step: no change).
        let response = publisher
            .post(
                &app,
                &path,
                &[
                    ("revision", first.as_str()),
                    ("percentage", "30"),
                    ("reason", "r"),
                ],
            )
            .await;
        assert!(
            ![
                StatusCode::FORBIDDEN,
                StatusCode::NOT_FOUND,
                StatusCode::METHOD_NOT_ALLOWED,
                StatusCode::SEE_OTHER
            ]
            .contains(&response.status()),
            "{path}: {}",
            response.status()
        );
    }
    assert_eq!(
        event_count(&app).await,
        before,
        "a refused request changed something"
    );
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn sign_out_needs_a_session_and_its_csrf_token(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let auditor = sign_in_token(&app, &app.auditor).await;
    let signed_out = app
        .send(
            Request::post("/console/sign-out")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("csrf=x"))
                .unwrap(),
        )
        .await;
    assert_sign_in_redirect(&signed_out);
    let response = auditor.post_raw(&app, "/console/sign-out", &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = auditor
        .post_raw(&app, "/console/sign-out", &[("csrf", "forged")])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Still signed in after the refused attempts.
    assert_eq!(auditor.get(&app, "/console").await.status, StatusCode::OK);
}
