//! The console's audit pages: the filter form, keyset links that keep the filters, export links,
//! the decision page with its revision link, and XSS payloads from logged decisions rendered as
//! inert text (checked by parsing the HTML, not by searching strings).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_fixtures;
mod common;
mod console_support;

use audit_fixtures::{IMG, SCRIPT, generate, hostile, list_order, store};
use axum::http::{StatusCode, header};
use common::TestApp;
use console_support::{Page, assert_sign_in_redirect, sign_in_token};
use scraper::Selector;
use sqlx::PgPool;
use uuid::Uuid;

fn row_ids(page: &Page) -> Vec<Uuid> {
    let sel = Selector::parse("tr.decision-row").unwrap();
    page.html
        .select(&sel)
        .map(|e| e.value().attr("data-decision-id").unwrap().parse().unwrap())
        .collect()
}

/// Every element of `tag` whose attributes or text carry the payload's marker.
fn payload_elements(page: &Page, tag: &str) -> usize {
    let sel = Selector::parse(tag).unwrap();
    page.html
        .select(&sel)
        .filter(|e| {
            e.text().any(|t| t.contains("alert(1)"))
                || e.value()
                    .attrs()
                    .any(|(_, v)| v.contains("alert(1)") || v == "x")
        })
        .count()
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn the_audit_list_filters_pages_and_links_exports(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let all = generate(130);
    store(&app, &all).await;
    let browser = sign_in_token(&app, &app.auditor).await;

    let page = browser.get(&app, "/console/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.attr("nav a[aria-current=page]", "href").as_deref(),
        Some("/console/audit")
    );
    for id in [
        "f-persona",
        "f-agent",
        "f-user",
        "f-tool",
        "f-allow",
        "f-revision",
        "f-from",
        "f-to",
        "f-tz",
        "f-q",
    ] {
        assert_eq!(
            page.count(&format!("#audit-filters #{id}[name]")),
            1,
            "{id}"
        );
    }
    let want = list_order(&all);
    assert_eq!(row_ids(&page), want[..50]);
    assert_eq!(page.count("#page-newer"), 0);

    // Filtered, with a local time range in +01:00 and a reasons search; the next page keeps it all.
    let deny: Vec<_> = all
        .iter()
        .filter(|d| !d.allow && d.persona == "hr-bot")
        .cloned()
        .collect();
    let query = "/console/audit?persona=hr-bot&allow=deny&from=2026-11-20T09:00&to=2026-11-20T14:00&tz=%2B01:00&q=&limit=5";
    let page = browser.get(&app, query).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let deny_ids = list_order(&deny);
    assert_eq!(row_ids(&page), deny_ids[..5]);
    assert_eq!(page.attr("#f-persona", "value").as_deref(), Some("hr-bot"));
    assert_eq!(
        page.attr("#f-from", "value").as_deref(),
        Some("2026-11-20T09:00:00")
    );
    assert_eq!(page.attr("#f-tz", "value").as_deref(), Some("+01:00"));
    assert_eq!(page.one("#f-allow option[selected]"), "deny");
    // Times are shown at the chosen offset.
    assert!(page.texts("tr.decision-row td.time")[0].ends_with("+01:00"));
    let older = page.attr("#page-older", "href").unwrap();
    assert!(
        older.contains("persona=hr-bot")
            && older.contains("allow=deny")
            && older.contains("limit=5"),
        "{older}"
    );
    let page2 = browser.get(&app, &older).await;
    assert_eq!(row_ids(&page2), deny_ids[5..10]);
    let newer = page2.attr("#page-newer", "href").unwrap();
    assert_eq!(row_ids(&browser.get(&app, &newer).await), deny_ids[..5]);

    // Export links carry the same filter.
    let csv = page.attr("#export-csv", "href").unwrap();
    assert!(
        csv.starts_with("/console/audit/export?format=csv&persona=hr-bot&allow=deny"),
        "{csv}"
    );
    let response = browser.get_raw(&app, &csv).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let text = String::from_utf8(common::body_bytes(response).await).unwrap();
    assert_eq!(text.lines().count(), 1 + deny.len());
    let jsonl = page.attr("#export-jsonl", "href").unwrap();
    assert!(
        jsonl.starts_with("/console/audit/export?format=jsonl&"),
        "{jsonl}"
    );

    // Empty state and a refused filter (shown with the form, as typed).
    let page = browser.get(&app, "/console/audit?persona=nobody").await;
    assert_eq!(page.count("tr.decision-row"), 0);
    assert!(page.one("p.empty").contains("No decisions match"));
    let page = browser
        .get(&app, "/console/audit?from=2026-11-20T09:00")
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.one("#audit-error").contains("`from`"), "{}", page.text);
    assert_eq!(
        page.attr("#f-from", "value").as_deref(),
        Some("2026-11-20T09:00")
    );

    // Signed-out visitors are sent to sign in.
    let response = app
        .send(
            axum::http::Request::get("/console/audit")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_sign_in_redirect(&response);
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn a_decision_page_shows_everything_and_links_its_revision(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let all = generate(3);
    store(&app, &all).await;
    let browser = sign_in_token(&app, &app.auditor).await;
    let allowed = all.iter().find(|d| d.allow).unwrap();

    let list = browser.get(&app, "/console/audit").await;
    let href = list
        .attr(
            &format!("tr[data-decision-id='{}'] a.decision-link", allowed.id),
            "href",
        )
        .unwrap();
    let page = browser.get(&app, &href).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.one("dd.persona"), allowed.persona);
    assert_eq!(page.one("dd.agent"), allowed.agent);
    assert_eq!(page.one("dd.user"), allowed.user);
    assert_eq!(page.one("dd.tool"), allowed.tool);
    assert_eq!(page.one("dd.verdict"), "allow");
    assert_eq!(
        page.attr("a#revision-link", "href").unwrap(),
        format!(
            "/console/personas/{}/revisions/{}",
            allowed.persona, allowed.revision
        )
    );
    assert!(page.one("dd.time").ends_with("+00:00"));
    assert_eq!(page.one("tr.reason td.code"), "allowed");
    assert_eq!(page.one("tr.obligation td.kind"), "redact");
    assert!(page.one("#decision-input").contains("\"tool_call\""));
    assert!(page.one("#decision-result").contains("\"allow\": true"));

    let page = browser
        .get(&app, &format!("/console/audit/{}?tz=-05:00", allowed.id))
        .await;
    assert!(page.one("dd.time").contains("-05:00"));
    let page = browser
        .get(&app, &format!("/console/audit/{}", Uuid::new_v4()))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = browser.get(&app, "/console/audit/not-a-uuid").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn payloads_in_a_logged_decision_render_as_text(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let decision = hostile();
    store(&app, std::slice::from_ref(&decision)).await;
    let browser = sign_in_token(&app, &app.auditor).await;

    let list = browser.get(&app, "/console/audit").await;
    let detail = browser
        .get(&app, &format!("/console/audit/{}", decision.id))
        .await;
    for page in [&list, &detail] {
        assert_eq!(page.status, StatusCode::OK);
        // The only script is the layout's own; no element came out of the payload.
        assert_eq!(page.count("script"), 1);
        assert!(page.attr("script", "src").is_some());
        assert_eq!(payload_elements(page, "script"), 0);
        assert_eq!(payload_elements(page, "img"), 0);
        assert_eq!(page.count("img"), 0);
        assert!(!page.text.contains(SCRIPT) && !page.text.contains("<img src=x"));
    }
    // The payloads are there as text.
    assert_eq!(list.one("tr.decision-row td.user"), decision.user);
    assert!(list.one("tr.decision-row td.reasons").contains(SCRIPT));
    assert_eq!(detail.one("dd.user"), decision.user);
    assert!(detail.one("tr.reason td.message").contains(IMG));
    assert!(
        detail
            .one("#decision-input")
            .contains("<script>alert(1)</script>")
    );
    // The payload also reaches links only as an encoded query value.
    let user_link = detail.attr("dd.user a", "href").unwrap();
    assert!(
        user_link.starts_with("/console/audit?user=mallory%22%3E%3Cimg"),
        "{user_link}"
    );
}
