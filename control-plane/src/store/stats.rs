//! Cheap, indexed counts for the Prometheus gauges, read at scrape time (`crate::metrics`).

use std::time::Duration;

use super::{Store, StoreResult};

/// Fleet and pipeline gauges at one instant.
#[derive(Debug, Clone, Default)]
pub struct MetricGauges {
    /// Stored revisions per persona (personas without revisions included, as 0).
    pub revisions: Vec<(String, i64)>,
    /// Agents seen within the window, per persona.
    pub active_agents: Vec<(String, i64)>,
    pub publications_pending: i64,
    pub publications_failed: i64,
}

impl Store {
    /// Counts for the metrics endpoint; `active_window` bounds "recently seen" agents.
    pub async fn metric_gauges(&self, active_window: Duration) -> StoreResult<MetricGauges> {
        let window_secs = active_window.as_secs_f64();
        // Per-persona subqueries use revisions (persona_id, sequence) and
        // agents (persona_id, last_seen_at) indexes.
        let rows = sqlx::query!(
            r#"SELECT p.name,
                      (SELECT count(*) FROM revisions r WHERE r.persona_id = p.id) AS "revisions!",
                      (SELECT count(*) FROM agents a WHERE a.persona_id = p.id
                         AND a.last_seen_at > now() - make_interval(secs => $1)) AS "active!"
               FROM personas p ORDER BY p.name"#,
            window_secs
        )
        .fetch_all(&self.pool)
        .await?;
        let publications = sqlx::query!(
            r#"SELECT count(*) FILTER (WHERE state = 'pending') AS "pending!",
                      count(*) FILTER (WHERE state = 'failed') AS "failed!"
               FROM publications WHERE state <> 'published'"#
        )
        .fetch_one(&self.pool)
        .await?;
        let mut gauges = MetricGauges {
            publications_pending: publications.pending,
            publications_failed: publications.failed,
            ..MetricGauges::default()
        };
        for row in rows {
            gauges.revisions.push((row.name.clone(), row.revisions));
            gauges.active_agents.push((row.name, row.active));
        }
        Ok(gauges)
    }
}
