//! Channel and rollout mutations. Each runs in one transaction that locks the channel row
//! first, so concurrent changes to one channel serialise and a refusal stores nothing.

use chrono::Utc;
use serde_json::json;
use sqlx::{PgConnection, Postgres, Transaction};

use super::{
    Candidate, ChannelChange, RolloutError, RolloutResult, check_agent_id, check_channel_name,
    check_percentage, check_reason, require_publisher,
};
use crate::app::AppState;
use crate::auth::Principal;
use crate::store::Store;
use crate::store::personas::Persona;
use crate::store::revisions::RevisionRef;
use crate::store::rollouts::{ActiveRollout, LockedChannel, NewRolloutEvent, RolloutEnd};

/// An open change: the transaction, the persona and its locked channel.
pub(super) struct Change {
    pub tx: Transaction<'static, Postgres>,
    pub persona: Persona,
    pub channel: LockedChannel,
    pub actor: String,
}

/// Checks the role, opens the transaction and locks the channel. Does not check frozen.
pub(super) async fn begin(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    channel: &str,
) -> RolloutResult<Change> {
    require_publisher(actor)?;
    let persona = state.store.persona(persona).await?;
    let mut tx = state.store.pool.begin().await?;
    let channel = Store::lock_channel(&mut tx, persona.id, &persona.name, channel).await?;
    Ok(Change {
        tx,
        persona,
        channel,
        actor: actor.actor(),
    })
}

/// As [`begin`], but first locks the persona row and returns its next sequence number (the
/// lock order of a push, so a rollback and a push never deadlock).
pub(super) async fn begin_with_sequence(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    channel: &str,
) -> RolloutResult<(Change, i64)> {
    require_publisher(actor)?;
    let persona = state.store.persona(persona).await?;
    let mut tx = state.store.pool.begin().await?;
    let sequence = Store::lock_next_sequence(&mut tx, persona.id).await?;
    let channel = Store::lock_channel(&mut tx, persona.id, &persona.name, channel).await?;
    Ok((
        Change {
            tx,
            persona,
            channel,
            actor: actor.actor(),
        },
        sequence,
    ))
}

impl Change {
    /// Refuses every change to a frozen channel, naming who froze it and why.
    pub fn ensure_unfrozen(&self) -> RolloutResult<()> {
        if !self.channel.frozen {
            return Ok(());
        }
        let mut by = String::new();
        if let Some(actor) = &self.channel.frozen_by {
            by.push_str(&format!(" (by `{actor}`"));
            if let Some(at) = self.channel.frozen_at {
                by.push_str(&format!(" at {}", at.to_rfc3339()));
            }
            if !self.channel.frozen_reason.is_empty() {
                by.push_str(&format!(": {}", self.channel.frozen_reason));
            }
            by.push(')');
        }
        Err(RolloutError::Frozen {
            persona: self.persona.name.clone(),
            channel: self.channel.name.clone(),
            by,
        })
    }

    pub async fn active_rollout(&mut self) -> RolloutResult<Option<ActiveRollout>> {
        Ok(Store::active_rollout(&mut self.tx, self.channel.id).await?)
    }

    pub async fn require_rollout(&mut self) -> RolloutResult<ActiveRollout> {
        self.active_rollout()
            .await?
            .ok_or_else(|| RolloutError::NoActiveRollout {
                persona: self.persona.name.clone(),
                channel: self.channel.name.clone(),
            })
    }

    /// Resolves a candidate within this persona.
    pub async fn resolve(&mut self, candidate: &Candidate) -> RolloutResult<RevisionRef> {
        match candidate {
            Candidate::Revision(reference) => {
                resolve_revision(&mut self.tx, &self.persona, reference).await
            }
            Candidate::Channel(name) => {
                check_channel_name(name)?;
                let other = state_of_channel(&mut self.tx, &self.persona, name).await?;
                other.revision.ok_or_else(|| RolloutError::EmptyChannel {
                    persona: self.persona.name.clone(),
                    channel: name.clone(),
                })
            }
        }
    }

