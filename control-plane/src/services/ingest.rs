//! Decision-log ingest (`POST /logs`): inflate with a hard cap, validate every event, then store
//! the batch idempotently and answer only once it is committed.
//!
//! Requests decode and validate in parallel (blocking threads); a fixed set of writer tasks (half
//! the database pool, so ingest never starves the API of connections) stores what they hand over,
//! merging batches that queue up into one transaction so many small OPA chunks cost one WAL
//! flush. Measured on 2 cores shared with Postgres, every audit index maintained: eight writers
//! store 43–47k events/s, fewer leave the cores idle (`benches/ingest.rs`, BENCHMARKS.md).
//! Events are read without building their documents (`fields.rs`). Back-pressure is a budget of
//! events in flight (`limits.ingest_queue_events`); when it is spent the caller gets 429 +
//! `Retry-After` instead of an unbounded queue.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use chrono::Utc;
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

mod fields;
mod parse;

pub(crate) use parse::has_nul_escape;
use parse::{decode, parse_events};

use crate::app::AppState;
use crate::config::Config;
use crate::store::logs::{DecisionLogColumns, LogMonth, ReasonIds};
use crate::store::{Store, StoreError, StoreResult};

/// Seconds a throttled client is told to wait.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Partitions are created on demand only for months this far back from now; older (and
/// further-future) events land in the default partition, so a hostile timestamp spread cannot
/// create unbounded tables.
const PARTITION_MONTHS_BACK: i64 = 12;
const PARTITION_MONTHS_AHEAD: i64 = 1;

/// The writer merges queued batches into one transaction up to this many events.
const GROUP_MAX_EVENTS: usize = 5_000;

/// How often the background task makes sure this and next month's partitions exist.
const PARTITION_CHECK_EVERY: Duration = Duration::from_secs(6 * 3600);

/// Why a `/logs` batch was refused. Nothing of a refused batch is stored.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("the ingest queue is full; retry after {RETRY_AFTER_SECS} s")]
    Busy,
    #[error(
        "the body inflates to more than {limit} bytes (`limits.max_log_inflated_bytes`); send smaller batches"
    )]
    InflatedTooLarge { limit: usize },
    #[error("the body is not valid gzip ({0}); send a gzip-compressed JSON array")]
    BadGzip(String),
    #[error(
        "the body is not a JSON array of decision events: {message} (line {line}, column {column})"
    )]
    Json {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("`{path}`: {detail}")]
    InvalidEvent { path: String, detail: String },
    #[error(
        "`events[{index}]` is for persona `{persona}`, but this agent token is for persona `{allowed}`"
    )]
    WrongPersona {
        index: usize,
        persona: String,
        allowed: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ingest worker failed: {0}")]
    Worker(String),
}

/// How the body is encoded (`Content-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

/// Totals since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct IngestStats {
    pub batches: AtomicU64,
    pub events_stored: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub batches_rejected: AtomicU64,
    pub batches_throttled: AtomicU64,
}

/// What happened to an accepted batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct IngestReport {
    pub received: u64,
    pub stored: u64,
    pub duplicates: u64,
}

/// A validated batch waiting for the writer. Its budget permit is released once it is stored
/// (or refused), even if the client has gone away meanwhile.
#[derive(Debug)]
struct Job {
    rows: DecisionLogColumns,
    months: BTreeSet<LogMonth>,
    reply: oneshot::Sender<StoreResult<u64>>,
    _permit: OwnedSemaphorePermit,
}

type Partitions = Arc<Mutex<HashSet<LogMonth>>>;

