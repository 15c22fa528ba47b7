//! The overview: every persona, its channels, the revision each runs, the active canary and how
//! far the channel's agents have converged (`services::rollout::channels_status`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::{Router, routing};

use super::layout::{Chrome, nav};
use super::rollout::rollout_error;
use super::{ConsoleResult, Session};
use crate::app::AppState;
use crate::services::rollout::{self, ChannelStatus, DEFAULT_STALE_AFTER};

pub fn routes() -> Router<AppState> {
    Router::new().route("/console", routing::get(overview))
}

#[derive(Debug)]
pub struct PersonaRow {
    pub name: String,
    pub channels: Vec<ChannelStatus>,
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub chrome: Chrome,
    pub personas: Vec<PersonaRow>,
    pub stale_seconds: u64,
}

async fn overview(State(state): State<AppState>, session: Session) -> ConsoleResult<OverviewPage> {
    let principal = session.principal();
    let mut personas = Vec::new();
    for persona in state.store.personas().await? {
        let channels =
            rollout::channels_status(&state, &principal, &persona.name, DEFAULT_STALE_AFTER)
                .await
                .map_err(rollout_error)?;
        personas.push(PersonaRow {
            name: persona.name,
            channels,
        });
    }
    Ok(OverviewPage {
        chrome: session.chrome(nav::OVERVIEW),
        personas,
        stale_seconds: DEFAULT_STALE_AFTER.as_secs(),
    })
}
