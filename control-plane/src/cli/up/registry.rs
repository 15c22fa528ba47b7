//! The local OCI registry `regent up` starts when the CNCF distribution binary
//! (`docker-registry`, Debian package of the same name) is installed: loopback only, plain
//! HTTP, filesystem storage under `<data_dir>/registry/data`, the port kept in
//! `<data_dir>/registry/port` so references printed earlier stay valid.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::embedded_pg::{free_port, process_alive};

const BINARY: &str = "docker-registry";
const READY_DEADLINE: Duration = Duration::from_secs(15);
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// A running registry; stopped (SIGTERM, then SIGKILL) by [`stop`](Self::stop) or on drop.
#[derive(Debug)]
pub struct LocalRegistry {
    child: Option<Child>,
    port: u16,
}

/// `docker-registry` on PATH, if installed.
pub fn binary() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(BINARY))
        .find(|p| p.is_file())
}

impl LocalRegistry {
    pub async fn start(binary: &Path, dir: &Path) -> anyhow::Result<LocalRegistry> {
        let storage = dir.join("data");
        std::fs::create_dir_all(&storage)
            .with_context(|| format!("cannot create `{}`", storage.display()))?;
        let config_file = dir.join("config.yml");
        let pid_file = dir.join("registry.pid");
        stop_leftover(&pid_file, &config_file);
        let port_file = dir.join("port");
        let port = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok())
            .filter(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok());
        let port = match port {
            Some(p) => p,
            None => {
                let p = free_port().context("no free loopback port for the registry")?;
                std::fs::write(&port_file, format!("{p}\n"))
                    .with_context(|| format!("cannot write `{}`", port_file.display()))?;
                p
            }
        };
        // JSON is YAML, and serde_json quotes paths correctly.
        let config = serde_json::json!({
            "version": "0.1",
            "log": { "level": "warn", "accesslog": { "disabled": true } },
            "storage": {
                "filesystem": { "rootdirectory": storage },
                "delete": { "enabled": true },
            },
            "http": { "addr": format!("127.0.0.1:{port}"), "secret": "regent-local-registry" },
        });
        std::fs::write(&config_file, config.to_string())
            .with_context(|| format!("cannot write `{}`", config_file.display()))?;
        let log_file = dir.join("registry.log");
        let log = std::fs::File::create(&log_file)
            .with_context(|| format!("cannot create `{}`", log_file.display()))?;
        let child = {
            use std::os::unix::process::CommandExt as _;
            Command::new(binary)
                .arg("serve")
                .arg(&config_file)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                // Its own process group: Ctrl-C reaches regent, which stops it in order.
                .process_group(0)
                .spawn()
                .with_context(|| format!("cannot run `{}`", binary.display()))?
        };
        // Lets the next start find a registry left behind by a killed `regent up`.
        std::fs::write(&pid_file, format!("{}\n", child.id()))
            .with_context(|| format!("cannot write `{}`", pid_file.display()))?;
        let mut registry = LocalRegistry {
            child: Some(child),
            port,
        };
        registry.wait_ready(&log_file).await?;
        tracing::info!(port, dir = %dir.display(), "local OCI registry ready");
        Ok(registry)
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn wait_ready(&mut self, log_file: &Path) -> anyhow::Result<()> {
        let url = format!("http://{}/v2/", self.host());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let log = std::fs::read_to_string(log_file).unwrap_or_default();
                bail!(
                    "`{BINARY}` exited ({status}) before serving: {}",
                    log.lines().last().unwrap_or("no output")
                );
            }
            // Nothing to await on a child's readiness but the port itself.
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "the local registry did not answer on {url} within {READY_DEADLINE:?}; see `{}`",
                    log_file.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SIGTERM through kill(1): `unsafe` (libc) is forbidden in this crate.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                tracing::info!(port = self.port, "local OCI registry stopped");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A registry still running from a `regent up` that was killed (it has its own process
/// group, so it outlives its parent) holds our port and storage: stop it first.
fn stop_leftover(pid_file: &Path, config_file: &Path) {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
    else {
        return;
    };
    let ours = |pid: u32| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
            let cmdline = String::from_utf8_lossy(&cmdline);
            cmdline.contains(BINARY) && cmdline.contains(&*config_file.to_string_lossy())
        })
    };
    if !ours(pid) {
        return;
    }
    tracing::info!(pid, "stopping the local registry left by an earlier run");
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
    // Not `ours()`: an exiting process loses its cmdline before it closes its sockets.
    let deadline = Instant::now() + STOP_DEADLINE;
    while process_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        self.stop_inner();
    }
}
