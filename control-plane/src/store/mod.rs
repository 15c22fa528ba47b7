//! All SQL lives here. Each submodule owns one resource; queries are compile-time checked
//! (`sqlx::query!`, offline data in `.sqlx/`). Named constraints map to typed errors.

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use thiserror::Error;

pub mod agents;
pub mod audit;
pub mod console;
pub mod logs;
pub mod personas;
pub mod publications;
pub mod revisions;
pub mod rollouts;
pub mod stats;
pub mod tokens;

/// The migrations in `migrations/`, embedded.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A store error the HTTP edge maps to a status: not found → 404, conflict → 409,
/// invalid → 422, anything else → 500 (detail logged, not shown).
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{detail}")]
    Conflict { detail: String },
    #[error("{detail}")]
    Invalid { detail: String },
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && let Some(constraint) = db.constraint()
        {
            return match constraint {
                "personas_name_key" => StoreError::Conflict {
                    detail: "a persona with this name already exists".into(),
                },
                "personas_name_check" => StoreError::Invalid {
                    detail: "persona names are 1–63 characters of `a-z`, `0-9` and `-`, starting with a letter".into(),
                },
                "channels_name_check" => StoreError::Invalid {
                    detail: "channel names are 1–31 characters of `a-z`, `0-9` and `-`, starting with a letter".into(),
                },
                "revisions_persona_sequence_key" | "revisions_persona_content_key" => {
                    StoreError::Conflict {
                        detail: "a concurrent push stored this revision first; retry".into(),
                    }
                }
                "rollouts_one_active" => StoreError::Conflict {
                    detail: "the channel already has an active rollout; promote or abort it first"
                        .into(),
                },
                "rollouts_percentage_check" => StoreError::Invalid {
                    detail: "percentage must be between 1 and 100".into(),
                },
                "agent_pins_agent_check" => StoreError::Invalid {
                    detail: "agent ids are 1–256 characters".into(),
                },
                "api_tokens_agent_persona_check" => StoreError::Invalid {
                    detail: "agent tokens need a persona; other roles must not have one".into(),
                },
                "console_users_name_key" => StoreError::Conflict {
                    detail: "a console user with this name already exists".into(),
                },
                "console_users_name_check" => StoreError::Invalid {
                    detail: "user names are 1–63 characters of `a-z`, `0-9`, `.`, `_` and `-`, starting with a letter".into(),
                },
                "api_tokens_role_check" => StoreError::Invalid {
                    detail: "role must be one of admin, publisher, auditor, agent".into(),
                },
                _ => StoreError::Database(e),
            };
        }
        if matches!(e, sqlx::Error::RowNotFound) {
            return StoreError::NotFound { what: "row".into() };
        }
        StoreError::Database(e)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The database handle shared by every request.
#[derive(Debug, Clone)]
pub struct Store {
    pub pool: PgPool,
}

impl Store {
    /// Connects a pool (does not migrate).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(Store { pool })
    }

    pub fn from_pool(pool: PgPool) -> Store {
        Store { pool }
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.pool).await
    }

    /// Readiness: can we run a query?
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query_scalar!("SELECT 1 AS \"one!\"")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }
}
