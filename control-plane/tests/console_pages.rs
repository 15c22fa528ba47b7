//! Console pages through the real router and a real Postgres, asserted by CSS selectors:
//! overview, persona, revision source, diff, rollout controls with their confirmation step,
//! fleet, and the event log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod console_support;
#[path = "common/rollout.rs"]
mod helpers;

use axum::http::{StatusCode, header};
use common::TestApp;
use console_support::*;
use sqlx::PgPool;

const PROD: &str = "/console/personas/tiny-bot/channels/prod";

/// Posts an action, checks its confirmation page names the change, confirms it, and returns
/// the channel page it redirects to.
async fn confirmed(
    app: &TestApp,
    browser: &Browser,
    action: &str,
    fields: &[(&str, &str)],
    expect: &str,
) -> Page {
    let url = format!("{PROD}/{action}");
    let confirm = Page::from(browser.post(app, &url, fields).await).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.text);
    let changes = confirm.texts(".changes li").join(" ");
    assert!(changes.contains(expect), "{action}: {changes}");
    assert_eq!(
        confirm.attr("#confirm-form", "action").as_deref(),
        Some(url.as_str())
    );
    let mut all = fields.to_vec();
    all.push(("confirm", "yes"));
    let done = browser.post(app, &url, &all).await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        Page::from(done).await.text
    );
    let location = done.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        location.starts_with(&format!("{PROD}?changed=")),
        "{location}"
    );
    browser.get(app, &location).await
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn canary_promote_rollback_and_freeze_from_the_console(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let v1 = helpers::push_version(&app, 1).await;
    let v2 = helpers::push_version(&app, 2).await;
    let fleet = helpers::Fleet::new(&app, "tiny-bot", 20).await;
    fleet.report_active(&app).await;
    let browser = sign_in_token(&app, &app.publisher).await;

    let page = browser.get(&app, PROD).await;
    assert_eq!(page.one("#channel-revision"), v1);
    assert!(
        page.texts("#canary-revision option")
            .iter()
            .any(|o| o.starts_with(&v2))
    );

    // Nothing changes on the first POST.
    let confirm = Page::from(
        browser
            .post(
                &app,
                &format!("{PROD}/canary"),
                &[("revision", &v2), ("percentage", "30")],
            )
            .await,
    )
    .await;
    assert_eq!(confirm.one("#confirm-title"), "Confirm: Start a canary");
    assert_eq!(browser.get(&app, PROD).await.count("#canary"), 0);

    let page = confirmed(
        &app,
        &browser,
        "canary",
        &[
            ("revision", &v2),
            ("percentage", "30"),
            ("reason", "try v2"),
        ],
        "at 30%",
    )
    .await;
    assert!(
        page.one("#changed").contains("rollout_started"),
        "{}",
        page.one("#changed")
    );
    assert_eq!(page.one("#canary-candidate"), v2);
    assert_eq!(page.one("#canary-percentage"), "30%");

    let page = confirmed(
        &app,
        &browser,
        "percentage",
        &[("percentage", "60")],
        "from 30% to 60%",
    )
    .await;
    assert_eq!(page.one("#canary-percentage"), "60%");

    let page = confirmed(&app, &browser, "promote", &[], &format!("to {v2}")).await;
    assert_eq!(page.one("#channel-revision"), v2);
    assert_eq!(page.count("#canary"), 0);
    assert!(fleet.all_on(&app, &v2).await);

    // Rollback needs a reason before it even asks.
    let refused = Page::from(
        browser
            .post(&app, &format!("{PROD}/rollback"), &[("revision", &v1)])
            .await,
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .one(".error-page .message")
            .contains("reason is required")
    );
    let page = confirmed(
        &app,
        &browser,
        "rollback",
        &[("revision", &v1), ("reason", "v2 denies too much")],
        &format!("content of {v1}"),
    )
    .await;
    let v3 = page.one("#channel-revision");
    assert_eq!(v3, "tiny-bot-3");
    assert!(fleet.all_on(&app, &v3).await);

    let page = confirmed(
        &app,
        &browser,
        "freeze",
        &[("reason", "change freeze")],
        "no canary",
    )
    .await;
    assert!(page.one("h1").contains("frozen"));
    let refused = Page::from(
        browser
            .post(
                &app,
                &format!("{PROD}/canary"),
                &[("revision", &v2), ("percentage", "10")],
            )
            .await,
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.one(".error-page .message").contains("frozen"));
    // Confirming anyway (a stale confirmation page) is refused by the service.
    let refused = Page::from(
        browser
            .post(
                &app,
                &format!("{PROD}/canary"),
                &[("revision", &v2), ("percentage", "10"), ("confirm", "yes")],
            )
            .await,
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    confirmed(&app, &browser, "unfreeze", &[], "changes are allowed again").await;

    // The event log has it all, newest first, with who and why.
    let events = browser.get(&app, "/console/events?persona=tiny-bot").await;
    let kinds = events.texts("table.events td.kind");
    for kind in [
        "channel_unfrozen",
        "channel_frozen",
        "rollback",
        "rollout_promoted",
        "rollout_percentage",
        "rollout_started",
    ] {
        assert!(kinds.contains(&kind.to_owned()), "{kind} in {kinds:?}");
    }
    assert_eq!(kinds[0], "channel_unfrozen");
    assert!(events.text.contains("publisher:ci"));
    assert!(events.text.contains("v2 denies too much"));
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn overview_persona_revision_diff_and_fleet_pages(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let browser = sign_in_token(&app, &app.auditor).await;
    let empty = browser.get(&app, "/console").await;
    assert!(empty.one("p.empty").contains("No personas yet"));
    assert!(
        browser
            .get(&app, "/console/fleet")
            .await
            .one("p.empty")
            .contains("No agents")
    );

    let v1 = helpers::push_version(&app, 1).await;
    let v2 = helpers::push_version(&app, 2).await;
    let fleet = helpers::Fleet::new(&app, "tiny-bot", 4).await;
    fleet.report_active(&app).await;

    let overview = browser.get(&app, "/console").await;
    assert_eq!(overview.one("tr[data-channel=prod] td.revision"), v1);
    assert_eq!(overview.one("tr[data-channel=staging] td.revision"), v2);
    assert!(
        overview
            .one("tr[data-channel=prod] td.convergence")
            .contains("100% (4/4)")
    );
    assert!(
        overview
            .attr("tr[data-channel=prod] time", "datetime")
            .unwrap()
            .ends_with('Z')
    );

    let persona = browser.get(&app, "/console/personas/tiny-bot").await;
    assert_eq!(persona.count("table.revisions tbody tr"), 2);
    let row = format!("tr[data-revision={v1}]");
    let digest = persona.one(&format!("{row} code.digest"));
    assert!(
        digest.len() >= 64
            && digest
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c.is_ascii_lowercase()),
        "{digest}"
    );
    assert!(persona.one(&format!("{row} td.source")).contains("3f2a9c1"));
    assert!(persona.one(&format!("{row} td.tests")).contains("passed"));
    assert_eq!(persona.one(&format!("{row} td.sequence")), "1");

    let source = browser
        .get(&app, &format!("/console/personas/tiny-bot/revisions/{v1}"))
        .await;
    assert!(
        source
            .texts("details summary code")
            .iter()
            .any(|p| p.ends_with(".rego"))
    );
    assert!(source.text.contains("tool-1"));

    let diff = browser
        .get(
            &app,
            &format!("/console/personas/tiny-bot/diff?from={v1}&to={v2}"),
        )
        .await;
    assert!(diff.one("#diff-summary").contains("file(s) changed"));
    assert!(
        diff.texts("pre.diff span.add")
            .iter()
            .any(|l| l.contains("tool-2"))
    );
    assert!(
        diff.texts("pre.diff span.del")
            .iter()
            .any(|l| l.contains("tool-1"))
    );

    let fleet_page = browser.get(&app, "/console/fleet?persona=tiny-bot").await;
    assert_eq!(fleet_page.count("table.fleet tbody tr"), 4);
    assert_eq!(
        fleet_page.one("tr[data-agent=tiny-bot-agent-000] td.active-revision"),
        v1
    );

    // Auditors see the rollout page but no control.
    let page = browser.get(&app, PROD).await;
    assert_eq!(page.count("form[method=post]"), 1, "only sign-out");
    assert!(page.one("#read-only").contains("auditor"));

    let missing = browser.get(&app, "/console/personas/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.one(".error-page .message").contains("not found"));
    let unknown = browser.get(&app, "/console/no-such-page").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn reasons_are_rendered_inert_and_pages_carry_security_headers(pool: PgPool) {
    let app = TestApp::new(pool).await;
    helpers::push_version(&app, 1).await;
    let browser = sign_in_token(&app, &app.publisher).await;
    let payload = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    confirmed(&app, &browser, "freeze", &[("reason", payload)], "Freeze").await;
    let events = browser.get(&app, "/console/events").await;
    assert_eq!(events.count("table.events script"), 0);
    assert_eq!(events.count("table.events img"), 0);
    assert!(events.texts("table.events td").iter().any(|t| t == payload));
    let csp = events.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(events.headers[header::CACHE_CONTROL], "no-store");

    let css = app
        .send(
            axum::http::Request::get(regent_control_plane::http::console::assets::css_url())
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(
        css.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn the_fleet_shows_log_queue_spool_and_drop_counters(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let v1 = helpers::push_version(&app, 1).await;
    let token = app.agent_token("tiny-bot").await;
    let report = serde_json::json!({
        "labels": {"id": "hr-7"},
        "bundles": {"tiny-bot": {"name": "tiny-bot", "active_revision": v1}},
        "regent": {
            "agent_id": "hr-7", "persona": "tiny-bot", "last_error": "registry unreachable",
            "decision_logs": {"queue_length": 12, "queue_capacity": 1000, "spool_events": 340,
                "spool_bytes": 9000, "delivered_events": 5,
                "dropped": {"decision_logs_dropped_buffer_size_limit_exceeded": 2,
                            "decision_logs_dropped_spool_size_limit_exceeded": 1}}
        }
    });
    let response = helpers::post(&app, "/status", &token, report).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let browser = sign_in_token(&app, &app.auditor).await;
    let page = browser.get(&app, "/console/fleet").await;
    let row = "tr[data-agent=hr-7]";
    assert_eq!(page.one(&format!("{row} td.queue")), "12");
    assert_eq!(page.one(&format!("{row} td.spool")), "340");
    assert_eq!(page.one(&format!("{row} td.dropped")), "3");
    assert_eq!(page.one(&format!("{row} td.active-revision")), v1);
    assert_eq!(page.one(&format!("{row} td.error")), "registry unreachable");
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn a_canary_can_take_what_staging_runs_and_links_the_policy_diff(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let v1 = helpers::push_version(&app, 1).await;
    let v2 = helpers::push_version(&app, 2).await;
    let browser = sign_in_token(&app, &app.admin).await;
    let page = browser.get(&app, PROD).await;
    assert_eq!(
        page.attr("#canary-revision optgroup option", "value")
            .as_deref(),
        Some("channel:staging")
    );
    let confirm = Page::from(
        browser
            .post(
                &app,
                &format!("{PROD}/canary"),
                &[("revision", "channel:staging"), ("percentage", "50")],
            )
            .await,
    )
    .await;
    assert!(
        confirm
            .one(".changes")
            .contains(&format!("{v2} (what staging runs)"))
    );
    assert_eq!(
        confirm.attr("#confirm-diff", "href").unwrap(),
        format!("/console/personas/tiny-bot/diff?from={v1}&to={v2}")
    );
    let page = confirmed(
        &app,
        &browser,
        "canary",
        &[("revision", "channel:staging"), ("percentage", "50")],
        "at 50%",
    )
    .await;
    assert_eq!(page.one("#canary-candidate"), v2);
    assert!(page.one("#changed").contains("admin:admin"));
}
