//! Channels of a persona: list with rollout and convergence, show one, create one.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::rollouts::{body, candidate};
use crate::app::AppState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::services::rollout::{self, ChannelChange, ChannelStatus, DEFAULT_STALE_AFTER};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/personas/{persona}/channels",
            get(list).post(create),
        )
        .route("/api/v1/personas/{persona}/channels/{channel}", get(show))
}

#[derive(Debug, Deserialize)]
struct StatusQuery {
    /// Seconds without a status report after which an agent counts as stale (default 120).
    stale_after: Option<u64>,
}

fn stale_after(query: &StatusQuery) -> Duration {
    query
        .stale_after
        .map_or(DEFAULT_STALE_AFTER, Duration::from_secs)
}

async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(persona): Path<String>,
    Query(query): Query<StatusQuery>,
) -> ApiResult<Json<Value>> {
    let principal = auth.require_reader()?;
    let channels =
        rollout::channels_status(&state, principal, &persona, stale_after(&query)).await?;
    Ok(Json(json!({ "channels": channels })))
}

async fn show(
    State(state): State<AppState>,
    auth: Auth,
    Path((persona, channel)): Path<(String, String)>,
    Query(query): Query<StatusQuery>,
) -> ApiResult<Json<ChannelStatus>> {
    let principal = auth.require_reader()?;
    rollout::channels_status(&state, principal, &persona, stale_after(&query))
        .await?
        .into_iter()
        .find(|c| c.name == channel)
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "channel `{channel}` of persona `{persona}` not found; create it with `regent channels create {persona} {channel}`"
            ))
        })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewChannel {
    name: Option<String>,
    /// Start at this revision (sequence or revision string)…
    revision: Option<Value>,
    /// …or at whatever this channel runs.
    from_channel: Option<String>,
    #[serde(default)]
    reason: String,
}

async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path(persona): Path<String>,
    bytes: Bytes,
) -> ApiResult<(StatusCode, Json<ChannelChange>)> {
    let principal = auth.require_publisher()?;
    let req: NewChannel = body(&bytes)?;
    let name = req.name.ok_or_else(|| {
        ApiError::unprocessable(
            "name_required",
            "`name` (the new channel's name) is required",
        )
    })?;
    let from = candidate(req.revision.as_ref(), req.from_channel.as_deref())?;
    let change = rollout::create_channel(
        &state,
        principal,
        &persona,
        &name,
        from.as_ref(),
        &req.reason,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(change)))
}
