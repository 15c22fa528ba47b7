//! OCI publication jobs: one row per (revision, registry, tag), processed by the publish
//! workers with a lease (`locked_until`) so a killed worker's job is picked up again.
//!
//! Invariant: a row is `published` only after the registry accepted the manifest and its cosign
//! signature, and only the worker holding the current lease may mark it so.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

use super::{Store, StoreError, StoreResult};
use crate::config::RegistryConfig;

/// The channel workers LISTEN on; notified (at commit) whenever a job is enqueued.
pub const PUBLISH_CHANNEL: &str = "regent_publish";

/// What a publication row publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PublicationKind {
    /// The revision's own immutable tag (`hr-bot-7`).
    Revision,
    /// A moving channel tag (`staging`, `prod`).
    Channel,
}

impl PublicationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PublicationKind::Revision => "revision",
            PublicationKind::Channel => "channel",
        }
    }

    fn parse(s: &str) -> StoreResult<PublicationKind> {
        match s {
            "revision" => Ok(PublicationKind::Revision),
            "channel" => Ok(PublicationKind::Channel),
            other => Err(StoreError::Invalid {
                detail: format!("publication kind `{other}` is neither `revision` nor `channel`"),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PublicationState {
    Pending,
    Published,
    Failed,
}

impl PublicationState {
    fn parse(s: &str) -> StoreResult<PublicationState> {
        match s {
            "pending" => Ok(PublicationState::Pending),
            "published" => Ok(PublicationState::Published),
            "failed" => Ok(PublicationState::Failed),
            other => Err(StoreError::Invalid {
                detail: format!("publication state `{other}` is unknown"),
            }),
        }
    }
}

/// A publication as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Publication {
    pub id: i64,
    pub revision_id: i64,
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub kind: PublicationKind,
    pub state: PublicationState,
    pub manifest_digest: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A job a worker has leased. `lease` is the exact `locked_until` it set: every later update
/// is guarded by it, so a worker whose lease expired (and was taken over) changes nothing.
#[derive(Debug, Clone)]
pub struct ClaimedPublication {
    pub id: i64,
    pub revision_id: i64,
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub kind: PublicationKind,
    /// Including this one.
    pub attempts: i32,
    pub lease: DateTime<Utc>,
}

/// Everything the publisher needs from a revision.
#[derive(Debug, Clone)]
pub struct PublicationSource {
    pub persona: String,
    pub revision: String,
    pub sequence: i64,
    pub created_at: DateTime<Utc>,
    /// Source metadata recorded at push (git commit, author, repository URL, …).
    pub source: Value,
    /// The signed bundle (tar.gz), exactly as stored.
    pub bundle: Vec<u8>,
}

/// What happened to a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Retried at `next_attempt_at`.
    Retry,
    /// Out of attempts: the row is `failed`.
    Failed,
    /// The lease was lost or the row was retargeted meanwhile; nothing recorded.
    Stale,
}

impl Store {
    /// Enqueues the publication of a new revision to every registry (tag = the revision
    /// string), inside the caller's transaction; workers are woken at commit. A `failed` row
    /// for the same target is reset to `pending` (pushing again retries it).
    pub async fn enqueue_publications(
        conn: &mut PgConnection,
        revision_id: i64,
        persona: &str,
        revision: &str,
        registries: &[RegistryConfig],
    ) -> StoreResult<()> {
        for registry in registries {
            sqlx::query!(
                "INSERT INTO publications (revision_id, registry, repository, tag, kind)
                 VALUES ($1, $2, $3, $4, 'revision')
                 ON CONFLICT ON CONSTRAINT publications_target_key DO UPDATE
                 SET state = 'pending', attempts = 0, last_error = NULL, next_attempt_at = now()
                 WHERE publications.state = 'failed'",
                revision_id,
                registry.name,
                registry.repository(persona),
                revision
            )
            .execute(&mut *conn)
            .await?;
        }
        notify(conn, registries).await
    }

    /// Points the channel tag `channel` at `revision_id` in every registry, inside the caller's
    /// transaction (the one that moves the channel). There is one row per channel tag; moving
    /// the channel retargets it, so an older move still being retried is superseded. The lease
    /// of a job in flight is kept, so the newer move is only pushed after it finished.
    pub async fn enqueue_channel_tag(
        conn: &mut PgConnection,
        revision_id: i64,
        persona: &str,
        channel: &str,
        registries: &[RegistryConfig],
    ) -> StoreResult<()> {
        for registry in registries {
            sqlx::query!(
                "INSERT INTO publications (revision_id, registry, repository, tag, kind)
                 VALUES ($1, $2, $3, $4, 'channel')
                 ON CONFLICT (registry, repository, tag) WHERE kind = 'channel' DO UPDATE
                 SET revision_id = EXCLUDED.revision_id, state = 'pending', attempts = 0,
                     manifest_digest = NULL, last_error = NULL, published_at = NULL,
                     next_attempt_at = now()
                 WHERE publications.revision_id <> EXCLUDED.revision_id
                    OR publications.state <> 'published'",
                revision_id,
                registry.name,
                registry.repository(persona),
                channel
            )
            .execute(&mut *conn)
            .await?;
        }
        notify(conn, registries).await
    }

    /// Leases the most overdue pending job (several workers and replicas run this at once:
    /// `SKIP LOCKED` hands each a different row). Counts the attempt.
    pub async fn claim_publication(
        &self,
        lease_secs: f64,
    ) -> StoreResult<Option<ClaimedPublication>> {
        let row = sqlx::query!(
            r#"UPDATE publications p
               SET locked_until = now() + make_interval(secs => $1), attempts = p.attempts + 1
               WHERE p.id = (
                   SELECT id FROM publications
                   WHERE state = 'pending' AND next_attempt_at <= now()
                     AND (locked_until IS NULL OR locked_until < now())
                   ORDER BY next_attempt_at, id
                   FOR UPDATE SKIP LOCKED
                   LIMIT 1)
               RETURNING p.id, p.revision_id, p.registry, p.repository, p.tag, p.kind, p.attempts,
                         p.locked_until AS "lease!""#,
            lease_secs
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ClaimedPublication {
                id: r.id,
                revision_id: r.revision_id,
                registry: r.registry,
                repository: r.repository,
                tag: r.tag,
                kind: PublicationKind::parse(&r.kind)?,
                attempts: r.attempts,
                lease: r.lease,
            })
        })
        .transpose()
    }

    /// The revision a job publishes, with its signed bundle bytes.
    pub async fn publication_source(&self, revision_id: i64) -> StoreResult<PublicationSource> {
        sqlx::query_as!(
            PublicationSource,
            "SELECT p.name AS persona, r.revision, r.sequence, r.created_at, r.source, r.bundle
             FROM revisions r JOIN personas p ON p.id = r.persona_id WHERE r.id = $1",
            revision_id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("revision {revision_id}"),
        })
    }

    /// Marks the job published, only if this worker still holds the lease and the row still
    /// targets the same revision. Returns whether it did.
    pub async fn mark_published(
        &self,
        job: &ClaimedPublication,
        manifest_digest: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query!(
            "UPDATE publications
             SET state = 'published', manifest_digest = $4, published_at = now(),
                 locked_until = NULL, last_error = NULL
             WHERE id = $1 AND locked_until = $2 AND revision_id = $3 AND state = 'pending'",
            job.id,
            job.lease,
            job.revision_id,
            manifest_digest
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed attempt: `failed` once `max_attempts` are spent, otherwise retried
    /// after `retry_in_secs`. `error` must not hold secrets.
    pub async fn record_publication_failure(
        &self,
        job: &ClaimedPublication,
        error: &str,
        max_attempts: i32,
        retry_in_secs: f64,
    ) -> StoreResult<FailureOutcome> {
        let state = sqlx::query_scalar!(
            "UPDATE publications
             SET last_error = $4, locked_until = NULL,
                 state = CASE WHEN attempts >= $5 THEN 'failed' ELSE 'pending' END,
                 next_attempt_at = now() + make_interval(secs => $6)
             WHERE id = $1 AND locked_until = $2 AND revision_id = $3 AND state = 'pending'
             RETURNING state",
            job.id,
            job.lease,
            job.revision_id,
            error,
            max_attempts,
            retry_in_secs
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(match state.as_deref() {
            Some("failed") => FailureOutcome::Failed,
            Some(_) => FailureOutcome::Retry,
            None => {
                self.release_publication(job).await?;
                FailureOutcome::Stale
            }
        })
    }

    /// Gives the lease back without recording anything (the row was retargeted meanwhile), so
    /// the newer target is published at once.
    pub async fn release_publication(&self, job: &ClaimedPublication) -> StoreResult<()> {
        sqlx::query!(
            "UPDATE publications SET locked_until = NULL WHERE id = $1 AND locked_until = $2",
            job.id,
            job.lease
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Seconds until the next pending job becomes claimable (due and not leased), if any;
    /// computed with the database clock, which is the one the claim uses.
    pub async fn next_publication_due_in(&self) -> StoreResult<Option<f64>> {
        Ok(sqlx::query_scalar!(
            "SELECT EXTRACT(EPOCH FROM min(GREATEST(next_attempt_at,
                        COALESCE(locked_until, next_attempt_at))) - now())::float8
             FROM publications WHERE state = 'pending'"
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Where a revision is published (or being published), for the API.
    pub async fn publications_for_revision(
        &self,
        revision_id: i64,
    ) -> StoreResult<Vec<Publication>> {
        let rows = sqlx::query!(
            "SELECT id, revision_id, registry, repository, tag, kind, state, manifest_digest,
                    attempts, last_error, next_attempt_at, published_at, created_at
             FROM publications WHERE revision_id = $1 ORDER BY registry, kind DESC, tag",
            revision_id
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Publication {
                    id: r.id,
                    revision_id: r.revision_id,
                    registry: r.registry,
                    repository: r.repository,
                    tag: r.tag,
                    kind: PublicationKind::parse(&r.kind)?,
                    state: PublicationState::parse(&r.state)?,
                    manifest_digest: r.manifest_digest,
                    attempts: r.attempts,
                    last_error: r.last_error,
                    next_attempt_at: r.next_attempt_at,
                    published_at: r.published_at,
                    created_at: r.created_at,
                })
            })
            .collect()
    }
}

/// Wakes the workers of every replica once the caller's transaction commits.
async fn notify(conn: &mut PgConnection, registries: &[RegistryConfig]) -> StoreResult<()> {
    if !registries.is_empty() {
        sqlx::query!("SELECT pg_notify($1, '')", PUBLISH_CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
