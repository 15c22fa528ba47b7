//! Personas and their channels.

use serde::Serialize;

use super::{Store, StoreError, StoreResult};

/// Channels every persona starts with.
pub const DEFAULT_CHANNELS: [&str; 2] = ["staging", "prod"];

#[derive(Debug, Clone, Serialize)]
pub struct Persona {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl Store {
    /// Creates a persona with the default channels, or returns the existing one.
    pub async fn ensure_persona(&self, name: &str) -> StoreResult<Persona> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "INSERT INTO personas (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
            name
        )
        .execute(&mut *tx)
        .await?;
        let persona = sqlx::query_as!(
            Persona,
            "SELECT id, name, description, created_at FROM personas WHERE name = $1",
            name
        )
        .fetch_one(&mut *tx)
        .await?;
        add_default_channels(&mut tx, persona.id).await?;
        tx.commit().await?;
        Ok(persona)
    }

    /// Creates a persona with the default channels; an existing name is a conflict.
    pub async fn create_persona(&self, name: &str, description: &str) -> StoreResult<Persona> {
        let mut tx = self.pool.begin().await?;
        let persona = sqlx::query_as!(
            Persona,
            "INSERT INTO personas (name, description) VALUES ($1, $2)
             RETURNING id, name, description, created_at",
            name,
            description
        )
        .fetch_one(&mut *tx)
        .await?;
        add_default_channels(&mut tx, persona.id).await?;
        tx.commit().await?;
        Ok(persona)
    }

    pub async fn persona(&self, name: &str) -> StoreResult<Persona> {
        sqlx::query_as!(
            Persona,
            "SELECT id, name, description, created_at FROM personas WHERE name = $1",
            name
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("persona `{name}`"),
        })
    }

    pub async fn personas(&self) -> StoreResult<Vec<Persona>> {
        Ok(sqlx::query_as!(
            Persona,
            "SELECT id, name, description, created_at FROM personas ORDER BY name"
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Gives a persona the default channels (existing ones are kept).
async fn add_default_channels(conn: &mut sqlx::PgConnection, persona_id: i64) -> StoreResult<()> {
    for channel in DEFAULT_CHANNELS {
        sqlx::query!(
            "INSERT INTO channels (persona_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            persona_id,
            channel
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
