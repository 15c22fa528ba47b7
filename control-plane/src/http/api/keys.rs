//! `GET /api/v1/keys`: the public keys agents and OPAs should trust, as a JWKS (plus PEM).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/keys", get(keys))
}

/// Public: public keys are not secrets, and agents need them before they hold any token.
async fn keys(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let active = state.keys.signing().kid().to_owned();
    let mut keys = Vec::new();
    for key in state.keys.trusted().iter() {
        let mut jwk = key.to_jwk().map_err(|e| ApiError::internal(&e))?;
        jwk["x-regent-state"] = Value::String(
            if key.kid() == active {
                "active"
            } else {
                "verify_only"
            }
            .into(),
        );
        jwk["x-regent-pem"] = Value::String(key.to_pem());
        jwk["x-regent-fingerprint"] = Value::String(key.fingerprint());
        keys.push(jwk);
    }
    Ok(Json(json!({ "keys": keys })))
}
