//! The durable publishing job. Workers (several per replica, any number of replicas) lease
//! pending `publications` rows, push the artifact, sign it, and only then mark the row
//! `published` — in one UPDATE guarded by the lease. A worker killed at any point leaves the
//! row `pending` with a lease that expires, after which any worker takes it over; pushing is
//! idempotent, so the retry repeats nothing visible.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use serde_json::Value;
use sqlx::postgres::PgListener;
use thiserror::Error;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::cosign::{self, CosignError, CosignSigner};
use super::oci::{self, Artifact, OciError, RegistryClient};
use crate::app::AppState;
use crate::store::publications::{ClaimedPublication, FailureOutcome, PUBLISH_CHANNEL};
use crate::store::{Store, StoreError};

/// How workers pace themselves. The defaults suit production; tests shorten some.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Worker tasks per replica (jobs published concurrently).
    pub workers: usize,
    /// How long a claimed job stays invisible to other workers.
    pub lease: Duration,
    /// A job is abandoned (and retried) after this long; well under `lease`, so a slow worker
    /// never publishes while another has taken its job over.
    pub job_timeout: Duration,
    /// Attempts before a job is marked `failed`.
    pub max_attempts: i32,
    /// First retry delay; doubles per attempt, with jitter, up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Longest sleep between scans when no notification arrives (one can be missed while the
    /// listener reconnects).
    pub idle_poll: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            workers: 2,
            lease: Duration::from_secs(120),
            job_timeout: Duration::from_secs(60),
            max_attempts: 20,
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(300),
            idle_poll: Duration::from_secs(10),
        }
    }
}

impl WorkerSettings {
    /// The configured pacing (`publish:` in the config file); `idle_poll` keeps its default.
    pub fn from_config(config: &crate::config::PublishConfig) -> WorkerSettings {
        WorkerSettings {
            workers: config.workers.max(1),
            lease: Duration::from_secs_f64(config.lease_seconds),
            job_timeout: Duration::from_secs_f64(config.job_timeout_seconds),
            max_attempts: config.max_attempts.max(1),
            backoff_base: Duration::from_secs_f64(config.backoff_base_seconds),
            backoff_cap: Duration::from_secs_f64(config.backoff_cap_seconds),
            ..WorkerSettings::default()
        }
    }

    /// The delay before attempt `attempts + 1`: exponential, capped, jittered down to half so
    /// replicas retrying the same registry spread out.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exponent = attempts.saturating_sub(1).clamp(0, 30) as u32;
        let full = self
            .backoff_base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.backoff_cap);
        full.mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