#[derive(Debug)]
pub struct Ingest {
    budget: Arc<Semaphore>,
    capacity: usize,
    max_inflated: usize,
    /// Writer tasks: half the database pool, leaving the rest to the API.
    writers: usize,
    /// Months whose partition is known to exist.
    partitions: Partitions,
    /// Ids of the reasons texts the writers stored or read (shared by all writers).
    reasons: Arc<ReasonIds>,
    queue: mpsc::UnboundedSender<Job>,
    /// The writer's end of `queue`, taken when the first batch starts the writer (on the
    /// runtime that serves requests, so tests need no extra setup).
    writer_rx: Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
    pub stats: IngestStats,
}

impl Ingest {
    pub fn new(config: &Config) -> Ingest {
        let capacity = config.limits.ingest_queue_events.max(1);
        // Unbounded channel, bounded by the event budget: a job needs its permits first.
        let (queue, writer_rx) = mpsc::unbounded_channel();
        Ingest {
            budget: Arc::new(Semaphore::new(capacity)),
            capacity,
            max_inflated: config.limits.max_log_inflated_bytes,
            writers: config
                .limits
                .ingest_writers
                .unwrap_or(config.database_max_connections as usize / 2)
                .max(1),
            partitions: Partitions::default(),
            reasons: Arc::new(ReasonIds::default()),
            queue,
            writer_rx: Mutex::new(Some(writer_rx)),
            stats: IngestStats::default(),
        }
    }

    /// Reserves room for `events` events in flight, or `None` when the budget is spent. A batch
    /// larger than the whole budget needs all of it (it waits for an idle moment).
    pub fn try_reserve(&self, events: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(events.clamp(1, self.capacity)).unwrap_or(u32::MAX);
        Arc::clone(&self.budget).try_acquire_many_owned(n).ok()
    }

    /// Events that may still enter before the server answers 429.
    pub fn available(&self) -> usize {
        self.budget.available_permits()
    }

