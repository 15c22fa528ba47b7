//! Revisions (immutable, strictly increasing per persona) and the channels pointing at them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

use super::{Store, StoreError, StoreResult};

/// What lists and APIs show about a revision (no bundle bytes).
#[derive(Debug, Clone, Serialize)]
pub struct RevisionSummary {
    pub id: i64,
    pub persona: String,
    pub sequence: i64,
    pub revision: String,
    pub content_digest: String,
    pub bundle_digest: String,
    pub size_bytes: i64,
    pub signature_kid: Option<String>,
    pub source: Value,
    pub reissue_of: Option<i64>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A revision with its manifest and test report.
#[derive(Debug, Clone, Serialize)]
pub struct RevisionDetail {
    #[serde(flatten)]
    pub summary: RevisionSummary,
    pub manifest: Value,
    pub test_report: Value,
}

/// The stored signed bundle of a revision.
#[derive(Debug, Clone)]
pub struct RevisionBundle {
    pub id: i64,
    pub persona: String,
    pub revision: String,
    pub sequence: i64,
    pub bundle_digest: String,
    pub bundle: Vec<u8>,
}

/// The revision a channel points at, without the bytes (cheap, for ETag checks), with what
/// else decides per-agent assignment: the channel's active rollout and the persona's pins. It
/// is cached as one unit by `BundleWatch`, so every rollout or pin change NOTIFYs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelHead {
    pub revision_id: i64,
    pub revision: String,
    pub sequence: i64,
    pub bundle_digest: String,
    /// The channel's active rollout, if any.
    pub rollout: Option<RolloutHead>,
    /// Agents of the persona pinned to a revision (few; shared, not copied, by cache hits).
    #[serde(skip)]
    pub pins: std::sync::Arc<Vec<PinHead>>,
}

/// One revision, as assignment needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionRef {
    pub revision_id: i64,
    pub revision: String,
    pub sequence: i64,
    pub bundle_digest: String,
}

impl RevisionRef {
    /// From the columns of a `LEFT JOIN revisions`: `None` when the channel points at nothing.
    pub(crate) fn from_joined(
        revision_id: Option<i64>,
        revision: Option<String>,
        sequence: Option<i64>,
        bundle_digest: Option<String>,
    ) -> Option<RevisionRef> {
        Some(RevisionRef {
            revision_id: revision_id?,
            revision: revision?,
            sequence: sequence?,
            bundle_digest: bundle_digest?,
        })
    }
}

/// An active rollout: `candidate` for agents whose bucket is below `percentage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutHead {
    pub id: i64,
    pub percentage: i32,
    pub candidate: RevisionRef,
}

/// One agent pinned to one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinHead {
    pub agent_id: String,
    pub revision: RevisionRef,
}

impl ChannelHead {
    /// The channel's own revision.
    pub fn revision_ref(&self) -> RevisionRef {
        RevisionRef {
            revision_id: self.revision_id,
            revision: self.revision.clone(),
            sequence: self.sequence,
            bundle_digest: self.bundle_digest.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    pub name: String,
    pub revision: Option<String>,
    pub sequence: Option<i64>,
    pub frozen: bool,
    pub updated_at: DateTime<Utc>,
}

/// A revision to insert (the push service has validated, stamped and signed it).
#[derive(Debug, Clone)]
pub struct NewRevision<'a> {
    pub persona_id: i64,
    pub sequence: i64,
    pub revision: &'a str,
    pub content_digest: &'a str,
    pub bundle_digest: &'a str,
    pub bundle: &'a [u8],
    pub manifest: &'a Value,
    pub signature_kid: Option<&'a str>,
    pub test_report: &'a Value,
    pub source: &'a Value,
    pub reissue_of: Option<i64>,
    pub created_by: &'a str,
}

/// A channel pointer change and the rollout event that records it.
#[derive(Debug, Clone, Copy)]
pub struct ChannelMove<'a> {
    pub persona_id: i64,
    pub persona: &'a str,
    pub channel: &'a str,
    pub revision_id: i64,
    /// Who: `<role>:<token name>`.
    pub actor: &'a str,
    /// Event kind, e.g. `push`, `promote`, `rollback`.
    pub kind: &'a str,
    pub reason: &'a str,
}

/// A reference to a revision in a URL: its sequence number or its revision string.
fn parse_ref(reference: &str) -> (Option<i64>, &str) {
    (reference.parse::<i64>().ok(), reference)
}

impl Store {
    /// Locks the persona row for the rest of `tx` (serialises pushes per persona) and returns
    /// the next sequence number.
    pub async fn lock_next_sequence(conn: &mut PgConnection, persona_id: i64) -> StoreResult<i64> {
        sqlx::query!(
            "SELECT id FROM personas WHERE id = $1 FOR UPDATE",
            persona_id
        )
        .fetch_one(&mut *conn)
        .await?;
        let max = sqlx::query_scalar!(
            r#"SELECT COALESCE(MAX(sequence), 0) AS "max!" FROM revisions WHERE persona_id = $1"#,
            persona_id
        )
        .fetch_one(&mut *conn)
        .await?;
        Ok(max + 1)
    }

