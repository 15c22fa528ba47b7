//! Rollouts, pins, frozen channels and the rollout event log. Mutations take a connection so
//! the rollout service runs each change (pointer, rollout row, event, NOTIFY) in one
//! transaction; they lock the channel row first, which serialises changes per channel.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

use super::revisions::RevisionRef;
use super::{Store, StoreError, StoreResult};

/// A channel row, locked for the rest of the transaction.
#[derive(Debug, Clone)]
pub struct LockedChannel {
    pub id: i64,
    pub persona_id: i64,
    pub name: String,
    pub revision: Option<RevisionRef>,
    pub frozen: bool,
    pub frozen_by: Option<String>,
    pub frozen_at: Option<DateTime<Utc>>,
    pub frozen_reason: String,
}

/// The active rollout of a channel.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveRollout {
    pub id: i64,
    pub candidate: String,
    pub candidate_sequence: i64,
    #[serde(skip)]
    pub candidate_id: i64,
    /// The channel's revision when the rollout started.
    pub base: Option<String>,
    pub percentage: i32,
    pub reason: String,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutEnd {
    Promoted,
    Aborted,
    RolledBack,
}

impl RolloutEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutEnd::Promoted => "promoted",
            RolloutEnd::Aborted => "aborted",
            RolloutEnd::RolledBack => "rolled_back",
        }
    }
}

/// One row of the append-only rollout event log.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutEvent {
    pub id: i64,
    pub persona: String,
    pub channel: Option<String>,
    pub kind: String,
    pub actor: String,
    pub from_revision: Option<String>,
    pub to_revision: Option<String>,
    pub percentage: Option<i32>,
    pub reason: String,
    pub details: Value,
    pub created_at: DateTime<Utc>,
}

/// An event to append (with a NOTIFY for the channel, delivered at commit).
#[derive(Debug, Clone)]
pub struct NewRolloutEvent<'a> {
    pub persona_id: i64,
    pub persona: &'a str,
    pub channel: &'a str,
    pub kind: &'a str,
    pub actor: &'a str,
    pub from_revision: Option<&'a str>,
    pub to_revision: Option<&'a str>,
    pub percentage: Option<i32>,
    pub reason: &'a str,
    pub details: Value,
}

/// A pin as listed.
#[derive(Debug, Clone, Serialize)]
pub struct Pin {
    pub agent_id: String,
    pub channel: String,
    pub revision: String,
    pub sequence: i64,
    pub reason: String,
    pub pinned_by: String,
    pub pinned_at: DateTime<Utc>,
}

/// What convergence needs to know about an agent.
#[derive(Debug, Clone, Serialize)]
pub struct AgentBrief {
    pub id: String,
    pub channel: Option<String>,
    pub active_revision: Option<String>,
    pub last_error: Option<String>,
    pub last_seen_at: DateTime<Utc>,
}

/// A channel with its frozen state (for lists).
#[derive(Debug, Clone, Serialize)]
pub struct ChannelRecord {
    pub name: String,
    pub revision: Option<String>,
    pub sequence: Option<i64>,
    pub frozen: bool,
    pub frozen_by: Option<String>,
    pub frozen_at: Option<DateTime<Utc>>,
    pub frozen_reason: String,
    pub updated_at: DateTime<Utc>,
}

/// An old revision whose content a rollback re-issues.
#[derive(Debug, Clone)]
pub struct ReissueSource {
    pub id: i64,
    pub revision: String,
    pub sequence: i64,
    pub content_digest: String,
    pub bundle: Vec<u8>,
    pub test_report: Value,
    pub source: Value,
}

impl Store {
    /// A revision of the persona (by sequence or revision string) with its bytes.
    pub async fn reissue_source(
        conn: &mut PgConnection,
        persona_id: i64,
        reference: &str,
    ) -> StoreResult<Option<ReissueSource>> {
        let seq = reference.parse::<i64>().ok();
        Ok(sqlx::query_as!(
            ReissueSource,
            "SELECT id, revision, sequence, content_digest, bundle, test_report, source
             FROM revisions WHERE persona_id = $1 AND (sequence = $2 OR revision = $3)",
            persona_id,
            seq,
            reference
        )
        .fetch_optional(&mut *conn)
        .await?)
    }

