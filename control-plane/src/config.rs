//! Configuration: a YAML file (`--config`) overlaid by `REGENT_*` environment variables.
//! Every setting, its default and its variable are listed in `docs/configuration.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file `{path}`: {detail}")]
    Parse { path: String, detail: String },
    #[error("environment variable `{var}`: {detail}")]
    Env { var: String, detail: String },
    #[error("`{field}`: {detail}")]
    Invalid { field: String, detail: String },
}

/// Where bundle signatures come from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// PKCS#8 PEM private key file. Default: `<data_dir>/keys/<kid>.key.pem`, generated on first
    /// start when no key is configured anywhere.
    pub key_file: Option<PathBuf>,
    /// The private key PEM itself (env `REGENT_SIGNING_KEY`), instead of a file.
    #[serde(skip)]
    pub key_pem: Option<String>,
    /// Key id of the active signing key. Default `regent-1`.
    pub kid: Option<String>,
    /// Extra public keys (rotation): agents are told to trust them too.
    pub verification_keys: Vec<VerificationKeyConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationKeyConfig {
    pub kid: String,
    pub file: PathBuf,
}

/// An OCI registry bundles are published to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// A short name used in publications and logs, e.g. `local`.
    pub name: String,
    /// `host[:port]`, e.g. `127.0.0.1:5000` or `ghcr.io`.
    pub host: String,
    /// Repository prefix; a persona's repository is `<prefix>/<persona>`.
    #[serde(default = "default_repository_prefix")]
    pub repository_prefix: String,
    /// Plain HTTP. Only allowed for loopback hosts unless `allow_insecure` is set.
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub auth: RegistryAuth,
}

fn default_repository_prefix() -> String {
    "regent".into()
}

impl RegistryConfig {
    /// The repository a persona's bundles are published to: `<prefix>/<persona>`.
    pub fn repository(&self, persona: &str) -> String {
        match self.repository_prefix.trim_matches('/') {
            "" => persona.to_owned(),
            prefix => format!("{prefix}/{persona}"),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "lowercase")]
pub enum RegistryAuth {
    #[default]
    Anonymous,
    /// Password read from the named environment variable (never from the file).
    Basic {
        username: String,
        password_env: String,
    },
    /// Token read from the named environment variable.
    Bearer { token_env: String },
}

/// Bounds on what the server accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest bundle upload (compressed), bytes.
    pub max_bundle_bytes: usize,
    /// Largest `/logs` body (compressed), bytes.
    pub max_log_body_bytes: usize,
    /// Largest `/logs` body once inflated, bytes.
    pub max_log_inflated_bytes: usize,
    /// Longest long poll a client may ask for (`Prefer: wait=N`), seconds.
    pub max_long_poll_seconds: u64,
    /// Decision events waiting to be written before `/logs` answers 429.
    pub ingest_queue_events: usize,
    /// Concurrent decision-log insert transactions (each holds one pool connection while it
    /// writes). Default: half of `database_max_connections`.
    pub ingest_writers: Option<usize>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_bundle_bytes: 32 * 1024 * 1024,
            max_log_body_bytes: 4 * 1024 * 1024,
            max_log_inflated_bytes: 64 * 1024 * 1024,
            max_long_poll_seconds: 300,
            ingest_queue_events: 200_000,
            ingest_writers: None,
        }
    }
}

/// How the publish workers pace themselves (see `publish::WorkerSettings`). The defaults suit
/// production; a shorter lease makes a killed replica's job be taken over sooner.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// Worker tasks per replica.
    pub workers: usize,
    /// How long a claimed job stays invisible to other workers, seconds.
    pub lease_seconds: f64,
    /// A job is abandoned (and retried) after this long, seconds; must be below the lease.
    pub job_timeout_seconds: f64,
    /// Attempts before a job is marked `failed`.
    pub max_attempts: i32,
    /// First retry delay, seconds; doubles per attempt (jittered) up to `backoff_cap_seconds`.
    pub backoff_base_seconds: f64,
    pub backoff_cap_seconds: f64,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            workers: 2,
            lease_seconds: 120.0,
            job_timeout_seconds: 60.0,
            max_attempts: 20,
            backoff_base_seconds: 2.0,
            backoff_cap_seconds: 300.0,
        }
    }
}

