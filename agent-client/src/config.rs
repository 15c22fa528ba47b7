//! Configuration: a YAML file, then `REGENT_AGENT_*` environment variables on top.
//!
//! Every field has a default except the personas; `docs` in the crate README lists them all. Durations are
//! seconds (floats allowed, so tests can use `0.05`), sizes are bytes, as in OPA's configuration.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regent_bundle::{Limits, PublicKey, TrustedKeys};
use serde::Deserialize;
use thiserror::Error;

/// Why a configuration was refused. Each message names the field.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read config file `{path}`: {detail}")]
    Read { path: String, detail: String },
    #[error("config file `{path}`: {detail}")]
    Parse { path: String, detail: String },
    #[error("`{field}`: {detail}")]
    Invalid { field: String, detail: String },
    #[error("environment variable `{var}`: {detail}")]
    Env { var: String, detail: String },
}

fn invalid(field: impl Into<String>, detail: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        detail: detail.into(),
    }
}

/// The whole agent configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// This agent instance, e.g. `hr-bot-7f9c`; the control plane's `labels.id`. Defaults to the host name.
    #[serde(default = "default_agent_id")]
    pub agent_id: String,
    /// The control plane, e.g. `https://regent.example`. Needed by `control_plane` sources, status and logs.
    #[serde(default)]
    pub server: Option<String>,
    /// Bearer token for the control plane (an `agent` token). A persona's own token wins.
    #[serde(default)]
    pub token: Option<String>,
    /// File holding the token; re-read at every start.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Where the last-known-good bundles and the decision-log spool live.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Public keys trusted to verify `.signatures.json` (and cosign signatures, unless an OCI source names its own).
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// Accept unsigned bundles when no key is configured. Never in production; logged loudly.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// The personas this agent decides for.
    #[serde(default)]
    pub personas: Vec<PersonaConfig>,
    #[serde(default)]
    pub evaluation: EvaluationConfig,
    #[serde(default)]
    pub polling: PollingConfig,
    #[serde(default)]
    pub decision_logs: DecisionLogConfig,
    #[serde(default)]
    pub status: StatusConfig,
    #[serde(default)]
    pub bundle_limits: BundleLimitsConfig,
    /// The sidecar's local HTTP API.
    #[serde(default)]
    pub http: HttpConfig,
    /// Extra labels sent in status and decision logs.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// A trusted key: `kid` plus the PEM inline or in a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub kid: String,
    #[serde(default)]
    pub pem: Option<String>,
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// One persona.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonaConfig {
    /// The persona, e.g. `hr-bot`; also the signature scope its bundles must carry.
    pub name: String,
    /// The agent id reported for this persona (the control plane binds an agent id to one persona).
    /// Default: `agent_id` when the agent has one persona, else `<agent_id>-<persona>`.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// This persona's agent token (falls back to the global `token`).
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Where bundles come from; default: the control plane when `server` is set.
    #[serde(default)]
    pub source: Option<SourceConfig>,
    /// Decision rule path (`regent/persona/decision`); default: the bundle manifest's.
    #[serde(default)]
    pub entrypoint: Option<String>,
    /// A representative input (an `agent-action.v1` JSON file) evaluated once before a swap; default: a built-in
    /// tool call for the persona.
    #[serde(default)]
    pub warm_input: Option<PathBuf>,
}

/// Where a persona's bundle bytes come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// OPA's bundle API on the control plane: `GET {server}/bundles/{persona}?channel=…`.
    ControlPlane {
        #[serde(default)]
        channel: Option<String>,
    },
    /// An OCI registry: `reference` = `host[:port]/repo:tag`.
    Oci {
        reference: String,
        /// Plain HTTP (loopback registries).
        #[serde(default)]
        insecure: bool,
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        password: Option<String>,
        /// Keys for the cosign signature; default: the trusted `keys`.
        #[serde(default)]
        cosign_keys: Vec<KeyConfig>,
        /// Require a cosign signature (default true; false only with `insecure_skip_verify`).
        #[serde(default = "yes")]
        require_cosign: bool,
    },
    /// A local file, watched by polling its mtime, size and hash.
    File { path: PathBuf },
    /// No source: only the last-known-good disk copy and bundles activated through the API.
    None,
}

