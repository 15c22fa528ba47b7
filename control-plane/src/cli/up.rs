//! `regent up`: the whole stack in one command. A private PostgreSQL when no database is
//! configured, a local OCI registry when `docker-registry` is installed and none is
//! configured, migrations, the signing key, the server, an admin and an auditor token (kept
//! in the data folder and reused), the shipped persona bundles pushed and signed, then the
//! demo fleet: one `regent-agent` sidecar per persona (`up/agents.rs`) and a traffic generator
//! replaying the personas' cases through them (`up/traffic.rs`), so the console shows live
//! agents and a filling audit log.
//!
//! Ctrl-C/SIGTERM stops it in dependency order: the traffic, then the sidecars (they flush their
//! decision logs to the still-listening server), then the server, the registry and Postgres.
//!
//! Also `regent dev-postgres` (hidden): just the private PostgreSQL, for `scripts/test.sh`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::CliResult;
use super::server::{ConfigArgs, init_tracing};
use crate::app::AppState;
use crate::auth::{Role, generate_token};
use crate::config::{Config, RegistryAuth, RegistryConfig};
use crate::embedded_pg::EmbeddedPostgres;

mod agents;
mod registry;
mod traffic;

use registry::LocalRegistry;

/// The actor recorded on revisions `regent up` pushes.
const ACTOR: &str = "admin:regent-up";
/// How long open connections (long polls) may delay the exit after Ctrl-C/SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address to listen on (overrides `listen` / REGENT_LISTEN).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Folder holding the persona bundle folders (`<dir>/<persona>`).
    #[arg(long, default_value = "bundles")]
    pub bundles: PathBuf,
    /// Personas to push from `--bundles` at start (identical content is a no-op).
    #[arg(long, value_delimiter = ',', default_value = "hr-bot,it-bot,dev-bot")]
    pub personas: Vec<String>,
    /// Do not start a local registry even when `docker-registry` is installed.
    #[arg(long)]
    pub no_registry: bool,
    /// Do not start the demo fleet (one `regent-agent` sidecar per persona and the traffic).
    #[arg(long)]
    pub no_agents: bool,
    /// The `regent-agent` binary (default: beside `regent`, else on PATH).
    #[arg(long)]
    pub agent_bin: Option<PathBuf>,
    /// Demo decisions per second per persona, replayed from `<bundles>/<persona>/cases.yaml`
    /// through the sidecars (0: none).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
}

#[derive(Debug, Args)]
pub struct DevPostgresArgs {
    /// Folder for the cluster (it lives in `<dir>/postgres`).
    #[arg(long)]
    pub data_dir: PathBuf,
}

/// What `up` started itself and must stop, in this order, after the server is gone.
#[derive(Debug, Default)]
struct Owned {
    registry: Option<LocalRegistry>,
    postgres: Option<EmbeddedPostgres>,
    /// The database in use (embedded or configured), for the summary.
    database: Option<String>,
}

