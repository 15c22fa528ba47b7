//! The demo's traffic generator: a steady stream of realistic decisions through each sidecar's
//! `POST /v1/decide`, drawn from the persona's `cases.yaml` (the inputs its tests prove) and
//! varied a little — another case's user now and then, a fresh session id, a busier usage
//! counter — so the audit log fills with a plausible mix of allows, redactions and denials.
//! The cases files are mostly edge cases (denials); real traffic is mostly allowed, so
//! [`ALLOWED_SHARE`] of the calls start from a case its file expects to be allowed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use rand::SeedableRng as _;
use rand::seq::IndexedRandom as _;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Share of calls drawn from the cases expected to be allowed.
const ALLOWED_SHARE: f64 = 0.7;
/// Share of calls whose user is replaced by another user of the persona's cases.
const OTHER_USER_SHARE: f64 = 0.15;

/// How often a progress line is printed.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Counters of one run, over every persona.
#[derive(Debug, Default)]
pub struct Counters {
    /// Decisions answered by a sidecar (each one is a decision log event).
    pub decided: AtomicU64,
    pub allowed: AtomicU64,
    /// Requests that got no decision (sidecar unreachable or an error status).
    pub failed: AtomicU64,
}

impl Counters {
    pub fn summary(&self) -> String {
        let decided = self.decided.load(Ordering::Relaxed);
        let allowed = self.allowed.load(Ordering::Relaxed);
        format!(
            "{decided} decisions ({allowed} allowed, {} denied), {} failed requests",
            decided - allowed,
            self.failed.load(Ordering::Relaxed)
        )
    }
}

/// One persona's inputs and the sidecar that decides them.
#[derive(Debug)]
pub struct Target {
    pub persona: String,
    pub agent_id: String,
    pub addr: SocketAddr,
    /// Inputs of the cases expected to be allowed, and of the others.
    allowed: Vec<Value>,
    denied: Vec<Value>,
    users: Vec<Value>,
}

impl Target {
    /// Reads `<bundles>/<persona>/cases.yaml`.
    pub fn load(
        bundles: &Path,
        persona: &str,
        agent_id: &str,
        addr: SocketAddr,
    ) -> anyhow::Result<Target> {
        let path = bundles.join(persona).join(regent_bundle::cases::CASES_FILE);
        let file = regent_bundle::cases::load(&path)?;
        if file.cases.is_empty() {
            bail!("`{}` has no cases to replay", path.display());
        }
        let (allowed, denied): (Vec<_>, Vec<_>) =
            file.cases.into_iter().partition(|case| case.expect.allow);
        let allowed: Vec<Value> = allowed.into_iter().map(|case| case.input).collect();
        let denied: Vec<Value> = denied.into_iter().map(|case| case.input).collect();
        let mut users: Vec<Value> = Vec::new();
        for user in allowed
            .iter()
            .chain(&denied)
            .filter_map(|input| input.get("user"))
        {
            if !users.contains(user) {
                users.push(user.clone());
            }
        }
        Ok(Target {
            persona: persona.to_owned(),
            agent_id: agent_id.to_owned(),
            addr,
            allowed,
            denied,
            users,
        })
    }

    /// One input: a case, varied.
    fn input(&self, rng: &mut impl rand::Rng, n: u64) -> Value {
        let pool = if self.denied.is_empty()
            || (!self.allowed.is_empty() && rng.random_bool(ALLOWED_SHARE))
        {
            &self.allowed
        } else {
            &self.denied
        };
        let mut input = pool.choose(rng).cloned().unwrap_or(Value::Null);
        if let Some(agent) = input.get_mut("agent").and_then(Value::as_object_mut) {
            agent.insert("id".into(), self.agent_id.clone().into());
        }
        // Some calls come from another user of this persona's cases: the same tool asked by
        // someone with other roles or another org is how denials happen in practice.
        if rng.random_bool(OTHER_USER_SHARE)
            && let Some(user) = self.users.choose(rng)
        {
            input["user"] = user.clone();
        }
        if let Some(context) = input.get_mut("context").and_then(Value::as_object_mut) {
            context.insert(
                "session_id".into(),
                format!("s-demo-{}", n / 20 + rng.random_range(0..5)).into(),
            );
            if let Some(count) = context
                .get_mut("usage")
                .and_then(|u| u.get_mut("tool_calls_last_minute"))
                && let Some(n) = count.as_u64()
            {
                *count = (n + rng.random_range(0..4)).into();
            }
        }
        input
    }
}