/// Policy evaluation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationConfig {
    /// Time limit per decision, in seconds; exceeding it denies with `regent.evaluation_timeout`.
    pub time_limit_seconds: f64,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self {
            time_limit_seconds: 0.25,
        }
    }
}

/// Bundle polling, with OPA's names and defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollingConfig {
    pub min_delay_seconds: f64,
    pub max_delay_seconds: f64,
    /// Long polling (`Prefer: wait=N`); 0 turns it off.
    pub long_polling_timeout_seconds: u64,
    /// How long to wait for response headers on a normal request.
    pub response_header_timeout_seconds: f64,
    /// Polling interval of `file` sources.
    pub file_interval_seconds: f64,
}

impl Default for PollingConfig {
    fn default() -> Self {
        Self {
            min_delay_seconds: 60.0,
            max_delay_seconds: 120.0,
            long_polling_timeout_seconds: 30,
            response_header_timeout_seconds: 10.0,
            file_interval_seconds: 1.0,
        }
    }
}

/// The decision-log pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionLogConfig {
    /// Ship decision logs to `{server}{resource}` (needs `server`).
    pub enabled: bool,
    pub resource: String,
    /// Events held in memory per persona (OPA's `buffer_size_limit_events`).
    pub queue_capacity: usize,
    /// Most events per upload.
    pub max_batch_events: usize,
    /// Most uncompressed bytes per upload.
    pub max_batch_bytes: usize,
    /// How long a partial batch waits for more events.
    pub flush_interval_seconds: f64,
    /// Disk spool cap per persona; when reached, the oldest spooled events are dropped (and counted).
    pub spool_max_bytes: u64,
    /// Spool segment size before a new file is started.
    pub spool_segment_bytes: u64,
    /// Backoff cap between upload retries.
    pub max_delay_seconds: f64,
    /// Time allowed to flush at shutdown before the rest is spooled.
    pub shutdown_flush_seconds: f64,
}

impl Default for DecisionLogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            resource: "/logs".into(),
            queue_capacity: 10_000,
            max_batch_events: 1_000,
            max_batch_bytes: 2 * 1024 * 1024,
            flush_interval_seconds: 1.0,
            spool_max_bytes: 256 * 1024 * 1024,
            spool_segment_bytes: 4 * 1024 * 1024,
            max_delay_seconds: 60.0,
            shutdown_flush_seconds: 5.0,
        }
    }
}

/// Status reports (`POST {server}/status`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusConfig {
    pub enabled: bool,
    /// Changes within this window are sent as one report.
    pub debounce_seconds: f64,
    /// A report is sent at least this often even without a change.
    pub heartbeat_seconds: f64,
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            debounce_seconds: 0.5,
            heartbeat_seconds: 60.0,
        }
    }
}

/// Limits on downloaded bundles (see `regent_bundle::Limits`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BundleLimitsConfig {
    pub max_archive_bytes: u64,
    pub max_total_bytes: u64,
    pub max_file_bytes: u64,
    pub max_entries: usize,
}

impl Default for BundleLimitsConfig {
    fn default() -> Self {
        let d = Limits::DEFAULT;
        Self {
            max_archive_bytes: d.max_archive_bytes,
            max_total_bytes: d.max_total_bytes,
            max_file_bytes: d.max_file_bytes,
            max_entries: d.max_entries,
        }
    }
}

impl BundleLimitsConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            max_archive_bytes: self.max_archive_bytes,
            max_total_bytes: self.max_total_bytes,
            max_file_bytes: self.max_file_bytes,
            max_entries: self.max_entries,
            ..Limits::DEFAULT
        }
    }
}

/// The sidecar's HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Loopback by default; anything else is the operator's explicit choice.
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    /// Persona used by `/v1/data/...` when neither `?persona=` nor `input.agent.persona` names one.
    pub default_persona: Option<String>,
    /// Time allowed for in-flight requests at shutdown.
    pub shutdown_grace_seconds: f64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8181)),
            max_body_bytes: 1024 * 1024,
            default_persona: None,
            shutdown_grace_seconds: 10.0,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_agent_id() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "regent-agent".into())
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/regent-agent")
}