impl Owned {
    fn stop(self) -> anyhow::Result<()> {
        if let Some(registry) = self.registry {
            registry.stop();
        }
        if let Some(pg) = self.postgres {
            pg.stop()?;
        }
        Ok(())
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn up(args: &UpArgs) -> CliResult {
    let mut config = args.config.load()?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    init_tracing(&config);
    let rt = runtime()?;
    let mut owned = Owned::default();
    let outcome = rt.block_on(run(config, args, &mut owned));
    // Workers still hold pool connections: end them before their database goes away. Only
    // an abandoned push's CPU-bound validation can outlive this; it is not waited for long.
    rt.shutdown_timeout(Duration::from_secs(1));
    let stopped = owned.stop();
    outcome?;
    stopped?;
    Ok(())
}

async fn run(config: Config, args: &UpArgs, owned: &mut Owned) -> anyhow::Result<()> {
    // Listen for Ctrl-C/SIGTERM from the start: an interrupted start-up still stops what it
    // started (in `up`), instead of the default action killing us mid-way.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    // Registered here, synchronously, so there is no window in which a signal still kills us.
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        let _ = stop_tx.send(true);
    });
    let running = tokio::select! {
        biased;
        _ = stop_rx.changed() => return Ok(()),
        running = start_stack(config, args, owned) => running?,
    };
    let state = running.state.clone();
    let mut server = running.handle;
    let mut fleet = Vec::new();
    let mut traffic = None;
    let started = tokio::select! {
        _ = stop_rx.changed() => Ok(()),
        started = start_demo(&state, running.addr, args, owned, &mut fleet, &mut traffic) => started,
    };
    if started.is_ok() {
        // Until the signal, the server serves.
        while !*stop_rx.borrow() {
            tokio::select! {
                done = &mut server => {
                    agents::stop_all(std::mem::take(&mut fleet)).await;
                    return Ok(done.context("the server task failed")??);
                }
                changed = stop_rx.changed() => if changed.is_err() { break },
            }
        }
    }
    println!(
        "\nStopping: traffic, agents (flushing their decision logs), server, registry, database."
    );
    if let Some(traffic) = traffic {
        let counters = traffic.stop().await;
        println!("  traffic      {}", counters.summary());
    }
    if !fleet.is_empty() {
        let total = fleet.len();
        let clean = agents::stop_all(fleet).await;
        println!(
            "  agents       {clean} of {total} sidecars flushed their decision logs and exited cleanly"
        );
    }
    // The server stops only now, so the sidecars' last batches and statuses were received.
    // Its graceful shutdown gets a bounded time: long polls may otherwise hold it for minutes.
    let _ = running.stop.send(true);
    match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
        Ok(done) => done.context("the server task failed")??,
        Err(_) => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open; closing them");
            server.abort();
        }
    }
    started
}

/// Tokens, the summary, the personas pushed, then the demo fleet and its traffic.
async fn start_demo(
    state: &AppState,
    addr: SocketAddr,
    args: &UpArgs,
    owned: &Owned,
    fleet: &mut Vec<agents::Sidecar>,
    traffic: &mut Option<traffic::Traffic>,
) -> anyhow::Result<()> {
    let admin = ensure_token(state, "admin", Role::Admin).await?;
    let auditor = ensure_token(state, "auditor", Role::Auditor).await?;
    print_summary(state, addr, &admin, &auditor, owned);
    let pushed = push_personas(state, args).await;
    if args.no_agents || pushed.is_empty() {
        println!("Ready. Stop with Ctrl-C.");
        return Ok(());
    }
    let Some(binary) = agents::binary(args.agent_bin.as_deref()) else {
        println!(
            "No demo agents: `regent-agent` is neither beside `regent` nor on PATH \
             (cargo build -p regent-agent, or pass --agent-bin). Ready. Stop with Ctrl-C."
        );
        return Ok(());
    };
    // Agents reach the server on loopback whatever address it listens on.
    let server = SocketAddr::from(([127, 0, 0, 1], addr.port()));
    println!(
        "Starting one agent sidecar per persona ({}):",
        binary.display()
    );
    *fleet = agents::start(state, &binary, server, &pushed).await?;
    let mut targets = Vec::new();
    for sidecar in fleet.iter() {
        println!(
            "  {:<15} agent {:<18} decide: POST http://{}/v1/decide   log: {}",
            sidecar.persona,
            sidecar.agent_id,
            sidecar.addr,
            sidecar.log.display()
        );
        targets.push(traffic::Target::load(
            &args.bundles,
            &sidecar.persona,
            &sidecar.agent_id,
            sidecar.addr,
        )?);
    }
    if args.rate > 0.0 {
        *traffic = Some(traffic::start(targets, args.rate)?);
        println!(
            "Traffic: {} decisions/s per persona, replayed from {}/<persona>/cases.yaml (--rate to change).",
            args.rate,
            args.bundles.display()
        );
    }
    println!("Ready. Stop with Ctrl-C.");
    Ok(())
}

