//! `regent-agent`: the sidecar. Reads its config (file + `REGENT_AGENT_*`), serves the last-known-good
//! policies at once, then polls, decides over a local HTTP API and ships decision logs until SIGTERM/SIGINT.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use regent_agent::{Agent, AgentConfig, shutdown};

/// mimalloc instead of the system allocator: a persona decision makes a few thousand small allocations in
/// the Rego interpreter, and mimalloc cuts the instructions per decision by ~12 % against glibc's malloc
/// (BENCHMARKS.md, "Engine round 2"). Programs that embed the library choose their own allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Regent's policy sidecar for AI agents.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// YAML config file (also `REGENT_AGENT_CONFIG`); `REGENT_AGENT_*` variables override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REGENT_AGENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = AgentConfig::load(args.config.as_deref()).context("invalid configuration")?;
    run(config).await
}

async fn run(config: AgentConfig) -> anyhow::Result<()> {
    let listen = config.http.listen;
    let agent = Agent::new(config).context("cannot start the agent")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "regent-agent listening");
    let (trigger, signal) = shutdown::channel();
    let background = tokio::spawn({
        let agent = agent.clone();
        let signal = signal.clone();
        async move { agent.run(signal).await }
    });
    let server = tokio::spawn(regent_agent::http::serve(agent, listener, signal));
    wait_for_signal().await?;
    tracing::info!("shutting down: no new connections, finishing requests, flushing decision logs");
    trigger.trigger();
    server.await.context("HTTP server task failed")??;
    background.await.context("background task failed")?;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
