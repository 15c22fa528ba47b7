//! Bearer-token authentication for every API route.
//!
//! Successful lookups are cached for a few seconds (keyed by the token's hash) so hot paths
//! such as bundle polling do not hit the database on every request; a revoked token stops
//! working within [`CACHE_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::app::AppState;
use crate::auth::{Principal, hash_token};

/// How long a verified token is trusted without asking the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// Upper bound on cached tokens; the cache is cleared when it is reached.
const CACHE_CAP: usize = 10_000;

#[derive(Debug, Default)]
pub struct AuthCache {
    entries: Mutex<HashMap<Vec<u8>, (Instant, Principal)>>,
}

impl AuthCache {
    fn get(&self, hash: &[u8]) -> Option<Principal> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(hash)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, p)| p.clone())
    }

    fn put(&self, hash: Vec<u8>, principal: Principal) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_CAP {
                entries.clear();
            }
            entries.insert(hash, (Instant::now(), principal));
        }
    }

    /// Forgets every cached token (after a revocation on this replica).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// The authenticated caller. Rejects with 401 when the token is missing, malformed, unknown
/// or revoked.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("missing `Authorization: Bearer <token>` header")
        })?;
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("`Authorization` header is not ASCII"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("`Authorization` header must be `Bearer <token>`")
            })?;
        let hash = hash_token(token);
        if let Some(principal) = state.auth_cache.get(&hash) {
            return Ok(Auth(principal));
        }
        let principal = state
            .store
            .authenticate(token)
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))?;
        state.auth_cache.put(hash, principal.clone());
        Ok(Auth(principal))
    }
}

impl Auth {
    /// Admin or publisher.
    pub fn require_publisher(&self) -> Result<&Principal, ApiError> {
        if self.0.can_publish() {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(format!(
                "role `{}` cannot change anything; a publisher or admin token is required",
                self.0.role
            )))
        }
    }

    /// Admin only.
    pub fn require_admin(&self) -> Result<&Principal, ApiError> {
        if self.0.role == crate::auth::Role::Admin {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(format!(
                "role `{}` cannot do this; an admin token is required",
                self.0.role
            )))
        }
    }

    /// Admin, publisher or auditor.
    pub fn require_reader(&self) -> Result<&Principal, ApiError> {
        if self.0.can_read_all() {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(format!(
                "role `{}` cannot read this; an auditor, publisher or admin token is required",
                self.0.role
            )))
        }
    }

    /// Any role, but an agent only for its own persona.
    pub fn require_persona(&self, persona: &str) -> Result<&Principal, ApiError> {
        if self.0.may_act_for(persona) {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(format!(
                "this agent token is for persona `{}`, not `{persona}`",
                self.0.persona.as_deref().unwrap_or("?")
            )))
        }
    }
}
