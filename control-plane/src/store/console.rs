//! The console's own tables: user accounts and signed-in sessions, plus the read-only queries
//! behind the overview and fleet pages.
//!
//! Sessions are looked up by the SHA-256 of the cookie value; the role comes from the user or
//! token row on every lookup, so disabling a user or revoking a token ends its sessions.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{Store, StoreError, StoreResult};
use crate::auth::Role;

/// A console user account (never carries the password hash out of the store except for
/// verification).
#[derive(Debug, Clone)]
pub struct ConsoleUser {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

/// Who a live session belongs to.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The user's or the token's id.
    pub principal_id: Uuid,
    /// `true` for a user account, `false` for an API token.
    pub is_user: bool,
    pub name: String,
    pub role: Role,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Idle and absolute lifetimes of a session, seconds.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub idle_seconds: i64,
    pub absolute_seconds: i64,
}

/// One agent as the fleet page shows it.
#[derive(Debug, Clone)]
pub struct FleetAgent {
    pub id: String,
    pub persona: Option<String>,
    pub channel: Option<String>,
    pub active_revision: Option<String>,
    pub active_sequence: Option<i64>,
    pub last_error: Option<String>,
    pub last_status: Value,
    pub last_seen_at: DateTime<Utc>,
}

fn parse_role(role: &str) -> StoreResult<Role> {
    role.parse()
        .map_err(|detail| StoreError::Invalid { detail })
}