#[derive(Debug, Error)]
pub enum PublishError {
    #[error("registry `{registry}` is not configured on this replica")]
    NotConfigured { registry: String },
    #[error("{0}")]
    Setup(String),
    #[error("publishing took longer than {secs} s")]
    Timeout { secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Oci(#[from] OciError),
    #[error(transparent)]
    Cosign(#[from] CosignError),
}

/// What one processed job ended as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Published {
        id: i64,
        manifest_digest: String,
    },
    /// Recorded; retried later.
    Retry {
        id: i64,
        error: String,
    },
    /// Out of attempts.
    Failed {
        id: i64,
        error: String,
    },
    /// The row was retargeted or taken over meanwhile; nothing recorded.
    Stale {
        id: i64,
    },
}

/// Longest `last_error` kept.
const MAX_ERROR_CHARS: usize = 2000;

/// Processes publication jobs. Holds its own registry clients and signer, so it can run with
/// any configuration (tests use several per database).
#[derive(Debug)]
pub struct PublishWorker {
    store: Store,
    /// By registry name; a client that could not be built (missing secret) keeps its error.
    registries: HashMap<String, Result<RegistryClient, String>>,
    signer: Result<Arc<CosignSigner>, String>,
    settings: WorkerSettings,
}

impl PublishWorker {
    pub fn new(state: &AppState, settings: WorkerSettings) -> PublishWorker {
        let registries = state
            .config
            .registries
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    RegistryClient::new(r).map_err(|e| e.to_string()),
                )
            })
            .collect();
        PublishWorker {
            store: state.store.clone(),
            registries,
            signer: CosignSigner::new(state.keys.signing())
                .map(Arc::new)
                .map_err(|e| e.to_string()),
            settings,
        }
    }

    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// Claims one due job and processes it; `None` when nothing is due.
    pub async fn run_once(&self) -> Result<Option<JobOutcome>, StoreError> {
        let Some(job) = self.claim().await? else {
            return Ok(None);
        };
        Ok(Some(self.process(&job).await?))
    }

    /// Processes jobs until none is due (tests and benchmarks).
    pub async fn run_until_idle(&self) -> Result<Vec<JobOutcome>, StoreError> {
        let mut outcomes = Vec::new();
        while let Some(outcome) = self.run_once().await? {
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    pub async fn claim(&self) -> Result<Option<ClaimedPublication>, StoreError> {
        self.store
            .claim_publication(self.settings.lease.as_secs_f64())
            .await
    }

    /// Publishes a claimed job and records the result under its lease.
    pub async fn process(&self, job: &ClaimedPublication) -> Result<JobOutcome, StoreError> {
        let result = match tokio::time::timeout(self.settings.job_timeout, self.publish(job)).await
        {
            Ok(result) => result,
            Err(_) => Err(PublishError::Timeout {
                secs: self.settings.job_timeout.as_secs(),
            }),
        };
        match result {
            Ok(digest) => {
                if self.store.mark_published(job, &digest).await? {
                    tracing::info!(
                        publication = job.id,
                        registry = job.registry,
                        reference = format!("{}:{}", job.repository, job.tag),
                        digest,
                        attempts = job.attempts,
                        "published"
                    );
                    Ok(JobOutcome::Published {
                        id: job.id,
                        manifest_digest: digest,
                    })
                } else {
                    // Retargeted (a channel moved on) or lease lost: let the newer job run now.
                    self.store.release_publication(job).await?;
                    Ok(JobOutcome::Stale { id: job.id })
                }
            }
            Err(e) => {
                let error: String = e.to_string().chars().take(MAX_ERROR_CHARS).collect();
                let retry_in = self.settings.backoff(job.attempts);
                let outcome = self
                    .store
                    .record_publication_failure(
                        job,
                        &error,
                        self.settings.max_attempts,
                        retry_in.as_secs_f64(),
                    )
                    .await?;
                tracing::warn!(
                    publication = job.id,
                    registry = job.registry,
                    reference = format!("{}:{}", job.repository, job.tag),
                    attempts = job.attempts,
                    ?outcome,
                    retry_in_secs = retry_in.as_secs_f64(),
                    error,
                    "publishing failed"
                );
                Ok(match outcome {
                    FailureOutcome::Retry => JobOutcome::Retry { id: job.id, error },
                    FailureOutcome::Failed => JobOutcome::Failed { id: job.id, error },
                    FailureOutcome::Stale => JobOutcome::Stale { id: job.id },
                })
            }
        }
    }

    /// Push, then sign; returns the manifest digest. Nothing here touches the row.
    async fn publish(&self, job: &ClaimedPublication) -> Result<String, PublishError> {
        let registry = self
            .registries
            .get(&job.registry)
            .ok_or_else(|| PublishError::NotConfigured {
                registry: job.registry.clone(),
            })?
            .as_ref()
            .map_err(|e| PublishError::Setup(e.clone()))?;
        let signer = self
            .signer
            .as_ref()
            .map_err(|e| PublishError::Setup(e.clone()))?;
        let source = self.store.publication_source(job.revision_id).await?;
        let artifact = Artifact {
            persona: &source.persona,
            revision: &source.revision,
            sequence: source.sequence,
            created_at: source.created_at,
            source_url: oci::source_url(&source.source),
            bundle: &source.bundle,
        };
        let manifest = registry
            .push_artifact(&job.repository, &job.tag, &artifact)
            .await?;
        let optional = BTreeMap::from([
            (
                oci::ANNOTATION_PERSONA.to_owned(),
                Value::from(source.persona.as_str()),
            ),
            (
                oci::ANNOTATION_REVISION.to_owned(),
                Value::from(source.revision.as_str()),
            ),
            (
                oci::ANNOTATION_SEQUENCE.to_owned(),
                Value::from(source.sequence.to_string()),
            ),
        ]);
        cosign::sign_manifest(
            registry,
            &job.repository,
            &manifest.digest,
            signer,
            optional,
        )
        .await?;
        Ok(manifest.digest)
    }

    /// Processes jobs until the task is dropped: woken by `wake` (NOTIFY) or when the next
    /// retry or lease expiry is due, and at least every `idle_poll`.
    pub async fn run(self, wake: Arc<Notify>) {
        loop {
            // Registered before scanning, so a notification during the scan is not lost.
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.run_once().await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "publish worker cannot reach the database"),
            }
            let wait = match self.store.next_publication_due_in().await {
                Ok(Some(secs)) => {
                    Duration::from_secs_f64(secs.max(0.01)).min(self.settings.idle_poll)
                }
                Ok(None) => self.settings.idle_poll,
                Err(_) => Duration::from_secs(1).min(self.settings.idle_poll),
            };
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Starts the publish workers and the NOTIFY listener that wakes them; nothing when no
/// registry is configured.
pub fn spawn(state: AppState, settings: &WorkerSettings) -> Vec<JoinHandle<()>> {
    if state.config.registries.is_empty() {
        return Vec::new();
    }
    let wake = Arc::new(Notify::new());
    let mut handles: Vec<_> = (0..settings.workers.max(1))
        .map(|_| tokio::spawn(PublishWorker::new(&state, settings.clone()).run(wake.clone())))
        .collect();
    handles.push(tokio::spawn(listen(state, wake)));
    handles
}

/// Forwards `regent_publish` notifications to the workers. On a lost connection the workers
/// are woken anyway (a job may have been enqueued meanwhile) and the listener reconnects.
async fn listen(state: AppState, wake: Arc<Notify>) {
    loop {
        let mut listener = match PgListener::connect_with(&state.store.pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "publish listener cannot connect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(PUBLISH_CHANNEL).await {
            tracing::warn!(error = %e, "publish listener cannot LISTEN; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        wake.notify_waiters();
        loop {
            match listener.recv().await {
                Ok(_) => wake.notify_waiters(),
                Err(e) => {
                    tracing::warn!(error = %e, "publish listener lost its connection");
                    wake.notify_waiters();
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_pacing_is_used_and_the_defaults_agree() {
        let defaults = WorkerSettings::from_config(&crate::config::PublishConfig::default());
        let built_in = WorkerSettings::default();
        assert_eq!(
            (defaults.workers, defaults.lease, defaults.job_timeout),
            (built_in.workers, built_in.lease, built_in.job_timeout)
        );
        assert_eq!(
            (
                defaults.backoff_base,
                defaults.backoff_cap,
                defaults.max_attempts
            ),
            (
                built_in.backoff_base,
                built_in.backoff_cap,
                built_in.max_attempts
            )
        );
        let short = WorkerSettings::from_config(&crate::config::PublishConfig {
            lease_seconds: 4.0,
            job_timeout_seconds: 2.5,
            backoff_base_seconds: 0.2,
            ..Default::default()
        });
        assert_eq!(short.lease, Duration::from_secs(4));
        assert_eq!(short.job_timeout, Duration::from_millis(2500));
        assert_eq!(short.backoff_base, Duration::from_millis(200));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let settings = WorkerSettings::default();
        for _ in 0..100 {
            let first = settings.backoff(1);
            assert!(
                first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
                "{first:?}"
            );
            let fourth = settings.backoff(4);
            assert!(
                fourth >= Duration::from_secs(8) && fourth <= Duration::from_secs(16),
                "{fourth:?}"
            );
            let late = settings.backoff(40);
            assert!(
                late >= Duration::from_secs(150) && late <= Duration::from_secs(300),
                "{late:?}"
            );
        }
    }
}
