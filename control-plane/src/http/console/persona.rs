//! Personas: the list, one persona (channels, revisions with digest, sequence, source, signer,
//! tests and OCI references), a revision's policy source, and a diff between two revisions.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::{Router, routing};
use regent_bundle::Limits;
use serde::Deserialize;
use serde_json::Value;

use super::layout::{Chrome, nav};
use super::{ConsoleError, ConsoleResult, Session};
use crate::app::AppState;
use crate::services::diff::{self, FileStatus};
use crate::services::rollout::{self, ChannelStatus, DEFAULT_STALE_AFTER};
use crate::store::console::{PublicationRow, RevisionRow};
use crate::store::personas::Persona;

/// Revisions listed on a persona's page.
const REVISIONS_SHOWN: i64 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/personas", routing::get(list))
        .route("/console/personas/{persona}", routing::get(persona_page))
        .route(
            "/console/personas/{persona}/revisions/{revision}",
            routing::get(revision_page),
        )
        .route("/console/personas/{persona}/diff", routing::get(diff_page))
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "personas.html")]
pub struct PersonasPage {
    pub chrome: Chrome,
    pub personas: Vec<Persona>,
}

async fn list(State(state): State<AppState>, session: Session) -> ConsoleResult<PersonasPage> {
    Ok(PersonasPage {
        chrome: session.chrome(nav::PERSONAS),
        personas: state.store.personas().await?,
    })
}

/// One OCI reference of a revision.
#[derive(Debug, Clone)]
pub struct OciRef {
    /// `host/repository:tag`.
    pub reference: String,
    pub state: String,
    pub digest: Option<String>,
}

#[derive(Debug)]
pub struct RevisionView {
    pub row: RevisionRow,
    pub oci: Vec<OciRef>,
}

impl RevisionView {
    /// A string field of the push's source metadata (`commit`, `author`, …).
    pub fn source(&self, key: &str) -> Option<&str> {
        self.row.source.get(key).and_then(Value::as_str)
    }
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "persona.html")]
pub struct PersonaPage {
    pub chrome: Chrome,
    pub persona: Persona,
    pub channels: Vec<ChannelStatus>,
    pub revisions: Vec<RevisionView>,
}

fn oci_refs(state: &AppState, rows: Vec<PublicationRow>) -> HashMap<i64, Vec<OciRef>> {
    let hosts: HashMap<&str, &str> = state
        .config
        .registries
        .iter()
        .map(|r| (r.name.as_str(), r.host.as_str()))
        .collect();
    let mut out: HashMap<i64, Vec<OciRef>> = HashMap::new();
    for p in rows {
        let host = hosts
            .get(p.registry.as_str())
            .copied()
            .unwrap_or(&p.registry);
        out.entry(p.revision_id).or_default().push(OciRef {
            reference: format!("{host}/{}:{}", p.repository, p.tag),
            state: p.state,
            digest: p.manifest_digest,
        });
    }
    out
}

async fn persona_page(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
) -> ConsoleResult<PersonaPage> {
    let persona = state.store.persona(&name).await?;
    let channels =
        rollout::channels_status(&state, &session.principal(), &name, DEFAULT_STALE_AFTER)
            .await
            .map_err(super::rollout::rollout_error)?;
    let rows = state
        .store
        .persona_revisions(&name, REVISIONS_SHOWN)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut oci = oci_refs(&state, state.store.publications_of(&ids).await?);
    let revisions = rows
        .into_iter()
        .map(|row| RevisionView {
            oci: oci.remove(&row.id).unwrap_or_default(),
            row,
        })
        .collect();
    Ok(PersonaPage {
        chrome: session.chrome(nav::PERSONAS),
        persona,
        channels,
        revisions,
    })
}

/// One file of a revision's bundle.
#[derive(Debug)]
pub struct SourceFile {
    pub path: String,
    /// `None` for binary content.
    pub text: Option<String>,
    pub size: usize,
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "revision.html")]
pub struct RevisionPage {
    pub chrome: Chrome,
    pub persona: String,
    pub revision: String,
    pub sequence: i64,
    pub digest: String,
    pub files: Vec<SourceFile>,
}

fn read(bytes: &[u8]) -> ConsoleResult<regent_bundle::Bundle> {
    regent_bundle::read_bundle(bytes, &Limits::DEFAULT).map_err(|e| ConsoleError::internal(&e))
}

async fn revision_page(
    State(state): State<AppState>,
    session: Session,
    Path((persona, revision)): Path<(String, String)>,
) -> ConsoleResult<RevisionPage> {
    let stored = state.store.revision_bundle(&persona, &revision).await?;
    let bundle = read(&stored.bundle)?;
    let files = bundle
        .files
        .iter()
        .map(|f| SourceFile {
            path: f.path.clone(),
            text: String::from_utf8(f.bytes.clone()).ok(),
            size: f.bytes.len(),
        })
        .collect();
    Ok(RevisionPage {
        chrome: session.chrome(nav::PERSONAS),
        persona,
        revision: stored.revision,
        sequence: stored.sequence,
        digest: stored.bundle_digest,
        files,
    })
}

#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

/// One line of a unified diff with its CSS class (`add`, `del`, `hunk` or empty).
#[derive(Debug)]
pub struct DiffLine {
    pub class: &'static str,
    pub text: String,
}

#[derive(Debug)]
pub struct FileView {
    pub path: String,
    pub status: &'static str,
    pub added: usize,
    pub removed: usize,
    pub lines: Vec<DiffLine>,
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "diff.html")]
pub struct DiffPage {
    pub chrome: Chrome,
    pub persona: String,
    pub revisions: Vec<RevisionRow>,
    pub from: String,
    pub to: String,
    /// `None` until both revisions are chosen.
    pub files: Option<Vec<FileView>>,
    pub unchanged: usize,
}

async fn diff_page(
    State(state): State<AppState>,
    session: Session,
    Path(persona): Path<String>,
    Query(query): Query<DiffQuery>,
) -> ConsoleResult<DiffPage> {
    state.store.persona(&persona).await?;
    let revisions = state.store.persona_revisions(&persona, 200).await?;
    let from = query.from.unwrap_or_default();
    let to = query.to.unwrap_or_default();
    let (mut files, mut unchanged) = (None, 0);
    if !from.is_empty() && !to.is_empty() {
        let a = state.store.revision_bundle(&persona, &from).await?;
        let b = state.store.revision_bundle(&persona, &to).await?;
        let d = diff::diff(
            &a.revision,
            &read(&a.bundle)?,
            &b.revision,
            &read(&b.bundle)?,
        );
        unchanged = d.unchanged;
        files = Some(
            d.files
                .into_iter()
                .map(|f| FileView {
                    status: match f.status {
                        FileStatus::Added => "added",
                        FileStatus::Removed => "removed",
                        FileStatus::Modified => "modified",
                    },
                    added: f.lines_added,
                    removed: f.lines_removed,
                    lines: f
                        .unified
                        .unwrap_or_else(|| "(binary file)".into())
                        .lines()
                        .map(|l| DiffLine {
                            class: if l.starts_with("@@") {
                                "hunk"
                            } else if l.starts_with('+') && !l.starts_with("+++") {
                                "add"
                            } else if l.starts_with('-') && !l.starts_with("---") {
                                "del"
                            } else {
                                ""
                            },
                            text: l.to_owned(),
                        })
                        .collect(),
                    path: f.path,
                })
                .collect(),
        );
    }
    Ok(DiffPage {
        chrome: session.chrome(nav::PERSONAS),
        persona,
        revisions,
        from,
        to,
        files,
        unchanged,
    })
}
