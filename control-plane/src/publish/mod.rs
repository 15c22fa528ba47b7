//! Publishing revisions to OCI registries: the artifact (`oci`), its cosign signature
//! (`cosign`), and the durable job that does both (`worker`, rows in `publications`).

pub mod cosign;
pub mod oci;
pub mod worker;

use crate::app::AppState;

pub use worker::{JobOutcome, PublishWorker, WorkerSettings};

/// Starts this replica's publish workers (none when no registry is configured).
pub fn spawn(state: AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let settings = WorkerSettings::from_config(&state.config.publish);
    worker::spawn(state, &settings)
}
