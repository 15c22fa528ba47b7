//! The [`Agent`]: one slot per persona (an `ArcSwapOption<Snapshot>`), the synchronous fail-closed `decide`,
//! activation (verify → compile → warm → swap → persist), and the background tasks (`run`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use regent_protocol::{
    AgentActionV1, BundleInfoV1, DecisionEventV1, DecisionV1, ReasonV1, reason_code,
};
use serde_json::{Value as Json, json};
use thiserror::Error;
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use crate::config::{AgentConfig, ConfigError, SourceConfig, seconds};
use crate::decide::{self, Decision, EngineReuse, Outcome};
use crate::logs::{LogCounters, LogQueue, Spool};
use crate::metrics::PersonaMetrics;
use crate::snapshot::{
    ActivationError, Candidate, Origin, Prepared, Snapshot, VerifyPolicy, default_warm_input,
    prepare,
};
use crate::{lkg, metrics};

/// The version reported in `labels.version`.
pub const VERSION: &str = concat!("regent-agent/", env!("CARGO_PKG_VERSION"));

/// Why an agent could not be built or a call was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot prepare state folder `{path}`: {detail}")]
    StateDir { path: String, detail: String },
    #[error("persona `{0}` is not configured on this agent")]
    UnknownPersona(String),
    #[error(transparent)]
    Activation(#[from] ActivationError),
}

/// The result of a successful activation call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activation {
    /// A new snapshot is live.
    Activated { revision: String, sequence: u64 },
    /// The bundle is the active one (same bytes, or same sequence and content).
    Unchanged,
}

/// The last bundle error, as status reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleError {
    pub message: String,
    pub http_code: Option<u16>,
}

/// What status reports about a persona's bundle (OPA's bundle status fields).
#[derive(Debug, Clone, Default)]
pub struct BundleState {
    pub last_successful_activation: Option<DateTime<Utc>>,
    pub last_successful_download: Option<DateTime<Utc>>,
    pub last_successful_request: Option<DateTime<Utc>>,
    pub last_request: Option<DateTime<Utc>>,
    /// Bytes of the last download.
    pub size: Option<u64>,
    /// The last failure; cleared by the next success.
    pub error: Option<BundleError>,
    /// Digest of the last refused bundle: the same bytes are not verified again.
    pub rejected_digest: Option<String>,
}

/// One persona's slot and pipeline.
#[derive(Debug)]
pub struct PersonaRuntime {
    pub name: String,
    /// The agent id reported for this persona (`labels.id`).
    pub agent_id: String,
    /// Unique in the process; keys the per-thread engine caches.
    pub(crate) slot: u64,
    pub(crate) snapshot: ArcSwapOption<Snapshot>,
    pub(crate) logs: Option<LogQueue>,
    pub(crate) token: Option<String>,
    pub(crate) source: SourceConfig,
    pub(crate) entrypoint: Option<String>,
    pub(crate) warm_input: regorus::Value,
    pub(crate) state: Mutex<BundleState>,
    /// Serialises activations so the sequence check and the swap are atomic together.
    activation: Mutex<()>,
    /// Poked on every change status should report.
    pub(crate) changed: Arc<Notify>,
    pub metrics: PersonaMetrics,
    pub(crate) dir: PathBuf,
    pub(crate) labels: BTreeMap<String, String>,
}

impl PersonaRuntime {
    /// The active snapshot.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot.load_full()
    }

    pub fn bundle_state(&self) -> BundleState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn update_state(&self, f: impl FnOnce(&mut BundleState)) {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_one();
    }

    pub fn log_counters(&self) -> Option<&Arc<LogCounters>> {
        self.logs.as_ref().map(|l| &l.counters)
    }

    pub fn log_queue(&self) -> Option<&LogQueue> {
        self.logs.as_ref()
    }
}

pub(crate) struct Inner {
    pub(crate) config: AgentConfig,
    pub(crate) personas: Vec<Arc<PersonaRuntime>>,
    pub(crate) policy: VerifyPolicy,
    reuse: std::sync::atomic::AtomicU8,
    /// Receivers of the log queues, taken by `run`.
    pub(crate) receivers: Mutex<Vec<(usize, mpsc::Receiver<Box<DecisionEventV1>>)>>,
}

