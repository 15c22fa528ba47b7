//! Regent's agent client: pull, verify and hot-swap signed persona bundles; decide in microseconds, fail
//! closed; ship every decision log; report status. The `regent-agent` sidecar binary wraps it in a local
//! HTTP API (see [`http`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use regent_agent::{Agent, AgentConfig, shutdown};
//! let config = AgentConfig::load(None)?; // REGENT_AGENT_CONFIG + REGENT_AGENT_* variables
//! let agent = Agent::new(config)?; // serves the last-known-good disk copies at once
//! let (trigger, signal) = shutdown::channel();
//! let background = tokio::spawn({
//!     let agent = agent.clone();
//!     async move { agent.run(signal).await }
//! });
//! # let input: regent_protocol::AgentActionV1 = todo!();
//! let decision = agent.decide(&input); // sync, lock-free, fail-closed
//! if decision.allow { /* act, honouring decision.obligations */ }
//! trigger.trigger(); // stop polling, flush decision logs
//! background.await?;
//! # Ok(()) }
//! ```
//!
//! Module map: [`config`] (YAML + env), [`agent`] (slots, decide, activation), [`snapshot`] (the activation
//! pipeline), [`decide`] (the hot path), [`source`] (control plane, OCI, file), [`lkg`] (last known good on
//! disk), [`logs`] (queue, spool, shipper), [`status`], [`metrics`], [`http`] (the sidecar API).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod agent;
pub mod backoff;
pub mod config;
pub mod decide;
pub mod http;
pub mod lkg;
pub mod logs;
pub mod metrics;
pub mod shutdown;
pub mod snapshot;
pub mod source;
pub mod status;

pub use agent::{Activation, Agent, AgentError, BundleState, PersonaRuntime, VERSION};
pub use config::{AgentConfig, ConfigError, PersonaConfig, SourceConfig};
pub use decide::{Decision, EngineReuse};
pub use snapshot::{ActivationError, Origin, Snapshot};

use std::time::Duration;

use tokio::task::JoinSet;

use crate::config::load_keys;
use crate::logs::shipper::Shipper;
use crate::shutdown::Shutdown;
use crate::source::file::FileSource;
use crate::source::http::HttpSource;
use crate::source::oci::{self, OciSource};

impl Agent {
    /// Runs the background work until `shutdown`: one source per persona, the decision-log shippers and the
    /// status reporters. On shutdown the sources stop, the shippers flush (memory → server, else → spool) and
    /// a last status report is sent. Call once.
    pub async fn run(&self, shutdown: Shutdown) {
        let config = self.config().clone();
        let client = match reqwest::Client::builder()
            .user_agent(VERSION)
            .connect_timeout(Duration::from_secs(10))
            .build()
        {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the HTTP client; background work disabled");
                return;
            }
        };
        let server = config
            .server
            .as_deref()
            .map(|s| s.trim_end_matches('/').to_owned());
        let mut tasks = JoinSet::new();
        let receivers = std::mem::take(
            &mut *self
                .inner
                .receivers
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for (index, rx) in receivers {
            let (Some(rt), Some(server)) = (self.inner.personas.get(index), server.as_deref())
            else {
                continue;
            };
            let Some(queue) = rt.log_queue() else {
                continue;
            };
            let shipper = Shipper {
                client: client.clone(),
                url: format!("{server}{}", config.decision_logs.resource),
                token: rt.token.clone(),
                config: config.decision_logs.clone(),
                spool: queue.spool().clone(),
                counters: queue.counters.clone(),
                on_change: rt.changed.clone(),
            };
            tasks.spawn(shipper.run(rx, shutdown.clone()));
        }
        for rt in self.personas() {
            if let (true, Some(server)) = (config.status.enabled, server.as_deref()) {
                tasks.spawn(self.clone().status_loop(
                    rt.clone(),
                    client.clone(),
                    format!("{server}/status"),
                    shutdown.clone(),
                ));
            }
            match &rt.source {
                SourceConfig::ControlPlane { channel } => {
                    let Some(server) = server.as_deref() else {
                        continue;
                    };
                    let source = HttpSource::new(
                        self.clone(),
                        rt.clone(),
                        client.clone(),
                        server,
                        channel.as_deref(),
                    );
                    tasks.spawn(source.run(shutdown.clone()));
                }
                SourceConfig::File { path } => {
                    let source = FileSource {
                        agent: self.clone(),
                        rt: rt.clone(),
                        path: path.clone(),
                    };
                    tasks.spawn(source.run(shutdown.clone()));
                }
                SourceConfig::Oci {
                    reference,
                    insecure,
                    username,
                    password,
                    cosign_keys,
                    require_cosign,
                } => {
                    match self.oci_source(
                        rt,
                        reference,
                        *insecure,
                        username,
                        password,
                        cosign_keys,
                        *require_cosign,
                    ) {
                        Ok(source) => {
                            tasks.spawn(source.run(shutdown.clone()));
                        }
                        Err(message) => {
                            source::request_failed(rt, message, None);
                        }
                    }
                }
                SourceConfig::None => {}
            }
        }
        while let Some(result) = tasks.join_next().await {
            if let Err(e) = result {
                tracing::error!(error = %e, "an agent task failed");
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn oci_source(
        &self,
        rt: &std::sync::Arc<PersonaRuntime>,
        reference: &str,
        insecure: bool,
        username: &Option<String>,
        password: &Option<String>,
        cosign_keys: &[config::KeyConfig],
        require_cosign: bool,
    ) -> Result<OciSource, String> {
        let reference: oci_client::Reference = reference
            .parse()
            .map_err(|e| format!("OCI reference `{reference}` is invalid: {e}"))?;
        let auth = match (username, password) {
            (Some(u), Some(p)) => oci_client::secrets::RegistryAuth::Basic(u.clone(), p.clone()),
            _ => oci_client::secrets::RegistryAuth::Anonymous,
        };
        let keys = if cosign_keys.is_empty() {
            self.inner.policy.keys.clone()
        } else {
            load_keys(
                cosign_keys,
                &format!("personas.{}.source.cosign_keys", rt.name),
            )
            .map_err(|e| e.to_string())?
        };
        let cosign_keys = match (
            keys.is_empty(),
            require_cosign,
            self.config().insecure_skip_verify,
        ) {
            (false, _, _) => Some(keys),
            (true, false, true) => None,
            (true, _, _) => {
                return Err("an OCI source needs cosign keys (or `require_cosign: false` with `insecure_skip_verify`)".into());
            }
        };
        Ok(OciSource {
            agent: self.clone(),
            rt: rt.clone(),
            reference,
            client: oci::client(insecure),
            auth,
            cosign_keys,
        })
    }
}
