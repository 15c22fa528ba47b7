//! The JSON API under `/api/v1`. One module per resource.

use axum::Router;

use crate::app::AppState;

mod channels;
pub mod decisions;
mod keys;
mod personas;
mod revisions;
mod rollouts;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(personas::routes())
        .merge(revisions::routes())
        .merge(keys::routes())
        .merge(decisions::routes())
        .merge(channels::routes())
        .merge(rollouts::routes())
}