impl Store {
    /// Creates a user account with an already-hashed password.
    pub async fn create_console_user(
        &self,
        name: &str,
        role: Role,
        password_hash: &str,
        created_by: &str,
    ) -> StoreResult<Uuid> {
        let id = Uuid::now_v7();
        sqlx::query!(
            "INSERT INTO console_users (id, name, role, password_hash, created_by)
             VALUES ($1, $2, $3, $4, $5)",
            id,
            name,
            role.as_str(),
            password_hash,
            created_by
        )
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// An enabled user account by name.
    pub async fn console_user(&self, name: &str) -> StoreResult<Option<ConsoleUser>> {
        let row = sqlx::query!(
            "SELECT id, name, role, password_hash FROM console_users
             WHERE name = $1 AND disabled_at IS NULL",
            name
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ConsoleUser {
                id: r.id,
                name: r.name,
                role: parse_role(&r.role)?,
                password_hash: r.password_hash,
            })
        })
        .transpose()
    }

    /// Disables an account and ends its sessions; returns whether one was disabled.
    pub async fn disable_console_user(&self, name: &str) -> StoreResult<bool> {
        let done = sqlx::query!(
            "UPDATE console_users SET disabled_at = now() WHERE name = $1 AND disabled_at IS NULL",
            name
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Starts a session for a user (`is_user`) or token `principal_id`.
    pub async fn create_console_session(
        &self,
        id_hash: &[u8],
        principal_id: Uuid,
        is_user: bool,
        csrf_token: &str,
        limits: SessionLimits,
    ) -> StoreResult<()> {
        let (user_id, token_id) = if is_user {
            (Some(principal_id), None)
        } else {
            (None, Some(principal_id))
        };
        // Expired sessions are swept here, so the table stays as small as the live set.
        sqlx::query!("DELETE FROM console_sessions WHERE expires_at < now()")
            .execute(&self.pool)
            .await?;
        sqlx::query!(
            "INSERT INTO console_sessions (id_hash, user_id, token_id, csrf_token, expires_at)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
            id_hash,
            user_id,
            token_id,
            csrf_token,
            limits.absolute_seconds as f64
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session with this id hash: not past its absolute expiry, used within the idle
    /// limit, and its user enabled or token unrevoked. Refreshes `last_seen_at`.
    pub async fn console_session(
        &self,
        id_hash: &[u8],
        limits: SessionLimits,
    ) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query!(
            r#"WITH s AS (
                   UPDATE console_sessions SET last_seen_at = now()
                   WHERE id_hash = $1 AND expires_at > now()
                     AND last_seen_at > now() - make_interval(secs => $2)
                   RETURNING user_id, token_id, csrf_token, expires_at
               )
               SELECT COALESCE(u.id, t.id) AS "principal_id!",
                      (s.user_id IS NOT NULL) AS "is_user!",
                      COALESCE(u.name, t.name) AS "name!",
                      COALESCE(u.role, t.role) AS "role!",
                      s.csrf_token AS "csrf_token!", s.expires_at AS "expires_at!"
               FROM s
               LEFT JOIN console_users u ON u.id = s.user_id AND u.disabled_at IS NULL
               LEFT JOIN api_tokens t ON t.id = s.token_id AND t.revoked_at IS NULL
               WHERE u.id IS NOT NULL OR t.id IS NOT NULL"#,
            id_hash,
            limits.idle_seconds as f64
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let role = parse_role(&r.role)?;
        if role == Role::Agent {
            // Never issued (sign-in refuses agent tokens); refuse it anyway.
            return Ok(None);
        }
        Ok(Some(SessionRecord {
            principal_id: r.principal_id,
            is_user: r.is_user,
            name: r.name,
            role,
            csrf_token: r.csrf_token,
            expires_at: r.expires_at,
        }))
    }

    /// Ends a session (sign-out).
    pub async fn delete_console_session(&self, id_hash: &[u8]) -> StoreResult<()> {
        sqlx::query!("DELETE FROM console_sessions WHERE id_hash = $1", id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every agent, most recently seen first, optionally of one persona.
    pub async fn fleet(&self, persona: Option<&str>, limit: i64) -> StoreResult<Vec<FleetAgent>> {
        Ok(sqlx::query_as!(
            FleetAgent,
            r#"SELECT a.id, p.name AS "persona?", a.channel, a.active_revision, a.active_sequence,
                      a.last_error, a.last_status, a.last_seen_at
               FROM agents a LEFT JOIN personas p ON p.id = a.persona_id
               WHERE $1::text IS NULL OR p.name = $1
               ORDER BY a.last_seen_at DESC, a.id
               LIMIT $2"#,
            persona,
            limit
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

/// A revision as the persona page lists it.
#[derive(Debug, Clone)]
pub struct RevisionRow {
    pub id: i64,
    pub sequence: i64,
    pub revision: String,
    pub bundle_digest: String,
    pub signature_kid: Option<String>,
    pub source: Value,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub tests_passed: Option<i64>,
    pub tests_failed: Option<i64>,
    pub reissue_of: Option<String>,
}

/// Where a revision is published.
#[derive(Debug, Clone)]
pub struct PublicationRow {
    pub revision_id: i64,
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub kind: String,
    pub state: String,
    pub manifest_digest: Option<String>,
}

impl Store {
    /// A persona's newest revisions with their test counts and what they re-issue.
    pub async fn persona_revisions(
        &self,
        persona: &str,
        limit: i64,
    ) -> StoreResult<Vec<RevisionRow>> {
        Ok(sqlx::query_as!(
            RevisionRow,
            r#"SELECT r.id, r.sequence, r.revision, r.bundle_digest, r.signature_kid, r.source,
                      r.created_by, r.created_at,
                      (r.test_report->>'passed')::bigint AS "tests_passed?",
                      (r.test_report->>'failed')::bigint AS "tests_failed?",
                      o.revision AS "reissue_of?"
               FROM revisions r JOIN personas p ON p.id = r.persona_id
               LEFT JOIN revisions o ON o.id = r.reissue_of
               WHERE p.name = $1 ORDER BY r.sequence DESC LIMIT $2"#,
            persona,
            limit
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The OCI publications of these revisions.
    pub async fn publications_of(&self, revision_ids: &[i64]) -> StoreResult<Vec<PublicationRow>> {
        Ok(sqlx::query_as!(
            PublicationRow,
            "SELECT revision_id, registry, repository, tag, kind, state, manifest_digest
             FROM publications WHERE revision_id = ANY($1)
             ORDER BY registry, kind DESC, tag",
            revision_ids
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The rollout event log across personas (or of one), newest first, keyset paged by id.
    pub async fn all_rollout_events(
        &self,
        persona: Option<&str>,
        limit: i64,
        before: Option<i64>,
    ) -> StoreResult<Vec<crate::store::rollouts::RolloutEvent>> {
        Ok(sqlx::query_as!(
            crate::store::rollouts::RolloutEvent,
            r#"SELECT e.id, p.name AS persona, e.channel, e.kind, e.actor, e.from_revision,
                      e.to_revision, e.percentage, e.reason, e.details, e.created_at
               FROM rollout_events e JOIN personas p ON p.id = e.persona_id
               WHERE ($1::text IS NULL OR p.name = $1) AND ($2::bigint IS NULL OR e.id < $2)
               ORDER BY e.id DESC LIMIT $3"#,
            persona,
            before,
            limit
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
