//! Console sign-in, sessions and sign-out against a real Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod console_support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::TestApp;
use console_support::*;
use sqlx::PgPool;

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn signed_out_visitors_are_sent_to_sign_in_with_next(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let response = app
        .send(
            Request::get("/console/fleet?persona=hr-bot")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/console/sign-in?next=%2Fconsole%2Ffleet%3Fpersona%3Dhr-bot"
    );
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn a_token_signs_in_and_the_header_shows_name_and_role(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let browser = sign_in_token(&app, &app.auditor).await;
    let page = browser.get(&app, "/console").await;
    assert_eq!(page.one("header .user-name"), "audit");
    assert_eq!(page.one("header .role"), "auditor");
    assert_eq!(
        page.attr("nav a[aria-current=page]", "href").as_deref(),
        Some("/console")
    );
    assert_eq!(
        page.texts("nav a"),
        ["Overview", "Personas", "Fleet", "Audit", "Events"]
    );
}
