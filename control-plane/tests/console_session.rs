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

async fn error_text(response: axum::http::Response<Body>) -> (StatusCode, String) {
    let page = Page::from(response).await;
    (page.status, page.one("#sign-in-error"))
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn agent_and_unknown_tokens_cannot_sign_in(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let agent = app.agent_token("tiny-bot").await;
    let (status, text) = error_text(post_sign_in(&app, &[("token", &agent)]).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("agent tokens cannot sign in"), "{text}");
    let (status, text) =
        error_text(post_sign_in(&app, &[("token", "rgt_not-a-real-token")]).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("not valid"), "{text}");
    let (_, text) = error_text(post_sign_in(&app, &[]).await).await;
    assert!(text.contains("enter an API token"), "{text}");
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn the_session_cookie_is_http_only_same_site_and_secure_when_configured(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let response = post_sign_in(&app, &[("token", &app.admin)]).await;
    let (value, header) = set_cookie(response.headers(), "regent_session").unwrap();
    assert_eq!(value.len(), 43, "32 random bytes, base64url");
    assert!(header.contains("; HttpOnly"), "{header}");
    assert!(header.contains("; SameSite=Lax"), "{header}");
    assert!(header.contains("; Path=/"), "{header}");
    assert!(!header.contains("Secure"), "plain-http default: {header}");
    // Only the hash is stored.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT id_hash FROM console_sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_ne!(stored, value.as_bytes());

    let config = regent_control_plane::config::Config {
        public_url: Some("https://regent.example.com".into()),
        ..Default::default()
    };
    let app = TestApp::with_config(pool, config).await;
    let response = post_sign_in(&app, &[("token", &app.admin)]).await;
    let (_, header) = set_cookie(response.headers(), "regent_session").unwrap();
    assert!(header.ends_with("; Secure"), "{header}");
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn the_sign_in_form_needs_its_own_token_and_next_stays_on_the_console(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let forged = app
        .send(
            Request::post("/console/sign-in")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form_body(&[
                    ("token", &app.admin),
                    ("form_token", "x"),
                ])))
                .unwrap(),
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    for (next, expected) in [
        ("/console/fleet", "/console/fleet"),
        ("//evil.example/console", "/console"),
        ("https://evil.example/", "/console"),
        ("/console\\@evil", "/console"),
    ] {
        let response = post_sign_in(&app, &[("token", &app.admin), ("next", next)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers()[header::LOCATION],
            expected,
            "next={next}"
        );
    }
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn sign_out_ends_the_session_for_good(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let browser = sign_in_token(&app, &app.publisher).await;
    let response = browser.post(&app, "/console/sign-out", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, header) = set_cookie(response.headers(), "regent_session").unwrap();
    assert!(header.contains("Max-Age=0"), "{header}");
    // The old cookie no longer works, even if the browser kept it.
    assert_sign_in_redirect(&browser.get_raw(&app, "/console").await);
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn idle_expired_and_revoked_sessions_end(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let idle = sign_in_token(&app, &app.auditor).await;
    sqlx::query("UPDATE console_sessions SET last_seen_at = now() - interval '31 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    assert_sign_in_redirect(&idle.get_raw(&app, "/console").await);

    let old = sign_in_token(&app, &app.auditor).await;
    sqlx::query("UPDATE console_sessions SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    assert_sign_in_redirect(&old.get_raw(&app, "/console").await);

    let revoked = sign_in_token(&app, &app.publisher).await;
    app.state.store.revoke_token("ci").await.unwrap();
    assert_sign_in_redirect(&revoked.get_raw(&app, "/console").await);
}

fn regent(db_url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_regent"))
        .args(args)
        .env("REGENT_DATABASE_URL", db_url)
        .env_remove("REGENT_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn user_accounts_from_the_cli_sign_in_with_their_password(pool: PgPool) {
    let db = pool.connect_options().get_database().unwrap().to_owned();
    let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    let app = TestApp::new(pool).await;

    // A chosen password: nothing on stdout.
    let out = regent(
        &url,
        &[
            "users",
            "create",
            "--name",
            "alice",
            "--role",
            "publisher",
            "--password-stdin",
        ],
        "correct horse battery staple\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    // A generated password is the only thing printed.
    let out = regent(
        &url,
        &["users", "create", "--name", "bob", "--role", "auditor"],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(generated.len() >= 40, "{generated}");
    // Refusals: agents, short passwords, duplicates.
    let out = regent(
        &url,
        &["users", "create", "--name", "eve", "--role", "agent"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("agents use agent tokens"));
    let out = regent(
        &url,
        &[
            "users",
            "create",
            "--name",
            "carol",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("too short"));
    let out = regent(
        &url,
        &["users", "create", "--name", "alice", "--role", "admin"],
        "",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    let alice = sign_in(
        &app,
        &[
            ("username", "alice"),
            ("password", "correct horse battery staple"),
        ],
    )
    .await;
    let page = alice.get(&app, "/console").await;
    assert_eq!(page.one("header .user-name"), "alice");
    assert_eq!(page.one("header .role"), "publisher");
    let bob = sign_in(&app, &[("username", "bob"), ("password", &generated)]).await;
    assert_eq!(
        bob.get(&app, "/console").await.one("header .role"),
        "auditor"
    );

    // Wrong password and unknown user get the same answer.
    for (user, password) in [("alice", "wrong password!!"), ("mallory", "whatever12345")] {
        let (status, text) =
            error_text(post_sign_in(&app, &[("username", user), ("password", password)]).await)
                .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(text, "wrong username or password");
    }

    // Disabling a user ends its sessions.
    let out = regent(&url, &["users", "disable", "alice"], "");
    assert!(out.status.success());
    assert_sign_in_redirect(&alice.get_raw(&app, "/console").await);
}
