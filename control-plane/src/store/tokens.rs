//! API tokens: stored hashed, looked up by hash, revocable.

use serde::Serialize;
use uuid::Uuid;

use super::{Store, StoreError, StoreResult};
use crate::auth::{Principal, Role, hash_token, token_display_prefix};

#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub role: String,
    pub persona: Option<String>,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Store {
    /// Stores a new token (only its hash) and returns its id.
    pub async fn create_token(
        &self,
        token: &str,
        name: &str,
        role: Role,
        persona: Option<&str>,
        created_by: &str,
    ) -> StoreResult<Uuid> {
        let persona_id = match persona {
            Some(name) => Some(self.persona(name).await?.id),
            None => None,
        };
        let id = Uuid::now_v7();
        sqlx::query!(
            "INSERT INTO api_tokens (id, name, prefix, token_hash, role, persona_id, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            id,
            name,
            token_display_prefix(token),
            hash_token(token),
            role.as_str(),
            persona_id,
            created_by
        )
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// The principal for a presented token, if it is known and not revoked.
    pub async fn authenticate(&self, token: &str) -> StoreResult<Option<Principal>> {
        // `last_used_at` is written at most once a minute per token, so hot paths (bundle
        // polls) stay read-only.
        let row = sqlx::query!(
            r#"WITH t AS (
                   SELECT id, name, role, persona_id, last_used_at FROM api_tokens
                   WHERE token_hash = $1 AND revoked_at IS NULL
               ), touched AS (
                   UPDATE api_tokens SET last_used_at = now()
                   WHERE id IN (SELECT id FROM t WHERE last_used_at IS NULL
                                OR last_used_at < now() - interval '60 seconds')
               )
               SELECT t.id AS "id!", t.name AS "name!", t.role AS "role!", p.name AS "persona?"
               FROM t LEFT JOIN personas p ON p.id = t.persona_id"#,
            hash_token(token)
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(Principal {
                token_id: r.id,
                name: r.name,
                role: r
                    .role
                    .parse()
                    .map_err(|detail| StoreError::Invalid { detail })?,
                persona: r.persona,
            }),
            None => None,
        })
    }

    /// Revokes by id or by name; returns how many tokens were revoked.
    pub async fn revoke_token(&self, id_or_name: &str) -> StoreResult<u64> {
        let id = Uuid::parse_str(id_or_name).ok();
        let done = sqlx::query!(
            "UPDATE api_tokens SET revoked_at = now()
             WHERE revoked_at IS NULL AND (id = $1 OR name = $2)",
            id,
            id_or_name
        )
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: format!("active token `{id_or_name}`"),
            });
        }
        Ok(done.rows_affected())
    }

    pub async fn tokens(&self) -> StoreResult<Vec<TokenInfo>> {
        Ok(sqlx::query_as!(
            TokenInfo,
            r#"SELECT t.id, t.name, t.prefix, t.role, p.name AS "persona?", t.created_by,
                      t.created_at, t.revoked_at, t.last_used_at
               FROM api_tokens t LEFT JOIN personas p ON p.id = t.persona_id
               ORDER BY t.created_at"#
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
