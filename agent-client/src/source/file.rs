//! A local bundle file, watched by polling: a change of mtime or size triggers a read, and a change of
//! content hash an activation.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::activate_download;
use crate::agent::{Agent, PersonaRuntime};
use crate::config::seconds;
use crate::shutdown::Shutdown;
use crate::snapshot::{Origin, sha256_hex};

#[derive(Debug)]
pub struct FileSource {
    pub agent: Agent,
    pub rt: Arc<PersonaRuntime>,
    pub path: PathBuf,
}

impl FileSource {
    pub async fn run(self, mut shutdown: Shutdown) {
        let interval = seconds(self.agent.config().polling.file_interval_seconds)
            .max(Duration::from_millis(10));
        let mut seen: Option<(SystemTime, u64)> = None;
        let mut last_hash: Option<String> = self.rt.snapshot().map(|s| s.bundle_digest.clone());
        loop {
            if let Ok(meta) = tokio::fs::metadata(&self.path).await {
                let stamp = (
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    meta.len(),
                );
                if seen != Some(stamp) {
                    seen = Some(stamp);
                    self.check(&mut last_hash).await;
                }
            } else if seen.is_some() {
                seen = None;
                tracing::warn!(persona = %self.rt.name, path = %self.path.display(), "bundle file disappeared; the active policy stays");
            }
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    async fn check(&self, last_hash: &mut Option<String>) {
        let bytes = match tokio::fs::read(&self.path).await {
            Ok(bytes) => bytes,
            Err(e) => {
                super::request_failed(
                    &self.rt,
                    format!("cannot read `{}`: {e}", self.path.display()),
                    None,
                );
                return;
            }
        };
        let hash = sha256_hex(&bytes);
        if last_hash.as_deref() == Some(hash.as_str()) {
            return;
        }
        *last_hash = Some(hash);
        super::request_done(&self.rt, true);
        let origin = Origin::File {
            path: self.path.display().to_string(),
        };
        let _ = activate_download(&self.agent, &self.rt, bytes, None, origin).await;
    }
}