    /// Points the channel at `revision` and queues the OCI channel tag move.
    pub async fn move_to(&mut self, state: &AppState, revision: &RevisionRef) -> RolloutResult<()> {
        Store::set_channel_revision(&mut self.tx, self.channel.id, revision.revision_id).await?;
        Store::enqueue_channel_tag(
            &mut self.tx,
            revision.revision_id,
            &self.persona.name,
            &self.channel.name,
            &state.config.registries,
        )
        .await?;
        Ok(())
    }

    /// Appends the event (NOTIFY included), commits, and describes the change.
    #[allow(clippy::too_many_arguments)]
    pub async fn commit(
        mut self,
        kind: &'static str,
        from: Option<&str>,
        to: Option<&str>,
        percentage: Option<i32>,
        rollout_id: Option<i64>,
        reason: &str,
        mut details: serde_json::Value,
    ) -> RolloutResult<ChannelChange> {
        if let (Some(id), Some(map)) = (rollout_id, details.as_object_mut()) {
            map.insert("rollout_id".into(), json!(id));
        }
        let event_id = Store::append_rollout_event(
            &mut self.tx,
            &NewRolloutEvent {
                persona_id: self.persona.id,
                persona: &self.persona.name,
                channel: &self.channel.name,
                kind,
                actor: &self.actor,
                from_revision: from,
                to_revision: to,
                percentage,
                reason,
                details,
            },
        )
        .await?;
        self.tx.commit().await?;
        tracing::info!(persona = %self.persona.name, channel = %self.channel.name, kind,
            from, to, percentage, actor = %self.actor, "rollout change");
        Ok(ChannelChange {
            persona: self.persona.name,
            channel: self.channel.name,
            kind,
            from_revision: from.map(str::to_owned),
            to_revision: to.map(str::to_owned),
            percentage,
            rollout_id,
            event_id,
            at: Utc::now(),
        })
    }

    fn revision_name(&self) -> Option<String> {
        self.channel.revision.as_ref().map(|r| r.revision.clone())
    }
}

async fn resolve_revision(
    conn: &mut PgConnection,
    persona: &Persona,
    reference: &str,
) -> RolloutResult<RevisionRef> {
    Store::revision_ref(conn, persona.id, reference.trim())
        .await?
        .ok_or_else(|| RolloutError::UnknownRevision {
            persona: persona.name.clone(),
            reference: reference.to_owned(),
        })
}

/// Reads another channel of the persona (locked too: a promotion reads a consistent source).
async fn state_of_channel(
    conn: &mut PgConnection,
    persona: &Persona,
    name: &str,
) -> RolloutResult<LockedChannel> {
    Ok(Store::lock_channel(conn, persona.id, &persona.name, name).await?)
}

/// Creates channel `channel`, empty or pointing at `from` (a revision or another channel's).
pub async fn create_channel(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    channel: &str,
    from: Option<&Candidate>,
    reason: &str,
) -> RolloutResult<ChannelChange> {
    require_publisher(actor)?;
    check_channel_name(channel)?;
    let reason = check_reason(reason)?;
    let persona = state.store.persona(persona).await?;
    let mut tx = state.store.pool.begin().await?;
    let revision = match from {
        None => None,
        Some(Candidate::Revision(reference)) => {
            Some(resolve_revision(&mut tx, &persona, reference).await?)
        }
        Some(Candidate::Channel(name)) => {
            check_channel_name(name)?;
            let other = state_of_channel(&mut tx, &persona, name).await?;
            Some(other.revision.ok_or_else(|| RolloutError::EmptyChannel {
                persona: persona.name.clone(),
                channel: name.clone(),
            })?)
        }
    };
    Store::insert_channel(
        &mut tx,
        persona.id,
        &persona.name,
        channel,
        revision.as_ref().map(|r| r.revision_id),
    )
    .await?;
    let locked = Store::lock_channel(&mut tx, persona.id, &persona.name, channel).await?;
    let mut change = Change {
        tx,
        persona,
        channel: locked,
        actor: actor.actor(),
    };
    if let Some(revision) = &revision {
        change.move_to(state, revision).await?;
    }
    let to = revision.as_ref().map(|r| r.revision.clone());
    change
        .commit(
            "channel_created",
            None,
            to.as_deref(),
            None,
            None,
            reason,
            json!({}),
        )
        .await
}

