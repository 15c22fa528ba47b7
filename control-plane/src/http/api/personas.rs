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
        .route("/api/v1/personas", get(list))
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

async fn show(
    State(state): State<AppState>,
    auth: Auth,
    Path(persona): Path<String>,
) -> ApiResult<Json<Persona>> {
    auth.require_persona(&persona)?;
    Ok(Json(state.store.persona(&persona).await?))
}
