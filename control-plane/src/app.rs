//! The application: shared state, the router, and the background workers.

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::http;
use crate::http::auth::AuthCache;
use crate::keyring::KeyRing;
use crate::metrics::Metrics;
use crate::services::bundles::BundleWatch;
use crate::services::ingest::Ingest;
use crate::store::Store;

/// Everything a request handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub config: Config,
    pub store: Store,
    pub keys: KeyRing,
    pub auth_cache: AuthCache,
    /// Wakes long polls when a channel moves (Postgres LISTEN/NOTIFY across replicas).
    pub bundles: BundleWatch,
    /// Buffers decision-log events for batched inserts.
    pub ingest: Ingest,
    pub metrics: Metrics,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config, store: Store, keys: KeyRing) -> AppState {
        let ingest = Ingest::new(&config);
        AppState(Arc::new(Inner {
            bundles: BundleWatch::new(),
            ingest,
            metrics: Metrics::default(),
            auth_cache: AuthCache::default(),
            config,
            store,
            keys,
        }))
    }
}

/// The whole HTTP surface: JSON API, OPA-compatible API, health and metrics.
pub fn router(state: AppState) -> Router {
    let body_limit = state
        .config
        .limits
        .max_bundle_bytes
        .max(state.config.limits.max_log_body_bytes);
    Router::new()
        .merge(http::health::routes())
        .merge(http::api::routes())
        .merge(http::opa::routes())
        .merge(http::console::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track_http,
        ))
        .with_state(state)
}

/// Starts the background workers (publishing, log ingest, change notifications). They stop
/// when the returned handles are dropped with the runtime.
pub fn spawn_workers(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    handles.extend(crate::services::bundles::spawn(state.clone()));
    handles.extend(crate::services::ingest::spawn(state.clone()));
    handles.extend(crate::publish::spawn(state.clone()));
    handles
}
