//! Decision events for the audit tests, stored through the real ingest path (`POST /logs`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Duration, TimeZone as _, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestApp, body_json};

/// One decision as the test describes it.
#[derive(Debug, Clone)]
pub struct Decision {
    pub id: Uuid,
    pub ts: DateTime<Utc>,
    pub persona: String,
    pub agent: String,
    pub user: String,
    pub tool: String,
    pub allow: bool,
    pub revision: String,
    pub reasons: Vec<(String, String)>,
    pub args: Value,
}

impl Decision {
    pub fn event(&self) -> Value {
        let reasons: Vec<Value> = self
            .reasons
            .iter()
            .map(|(code, message)| json!({"code": code, "message": message}))
            .collect();
        let obligations = if self.allow {
            json!([{"kind": "redact", "fields": ["salary"]}])
        } else {
            json!([])
        };
        json!({
            "labels": {"id": self.agent, "version": "regent-agent/0.1.0"},
            "decision_id": self.id.to_string(),
            "timestamp": self.ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "bundles": {self.persona.clone(): {"revision": self.revision}},
            "revision_sequence": 42,
            "path": "regent/decision",
            "input": {
                "agent": {"id": self.agent, "persona": self.persona},
                "user": {"id": self.user, "roles": ["employee"]},
                "action": {"kind": "tool_call", "tool": {"name": self.tool, "args": self.args}}
            },
            "result": {"allow": self.allow, "reasons": reasons, "obligations": obligations}
        })
    }
}

/// The newest decision of the generated sets is at this instant; the rest go back from it.
pub fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

/// `n` varied decisions, one minute apart going back from [`base_time`] — except that every
/// fifth shares its predecessor's timestamp, so ties are ordered by id.
pub fn generate(n: usize) -> Vec<Decision> {
    let personas = ["hr-bot", "it-bot", "dev-bot"];
    let tools = [
        "lookup_employee",
        "reset_password",
        "open_ticket",
        "merge_pr",
    ];
    let mut ts = base_time();
    (0..n)
        .map(|i| {
            if i % 5 != 4 {
                ts -= Duration::minutes(1);
            }
            let allow = i % 3 != 0;
            let reasons = if allow {
                vec![(
                    "allowed".to_owned(),
                    "the role permits this tool".to_owned(),
                )]
            } else if i % 2 == 0 {
                vec![(
                    "salary_requires_hr_admin".to_owned(),
                    "Salary data needs the HR-Admin role".to_owned(),
                )]
            } else {
                vec![(
                    "outside_hours".to_owned(),
                    "Requests after 50%_of hours are refused".to_owned(),
                )]
            };
            Decision {
                id: Uuid::new_v4(),
                ts,
                persona: personas[i % 3].to_owned(),
                agent: format!("agent-{}", i % 7),
                user: format!("user-{}", i % 11),
                tool: tools[i % 4].to_owned(),
                allow,
                revision: format!("{}-{}", personas[i % 3], 1 + i % 2),
                reasons,
                args: json!({"n": i}),
            }
        })
        .collect()
}

/// Stores `decisions` with an admin token through `POST /logs`, in batches.
pub async fn store(app: &TestApp, decisions: &[Decision]) {
    for chunk in decisions.chunks(500) {
        let events: Vec<Value> = chunk.iter().map(Decision::event).collect();
        post_events(app, &events).await;
    }
}

/// Posts `events` (one batch) with an admin token to `POST /logs`; every one must be stored.
pub async fn post_events(app: &TestApp, events: &[Value]) {
    let response = app
        .send(
            Request::post("/logs")
                .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(events).unwrap()))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let report = body_json(response).await;
    assert_eq!(report["stored"], events.len(), "{report}");
}

/// `decisions` in list order: newest first, ties by id descending.
pub fn list_order(decisions: &[Decision]) -> Vec<Uuid> {
    let mut sorted: Vec<&Decision> = decisions.iter().collect();
    sorted.sort_by(|a, b| b.ts.cmp(&a.ts).then(b.id.cmp(&a.id)));
    sorted.iter().map(|d| d.id).collect()
}

/// Ids of a `GET /api/v1/decisions` body.
pub fn ids(body: &Value) -> Vec<Uuid> {
    body["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["decision_id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Percent-encodes a query value.
pub fn enc(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The XSS payloads the audit pages and exports must render inert.
pub const SCRIPT: &str = "<script>alert(1)</script>";
pub const IMG: &str = "\"><img src=x onerror=alert(1)>";

/// A decision carrying the payloads in its tool args, user id and reasons.
pub fn hostile() -> Decision {
    Decision {
        id: Uuid::new_v4(),
        ts: base_time() + Duration::minutes(5),
        persona: "hr-bot".into(),
        agent: "agent-x".into(),
        user: format!("mallory{IMG}"),
        tool: "lookup_employee".into(),
        allow: false,
        revision: "hr-bot-1".into(),
        reasons: vec![(
            "=HYPERLINK(\"https://evil.example\")".into(),
            format!("=cmd|' /C calc'!A0 {SCRIPT} {IMG}"),
        )],
        args: json!({"query": SCRIPT, "note": IMG, "formula": "=1+1"}),
    }
}
