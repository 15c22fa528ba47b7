//! Push: an uploaded bundle (or bundle source folder) becomes a validated, stamped, signed,
//! immutable revision — or nothing at all. Identical content returns the existing revision.

use std::path::Path;

use regent_bundle::archive;
use regent_bundle::bundle::{SIGNATURES, hex};
use regent_bundle::validate::{TestReport, TestStatus};
use regent_bundle::{
    BuildError, BuildOptions, Bundle, Limits, ReadError, SignOptions, ValidateError, build_dir,
};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::app::AppState;
use crate::store::revisions::{ChannelMove, NewRevision};
use crate::store::{Store, StoreError};

/// The channel a push moves unless told otherwise. `prod` also moves when it has no revision
/// yet, so a new persona is served at once; after that prod changes only by rollout.
pub const DEFAULT_PUSH_CHANNEL: &str = "staging";

/// The entrypoint assumed when a bundle does not name one.
pub const DEFAULT_ENTRYPOINT: &str = "regent/persona/decision";

#[derive(Debug, Error)]
pub enum PushError {
    #[error("the upload is not a valid bundle: {0}")]
    Archive(#[from] ReadError),
    #[error("the uploaded source folder does not build: {0}")]
    Source(#[from] BuildError),
    #[error(
        "the bundle is for persona `{manifest}` (manifest metadata.regent.persona) but was pushed to `{persona}`"
    )]
    PersonaMismatch { persona: String, manifest: String },
    #[error("{0}")]
    Invalid(#[from] ValidateError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("internal: {0}")]
    Internal(String),
}

/// What to push.
#[derive(Debug, Clone)]
pub struct PushRequest<'a> {
    pub persona: &'a str,
    /// A bundle tar.gz, or a tar.gz of a source folder with `regent.yaml` at its root.
    pub archive: &'a [u8],
    /// Source metadata (git commit, author, repository, branch, message); stored and stamped.
    pub source: Value,
    /// Audit actor, `<role>:<token name>`.
    pub actor: &'a str,
    /// Channel to move (default `staging`).
    pub channel: Option<&'a str>,
}

/// One test's outcome, as stored in the revision's test report.
#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    pub file: String,
    pub rule: String,
    pub status: &'static str,
    pub duration_us: u128,
}

#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    pub id: i64,
    pub persona: String,
    pub revision: String,
    pub sequence: i64,
    /// False when identical content already existed (nothing stored).
    pub created: bool,
    pub content_digest: String,
    pub bundle_digest: String,
    pub size_bytes: usize,
    pub signature_kid: Option<String>,
    pub channels: Vec<String>,
    pub tests: Vec<TestOutcome>,
}

fn test_outcomes(report: &TestReport) -> Vec<TestOutcome> {
    report
        .results
        .iter()
        .map(|r| TestOutcome {
            file: r.file.clone(),
            rule: r.rule_path(),
            status: match r.status {
                TestStatus::Pass => "pass",
                TestStatus::Fail { .. } => "fail",
                TestStatus::Error { .. } => "error",
            },
            duration_us: r.duration.as_micros(),
        })
        .collect()
}

/// Unpacks the upload and turns it into an unsigned bundle for `persona`.
fn parse_upload(archive: &[u8], limits: &Limits) -> Result<Bundle, PushError> {
    let files = archive::unpack(archive, limits)?;
    if files
        .iter()
        .any(|f| f.path == regent_bundle::build::CONFIG_FILE)
    {
        // A source folder: lay it out in a private temp dir and build it as `regent bundle build`
        // would. Includes must stay inside the upload (paths were normalised by `unpack`).
        let dir = tempfile::tempdir().map_err(|e| PushError::Internal(e.to_string()))?;
        for file in &files {
            let target = dir.path().join(&file.path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| PushError::Internal(e.to_string()))?;
            }
            std::fs::write(&target, &file.bytes).map_err(|e| PushError::Internal(e.to_string()))?;
        }
        return Ok(build_dir(dir.path(), &BuildOptions::default())?);
    }
    Ok(Bundle::from_files(files, limits)?)
}

/// Checks the persona and removes any signature (the control plane signs every revision).
fn prepare(mut bundle: Bundle, persona: &str) -> Result<Bundle, PushError> {
    if let Some(found) = bundle.manifest.persona()
        && found != persona
    {
        return Err(PushError::PersonaMismatch {
            persona: persona.to_owned(),
            manifest: found.to_owned(),
        });
    }
    let mut manifest = bundle.manifest.clone();
    manifest.set_regent_field("persona", Value::String(persona.to_owned()));
    if manifest.entrypoint().is_none() {
        manifest.set_regent_field("entrypoint", Value::String(DEFAULT_ENTRYPOINT.into()));
    }
    bundle.files.retain(|f| f.path != SIGNATURES);
    Ok(bundle.with_manifest(&manifest)?)
}