/// The web console's session cookie.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Mark the session cookie `Secure`. Default: on when `public_url` is `https://…`.
    pub cookie_secure: Option<bool>,
    /// A session unused for this long ends, minutes.
    pub session_idle_minutes: u32,
    /// A session ends this long after sign-in whatever the activity, hours.
    pub session_max_hours: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            cookie_secure: None,
            session_idle_minutes: 30,
            session_max_hours: 12,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:8181`.
    pub listen: SocketAddr,
    /// Public base URL, used in links handed to agents. Default `http://<listen>`.
    pub public_url: Option<String>,
    /// Postgres URL. Required by `regent serve`; when absent, `regent up` starts a private
    /// PostgreSQL under `<data_dir>/postgres`.
    pub database_url: Option<String>,
    /// Database pool size.
    pub database_max_connections: u32,
    /// Folder for keys, the embedded database and other state. Default `.regent`.
    pub data_dir: PathBuf,
    /// Run migrations at start (dev convenience; production runs `regent migrate`).
    pub migrate_on_start: bool,
    pub signing: SigningConfig,
    pub registries: Vec<RegistryConfig>,
    pub limits: LimitsConfig,
    pub publish: PublishConfig,
    /// Log format: `text` or `json`.
    pub log_format: String,
    pub console: ConsoleConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8181)),
            public_url: None,
            database_url: None,
            database_max_connections: 16,
            data_dir: PathBuf::from(".regent"),
            migrate_on_start: false,
            signing: SigningConfig::default(),
            registries: Vec::new(),
            limits: LimitsConfig::default(),
            publish: PublishConfig::default(),
            log_format: "text".into(),
            console: ConsoleConfig::default(),
        }
    }
}

impl Config {
    /// Reads the file (if any), then applies the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                yaml_serde::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.display().to_string(),
                    detail: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        config.apply_env(|var| std::env::var(var).ok())?;
        Ok(config)
    }

    /// Applies `REGENT_*` overrides (and `DATABASE_URL`) through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let parse_err = |var: &str, detail: String| ConfigError::Env {
            var: var.to_owned(),
            detail,
        };
        if let Some(v) = get("REGENT_LISTEN") {
            self.listen = v
                .parse()
                .map_err(|e| parse_err("REGENT_LISTEN", format!("`{v}` is not host:port: {e}")))?;
        }
        if let Some(v) = get("REGENT_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = get("REGENT_DATABASE_URL").or_else(|| get("DATABASE_URL")) {
            self.database_url = Some(v);
        }
        if let Some(v) = get("REGENT_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("REGENT_MIGRATE_ON_START") {
            self.migrate_on_start = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(v) = get("REGENT_SIGNING_KEY_FILE") {
            self.signing.key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("REGENT_SIGNING_KEY") {
            self.signing.key_pem = Some(v);
        }
        if let Some(v) = get("REGENT_SIGNING_KID") {
            self.signing.kid = Some(v);
        }
        if let Some(v) = get("REGENT_LOG_FORMAT") {
            self.log_format = v;
        }
        if let Some(v) = get("REGENT_CONSOLE_COOKIE_SECURE") {
            self.console.cookie_secure = Some(matches!(v.as_str(), "1" | "true" | "yes"));
        }
        for (var, field) in [
            (
                "REGENT_CONSOLE_SESSION_IDLE_MINUTES",
                &mut self.console.session_idle_minutes,
            ),
            (
                "REGENT_CONSOLE_SESSION_MAX_HOURS",
                &mut self.console.session_max_hours,
            ),
        ] {
            if let Some(v) = get(var) {
                *field = v
                    .parse()
                    .map_err(|e| parse_err(var, format!("`{v}` is not a whole number: {e}")))?;
            }
        }
        if let Some(v) = get("REGENT_REGISTRY") {
            // `name=host[/prefix]`, plain HTTP allowed for loopback hosts only.
            let (name, rest) = v.split_once('=').unwrap_or(("default", v.as_str()));
            let (host, prefix) = rest.split_once('/').unwrap_or((rest, "regent"));
            self.registries.push(RegistryConfig {
                name: name.to_owned(),
                host: host.to_owned(),
                repository_prefix: prefix.to_owned(),
                insecure: is_loopback_host(host),
                auth: RegistryAuth::Anonymous,
            });
        }
        self.validate()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for registry in &self.registries {
            if registry.insecure && !is_loopback_host(&registry.host) {
                return Err(ConfigError::Invalid {
                    field: format!("registries[{}].insecure", registry.name),
                    detail: format!(
                        "plain HTTP is only allowed for loopback registries, not `{}`",
                        registry.host
                    ),
                });
            }
        }
        let p = &self.publish;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !(positive(p.lease_seconds)
            && positive(p.job_timeout_seconds)
            && positive(p.backoff_base_seconds)
            && positive(p.backoff_cap_seconds))
            || p.job_timeout_seconds >= p.lease_seconds
        {
            return Err(ConfigError::Invalid {
                field: "publish".into(),
                detail: format!(
                    "durations must be positive and `job_timeout_seconds` ({}) below `lease_seconds` ({}), or a slow worker could publish after its job was taken over",
                    p.job_timeout_seconds, p.lease_seconds
                ),
            });
        }
        if self.console.session_idle_minutes == 0 || self.console.session_max_hours == 0 {
            return Err(ConfigError::Invalid {
                field: "console".into(),
                detail: "`session_idle_minutes` and `session_max_hours` must be at least 1".into(),
            });
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid {
                field: "log_format".into(),
                detail: format!("`{}` is neither `text` nor `json`", self.log_format),
            });
        }
        Ok(())
    }

    /// The base URL agents and links use.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    /// Whether the console's session cookie carries `Secure`.
    pub fn console_cookie_secure(&self) -> bool {
        self.console
            .cookie_secure
            .unwrap_or_else(|| self.public_url().starts_with("https://"))
    }

    pub fn max_long_poll(&self) -> Duration {
        Duration::from_secs(self.limits.max_long_poll_seconds)
    }
}

