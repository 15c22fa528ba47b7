//! The rollout page of one persona's channel: what it runs, the active canary, convergence, and
//! the controls — start a canary, raise it, promote, abort, roll back, freeze, unfreeze.
//!
//! Every control is two POSTs, without JavaScript: the first renders a confirmation page that
//! names what will change; its "Confirm" button posts the same fields plus `confirm=yes`, which
//! calls the rollout service (`services::rollout`) and redirects back with the new event shown.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{self, MethodRouter};
use axum::{Router, http::StatusCode};
use serde::Deserialize;

use super::layout::{Chrome, nav};
use super::{ConsoleError, ConsoleResult, Mutation, Session};
use crate::app::AppState;
use crate::services::rollout::{
    self, Candidate, ChannelStatus, DEFAULT_STALE_AFTER, EventQuery, RolloutError,
};
use crate::store::revisions::RevisionSummary;
use crate::store::rollouts::RolloutEvent;

const BASE: &str = "/console/personas/{persona}/channels/{channel}";

pub fn routes() -> Router<AppState> {
    Router::new().route(BASE, routing::get(page))
}

/// The controls, each a POST under the channel's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Canary,
    Percentage,
    Promote,
    Abort,
    Rollback,
    Freeze,
    Unfreeze,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Canary,
        Action::Percentage,
        Action::Promote,
        Action::Abort,
        Action::Rollback,
        Action::Freeze,
        Action::Unfreeze,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Action::Canary => "/console/personas/{persona}/channels/{channel}/canary",
            Action::Percentage => "/console/personas/{persona}/channels/{channel}/percentage",
            Action::Promote => "/console/personas/{persona}/channels/{channel}/promote",
            Action::Abort => "/console/personas/{persona}/channels/{channel}/abort",
            Action::Rollback => "/console/personas/{persona}/channels/{channel}/rollback",
            Action::Freeze => "/console/personas/{persona}/channels/{channel}/freeze",
            Action::Unfreeze => "/console/personas/{persona}/channels/{channel}/unfreeze",
        }
    }

    pub fn slug(self) -> &'static str {
        self.path().rsplit('/').next().unwrap_or("")
    }

    pub fn title(self) -> &'static str {
        match self {
            Action::Canary => "Start a canary",
            Action::Percentage => "Change the canary percentage",
            Action::Promote => "Promote the canary",
            Action::Abort => "Abort the canary",
            Action::Rollback => "Roll back",
            Action::Freeze => "Freeze the channel",
            Action::Unfreeze => "Unfreeze the channel",
        }
    }
}

/// The mutating routes of this page, for `console::mutations`.
pub fn mutations() -> Vec<(&'static str, MethodRouter<AppState>)> {
    Action::ALL
        .into_iter()
        .map(|action| {
            let handler = move |state: State<AppState>,
                                path: Path<(String, String)>,
                                mutation: Mutation<ActionForm>| {
                act(action, state, path, mutation)
            };
            (action.path(), routing::post(handler))
        })
        .collect()
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    pub revision: String,
    #[serde(default)]
    pub percentage: String,
    #[serde(default)]
    pub reason: String,
    /// `yes` on the confirmation page's button.
    pub confirm: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// The event just written by a confirmed action.
    changed: Option<i64>,
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "rollout.html")]
pub struct RolloutPage {
    pub chrome: Chrome,
    pub persona: String,
    pub channel: ChannelStatus,
    /// Other channels with a revision: `(name, revision)`.
    pub other_channels: Vec<(String, String)>,
    pub revisions: Vec<RevisionSummary>,
    pub events: Vec<RolloutEvent>,
    pub changed: Option<RolloutEvent>,
}

impl RolloutPage {
    /// Revisions other than the channel's own (rollback / canary targets).
    pub fn other_revisions(&self) -> Vec<&RevisionSummary> {
        self.revisions
            .iter()
            .filter(|r| Some(&r.revision) != self.channel.revision.as_ref())
            .collect()
    }
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "a `map_err` function: the error arrives by value"
)]
pub(super) fn rollout_error(e: RolloutError) -> ConsoleError {
    let status = e.status();
    if status.is_server_error() {
        return ConsoleError::internal(&e);
    }
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        _ => "Refused",
    };
    ConsoleError::page(status, title, e.to_string())
}

/// The channel, and the persona's other channels that run a revision (`(name, revision)`:
/// "promote what staging runs" candidates).
async fn channel_status(
    state: &AppState,
    session: &Session,
    persona: &str,
    channel: &str,
) -> ConsoleResult<(ChannelStatus, Vec<(String, String)>)> {
    let all = rollout::channels_status(state, &session.principal(), persona, DEFAULT_STALE_AFTER)
        .await
        .map_err(rollout_error)?;
    let others = all
        .iter()
        .filter(|c| c.name != channel)
        .filter_map(|c| c.revision.clone().map(|r| (c.name.clone(), r)))
        .collect();
    let this = all.into_iter().find(|c| c.name == channel).ok_or_else(|| {
        ConsoleError::not_found(format!("persona `{persona}` has no channel `{channel}`"))
    })?;
    Ok((this, others))
}

