//! `POST /status[/{partition}]`: OPA's status report (plus Regent's block), stored as the
//! agent's latest status and appended to its history.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use regent_protocol::{PluginStateV1, StatusReportV1};

use super::{read_body, require_reporter};
use crate::app::AppState;
use crate::auth::{Principal, Role};
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::services::ingest::has_nul_escape;
use crate::store::agents::{StatusOutcome, StatusRecord};

/// Largest status body. OPA's reports are a few KiB; its Prometheus block can reach ~100 KiB.
pub const MAX_STATUS_BYTES: usize = 1024 * 1024;

/// Reports kept per agent in `agent_status_history`.
pub const HISTORY_PER_AGENT: i64 = 1000;

/// Longest agent id accepted (`labels.id`).
const MAX_AGENT_ID_CHARS: usize = 256;

/// Longest `last_error` kept.
const MAX_ERROR_CHARS: usize = 4000;

pub(super) async fn post_status_partition(
    state: State<AppState>,
    auth: Auth,
    Path(_partition): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    post_status(state, auth, headers, body).await
}

pub(super) async fn post_status(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let principal = require_reporter(&auth)?;
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING)
        && !encoding.as_bytes().eq_ignore_ascii_case(b"identity")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            "status reports are plain JSON; drop `Content-Encoding`",
        ));
    }
    let body = read_body(body, &headers, MAX_STATUS_BYTES, "1 MiB status limit").await?;
    let report: StatusReportV1 = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("the body is not a status report: {e}"),
        )
        .with("line", e.line())
        .with("column", e.column())
    })?;
    // serde_json accepted it, so it is UTF-8.
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    if has_nul_escape(text) {
        return Err(ApiError::unprocessable(
            "invalid_status",
            "the report contains `\\u0000`, which cannot be stored; remove NUL characters",
        ));
    }
    let agent_id = agent_id(&report)?;
    let (persona_id, persona) = resolve_persona(&state, principal, &report).await?;
    let bundle = persona.as_ref().and_then(|p| report.bundles.get(p));
    let labels = serde_json::to_value(&report.labels).map_err(|e| ApiError::internal(&e))?;
    let last_error = last_error(&report);
    let regent = report.regent.as_ref();
    let record = StatusRecord {
        agent_id,
        persona_id,
        channel: report.labels.get("channel").map(String::as_str),
        labels: &labels,
        active_revision: bundle.and_then(|b| b.active_revision.as_deref()),
        active_sequence: regent
            .and_then(|r| r.active_revision_sequence)
            .and_then(|s| i64::try_from(s).ok()),
        last_error: last_error.as_deref(),
        status: text,
        may_change_persona: principal.role == Role::Admin,
        keep_history: HISTORY_PER_AGENT,
    };
    match state.store.record_status(&record).await? {
        StatusOutcome::Recorded => {
            state.metrics.status_received();
            Ok(StatusCode::NO_CONTENT)
        }
        StatusOutcome::OwnedByPersona(owner) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "agent_persona_conflict",
            format!(
                "agent `{agent_id}` reports for persona `{}`; use that persona's token or a new `labels.id`",
                owner.as_deref().unwrap_or("?")
            ),
        )),
    }
}

/// `labels.id`, which OPA always sends (a per-process UUID). It must agree with Regent's block.
fn agent_id(report: &StatusReportV1) -> ApiResult<&str> {
    let id = report.instance_id().map(str::trim).unwrap_or_default();
    if id.is_empty() {
        return Err(ApiError::unprocessable(
            "missing_agent_id",
            "`labels.id` is missing; OPA sends it by default, Regent agents must set it to their agent id",
        )
        .with("field", "labels.id"));
    }
    if id.chars().count() > MAX_AGENT_ID_CHARS {
        return Err(ApiError::unprocessable(
            "invalid_agent_id",
            format!("`labels.id` is longer than {MAX_AGENT_ID_CHARS} characters"),
        )
        .with("field", "labels.id"));
    }
    if let Some(regent) = &report.regent
        && regent.agent_id != id
    {
        return Err(ApiError::unprocessable(
            "invalid_agent_id",
            format!(
                "`regent.agent_id` `{}` differs from `labels.id` `{id}`; they must be the same",
                regent.agent_id
            ),
        )
        .with("field", "regent.agent_id"));
    }
    Ok(id)
}

/// The persona the report is about: Regent's block, else `labels.persona`, else the agent
/// token's persona, else the first bundle named after a known persona. An agent token may only
/// report for its own persona.
async fn resolve_persona(
    state: &AppState,
    principal: &Principal,
    report: &StatusReportV1,
) -> ApiResult<(Option<i64>, Option<String>)> {
    let explicit = report
        .regent
        .as_ref()
        .map(|r| r.persona.clone())
        .or_else(|| report.labels.get("persona").cloned());
    if principal.role == Role::Agent {
        let own = principal.persona.clone().unwrap_or_default();
        if let Some(named) = &explicit
            && *named != own
        {
            return Err(ApiError::forbidden(format!(
                "this agent token is for persona `{own}`, but the report is for `{named}`"
            )));
        }
        if explicit.is_none() && !report.bundles.is_empty() && !report.bundles.contains_key(&own) {
            let names: Vec<&str> = report.bundles.keys().map(String::as_str).collect();
            return Err(ApiError::forbidden(format!(
                "this agent token is for persona `{own}`, but the report covers bundles `{}`",
                names.join("`, `")
            )));
        }
        let id = state.store.persona(&own).await?.id;
        return Ok((Some(id), Some(own)));
    }
    if let Some(named) = explicit {
        let persona = state.store.persona(&named).await?;
        return Ok((Some(persona.id), Some(persona.name)));
    }
    let names: Vec<String> = report.bundles.keys().cloned().collect();
    Ok(
        match state
            .store
            .existing_personas(&names)
            .await?
            .into_iter()
            .next()
        {
            Some((id, name)) => (Some(id), Some(name)),
            None => (None, None),
        },
    )
}

/// Regent's own error, else every failing bundle and plugin, joined.
fn last_error(report: &StatusReportV1) -> Option<String> {
    if let Some(error) = report.regent.as_ref().and_then(|r| r.last_error.clone()) {
        return Some(cap(error));
    }
    let mut errors = Vec::new();
    for (name, bundle) in &report.bundles {
        if bundle.code.is_some() || bundle.message.is_some() {
            let message = bundle.message.as_deref().unwrap_or("failed");
            let mut text = format!("bundle `{name}`: {message}");
            for error in bundle.errors.iter().take(3) {
                if let Some(m) = error.get("message").and_then(|m| m.as_str()) {
                    text.push_str(&format!("; {m}"));
                }
            }
            errors.push(text);
        }
    }
    for (name, plugin) in &report.plugins {
        if plugin.state == Some(PluginStateV1::Error) {
            let message = plugin.message.as_deref().unwrap_or("error");
            errors.push(format!("plugin `{name}`: {message}"));
        }
    }
    (!errors.is_empty()).then(|| cap(errors.join(" | ")))
}

fn cap(text: String) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}
