//! The activation pipeline, off the hot path: bytes → digest check → unpack → verify → sequence check →
//! compile → warm → an immutable [`Snapshot`] ready to be swapped in.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use regent_bundle::validate::{self, ValidateError};
use regent_bundle::{Limits, ReadError, TrustedKeys, VerifyError, read_bundle, verify_bundle};
use regorus::Engine;
use regorus::utils::limits::ExecutionTimerConfig;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

/// Why a bundle was not activated. The active snapshot is kept in every case.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ActivationError {
    #[error(
        "bundle digest mismatch: the source announced sha256 `{expected}` but the bytes hash to `{got}`"
    )]
    DigestMismatch { expected: String, got: String },
    #[error("bundle refused: {0}")]
    Read(#[from] ReadError),
    #[error("signature refused: {0}")]
    Verify(#[from] VerifyError),
    #[error("bundle is for persona `{found}`, not `{expected}`")]
    WrongPersona { expected: String, found: String },
    #[error(
        "bundle has no `metadata.regent.sequence`; only bundles stamped by the control plane can be activated"
    )]
    MissingSequence,
    #[error(
        "replayed bundle refused: sequence {sequence} is older than the active sequence {active}"
    )]
    Replay { sequence: u64, active: u64 },
    #[error(
        "bundle refused: sequence {sequence} is already active with different content; revisions only move forward"
    )]
    SequenceConflict { sequence: u64 },
    #[error("policy does not compile: {0}")]
    Compile(#[from] ValidateError),
    #[error(
        "the bundle names no decision entrypoint and none is configured for persona `{persona}`"
    )]
    NoEntrypoint { persona: String },
    #[error("{0}")]
    Source(String),
}

impl ActivationError {
    /// Short machine-readable kind, for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::DigestMismatch { .. } => "digest",
            Self::Read(_) => "read",
            Self::Verify(_) => "signature",
            Self::WrongPersona { .. } => "persona",
            Self::MissingSequence | Self::Replay { .. } | Self::SequenceConflict { .. } => {
                "sequence"
            }
            Self::Compile(_) | Self::NoEntrypoint { .. } => "compile",
            Self::Source(_) => "source",
        }
    }
}

/// Where an active bundle came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The control plane's bundle API, with the ETag it sent.
    ControlPlane { etag: Option<String> },
    /// An OCI registry: reference and manifest digest.
    Oci {
        reference: String,
        manifest_digest: String,
    },
    /// A local file.
    File { path: String },
    /// The last-known-good copy on disk.
    Disk { etag: Option<String> },
    /// Handed to [`crate::Agent::activate`] directly.
    Api,
}

impl Origin {
    /// The ETag to send as `If-None-Match` while this bundle is active.
    pub fn etag(&self) -> Option<&str> {
        match self {
            Origin::ControlPlane { etag } | Origin::Disk { etag } => etag.as_deref(),
            _ => None,
        }
    }

    /// OPA's bundle status `type`-like label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::ControlPlane { .. } => "control_plane",
            Origin::Oci { .. } => "oci",
            Origin::File { .. } => "file",
            Origin::Disk { .. } => "disk",
            Origin::Api => "api",
        }
    }
}

/// One activated, immutable policy: what every decision of its generation evaluates.
#[derive(Debug)]
pub struct Snapshot {
    pub persona: String,
    /// The `.manifest` revision, e.g. `hr-bot-12`.
    pub revision: String,
    /// `metadata.regent.sequence`.
    pub sequence: u64,
    /// What the policy does (the bundle crate's content digest); re-stamped rollbacks keep it.
    pub content_digest: String,
    /// SHA-256 (hex) of the archive bytes: the control plane's ETag and the OCI layer digest.
    pub bundle_digest: String,
    /// Unique per snapshot in this process; keys the per-thread engine caches.
    pub generation: u64,
    pub activated_at: DateTime<Utc>,
    /// Bytes of the archive.
    pub size: u64,
    pub origin: Origin,
    /// `regent/persona/decision`.
    pub entrypoint: String,
    /// Time spent compiling and warming, for status metrics.
    pub compile_time: Duration,
    /// `data.regent.persona.decision`.
    pub(crate) rule: String,
    /// Compiled, prepared and warmed; cloned (cheaply, shared internals) by each deciding thread.
    pub(crate) engine: Engine,
}

/// What activation checks a bundle against.
#[derive(Debug, Clone)]
pub struct VerifyPolicy {
    pub keys: TrustedKeys,
    /// No keys and an explicit opt-out: signatures are not checked.
    pub insecure_skip_verify: bool,
    pub limits: Limits,
    pub time_limit: Duration,
}

/// Input to one activation attempt.
#[derive(Debug)]
pub struct Candidate<'a> {
    pub persona: &'a str,
    pub archive: &'a [u8],
    /// The digest the source announced (ETag, OCI layer digest), when it did.
    pub expected_digest: Option<&'a str>,
    pub origin: Origin,
    /// A configured entrypoint overrides the manifest's.
    pub entrypoint: Option<&'a str>,
    /// Evaluated once before the swap.
    pub warm_input: &'a regorus::Value,
}

