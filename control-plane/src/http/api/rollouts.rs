//! Rollouts on a channel: start (canary), percentage, promote, abort, rollback, freeze,
//! unfreeze, pins; the event log; one agent's assignment. Publishers and admins change, auditors
//! read (403 on changes), agent tokens read only their own assignment.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::services::rollout::{self, Candidate, ChannelChange, EventPage, RolloutError};

impl From<RolloutError> for ApiError {
    fn from(e: RolloutError) -> Self {
        match e {
            RolloutError::Store(e) => e.into(),
            RolloutError::Internal(e) => ApiError::internal(&e),
            e => ApiError::new(e.status(), e.code(), e.to_string()),
        }
    }
}

pub fn routes() -> Router<AppState> {
    let base = "/api/v1/personas/{persona}/channels/{channel}";
    Router::new()
        .route(&format!("{base}/rollout"), post(start))
        .route(&format!("{base}/rollout/percentage"), post(set_percentage))
        .route(&format!("{base}/rollout/promote"), post(promote))
        .route(&format!("{base}/rollout/abort"), post(abort))
        .route(&format!("{base}/rollback"), post(rollback))
        .route(&format!("{base}/freeze"), post(freeze))
        .route(&format!("{base}/unfreeze"), post(unfreeze))
        .route(&format!("{base}/pins/{{agent}}"), put(pin).delete(unpin))
        .route("/api/v1/personas/{persona}/pins", get(list_pins))
        .route("/api/v1/personas/{persona}/rollout-events", get(events))
        .route(
            "/api/v1/personas/{persona}/assignments/{agent}",
            get(assignment),
        )
}

/// Parses an optional JSON body: empty means all defaults. Unknown fields are refused.
pub(super) fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("the request body is not valid: {e}"),
        )
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    /// Candidate revision: sequence number or revision string.
    revision: Option<Value>,
    /// Or: whatever this channel runs (e.g. `staging` for a staging → prod promotion).
    from_channel: Option<String>,
    percentage: Option<i64>,
    #[serde(default)]
    reason: String,
}

/// A revision reference may be sent as a number (`7`) or a string (`"7"`, `"hr-bot-7"`).
fn reference(value: &Value) -> ApiResult<String> {
    match value {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => Err(ApiError::unprocessable(
            "invalid_revision",
            "`revision` must be a sequence number or a revision string",
        )),
    }
}

/// Exactly one of `revision` / `from_channel`.
pub(super) fn candidate(
    revision: Option<&Value>,
    from_channel: Option<&str>,
) -> ApiResult<Option<Candidate>> {
    match (revision, from_channel) {
        (Some(_), Some(_)) => Err(ApiError::unprocessable(
            "ambiguous_candidate",
            "give either `revision` or `from_channel`, not both",
        )),
        (Some(r), None) => Ok(Some(Candidate::Revision(reference(r)?))),
        (None, Some(c)) => Ok(Some(Candidate::Channel(c.to_owned()))),
        (None, None) => Ok(None),
    }
}

fn created(change: ChannelChange) -> (StatusCode, Json<Value>) {
    (
        StatusCode::CREATED,
        Json(serde_json::to_value(change).unwrap_or_default()),
    )
}