    /// Decodes, validates and stores one `/logs` body. `agent_persona` is set for agent tokens:
    /// every event must then be for that persona (events that name none are attributed to it).
    pub async fn ingest(
        &self,
        store: &Store,
        body: Bytes,
        encoding: Encoding,
        agent_persona: Option<String>,
    ) -> Result<IngestReport, IngestError> {
        let result = self
            .ingest_inner(store, body, encoding, agent_persona)
            .await;
        let stats = &self.stats;
        match &result {
            Ok(report) => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats
                    .events_stored
                    .fetch_add(report.stored, Ordering::Relaxed);
                stats
                    .events_duplicate
                    .fetch_add(report.duplicates, Ordering::Relaxed);
            }
            Err(IngestError::Busy) => {
                stats.batches_throttled.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                stats.batches_rejected.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    async fn ingest_inner(
        &self,
        store: &Store,
        body: Bytes,
        encoding: Encoding,
        agent_persona: Option<String>,
    ) -> Result<IngestReport, IngestError> {
        // Cheap early refusal before spending CPU on inflating and parsing.
        if self.available() == 0 {
            return Err(IngestError::Busy);
        }
        let max_inflated = self.max_inflated;
        let (rows, months) = tokio::task::spawn_blocking(move || {
            let json = decode(&body, encoding, max_inflated)?;
            parse_events(&json, agent_persona.as_deref())
        })
        .await
        .map_err(|e| IngestError::Worker(e.to_string()))??;
        let received = rows.len() as u64;
        if rows.is_empty() {
            return Ok(IngestReport {
                received,
                stored: 0,
                duplicates: 0,
            });
        }
        let permit = self.try_reserve(rows.len()).ok_or(IngestError::Busy)?;
        self.start_writer(store);
        let (reply, stored) = oneshot::channel();
        let job = Job {
            rows,
            months,
            reply,
            _permit: permit,
        };
        self.queue
            .send(job)
            .map_err(|_| IngestError::Worker("the decision-log writer has stopped".into()))?;
        let stored = stored
            .await
            .map_err(|_| IngestError::Worker("the decision-log writer has stopped".into()))??;
        Ok(IngestReport {
            received,
            stored,
            duplicates: received - stored,
        })
    }

    fn start_writer(&self, store: &Store) {
        let taken = self.writer_rx.lock().ok().and_then(|mut rx| rx.take());
        if let Some(rx) = taken {
            let queue: JobQueue = Arc::new(tokio::sync::Mutex::new(rx));
            for _ in 0..self.writers {
                tokio::spawn(write_loop(
                    store.clone(),
                    Arc::clone(&queue),
                    Arc::clone(&self.partitions),
                    Arc::clone(&self.reasons),
                ));
            }
        }
    }
}

/// The writers' shared end of the queue.
type JobQueue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>;

/// Stores queued batches: takes one, adds whatever else is already waiting (up to
/// [`GROUP_MAX_EVENTS`]) and commits them together, so many small batches cost one WAL flush.
async fn write_loop(
    store: Store,
    queue: JobQueue,
    partitions: Partitions,
    reasons: Arc<ReasonIds>,
) {
    while let Some(mut jobs) = next_group(&queue).await {
        let months: BTreeSet<LogMonth> =
            jobs.iter().flat_map(|j| j.months.iter().copied()).collect();
        ensure_partitions(&store, &partitions, &months).await;
        let batches: Vec<&DecisionLogColumns> = jobs.iter().map(|j| &j.rows).collect();
        match store.insert_decision_log_batches(&batches, &reasons).await {
            Ok(stored) => {
                for (job, n) in jobs.into_iter().zip(stored) {
                    let _ = job.reply.send(Ok(n));
                }
            }
            Err(e) if jobs.len() == 1 => {
                if let Some(job) = jobs.pop() {
                    let _ = job.reply.send(Err(e));
                }
            }
            // One bad batch must not fail the others it was grouped with: retry each alone.
            Err(e) => {
                tracing::warn!(error = %e, batches = jobs.len(), "grouped decision-log insert failed; retrying batches one by one");
                for job in jobs {
                    let result = store.insert_decision_logs(&job.rows, &reasons).await;
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

/// Waits for a job, then takes the ones already queued behind it. `None` once the queue closed.
async fn next_group(queue: &JobQueue) -> Option<Vec<Job>> {
    let mut queue = queue.lock().await;
    let first = queue.recv().await?;
    let mut events = first.rows.len();
    let mut jobs = vec![first];
    while events < GROUP_MAX_EVENTS {
        let Ok(job) = queue.try_recv() else { break };
        events += job.rows.len();
        jobs.push(job);
    }
    Some(jobs)
}

/// Creates missing monthly partitions inside the window. Failures are logged, not fatal: the
/// events then land in the default partition and a later batch retries.
async fn ensure_partitions(
    store: &Store,
    known: &Mutex<HashSet<LogMonth>>,
    months: &BTreeSet<LogMonth>,
) {
    let now = LogMonth::of(Utc::now()).index();
    for &month in months {
        let offset = month.index() - now;
        if !(-PARTITION_MONTHS_BACK..=PARTITION_MONTHS_AHEAD).contains(&offset) {
            continue;
        }
        if known.lock().is_ok_and(|known| known.contains(&month)) {
            continue;
        }
        match store.ensure_log_partition(month).await {
            Ok(_) => {
                if let Ok(mut known) = known.lock() {
                    known.insert(month);
                }
            }
            Err(e) => {
                tracing::warn!(%month, error = %e, "cannot create decision-log partition; using the default partition");
            }
        }
    }
}

/// Keeps this and next month's partitions in place, so the hot path rarely creates one.
pub fn spawn(state: AppState) -> Vec<tokio::task::JoinHandle<()>> {
    vec![tokio::spawn(async move {
        loop {
            let this = LogMonth::of(Utc::now());
            let months = BTreeSet::from([this, this.next()]);
            ensure_partitions(&state.store, &state.ingest.partitions, &months).await;
            tokio::time::sleep(PARTITION_CHECK_EVERY).await;
        }
    })]
}