/// `Duration` from configured seconds; negative or NaN → zero.
pub fn seconds(value: f64) -> Duration {
    if value.is_finite() && value > 0.0 {
        Duration::from_secs_f64(value)
    } else {
        Duration::ZERO
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            agent_id: default_agent_id(),
            server: None,
            token: None,
            token_file: None,
            state_dir: default_state_dir(),
            keys: Vec::new(),
            insecure_skip_verify: false,
            personas: Vec::new(),
            evaluation: EvaluationConfig::default(),
            polling: PollingConfig::default(),
            decision_logs: DecisionLogConfig::default(),
            status: StatusConfig::default(),
            bundle_limits: BundleLimitsConfig::default(),
            http: HttpConfig::default(),
            labels: Default::default(),
        }
    }
}

/// The environment variables read by [`AgentConfig::apply_env`].
pub const ENV_VARS: &[(&str, &str)] = &[
    (
        "REGENT_AGENT_CONFIG",
        "path of the YAML config file (sidecar)",
    ),
    ("REGENT_AGENT_ID", "agent_id"),
    ("REGENT_AGENT_SERVER", "server"),
    ("REGENT_AGENT_TOKEN", "token"),
    ("REGENT_AGENT_TOKEN_FILE", "token_file"),
    ("REGENT_AGENT_STATE_DIR", "state_dir"),
    (
        "REGENT_AGENT_PERSONAS",
        "comma-separated persona names added with the default source",
    ),
    ("REGENT_AGENT_CHANNEL", "channel of control_plane sources"),
    (
        "REGENT_AGENT_KEYS",
        "comma-separated `kid=path` public key files added to keys",
    ),
    (
        "REGENT_AGENT_INSECURE_SKIP_VERIFY",
        "insecure_skip_verify (true/false)",
    ),
    ("REGENT_AGENT_LISTEN", "http.listen"),
    ("REGENT_AGENT_DEFAULT_PERSONA", "http.default_persona"),
    (
        "REGENT_AGENT_TIME_LIMIT_SECONDS",
        "evaluation.time_limit_seconds",
    ),
];