async fn start(
    State(state): State<AppState>,
    auth: Auth,
    Path((persona, channel)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let principal = auth.require_publisher()?;
    let req: StartBody = body(&bytes)?;
    let candidate =
        candidate(req.revision.as_ref(), req.from_channel.as_deref())?.ok_or_else(|| {
            ApiError::unprocessable(
                "candidate_required",
                "name the candidate: `revision` (sequence or revision string) or `from_channel`",
            )
        })?;
    let percentage = req.percentage.ok_or_else(|| {
        ApiError::unprocessable("invalid_percentage", "`percentage` (1..=100) is required")
    })?;
    let change = rollout::start(
        &state,
        principal,
        &persona,
        &channel,
        &candidate,
        percentage,
        &req.reason,
    )
    .await?;
    Ok(created(change))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PercentageBody {
    percentage: Option<i64>,
    #[serde(default)]
    reason: String,
}

async fn set_percentage(
    State(state): State<AppState>,
    auth: Auth,
    Path((persona, channel)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<Json<ChannelChange>> {
    let principal = auth.require_publisher()?;
    let req: PercentageBody = body(&bytes)?;
    let percentage = req.percentage.ok_or_else(|| {
        ApiError::unprocessable("invalid_percentage", "`percentage` (1..=100) is required")
    })?;
    Ok(Json(
        rollout::set_percentage(
            &state,
            principal,
            &persona,
            &channel,
            percentage,
            &req.reason,
        )
        .await?,
    ))
}

async fn promote(
    State(state): State<AppState>,
    auth: Auth,
    Path((persona, channel)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<Json<ChannelChange>> {
    let principal = auth.require_publisher()?;
    let req: Reason = body(&bytes)?;
    Ok(Json(
        rollout::promote(&state, principal, &persona, &channel, &req.reason).await?,
    ))
}

async fn abort(
    State(state): State<AppState>,
    auth: Auth,
    Path((persona, channel)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<Json<ChannelChange>> {
    let principal = auth.require_publisher()?;
    let req: Reason = body(&bytes)?;
    Ok(Json(
        rollout::abort(&state, principal, &persona, &channel, &req.reason).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    revision: Option<Value>,
    #[serde(default)]
    reason: String,
}

async fn rollback(
    State(state): State<AppState>,
    auth: Auth,
    Path((persona, channel)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let principal = auth.require_publisher()?;
    let req: RollbackBody = body(&bytes)?;
    let to = reference(req.revision.as_ref().ok_or_else(|| {
        ApiError::unprocessable(
            "revision_required",
            "name the revision to roll back to: `revision` (sequence or revision string)",
        )
    })?)?;
    let outcome =
        rollout::rollback(&state, principal, &persona, &channel, &to, &req.reason).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(outcome).map_err(|e| ApiError::internal(&e))?),
    ))
}

async fn freeze(
    State(state): State<AppState>,
    auth: Auth,
    Path((persona, channel)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<Json<ChannelChange>> {
    let principal = auth.require_publisher()?;
    let req: Reason = body(&bytes)?;
    Ok(Json(
        rollout::freeze(&state, principal, &persona, &channel, &req.reason).await?,
    ))
}

async fn unfreeze(
    State(state): State<AppState>,
    auth: Auth,
    Path((persona, channel)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<Json<ChannelChange>> {
    let principal = auth.require_publisher()?;
    let req: Reason = body(&bytes)?;
    Ok(Json(
        rollout::unfreeze(&state, principal, &persona, &channel, &req.reason).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinBody {
    revision: Option<Value>,
    #[serde(default)]
    reason: String,
}

async fn pin(
    State(state): State<AppState>,
    auth: Auth,
    Path((persona, channel, agent)): Path<(String, String, String)>,
    bytes: Bytes,
) -> ApiResult<Json<ChannelChange>> {
    let principal = auth.require_publisher()?;
    let req: PinBody = body(&bytes)?;
    let revision = reference(req.revision.as_ref().ok_or_else(|| {
        ApiError::unprocessable(
            "revision_required",
            "name the revision to pin: `revision` (sequence or revision string)",
        )
    })?)?;
    Ok(Json(
        rollout::pin(
            &state,
            principal,
            &persona,
            &channel,
            &agent,
            &revision,
            &req.reason,
        )
        .await?,
    ))
}

async fn unpin(
    State(state): State<AppState>,
    auth: Auth,
    Path((persona, channel, agent)): Path<(String, String, String)>,
    bytes: Bytes,
) -> ApiResult<Json<ChannelChange>> {
    let principal = auth.require_publisher()?;
    let req: Reason = body(&bytes)?;
    Ok(Json(
        rollout::unpin(&state, principal, &persona, &channel, &agent, &req.reason).await?,
    ))
}

async fn list_pins(
    State(state): State<AppState>,
    auth: Auth,
    Path(persona): Path<String>,
) -> ApiResult<Json<Value>> {
    let principal = auth.require_reader()?;
    let pins = rollout::pins(&state, principal, &persona).await?;
    Ok(Json(json!({ "pins": pins })))
}

async fn events(
    State(state): State<AppState>,
    auth: Auth,
    Path(persona): Path<String>,
    Query(query): Query<rollout::EventQuery>,
) -> ApiResult<Json<EventPage>> {
    let principal = auth.require_reader()?;
    Ok(Json(
        rollout::events(&state, principal, &persona, &query).await?,
    ))
}

#[derive(Debug, Deserialize)]
struct AssignmentQuery {
    channel: Option<String>,
}

/// One agent's assignment, shaped like `BundleAssignmentV1` plus why (`source`).
async fn assignment(
    State(state): State<AppState>,
    auth: Auth,
    Path((persona, agent)): Path<(String, String)>,
    Query(query): Query<AssignmentQuery>,
) -> ApiResult<Json<Value>> {
    let principal = auth.require_persona(&persona)?;
    let assigned = crate::http::opa::assigned_revision(
        &state,
        principal,
        &persona,
        query.channel.as_deref(),
        Some(&agent),
    )
    .await?;
    let base = state.config.public_url();
    let base = base.trim_end_matches('/');
    Ok(Json(json!({
        "persona": assigned.persona,
        "channel": assigned.channel,
        "agent": agent,
        "revision": assigned.revision.revision,
        "sequence": assigned.revision.sequence,
        "digest": assigned.revision.bundle_digest,
        "download_url": format!(
            "{base}/api/v1/personas/{persona}/revisions/{}/bundle",
            assigned.revision.sequence
        ),
        "channel_revision": assigned.channel_revision,
        "source": assigned.source,
    })))
}
