//! `/console/audit/{decision_id}`: one decision with its input, result, reasons and
//! obligations, who and what it was about, and the exact revision that made it.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Offset as _, Utc};
use serde_json::Value;

use super::{decision_id, local_time, page_tz, revision_url, urlencode};
use crate::app::AppState;
use crate::http::console::layout::{Chrome, nav};
use crate::http::console::{ConsoleError, ConsoleResult, Session};

/// A reason as shown: code and message.
#[derive(Debug)]
pub struct ReasonView {
    pub code: String,
    pub message: String,
}

/// An obligation as shown: its kind and its other parameters as JSON.
#[derive(Debug)]
pub struct ObligationView {
    pub kind: String,
    pub params: String,
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "audit/decision.html")]
pub struct DecisionPage {
    pub chrome: Chrome,
    pub decision_id: String,
    pub iso: String,
    pub time: String,
    pub time_utc: String,
    pub received: String,
    pub tz_label: String,
    pub allow: Option<bool>,
    pub persona: Option<String>,
    pub agent: Option<String>,
    pub user: Option<String>,
    pub tool: Option<String>,
    pub revision: Option<String>,
    pub sequence: Option<i64>,
    pub path: Option<String>,
    /// The console page of the revision that decided.
    pub revision_href: Option<String>,
    /// Lists of this persona's / agent's / user's decisions.
    pub persona_href: Option<String>,
    pub agent_href: Option<String>,
    pub user_href: Option<String>,
    pub reasons: Vec<ReasonView>,
    pub obligations: Vec<ObligationView>,
    pub input: String,
    pub result: String,
    pub event: String,
    pub back_href: String,
}

fn pretty(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
    }
}

fn reasons(event: &Value) -> Vec<ReasonView> {
    let list = event
        .get("reasons")
        .or_else(|| event.get("result").and_then(|r| r.get("reasons")));
    let text = |v: &Value, key: &str| match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    list.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|r| ReasonView {
                    code: text(r, "code"),
                    message: text(r, "message"),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn obligations(event: &Value) -> Vec<ObligationView> {
    let list = event
        .get("result")
        .and_then(|r| r.get("obligations"))
        .and_then(Value::as_array);
    list.map(|items| {
        items
            .iter()
            .map(|o| {
                let mut params = o.clone();
                let kind = match params.as_object_mut().and_then(|m| m.remove("kind")) {
                    Some(Value::String(k)) => k,
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                ObligationView {
                    kind,
                    params: serde_json::to_string(&params).unwrap_or_default(),
                }
            })
            .collect()
    })
    .unwrap_or_default()
}

fn utc(ts: DateTime<Utc>) -> String {
    local_time(ts, Utc.fix())
}

pub(super) async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ConsoleResult<DecisionPage> {
    let chrome = session.chrome(nav::AUDIT);
    let id = decision_id(&id)?;
    let (tz, tz_param) = page_tz(&pairs)?;
    let record = state
        .store
        .decision(id)
        .await?
        .ok_or_else(|| ConsoleError::not_found(format!("there is no decision `{id}`")))?;
    let s = record.summary;
    let tz_query = tz_param
        .as_ref()
        .map(|t| format!("&tz={}", urlencode(t)))
        .unwrap_or_default();
    let filtered = |name: &str, value: &Option<String>| {
        value
            .as_ref()
            .map(|v| format!("/console/audit?{name}={}{tz_query}", urlencode(v)))
    };
    Ok(DecisionPage {
        chrome,
        decision_id: s.decision_id.to_string(),
        iso: s.ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        time: local_time(s.ts, tz),
        time_utc: utc(s.ts),
        received: local_time(record.received_at, tz),
        tz_label: tz.to_string(),
        allow: s.allow,
        revision_href: match (&s.persona, &s.revision) {
            (Some(p), Some(r)) => Some(revision_url(p, r)),
            _ => None,
        },
        persona_href: filtered("persona", &s.persona),
        agent_href: filtered("agent", &s.agent_id),
        user_href: filtered("user", &s.user_id),
        reasons: reasons(&record.event),
        obligations: obligations(&record.event),
        input: pretty(record.event.get("input")),
        result: pretty(record.event.get("result")),
        event: pretty(Some(&record.event)),
        back_href: match tz_param {
            Some(t) => format!("/console/audit?tz={}", urlencode(&t)),
            None => "/console/audit".into(),
        },
        persona: s.persona,
        agent: s.agent_id,
        user: s.user_id,
        tool: s.tool,
        revision: s.revision,
        sequence: s.sequence,
        path: s.path,
    })
}