/// A running generator.
#[derive(Debug)]
pub struct Traffic {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    pub counters: Arc<Counters>,
}

/// Starts `rate` decisions per second per target.
pub fn start(targets: Vec<Target>, rate: f64) -> anyhow::Result<Traffic> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .context("cannot build the traffic generator's HTTP client")?;
    let (stop, stop_rx) = watch::channel(false);
    let counters = Arc::new(Counters::default());
    let period = Duration::from_secs_f64(1.0 / rate.max(0.01));
    let mut tasks: Vec<JoinHandle<()>> = targets
        .into_iter()
        .map(|target| {
            tokio::spawn(drive(
                target,
                client.clone(),
                period,
                counters.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    tasks.push(tokio::spawn(report(counters.clone(), stop_rx)));
    Ok(Traffic {
        stop,
        tasks,
        counters,
    })
}

impl Traffic {
    /// Stops sending and waits for requests in flight, so the counters are final.
    pub async fn stop(self) -> Arc<Counters> {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.counters
    }
}

async fn drive(
    target: Target,
    client: reqwest::Client,
    period: Duration,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) {
    let url = format!("http://{}/v1/decide", target.addr);
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    for n in 0u64.. {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        let body =
            serde_json::json!({"persona": target.persona, "input": target.input(&mut rng, n)});
        // Not raced against `stop`: a decision in flight completes and is counted.
        match decide(&client, &url, &body).await {
            Ok(allow) => {
                counters.decided.fetch_add(1, Ordering::Relaxed);
                if allow {
                    counters.allowed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                if !warned {
                    tracing::warn!(persona = %target.persona, error = %e, "traffic: a decision request failed (further failures are only counted)");
                    warned = true;
                }
            }
        }
    }
}

async fn decide(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<bool> {
    let response = client.post(url).json(body).send().await?;
    let status = response.status();
    if !status.is_success() {
        bail!("`{url}` answered {status}: {}", response.text().await?);
    }
    let decision: Value = response.json().await?;
    decision["allow"]
        .as_bool()
        .context("the decision has no boolean `allow`")
}

async fn report(counters: Arc<Counters>, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(REPORT_EVERY);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => println!("traffic so far: {}", counters.summary()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn varied_inputs_keep_the_case_shape_and_name_the_sidecar_agent() {
        let bundles = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundles");
        let addr = SocketAddr::from(([127, 0, 0, 1], 1));
        let target = Target::load(&bundles, "hr-bot", "hr-bot-demo-1", addr).unwrap();
        assert!(target.users.len() > 1, "hr-bot's cases name several users");
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut sessions = std::collections::BTreeSet::new();
        for n in 0..200 {
            let input = target.input(&mut rng, n);
            assert_eq!(input["agent"]["id"], "hr-bot-demo-1");
            assert!(input["action"]["kind"].is_string(), "{input}");
            // Some cases have no user on purpose (a refusal); a swapped-in user is a known one.
            let user = &input["user"];
            assert!(user.is_null() || target.users.contains(user), "{input}");
            sessions.insert(input["context"]["session_id"].as_str().unwrap().to_owned());
        }
        assert!(sessions.len() > 5, "sessions vary: {sessions:?}");
        let missing = Target::load(&bundles, "no-such-bot", "x", addr).unwrap_err();
        assert!(missing.to_string().contains("no-such-bot"), "{missing}");
    }
}
