//! The audit browser: `/console/audit` (filter form, keyset-paged table, export links) and
//! `/console/audit/{decision_id}` (one decision in full). Read-only, for every signed-in role.
//! The filters are the JSON API's ([`crate::services::audit`]); every value from a logged event
//! reaches the page through askama's HTML escaping.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Router, routing};
use chrono::{DateTime, FixedOffset, Offset as _, Utc};

use super::layout::{Chrome, nav};
use super::{ConsoleError, ConsoleResult, Session};
use crate::app::AppState;
use crate::http::api::decisions::{export_response, parse_decision_id};
use crate::services::audit::{self, AuditQuery, DEFAULT_LIMIT};
use crate::store::audit::DecisionSummary;

// The decision page lives beside this file, in `audit_decision.rs`.
#[path = "audit_decision.rs"]
mod decision;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/audit", routing::get(list))
        .route("/console/audit/export", routing::get(export))
        .route("/console/audit/{decision_id}", routing::get(decision::show))
}

/// A time in the reader's offset, with the offset spelled out: `2026-11-24 10:15:00.123 +01:00`.
pub fn local_time(ts: DateTime<Utc>, tz: FixedOffset) -> String {
    ts.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S%.3f %:z")
        .to_string()
}

/// The console route of a persona's revision page.
pub fn revision_url(persona: &str, revision: &str) -> String {
    format!(
        "/console/personas/{}/revisions/{}",
        urlencode(persona),
        urlencode(revision)
    )
}

pub fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

