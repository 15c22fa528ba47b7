//! The demo fleet `regent up` starts: one `regent-agent` sidecar process per persona, each
//! with its own agent token (scoped to its persona), config, state folder and log under
//! `<data_dir>/agents/<persona>/`, following the persona's `prod` channel on this control
//! plane with long polling, verifying with the control plane's public keys, and shipping its
//! decision logs and status back. Stopped with SIGTERM, so each flushes its decision logs while
//! the server still listens.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::write_secret;
use crate::app::AppState;
use crate::auth::{Role, generate_token};
use crate::embedded_pg::free_port;

const BINARY: &str = "regent-agent";
/// From spawn to `/health` 200 (the first bundle downloaded, verified and compiled).
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// SIGTERM → exit: the sidecar's own grace (finish requests, flush logs) fits well inside.
const STOP_DEADLINE: Duration = Duration::from_secs(20);

/// One running sidecar.
#[derive(Debug)]
pub struct Sidecar {
    pub persona: String,
    pub agent_id: String,
    /// Where its decision API listens (`POST /v1/decide`).
    pub addr: SocketAddr,
    pub log: PathBuf,
    child: Option<Child>,
}

/// `--agent-bin`, else `regent-agent` beside this executable (`cargo build` puts both in
/// `target/<profile>/`), else on PATH.
pub fn binary(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    let beside = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name(BINARY))
        .filter(|p| p.is_file());
    beside.or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join(BINARY))
            .find(|p| p.is_file())
    })
}

/// Starts one sidecar per persona and waits until each serves its policy. Already started
/// sidecars are stopped (on drop) if a later one fails.
pub async fn start(
    state: &AppState,
    binary: &Path,
    server: SocketAddr,
    personas: &[String],
) -> anyhow::Result<Vec<Sidecar>> {
    let mut fleet = Vec::new();
    for persona in personas {
        let sidecar = start_one(state, binary, server, persona).await?;
        fleet.push(sidecar);
    }
    let deadline = Instant::now() + READY_DEADLINE;
    for sidecar in &mut fleet {
        sidecar.wait_ready(deadline).await?;
    }
    Ok(fleet)
}

async fn start_one(
    state: &AppState,
    binary: &Path,
    server: SocketAddr,
    persona: &str,
) -> anyhow::Result<Sidecar> {
    let dir = state.config.data_dir.join("agents").join(persona);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let token_file = dir.join("agent.token");
    ensure_agent_token(state, persona, &token_file).await?;
    let agent_id = format!("{persona}-demo-1");
    let port = free_port().context("no free loopback port for an agent sidecar")?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // The agent trusts exactly the keys the control plane trusts (rotation included).
    let keys: Vec<_> = state
        .keys
        .trusted()
        .iter()
        .map(|key| serde_json::json!({"kid": key.kid(), "pem": key.to_pem()}))
        .collect();
    // JSON is YAML; the agent refuses unknown keys, so this doubles as a check of its schema.
    let config = serde_json::json!({
        "agent_id": agent_id,
        "server": format!("http://{server}"),
        "token_file": token_file,
        "state_dir": dir.join("state"),
        "keys": keys,
        "labels": {"env": "demo"},
        "personas": [{"name": persona, "source": {"type": "control_plane", "channel": "prod"}}],
        "polling": {"long_polling_timeout_seconds": 30},
        "decision_logs": {"flush_interval_seconds": 1.0, "shutdown_flush_seconds": 10.0},
        "status": {"heartbeat_seconds": 10.0},
        "http": {"listen": addr.to_string(), "default_persona": persona, "shutdown_grace_seconds": 5.0},
    });
    let config_file = dir.join("agent.yaml");
    std::fs::write(&config_file, serde_json::to_vec_pretty(&config)?)
        .with_context(|| format!("cannot write `{}`", config_file.display()))?;
    let log = dir.join("agent.log");
    let log_file = std::fs::File::create(&log)
        .with_context(|| format!("cannot create `{}`", log.display()))?;
    let child = {
        use std::os::unix::process::CommandExt as _;
        Command::new(binary)
            .arg("--config")
            .arg(&config_file)
            .env_remove("REGENT_AGENT_CONFIG")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            // Its own process group: Ctrl-C reaches `regent up` only, which stops the
            // sidecars first so their last decision logs still reach a listening server.
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot run `{}`", binary.display()))?
    };
    Ok(Sidecar {
        persona: persona.to_owned(),
        agent_id,
        addr,
        log,
        child: Some(child),
    })
}

/// Reuses the persona's saved agent token while the database still accepts it for that
/// persona; otherwise creates one and saves it (mode 0600).
async fn ensure_agent_token(state: &AppState, persona: &str, path: &Path) -> anyhow::Result<()> {
    if let Ok(saved) = std::fs::read_to_string(path)
        && let Some(principal) = state.store.authenticate(saved.trim()).await?
        && principal.role == Role::Agent
        && principal.persona.as_deref() == Some(persona)
    {
        return Ok(());
    }
    let token = generate_token();
    state
        .store
        .create_token(
            &token,
            &format!("regent-up-agent-{persona}"),
            Role::Agent,
            Some(persona),
            "regent up",
        )
        .await?;
    write_secret(path, &token)
}

impl Sidecar {
    async fn wait_ready(&mut self, deadline: Instant) -> anyhow::Result<()> {
        let url = format!("http://{}/health", self.addr);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                bail!(
                    "the `{}` sidecar exited ({status}) before serving: {}",
                    self.persona,
                    log.lines().last().unwrap_or("no output")
                );
            }
            // The sidecar answers 503 until its first bundle is active; nothing else to await.
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "the `{}` sidecar did not serve a policy on {url} within {READY_DEADLINE:?}; see `{}`",
                    self.persona,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// SIGTERMs every sidecar at once, then waits for each (SIGKILL after [`STOP_DEADLINE`]).
/// Returns how many exited cleanly (status 0).
pub async fn stop_all(fleet: Vec<Sidecar>) -> usize {
    for sidecar in &fleet {
        if let Some(pid) = sidecar.pid() {
            // SIGTERM through kill(1): `unsafe` (libc) is forbidden in this crate.
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
    let deadline = Instant::now() + STOP_DEADLINE;
    let mut clean = 0;
    for mut sidecar in fleet {
        let Some(mut child) = sidecar.child.take() else {
            continue;
        };
        let exited = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => break None,
            }
        };
        match exited {
            Some(status) if status.success() => clean += 1,
            Some(status) => {
                tracing::warn!(persona = %sidecar.persona, %status, log = %sidecar.log.display(), "sidecar exited with an error");
            }
            None => {
                tracing::warn!(persona = %sidecar.persona, "sidecar did not stop in time; killed");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    clean
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        // Only reached when start-up failed half-way: no flush to wait for.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