/// The server `up` runs: like `server::start`, but it stops when `up` says, after the agents.
struct Server {
    state: AppState,
    addr: SocketAddr,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio::sync::watch::Sender<bool>,
}

async fn serve(state: AppState) -> anyhow::Result<Server> {
    let listener = tokio::net::TcpListener::bind(state.config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", state.config.listen))?;
    let addr = listener.local_addr()?;
    crate::app::spawn_workers(&state);
    let router = crate::app::router(state.clone());
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            })
            .await
    });
    tracing::info!(%addr, "regent control plane listening");
    Ok(Server {
        state,
        addr,
        handle,
        stop,
    })
}

/// The database, the registry, migrations, keys, and the server listening.
async fn start_stack(
    mut config: Config,
    args: &UpArgs,
    owned: &mut Owned,
) -> anyhow::Result<Server> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data_dir `{}`", config.data_dir.display()))?;
    config.data_dir = config.data_dir.canonicalize()?;
    let data_dir = config.data_dir.clone();

    let database_url = match config.database_url.clone() {
        Some(url) => url,
        None => {
            let pg = EmbeddedPostgres::start(&data_dir).await?;
            let url = pg.url();
            owned.postgres = Some(pg);
            url
        }
    };

    if config.registries.is_empty() && !args.no_registry {
        match registry::binary() {
            Some(binary) => {
                let registry = LocalRegistry::start(&binary, &data_dir.join("registry")).await?;
                config.registries.push(RegistryConfig {
                    name: "local".into(),
                    host: registry.host(),
                    repository_prefix: "regent".into(),
                    insecure: true,
                    auth: RegistryAuth::Anonymous,
                });
                owned.registry = Some(registry);
            }
            None => tracing::info!(
                "`docker-registry` is not installed: not publishing to a local registry (apt-get install docker-registry)"
            ),
        }
    }

    config.migrate_on_start = true;
    owned.database = Some(database_url.clone());
    let state = crate::server::prepare(config, &database_url).await?;
    serve(state).await
}

/// Reuses the token saved in `<data_dir>/<role>.token` while the database still accepts it
/// with that role; otherwise creates one and saves it (mode 0600).
async fn ensure_token(state: &AppState, role_name: &str, role: Role) -> anyhow::Result<String> {
    let path = state.config.data_dir.join(format!("{role_name}.token"));
    if let Ok(saved) = std::fs::read_to_string(&path) {
        let saved = saved.trim().to_owned();
        if let Some(principal) = state.store.authenticate(&saved).await?
            && principal.role == role
        {
            return Ok(saved);
        }
    }
    let token = generate_token();
    state
        .store
        .create_token(
            &token,
            &format!("regent-up-{role_name}"),
            role,
            None,
            "regent up",
        )
        .await?;
    write_secret(&path, &token)?;
    Ok(token)
}

fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    // `mode` applies only to new files; an older file may have looser permissions.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    writeln!(file, "{secret}")?;
    Ok(())
}

/// Pushes the shipped personas concurrently (validation is CPU-bound; two cores help), prints
/// each outcome as it lands, and returns the personas that have a revision now (in the order
/// given).
async fn push_personas(state: &AppState, args: &UpArgs) -> Vec<String> {
    use futures::StreamExt as _;
    if args.personas.is_empty() {
        return Vec::new();
    }
    println!(
        "Pushing {} (compile, run the tests, sign; identical content is a no-op):",
        args.personas.join(", ")
    );
    let mut pushes: futures::stream::FuturesUnordered<_> = args
        .personas
        .iter()
        .map(|persona| async move { (persona, push_persona(state, persona, &args.bundles).await) })
        .collect();
    let mut failed = Vec::new();
    while let Some((persona, outcome)) = pushes.next().await {
        match outcome {
            Ok(line) => println!("  {persona:<15} {line}"),
            Err(e) => {
                failed.push(persona.clone());
                println!("  {persona:<15} NOT PUSHED: {e}");
            }
        }
    }
    if !failed.is_empty() {
        println!(
            "{} persona(s) not pushed (see above); the server keeps running.",
            failed.len()
        );
    }
    args.personas
        .iter()
        .filter(|p| !failed.contains(p))
        .cloned()
        .collect()
}