/// Form value prefix choosing "whatever channel X runs" instead of a revision.
const CHANNEL_PREFIX: &str = "channel:";

/// The canary candidate chosen in the form, and how to name it (`hr-bot-7` or
/// `hr-bot-7 (what staging runs)`).
fn candidate(
    form: &ActionForm,
    others: &[(String, String)],
) -> ConsoleResult<(Candidate, String, String)> {
    let chosen = require_revision(form)?;
    match chosen.strip_prefix(CHANNEL_PREFIX) {
        Some(channel) => {
            let revision = others
                .iter()
                .find(|(name, _)| name == channel)
                .map(|(_, r)| r.clone())
                .ok_or_else(|| {
                    ConsoleError::conflict(format!(
                        "channel `{channel}` runs no revision to promote"
                    ))
                })?;
            Ok((
                Candidate::Channel(channel.to_owned()),
                format!("{revision} (what {channel} runs)"),
                revision,
            ))
        }
        None => Ok((
            Candidate::Revision(chosen.to_owned()),
            chosen.to_owned(),
            chosen.to_owned(),
        )),
    }
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Path((persona, channel)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> ConsoleResult<RolloutPage> {
    let (status, other_channels) = channel_status(&state, &session, &persona, &channel).await?;
    let revisions = state.store.revisions(&persona, 100, None).await?;
    let events = rollout::events(
        &state,
        &session.principal(),
        &persona,
        &EventQuery {
            channel: Some(channel.clone()),
            limit: Some(20),
            before: None,
        },
    )
    .await
    .map_err(rollout_error)?
    .events;
    let changed = query
        .changed
        .and_then(|id| events.iter().find(|e| e.id == id).cloned());
    Ok(RolloutPage {
        chrome: session.chrome(nav::PERSONAS),
        persona,
        channel: status,
        other_channels,
        revisions,
        events,
        changed,
    })
}

/// What the confirmation page says will happen.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub persona: String,
    pub channel: String,
    pub title: &'static str,
    pub action_url: String,
    pub cancel_url: String,
    /// Sentences naming the change, split into `(is_code, text)` pieces: the service's
    /// `` `name` `` quoting becomes `<code>`.
    pub changes: Vec<Vec<(bool, String)>>,
    /// The policy diff between what the channel runs and what it will run.
    pub diff_url: Option<String>,
    pub form: ActionForm,
    pub danger: bool,
}

/// Splits on backticks: odd pieces were quoted.
fn code_pieces(sentence: &str) -> Vec<(bool, String)> {
    sentence
        .split('`')
        .enumerate()
        .filter(|(_, piece)| !piece.is_empty())
        .map(|(i, piece)| (i % 2 == 1, piece.to_owned()))
        .collect()
}

fn parse_percentage(raw: &str) -> ConsoleResult<i64> {
    let value: i64 = raw.trim().parse().map_err(|_| {
        ConsoleError::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Refused",
            format!("percentage `{raw}` is not a whole number from 1 to 100"),
        )
    })?;
    if !(1..=100).contains(&value) {
        return Err(ConsoleError::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Refused",
            format!("percentage `{value}` is outside 1 to 100"),
        ));
    }
    Ok(value)
}

fn require_revision(form: &ActionForm) -> ConsoleResult<&str> {
    let revision = form.revision.trim();
    if revision.is_empty() {
        return Err(ConsoleError::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Refused",
            "choose a revision",
        ));
    }
    Ok(revision)
}

