//! Revisions: push, list, show, download, diff (channels: `channels.rs`).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use regent_bundle::{Limits, ReadError, ValidateError};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::services::diff;
use crate::services::push::{self, PushError, PushRequest};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/personas/{persona}/revisions",
            get(list).post(create),
        )
        .route("/api/v1/personas/{persona}/revisions/{revision}", get(show))
        .route(
            "/api/v1/personas/{persona}/revisions/{revision}/bundle",
            get(download),
        )
        .route("/api/v1/personas/{persona}/diff", get(diff_revisions))
}

/// Source metadata headers a CI push may send (`Regent-Source-Commit: 3f2a…`).
const SOURCE_HEADERS: [(&str, &str); 5] = [
    ("regent-source-commit", "commit"),
    ("regent-source-author", "author"),
    ("regent-source-repository", "repository"),
    ("regent-source-branch", "branch"),
    ("regent-source-message", "message"),
];

fn source_metadata(headers: &HeaderMap) -> ApiResult<Value> {
    let mut source = Map::new();
    for (header_name, key) in SOURCE_HEADERS {
        if let Some(value) = headers.get(header_name) {
            let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
            if text.len() > 1024 {
                return Err(ApiError::bad_request(
                    "invalid_header",
                    format!("header `{header_name}` is over 1024 bytes"),
                ));
            }
            source.insert(key.to_owned(), Value::String(text));
        }
    }
    Ok(Value::Object(source))
}

#[derive(Debug, Deserialize)]
struct PushQuery {
    channel: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path(persona): Path<String>,
    Query(query): Query<PushQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let principal = auth.require_publisher()?;
    let limit = state.config.limits.max_bundle_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::too_large(format!(
            "the upload is over the limit of {limit} bytes (limits.max_bundle_bytes); shrink the bundle"
        ))
        .with("limit", limit)
    })?;
    let source = source_metadata(&headers)?;
    let actor = principal.actor();
    let outcome = push::push(
        &state,
        PushRequest {
            persona: &persona,
            archive: &bytes,
            source,
            actor: &actor,
            channel: query.channel.as_deref(),
        },
    )
    .await
    .map_err(|e| {
        state.metrics.push_finished("rejected");
        push_error(e)
    })?;
    state.metrics.push_finished(if outcome.created {
        "created"
    } else {
        "unchanged"
    });
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(outcome)).into_response())
}

/// Maps push failures to precise problems: what, where (file, line, test), what to do.
fn push_error(e: PushError) -> ApiError {
    match e {
        PushError::Archive(ReadError::ArchiveTooLarge { size, limit }) => ApiError::too_large(
            format!("the bundle is {size} bytes, over the limit of {limit} bytes"),
        ),
        PushError::Archive(e) => ApiError::unprocessable("invalid_bundle", e.to_string()),
        PushError::Source(e) => ApiError::unprocessable("invalid_source", e.to_string()),
        PushError::PersonaMismatch { .. } => {
            ApiError::unprocessable("persona_mismatch", e.to_string())
        }
        PushError::Invalid(ValidateError::Compile {
            ref path,
            line,
            ref message,
            ..
        }) => ApiError::unprocessable("compile_error", e.to_string())
            .with("file", path.clone())
            .with("line", line)
            .with("message", message.clone()),
        PushError::Invalid(ValidateError::TestsFailed {
            failed,
            total,
            ref names,
        }) => ApiError::unprocessable("tests_failed", e.to_string())
            .with("failed", failed)
            .with("total", total)
            .with("failed_tests", names.clone()),
        PushError::Invalid(e) => ApiError::unprocessable("invalid_policy", e.to_string()),
        PushError::Store(e) => e.into(),
        PushError::Sign(e) | PushError::Internal(e) => ApiError::internal(&e),
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<i64>,
    before: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(persona): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    auth.require_reader()?;
    state.store.persona(&persona).await?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let revisions = state.store.revisions(&persona, limit, query.before).await?;
    let next = (revisions.len() as i64 == limit)
        .then(|| revisions.last().map(|r| r.sequence))
        .flatten();
    Ok(Json(json!({ "revisions": revisions, "next_before": next })))
}

async fn show(
    State(state): State<AppState>,
    auth: Auth,
    Path((persona, revision)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    auth.require_reader()?;
    let detail = state.store.revision(&persona, &revision).await?;
    let mut value = serde_json::to_value(&detail).map_err(|e| ApiError::internal(&e))?;
    let publications = state
        .store
        .publications_for_revision(detail.summary.id)
        .await?;
    value["publications"] =
        serde_json::to_value(publications).map_err(|e| ApiError::internal(&e))?;
    Ok(Json(value))
}

async fn download(
    State(state): State<AppState>,
    auth: Auth,
    Path((persona, revision)): Path<(String, String)>,
) -> ApiResult<Response> {
    auth.require_persona(&persona)?;
    let bundle = state.store.revision_bundle(&persona, &revision).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (header::ETAG, format!("\"{}\"", bundle.bundle_digest)),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.tar.gz\"", bundle.revision),
            ),
        ],
        bundle.bundle,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct DiffQuery {
    from: String,
    to: String,
}

async fn diff_revisions(
    State(state): State<AppState>,
    auth: Auth,
    Path(persona): Path<String>,
    Query(query): Query<DiffQuery>,
) -> ApiResult<Json<diff::BundleDiff>> {
    auth.require_reader()?;
    let from = state.store.revision_bundle(&persona, &query.from).await?;
    let to = state.store.revision_bundle(&persona, &query.to).await?;
    let read = |bytes: &[u8]| {
        regent_bundle::read_bundle(bytes, &Limits::DEFAULT).map_err(|e| ApiError::internal(&e))
    };
    let (a, b) = (read(&from.bundle)?, read(&to.bundle)?);
    Ok(Json(diff::diff(&from.revision, &a, &to.revision, &b)))
}