/// An agent for one or more personas. Cheap to clone; share it across threads.
#[derive(Clone)]
pub struct Agent {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field(
                "personas",
                &self
                    .inner
                    .personas
                    .iter()
                    .map(|p| &p.name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

static SLOTS: AtomicU64 = AtomicU64::new(1);

impl Agent {
    /// Builds the agent and activates each persona's last-known-good disk copy (re-verified), so decisions are
    /// served before any network access. Background work starts with [`Agent::run`].
    pub fn new(config: AgentConfig) -> Result<Agent, AgentError> {
        config.validate()?;
        let keys = config.trusted_keys()?;
        if keys.is_empty() {
            tracing::warn!(
                "NO TRUSTED KEYS: insecure_skip_verify is set, bundles are activated WITHOUT signature verification; never run like this in production"
            );
        }
        let policy = VerifyPolicy {
            keys,
            insecure_skip_verify: config.insecure_skip_verify,
            limits: config.bundle_limits.limits(),
            time_limit: seconds(config.evaluation.time_limit_seconds),
        };
        let logs_enabled = config.decision_logs.enabled && config.server.is_some();
        let mut personas = Vec::new();
        let mut receivers = Vec::new();
        for (index, pc) in config.personas.iter().enumerate() {
            let dir = lkg::persona_dir(&config.state_dir, &pc.name);
            std::fs::create_dir_all(&dir).map_err(|e| AgentError::StateDir {
                path: dir.display().to_string(),
                detail: e.to_string(),
            })?;
            let agent_id = config.agent_id_of(pc);
            let logs = if logs_enabled {
                let counters = Arc::new(LogCounters::default());
                let spool_dir = config.state_dir.join("spool").join(&pc.name);
                let spool = Spool::open(
                    &spool_dir,
                    config.decision_logs.spool_max_bytes,
                    config.decision_logs.spool_segment_bytes,
                    counters.clone(),
                )
                .map_err(|e| AgentError::StateDir {
                    path: spool_dir.display().to_string(),
                    detail: e.to_string(),
                })?;
                let (queue, rx) = LogQueue::new(
                    config.decision_logs.queue_capacity,
                    Arc::new(spool),
                    counters,
                );
                receivers.push((index, rx));
                Some(queue)
            } else {
                None
            };
            let warm_input = match &pc.warm_input {
                Some(path) => {
                    let bytes = std::fs::read(path).map_err(|e| ConfigError::Invalid {
                        field: format!("personas.{}.warm_input", pc.name),
                        detail: format!("cannot read `{}`: {e}", path.display()),
                    })?;
                    let json: Json =
                        serde_json::from_slice(&bytes).map_err(|e| ConfigError::Invalid {
                            field: format!("personas.{}.warm_input", pc.name),
                            detail: e.to_string(),
                        })?;
                    regorus::Value::from(json)
                }
                None => default_warm_input(&pc.name),
            };
            let mut labels = config.labels.clone();
            labels.insert("id".into(), agent_id.clone());
            labels.insert("version".into(), VERSION.into());
            labels.insert("persona".into(), pc.name.clone());
            personas.push(Arc::new(PersonaRuntime {
                name: pc.name.clone(),
                agent_id,
                slot: SLOTS.fetch_add(1, Ordering::Relaxed),
                snapshot: ArcSwapOption::empty(),
                logs,
                token: config.token_of(pc)?,
                source: config.source_of(pc),
                entrypoint: pc.entrypoint.clone(),
                warm_input,
                state: Mutex::new(BundleState::default()),
                activation: Mutex::new(()),
                changed: Arc::new(Notify::new()),
                metrics: PersonaMetrics::default(),
                dir,
                labels,
            }));
        }
        let agent = Agent {
            inner: Arc::new(Inner {
                config,
                personas,
                policy,
                reuse: std::sync::atomic::AtomicU8::new(0),
                receivers: Mutex::new(receivers),
            }),
        };
        agent.load_disk_copies();
        Ok(agent)
    }

    /// Loads every persona's last-known-good copy (read, verify, compile, warm), on as many threads as
    /// there are cores and personas (the calling thread is one of them, and the only one for one persona
    /// or one core): the personas are independent, and this is most of a cold start.
    fn load_disk_copies(&self) {
        let personas = &self.inner.personas;
        let workers = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(personas.len());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = || {
            while let Some(rt) = personas.get(next.fetch_add(1, Ordering::Relaxed)) {
                self.load_disk_copy(rt);
            }
        };
        std::thread::scope(|scope| {
            for _ in 1..workers {
                // A thread that cannot be created (a process or cgroup limit) leaves its share to the others.
                if let Err(e) = std::thread::Builder::new()
                    .name("regent-load".into())
                    .spawn_scoped(scope, work)
                {
                    tracing::warn!(error = %e, "cannot start a thread to load disk copies; loading them with fewer");
                    break;
                }
            }
            work();
        });
    }

    /// Chooses how deciding threads get engines (the default is [`EngineReuse::PerCall`]); applies to every
    /// clone of this agent.
    pub fn set_engine_reuse(&self, reuse: EngineReuse) {
        let value = match reuse {
            EngineReuse::PerCall => 0,
            EngineReuse::PerThread => 1,
        };
        self.inner.reuse.store(value, Ordering::Relaxed);
    }

    fn engine_reuse(&self) -> EngineReuse {
        match self.inner.reuse.load(Ordering::Relaxed) {
            1 => EngineReuse::PerThread,
            _ => EngineReuse::PerCall,
        }
    }

    pub fn config(&self) -> &AgentConfig {
        &self.inner.config
    }

    /// The personas, in configuration order.
    pub fn personas(&self) -> &[Arc<PersonaRuntime>] {
        &self.inner.personas
    }

    pub fn persona(&self, name: &str) -> Option<&Arc<PersonaRuntime>> {
        self.inner.personas.iter().find(|p| p.name == name)
    }

    fn load_disk_copy(&self, rt: &Arc<PersonaRuntime>) {
        let loaded = match lkg::load(&rt.dir) {
            Ok(Some(loaded)) => loaded,
            Ok(None) => return,
            Err(e) => {
                self.disk_refused(rt, &format!("cannot read: {e}"));
                return;
            }
        };
        let (archive, meta) = loaded;
        if meta.is_none() {
            tracing::warn!(persona = %rt.name, "last-known-good metadata is missing or does not match the bundle; verifying the bundle alone");
        }
        let origin = Origin::Disk {
            etag: meta.as_ref().and_then(|m| m.etag.clone()),
        };
        match self.activate_from(rt, &archive, None, origin, false) {
            Ok(Activation::Activated { revision, sequence }) => {
                tracing::info!(persona = %rt.name, %revision, sequence, "serving the last-known-good bundle from disk");
            }
            Ok(Activation::Unchanged) => {}
            Err(e) => self.disk_refused(rt, &e.to_string()),
        }
    }

    fn disk_refused(&self, rt: &PersonaRuntime, detail: &str) {
        let message = format!(
            "last-known-good copy in `{}` refused: {detail}; denying until a good bundle arrives",
            rt.dir.display()
        );
        tracing::error!(persona = %rt.name, "{message}");
        rt.metrics.activation_failed("disk");
        rt.update_state(|s| {
            s.error = Some(BundleError {
                message,
                http_code: None,
            });
        });
    }

    // ---- decisions ------------------------------------------------------------------------------------------

    /// Decides `input` with the policy of its persona (`input.agent.persona`). Never fails: without a valid
    /// decision it denies, with a `regent.*` reason code.
    pub fn decide(&self, input: &AgentActionV1) -> Decision {
        self.decide_for(&input.agent.persona, input)
    }

    /// Decides `input` with `persona`'s policy (the policy itself checks `input.agent.persona`).
    pub fn decide_for(&self, persona: &str, input: &AgentActionV1) -> Decision {
        let started = Instant::now();
        let Some(rt) = self.persona(persona) else {
            return unknown_persona(persona);
        };
        let prepared = match input.validate() {
            Ok(()) => serde_json::to_value(input).map_err(|e| (Json::Null, e.to_string())),
            Err(e) => Err((
                serde_json::to_value(input).unwrap_or(Json::Null),
                e.to_string(),
            )),
        };
        self.decide_prepared(rt, prepared, started, None)
    }

    /// Decides a JSON input exactly as given (the sidecar's path, as OPA's data API does): the policy sees
    /// the document unchanged, so a malformed action is judged by the policy's own fail-closed rules (the
    /// cases files rely on this). Use [`Agent::decide`] to have the input checked against `agent-action.v1`
    /// before evaluation.
    pub fn decide_json(
        &self,
        persona: &str,
        input: Json,
        requested_by: Option<String>,
    ) -> Decision {
        let started = Instant::now();
        let Some(rt) = self.persona(persona) else {
            return unknown_persona(persona);
        };
        self.decide_prepared(rt, Ok(input), started, requested_by)
    }

    fn decide_prepared(
        &self,
        rt: &PersonaRuntime,
        input: Result<Json, (Json, String)>,
        started: Instant,
        requested_by: Option<String>,
    ) -> Decision {
        let decision_id = Uuid::now_v7();
        let guard = rt.snapshot.load();
        let snapshot: Option<&Arc<Snapshot>> = guard.as_ref();
        let (input, outcome) = match input {
            Err((raw, message)) => (raw, Outcome::deny(reason_code::INVALID_INPUT, message)),
            Ok(json) => {
                let outcome = match snapshot {
                    None => Outcome::deny(reason_code::NO_POLICY, self.no_policy_message(rt)),
                    Some(snap) => match decide::to_engine_value(&json) {
                        Ok(value) => decide::evaluate(rt.slot, snap, value, self.engine_reuse()),
                        Err(e) => Outcome::deny(reason_code::INVALID_INPUT, e),
                    },
                };
                (json, outcome)
            }
        };
        let (decision, result, error) = match outcome {
            Outcome::Decided { decision, result } => (decision, Some(result), None),
            Outcome::Denied {
                code,
                message,
                result,
            } => {
                let error = json!({"code": code, "message": message});
                (DecisionV1::deny(code, message), result, Some(error))
            }
        };
        let fail_closed = error.is_some();
        let out = Decision {
            allow: decision.allow,
            reasons: decision.reasons,
            obligations: decision.obligations,
            persona: rt.name.clone(),
            revision: snapshot.map(|s| s.revision.clone()),
            sequence: snapshot.map(|s| s.sequence),
            decision_id,
        };
        if let Some(logs) = &rt.logs {
            let event = build_event(
                rt,
                snapshot.map(|s| &**s),
                &out,
                input,
                result,
                error,
                requested_by,
                started,
            );
            logs.push(Box::new(event));
        }
        let m = &rt.metrics;
        if out.allow {
            m.allowed.fetch_add(1, Ordering::Relaxed);
        } else {
            m.denied.fetch_add(1, Ordering::Relaxed);
        }
        if fail_closed {
            m.fail_closed.fetch_add(1, Ordering::Relaxed);
        }
        m.latency.observe(started.elapsed());
        out
    }

    fn no_policy_message(&self, rt: &PersonaRuntime) -> String {
        let why = rt
            .bundle_state()
            .error
            .map(|e| format!(" (last error: {})", e.message))
            .unwrap_or_default();
        format!(
            "no policy bundle is active for persona `{}` yet{why}",
            rt.name
        )
    }

    // ---- activation -----------------------------------------------------------------------------------------

    /// Activates `archive` for `persona` with every check a downloaded bundle gets (signature, scope,
    /// sequence), then persists it as last-known-good. Blocking (compiles the policy); call it from a
    /// blocking thread in async code.
    pub fn activate(&self, persona: &str, archive: &[u8]) -> Result<Activation, AgentError> {
        let rt = self
            .persona(persona)
            .ok_or_else(|| AgentError::UnknownPersona(persona.to_owned()))?
            .clone();
        Ok(self.activate_from(&rt, archive, None, Origin::Api, true)?)
    }

    /// The activation pipeline with status bookkeeping. On failure the active snapshot stays.
    pub(crate) fn activate_from(
        &self,
        rt: &Arc<PersonaRuntime>,
        archive: &[u8],
        expected_digest: Option<&str>,
        origin: Origin,
        persist: bool,
    ) -> Result<Activation, ActivationError> {
        let _serial = rt.activation.lock().unwrap_or_else(|e| e.into_inner());
        let active = rt.snapshot.load_full();
        let candidate = Candidate {
            persona: &rt.name,
            archive,
            expected_digest,
            origin,
            entrypoint: rt.entrypoint.as_deref(),
            warm_input: &rt.warm_input,
        };
        let prepared = prepare(&candidate, &self.inner.policy, active.as_deref());
        match prepared {
            Err(error) => {
                rt.metrics.activation_failed(error.kind());
                let digest = crate::snapshot::sha256_hex(archive);
                tracing::error!(persona = %rt.name, %error, "bundle refused; the active policy stays");
                rt.update_state(|s| {
                    s.rejected_digest = Some(digest);
                    s.error = Some(BundleError {
                        message: error.to_string(),
                        http_code: None,
                    });
                });
                Err(error)
            }
            Ok(Prepared::Unchanged) => {
                rt.update_state(|s| s.error = None);
                Ok(Activation::Unchanged)
            }
            Ok(Prepared::New(snapshot)) => {
                let snapshot: Arc<Snapshot> = Arc::from(snapshot);
                rt.snapshot.store(Some(snapshot.clone()));
                rt.metrics.swaps.fetch_add(1, Ordering::Relaxed);
                tracing::info!(persona = %rt.name, revision = %snapshot.revision, sequence = snapshot.sequence,
                    origin = snapshot.origin.kind(), compile_ms = snapshot.compile_time.as_millis() as u64, "policy activated");
                let mut persist_error = None;
                if persist {
                    let meta = lkg::DiskMeta {
                        bundle_digest: snapshot.bundle_digest.clone(),
                        etag: snapshot.origin.etag().map(str::to_owned),
                        sequence: snapshot.sequence,
                        revision: snapshot.revision.clone(),
                        origin: snapshot.origin.kind().into(),
                        saved_at: Utc::now(),
                    };
                    if let Err(e) = lkg::save(&rt.dir, archive, &meta) {
                        tracing::error!(persona = %rt.name, error = %e, "cannot persist the last-known-good bundle");
                        persist_error = Some(BundleError {
                            message: format!(
                                "activated, but cannot persist the last-known-good copy: {e}"
                            ),
                            http_code: None,
                        });
                    }
                }
                rt.update_state(|s| {
                    s.last_successful_activation = Some(snapshot.activated_at);
                    s.error = persist_error;
                    s.rejected_digest = None;
                });
                Ok(Activation::Activated {
                    revision: snapshot.revision.clone(),
                    sequence: snapshot.sequence,
                })
            }
        }
    }

    // ---- observability --------------------------------------------------------------------------------------

    /// Personas without a snapshot, with why; empty when every persona can decide.
    pub fn not_ready(&self) -> Vec<(String, String)> {
        self.inner
            .personas
            .iter()
            .filter(|rt| rt.snapshot.load().is_none())
            .map(|rt| (rt.name.clone(), self.no_policy_message(rt)))
            .collect()
    }

    /// Prometheus text for every persona.
    pub fn render_metrics(&self) -> String {
        let spool_limit = self.inner.config.decision_logs.spool_max_bytes;
        let views: Vec<metrics::PersonaView<'_>> = self
            .inner
            .personas
            .iter()
            .map(|rt| metrics::PersonaView {
                persona: &rt.name,
                metrics: &rt.metrics,
                active_sequence: rt.snapshot.load().as_ref().map(|s| s.sequence),
                delivery: rt
                    .logs
                    .as_ref()
                    .map(|l| l.delivery(spool_limit))
                    .unwrap_or_default(),
                poisoned: rt
                    .log_counters()
                    .map_or(0, |c| c.poisoned.load(Ordering::Relaxed)),
                spilled: rt
                    .log_counters()
                    .map_or(0, |c| c.spilled.load(Ordering::Relaxed)),
            })
            .collect();
        metrics::render(&views)
    }
}

fn unknown_persona(persona: &str) -> Decision {
    Decision {
        allow: false,
        reasons: vec![ReasonV1::new(
            reason_code::NO_POLICY,
            format!("persona `{persona}` is not configured on this agent"),
        )],
        obligations: Vec::new(),
        persona: persona.to_owned(),
        revision: None,
        sequence: None,
        decision_id: Uuid::now_v7(),
    }
}

#[allow(clippy::too_many_arguments)]
fn build_event(
    rt: &PersonaRuntime,
    snapshot: Option<&Snapshot>,
    decision: &Decision,
    input: Json,
    result: Option<Json>,
    error: Option<Json>,
    requested_by: Option<String>,
    started: Instant,
) -> DecisionEventV1 {
    let text = |pointer: &str| {
        input
            .pointer(pointer)
            .and_then(Json::as_str)
            .map(str::to_owned)
    };
    let mut event = DecisionEventV1::new(decision.decision_id.to_string(), Utc::now());
    event.labels = rt.labels.clone();
    event.agent_id = text("/agent/id");
    event.user_id = text("/user/id");
    event.tool = text("/action/tool/name");
    if let Some(s) = snapshot {
        event.revision = Some(s.revision.clone());
        event.bundles.insert(
            rt.name.clone(),
            BundleInfoV1 {
                revision: Some(s.revision.clone()),
            },
        );
        event.path = Some(s.entrypoint.clone());
        event.revision_sequence = Some(s.sequence);
    }
    event.persona = Some(rt.name.clone());
    event.allow = Some(decision.allow);
    event.reasons = decision.reasons.clone();
    event.result = result;
    event.error = error;
    event.requested_by = requested_by;
    let mut metrics = serde_json::Map::new();
    metrics.insert(
        "timer_regent_decide_ns".into(),
        Json::from(started.elapsed().as_nanos() as u64),
    );
    event.metrics = Some(metrics);
    event.input = Some(input);
    event
}