/// Result of [`prepare`].
#[derive(Debug)]
pub enum Prepared {
    /// A new snapshot, ready to store.
    New(Box<Snapshot>),
    /// Same bytes, or the same sequence with the same content: nothing to do.
    Unchanged,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// How many interpreter work units (expressions, rule bodies, loop iterations) pass between two reads of
/// the clock for the evaluation time limit. Reading it on every unit cost ~4.5 % of a persona decision;
/// 64 units are a few microseconds of work, far below any useful limit.
const TIMER_CHECK_INTERVAL: NonZeroU32 = match NonZeroU32::new(64) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

/// SHA-256 hex of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    regent_bundle::bundle::hex(&Sha256::digest(bytes))
}

/// `"<hex>"`, `W/"sha256:<hex>"`, … → the bare lower-case hex, when it is one.
pub fn digest_from_etag(etag: &str) -> Option<String> {
    let tag = etag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
    let hex = tag
        .strip_prefix("sha256:")
        .unwrap_or(tag)
        .to_ascii_lowercase();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// Runs every check in order — digest, unpack, signature, persona, sequence, compile — and warms the engine.
/// Verification comes before anything interprets the policy.
pub fn prepare(
    candidate: &Candidate<'_>,
    policy: &VerifyPolicy,
    active: Option<&Snapshot>,
) -> Result<Prepared, ActivationError> {
    let started = Instant::now();
    let bundle_digest = sha256_hex(candidate.archive);
    if let Some(expected) = candidate.expected_digest
        && !expected.eq_ignore_ascii_case(&bundle_digest)
    {
        return Err(ActivationError::DigestMismatch {
            expected: expected.to_owned(),
            got: bundle_digest,
        });
    }
    if active.is_some_and(|a| a.bundle_digest == bundle_digest) {
        return Ok(Prepared::Unchanged);
    }
    let bundle = read_bundle(candidate.archive, &policy.limits)?;
    if policy.keys.is_empty() && policy.insecure_skip_verify {
        tracing::warn!(
            persona = candidate.persona,
            "activating a bundle WITHOUT signature verification (insecure_skip_verify)"
        );
    } else {
        verify_bundle(&bundle, &policy.keys, Some(candidate.persona))?;
    }
    if let Some(found) = bundle.manifest.persona()
        && found != candidate.persona
    {
        return Err(ActivationError::WrongPersona {
            expected: candidate.persona.to_owned(),
            found: found.to_owned(),
        });
    }
    let sequence = bundle
        .manifest
        .sequence()
        .ok_or(ActivationError::MissingSequence)?;
    let content_digest = bundle.content_digest();
    if let Some(active) = active {
        if sequence < active.sequence {
            return Err(ActivationError::Replay {
                sequence,
                active: active.sequence,
            });
        }
        if sequence == active.sequence {
            if content_digest == active.content_digest {
                return Ok(Prepared::Unchanged);
            }
            return Err(ActivationError::SequenceConflict { sequence });
        }
    }
    let entrypoint = candidate
        .entrypoint
        .or(bundle.manifest.entrypoint())
        .ok_or_else(|| ActivationError::NoEntrypoint {
            persona: candidate.persona.to_owned(),
        })?
        .to_owned();
    let mut compiled = validate::compile(&bundle)?;
    compiled.check_entrypoint(&entrypoint)?;
    compiled
        .engine
        .set_execution_timer_config(ExecutionTimerConfig {
            limit: policy.time_limit,
            check_interval: TIMER_CHECK_INTERVAL,
        });
    let rule = format!(
        "data.{}",
        regent_bundle::path::segments(&entrypoint).join(".")
    );
    let mut engine = compiled.engine;
    warm(&mut engine, &rule, candidate.warm_input);
    Ok(Prepared::New(Box::new(Snapshot {
        persona: candidate.persona.to_owned(),
        revision: bundle.manifest.revision,
        sequence,
        content_digest,
        bundle_digest,
        generation: GENERATION.fetch_add(1, Ordering::Relaxed),
        activated_at: Utc::now(),
        size: candidate.archive.len() as u64,
        origin: candidate.origin.clone(),
        entrypoint,
        compile_time: started.elapsed(),
        rule,
        engine,
    })))
}

/// Evaluates the entrypoint once on a representative input, so the template the threads clone has done its
/// one-time preparation for this rule. The result does not matter; a failure only means a colder first call.
fn warm(engine: &mut Engine, rule: &str, input: &regorus::Value) {
    engine.set_input(input.clone());
    if let Err(e) = engine.eval_rule(rule.to_owned()) {
        tracing::debug!(error = %e, "warm-up evaluation failed");
    }
    engine.set_input(regorus::Value::new_object());
}

/// The built-in warm-up input: a plausible tool call for `persona`.
pub fn default_warm_input(persona: &str) -> regorus::Value {
    let json = serde_json::json!({
        "agent": {"id": "regent-warmup", "persona": persona, "labels": {}},
        "user": {"id": "warmup", "roles": ["employee"], "attributes": {"org": "warmup"}},
        "action": {
            "kind": "tool_call",
            "tool": {"name": "warmup.noop", "args": {}},
            "resource": {"type": "warmup", "id": "w-1", "fields": ["name"]}
        },
        "context": {"time": "2026-01-01T00:00:00Z", "approvals": [], "usage": {"tool_calls_last_minute": 0, "tool_calls_last_hour": 0}}
    });
    regorus::Value::from(json)
}
