//! The rollout model (DESIGN decisions 4 and 5): channels point at revisions; a rollout gives a
//! channel's candidate revision to a percentage of its agents; pins override both. The HTTP API
//! (`http/api/rollouts.rs`, `http/api/channels.rs`) and the console call these functions; each
//! mutation checks the role (publisher or admin), refuses a frozen channel, and changes the
//! pointer, the rollout row, the OCI tag job, the event log and the long-poll NOTIFY in one
//! transaction — or nothing.
//!
//! Mutations (`actor` must be publisher/admin, else [`RolloutError::Forbidden`]):
//! - [`create_channel`]`(state, actor, persona, channel, from: Option<&Candidate>, reason)`
//! - [`start`]`(state, actor, persona, channel, &Candidate, percentage, reason)` — canary
//! - [`set_percentage`]`(state, actor, persona, channel, percentage, reason)`
//! - [`promote`]`(state, actor, persona, channel, reason)` — channel moves to the candidate
//! - [`abort`]`(state, actor, persona, channel, reason)` — everyone back to the channel revision
//! - [`rollback`]`(state, actor, persona, channel, to_revision, reason)` — re-issue old content
//!   as a new, higher revision; `reason` is required
//! - [`freeze`] / [`unfreeze`]`(state, actor, persona, channel, reason)`
//! - [`pin`]`(state, actor, persona, channel, agent_id, revision, reason)` /
//!   [`unpin`]`(state, actor, persona, channel, agent_id, reason)`
//!
//! Reads (`actor` must be auditor/publisher/admin):
//! - [`channels_status`]`(state, actor, persona, stale_after)` — per channel: revision, frozen,
//!   active rollout, agent counts (total, on target, on candidate, stale, erroring)
//! - [`events`]`(state, actor, persona, &EventQuery)` — the event log, newest first, keyset paged
//! - [`pins`]`(state, actor, persona)`
//! - [`assigned`]`(state, persona, channel, agent_id)` — what one agent should run (no role
//!   check: the bundle API has already authorised the caller)
//!
//! Bucketing: [`bucket`] — first 8 bytes of SHA-256(`"<rollout_id>:<agent_id>"`), big-endian,
//! mod 100; in the canary iff `bucket < percentage`.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::auth::Principal;
use crate::store::StoreError;

mod assign;
mod ops;
mod rollback;
mod status;

pub use assign::{AssignmentSource, assign, bucket};
pub use ops::{
    abort, create_channel, freeze, pin, promote, set_percentage, start, unfreeze, unpin,
};
pub use rollback::{RollbackOutcome, rollback};
pub use status::{
    Assigned, ChannelStatus, Convergence, DEFAULT_CHANNEL, DEFAULT_STALE_AFTER, EventPage,
    EventQuery, assigned, channels_status, events, pins,
};

/// Longest reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 1000;

/// What a rollout (or a new channel) should run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Candidate {
    /// A revision of the persona: its sequence number (`7`) or revision string (`hr-bot-7`).
    Revision(String),
    /// Whatever another channel of the persona runs now (`staging` → `prod` promotion).
    Channel(String),
}

/// The result of every mutation: what changed, as written to the event log.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelChange {
    pub persona: String,
    pub channel: String,
    /// Event kind: `channel_created`, `rollout_started`, `rollout_percentage`,
    /// `rollout_promoted`, `rollout_aborted`, `rollback`, `channel_frozen`, `channel_unfrozen`,
    /// `agent_pinned`, `agent_unpinned`.
    pub kind: &'static str,
    pub from_revision: Option<String>,
    pub to_revision: Option<String>,
    pub percentage: Option<i32>,
    pub rollout_id: Option<i64>,
    pub event_id: i64,
    pub at: DateTime<Utc>,
}