impl AgentConfig {
    /// Reads a YAML file.
    pub fn from_yaml_file(path: &Path) -> Result<AgentConfig, ConfigError> {
        let bytes = std::fs::read(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        Self::from_yaml(&bytes).map_err(|e| match e {
            ConfigError::Parse { detail, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                detail,
            },
            other => other,
        })
    }

    /// Parses YAML text.
    pub fn from_yaml(bytes: &[u8]) -> Result<AgentConfig, ConfigError> {
        yaml_serde::from_slice(bytes).map_err(|e| ConfigError::Parse {
            path: "<yaml>".into(),
            detail: e.to_string(),
        })
    }

    /// Applies `REGENT_AGENT_*` variables from `lookup` (normally `std::env::var`) over the file's values.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let env_err = |var: &str, detail: String| ConfigError::Env {
            var: var.into(),
            detail,
        };
        if let Some(v) = lookup("REGENT_AGENT_ID") {
            self.agent_id = v;
        }
        if let Some(v) = lookup("REGENT_AGENT_SERVER") {
            self.server = Some(v);
        }
        if let Some(v) = lookup("REGENT_AGENT_TOKEN") {
            self.token = Some(v);
        }
        if let Some(v) = lookup("REGENT_AGENT_TOKEN_FILE") {
            self.token_file = Some(v.into());
        }
        if let Some(v) = lookup("REGENT_AGENT_STATE_DIR") {
            self.state_dir = v.into();
        }
        if let Some(v) = lookup("REGENT_AGENT_INSECURE_SKIP_VERIFY") {
            self.insecure_skip_verify = parse_bool(&v).ok_or_else(|| {
                env_err(
                    "REGENT_AGENT_INSECURE_SKIP_VERIFY",
                    format!("`{v}` is not true/false"),
                )
            })?;
        }
        if let Some(v) = lookup("REGENT_AGENT_LISTEN") {
            self.http.listen = v
                .parse()
                .map_err(|e| env_err("REGENT_AGENT_LISTEN", format!("`{v}`: {e}")))?;
        }
        if let Some(v) = lookup("REGENT_AGENT_DEFAULT_PERSONA") {
            self.http.default_persona = Some(v);
        }
        if let Some(v) = lookup("REGENT_AGENT_TIME_LIMIT_SECONDS") {
            self.evaluation.time_limit_seconds = v
                .parse()
                .map_err(|e| env_err("REGENT_AGENT_TIME_LIMIT_SECONDS", format!("`{v}`: {e}")))?;
        }
        if let Some(v) = lookup("REGENT_AGENT_KEYS") {
            for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (kid, path) = item.split_once('=').ok_or_else(|| {
                    env_err("REGENT_AGENT_KEYS", format!("`{item}` is not `kid=path`"))
                })?;
                self.keys.push(KeyConfig {
                    kid: kid.trim().into(),
                    pem: None,
                    file: Some(path.trim().into()),
                });
            }
        }
        let channel = lookup("REGENT_AGENT_CHANNEL");
        if let Some(v) = lookup("REGENT_AGENT_PERSONAS") {
            for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if self.personas.iter().any(|p| p.name == name) {
                    continue;
                }
                self.personas.push(PersonaConfig {
                    name: name.into(),
                    agent_id: None,
                    token: None,
                    token_file: None,
                    source: None,
                    entrypoint: None,
                    warm_input: None,
                });
            }
        }
        if let Some(channel) = channel {
            for persona in &mut self.personas {
                match &mut persona.source {
                    None => {
                        persona.source = Some(SourceConfig::ControlPlane {
                            channel: Some(channel.clone()),
                        });
                    }
                    Some(SourceConfig::ControlPlane { channel: c }) => *c = Some(channel.clone()),
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// File (if `REGENT_AGENT_CONFIG` or `path` names one), then the environment, then validation.
    pub fn load(path: Option<&Path>) -> Result<AgentConfig, ConfigError> {
        let from_env = std::env::var("REGENT_AGENT_CONFIG").ok().map(PathBuf::from);
        let mut config = match path.map(Path::to_path_buf).or(from_env) {
            Some(path) => Self::from_yaml_file(&path)?,
            None => AgentConfig::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Checks cross-field rules: personas unique and valid, sources have what they need, keys or an explicit
    /// `insecure_skip_verify`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.personas.is_empty() {
            return Err(invalid(
                "personas",
                "no persona configured; add one under `personas` or set REGENT_AGENT_PERSONAS",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, persona) in self.personas.iter().enumerate() {
            if !valid_name(&persona.name) {
                return Err(invalid(
                    format!("personas[{i}].name"),
                    format!(
                        "`{}` is not a persona name (`a-z`, `0-9`, `-`, up to 63)",
                        persona.name
                    ),
                ));
            }
            if !seen.insert(persona.name.as_str()) {
                return Err(invalid(
                    format!("personas[{i}].name"),
                    format!("persona `{}` is listed twice", persona.name),
                ));
            }
            let needs_server = matches!(self.source_of(persona), SourceConfig::ControlPlane { .. });
            if needs_server && self.server.is_none() {
                return Err(invalid(
                    format!("personas[{i}].source"),
                    "a control_plane source needs `server` (or REGENT_AGENT_SERVER)",
                ));
            }
        }
        if self.keys.is_empty() && !self.insecure_skip_verify {
            return Err(invalid(
                "keys",
                "no trusted key configured; add `keys` (the control plane's public keys, see `regent keys list`) \
                 or set `insecure_skip_verify: true` for development only",
            ));
        }
        if !self.keys.is_empty() && self.insecure_skip_verify {
            return Err(invalid(
                "insecure_skip_verify",
                "keys are configured, so signatures are always verified; remove `insecure_skip_verify`",
            ));
        }
        if self.evaluation.time_limit_seconds <= 0.0 {
            return Err(invalid(
                "evaluation.time_limit_seconds",
                "must be greater than 0",
            ));
        }
        if self.polling.max_delay_seconds < self.polling.min_delay_seconds {
            return Err(invalid(
                "polling.max_delay_seconds",
                "must not be less than `polling.min_delay_seconds`",
            ));
        }
        if self.decision_logs.queue_capacity == 0 || self.decision_logs.max_batch_events == 0 {
            return Err(invalid(
                "decision_logs",
                "`queue_capacity` and `max_batch_events` must be at least 1",
            ));
        }
        Ok(())
    }

    /// The source a persona uses: its own, else the control plane.
    pub fn source_of(&self, persona: &PersonaConfig) -> SourceConfig {
        persona
            .source
            .clone()
            .unwrap_or(SourceConfig::ControlPlane { channel: None })
    }

    /// The agent id reported for `persona`.
    pub fn agent_id_of(&self, persona: &PersonaConfig) -> String {
        match &persona.agent_id {
            Some(id) => id.clone(),
            None if self.personas.len() <= 1 => self.agent_id.clone(),
            None => format!("{}-{}", self.agent_id, persona.name),
        }
    }

    /// The token for `persona`: its own, else the global one (inline, else from the file).
    pub fn token_of(&self, persona: &PersonaConfig) -> Result<Option<String>, ConfigError> {
        if let Some(token) = &persona.token {
            return Ok(Some(token.clone()));
        }
        if let Some(file) = &persona.token_file {
            return read_token(file, &format!("personas.{}.token_file", persona.name)).map(Some);
        }
        if let Some(token) = &self.token {
            return Ok(Some(token.clone()));
        }
        match &self.token_file {
            Some(file) => read_token(file, "token_file").map(Some),
            None => Ok(None),
        }
    }

    /// The trusted keys.
    pub fn trusted_keys(&self) -> Result<TrustedKeys, ConfigError> {
        load_keys(&self.keys, "keys")
    }
}

/// Loads PEM keys, naming the entry that failed.
pub fn load_keys(keys: &[KeyConfig], field: &str) -> Result<TrustedKeys, ConfigError> {
    let mut trusted = TrustedKeys::new();
    for (i, key) in keys.iter().enumerate() {
        let field = format!("{field}[{i}]");
        let pem = match (&key.pem, &key.file) {
            (Some(pem), None) => pem.clone(),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map_err(|e| invalid(&field, format!("cannot read `{}`: {e}", file.display())))?,
            _ => return Err(invalid(&field, "set exactly one of `pem` and `file`")),
        };
        let public =
            PublicKey::from_pem(&key.kid, &pem).map_err(|e| invalid(&field, e.to_string()))?;
        trusted
            .add(public)
            .map_err(|e| invalid(&field, e.to_string()))?;
    }
    Ok(trusted)
}

fn read_token(path: &Path, field: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_owned())
        .map_err(|e| invalid(field, format!("cannot read `{}`: {e}", path.display())))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// Persona names double as directory names under `state_dir`, so they are kept to a safe alphabet.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn yaml_then_env_then_validation() {
        let yaml = b"agent_id: a1\nserver: http://cp\ninsecure_skip_verify: true\npersonas:\n  - name: hr-bot\n";
        let mut config = AgentConfig::from_yaml(yaml).unwrap();
        let env = |k: &str| match k {
            "REGENT_AGENT_PERSONAS" => Some("hr-bot, it-bot".to_owned()),
            "REGENT_AGENT_CHANNEL" => Some("canary".to_owned()),
            "REGENT_AGENT_LISTEN" => Some("127.0.0.1:9000".to_owned()),
            _ => None,
        };
        config.apply_env(env).unwrap();
        config.validate().unwrap();
        assert_eq!(config.personas.len(), 2);
        assert_eq!(config.http.listen.port(), 9000);
        assert!(matches!(
            &config.personas[1].source,
            Some(SourceConfig::ControlPlane { channel: Some(c) }) if c == "canary"
        ));
        assert_eq!(config.agent_id_of(&config.personas[1]), "a1-it-bot");
    }

    #[test]
    fn keys_or_explicit_insecure_are_required() {
        let config =
            AgentConfig::from_yaml(b"server: http://cp\npersonas: [{name: hr-bot}]\n").unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("insecure_skip_verify: true"), "{error}");
        let bad = AgentConfig::from_yaml(b"personas: [{name: Hr}]\ninsecure_skip_verify: true\n")
            .unwrap();
        assert!(bad.validate().is_err());
        let unknown = AgentConfig::from_yaml(b"personas: []\nfrobnicate: 1\n");
        assert!(unknown.is_err());
    }
}
