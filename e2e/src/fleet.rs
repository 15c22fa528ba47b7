//! What the control plane's database says about the fleet, decision logs and publications:
//! the assertions read the source of truth directly.

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// An agent's row in `agents`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AgentRow {
    pub active_revision: Option<String>,
    pub active_sequence: Option<i64>,
    pub last_error: Option<String>,
}

pub async fn agent(pool: &PgPool, id: &str) -> Option<AgentRow> {
    sqlx::query_as("SELECT active_revision, active_sequence, last_error FROM agents WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .ok()
        .flatten()
}

/// `(rows, distinct decision_ids)` in `decision_logs` among `ids` (`None` while the database
/// is unreachable).
pub async fn stored(pool: &PgPool, ids: &[String]) -> Option<(i64, i64)> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.parse().unwrap()).collect();
    sqlx::query_as(
        "SELECT count(*), count(DISTINCT decision_id) FROM decision_logs WHERE decision_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_one(pool)
    .await
    .ok()
}

/// Every row in `decision_logs` and how many distinct decision_ids they hold.
pub async fn all_stored(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(DISTINCT decision_id) FROM decision_logs")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A publication job (`publications` row).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Publication {
    pub tag: String,
    pub state: String,
    pub manifest_digest: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// The lease is held now.
    pub leased: bool,
}

/// The publication jobs of `revision` (by revision name).
pub async fn publications(pool: &PgPool, revision: &str) -> Vec<Publication> {
    sqlx::query_as(
        "SELECT p.tag, p.state, p.manifest_digest, p.attempts, p.last_error,
                coalesce(p.locked_until > now(), false) AS leased
           FROM publications p JOIN revisions r ON r.id = p.revision_id
          WHERE r.revision = $1 ORDER BY p.id",
    )
    .bind(revision)
    .fetch_all(pool)
    .await
    .unwrap_or_default()
}

/// `sha256:<hex>` of the stored bundle of `revision`.
pub async fn bundle_digest(pool: &PgPool, revision: &str) -> String {
    let hex: String = sqlx::query_scalar("SELECT bundle_digest FROM revisions WHERE revision = $1")
        .bind(revision)
        .fetch_one(pool)
        .await
        .unwrap();
    match hex.strip_prefix("sha256:") {
        Some(_) => hex,
        None => format!("sha256:{hex}"),
    }
}

/// The rollout events of `persona`, oldest first: `(kind, channel, from, to, actor)`.
pub async fn rollout_events(pool: &PgPool, persona: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT jsonb_build_object('kind', e.kind, 'channel', e.channel, 'from', e.from_revision,
                'to', e.to_revision, 'percentage', e.percentage, 'actor', e.actor, 'reason', e.reason)
           FROM rollout_events e JOIN personas p ON p.id = e.persona_id
          WHERE p.name = $1 ORDER BY e.id",
    )
    .bind(persona)
    .fetch_all(pool)
    .await
    .unwrap()
}