/// Starts a canary: `candidate` for `percentage`% of the channel's agents.
pub async fn start(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    channel: &str,
    candidate: &Candidate,
    percentage: i64,
    reason: &str,
) -> RolloutResult<ChannelChange> {
    let percentage = check_percentage(percentage)?;
    let reason = check_reason(reason)?;
    let mut change = begin(state, actor, persona, channel).await?;
    change.ensure_unfrozen()?;
    let Some(base) = change.channel.revision.clone() else {
        return Err(RolloutError::EmptyChannel {
            persona: change.persona.name.clone(),
            channel: change.channel.name.clone(),
        });
    };
    if let Some(active) = change.active_rollout().await? {
        return Err(RolloutError::RolloutActive {
            persona: change.persona.name.clone(),
            channel: change.channel.name.clone(),
            rollout_id: active.id,
            candidate: active.candidate,
            percentage: active.percentage,
        });
    }
    let target = change.resolve(candidate).await?;
    if target.revision_id == base.revision_id {
        return Err(RolloutError::AlreadyOnRevision {
            persona: change.persona.name.clone(),
            channel: change.channel.name.clone(),
            revision: base.revision,
        });
    }
    let id = Store::insert_rollout(
        &mut change.tx,
        &change.channel,
        target.revision_id,
        percentage,
        reason,
        &change.actor,
    )
    .await?;
    let source = match candidate {
        Candidate::Revision(r) => json!({"revision": r}),
        Candidate::Channel(c) => json!({"channel": c}),
    };
    change
        .commit(
            "rollout_started",
            Some(&base.revision),
            Some(&target.revision),
            Some(percentage),
            Some(id),
            reason,
            json!({"candidate_from": source, "candidate_sequence": target.sequence}),
        )
        .await
}

/// Raises or lowers the active rollout's percentage.
pub async fn set_percentage(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    channel: &str,
    percentage: i64,
    reason: &str,
) -> RolloutResult<ChannelChange> {
    let percentage = check_percentage(percentage)?;
    let reason = check_reason(reason)?;
    let mut change = begin(state, actor, persona, channel).await?;
    change.ensure_unfrozen()?;
    let rollout = change.require_rollout().await?;
    Store::set_rollout_percentage(&mut change.tx, rollout.id, percentage).await?;
    let from = change.revision_name();
    change
        .commit(
            "rollout_percentage",
            from.as_deref(),
            Some(&rollout.candidate),
            Some(percentage),
            Some(rollout.id),
            reason,
            json!({"previous_percentage": rollout.percentage}),
        )
        .await
}

/// Moves the channel to the candidate (100%) and ends the rollout.
pub async fn promote(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    channel: &str,
    reason: &str,
) -> RolloutResult<ChannelChange> {
    let reason = check_reason(reason)?;
    let mut change = begin(state, actor, persona, channel).await?;
    change.ensure_unfrozen()?;
    let rollout = change.require_rollout().await?;
    let candidate = Store::revision_ref(
        &mut change.tx,
        change.persona.id,
        &rollout.candidate_sequence.to_string(),
    )
    .await?
    .ok_or_else(|| {
        RolloutError::Internal(format!("candidate of rollout {} vanished", rollout.id))
    })?;
    let from = change.revision_name();
    change.move_to(state, &candidate).await?;
    Store::end_rollout(
        &mut change.tx,
        rollout.id,
        RolloutEnd::Promoted,
        &change.actor,
    )
    .await?;
    change
        .commit(
            "rollout_promoted",
            from.as_deref(),
            Some(&candidate.revision),
            Some(100),
            Some(rollout.id),
            reason,
            json!({"previous_percentage": rollout.percentage}),
        )
        .await
}