/// Why a rollout operation was refused; [`RolloutError::status`] and [`RolloutError::code`] give
/// the HTTP mapping (the edge turns `Store` errors into 404/409/422/500 as usual).
#[derive(Debug, Error)]
pub enum RolloutError {
    #[error("role `{role}` cannot change rollouts; a publisher or admin token is required")]
    Forbidden { role: String },
    #[error("role `{role}` cannot read rollouts; an auditor, publisher or admin token is required")]
    ForbiddenRead { role: String },
    #[error(
        "revision `{reference}` of persona `{persona}` not found; use a sequence number or revision string from `regent rollout status {persona}`"
    )]
    UnknownRevision { persona: String, reference: String },
    #[error(
        "channel `{channel}` of persona `{persona}` is frozen{by}; nothing was changed — unfreeze it first (`regent rollout unfreeze {persona} {channel}`)"
    )]
    Frozen {
        persona: String,
        channel: String,
        /// ` (by <actor> at <time>: <reason>)`, empty when unknown.
        by: String,
    },
    #[error(
        "channel `{channel}` of persona `{persona}` has no active rollout; start one with `regent rollout start {persona} {channel} --revision <rev> --percentage <n>`"
    )]
    NoActiveRollout { persona: String, channel: String },
    #[error(
        "channel `{channel}` of persona `{persona}` already has an active rollout (id {rollout_id}, `{candidate}` at {percentage}%); promote or abort it first"
    )]
    RolloutActive {
        persona: String,
        channel: String,
        rollout_id: i64,
        candidate: String,
        percentage: i32,
    },
    #[error(
        "channel `{channel}` of persona `{persona}` has no revision yet; push one first (`regent push <dir> --persona {persona} --channel {channel}`)"
    )]
    EmptyChannel { persona: String, channel: String },
    #[error("channel `{channel}` of persona `{persona}` already runs `{revision}`")]
    AlreadyOnRevision {
        persona: String,
        channel: String,
        revision: String,
    },
    #[error("percentage `{0}` is outside 1..=100")]
    InvalidPercentage(i64),
    #[error("a reason is required for {operation}; say why (it goes into the event log)")]
    ReasonRequired { operation: &'static str },
    #[error("{0}")]
    Invalid(String),
    #[error("channel `{channel}` of persona `{persona}` is already {state}")]
    FrozenState {
        persona: String,
        channel: String,
        state: &'static str,
    },
    #[error("agent `{agent}` of persona `{persona}` is not pinned")]
    NotPinned { persona: String, agent: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl RolloutError {
    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        match self {
            RolloutError::Forbidden { .. } | RolloutError::ForbiddenRead { .. } => "forbidden",
            RolloutError::UnknownRevision { .. } => "unknown_revision",
            RolloutError::Frozen { .. } => "channel_frozen",
            RolloutError::NoActiveRollout { .. } => "no_active_rollout",
            RolloutError::RolloutActive { .. } => "rollout_active",
            RolloutError::EmptyChannel { .. } => "empty_channel",
            RolloutError::AlreadyOnRevision { .. } => "already_on_revision",
            RolloutError::InvalidPercentage(_) => "invalid_percentage",
            RolloutError::ReasonRequired { .. } => "reason_required",
            RolloutError::Invalid(_) => "invalid",
            RolloutError::FrozenState { .. } => "frozen_state",
            RolloutError::NotPinned { .. } => "not_pinned",
            RolloutError::Store(_) | RolloutError::Internal(_) => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            RolloutError::Forbidden { .. } | RolloutError::ForbiddenRead { .. } => {
                StatusCode::FORBIDDEN
            }
            RolloutError::UnknownRevision { .. } | RolloutError::NotPinned { .. } => {
                StatusCode::NOT_FOUND
            }
            RolloutError::Frozen { .. }
            | RolloutError::NoActiveRollout { .. }
            | RolloutError::RolloutActive { .. }
            | RolloutError::EmptyChannel { .. }
            | RolloutError::AlreadyOnRevision { .. }
            | RolloutError::FrozenState { .. } => StatusCode::CONFLICT,
            RolloutError::InvalidPercentage(_)
            | RolloutError::ReasonRequired { .. }
            | RolloutError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            RolloutError::Store(_) | RolloutError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for RolloutError {
    fn from(e: sqlx::Error) -> Self {
        RolloutError::Store(e.into())
    }
}

pub type RolloutResult<T> = Result<T, RolloutError>;

fn require_publisher(actor: &Principal) -> RolloutResult<()> {
    if actor.can_publish() {
        Ok(())
    } else {
        Err(RolloutError::Forbidden {
            role: actor.role.to_string(),
        })
    }
}

fn require_reader(actor: &Principal) -> RolloutResult<()> {
    if actor.can_read_all() {
        Ok(())
    } else {
        Err(RolloutError::ForbiddenRead {
            role: actor.role.to_string(),
        })
    }
}

fn check_percentage(percentage: i64) -> RolloutResult<i32> {
    if (1..=100).contains(&percentage) {
        Ok(percentage as i32)
    } else {
        Err(RolloutError::InvalidPercentage(percentage))
    }
}

fn check_reason(reason: &str) -> RolloutResult<&str> {
    let reason = reason.trim();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(RolloutError::Invalid(format!(
            "the reason is over {MAX_REASON_CHARS} characters; shorten it"
        )));
    }
    if reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(RolloutError::Invalid(
            "the reason contains control characters".into(),
        ));
    }
    Ok(reason)
}

/// Channel names: as the `channels_name_check` constraint.
fn check_channel_name(name: &str) -> RolloutResult<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 31
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(RolloutError::Invalid(format!(
            "`{name}` is not a channel name: 1–31 characters of `a-z`, `0-9` and `-`, starting with a letter"
        )))
    }
}

/// Agent ids: as the status API accepts them (`labels.id`).
fn check_agent_id(agent: &str) -> RolloutResult<()> {
    if agent.is_empty() || agent.chars().count() > 256 || agent.chars().any(char::is_control) {
        return Err(RolloutError::Invalid(format!(
            "`{}` is not an agent id: 1–256 characters, no control characters",
            agent.escape_debug()
        )));
    }
    Ok(())
}
