//! `regent up`, the README's run command, as a person runs it: the real `regent` binary on free
//! loopback ports with a fresh database, the real local registry (when `docker-registry` is
//! installed), the real `regent-agent` sidecars and the traffic generator. Checks that the three
//! persona agents report status, that decision logs of every persona arrive, and that Ctrl-C
//! stops everything with every answered decision stored (the sidecars flush before the server
//! goes).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sqlx::PgPool;

const PERSONAS: [&str; 3] = ["hr-bot", "it-bot", "dev-bot"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// `regent-agent` beside `regent` (built by `cargo test --workspace`, `scripts/run.sh`); built
/// here when only this package's tests were compiled.
fn agent_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_regent")).with_file_name("regent-agent");
    if !path.is_file() {
        let profile = if cfg!(debug_assertions) {
            vec![]
        } else {
            vec!["--release"]
        };
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "regent-agent", "--bin", "regent-agent"])
            .args(profile)
            .current_dir(workspace())
            .status()
            .unwrap();
        assert!(status.success(), "cannot build regent-agent");
    }
    assert!(path.is_file(), "`{}` missing", path.display());
    path
}

/// The database URL of the test's fresh (unmigrated) database: `regent up` migrates it itself.
fn database_url(pool: &PgPool) -> String {
    let server = std::env::var("DATABASE_URL").unwrap();
    let (server, _) = server.rsplit_once('/').unwrap();
    let db = pool.connect_options().get_database().unwrap().to_owned();
    format!("{server}/{db}")
}

/// Kills `regent up` (and, through Ctrl-C handling, what it started) if the test fails early.
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            signal(self.0.id(), "-INT");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

/// Waits for the next stdout line matching `pred`; every line is echoed for the failure log.
fn line_where(
    lines: &mpsc::Receiver<String>,
    deadline: Instant,
    what: &str,
    mut pred: impl FnMut(&str) -> bool,
) -> String {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                println!("up> {line}");
                if pred(&line) {
                    return line;
                }
            }
            Err(e) => panic!("no {what} line from `regent up`: {e}"),
        }
    }
}

/// `  <label>   <value>` from the summary.
fn value_of(line: &str, label: &str) -> String {
    line.trim_start()
        .strip_prefix(label)
        .unwrap()
        .trim()
        .to_owned()
}

/// Processes whose command line mentions `needle` (the test's data folder).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| e.file_name().to_string_lossy() != me)
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(needle).then_some(cmdline)
        })
        .collect()
}

#[sqlx::test(migrations = false)]
async fn up_runs_three_agents_with_traffic_and_stops_cleanly(pool: PgPool) {
    let agent = agent_binary();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let stderr = std::fs::File::create(data.path().join("up.stderr")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_regent"))
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--rate",
            "20",
            "--agent-bin",
        ])
        .arg(&agent)
        .arg("--bundles")
        .arg(workspace().join("bundles"))
        .env("REGENT_DATA_DIR", &data_dir)
        .env("REGENT_DATABASE_URL", database_url(&pool))
        .env_remove("REGENT_CONFIG")
        .env_remove("REGENT_LISTEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut up = Up(child);
    let (tx, lines) = mpsc::channel();
    let stdout = up.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // Debug builds push three personas (compile + tests + sign) and start three sidecars.
    let deadline = Instant::now() + Duration::from_secs(240);
    let console = value_of(
        &line_where(&lines, deadline, "console", |l| {
            l.trim_start().starts_with("console ")
        }),
        "console",
    );
    let admin = value_of(
        &line_where(&lines, deadline, "admin token", |l| {
            l.trim_start().starts_with("admin token")
        }),
        "admin token",
    );
    let auditor = value_of(
        &line_where(&lines, deadline, "auditor token", |l| {
            l.trim_start().starts_with("auditor token")
        }),
        "auditor token",
    );
    assert!(console.starts_with("http://127.0.0.1:") && console.ends_with("/console"));
    assert_ne!(
        console, "http://127.0.0.1:0/console",
        "the bound port is printed"
    );
    let base = console.trim_end_matches("/console").to_owned();
    let mut sidecars = Vec::new();
    let ready = line_where(&lines, deadline, "Ready", |l| {
        if l.contains("POST http://127.0.0.1:") {
            sidecars.push(l.to_owned());
        }
        l.starts_with("Ready") || l.contains("No demo agents")
    });
    assert!(ready.starts_with("Ready"), "{ready}");
    assert_eq!(sidecars.len(), 3, "one sidecar per persona: {sidecars:?}");
    for persona in PERSONAS {
        assert!(
            sidecars.iter().any(|l| l.trim_start().starts_with(persona)),
            "{persona}: {sidecars:?}"
        );
    }

    // The printed tokens work, with their roles.
    let client = reqwest::Client::new();
    let personas = client
        .get(format!("{base}/api/v1/personas"))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(personas.status(), 200);
    let body = personas.text().await.unwrap();
    for persona in PERSONAS {
        assert!(body.contains(persona), "{body}");
    }
    assert!(admin.starts_with("rgt_") || !admin.is_empty());
    assert_ne!(admin, auditor);

    // The fleet reports status and its decisions arrive, for every persona.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let agents: Vec<(String, Option<String>, bool)> = sqlx::query_as(
            "SELECT a.id, a.active_revision, a.last_status <> '{}'::jsonb
             FROM agents a ORDER BY a.id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let logs: Vec<(Option<String>, i64)> = sqlx::query_as(
            "SELECT persona, count(*) FROM decision_logs GROUP BY persona ORDER BY persona",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let reporting = agents
            .iter()
            .filter(|(id, revision, status)| {
                *status
                    && revision.is_some()
                    && PERSONAS.iter().any(|p| *id == format!("{p}-demo-1"))
            })
            .count();
        let logging = logs.iter().filter(|(_, n)| *n >= 10).count();
        if reporting == 3 && logging == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "agents {agents:?}, decision logs per persona {logs:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Ctrl-C: traffic stops, sidecars flush, then the server and the registry go.
    signal(up.0.id(), "-INT");
    let deadline = Instant::now() + Duration::from_secs(60);
    let traffic = line_where(&lines, deadline, "traffic summary", |l| {
        l.trim_start().starts_with("traffic ")
    });
    let agents_line = line_where(&lines, deadline, "agents summary", |l| {
        l.trim_start().starts_with("agents ")
    });
    assert!(
        agents_line.contains("3 of 3 sidecars"),
        "every sidecar exited cleanly: {agents_line}"
    );
    let status = loop {
        if let Some(status) = up.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "`regent up` did not exit after Ctrl-C"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = std::fs::read_to_string(data.path().join("up.stderr")).unwrap();
    assert!(status.success(), "exit {status}; stderr:\n{log}");

    // Every decision a sidecar answered was logged, shipped and stored exactly once.
    let decided: i64 = value_of(&traffic, "traffic")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(decided > 0, "{traffic}");
    assert!(traffic.contains(", 0 failed requests"), "{traffic}");
    let stored: i64 = sqlx::query_scalar("SELECT count(DISTINCT decision_id) FROM decision_logs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, decided, "{traffic}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM decision_logs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, stored, "no duplicates");
    // Nothing `up` started outlives it (sidecars and the registry name the data folder).
    let left = processes_mentioning(&data_dir);
    assert!(left.is_empty(), "still running: {left:?}");
}
