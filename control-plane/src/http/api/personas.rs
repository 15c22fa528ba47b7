//! `GET /api/v1/personas`: personas and their channels.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::app::AppState;
use crate::http::auth::Auth;
use crate::http::error::ApiResult;
use crate::store::personas::Persona;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/personas", get(list).post(create))
        .route("/api/v1/personas/{persona}", get(show))
}

#[derive(Serialize)]
struct PersonaList {
    personas: Vec<Persona>,
}

async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<PersonaList>> {
    auth.require_reader()?;
    Ok(Json(PersonaList {
        personas: state.store.personas().await?,
    }))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPersona {
    name: String,
    #[serde(default)]
    description: String,
}

/// Creates a persona with channels `staging` and `prod` (admin). Existing → 409.
async fn create(
    State(state): State<AppState>,
    auth: Auth,
    body: Result<Json<NewPersona>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(axum::http::StatusCode, Json<Persona>)> {
    auth.require_admin()?;
    let Json(new) =
        body.map_err(|e| crate::http::error::ApiError::bad_request("invalid_json", e.body_text()))?;
    let persona = state
        .store
        .create_persona(&new.name, &new.description)
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(persona)))
}

async fn show(
    State(state): State<AppState>,
    auth: Auth,
    Path(persona): Path<String>,
) -> ApiResult<Json<Persona>> {
    auth.require_persona(&persona)?;
    Ok(Json(state.store.persona(&persona).await?))
}