    /// The original (not re-issued) revision with this content, if any.
    pub async fn revision_by_content(
        conn: &mut PgConnection,
        persona_id: i64,
        content_digest: &str,
    ) -> StoreResult<Option<RevisionSummary>> {
        Ok(sqlx::query_as!(
            RevisionSummary,
            r#"SELECT r.id, p.name AS persona, r.sequence, r.revision, r.content_digest,
                      r.bundle_digest, r.size_bytes, r.signature_kid, r.source, r.reissue_of,
                      r.created_by, r.created_at
               FROM revisions r JOIN personas p ON p.id = r.persona_id
               WHERE r.persona_id = $1 AND r.content_digest = $2 AND r.reissue_of IS NULL"#,
            persona_id,
            content_digest
        )
        .fetch_optional(&mut *conn)
        .await?)
    }

    pub async fn insert_revision(
        conn: &mut PgConnection,
        new: &NewRevision<'_>,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar!(
            "INSERT INTO revisions (persona_id, sequence, revision, content_digest, bundle_digest,
                 bundle, size_bytes, manifest, signature_kid, test_report, source, reissue_of,
                 created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             RETURNING id",
            new.persona_id,
            new.sequence,
            new.revision,
            new.content_digest,
            new.bundle_digest,
            new.bundle,
            new.bundle.len() as i64,
            new.manifest,
            new.signature_kid,
            new.test_report,
            new.source,
            new.reissue_of,
            new.created_by
        )
        .fetch_one(&mut *conn)
        .await?)
    }

    /// Points `channel` at `revision_id`, records the rollout event and wakes long polls on every
    /// replica (NOTIFY is delivered at commit). Refuses a frozen channel.
    pub async fn move_channel(
        conn: &mut PgConnection,
        change: &ChannelMove<'_>,
    ) -> StoreResult<()> {
        let ChannelMove {
            persona_id,
            persona,
            channel,
            revision_id,
            actor,
            kind,
            reason,
        } = *change;
        let current = sqlx::query!(
            r#"SELECT c.frozen, r.revision AS "revision?"
               FROM channels c LEFT JOIN revisions r ON r.id = c.revision_id
               WHERE c.persona_id = $1 AND c.name = $2 FOR UPDATE OF c"#,
            persona_id,
            channel
        )
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("channel `{channel}` of persona `{persona}`"),
        })?;
        if current.frozen {
            return Err(StoreError::Conflict {
                detail: format!(
                    "channel `{channel}` of persona `{persona}` is frozen; nothing was stored — \
                     unfreeze it first (`regent rollout unfreeze {persona} {channel}`)"
                ),
            });
        }
        let to = sqlx::query_scalar!(
            "UPDATE channels SET revision_id = $3, updated_at = now()
             FROM revisions r WHERE channels.persona_id = $1 AND channels.name = $2 AND r.id = $3
             RETURNING r.revision",
            persona_id,
            channel,
            revision_id
        )
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query!(
            "INSERT INTO rollout_events (persona_id, channel, kind, actor, from_revision, to_revision,
                 percentage, reason)
             VALUES ($1, $2, $3, $4, $5, $6, 100, $7)",
            persona_id,
            channel,
            kind,
            actor,
            current.revision,
            to,
            reason
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            "SELECT pg_notify('regent_channels', $1)",
            format!("{persona}/{channel}")
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Whether `channel` has a revision yet.
    pub async fn channel_is_empty(
        conn: &mut PgConnection,
        persona_id: i64,
        channel: &str,
    ) -> StoreResult<bool> {
        Ok(sqlx::query_scalar!(
            r#"SELECT revision_id IS NULL AS "empty!" FROM channels WHERE persona_id = $1 AND name = $2"#,
            persona_id,
            channel
        )
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or(false))
    }

    /// The channel's revision with its active rollout and the persona's pins.
    pub async fn channel_head(
        &self,
        persona: &str,
        channel: &str,
    ) -> StoreResult<Option<ChannelHead>> {
        let Some(row) = sqlx::query!(
            r#"SELECT c.id AS channel_id, c.persona_id, r.id AS revision_id, r.revision,
                      r.sequence, r.bundle_digest
               FROM channels c JOIN personas p ON p.id = c.persona_id
               JOIN revisions r ON r.id = c.revision_id
               WHERE p.name = $1 AND c.name = $2"#,
            persona,
            channel
        )
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let rollout = sqlx::query!(
            r#"SELECT o.id, o.percentage, r.id AS revision_id, r.revision, r.sequence,
                      r.bundle_digest
               FROM rollouts o JOIN revisions r ON r.id = o.candidate_id
               WHERE o.channel_id = $1 AND o.state = 'active'"#,
            row.channel_id
        )
        .fetch_optional(&self.pool)
        .await?
        .map(|o| RolloutHead {
            id: o.id,
            percentage: o.percentage,
            candidate: RevisionRef {
                revision_id: o.revision_id,
                revision: o.revision,
                sequence: o.sequence,
                bundle_digest: o.bundle_digest,
            },
        });
        let pins = sqlx::query!(
            r#"SELECT a.agent_id, r.id AS revision_id, r.revision, r.sequence, r.bundle_digest
               FROM agent_pins a JOIN revisions r ON r.id = a.revision_id
               WHERE a.persona_id = $1 ORDER BY a.agent_id"#,
            row.persona_id
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|p| PinHead {
            agent_id: p.agent_id,
            revision: RevisionRef {
                revision_id: p.revision_id,
                revision: p.revision,
                sequence: p.sequence,
                bundle_digest: p.bundle_digest,
            },
        })
        .collect();
        Ok(Some(ChannelHead {
            revision_id: row.revision_id,
            revision: row.revision,
            sequence: row.sequence,
            bundle_digest: row.bundle_digest,
            rollout,
            pins: std::sync::Arc::new(pins),
        }))
    }

    pub async fn channels(&self, persona: &str) -> StoreResult<Vec<Channel>> {
        Ok(sqlx::query_as!(
            Channel,
            r#"SELECT c.name, r.revision AS "revision?", r.sequence AS "sequence?", c.frozen, c.updated_at
               FROM channels c JOIN personas p ON p.id = c.persona_id
               LEFT JOIN revisions r ON r.id = c.revision_id
               WHERE p.name = $1 ORDER BY c.name"#,
            persona
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn revision_bundle_by_id(&self, id: i64) -> StoreResult<RevisionBundle> {
        sqlx::query_as!(
            RevisionBundle,
            r#"SELECT r.id, p.name AS persona, r.revision, r.sequence, r.bundle_digest, r.bundle
               FROM revisions r JOIN personas p ON p.id = r.persona_id WHERE r.id = $1"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("revision {id}"),
        })
    }

    /// A persona's revisions, newest first, before sequence `before` (keyset pagination).
    pub async fn revisions(
        &self,
        persona: &str,
        limit: i64,
        before: Option<i64>,
    ) -> StoreResult<Vec<RevisionSummary>> {
        Ok(sqlx::query_as!(
            RevisionSummary,
            r#"SELECT r.id, p.name AS persona, r.sequence, r.revision, r.content_digest,
                      r.bundle_digest, r.size_bytes, r.signature_kid, r.source, r.reissue_of,
                      r.created_by, r.created_at
               FROM revisions r JOIN personas p ON p.id = r.persona_id
               WHERE p.name = $1 AND ($2::bigint IS NULL OR r.sequence < $2)
               ORDER BY r.sequence DESC LIMIT $3"#,
            persona,
            before,
            limit
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// One revision by sequence number or revision string.
    pub async fn revision(&self, persona: &str, reference: &str) -> StoreResult<RevisionDetail> {
        let (seq, name) = parse_ref(reference);
        let row = sqlx::query!(
            r#"SELECT r.id, p.name AS persona, r.sequence, r.revision, r.content_digest,
                      r.bundle_digest, r.size_bytes, r.signature_kid, r.source, r.reissue_of,
                      r.created_by, r.created_at, r.manifest, r.test_report
               FROM revisions r JOIN personas p ON p.id = r.persona_id
               WHERE p.name = $1 AND (r.sequence = $2 OR r.revision = $3)"#,
            persona,
            seq,
            name
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("revision `{reference}` of persona `{persona}`"),
        })?;
        Ok(RevisionDetail {
            summary: RevisionSummary {
                id: row.id,
                persona: row.persona,
                sequence: row.sequence,
                revision: row.revision,
                content_digest: row.content_digest,
                bundle_digest: row.bundle_digest,
                size_bytes: row.size_bytes,
                signature_kid: row.signature_kid,
                source: row.source,
                reissue_of: row.reissue_of,
                created_by: row.created_by,
                created_at: row.created_at,
            },
            manifest: row.manifest,
            test_report: row.test_report,
        })
    }

    /// The signed bundle bytes of one revision.
    pub async fn revision_bundle(
        &self,
        persona: &str,
        reference: &str,
    ) -> StoreResult<RevisionBundle> {
        let (seq, name) = parse_ref(reference);
        sqlx::query_as!(
            RevisionBundle,
            r#"SELECT r.id, p.name AS persona, r.revision, r.sequence, r.bundle_digest, r.bundle
               FROM revisions r JOIN personas p ON p.id = r.persona_id
               WHERE p.name = $1 AND (r.sequence = $2 OR r.revision = $3)"#,
            persona,
            seq,
            name
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("revision `{reference}` of persona `{persona}`"),
        })
    }
}
