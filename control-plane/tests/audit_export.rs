//! `GET /api/v1/decisions/export`: the whole filtered set, streamed in keyset batches, as CSV
//! (quoted, formula cells neutralised) or JSON Lines (the stored event intact).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_fixtures;
mod common;

use audit_fixtures::{IMG, SCRIPT, generate, hostile, list_order, store};
use axum::http::{StatusCode, header};
use common::{TestApp, assert_problem, body_bytes};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// Splits CSV text into records of cells (RFC 4180: quoted cells may hold `,`, `"` and breaks).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut cell)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut cell));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(
        cell.is_empty() && record.is_empty(),
        "CSV does not end with a line break"
    );
    records
}

async fn export(app: &TestApp, query: &str) -> (String, String) {
    let response = app
        .get(&format!("/api/v1/decisions/export?{query}"), &app.auditor)
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    let disposition = response.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_owned();
    let text = String::from_utf8(body_bytes(response).await).unwrap();
    (disposition, text)
}

#[sqlx::test(migrations = "../migrations")]
async fn csv_and_jsonl_hold_every_filtered_decision_across_batches(pool: PgPool) {
    let app = TestApp::new(pool).await;
    // More than two export batches (1,000 rows each).
    let all = generate(2_300);
    store(&app, &all).await;
    let deny: Vec<_> = all.iter().filter(|d| !d.allow).cloned().collect();

    let (disposition, csv) = export(&app, "format=csv").await;
    assert!(disposition.starts_with("attachment; filename=\"regent-decisions-"));
    assert!(disposition.ends_with(".csv\""), "{disposition}");
    let records = parse_csv(&csv);
    assert_eq!(records[0][0], "decision_id");
    assert_eq!(records[0].len(), 13);
    let got: Vec<Uuid> = records[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(got, list_order(&all));
    assert!(records.iter().all(|r| r.len() == 13));

    let (disposition, jsonl) = export(&app, "format=jsonl&allow=deny").await;
    assert!(disposition.ends_with(".jsonl\""), "{disposition}");
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<Uuid> = lines
        .iter()
        .map(|l| l["decision_id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(got, list_order(&deny));
    assert!(lines.iter().all(|l| l["allow"] == false));
    assert_eq!(
        lines[0]["event"]["input"]["agent"]["persona"],
        lines[0]["persona"]
    );

    // An empty set is a header only (CSV) or nothing (JSON Lines).
    let (_, csv) = export(&app, "format=csv&persona=nobody").await;
    assert_eq!(parse_csv(&csv).len(), 1);
    let (_, jsonl) = export(&app, "format=jsonl&persona=nobody").await;
    assert_eq!(jsonl, "");
}

#[sqlx::test(migrations = "../migrations")]
async fn payloads_are_neutralised_in_csv_and_intact_in_jsonl(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let decision = hostile();
    store(&app, std::slice::from_ref(&decision)).await;

    let (_, csv) = export(&app, "format=csv").await;
    let records = parse_csv(&csv);
    assert_eq!(records.len(), 2);
    let row = &records[1];
    // The reasons cell started with `=`: a spreadsheet now shows it as text.
    assert!(row[10].starts_with("'="), "{:?}", row[10]);
    assert!(row[10].contains(SCRIPT));
    assert_eq!(row[4], decision.user);
    let input: Value = serde_json::from_str(&row[11]).unwrap();
    assert_eq!(input["action"]["tool"]["args"]["query"], SCRIPT);
    assert_eq!(input["action"]["tool"]["args"]["formula"], "=1+1");
    // No cell begins with a formula trigger.
    for cell in row {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "cell {cell:?} would run as a formula"
        );
    }

    let (_, jsonl) = export(&app, "format=jsonl").await;
    let line: Value = serde_json::from_str(jsonl.trim_end()).unwrap();
    assert_eq!(line["user_id"], decision.user);
    assert_eq!(
        line["event"]["input"]["action"]["tool"]["args"]["note"],
        IMG
    );
    assert!(line["reasons"].as_str().unwrap().contains(SCRIPT));
}

#[sqlx::test(migrations = "../migrations")]
async fn an_export_names_a_bad_format_or_filter(pool: PgPool) {
    let app = TestApp::new(pool).await;
    for (query, code, parameter) in [
        ("", "invalid_format", "format"),
        ("format=xlsx", "invalid_format", "format"),
        ("format=csv&persnoa=x", "unknown_filter", "persnoa"),
        ("format=csv&from=soon", "invalid_time", "from"),
        ("format=csv&cursor=abc", "invalid_cursor", "cursor"),
    ] {
        let response = app
            .get(&format!("/api/v1/decisions/export?{query}"), &app.auditor)
            .await;
        let body = assert_problem(response, StatusCode::BAD_REQUEST, code).await;
        assert_eq!(body["parameter"], parameter, "{query}");
    }
}