    /// Locks channel `name` of the persona (`FOR UPDATE`) and reads it.
    pub async fn lock_channel(
        conn: &mut PgConnection,
        persona_id: i64,
        persona: &str,
        name: &str,
    ) -> StoreResult<LockedChannel> {
        let row = sqlx::query!(
            r#"SELECT c.id, c.persona_id, c.name, c.frozen, c.frozen_by, c.frozen_at,
                      c.frozen_reason, r.id AS "revision_id?", r.revision AS "revision?",
                      r.sequence AS "sequence?", r.bundle_digest AS "bundle_digest?"
               FROM channels c LEFT JOIN revisions r ON r.id = c.revision_id
               WHERE c.persona_id = $1 AND c.name = $2 FOR UPDATE OF c"#,
            persona_id,
            name
        )
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("channel `{name}` of persona `{persona}`"),
        })?;
        let revision = RevisionRef::from_joined(
            row.revision_id,
            row.revision,
            row.sequence,
            row.bundle_digest,
        );
        Ok(LockedChannel {
            id: row.id,
            persona_id: row.persona_id,
            name: row.name,
            revision,
            frozen: row.frozen,
            frozen_by: row.frozen_by,
            frozen_at: row.frozen_at,
            frozen_reason: row.frozen_reason,
        })
    }

    /// What another channel of the persona runs (no lock: a promotion only reads its source,
    /// and locking two channels in either order could deadlock). `None`: no such channel.
    pub async fn channel_revision_ref(
        conn: &mut PgConnection,
        persona_id: i64,
        name: &str,
    ) -> StoreResult<Option<Option<RevisionRef>>> {
        let row = sqlx::query!(
            r#"SELECT r.id AS "revision_id?", r.revision AS "revision?", r.sequence AS "sequence?",
                      r.bundle_digest AS "bundle_digest?"
               FROM channels c LEFT JOIN revisions r ON r.id = c.revision_id
               WHERE c.persona_id = $1 AND c.name = $2"#,
            persona_id,
            name
        )
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.map(|row| {
            RevisionRef::from_joined(
                row.revision_id,
                row.revision,
                row.sequence,
                row.bundle_digest,
            )
        }))
    }

    /// A revision of the persona by sequence number or revision string.
    pub async fn revision_ref(
        conn: &mut PgConnection,
        persona_id: i64,
        reference: &str,
    ) -> StoreResult<Option<RevisionRef>> {
        let seq = reference.parse::<i64>().ok();
        Ok(sqlx::query_as!(
            RevisionRef,
            r#"SELECT id AS revision_id, revision, sequence, bundle_digest FROM revisions
               WHERE persona_id = $1 AND (sequence = $2 OR revision = $3)"#,
            persona_id,
            seq,
            reference
        )
        .fetch_optional(&mut *conn)
        .await?)
    }

    /// The channel's active rollout, if any.
    pub async fn active_rollout(
        conn: &mut PgConnection,
        channel_id: i64,
    ) -> StoreResult<Option<ActiveRollout>> {
        Ok(sqlx::query_as!(
            ActiveRollout,
            r#"SELECT o.id, c.revision AS candidate, c.sequence AS candidate_sequence,
                      o.candidate_id, b.revision AS "base?", o.percentage, o.reason,
                      o.started_by, o.started_at, o.updated_at
               FROM rollouts o JOIN revisions c ON c.id = o.candidate_id
               LEFT JOIN revisions b ON b.id = o.base_id
               WHERE o.channel_id = $1 AND o.state = 'active'"#,
            channel_id
        )
        .fetch_optional(&mut *conn)
        .await?)
    }

    /// Starts a rollout; the partial unique index refuses a second active one.
    pub async fn insert_rollout(
        conn: &mut PgConnection,
        channel: &LockedChannel,
        candidate_id: i64,
        percentage: i32,
        reason: &str,
        actor: &str,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar!(
            "INSERT INTO rollouts (channel_id, candidate_id, base_id, percentage, reason, started_by)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            channel.id,
            candidate_id,
            channel.revision.as_ref().map(|r| r.revision_id),
            percentage,
            reason,
            actor
        )
        .fetch_one(&mut *conn)
        .await?)
    }

    pub async fn set_rollout_percentage(
        conn: &mut PgConnection,
        rollout_id: i64,
        percentage: i32,
    ) -> StoreResult<()> {
        sqlx::query!(
            "UPDATE rollouts SET percentage = $2, updated_at = now() WHERE id = $1 AND state = 'active'",
            rollout_id,
            percentage
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    pub async fn end_rollout(
        conn: &mut PgConnection,
        rollout_id: i64,
        end: RolloutEnd,
        actor: &str,
    ) -> StoreResult<()> {
        sqlx::query!(
            "UPDATE rollouts SET state = $2, ended_by = $3, ended_at = now(), updated_at = now()
             WHERE id = $1 AND state = 'active'",
            rollout_id,
            end.as_str(),
            actor
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Points a locked channel at a revision (no event: the caller writes its own).
    pub async fn set_channel_revision(
        conn: &mut PgConnection,
        channel_id: i64,
        revision_id: i64,
    ) -> StoreResult<()> {
        sqlx::query!(
            "UPDATE channels SET revision_id = $2, updated_at = now() WHERE id = $1",
            channel_id,
            revision_id
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Freezes (`Some((actor, reason))`) or unfreezes (`None`) a locked channel.
    pub async fn set_channel_frozen(
        conn: &mut PgConnection,
        channel_id: i64,
        frozen: Option<(&str, &str)>,
    ) -> StoreResult<()> {
        sqlx::query!(
            "UPDATE channels SET frozen = $2, frozen_by = $3,
                 frozen_at = CASE WHEN $2 THEN now() END, frozen_reason = $4, updated_at = now()
             WHERE id = $1",
            channel_id,
            frozen.is_some(),
            frozen.map(|(actor, _)| actor),
            frozen.map_or("", |(_, reason)| reason)
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Creates a channel, optionally pointing at a revision. An existing name is a conflict.
    pub async fn insert_channel(
        conn: &mut PgConnection,
        persona_id: i64,
        persona: &str,
        name: &str,
        revision_id: Option<i64>,
    ) -> StoreResult<()> {
        let inserted = sqlx::query_scalar!(
            "INSERT INTO channels (persona_id, name, revision_id) VALUES ($1, $2, $3)
             ON CONFLICT ON CONSTRAINT channels_persona_name_key DO NOTHING RETURNING id",
            persona_id,
            name,
            revision_id
        )
        .fetch_optional(&mut *conn)
        .await?;
        if inserted.is_none() {
            return Err(StoreError::Conflict {
                detail: format!("persona `{persona}` already has a channel `{name}`"),
            });
        }
        Ok(())
    }

    /// Pins an agent (replacing an earlier pin).
    pub async fn upsert_pin(
        conn: &mut PgConnection,
        persona_id: i64,
        agent_id: &str,
        channel: &str,
        revision_id: i64,
        reason: &str,
        actor: &str,
    ) -> StoreResult<Option<String>> {
        let previous = sqlx::query_scalar!(
            "SELECT r.revision FROM agent_pins a JOIN revisions r ON r.id = a.revision_id
             WHERE a.persona_id = $1 AND a.agent_id = $2",
            persona_id,
            agent_id
        )
        .fetch_optional(&mut *conn)
        .await?;
        sqlx::query!(
            "INSERT INTO agent_pins (persona_id, agent_id, channel, revision_id, reason, pinned_by)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT ON CONSTRAINT agent_pins_pkey DO UPDATE SET channel = EXCLUDED.channel,
                 revision_id = EXCLUDED.revision_id, reason = EXCLUDED.reason,
                 pinned_by = EXCLUDED.pinned_by, pinned_at = now()",
            persona_id,
            agent_id,
            channel,
            revision_id,
            reason,
            actor
        )
        .execute(&mut *conn)
        .await?;
        Ok(previous)
    }

    /// Removes a pin; returns the revision it pinned, `None` when there was none.
    pub async fn delete_pin(
        conn: &mut PgConnection,
        persona_id: i64,
        agent_id: &str,
    ) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar!(
            "DELETE FROM agent_pins a USING revisions r
             WHERE a.persona_id = $1 AND a.agent_id = $2 AND r.id = a.revision_id
             RETURNING r.revision",
            persona_id,
            agent_id
        )
        .fetch_optional(&mut *conn)
        .await?)
    }

    /// Appends a rollout event and NOTIFYs `<persona>/<channel>` (delivered at commit), so long
    /// polls re-read their assignment and the head cache drops the channel.
    pub async fn append_rollout_event(
        conn: &mut PgConnection,
        event: &NewRolloutEvent<'_>,
    ) -> StoreResult<i64> {
        let id = sqlx::query_scalar!(
            "INSERT INTO rollout_events (persona_id, channel, kind, actor, from_revision,
                 to_revision, percentage, reason, details)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            event.persona_id,
            event.channel,
            event.kind,
            event.actor,
            event.from_revision,
            event.to_revision,
            event.percentage,
            event.reason,
            event.details
        )
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query!(
            "SELECT pg_notify('regent_channels', $1)",
            format!("{}/{}", event.persona, event.channel)
        )
        .execute(&mut *conn)
        .await?;
        Ok(id)
    }

    /// NOTIFYs every channel of a persona (pins apply whatever the channel).
    pub async fn notify_persona(conn: &mut PgConnection, persona: &str) -> StoreResult<()> {
        sqlx::query!("SELECT pg_notify('regent_channels', $1)", persona)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Rollout events of a persona, newest first, optionally of one channel, before event id
    /// `before` (keyset pagination).
    pub async fn rollout_events(
        &self,
        persona: &str,
        channel: Option<&str>,
        limit: i64,
        before: Option<i64>,
    ) -> StoreResult<Vec<RolloutEvent>> {
        Ok(sqlx::query_as!(
            RolloutEvent,
            r#"SELECT e.id, p.name AS persona, e.channel, e.kind, e.actor, e.from_revision,
                      e.to_revision, e.percentage, e.reason, e.details, e.created_at
               FROM rollout_events e JOIN personas p ON p.id = e.persona_id
               WHERE p.name = $1 AND ($2::text IS NULL OR e.channel = $2)
                 AND ($3::bigint IS NULL OR e.id < $3)
               ORDER BY e.id DESC LIMIT $4"#,
            persona,
            channel,
            before,
            limit
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Channels of a persona with frozen details.
    pub async fn channel_records(&self, persona_id: i64) -> StoreResult<Vec<ChannelRecord>> {
        Ok(sqlx::query_as!(
            ChannelRecord,
            r#"SELECT c.name, r.revision AS "revision?", r.sequence AS "sequence?", c.frozen,
                      c.frozen_by, c.frozen_at, c.frozen_reason, c.updated_at
               FROM channels c LEFT JOIN revisions r ON r.id = c.revision_id
               WHERE c.persona_id = $1 ORDER BY c.name"#,
            persona_id
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The active rollouts of a persona's channels, by channel name.
    pub async fn active_rollouts(
        &self,
        persona_id: i64,
    ) -> StoreResult<Vec<(String, ActiveRollout)>> {
        Ok(sqlx::query!(
            r#"SELECT ch.name AS channel, o.id, c.revision AS candidate,
                      c.sequence AS candidate_sequence, o.candidate_id, b.revision AS "base?",
                      o.percentage, o.reason, o.started_by, o.started_at, o.updated_at
               FROM rollouts o JOIN channels ch ON ch.id = o.channel_id
               JOIN revisions c ON c.id = o.candidate_id
               LEFT JOIN revisions b ON b.id = o.base_id
               WHERE ch.persona_id = $1 AND o.state = 'active'"#,
            persona_id
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            (
                r.channel,
                ActiveRollout {
                    id: r.id,
                    candidate: r.candidate,
                    candidate_sequence: r.candidate_sequence,
                    candidate_id: r.candidate_id,
                    base: r.base,
                    percentage: r.percentage,
                    reason: r.reason,
                    started_by: r.started_by,
                    started_at: r.started_at,
                    updated_at: r.updated_at,
                },
            )
        })
        .collect())
    }

    /// The pins of a persona.
    pub async fn pins(&self, persona_id: i64) -> StoreResult<Vec<Pin>> {
        Ok(sqlx::query_as!(
            Pin,
            r#"SELECT a.agent_id, a.channel, r.revision, r.sequence, a.reason, a.pinned_by,
                      a.pinned_at
               FROM agent_pins a JOIN revisions r ON r.id = a.revision_id
               WHERE a.persona_id = $1 ORDER BY a.agent_id"#,
            persona_id
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every agent of a persona, for convergence.
    pub async fn agent_briefs(&self, persona_id: i64) -> StoreResult<Vec<AgentBrief>> {
        Ok(sqlx::query_as!(
            AgentBrief,
            "SELECT id, channel, active_revision, last_error, last_seen_at
             FROM agents WHERE persona_id = $1 ORDER BY id",
            persona_id
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
