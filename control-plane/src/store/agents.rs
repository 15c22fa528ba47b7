//! Agents: the latest status report per instance (`labels.id`) and a bounded history of reports.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{Store, StoreResult};

/// One status report, ready to store. `status` is the report's JSON text exactly as received.
#[derive(Debug, Clone)]
pub struct StatusRecord<'a> {
    pub agent_id: &'a str,
    pub persona_id: Option<i64>,
    /// From `labels.channel`; `None` keeps the channel already recorded.
    pub channel: Option<&'a str>,
    pub labels: &'a Value,
    pub active_revision: Option<&'a str>,
    pub active_sequence: Option<i64>,
    pub last_error: Option<&'a str>,
    pub status: &'a str,
    /// Admins may re-home an agent id to another persona; agent tokens may not.
    pub may_change_persona: bool,
    /// How many reports of this agent the history keeps (older ones are pruned).
    pub keep_history: i64,
}

/// What happened to a status report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    Recorded,
    /// The agent id is registered for another persona; nothing was stored.
    OwnedByPersona(Option<String>),
}

/// An agent as stored (latest report).
#[derive(Debug, Clone, Serialize)]
pub struct AgentRecord {
    pub id: String,
    pub persona: Option<String>,
    pub channel: Option<String>,
    pub labels: Value,
    pub active_revision: Option<String>,
    pub active_sequence: Option<i64>,
    pub last_error: Option<String>,
    pub last_status: Value,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

impl Store {
    /// Upserts the agent's latest status and appends it to the history, pruning the history to
    /// the newest `keep_history` reports, in one transaction.
    pub async fn record_status(&self, record: &StatusRecord<'_>) -> StoreResult<StatusOutcome> {
        let mut tx = self.pool.begin().await?;
        // The WHERE on the conflict branch stops an agent token of one persona from taking over
        // an agent id that reports for another persona.
        let stored = sqlx::query_scalar!(
            r#"INSERT INTO agents AS a (id, persona_id, channel, labels, active_revision,
                   active_sequence, last_error, last_status, last_seen_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb, now())
               ON CONFLICT (id) DO UPDATE SET
                   persona_id = COALESCE(EXCLUDED.persona_id, a.persona_id),
                   channel = COALESCE(EXCLUDED.channel, a.channel),
                   labels = EXCLUDED.labels,
                   active_revision = EXCLUDED.active_revision,
                   active_sequence = EXCLUDED.active_sequence,
                   last_error = EXCLUDED.last_error,
                   last_status = EXCLUDED.last_status,
                   last_seen_at = EXCLUDED.last_seen_at
               WHERE $9 OR a.persona_id IS NULL OR EXCLUDED.persona_id IS NULL
                   OR a.persona_id = EXCLUDED.persona_id
               RETURNING a.id"#,
            record.agent_id,
            record.persona_id,
            record.channel,
            record.labels,
            record.active_revision,
            record.active_sequence,
            record.last_error,
            record.status,
            record.may_change_persona,
        )
        .fetch_optional(&mut *tx)
        .await?;
        if stored.is_none() {
            let owner = sqlx::query_scalar!(
                "SELECT p.name FROM agents a JOIN personas p ON p.id = a.persona_id WHERE a.id = $1",
                record.agent_id
            )
            .fetch_optional(&mut *tx)
            .await?;
            return Ok(StatusOutcome::OwnedByPersona(owner));
        }
        sqlx::query!(
            "INSERT INTO agent_status_history (agent_id, status)
             SELECT id, last_status FROM agents WHERE id = $1",
            record.agent_id
        )
        .execute(&mut *tx)
        .await?;
        // Walks at most `keep_history` index entries of this agent, so it stays cheap.
        sqlx::query!(
            "DELETE FROM agent_status_history
             WHERE agent_id = $1 AND received_at < (
                 SELECT received_at FROM agent_status_history WHERE agent_id = $1
                 ORDER BY received_at DESC OFFSET $2 LIMIT 1)",
            record.agent_id,
            (record.keep_history - 1).max(0)
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(StatusOutcome::Recorded)
    }

    /// The channel an agent registered (from its `channel` label), if any.
    pub async fn agent_channel(&self, agent_id: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar!("SELECT channel FROM agents WHERE id = $1", agent_id)
                .fetch_optional(&self.pool)
                .await?
                .flatten(),
        )
    }

    /// Ids of the personas among `names` that exist, in name order.
    pub async fn existing_personas(&self, names: &[String]) -> StoreResult<Vec<(i64, String)>> {
        Ok(sqlx::query!(
            "SELECT id, name FROM personas WHERE name = ANY($1) ORDER BY name",
            names
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect())
    }

    pub async fn agent(&self, agent_id: &str) -> StoreResult<Option<AgentRecord>> {
        Ok(sqlx::query_as!(
            AgentRecord,
            r#"SELECT a.id, p.name AS "persona?", a.channel, a.labels, a.active_revision,
                      a.active_sequence, a.last_error, a.last_status, a.first_seen_at, a.last_seen_at
               FROM agents a LEFT JOIN personas p ON p.id = a.persona_id WHERE a.id = $1"#,
            agent_id
        )
        .fetch_optional(&self.pool)
        .await?)
    }
}
