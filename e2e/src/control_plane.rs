//! `regent serve` as a child process: its own data folder, signing key (`regent keys generate`),
//! config file, a fixed port kept across restarts; tokens through `regent tokens create`,
//! pushes through `regent push`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bins::bins;
use crate::process::Proc;
use crate::stack::Stack;

/// The kid of the control plane's signing key in every test.
pub const KID: &str = "e2e-1";

/// Short publish pacing so crash recovery and retries happen within a test's budget (the
/// defaults are a 120 s lease and a 2 s first retry).
pub const LEASE_SECONDS: f64 = 4.0;

#[derive(Debug)]
pub struct ControlPlane {
    pub port: u16,
    config: PathBuf,
    logs: PathBuf,
    proc: Option<Proc>,
    /// An admin token (created through the CLI before the first start).
    pub admin: String,
    /// The signing key's public half (PEM), what agents trust.
    pub public_key_pem: String,
    /// The signing key's private half, for tests that forge with the real key.
    pub private_key_path: PathBuf,
    starts: usize,
}

/// The registry the control plane publishes to (`host:port`, plain HTTP), if any.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub registry: Option<String>,
}

impl ControlPlane {
    /// Generates a key, writes the config, migrates, creates an admin token and starts.
    pub async fn start(stack: &Stack, database_url: &str, options: Options) -> ControlPlane {
        let dir = stack.dir("control-plane");
        let keys = dir.join("keys");
        run_cli(&[
            "keys",
            "generate",
            "--kid",
            KID,
            "--out",
            keys.to_str().unwrap(),
        ])
        .await;
        let port = crate::free_port();
        let mut config = json!({
            "listen": format!("127.0.0.1:{port}"),
            "database_url": database_url,
            "database_max_connections": 8,
            "data_dir": dir.join("data"),
            "migrate_on_start": true,
            "signing": {"key_file": keys.join(format!("{KID}.key.pem")), "kid": KID},
            "publish": {
                "lease_seconds": LEASE_SECONDS,
                "job_timeout_seconds": LEASE_SECONDS - 1.0,
                "backoff_base_seconds": 0.3,
                "backoff_cap_seconds": 2.0,
            },
        });
        if let Some(host) = &options.registry {
            config["registries"] = json!([{"name": "local", "host": host, "insecure": true}]);
        }
        let config_path = dir.join("regent.yaml");
        std::fs::write(&config_path, yaml_serde::to_string(&config).unwrap()).unwrap();
        let config_arg = config_path.to_str().unwrap().to_owned();
        run_cli(&["migrate", "--config", &config_arg]).await;
        let admin = run_cli(&[
            "tokens",
            "create",
            "--name",
            "e2e-admin",
            "--role",
            "admin",
            "--config",
            &config_arg,
        ])
        .await;
        let mut cp = ControlPlane {
            port,
            public_key_pem: std::fs::read_to_string(keys.join(format!("{KID}.pub.pem"))).unwrap(),
            private_key_path: keys.join(format!("{KID}.key.pem")),
            config: config_path,
            logs: stack.logs.clone(),
            proc: None,
            admin,
            starts: 0,
        };
        cp.start_again().await;
        cp
    }

    /// Starts `regent serve` (again) on the same port; waits for `/readyz`.
    pub async fn start_again(&mut self) {
        assert!(self.proc.is_none(), "the control plane is already running");
        let mut cmd = Command::new(&bins().regent);
        cmd.arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env(
                "REGENT_LOG",
                "info,regent_control_plane=debug,sqlx=warn,tower_http=warn",
            )
            .env("NO_COLOR", "1")
            .env_remove("DATABASE_URL")
            .env_remove("REGENT_DATABASE_URL");
        self.starts += 1;
        let mut proc = Proc::spawn("control-plane", cmd, &self.logs);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.url())).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Some(status) = proc.exited() {
                panic!("`regent serve` exited with {status}:\n{}", proc.tail(40));
            }
            assert!(
                Instant::now() < deadline,
                "control plane not ready after 60 s:\n{}",
                proc.tail(40)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.proc = Some(proc);
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.proc.take().expect("not running").kill9();
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.logs.join("control-plane.log")).unwrap_or_default()
    }

    /// A new token through `regent tokens create` (agent tokens name their persona).
    pub async fn token(&self, name: &str, role: &str, persona: Option<&str>) -> String {
        let config = self.config.to_str().unwrap().to_owned();
        let mut args = vec![
            "tokens", "create", "--name", name, "--role", role, "--config", &config,
        ];
        if let Some(p) = persona {
            args.extend(["--persona", p]);
        }
        run_cli(&args).await
    }

    /// `regent personas create <name>` as the admin (channels `staging` and `prod`).
    pub async fn create_persona(&self, name: &str) {
        let out = tokio::process::Command::new(&bins().regent)
            .args(["personas", "create", name, "--server", &self.url()])
            .env("REGENT_TOKEN", &self.admin)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "regent personas create {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `regent push <dir> [--channel c]` as the admin; the revision and sequence it printed.
    pub async fn push(&self, dir: &Path, channel: Option<&str>) -> Pushed {
        let mut cmd = tokio::process::Command::new(&bins().regent);
        cmd.arg("push")
            .arg(dir)
            .args(["--server", &self.url()])
            .env("REGENT_TOKEN", &self.admin);
        if let Some(channel) = channel {
            cmd.args(["--channel", channel]);
        }
        let out = cmd.output().await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "regent push {} failed ({}):\n{stdout}\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        // "created revision hr-bot-2 (sequence 2), …" / "unchanged: … revision hr-bot-2 (sequence 2)"
        let revision = stdout
            .split_whitespace()
            .skip_while(|w| *w != "revision")
            .nth(1)
            .unwrap_or_else(|| panic!("no revision in `{stdout}`"))
            .to_owned();
        let sequence = stdout
            .split("(sequence ")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no sequence in `{stdout}`"));
        Pushed {
            created: stdout.starts_with("created"),
            revision,
            sequence,
        }
    }

    /// `GET <path>` with the admin token, as JSON (panics on a non-2xx answer).
    pub async fn get(&self, path: &str) -> Value {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.url()))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "GET {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
    }

    /// `POST <path>` with the admin token and a JSON body: status and JSON reply.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.url()))
            .bearer_auth(&self.admin)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// What `regent push` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub created: bool,
    pub revision: String,
    pub sequence: i64,
}

/// Runs a `regent` subcommand that must succeed; returns its trimmed stdout.
pub async fn run_cli(args: &[&str]) -> String {
    let out = tokio::process::Command::new(&bins().regent)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("REGENT_DATABASE_URL")
        .env("REGENT_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "regent {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
