//! OPA's management APIs, so a stock OPA can use Regent as its bundle, status and decision-log
//! service: `GET /bundles/{persona}`, `POST /status`, `POST /logs` (see `opa-wire.md` §3, 5, 6).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use futures::StreamExt as _;

use super::auth::Auth;
use super::error::{ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::{Principal, Role};

mod bundles;
mod logs;
mod status;

pub use bundles::{Assigned, assigned_revision};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/bundles/{persona}", get(bundles::get_bundle))
        .route("/status", post(status::post_status))
        .route("/status/{partition}", post(status::post_status_partition))
        .route("/logs", post(logs::post_logs))
        .route("/logs/{partition}", post(logs::post_logs_partition))
}

/// Status and decision logs come from agents (for their persona) or an admin; publishers and
/// auditors have no business writing them.
fn require_reporter(auth: &Auth) -> ApiResult<&Principal> {
    match auth.0.role {
        Role::Agent | Role::Admin => Ok(&auth.0),
        role => Err(ApiError::forbidden(format!(
            "role `{role}` cannot post status or decision logs; use an agent token for the persona"
        ))),
    }
}

/// Reads the whole body, refusing (413) as soon as it passes `limit` bytes, whether or not a
/// `Content-Length` announced it.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    setting: &str,
) -> ApiResult<Bytes> {
    let too_large = || {
        ApiError::too_large(format!(
            "the body is larger than {limit} bytes (`{setting}`); send smaller batches"
        ))
        .with("limit", limit)
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut buffer = Vec::with_capacity(announced.map_or(8192, |n| n as usize));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "body_read_failed",
                format!("cannot read the request body: {e}"),
            )
        })?;
        if buffer.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buffer))
}