/// Ends the rollout; every agent goes back to the channel's revision.
pub async fn abort(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    channel: &str,
    reason: &str,
) -> RolloutResult<ChannelChange> {
    let reason = check_reason(reason)?;
    let mut change = begin(state, actor, persona, channel).await?;
    change.ensure_unfrozen()?;
    let rollout = change.require_rollout().await?;
    Store::end_rollout(
        &mut change.tx,
        rollout.id,
        RolloutEnd::Aborted,
        &change.actor,
    )
    .await?;
    let to = change.revision_name();
    change
        .commit(
            "rollout_aborted",
            Some(&rollout.candidate),
            to.as_deref(),
            Some(0),
            Some(rollout.id),
            reason,
            json!({"previous_percentage": rollout.percentage}),
        )
        .await
}

/// Freezes the channel: every change (rollouts, pins, pushes that would move it) is refused
/// until [`unfreeze`].
pub async fn freeze(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    channel: &str,
    reason: &str,
) -> RolloutResult<ChannelChange> {
    let reason = check_reason(reason)?;
    let mut change = begin(state, actor, persona, channel).await?;
    if change.channel.frozen {
        return Err(RolloutError::FrozenState {
            persona: change.persona.name.clone(),
            channel: change.channel.name.clone(),
            state: "frozen",
        });
    }
    Store::set_channel_frozen(
        &mut change.tx,
        change.channel.id,
        Some((&change.actor, reason)),
    )
    .await?;
    let current = change.revision_name();
    let rollout = change.active_rollout().await?;
    change
        .commit(
            "channel_frozen",
            current.as_deref(),
            current.as_deref(),
            rollout.as_ref().map(|r| r.percentage),
            rollout.as_ref().map(|r| r.id),
            reason,
            json!({}),
        )
        .await
}

pub async fn unfreeze(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    channel: &str,
    reason: &str,
) -> RolloutResult<ChannelChange> {
    let reason = check_reason(reason)?;
    let mut change = begin(state, actor, persona, channel).await?;
    if !change.channel.frozen {
        return Err(RolloutError::FrozenState {
            persona: change.persona.name.clone(),
            channel: change.channel.name.clone(),
            state: "unfrozen",
        });
    }
    Store::set_channel_frozen(&mut change.tx, change.channel.id, None).await?;
    let current = change.revision_name();
    let frozen_by = change.channel.frozen_by.clone();
    change
        .commit(
            "channel_unfrozen",
            current.as_deref(),
            current.as_deref(),
            None,
            None,
            reason,
            json!({"frozen_by": frozen_by}),
        )
        .await
}

/// Pins `agent_id` of the persona to `revision`, whatever its channel or rollouts say.
#[allow(clippy::too_many_arguments)]
pub async fn pin(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    channel: &str,
    agent_id: &str,
    revision: &str,
    reason: &str,
) -> RolloutResult<ChannelChange> {
    check_agent_id(agent_id)?;
    let reason = check_reason(reason)?;
    let mut change = begin(state, actor, persona, channel).await?;
    change.ensure_unfrozen()?;
    let target = change
        .resolve(&Candidate::Revision(revision.to_owned()))
        .await?;
    let previous = Store::upsert_pin(
        &mut change.tx,
        change.persona.id,
        agent_id,
        &change.channel.name,
        target.revision_id,
        reason,
        &change.actor,
    )
    .await?;
    // A pin applies on every channel of the persona: drop all their cached heads.
    Store::notify_persona(&mut change.tx, &change.persona.name).await?;
    change
        .commit(
            "agent_pinned",
            previous.as_deref(),
            Some(&target.revision),
            None,
            None,
            reason,
            json!({"agent": agent_id}),
        )
        .await
}

pub async fn unpin(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    channel: &str,
    agent_id: &str,
    reason: &str,
) -> RolloutResult<ChannelChange> {
    check_agent_id(agent_id)?;
    let reason = check_reason(reason)?;
    let mut change = begin(state, actor, persona, channel).await?;
    change.ensure_unfrozen()?;
    let previous = Store::delete_pin(&mut change.tx, change.persona.id, agent_id)
        .await?
        .ok_or_else(|| RolloutError::NotPinned {
            persona: change.persona.name.clone(),
            agent: agent_id.to_owned(),
        })?;
    Store::notify_persona(&mut change.tx, &change.persona.name).await?;
    change
        .commit(
            "agent_unpinned",
            Some(&previous),
            None,
            None,
            None,
            reason,
            json!({"agent": agent_id}),
        )
        .await
}
