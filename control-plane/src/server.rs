//! `regent serve`: connect (or start the embedded database), migrate when asked, load keys,
//! start the workers and serve until SIGTERM/SIGINT.

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::app::{self, AppState};
use crate::config::Config;
use crate::keyring::KeyRing;
use crate::store::Store;

/// A running server, for callers that embed it (tests, the demo launcher).
#[derive(Debug)]
pub struct Running {
    pub state: AppState,
    pub addr: std::net::SocketAddr,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Connects to `database_url` and builds the state (keys loaded and registered).
pub async fn prepare(config: Config, database_url: &str) -> anyhow::Result<AppState> {
    let store = Store::connect(database_url, config.database_max_connections)
        .await
        .context("cannot connect to the database")?;
    if config.migrate_on_start {
        store.migrate().await.context("migrations failed")?;
    }
    let keys = KeyRing::load(&config)?;
    keys.register(&store)
        .await
        .context("cannot record signing keys (has `regent migrate` run?)")?;
    Ok(AppState::new(config, store, keys))
}

/// Binds `state.config.listen` and serves in the background.
pub async fn start(state: AppState) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(state.config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", state.config.listen))?;
    let addr = listener.local_addr()?;
    app::spawn_workers(&state);
    let router = app::router(state.clone());
    let handle = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown_signal())
            .await
    });
    tracing::info!(%addr, "regent control plane listening");
    Ok(Running {
        state,
        addr,
        handle,
    })
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