/// The sentences of the confirmation page; refuses what cannot work before asking.
fn describe(
    action: Action,
    status: &ChannelStatus,
    others: &[(String, String)],
    form: &ActionForm,
) -> ConsoleResult<Vec<String>> {
    let name = &status.name;
    let current = status.revision.clone().unwrap_or_else(|| "nothing".into());
    let agents = status.agents.total;
    let frozen = || {
        ConsoleError::conflict(format!(
            "channel `{name}` is frozen; nothing can change until it is unfrozen"
        ))
    };
    let rollout = status.rollout.as_ref();
    Ok(match action {
        Action::Canary => {
            if status.frozen {
                return Err(frozen());
            }
            let (_, revision, _) = candidate(form, others)?;
            let percentage = parse_percentage(&form.percentage)?;
            vec![
                format!("Start a canary of `{revision}` on channel `{name}` at {percentage}%."),
                format!(
                    "About {percentage}% of the channel's {agents} agent(s) move from `{current}` to `{revision}`; the others stay on `{current}`."
                ),
            ]
        }
        Action::Percentage => {
            let percentage = parse_percentage(&form.percentage)?;
            let Some(r) = rollout else {
                return Err(ConsoleError::conflict(format!(
                    "channel `{name}` has no active canary"
                )));
            };
            vec![format!(
                "Change the canary of `{}` on `{name}` from {}% to {percentage}% of {agents} agent(s).",
                r.candidate, r.percentage
            )]
        }
        Action::Promote => {
            let Some(r) = rollout else {
                return Err(ConsoleError::conflict(format!(
                    "channel `{name}` has no active canary"
                )));
            };
            vec![
                format!(
                    "Channel `{name}` moves from `{current}` to `{}`.",
                    r.candidate
                ),
                format!(
                    "All {agents} agent(s) on `{name}` get `{}`; the channel's OCI tag moves with it.",
                    r.candidate
                ),
            ]
        }
        Action::Abort => {
            let Some(r) = rollout else {
                return Err(ConsoleError::conflict(format!(
                    "channel `{name}` has no active canary"
                )));
            };
            vec![format!(
                "End the canary of `{}`: the {}% in the canary go back to `{current}`.",
                r.candidate, r.percentage
            )]
        }
        Action::Rollback => {
            let revision = require_revision(form)?;
            if form.reason.trim().is_empty() {
                return Err(ConsoleError::page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Refused",
                    "a reason is required to roll back; say why (it goes into the event log)",
                ));
            }
            vec![
                format!(
                    "Re-issue the content of `{revision}` as a new, higher revision of the persona."
                ),
                format!(
                    "Channel `{name}` moves from `{current}` to that new revision; all {agents} agent(s) converge to it."
                ),
            ]
        }
        Action::Freeze => vec![format!(
            "Freeze channel `{name}`: no canary, promotion or rollback until it is unfrozen. It keeps serving `{current}`."
        )],
        Action::Unfreeze => vec![format!(
            "Unfreeze channel `{name}`: changes are allowed again. Nothing moves now."
        )],
    })
}

async fn act(
    action: Action,
    State(state): State<AppState>,
    Path((persona, channel)): Path<(String, String)>,
    Mutation { session, form }: Mutation<ActionForm>,
) -> ConsoleResult<Response> {
    let (status, others) = channel_status(&state, &session, &persona, &channel).await?;
    let page_url = format!("/console/personas/{persona}/channels/{channel}");
    if form.confirm.as_deref() != Some("yes") {
        let changes = describe(action, &status, &others, &form)?;
        // What the agents' policy becomes, as a diff against what they run now.
        let target = match action {
            Action::Canary => candidate(&form, &others).ok().map(|(_, _, r)| r),
            Action::Rollback => Some(form.revision.trim().to_owned()),
            Action::Promote => status.rollout.as_ref().map(|r| r.candidate.clone()),
            _ => None,
        };
        let diff_url = match (&status.revision, target) {
            (Some(from), Some(to)) if *from != to => Some(format!(
                "/console/personas/{persona}/diff?{}",
                serde_urlencoded::to_string([("from", from.as_str()), ("to", to.as_str())])
                    .unwrap_or_default()
            )),
            _ => None,
        };
        return Ok(ConfirmPage {
            diff_url,
            chrome: session.chrome(nav::PERSONAS),
            action_url: format!("{page_url}/{}", action.slug()),
            cancel_url: page_url,
            persona,
            channel,
            title: action.title(),
            changes: changes.iter().map(|c| code_pieces(c)).collect(),
            danger: matches!(action, Action::Rollback | Action::Abort),
            form,
        }
        .into_response());
    }
    let actor = session.principal();
    let reason = form.reason.as_str();
    let (p, c) = (persona.as_str(), channel.as_str());
    let change = match action {
        Action::Canary => {
            let (candidate, _, _) = candidate(&form, &others)?;
            let percentage = parse_percentage(&form.percentage)?;
            rollout::start(&state, &actor, p, c, &candidate, percentage, reason).await
        }
        Action::Percentage => {
            let percentage = parse_percentage(&form.percentage)?;
            rollout::set_percentage(&state, &actor, p, c, percentage, reason).await
        }
        Action::Promote => rollout::promote(&state, &actor, p, c, reason).await,
        Action::Abort => rollout::abort(&state, &actor, p, c, reason).await,
        Action::Rollback => {
            let to = require_revision(&form)?;
            rollout::rollback(&state, &actor, p, c, to, reason)
                .await
                .map(|outcome| outcome.change)
        }
        Action::Freeze => rollout::freeze(&state, &actor, p, c, reason).await,
        Action::Unfreeze => rollout::unfreeze(&state, &actor, p, c, reason).await,
    }
    .map_err(rollout_error)?;
    Ok(Redirect::to(&format!("{page_url}?changed={}", change.event_id)).into_response())
}
