//! `regent-agent` (the sidecar) as a child process for one persona: config file, state folder
//! (last-known-good bundle, decision-log spool), local HTTP API on a port kept across restarts.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::bins::bins;
use crate::process::Proc;
use crate::stack::Stack;
use crate::wait::eventually;

/// Where a sidecar gets its bundles.
#[derive(Debug, Clone)]
pub enum SidecarSource {
    /// The control plane's bundle API (long poll), following `channel` (`None`: the server
    /// decides).
    ControlPlane { channel: Option<String> },
    /// An OCI reference `host:port/repo:tag` (plain HTTP), cosign signature required.
    Oci { reference: String },
}

#[derive(Debug)]
pub struct Sidecar {
    pub id: String,
    pub persona: String,
    pub base: String,
    pub config: PathBuf,
    logs: PathBuf,
    proc: Option<Proc>,
}

/// What a sidecar needs to know.
#[derive(Debug, Clone)]
pub struct SidecarSpec<'a> {
    pub id: &'a str,
    pub persona: &'a str,
    /// The control plane (status, decision logs, control-plane sources).
    pub server: &'a str,
    pub token: &'a str,
    pub kid: &'a str,
    pub public_key_pem: &'a str,
    pub source: SidecarSource,
}

impl Sidecar {
    /// Writes the config and starts the sidecar (not waiting for a policy).
    pub fn start(stack: &Stack, spec: &SidecarSpec<'_>) -> Sidecar {
        let dir = stack.dir(&format!("agent-{}", spec.id));
        let port = crate::free_port();
        let source = match &spec.source {
            SidecarSource::ControlPlane { channel } => {
                let mut s = json!({"type": "control_plane"});
                if let Some(c) = channel {
                    s["channel"] = json!(c);
                }
                s
            }
            SidecarSource::Oci { reference } => {
                json!({"type": "oci", "reference": reference, "insecure": true})
            }
        };
        let config = json!({
            "agent_id": spec.id,
            "server": spec.server,
            "token": spec.token,
            "state_dir": dir.join("state"),
            "keys": [{"kid": spec.kid, "pem": spec.public_key_pem}],
            "labels": {"e2e": stack.name},
            "personas": [{"name": spec.persona, "source": source}],
            "polling": {"min_delay_seconds": 0.2, "max_delay_seconds": 0.4,
                        "long_polling_timeout_seconds": 20},
            "decision_logs": {"flush_interval_seconds": 0.1, "max_delay_seconds": 0.5,
                              "shutdown_flush_seconds": 3},
            "status": {"debounce_seconds": 0.05, "heartbeat_seconds": 2},
            "http": {"listen": format!("127.0.0.1:{port}"), "shutdown_grace_seconds": 3},
        });
        let path = dir.join("agent.yaml");
        std::fs::write(&path, yaml_serde::to_string(&config).unwrap()).unwrap();
        let mut sidecar = Sidecar {
            id: spec.id.to_owned(),
            persona: spec.persona.to_owned(),
            base: format!("http://127.0.0.1:{port}"),
            config: path,
            logs: stack.logs.clone(),
            proc: None,
        };
        sidecar.start_again();
        sidecar
    }

    /// Starts the process (again) with the same config, state and port.
    pub fn start_again(&mut self) {
        assert!(self.proc.is_none(), "sidecar {} already running", self.id);
        let mut cmd = Command::new(&bins().agent);
        cmd.arg("--config")
            .arg(&self.config)
            .env("REGENT_AGENT_LOG", "info")
            .env("NO_COLOR", "1");
        self.proc = Some(Proc::spawn(&format!("agent-{}", self.id), cmd, &self.logs));
    }

    pub fn kill9(&mut self) {
        self.proc.take().expect("not running").kill9();
    }

    /// SIGTERM; the exit must be clean (decision logs flushed).
    pub async fn terminate(&mut self) {
        let mut proc = self.proc.take().expect("not running");
        let status = proc.terminate(Duration::from_secs(15)).await;
        assert!(
            status.is_some_and(|s| s.success()),
            "sidecar {} did not exit cleanly ({status:?}):\n{}",
            self.id,
            proc.tail(30)
        );
    }

    /// Waits until `/health` answers 200 (a policy is active).
    pub async fn wait_healthy(&self, secs: f64) {
        let url = format!("{}/health", self.base);
        eventually(secs, &format!("sidecar {} healthy", self.id), async || {
            reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    /// `POST /v1/decide` with `input` for the sidecar's persona: the decision (allow, reasons, revision, decision_id…).
    pub async fn decide(&self, input: &Value) -> Value {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/decide", self.base))
            .json(&json!({"persona": self.persona, "input": input}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("sidecar {}: {e}", self.id));
        assert_eq!(r.status(), 200, "sidecar {} /v1/decide", self.id);
        r.json().await.unwrap()
    }

    /// The revision the sidecar decides with now (`None` before it has a policy).
    pub async fn revision(&self, input: &Value) -> Option<String> {
        self.decide(input).await["revision"]
            .as_str()
            .map(str::to_owned)
    }

    /// A counter or gauge from `/metrics` (the first series whose name matches), 0 if absent.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}