async fn push_persona(state: &AppState, persona: &str, bundles: &Path) -> Result<String, String> {
    let dir = bundles.join(persona);
    if !dir.is_dir() {
        return Err(format!(
            "`{}` not found (run from the repository root or pass --bundles)",
            dir.display()
        ));
    }
    let started = std::time::Instant::now();
    match crate::services::push::push_folder(state, persona, &dir, ACTOR).await {
        Ok(outcome) => Ok(format!(
            "{} (sequence {}, {}, {:.1} s)",
            outcome.revision,
            outcome.sequence,
            if outcome.created { "new" } else { "unchanged" },
            started.elapsed().as_secs_f64()
        )),
        Err(e) => {
            tracing::error!(persona, error = %e, "push failed");
            Err(e.to_string())
        }
    }
}

fn print_summary(state: &AppState, addr: SocketAddr, admin: &str, auditor: &str, owned: &Owned) {
    let config = &state.config;
    let url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let registry = match (&owned.registry, config.registries.first()) {
        (Some(r), _) => format!(
            "{} (local, plain HTTP; repositories regent/<persona>)",
            r.host()
        ),
        (None, Some(r)) => format!("{} ({}, configured)", r.host, r.name),
        (None, None) => "none (apt-get install docker-registry for a local one)".into(),
    };
    let database = match (&owned.postgres, &owned.database) {
        (Some(pg), _) => format!("embedded PostgreSQL {}", pg.url()),
        (None, Some(url)) => format!("{} (configured)", redact_password(url)),
        (None, None) => "unknown".into(),
    };
    let lines = [
        ("console", format!("{url}/console")),
        ("API", format!("{url}/api/v1")),
        ("metrics", format!("{url}/metrics")),
        ("admin token", admin.to_owned()),
        ("auditor token", auditor.to_owned()),
        ("registry", registry),
        ("database", database),
        ("signing key", state.keys.signing().kid().to_owned()),
        ("data dir", config.data_dir.display().to_string()),
    ];
    let mut out =
        String::from("\nRegent is up. Stop with Ctrl-C (it stops everything it started).\n\n");
    for (label, value) in lines {
        out.push_str(&format!("  {label:<15} {value}\n"));
    }
    out.push_str(&format!(
        "\n  tokens are kept in {0}/admin.token and {0}/auditor.token\n  try: curl -H 'Authorization: Bearer {auditor}' {url}/api/v1/personas\n\n",
        config.data_dir.display()
    ));
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if scheme + 3 < at => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `regent dev-postgres --data-dir DIR`: starts the private PostgreSQL, prints a superuser
/// URL (database `postgres`, so tools can create databases of their own) on stdout, and
/// stops it on SIGTERM/Ctrl-C.
pub fn dev_postgres(args: &DevPostgresArgs) -> CliResult {
    init_tracing(&Config::default());
    let rt = runtime()?;
    rt.block_on(async {
        let pg = EmbeddedPostgres::start(&args.data_dir).await?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", pg.url_for("postgres"))?;
        stdout.flush()?;
        drop(stdout);
        crate::server::shutdown_signal().await;
        pg.stop()?;
        anyhow::Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgres://u:s3cret@h:5432/d"),
            "postgres://u:***@h:5432/d"
        );
        assert_eq!(redact_password("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(redact_password("postgres:///d"), "postgres:///d");
    }
}
