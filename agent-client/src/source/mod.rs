//! Where bundles come from: the control plane's OPA bundle API, an OCI registry, or a local file. Each runs
//! as one task per persona, hands the bytes to the activation pipeline on a blocking thread, and records the
//! outcome for status. Errors back off with OPA's jittered backoff.

pub mod cosign;
pub mod file;
pub mod http;
pub mod oci;

use std::sync::Arc;

use chrono::Utc;

use crate::agent::{Activation, Agent, BundleError, PersonaRuntime};
use crate::snapshot::{ActivationError, Origin};

/// Activates downloaded bytes off the async threads. A bundle refused before is refused again without being
/// re-verified (the status already carries why).
pub(crate) async fn activate_download(
    agent: &Agent,
    rt: &Arc<PersonaRuntime>,
    archive: Vec<u8>,
    expected_digest: Option<String>,
    origin: Origin,
) -> Result<Activation, String> {
    let now = Utc::now();
    rt.update_state(|s| {
        s.last_successful_download = Some(now);
        s.size = Some(archive.len() as u64);
    });
    let digest = crate::snapshot::sha256_hex(&archive);
    let rejected = rt.bundle_state().rejected_digest;
    if rejected.as_deref() == Some(digest.as_str()) {
        let message = rt
            .bundle_state()
            .error
            .map_or_else(|| "bundle was refused before".to_owned(), |e| e.message);
        return Err(message);
    }
    let (agent, rt) = (agent.clone(), rt.clone());
    tokio::task::spawn_blocking(move || {
        agent
            .activate_from(&rt, &archive, expected_digest.as_deref(), origin, true)
            .map_err(|e: ActivationError| e.to_string())
    })
    .await
    .map_err(|e| format!("activation task failed: {e}"))?
}

/// Records a failed request (network or HTTP) for status.
pub(crate) fn request_failed(rt: &PersonaRuntime, message: String, http_code: Option<u16>) {
    tracing::warn!(persona = %rt.name, error = %message, "bundle request failed");
    rt.update_state(|s| {
        s.error = Some(BundleError { message, http_code });
    });
}

/// Records a request that reached the source and was answered.
pub(crate) fn request_done(rt: &PersonaRuntime, ok: bool) {
    let now = Utc::now();
    rt.update_state(|s| {
        s.last_request = Some(now);
        if ok {
            s.last_successful_request = Some(now);
        }
    });
}