fn query_string(pairs: &[(&str, String)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// One table row.
#[derive(Debug)]
pub struct Row {
    pub decision_id: String,
    pub href: String,
    pub iso: String,
    pub time: String,
    pub allow: Option<bool>,
    pub persona: String,
    pub agent: String,
    pub user: String,
    pub tool: String,
    pub revision: String,
    pub reasons: String,
}

/// The form's current values (as the fields show them).
#[derive(Debug, Default)]
pub struct FormValues {
    pub persona: String,
    pub agent: String,
    pub user: String,
    pub tool: String,
    pub allow: String,
    pub revision: String,
    pub from: String,
    pub to: String,
    pub tz: String,
    pub q: String,
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "audit/list.html")]
pub struct AuditListPage {
    pub chrome: Chrome,
    pub form: FormValues,
    pub error: Option<String>,
    pub rows: Vec<Row>,
    pub filtered: bool,
    pub newer_href: Option<String>,
    pub older_href: Option<String>,
    pub csv_href: String,
    pub jsonl_href: String,
    pub tz_label: String,
}

/// Field values from the raw pairs, so a refused query is shown back as typed.
fn raw_form(pairs: &[(String, String)]) -> FormValues {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    FormValues {
        persona: get("persona"),
        agent: get("agent"),
        user: get("user"),
        tool: get("tool"),
        allow: get("allow"),
        revision: get("revision"),
        from: get("from"),
        to: get("to"),
        tz: get("tz"),
        q: get("q"),
    }
}

/// Field values of a valid query; times as `datetime-local` values in its offset.
fn form_values(query: &AuditQuery) -> FormValues {
    let f = &query.filter;
    let local = |t: Option<DateTime<Utc>>| {
        t.map(|t| {
            t.with_timezone(&query.tz)
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
    };
    FormValues {
        persona: f.persona.clone().unwrap_or_default(),
        agent: f.agent_id.clone().unwrap_or_default(),
        user: f.user_id.clone().unwrap_or_default(),
        tool: f.tool.clone().unwrap_or_default(),
        allow: match f.allow {
            Some(true) => "allow".into(),
            Some(false) => "deny".into(),
            None => String::new(),
        },
        revision: f.revision.clone().unwrap_or_default(),
        from: local(f.from),
        to: local(f.to),
        tz: query.tz.to_string(),
        q: f.reasons_contain.clone().unwrap_or_default(),
    }
}

fn row(summary: DecisionSummary, tz: FixedOffset, tz_suffix: &str) -> Row {
    Row {
        decision_id: summary.decision_id.to_string(),
        href: format!("/console/audit/{}{tz_suffix}", summary.decision_id),
        iso: summary
            .ts
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        time: local_time(summary.ts, tz),
        allow: summary.allow,
        persona: summary.persona.unwrap_or_default(),
        agent: summary.agent_id.unwrap_or_default(),
        user: summary.user_id.unwrap_or_default(),
        tool: summary.tool.unwrap_or_default(),
        revision: summary.revision.unwrap_or_default(),
        reasons: summary.reasons,
    }
}

async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ConsoleResult<Response> {
    let chrome = session.chrome(nav::AUDIT);
    let query = match AuditQuery::parse(&pairs, &[]) {
        Ok((query, _)) => query,
        Err(e) => {
            let page = AuditListPage {
                chrome,
                form: raw_form(&pairs),
                error: Some(e.to_string()),
                rows: Vec::new(),
                filtered: true,
                newer_href: None,
                older_href: None,
                csv_href: "/console/audit/export?format=csv".into(),
                jsonl_href: "/console/audit/export?format=jsonl".into(),
                tz_label: "+00:00".into(),
            };
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    let page = audit::page(&state.store, &query).await?;
    let filter_pairs = query.filter_pairs();
    let link = |cursor: &str| {
        let mut pairs = filter_pairs.clone();
        if query.limit != DEFAULT_LIMIT {
            pairs.push(("limit", query.limit.to_string()));
        }
        pairs.push(("cursor", cursor.to_owned()));
        format!("/console/audit?{}", query_string(&pairs))
    };
    let export = |format: &str| {
        let mut pairs = vec![("format", format.to_owned())];
        pairs.extend(filter_pairs.iter().cloned());
        format!("/console/audit/export?{}", query_string(&pairs))
    };
    let tz_suffix = query
        .tz_param
        .as_ref()
        .map(|tz| format!("?tz={}", urlencode(tz)))
        .unwrap_or_default();
    Ok(AuditListPage {
        chrome,
        form: form_values(&query),
        error: None,
        filtered: filter_pairs.iter().any(|(k, _)| *k != "tz"),
        newer_href: page.previous.as_deref().map(link),
        older_href: page.next.as_deref().map(link),
        csv_href: export("csv"),
        jsonl_href: export("jsonl"),
        tz_label: query.tz.to_string(),
        rows: page
            .rows
            .into_iter()
            .map(|r| row(r, query.tz, &tz_suffix))
            .collect(),
    }
    .into_response())
}

/// The export of the shown filter, for a signed-in reader (a GET; nothing changes).
async fn export(
    State(state): State<AppState>,
    _session: Session,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ConsoleResult<Response> {
    Ok(export_response(&state, &pairs)?)
}

/// Parses the decision id of the path (400 page when it is not a UUID).
fn decision_id(text: &str) -> ConsoleResult<uuid::Uuid> {
    Ok(parse_decision_id(text)?)
}

/// `tz` of the decision page (`?tz=+01:00`), UTC when absent.
fn page_tz(pairs: &[(String, String)]) -> ConsoleResult<(FixedOffset, Option<String>)> {
    for (name, _) in pairs {
        if name != "tz" {
            return Err(ConsoleError::bad_request(format!(
                "unknown parameter `{}`; this page takes only `tz`",
                name.chars().take(40).collect::<String>()
            )));
        }
    }
    match pairs.iter().find(|(k, _)| k == "tz") {
        None => Ok((Utc.fix(), None)),
        Some((_, v)) if v.trim().is_empty() => Ok((Utc.fix(), None)),
        Some((_, v)) => audit::parse_offset(v.trim())
            .map(|tz| (tz, Some(v.trim().to_owned())))
            .ok_or_else(|| {
                ConsoleError::bad_request(format!(
                    "`tz` = `{}` is not a UTC offset: use `Z`, `+01:00` or `-05:30`",
                    v.chars().take(40).collect::<String>()
                ))
            }),
    }
}
