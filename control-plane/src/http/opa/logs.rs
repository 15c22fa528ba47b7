//! `POST /logs[/{partition}]`: a gzip JSON array of OPA decision events (plus Regent's fields),
//! stored idempotently before the answer (see `services::ingest`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{read_body, require_reporter};
use crate::app::AppState;
use crate::auth::Role;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::services::ingest::{Encoding, IngestError, RETRY_AFTER_SECS};

pub(super) async fn post_logs_partition(
    state: State<AppState>,
    auth: Auth,
    Path(_partition): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    post_logs(state, auth, headers, body).await
}

pub(super) async fn post_logs(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let principal = require_reporter(&auth)?;
    let declared = content_encoding(&headers)?;
    let limit = state.config.limits.max_log_body_bytes;
    let body = read_body(body, &headers, limit, "limits.max_log_body_bytes").await?;
    // Some clients gzip without saying so; the gzip magic is unambiguous for a JSON body.
    let encoding = if declared == Encoding::Identity && body.starts_with(&[0x1f, 0x8b]) {
        Encoding::Gzip
    } else {
        declared
    };
    let agent_persona = (principal.role == Role::Agent)
        .then(|| principal.persona.clone())
        .flatten();
    let report = match state
        .ingest
        .ingest(&state.store, body, encoding, agent_persona)
        .await
    {
        Ok(report) => report,
        Err(e) => {
            let reason = match e {
                IngestError::Busy => "overloaded",
                IngestError::InflatedTooLarge { .. } => "too_large",
                _ => "invalid",
            };
            state.metrics.logs_refused(1, reason);
            return Err(e.into());
        }
    };
    state.metrics.logs_ingested(report.stored);
    state.metrics.logs_duplicate(report.duplicates);
    Ok((StatusCode::OK, Json(report)).into_response())
}

fn content_encoding(headers: &HeaderMap) -> ApiResult<Encoding> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    let value = value
        .to_str()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match value.as_str() {
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        "" | "identity" => Ok(Encoding::Identity),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("`Content-Encoding: {other}` is not supported; send gzip or identity"),
        )),
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let detail = e.to_string();
        match e {
            IngestError::Busy => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "overloaded", detail)
                .with_header(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS)),
            IngestError::InflatedTooLarge { limit } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "inflated_too_large", detail)
                    .with("limit", limit)
            }
            IngestError::BadGzip(_) => ApiError::bad_request("invalid_gzip", detail),
            IngestError::Json { line, column, .. } => ApiError::bad_request("invalid_json", detail)
                .with("line", line)
                .with("column", column),
            IngestError::InvalidEvent { path, .. } => {
                ApiError::unprocessable("invalid_event", detail).with("field", path)
            }
            IngestError::WrongPersona { index, .. } => {
                ApiError::forbidden(detail).with("field", format!("events[{index}].persona"))
            }
            IngestError::Store(e) => ApiError::from(e),
            IngestError::Worker(_) => ApiError::internal(&detail),
        }
    }
}