/// `127.0.0.1`, `localhost`, `[::1]`, with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .rsplit_once(':')
        .filter(|(h, p)| !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    let bare = bare.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn env_overrides_the_file_and_registries_need_tls_off_loopback() {
        let mut config = Config::default();
        config
            .apply_env(|v| match v {
                "REGENT_LISTEN" => Some("127.0.0.1:9000".into()),
                "DATABASE_URL" => Some("postgres://x/y".into()),
                "REGENT_REGISTRY" => Some("local=127.0.0.1:5000/policies".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.database_url.as_deref(), Some("postgres://x/y"));
        assert!(config.registries[0].insecure);
        assert_eq!(config.registries[0].repository_prefix, "policies");

        let mut config = Config::default();
        config.registries.push(RegistryConfig {
            name: "ghcr".into(),
            host: "ghcr.io".into(),
            repository_prefix: "x".into(),
            insecure: true,
            auth: RegistryAuth::Anonymous,
        });
        assert!(matches!(
            config.apply_env(|_| None),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(is_loopback_host("[::1]:5000"));
        assert!(is_loopback_host("localhost"));
        assert!(!is_loopback_host("10.0.0.1:5000"));
    }

    #[test]
    fn a_publish_job_timeout_must_be_below_the_lease() {
        let mut config = Config::default();
        config.publish.lease_seconds = 5.0;
        config.publish.job_timeout_seconds = 5.0;
        let err = config.apply_env(|_| None).unwrap_err();
        assert!(err.to_string().contains("`publish`"), "{err}");
        config.publish.job_timeout_seconds = 3.0;
        config.apply_env(|_| None).unwrap();
    }

    #[test]
    fn bad_listen_address_names_the_variable() {
        let err = Config::default()
            .apply_env(|v| (v == "REGENT_LISTEN").then(|| "nope".into()))
            .unwrap_err();
        assert!(err.to_string().contains("REGENT_LISTEN"), "{err}");
    }

    #[test]
    fn ingest_writers_default_to_half_the_pool_unless_set() {
        let config: Config = yaml_serde::from_str("limits:\n  ingest_writers: 3\n").unwrap();
        assert_eq!(config.limits.ingest_writers, Some(3));
        assert_eq!(Config::default().limits.ingest_writers, None);
        let err = yaml_serde::from_str::<Config>("limits:\n  ingest_writers: many\n").unwrap_err();
        assert!(err.to_string().contains("ingest_writers"), "{err}");
    }

    #[test]
    fn the_example_config_parses_and_validates() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config/regent.example.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut config: Config = yaml_serde::from_str(&text).unwrap();
        config.apply_env(|_| None).unwrap();
        let defaults = LimitsConfig::default();
        assert_eq!(config.listen, Config::default().listen);
        assert_eq!(config.signing.kid.as_deref(), Some("prod-2026"));
        assert_eq!(config.registries.len(), 3);
        assert!(matches!(
            config.registries[1].auth,
            RegistryAuth::Bearer { .. }
        ));
        assert!(matches!(
            config.registries[2].auth,
            RegistryAuth::Basic { .. }
        ));
        assert_eq!(config.limits.max_bundle_bytes, defaults.max_bundle_bytes);
        assert_eq!(
            config.limits.ingest_queue_events,
            defaults.ingest_queue_events
        );
    }
}
