//! `GET /api/v1/decisions[/{id}]`: every filter alone and combined, keyset pages without gaps or
//! duplicates in both directions, time zones, precise errors, and who may read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_fixtures;
mod common;

use audit_fixtures::{Decision, base_time, enc, generate, ids, list_order, post_events, store};
use axum::http::StatusCode;
use chrono::Duration;
use common::{TestApp, assert_problem, body_json};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

async fn list(app: &TestApp, query: &str) -> Value {
    let response = app
        .get(&format!("/api/v1/decisions?{query}"), &app.auditor)
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    body_json(response).await
}

fn expected(all: &[Decision], keep: impl Fn(&Decision) -> bool) -> Vec<Uuid> {
    let kept: Vec<Decision> = all.iter().filter(|d| keep(d)).cloned().collect();
    list_order(&kept)
}

#[sqlx::test(migrations = "../migrations")]
async fn each_filter_alone_and_combined_selects_exactly_its_decisions(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let all = generate(120);
    store(&app, &all).await;
    let at = |minutes: i64| base_time() - Duration::minutes(minutes);
    let from = at(60).to_rfc3339();
    let to = at(20).to_rfc3339();
    let cases: Vec<(String, Vec<Uuid>)> = vec![
        ("".into(), expected(&all, |_| true)),
        (
            "persona=it-bot".into(),
            expected(&all, |d| d.persona == "it-bot"),
        ),
        (
            "agent=agent-3".into(),
            expected(&all, |d| d.agent == "agent-3"),
        ),
        ("user=user-5".into(), expected(&all, |d| d.user == "user-5")),
        (
            "tool=merge_pr".into(),
            expected(&all, |d| d.tool == "merge_pr"),
        ),
        ("allow=deny".into(), expected(&all, |d| !d.allow)),
        ("allow=true".into(), expected(&all, |d| d.allow)),
        (
            "revision=dev-bot-2".into(),
            expected(&all, |d| d.revision == "dev-bot-2"),
        ),
        (
            format!("from={}&to={}", enc(&from), enc(&to)),
            expected(&all, |d| d.ts >= at(60) && d.ts < at(20)),
        ),
        // Case-insensitive, and `%`/`_` match literally rather than as wildcards.
        (
            "q=HR-ADMIN".into(),
            expected(&all, |d| d.reasons[0].0 == "salary_requires_hr_admin"),
        ),
        (
            "q=50%25_of".into(),
            expected(&all, |d| d.reasons[0].0 == "outside_hours"),
        ),
        ("q=50%25%25".into(), vec![]),
        (
            format!(
                "persona=hr-bot&allow=deny&tool=lookup_employee&from={}&q=salary",
                enc(&from)
            ),
            expected(&all, |d| {
                d.persona == "hr-bot"
                    && !d.allow
                    && d.tool == "lookup_employee"
                    && d.ts >= at(60)
                    && d.reasons[0].0.starts_with("salary")
            }),
        ),
        (
            "persona=it-bot&user=user-5&agent=agent-3".into(),
            expected(&all, |d| {
                d.persona == "it-bot" && d.user == "user-5" && d.agent == "agent-3"
            }),
        ),
        ("persona=nobody".into(), vec![]),
    ];
    for (query, want) in cases {
        let body = list(&app, &format!("{query}&limit=500")).await;
        assert_eq!(ids(&body), want, "query `{query}`");
        assert!(body["next_cursor"].is_null(), "{query}");
    }
    // The combined case is not vacuous.
    let body = list(&app, "persona=hr-bot&allow=deny&q=salary&limit=500").await;
    assert!(!ids(&body).is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn keyset_pages_cover_every_decision_once_forwards_and_backwards(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let all = generate(300);
    store(&app, &all).await;
    let want = list_order(&all);

    let mut pages: Vec<Vec<Uuid>> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=7&cursor={c}"),
            None => "limit=7".into(),
        };
        let body = list(&app, &query).await;
        assert_eq!(body["previous_cursor"].is_null(), cursor.is_none());
        pages.push(ids(&body));
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages.len() < 100, "pagination does not end");
    }
    assert_eq!(pages.len(), 300usize.div_ceil(7));
    assert_eq!(
        pages.concat(),
        want,
        "forward pages have gaps or duplicates"
    );

    // Back from the last page with `previous`: the same pages in reverse.
    let last = pages.last().unwrap().clone();
    let mut body = list(&app, &format!("limit=7&cursor={}", cursor.unwrap())).await;
    assert_eq!(ids(&body), last);
    let mut back = vec![ids(&body)];
    while let Some(previous) = body["previous_cursor"].as_str() {
        body = list(&app, &format!("limit=7&cursor={previous}")).await;
        back.push(ids(&body));
        assert!(back.len() < 100, "backward pagination does not end");
    }
    back.reverse();
    // Going back re-aligns to full pages from the newest, so the first page is full.
    assert_eq!(back.concat(), want);
    assert_eq!(back[0], pages[0]);

    // Filters are applied on every page.
    let deny = expected(&all, |d| !d.allow);
    let first = list(&app, "allow=deny&limit=40").await;
    let second = list(
        &app,
        &format!(
            "allow=deny&limit=40&cursor={}",
            first["next_cursor"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!([ids(&first), ids(&second)].concat(), deny[..80].to_vec());
}

#[sqlx::test(migrations = "../migrations")]
async fn time_bounds_honour_their_offset_or_tz(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let all = generate(120);
    store(&app, &all).await;
    // base_time is 12:00Z; 11:30Z .. 11:50Z written three ways.
    let want = expected(&all, |d| {
        d.ts >= base_time() - Duration::minutes(30) && d.ts < base_time() - Duration::minutes(10)
    });
    assert!(!want.is_empty());
    for query in [
        "from=2026-11-20T11:30:00Z&to=2026-11-20T11:50:00Z",
        "from=2026-11-20T12:30:00%2B01:00&to=2026-11-20T12:50:00%2B01:00",
        "from=2026-11-20T06:30:00-05:00&to=2026-11-20T06:50:00-05:00",
        "from=2026-11-20T17:00&to=2026-11-20T17:20&tz=%2B05:30",
    ] {
        let body = list(&app, &format!("{query}&limit=500")).await;
        assert_eq!(ids(&body), want, "{query}");
    }
    // Timestamps come back in UTC with the offset spelled out.
    let body = list(&app, "limit=1").await;
    let ts = body["decisions"][0]["timestamp"].as_str().unwrap();
    assert_eq!(ts, "2026-11-20T11:59:00.000000Z");
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_queries_are_refused_with_the_parameter_named(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let cases = [
        (
            "persnoa=hr-bot",
            StatusCode::BAD_REQUEST,
            "unknown_filter",
            "persnoa",
        ),
        (
            "persona=a&persona=b",
            StatusCode::BAD_REQUEST,
            "repeated_filter",
            "persona",
        ),
        (
            "from=yesterday",
            StatusCode::BAD_REQUEST,
            "invalid_time",
            "from",
        ),
        (
            "to=2026-11-20T10:00",
            StatusCode::BAD_REQUEST,
            "invalid_time",
            "to",
        ),
        (
            "to=2026-13-20T10:00:00Z",
            StatusCode::BAD_REQUEST,
            "invalid_time",
            "to",
        ),
        (
            "tz=Europe/Paris&from=2026-11-20T10:00",
            StatusCode::BAD_REQUEST,
            "invalid_time",
            "tz",
        ),
        (
            "allow=maybe",
            StatusCode::BAD_REQUEST,
            "invalid_filter",
            "allow",
        ),
        ("limit=0", StatusCode::BAD_REQUEST, "invalid_limit", "limit"),
        (
            "limit=501",
            StatusCode::BAD_REQUEST,
            "invalid_limit",
            "limit",
        ),
        (
            "limit=ten",
            StatusCode::BAD_REQUEST,
            "invalid_limit",
            "limit",
        ),
        (
            "cursor=not-a-cursor",
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            "cursor",
        ),
        (
            "from=2026-11-20T10:00:00Z&to=2026-11-20T10:00:00Z",
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_time_range",
            "to",
        ),
    ];
    for (query, status, code, parameter) in cases {
        let response = app
            .get(&format!("/api/v1/decisions?{query}"), &app.auditor)
            .await;
        let body = assert_problem(response, status, code).await;
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("`{parameter}`")),
            "{query}: {body}"
        );
    }
    let long = "x".repeat(201);
    let response = app
        .get(&format!("/api/v1/decisions?q={long}"), &app.auditor)
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_filter").await;

    let response = app.get("/api/v1/decisions/42", &app.auditor).await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_decision_id").await;
    let response = app
        .get(
            &format!("/api/v1/decisions/{}", Uuid::new_v4()),
            &app.auditor,
        )
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn readers_see_decisions_and_agents_do_not(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let all = generate(3);
    store(&app, &all).await;
    let agent = app.agent_token("hr-bot").await;
    let one = format!("/api/v1/decisions/{}", all[0].id);
    for uri in [
        "/api/v1/decisions",
        one.as_str(),
        "/api/v1/decisions/export?format=csv",
    ] {
        for token in [&app.admin, &app.publisher, &app.auditor] {
            assert_eq!(app.get(uri, token).await.status(), StatusCode::OK, "{uri}");
        }
        assert_problem(
            app.get(uri, &agent).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        assert_problem(
            app.get(uri, "nope").await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn one_decision_shows_input_result_reasons_and_obligations(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let all = generate(2);
    store(&app, &all).await;
    let allowed = all.iter().find(|d| d.allow).unwrap();
    let response = app
        .get(&format!("/api/v1/decisions/{}", allowed.id), &app.auditor)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_json(response).await;
    assert_eq!(body["decision_id"], allowed.id.to_string());
    assert_eq!(body["persona"], allowed.persona);
    assert_eq!(body["agent_id"], allowed.agent);
    assert_eq!(body["user_id"], allowed.user);
    assert_eq!(body["tool"], allowed.tool);
    assert_eq!(body["allow"], true);
    assert_eq!(body["revision"], allowed.revision);
    assert_eq!(body["revision_sequence"], 42);
    assert_eq!(body["reasons"][0]["code"], "allowed");
    assert_eq!(body["obligations"][0]["kind"], "redact");
    assert_eq!(body["input"]["action"]["tool"]["args"], allowed.args);
    assert_eq!(body["result"]["allow"], true);
    assert_eq!(
        body["timestamp"],
        allowed
            .ts
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    );
}

/// A search matching more distinct reasons texts than the page query names by id
/// (`REASON_IDS_INLINE`) filters by pattern instead; both ways find the same decisions, pages
/// included.
#[sqlx::test(migrations = "../migrations")]
async fn a_search_matching_many_reasons_texts_finds_the_same_decisions(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let all = generate(120);
    store(&app, &all).await;
    let want = expected(&all, |d| d.reasons[0].0.starts_with("salary"));
    assert!(!want.is_empty());
    let by_ids = ids(&list(&app, "q=salary&limit=500").await);
    assert_eq!(by_ids, want);

    // Texts no decision carries, each containing the word: now the search matches more texts
    // than are named by id.
    let extra = regent_control_plane::store::audit::REASON_IDS_INLINE as i64 + 5;
    sqlx::query(
        "INSERT INTO decision_reason_texts (digest, reasons)
         SELECT sha256(convert_to(t, 'UTF8')), t
         FROM (SELECT 'salary filler ' || n AS t FROM generate_series(1, $1) AS n) x",
    )
    .bind(extra)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(ids(&list(&app, "q=salary&limit=500").await), want);
    // Pages of 7 with the cursor, newest first, cover the same decisions once.
    let mut paged = Vec::new();
    let mut query = "q=salary&limit=7".to_owned();
    loop {
        let body = list(&app, &query).await;
        paged.extend(ids(&body));
        match body["next_cursor"].as_str() {
            Some(cursor) => query = format!("q=salary&limit=7&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, want);
    // A word only the unused texts contain finds nothing.
    assert!(ids(&list(&app, "q=filler&limit=500").await).is_empty());
    // Under three characters the trigram index cannot help: the pattern filters directly.
    let text = |d: &Decision| {
        d.reasons
            .iter()
            .flat_map(|(code, message)| [code.as_str(), message.as_str()])
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let short = expected(&all, |d| text(d).contains("ry"));
    assert!(!short.is_empty() && short.len() < all.len());
    assert_eq!(ids(&list(&app, "q=RY&limit=500").await), short);
}

/// Pages of `limit` from the newest with `next_cursor`, then back from the last with
/// `previous_cursor`; both must give the same list.
async fn walk(app: &TestApp, query: &str, limit: usize) -> Vec<Uuid> {
    let mut forwards = Vec::new();
    let mut body = list(app, &format!("{query}&limit={limit}")).await;
    let mut last_cursor = None;
    loop {
        forwards.extend(ids(&body));
        match body["next_cursor"].as_str() {
            Some(next) => {
                last_cursor = Some(next.to_owned());
                body = list(app, &format!("{query}&limit={limit}&cursor={next}")).await;
            }
            None => break,
        }
        assert!(forwards.len() < 10_000, "pagination does not end");
    }
    if let Some(cursor) = last_cursor {
        let mut body = list(app, &format!("{query}&limit={limit}&cursor={cursor}")).await;
        let mut back = vec![ids(&body)];
        while let Some(previous) = body["previous_cursor"].as_str() {
            body = list(app, &format!("{query}&limit={limit}&cursor={previous}")).await;
            back.push(ids(&body));
            assert!(back.len() < 10_000, "backward pagination does not end");
        }
        back.reverse();
        let back = back.concat();
        // Going back re-aligns to full pages from the newest: the same decisions.
        assert_eq!(
            back, forwards,
            "{query}: backward pages differ from forward pages"
        );
    }
    forwards
}

/// A persona alone is read as three ordered reads merged (one per verdict: its index is
/// `(persona key, allow, ts, decision_id)`): every verdict — allowed, denied and none (an event
/// whose result has no boolean `allow`) — shows, in list order, once, on every page.
#[sqlx::test(migrations = "../migrations")]
async fn a_persona_alone_lists_its_allowed_denied_and_verdictless_decisions_in_order(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let all = generate(150);
    let verdictless = |i: usize| i % 4 == 1;
    let events: Vec<Value> = all
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut event = d.event();
            if verdictless(i) {
                event["result"]
                    .as_object_mut()
                    .unwrap()
                    .remove("allow")
                    .unwrap();
            }
            event
        })
        .collect();
    post_events(&app, &events).await;

    let hr: Vec<Decision> = all
        .iter()
        .filter(|d| d.persona == "hr-bot")
        .cloned()
        .collect();
    let want = list_order(&hr);
    let nulls: Vec<Uuid> = all
        .iter()
        .enumerate()
        .filter(|(i, d)| verdictless(*i) && d.persona == "hr-bot")
        .map(|(_, d)| d.id)
        .collect();
    assert!(!nulls.is_empty() && nulls.len() < want.len());
    let body = list(&app, "persona=hr-bot&limit=500").await;
    assert_eq!(ids(&body), want);
    for decision in body["decisions"].as_array().unwrap() {
        let id: Uuid = decision["decision_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            decision["allow"].is_null(),
            nulls.contains(&id),
            "{decision}"
        );
    }
    for limit in [1, 4, 7] {
        assert_eq!(
            walk(&app, "persona=hr-bot", limit).await,
            want,
            "limit {limit}"
        );
    }
    // With the other filters and a time bound, on every branch.
    let from = base_time() - Duration::minutes(100);
    let keep = |d: &Decision| d.persona == "hr-bot" && d.tool == "merge_pr" && d.ts >= from;
    let want = expected(&all, keep);
    assert!(!want.is_empty());
    let query = format!(
        "persona=hr-bot&tool=merge_pr&from={}",
        enc(&from.to_rfc3339())
    );
    assert_eq!(walk(&app, &query, 3).await, want);
    // A verdict named excludes the verdictless decisions.
    let denied = expected(&all, |d| d.persona == "hr-bot" && !d.allow);
    let denied: Vec<Uuid> = denied
        .into_iter()
        .filter(|id| !nulls.contains(id))
        .collect();
    assert_eq!(walk(&app, "persona=hr-bot&allow=deny", 4).await, denied);
}

/// A page is read with the text filters' hash keys in the query and their texts compared on
/// the rows; after a hash collision it is read again with the texts in the query. Both reads
/// give the same pages for every filter, in both directions.
#[sqlx::test(migrations = "../migrations")]
async fn pages_are_the_same_with_the_texts_compared_in_the_query(pool: PgPool) {
    use regent_control_plane::store::audit::{DecisionFilter, Direction};
    let app = TestApp::new(pool).await;
    let all = generate(150);
    store(&app, &all).await;
    let store = &app.state.store;
    let filters = [
        DecisionFilter::default(),
        DecisionFilter {
            persona: Some("hr-bot".into()),
            ..DecisionFilter::default()
        },
        DecisionFilter {
            persona: Some("it-bot".into()),
            allow: Some(false),
            ..DecisionFilter::default()
        },
        DecisionFilter {
            agent_id: Some("agent-3".into()),
            user_id: Some("user-5".into()),
            ..DecisionFilter::default()
        },
        DecisionFilter {
            tool: Some("merge_pr".into()),
            revision: Some("dev-bot-2".into()),
            ..DecisionFilter::default()
        },
        DecisionFilter {
            persona: Some("nobody".into()),
            ..DecisionFilter::default()
        },
    ];
    for filter in &filters {
        let want = expected(&all, |d| {
            let is =
                |wanted: &Option<String>, have: &str| wanted.as_deref().is_none_or(|w| w == have);
            is(&filter.persona, &d.persona)
                && is(&filter.agent_id, &d.agent)
                && is(&filter.user_id, &d.user)
                && is(&filter.tool, &d.tool)
                && is(&filter.revision, &d.revision)
                && filter.allow.is_none_or(|a| a == d.allow)
        });
        let fast = store.decision_page(filter, None, 1_000).await.unwrap();
        let exact = store
            .decision_page_comparing_texts_in_query(filter, None, 1_000)
            .await
            .unwrap();
        let ids = |rows: &[regent_control_plane::store::audit::DecisionSummary]| {
            rows.iter().map(|r| r.decision_id).collect::<Vec<_>>()
        };
        assert_eq!(ids(&fast), want, "{filter:?}");
        assert_eq!(ids(&exact), want, "{filter:?}");
        // A middle page in both directions.
        if fast.len() > 6 {
            for (direction, page) in [(Direction::Older, 4..6), (Direction::Newer, 1..3)] {
                let after = Some((fast[3].keyset(), direction));
                let a = store.decision_page(filter, after, 2).await.unwrap();
                let b = store
                    .decision_page_comparing_texts_in_query(filter, after, 2)
                    .await
                    .unwrap();
                assert_eq!(ids(&a), want[page].to_vec(), "{filter:?} {direction:?}");
                assert_eq!(ids(&b), ids(&a), "{filter:?} {direction:?}");
            }
        }
    }
}

/// A hash collision, made for the test: on connections whose search path puts a
/// `public.hashtextextended` that returns 0 for every text before `pg_catalog`'s, every text
/// filter's key matches every row. The rows read then carry other texts, and the page is read
/// again with the texts compared in the query: the same pages as without the collision.
#[sqlx::test(migrations = "../migrations")]
async fn a_hash_collision_reads_the_page_again_comparing_texts(pool: PgPool) {
    use regent_control_plane::store::Store;
    use regent_control_plane::store::audit::{DecisionFilter, Direction};
    use sqlx::postgres::PgPoolOptions;
    let app = TestApp::new(pool.clone()).await;
    let all = generate(150);
    store(&app, &all).await;
    sqlx::query(
        "CREATE FUNCTION public.hashtextextended(text, bigint) RETURNS bigint
         IMMUTABLE LANGUAGE sql AS 'SELECT 0::bigint'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let options = (*pool.connect_options())
        .clone()
        .options([("search_path", "public, pg_catalog")]);
    let colliding = Store::from_pool(PgPoolOptions::new().connect_with(options).await.unwrap());
    let key: i64 = sqlx::query_scalar("SELECT hashtextextended('hr-bot', 0)")
        .fetch_one(&colliding.pool)
        .await
        .unwrap();
    assert_eq!(key, 0, "the colliding hash is in use");

    let filter = DecisionFilter {
        persona: Some("hr-bot".into()),
        user_id: Some("user-5".into()),
        ..DecisionFilter::default()
    };
    let want = expected(&all, |d| d.persona == "hr-bot" && d.user == "user-5");
    assert!(want.len() >= 3);
    let ids = |rows: Vec<regent_control_plane::store::audit::DecisionSummary>| {
        rows.into_iter().map(|r| r.decision_id).collect::<Vec<_>>()
    };
    let page = colliding.decision_page(&filter, None, 1_000).await.unwrap();
    assert_eq!(ids(page.clone()), want);
    let second = colliding
        .decision_page(&filter, Some((page[0].keyset(), Direction::Older)), 2)
        .await
        .unwrap();
    assert_eq!(ids(second), want[1..3].to_vec());
    // Exports read the same way.
    let batch = colliding
        .decision_export_batch(&filter, None, 1_000)
        .await
        .unwrap();
    let exported: Vec<Uuid> = batch.iter().map(|r| r.summary.decision_id).collect();
    assert_eq!(exported, want);
}
