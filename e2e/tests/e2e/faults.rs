//! Scenario 4: faults. The control plane killed with SIGKILL in the middle of a publish and in
//! the middle of log ingest; a network partition between a sidecar and the control plane;
//! PostgreSQL restarted while sidecars post logs; the registry down while a revision is
//! published. Afterwards nothing is lost or duplicated (decision_ids counted end to end) and
//! every publication completes with its tags on the right digest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regent_e2e::control_plane::{KID, Options};
use regent_e2e::sidecar::SidecarSpec;
use regent_e2e::{
    ControlPlane, Database, PrivatePostgres, Proxy, Registry, Sidecar, SidecarSource, Stack,
    eventually, eventually_some, fleet,
};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::common::{World, echo, marker, marker_persona};

/// Decides continuously on some sidecars (by HTTP) and records every decision_id, until
/// stopped: the traffic that must arrive exactly once whatever breaks meanwhile.
struct Traffic {
    ids: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Traffic {
    fn start(bases: Vec<(String, String)>) -> Traffic {
        let ids = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (ids, stop) = (ids.clone(), stop.clone());
            async move {
                let client = reqwest::Client::new();
                while !stop.load(Ordering::Relaxed) {
                    for (base, persona) in &bases {
                        let d: Value = client
                            .post(format!("{base}/v1/decide"))
                            .json(&serde_json::json!({"input": echo(persona)}))
                            .send()
                            .await
                            .expect("a sidecar stopped answering")
                            .json()
                            .await
                            .unwrap();
                        assert_eq!(d["allow"], true, "{d}");
                        ids.lock()
                            .unwrap()
                            .push(d["decision_id"].as_str().unwrap().into());
                    }
                    // ~100 decisions/s per sidecar: enough batches in flight to hit every window.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });
        Traffic { ids, stop, task }
    }

    /// (Never hold the lock across an await: the traffic task takes it between requests.)
    fn count(&self) -> usize {
        self.ids.lock().unwrap().len()
    }

    /// Waits until `n` more decisions were made.
    async fn more(&self, n: usize) {
        let target = self.count() + n;
        eventually(20.0, &format!("{n} more decisions"), async || {
            self.count() >= target
        })
        .await;
    }

    async fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        Arc::try_unwrap(self.ids).unwrap().into_inner().unwrap()
    }
}

/// Waits until every id is stored exactly once, and checks no decision_id is stored twice
/// (the test's own probing decisions are in the table too).
async fn all_arrive_once(pool: &sqlx::PgPool, ids: &[String], secs: f64) {
    let n = ids.len() as i64;
    eventually(secs, &format!("all {n} decisions stored"), async || {
        fleet::stored(pool, ids).await == Some((n, n))
    })
    .await;
    let (rows, distinct) = fleet::all_stored(pool).await;
    assert_eq!(rows, distinct, "no decision_id stored twice");
    println!("{n} decisions stored exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_kill_9_during_publish_and_ingest_and_a_partition() {
    let stack = Stack::new("control_plane_kill_9");
    let db = Database::create(&stack).await;
    let registry = Registry::start(&stack).await;
    // The control plane reaches the registry through a proxy that can hang mid-request.
    let mut registry_link = Proxy::start(([127, 0, 0, 1], registry.port).into()).await;
    let mut cp = ControlPlane::start(
        &stack,
        &db.url,
        Options {
            registry: Some(registry_link.host()),
        },
    )
    .await;
    let w_pool = db.pool().clone();

    // 1. SIGKILL while a publication is in flight (claimed, the registry push hanging).
    registry_link.stall();
    let bundle = marker_persona(&stack.dir("src/kill-bot"), "kill-bot", "m-1");
    cp.create_persona("kill-bot").await;
    let pushed = cp.push(&bundle, None).await;
    eventually(20.0, "a publication claimed and in flight", async || {
        fleet::publications(&w_pool, &pushed.revision)
            .await
            .iter()
            .any(|j| j.leased && j.state == "pending" && j.attempts >= 1)
    })
    .await;
    cp.kill9();
    let interrupted = fleet::publications(&w_pool, &pushed.revision).await;
    assert!(
        interrupted.iter().all(|j| j.state == "pending"),
        "{interrupted:?}"
    );
    registry_link.pass().await;
    cp.start_again().await;
    // The restarted replica takes the jobs over once the dead one's lease expires.
    let world = WorldRef {
        registry: &registry,
        db: &db,
    };
    assert_published_via(&world, "kill-bot", &pushed.revision, &["staging", "prod"]).await;
    let jobs = fleet::publications(&w_pool, &pushed.revision).await;
    assert!(
        jobs.iter().any(|j| j.attempts >= 2),
        "the interrupted job was retried: {jobs:?}"
    );

    // 2. SIGKILL during log ingest: two sidecars keep deciding (one behind a proxy, for step 3).
    let token = cp.token("kill-bot-agents", "agent", Some("kill-bot")).await;
    let mut agent_link = Proxy::start(cp.addr()).await;
    let direct_url = cp.url();
    let proxied_url = agent_link.url();
    let spec = |id, server| SidecarSpec {
        id,
        persona: "kill-bot",
        server,
        token: &token,
        kid: KID,
        public_key_pem: &cp.public_key_pem,
        source: SidecarSource::ControlPlane {
            channel: Some("staging".into()),
        },
    };
    let a = Sidecar::start(&stack, &spec("kill-a", &direct_url));
    let b = Sidecar::start(&stack, &spec("kill-b", &proxied_url));
    a.wait_healthy(30.0).await;
    b.wait_healthy(30.0).await;
    let traffic = Traffic::start(vec![
        (a.base.clone(), "kill-bot".into()),
        (b.base.clone(), "kill-bot".into()),
    ]);
    traffic.more(50).await;
    eventually(20.0, "ingest under way", async || {
        fleet::all_stored(&w_pool).await.0 > 20
    })
    .await;
    cp.kill9();
    // The sidecars go on deciding and spool what they cannot deliver.
    eventually(
        20.0,
        "sidecar a spools while the control plane is dead",
        async || a.metric("regent_agent_decision_log_spool_events").await > 0.0,
    )
    .await;
    traffic.more(50).await;
    cp.start_again().await;
    traffic.more(50).await;

    // 3. A partition between sidecar b and the control plane while a new revision ships.
    agent_link.cut().await;
    let v2 = marker_persona(&stack.dir("src/kill-bot-2"), "kill-bot", "m-2");
    let pushed2 = cp.push(&v2, None).await;
    eventually(20.0, "sidecar a follows the push", async || {
        marker(&a.decide(&echo("kill-bot")).await) == "m-2"
    })
    .await;
    eventually(20.0, "sidecar b spools behind the partition", async || {
        b.metric("regent_agent_decision_log_spool_events").await > 0.0
    })
    .await;
    assert_eq!(
        marker(&b.decide(&echo("kill-bot")).await),
        "m-1",
        "b serves its last good revision"
    );
    traffic.more(50).await;
    agent_link.pass().await;
    eventually(
        30.0,
        "sidecar b catches up after the partition",
        async || b.decide(&echo("kill-bot")).await["revision"] == pushed2.revision.as_str(),
    )
    .await;
    traffic.more(20).await;
    let ids = traffic.finish().await;
    all_arrive_once(&w_pool, &ids, 60.0).await;
    for id in ["kill-a", "kill-b"] {
        eventually(
            20.0,
            &format!("{id} reports {}", pushed2.revision),
            async || {
                fleet::agent(&w_pool, id).await.is_some_and(|r| {
                    r.active_revision.as_deref() == Some(pushed2.revision.as_str())
                })
            },
        )
        .await;
    }
}

/// `assert_published` for tests that assemble their own parts.
struct WorldRef<'a> {
    registry: &'a Registry,
    db: &'a Database,
}

async fn assert_published_via(w: &WorldRef<'_>, persona: &str, revision: &str, channels: &[&str]) {
    crate::publish::check_published(w.registry, w.db.pool(), persona, revision, channels).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_while_agents_post_logs() {
    let stack = Stack::new("postgres_restart");
    let mut pg = PrivatePostgres::start(&stack).await;
    let db = Database::create_in(&stack, &pg).await;
    let cp = ControlPlane::start(&stack, &db.url, Options::default()).await;
    let bundle = marker_persona(&stack.dir("src/pg-bot"), "pg-bot", "m-1");
    cp.create_persona("pg-bot").await;
    cp.push(&bundle, None).await;
    let token = cp.token("pg-bot-agents", "agent", Some("pg-bot")).await;
    let url = cp.url();
    let spec = |id| SidecarSpec {
        id,
        persona: "pg-bot",
        server: &url,
        token: &token,
        kid: KID,
        public_key_pem: &cp.public_key_pem,
        source: SidecarSource::ControlPlane { channel: None },
    };
    let a = Sidecar::start(&stack, &spec("pg-a"));
    let b = Sidecar::start(&stack, &spec("pg-b"));
    a.wait_healthy(30.0).await;
    b.wait_healthy(30.0).await;
    let traffic = Traffic::start(vec![
        (a.base.clone(), "pg-bot".into()),
        (b.base.clone(), "pg-bot".into()),
    ]);
    traffic.more(50).await;
    eventually(20.0, "ingest under way", async || {
        fleet::all_stored(db.pool()).await.0 > 20
    })
    .await;

    pg.stop().await;
    // Decisions go on from memory; the control plane cannot store, so the sidecars spool.
    eventually(
        30.0,
        "the sidecars spool while PostgreSQL is down",
        async || {
            a.metric("regent_agent_decision_log_spool_events").await > 0.0
                && b.metric("regent_agent_decision_log_spool_events").await > 0.0
        },
    )
    .await;
    traffic.more(100).await;
    let ready = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503, "readiness reports the database outage");
    pg.start_again().await;
    eventually(30.0, "the control plane is ready again", async || {
        reqwest::get(format!("{url}/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    traffic.more(50).await;
    let ids = traffic.finish().await;
    all_arrive_once(db.pool(), &ids, 60.0).await;
    // The fleet view recovered too.
    for id in ["pg-a", "pg-b"] {
        eventually(20.0, &format!("{id} status stored"), async || {
            fleet::agent(db.pool(), id)
                .await
                .is_some_and(|r| r.active_revision.as_deref() == Some("pg-bot-1"))
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_outage_publishing_retries_and_agents_keep_serving() {
    let mut w = World::start("registry_outage").await;
    let pool = w.db.pool().clone();
    let v1 = marker_persona(&w.stack.dir("src/reg-bot-1"), "reg-bot", "m-1");
    w.cp.create_persona("reg-bot").await;
    let first = w.cp.push(&v1, None).await;
    crate::publish::assert_published(&w, "reg-bot", &first.revision, &["staging", "prod"]).await;
    let oci_source = SidecarSource::Oci {
        reference: w.oci_reference("reg-bot", "staging"),
    };
    let mut oci = w.sidecar("reg-oci", "reg-bot", oci_source).await;
    let cp_source = SidecarSource::ControlPlane {
        channel: Some("staging".into()),
    };
    let via_cp = w.sidecar("reg-cp", "reg-bot", cp_source).await;
    oci.wait_healthy(30.0).await;
    via_cp.wait_healthy(30.0).await;

    w.registry.stop();
    let v2 = marker_persona(&w.stack.dir("src/reg-bot-2"), "reg-bot", "m-2");
    let second = w.cp.push(&v2, None).await;
    // Publishing fails and is retried, with the error recorded.
    let failing = eventually_some(30.0, "a failed publish attempt recorded", async || {
        fleet::publications(&pool, &second.revision)
            .await
            .into_iter()
            .find(|j| j.state == "pending" && j.attempts >= 1 && j.last_error.is_some())
    })
    .await;
    println!(
        "publishing while the registry is down: {:?}",
        failing.last_error
    );
    // Agents on the control plane get the new revision; registry agents keep their last good
    // one — also across a SIGKILL and a cold start with the registry still down.
    eventually(20.0, "the control-plane sidecar runs m-2", async || {
        marker(&via_cp.decide(&echo("reg-bot")).await) == "m-2"
    })
    .await;
    assert_eq!(marker(&oci.decide(&echo("reg-bot")).await), "m-1");
    oci.kill9();
    oci.start_again();
    oci.wait_healthy(10.0).await;
    let d = oci.decide(&echo("reg-bot")).await;
    assert_eq!(
        (marker(&d).as_str(), &d["revision"]),
        ("m-1", &Value::from("reg-bot-1"))
    );
    eventually(
        20.0,
        "the registry error reaches the fleet view",
        async || {
            fleet::agent(&pool, "reg-oci").await.is_some_and(|r| {
                r.active_revision.as_deref() == Some("reg-bot-1") && r.last_error.is_some()
            })
        },
    )
    .await;

    w.registry.start_again().await;
    crate::publish::assert_published(&w, "reg-bot", &second.revision, &["staging"]).await;
    eventually(30.0, "the registry sidecar converges", async || {
        marker(&oci.decide(&echo("reg-bot")).await) == "m-2"
    })
    .await;
    eventually(20.0, "its error clears in the fleet view", async || {
        fleet::agent(&pool, "reg-oci").await.is_some_and(|r| {
            r.active_revision.as_deref() == Some("reg-bot-2") && r.last_error.is_none()
        })
    })
    .await;
}
