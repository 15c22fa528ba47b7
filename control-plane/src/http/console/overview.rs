//! The overview: every persona, its channels, the revision each runs and how far the channel's
//! agents have converged on it.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::{Router, routing};

use super::layout::{Chrome, Ts, nav};
use super::{ConsoleResult, Session};
use crate::app::AppState;
use crate::store::console::OverviewChannel;

/// Agents silent for longer than this count as stale.
pub const STALE_AFTER_SECONDS: i64 = 300;

pub fn routes() -> Router<AppState> {
    Router::new().route("/console", routing::get(overview))
}

#[derive(Debug)]
pub struct ChannelRow {
    pub name: String,
    pub revision: Option<String>,
    pub sequence: Option<i64>,
    pub digest: Option<String>,
    pub frozen: bool,
    pub updated: Option<Ts>,
    pub agents: i64,
    pub on_target: i64,
    pub stale: i64,
    pub erroring: i64,
}

impl ChannelRow {
    /// Whole percent of the channel's agents on its revision (`None` without agents).
    pub fn converged_percent(&self) -> Option<i64> {
        (self.agents > 0).then(|| self.on_target * 100 / self.agents)
    }
}

#[derive(Debug)]
pub struct PersonaRow {
    pub name: String,
    pub channels: Vec<ChannelRow>,
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub chrome: Chrome,
    pub personas: Vec<PersonaRow>,
    pub stale_minutes: i64,
}

/// Groups the store's rows (ordered by persona) into personas.
pub fn group(rows: Vec<OverviewChannel>) -> Vec<PersonaRow> {
    let mut personas: Vec<PersonaRow> = Vec::new();
    for row in rows {
        if personas.last().is_none_or(|p| p.name != row.persona) {
            personas.push(PersonaRow {
                name: row.persona.clone(),
                channels: Vec::new(),
            });
        }
        let Some(channel) = row.channel else { continue };
        if let Some(persona) = personas.last_mut() {
            persona.channels.push(ChannelRow {
                name: channel,
                revision: row.revision,
                sequence: row.sequence,
                digest: row.bundle_digest,
                frozen: row.frozen,
                updated: row.updated_at.map(Ts),
                agents: row.agents,
                on_target: row.on_target,
                stale: row.stale,
                erroring: row.erroring,
            });
        }
    }
    personas
}

async fn overview(State(state): State<AppState>, session: Session) -> ConsoleResult<OverviewPage> {
    let rows = state.store.overview(STALE_AFTER_SECONDS).await?;
    Ok(OverviewPage {
        chrome: session.chrome(nav::OVERVIEW),
        personas: group(rows),
        stale_minutes: STALE_AFTER_SECONDS / 60,
    })
}
