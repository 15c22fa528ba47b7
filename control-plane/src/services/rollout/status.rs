//! Reads: each agent's assignment, per-channel convergence, the event log, pins.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::assign::{AssignmentSource, assign};
use super::{RolloutError, RolloutResult, require_reader};
use crate::app::AppState;
use crate::auth::Principal;
use crate::store::revisions::RevisionRef;
use crate::store::rollouts::{ActiveRollout, Pin, RolloutEvent};

/// The channel an agent follows when nothing else says.
pub const DEFAULT_CHANNEL: &str = "prod";

/// An agent not seen for this long counts as stale.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(120);

/// What one caller should run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assigned {
    pub persona: String,
    pub channel: String,
    pub agent: Option<String>,
    pub revision: RevisionRef,
    /// The channel's own revision (what agents outside a rollout run).
    pub channel_revision: String,
    pub source: AssignmentSource,
}

/// The assignment of `agent_id` (if given) on `channel` (else the agent's registered channel,
/// else `prod`). `Ok(None)`: the persona exists but the channel has no revision (or does not
/// exist). Uses the `BundleWatch` head cache, which NOTIFYs keep honest.
pub async fn assigned(
    state: &AppState,
    persona: &str,
    channel: Option<&str>,
    agent_id: Option<&str>,
) -> RolloutResult<Option<Assigned>> {
    let channel = match (channel, agent_id) {
        (Some(channel), _) => channel.to_owned(),
        (None, Some(agent_id)) => state
            .store
            .agent_channel(agent_id)
            .await?
            .unwrap_or_else(|| DEFAULT_CHANNEL.to_owned()),
        (None, None) => DEFAULT_CHANNEL.to_owned(),
    };
    let Some(head) = state.bundles.head(&state.store, persona, &channel).await? else {
        // Unknown persona → its own 404.
        state.store.persona(persona).await?;
        return Ok(None);
    };
    let (revision, source) = assign(&head, agent_id);
    Ok(Some(Assigned {
        persona: persona.to_owned(),
        channel,
        agent: agent_id.map(str::to_owned),
        revision,
        channel_revision: head.revision,
        source,
    }))
}

/// How far a channel's agents are on their targets.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Convergence {
    /// Agents registered on this channel (an agent without a channel label follows `prod`).
    pub total: u64,
    /// Agents whose reported active revision is their own assignment.
    pub on_target: u64,
    /// Agents assigned the rollout candidate (in the bucket, not pinned).
    pub assigned_candidate: u64,
    /// Agents pinned to a revision.
    pub pinned: u64,
    /// Agents not seen within the stale threshold.
    pub stale: u64,
    /// Agents whose last status reported an error.
    pub erroring: u64,
    /// `on_target / total`, in percent (100 when there are no agents).
    pub converged_percent: f64,
}

/// One channel as the console and `GET /channels` show it.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelStatus {
    pub name: String,
    pub revision: Option<String>,
    pub sequence: Option<i64>,
    pub frozen: bool,
    pub frozen_by: Option<String>,
    pub frozen_at: Option<DateTime<Utc>>,
    pub frozen_reason: String,
    pub updated_at: DateTime<Utc>,
    pub rollout: Option<ActiveRollout>,
    pub agents: Convergence,
}

/// Every channel of `persona` with its rollout and convergence.
pub async fn channels_status(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    stale_after: Duration,
) -> RolloutResult<Vec<ChannelStatus>> {
    require_reader(actor)?;
    let persona_row = state.store.persona(persona).await?;
    let records = state.store.channel_records(persona_row.id).await?;
    let mut rollouts: HashMap<String, ActiveRollout> = state
        .store
        .active_rollouts(persona_row.id)
        .await?
        .into_iter()
        .collect();
    let agents = state.store.agent_briefs(persona_row.id).await?;
    let stale_before = Utc::now()
        - chrono::Duration::from_std(stale_after)
            .map_err(|e| RolloutError::Invalid(format!("stale threshold: {e}")))?;
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        // Uncached on purpose: the console must show the committed truth.
        let head = state.store.channel_head(persona, &record.name).await?;
        let mut counts = Convergence::default();
        for agent in agents
            .iter()
            .filter(|a| a.channel.as_deref().unwrap_or(DEFAULT_CHANNEL) == record.name)
        {
            counts.total += 1;
            if agent.last_seen_at < stale_before {
                counts.stale += 1;
            }
            if agent.last_error.is_some() {
                counts.erroring += 1;
            }
            if let Some(head) = &head {
                let (target, source) = assign(head, Some(&agent.id));
                match source {
                    AssignmentSource::Rollout { .. } => counts.assigned_candidate += 1,
                    AssignmentSource::Pin => counts.pinned += 1,
                    AssignmentSource::Channel { .. } => {}
                }
                if agent.active_revision.as_deref() == Some(target.revision.as_str()) {
                    counts.on_target += 1;
                }
            }
        }
        counts.converged_percent = if counts.total == 0 {
            100.0
        } else {
            (counts.on_target as f64 * 1000.0 / counts.total as f64).round() / 10.0
        };
        out.push(ChannelStatus {
            rollout: rollouts.remove(&record.name),
            name: record.name,
            revision: record.revision,
            sequence: record.sequence,
            frozen: record.frozen,
            frozen_by: record.frozen_by,
            frozen_at: record.frozen_at,
            frozen_reason: record.frozen_reason,
            updated_at: record.updated_at,
            agents: counts,
        });
    }
    Ok(out)
}

/// A page of the event log.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventQuery {
    /// Only this channel's events.
    pub channel: Option<String>,
    /// Page size, 1..=500 (default 50).
    pub limit: Option<i64>,
    /// Events with an id below this (the previous page's `next_before`).
    pub before: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    pub events: Vec<RolloutEvent>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// The rollout event log of `persona`, newest first.
pub async fn events(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    query: &EventQuery,
) -> RolloutResult<EventPage> {
    require_reader(actor)?;
    state.store.persona(persona).await?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let events = state
        .store
        .rollout_events(persona, query.channel.as_deref(), limit, query.before)
        .await?;
    let next_before = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(EventPage {
        events,
        next_before,
    })
}

/// The pins of `persona`.
pub async fn pins(state: &AppState, actor: &Principal, persona: &str) -> RolloutResult<Vec<Pin>> {
    require_reader(actor)?;
    let persona = state.store.persona(persona).await?;
    Ok(state.store.pins(persona.id).await?)
}
