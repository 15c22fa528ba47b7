//! Against the real control plane (in-process, real Postgres via `#[sqlx::test]`, a real port behind a
//! switchable proxy): the agent follows pushes by long poll, its decision logs land exactly once in
//! `decision_logs`, its status in `agents`; an outage spools and then delivers everything; a wrong key never
//! activates and the error reaches the control plane; the sidecar binary killed with SIGKILL loses nothing it
//! had spooled and, restarted while the control plane is unreachable, serves from its disk copy at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::{action, eventually, fast, key, key_config, marker_persona, persona};
use regent_agent::{Agent, AgentConfig, SourceConfig, shutdown};
use regent_bundle::{BuildOptions, SigningKey};
use regent_control_plane::app::AppState;
use regent_control_plane::auth::{Role, generate_token};
use regent_control_plane::keyring::KeyRing;
use regent_control_plane::store::Store;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

const PERSONA: &str = "tiny-bot";

struct ControlPlane {
    pool: PgPool,
    addr: std::net::SocketAddr,
    key: SigningKey,
    publisher: String,
    agent_token: String,
    _running: regent_control_plane::server::Running,
}

impl ControlPlane {
    async fn start(pool: PgPool) -> ControlPlane {
        let store = Store::from_pool(pool.clone());
        let key = SigningKey::generate("cp-key", regent_bundle::KeyAlgorithm::Es256).unwrap();
        let keys = KeyRing::new(
            SigningKey::from_pem("cp-key", &key.to_pem()).unwrap(),
            Vec::new(),
        )
        .unwrap();
        keys.register(&store).await.unwrap();
        let config = regent_control_plane::config::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        };
        let state = AppState::new(config, store.clone(), keys);
        store.ensure_persona(PERSONA).await.unwrap();
        let token = |role, persona: Option<&str>| {
            let (store, token) = (store.clone(), generate_token());
            let persona = persona.map(str::to_owned);
            async move {
                store
                    .create_token(&token, "test", role, persona.as_deref(), "test")
                    .await
                    .unwrap();
                token
            }
        };
        let publisher = token(Role::Publisher, None).await;
        let agent_token = token(Role::Agent, Some(PERSONA)).await;
        let running = regent_control_plane::server::start(state).await.unwrap();
        ControlPlane {
            pool,
            addr: running.addr,
            key,
            publisher,
            agent_token,
            _running: running,
        }
    }

    /// Pushes a marker policy to the `staging` channel.
    async fn push(&self, marker: &str) {
        let dir = tempfile::tempdir().unwrap();
        marker_persona(dir.path(), PERSONA, marker);
        let archive = regent_bundle::build_dir(dir.path(), &BuildOptions::default())
            .unwrap()
            .to_archive()
            .unwrap();
        let response = reqwest::Client::new()
            .post(format!(
                "http://{}/api/v1/personas/{PERSONA}/revisions?channel=staging",
                self.addr
            ))
            .bearer_auth(&self.publisher)
            .header("content-type", "application/gzip")
            .body(archive)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "push failed: {}",
            response.text().await.unwrap()
        );
    }

    async fn stored(&self, ids: &[String]) -> (i64, i64) {
        let ids: Vec<Uuid> = ids.iter().map(|id| id.parse().unwrap()).collect();
        sqlx::query_as("SELECT count(*), count(DISTINCT decision_id) FROM decision_logs WHERE decision_id = ANY($1)")
            .bind(&ids)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn agent_row(&self, id: &str) -> Option<(Option<String>, Option<i64>, Option<String>)> {
        sqlx::query_as(
            "SELECT active_revision, active_sequence, last_error FROM agents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .unwrap()
    }

    fn agent_config(
        &self,
        state: &std::path::Path,
        server: &str,
        trusted: &SigningKey,
    ) -> AgentConfig {
        let mut config = AgentConfig {
            agent_id: "agent-1".into(),
            server: Some(server.to_owned()),
            token: Some(self.agent_token.clone()),
            state_dir: state.to_path_buf(),
            keys: vec![key_config(trusted)],
            personas: vec![persona(
                PERSONA,
                SourceConfig::ControlPlane {
                    channel: Some("staging".into()),
                },
            )],
            ..AgentConfig::default()
        };
        fast(&mut config);
        config
    }
}

async fn wait_db(secs: u64, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn marker(agent: &Agent) -> String {
    let d = agent.decide(&action(PERSONA, "echo"));
    d.reasons
        .first()
        .map(|r| r.message.clone())
        .unwrap_or_default()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_agent_follows_the_control_plane_and_every_decision_arrives_once(pool: PgPool) {
    let cp = ControlPlane::start(pool).await;
    let mut proxy = Proxy::start(cp.addr).await;
    cp.push("m-1").await;
    let state = tempfile::tempdir().unwrap();
    let agent = Agent::new(cp.agent_config(state.path(), &proxy.url(), &cp.key)).unwrap();
    let (trigger, signal) = shutdown::channel();
    let task = tokio::spawn({
        let agent = agent.clone();
        async move { agent.run(signal).await }
    });
    eventually(10, "first revision", || marker(&agent) == "m-1").await;

    // A push reaches the long-polling agent within a second or so.
    let pushed = Instant::now();
    cp.push("m-2").await;
    eventually(10, "second revision", || marker(&agent) == "m-2").await;
    println!("push → served by the agent: {:?}", pushed.elapsed());
    let d = agent.decide(&action(PERSONA, "echo"));
    assert_eq!(
        (d.revision.as_deref(), d.sequence),
        (Some("tiny-bot-2"), Some(2))
    );

    let mut ids: Vec<String> = (0..20)
        .map(|_| {
            agent
                .decide(&action(PERSONA, "echo"))
                .decision_id
                .to_string()
        })
        .collect();
    wait_db(10, "20 events stored", async || {
        cp.stored(&ids).await == (20, 20)
    })
    .await;
    wait_db(10, "status stored", async || {
        cp.agent_row("agent-1")
            .await
            .is_some_and(|(rev, seq, _)| rev.as_deref() == Some("tiny-bot-2") && seq == Some(2))
    })
    .await;

    // The control plane goes away: decisions go on, events spool; it comes back: everything arrives once.
    proxy.down().await;
    ids.extend((0..30).map(|_| {
        agent
            .decide(&action(PERSONA, "echo"))
            .decision_id
            .to_string()
    }));
    let counters = agent
        .persona(PERSONA)
        .unwrap()
        .log_counters()
        .unwrap()
        .clone();
    eventually(10, "spooled", || {
        counters.spool_events.load(Ordering::Relaxed) >= 30
    })
    .await;
    assert_eq!(
        marker(&agent),
        "m-2",
        "decisions continue during the outage"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.up().await;
    wait_db(20, "all 50 stored once", async || {
        cp.stored(&ids).await == (50, 50)
    })
    .await;
    // The rows commit before the agent has read the acknowledgement and trimmed its spool.
    eventually(10, "spool drained", || {
        counters.spool_events.load(Ordering::Relaxed) == 0
    })
    .await;

    // An agent that trusts another key never activates, and says why in its status.
    let wrong = key("cp-key");
    let state2 = tempfile::tempdir().unwrap();
    let mut config = cp.agent_config(state2.path(), &proxy.url(), &wrong);
    config.agent_id = "agent-wrong-key".into();
    let bad = Agent::new(config).unwrap();
    let (trigger2, signal2) = shutdown::channel();
    let task2 = tokio::spawn({
        let bad = bad.clone();
        async move { bad.run(signal2).await }
    });
    wait_db(10, "error reported to the control plane", async || {
        cp.agent_row("agent-wrong-key")
            .await
            .is_some_and(|(rev, _, err)| {
                rev.is_none() && err.is_some_and(|e| e.contains("does not verify"))
            })
    })
    .await;
    assert!(!bad.decide(&action(PERSONA, "echo")).allow);

    trigger.trigger();
    trigger2.trigger();
    task.await.unwrap();
    task2.await.unwrap();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Sidecar {
    child: Child,
    base: String,
}

impl Sidecar {
    fn spawn(config: &std::path::Path, log: &std::path::Path) -> Sidecar {
        let yaml: Value = yaml_serde::from_slice(&std::fs::read(config).unwrap()).unwrap();
        let listen = yaml["http"]["listen"].as_str().unwrap().to_owned();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_regent-agent"))
            .arg("--config")
            .arg(config)
            .env("REGENT_AGENT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Sidecar {
            child,
            base: format!("http://{listen}"),
        }
    }

    async fn wait_healthy(&self, secs: u64) -> Duration {
        let started = Instant::now();
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("{}/health", self.base)).send().await
                && r.status() == 200
            {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(secs),
                "sidecar not healthy"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn decide(&self, n: usize) -> Vec<String> {
        let client = reqwest::Client::new();
        let input = serde_json::to_value(action(PERSONA, "echo")).unwrap();
        let mut ids = Vec::new();
        for _ in 0..n {
            let body: Value = client
                .post(format!("{}/v1/decide", self.base))
                .json(&json!({"input": input}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(body["allow"], true, "{body}");
            ids.push(body["decision_id"].as_str().unwrap().to_owned());
        }
        ids
    }

    async fn metric(&self, name: &str) -> u64 {
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn kill_9_loses_no_spooled_event_and_a_cold_start_serves_the_disk_copy(pool: PgPool) {
    let cp = ControlPlane::start(pool).await;
    let mut proxy = Proxy::start(cp.addr).await;
    cp.push("m-1").await;
    let work = tempfile::tempdir().unwrap();
    let mut config = cp.agent_config(&work.path().join("state"), &proxy.url(), &cp.key);
    config.http.listen = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config_path = work.path().join("agent.yaml");
    let log = work.path().join("agent.log");
    let yaml = json!({
        "agent_id": config.agent_id, "server": config.server, "token": config.token,
        "state_dir": config.state_dir, "keys": [{"kid": "cp-key", "pem": cp.key.public_key().to_pem()}],
        "personas": [{"name": PERSONA, "source": {"type": "control_plane", "channel": "staging"}}],
        "polling": {"min_delay_seconds": 0.05, "max_delay_seconds": 0.2, "long_polling_timeout_seconds": 2},
        "decision_logs": {"flush_interval_seconds": 0.05, "max_delay_seconds": 0.3},
        "status": {"debounce_seconds": 0.02},
        "http": {"listen": config.http.listen.to_string()},
    });
    std::fs::write(&config_path, yaml_serde::to_string(&yaml).unwrap()).unwrap();

    // 1. Running normally: the bundle arrives, decisions are logged.
    let sidecar = Sidecar::spawn(&config_path, &log);
    sidecar.wait_healthy(20).await;
    let mut ids = sidecar.decide(10).await;
    wait_db(10, "first events stored", async || {
        cp.stored(&ids).await == (10, 10)
    })
    .await;

    // 2. The control plane becomes unreachable; decisions spool; the process is killed with SIGKILL.
    proxy.down().await;
    ids.extend(sidecar.decide(25).await);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sidecar
        .metric("regent_agent_decision_log_spool_events")
        .await
        < 25
    {
        assert!(
            Instant::now() < deadline,
            "events not spooled:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(sidecar); // SIGKILL

    // 3. Restart while the control plane is still unreachable: the disk copy is served at once.
    let sidecar = Sidecar::spawn(&config_path, &log);
    let cold = sidecar.wait_healthy(10).await;
    println!("sidecar process start → healthy from the disk copy: {cold:?}");
    ids.extend(sidecar.decide(5).await);

    // 4. The control plane is back: every event, spooled before the kill or after, arrives exactly once.
    proxy.up().await;
    wait_db(30, "all 40 stored once", async || {
        cp.stored(&ids).await == (40, 40)
    })
    .await;
    // No duplicates: the spool was not replayed twice.
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM decision_logs")
        .fetch_one(&cp.pool)
        .await
        .unwrap();
    assert_eq!(total, 40, "{}", std::fs::read_to_string(&log).unwrap());

    // 5. SIGTERM: a clean exit.
    let pid = sidecar.child.id().to_string();
    let more = sidecar.decide(3).await;
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut sidecar = sidecar;
    // Never block this thread: the control plane runs on the same runtime.
    let status = loop {
        if let Some(status) = sidecar.child.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        status.success(),
        "exit {status:?}:\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    ids.extend(more);
    let log_text = std::fs::read_to_string(&log).unwrap();
    let tail: String = log_text
        .lines()
        .rev()
        .take(15)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        cp.stored(&ids).await,
        (43, 43),
        "SIGTERM flushed the last decisions; log tail (reversed):\n{tail}"
    );
}