/// Runs the push. CPU-heavy steps (compile, tests, signing) run on the blocking pool.
pub async fn push(state: &AppState, request: PushRequest<'_>) -> Result<PushOutcome, PushError> {
    let persona = state.store.persona(request.persona).await?;
    let limits = Limits {
        max_archive_bytes: state.config.limits.max_bundle_bytes as u64,
        ..Limits::DEFAULT
    };
    let archive_bytes = request.archive.to_vec();
    let persona_name = persona.name.clone();
    let (bundle, report) = tokio::task::spawn_blocking(move || {
        let bundle = prepare(parse_upload(&archive_bytes, &limits)?, &persona_name)?;
        let report = regent_bundle::validate(&bundle, None)?;
        Ok::<_, PushError>((bundle, report))
    })
    .await
    .map_err(|e| PushError::Internal(e.to_string()))??;
    let tests = test_outcomes(&report.tests);
    let content_digest = bundle.content_digest();

    let mut tx = state.store.pool.begin().await.map_err(StoreError::from)?;
    let sequence = Store::lock_next_sequence(&mut tx, persona.id).await?;
    if let Some(existing) = Store::revision_by_content(&mut tx, persona.id, &content_digest).await?
    {
        tx.rollback().await.map_err(StoreError::from)?;
        return Ok(PushOutcome {
            id: existing.id,
            persona: existing.persona,
            revision: existing.revision,
            sequence: existing.sequence,
            created: false,
            content_digest,
            bundle_digest: existing.bundle_digest,
            size_bytes: existing.size_bytes as usize,
            signature_kid: existing.signature_kid,
            channels: Vec::new(),
            tests,
        });
    }

    let revision = format!("{}-{sequence}", persona.name);
    let signed = stamp_and_sign(
        state,
        bundle,
        &revision,
        sequence,
        &content_digest,
        &request.source,
    )?;
    let archive = signed
        .to_archive()
        .map_err(|e| PushError::Internal(e.to_string()))?;
    let bundle_digest = hex(&Sha256::digest(&archive));
    let manifest =
        serde_json::to_value(&signed.manifest).map_err(|e| PushError::Internal(e.to_string()))?;
    let test_report = json!({
        "passed": tests.iter().filter(|t| t.status == "pass").count(),
        "failed": tests.iter().filter(|t| t.status != "pass").count(),
        "tests": tests,
    });
    let kid = state.keys.signing().kid().to_owned();
    let id = Store::insert_revision(
        &mut tx,
        &NewRevision {
            persona_id: persona.id,
            sequence,
            revision: &revision,
            content_digest: &content_digest,
            bundle_digest: &bundle_digest,
            bundle: &archive,
            manifest: &manifest,
            signature_kid: Some(&kid),
            test_report: &test_report,
            source: &request.source,
            reissue_of: None,
            created_by: request.actor,
        },
    )
    .await?;

    let mut channels = vec![request.channel.unwrap_or(DEFAULT_PUSH_CHANNEL).to_owned()];
    if channels[0] != "prod" && Store::channel_is_empty(&mut tx, persona.id, "prod").await? {
        channels.push("prod".into());
    }
    // Publications first, so the revision tag exists before a channel tag points at it.
    Store::enqueue_publications(
        &mut tx,
        id,
        &persona.name,
        &revision,
        &state.config.registries,
    )
    .await?;
    for channel in &channels {
        crate::services::channels::move_channel(
            &mut tx,
            &state.config,
            &ChannelMove {
                persona_id: persona.id,
                persona: &persona.name,
                channel,
                revision_id: id,
                actor: request.actor,
                kind: "push",
                reason: "new revision pushed",
            },
        )
        .await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    tracing::info!(persona = %persona.name, %revision, %content_digest, actor = request.actor, "revision pushed");
    Ok(PushOutcome {
        id,
        persona: persona.name,
        revision,
        sequence,
        created: true,
        content_digest,
        bundle_digest,
        size_bytes: archive.len(),
        signature_kid: Some(kid),
        channels,
        tests,
    })
}

/// Writes revision, sequence, content digest and source into the manifest, then signs (also
/// used by rollback to re-issue old content).
pub(crate) fn stamp_and_sign(
    state: &AppState,
    bundle: Bundle,
    revision: &str,
    sequence: i64,
    content_digest: &str,
    source: &Value,
) -> Result<Bundle, PushError> {
    let persona = bundle.manifest.persona().map(str::to_owned);
    let mut manifest = bundle.manifest.clone();
    manifest.revision = revision.to_owned();
    manifest.set_regent_field("sequence", json!(sequence));
    manifest.set_regent_field("content_digest", Value::String(content_digest.to_owned()));
    if source.as_object().is_some_and(|s| !s.is_empty()) {
        manifest.set_regent_field("source", source.clone());
    }
    let mut stamped = bundle.with_manifest(&manifest)?;
    regent_bundle::sign_bundle(
        &mut stamped,
        state.keys.signing(),
        &SignOptions {
            scope: persona,
            iss: Some("regent".into()),
            iat: None,
        },
    )
    .map_err(|e| PushError::Sign(e.to_string()))?;
    Ok(stamped)
}

/// Builds `dir` locally and pushes it (used by `regent up` for the shipped personas).
pub async fn push_folder(
    state: &AppState,
    persona: &str,
    dir: &Path,
    actor: &str,
) -> Result<PushOutcome, PushError> {
    let dir = dir.to_path_buf();
    let archive = tokio::task::spawn_blocking(move || {
        build_dir(&dir, &BuildOptions::default())?
            .to_archive()
            .map_err(PushError::from)
    })
    .await
    .map_err(|e| PushError::Internal(e.to_string()))??;
    state.store.ensure_persona(persona).await?;
    push(
        state,
        PushRequest {
            persona,
            archive: &archive,
            source: json!({}),
            actor,
            channel: None,
        },
    )
    .await
}
