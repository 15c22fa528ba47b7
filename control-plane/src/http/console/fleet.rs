//! The fleet: every agent with its persona, channel, active revision, last contact, errors and
//! decision-log counters (from its last status report); and the rollout event log.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::{Router, routing};
use regent_protocol::StatusReportV1;
use serde::Deserialize;

use super::layout::{Chrome, nav};
use super::{ConsoleResult, Session};
use crate::app::AppState;
use crate::store::console::FleetAgent;
use crate::store::personas::Persona;
use crate::store::rollouts::RolloutEvent;

/// Agents shown on one fleet page.
const FLEET_LIMIT: i64 = 500;
/// Events per page of the event log.
const EVENTS_PAGE: i64 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/fleet", routing::get(fleet))
        .route("/console/events", routing::get(events))
}

#[derive(Debug, Deserialize)]
pub struct FleetQuery {
    persona: Option<String>,
    before: Option<i64>,
}

/// An agent with the decision-log counters of its last status report.
#[derive(Debug)]
pub struct AgentView {
    pub agent: FleetAgent,
    /// Events in the memory queue (Regent agents only).
    pub queued: Option<u64>,
    /// Events in the disk spool (Regent agents only).
    pub spooled: Option<u64>,
    /// Events dropped, all causes (Regent agents and OPA's counters).
    pub dropped: Option<u64>,
}

impl AgentView {
    fn new(agent: FleetAgent) -> AgentView {
        let report = serde_json::from_value::<StatusReportV1>(agent.last_status.clone()).ok();
        let logs = report
            .as_ref()
            .and_then(|r| r.regent.as_ref())
            .map(|r| r.decision_logs);
        let dropped = report.as_ref().map(|r| {
            let d = r.decision_log_drops();
            d.decision_logs_dropped_rate_limit_exceeded
                + d.decision_logs_dropped_buffer_size_limit_exceeded
                + d.decision_logs_dropped_buffer_size_limit_bytes_exceeded
                + d.decision_logs_encoding_failure
                + d.decision_logs_dropped_spool_size_limit_exceeded
        });
        AgentView {
            queued: logs.map(|l| l.queue_length),
            spooled: logs.map(|l| l.spool_events),
            dropped,
            agent,
        }
    }
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "fleet.html")]
pub struct FleetPage {
    pub chrome: Chrome,
    pub personas: Vec<Persona>,
    pub persona: String,
    pub agents: Vec<AgentView>,
    pub limit: i64,
}

fn persona_filter(persona: Option<&String>) -> Option<&str> {
    persona.map(String::as_str).filter(|p| !p.is_empty())
}

async fn fleet(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<FleetQuery>,
) -> ConsoleResult<FleetPage> {
    let filter = persona_filter(q.persona.as_ref());
    let agents = state
        .store
        .fleet(filter, FLEET_LIMIT)
        .await?
        .into_iter()
        .map(AgentView::new)
        .collect();
    Ok(FleetPage {
        chrome: session.chrome(nav::FLEET),
        personas: state.store.personas().await?,
        persona: filter.unwrap_or("").to_owned(),
        agents,
        limit: FLEET_LIMIT,
    })
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "events.html")]
pub struct EventsPage {
    pub chrome: Chrome,
    pub personas: Vec<Persona>,
    pub persona: String,
    pub events: Vec<RolloutEvent>,
    /// The `before` of the next (older) page.
    pub next_before: Option<i64>,
}

async fn events(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<FleetQuery>,
) -> ConsoleResult<EventsPage> {
    let filter = persona_filter(q.persona.as_ref());
    let events = state
        .store
        .all_rollout_events(filter, EVENTS_PAGE, q.before)
        .await?;
    let next_before = (events.len() as i64 == EVENTS_PAGE)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(EventsPage {
        chrome: session.chrome(nav::EVENTS),
        personas: state.store.personas().await?,
        persona: filter.unwrap_or("").to_owned(),
        events,
        next_before,
    })
}
