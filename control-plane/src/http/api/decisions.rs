//! Decision logs for auditors: filtered keyset pages, one decision, and streamed exports.
//! Readers only (admin, publisher, auditor); an agent token gets 403. The query language is
//! [`crate::services::audit`].

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::services::audit::export::{self, ExportFormat};
use crate::services::audit::{self, AuditQuery, AuditQueryError};
use crate::store::audit::{DecisionRecord, DecisionSummary};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/decisions", get(list))
        .route("/api/v1/decisions/export", get(export_set))
        .route("/api/v1/decisions/{decision_id}", get(show))
}

impl From<AuditQueryError> for ApiError {
    fn from(e: AuditQueryError) -> Self {
        let status = if e.is_unprocessable() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, e.code(), e.to_string()).with("parameter", e.parameter())
    }
}

fn summary_json(row: &DecisionSummary) -> Value {
    json!({
        "decision_id": row.decision_id,
        "timestamp": row.ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "persona": row.persona,
        "agent_id": row.agent_id,
        "user_id": row.user_id,
        "tool": row.tool,
        "allow": row.allow,
        "revision": row.revision,
        "revision_sequence": row.sequence,
        "path": row.path,
        "reasons": row.reasons,
    })
}

async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    auth.require_reader()?;
    let (query, _) = AuditQuery::parse(&pairs, &[])?;
    let page = audit::page(&state.store, &query).await?;
    Ok(Json(json!({
        "decisions": page.rows.iter().map(summary_json).collect::<Vec<_>>(),
        "next_cursor": page.next,
        "previous_cursor": page.previous,
        "limit": query.limit,
    })))
}

/// The decision's verdict, reasons and obligations, from the event's `result` when it has
/// them (an agent's event carries its own `reasons`).
pub fn decision_json(record: &DecisionRecord) -> Value {
    let event = &record.event;
    let result = event.get("result").cloned().unwrap_or(Value::Null);
    let reasons = event
        .get("reasons")
        .or_else(|| result.get("reasons"))
        .cloned()
        .unwrap_or_else(|| json!([]));
    let obligations = result
        .get("obligations")
        .cloned()
        .unwrap_or_else(|| json!([]));
    let mut body = summary_json(&record.summary);
    if let Value::Object(map) = &mut body {
        map.insert(
            "received_at".into(),
            json!(
                record
                    .received_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            ),
        );
        map.insert("reasons".into(), reasons);
        map.insert("obligations".into(), obligations);
        map.insert(
            "input".into(),
            event.get("input").cloned().unwrap_or(Value::Null),
        );
        map.insert("result".into(), result);
        map.insert("event".into(), event.clone());
    }
    body
}

/// Parses a decision id from a path, with the error both API and console use.
pub fn parse_decision_id(text: &str) -> ApiResult<Uuid> {
    Uuid::try_parse(text).map_err(|_| {
        ApiError::bad_request(
            "invalid_decision_id",
            format!(
                "`{}` is not a decision id; decision ids are UUIDs",
                text.chars().take(80).collect::<String>()
            ),
        )
    })
}

async fn show(
    State(state): State<AppState>,
    auth: Auth,
    Path(decision_id): Path<String>,
) -> ApiResult<Json<Value>> {
    auth.require_reader()?;
    let id = parse_decision_id(&decision_id)?;
    let record = state
        .store
        .decision(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("decision `{id}` not found")))?;
    Ok(Json(decision_json(&record)))
}

/// Builds the streamed export response for `pairs` (the filters plus `format`).
pub fn export_response(state: &AppState, pairs: &[(String, String)]) -> ApiResult<Response> {
    let (query, extra) = AuditQuery::parse(pairs, &["format"])?;
    let format_value = extra
        .iter()
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let format = ExportFormat::parse(format_value).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_format",
            format!(
                "`format` = `{}` must be `csv` or `jsonl`",
                format_value.chars().take(40).collect::<String>()
            ),
        )
        .with("parameter", "format")
    })?;
    if query.cursor.is_some() {
        return Err(ApiError::bad_request(
            "invalid_cursor",
            "an export covers the whole filtered set; drop `cursor`",
        )
        .with("parameter", "cursor"));
    }
    let filename = format!(
        "regent-decisions-{}.{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        format.extension()
    );
    let body = Body::from_stream(export::stream(state.store.clone(), query.filter, format));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

async fn export_set(
    State(state): State<AppState>,
    auth: Auth,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    auth.require_reader()?;
    export_response(&state, &pairs)
}
