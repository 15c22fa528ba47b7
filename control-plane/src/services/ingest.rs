//! Decision-log ingest (`POST /logs`): inflate with a hard cap, validate every event, then store
//! the batch idempotently and answer only once it is committed.
//!
//! Requests decode and validate in parallel; one writer task per replica stores what they hand
//! over, merging batches that queue up into one transaction. A single writer is deliberate:
//! concurrent inserters fight over the same hot index pages, the table's extension lock and WAL
//! flushes, and measured slower than one (see `benches/ingest.rs`). Back-pressure is a budget of
//! events in flight (`limits.ingest_queue_events`); when it is spent the caller gets 429 +
//! `Retry-After` instead of an unbounded queue.

use std::collections::{BTreeSet, HashSet};
use std::io::Read as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use chrono::Utc;
use flate2::read::MultiGzDecoder;
use regent_protocol::DecisionEventV1;
use serde_json::value::RawValue;
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use uuid::Uuid;

use crate::app::AppState;
use crate::config::Config;
use crate::store::logs::{DecisionLogColumns, LogMonth};
use crate::store::{Store, StoreError, StoreResult};

/// Seconds a throttled client is told to wait.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Partitions are created on demand only for months this far back from now; older (and
/// further-future) events land in the default partition, so a hostile timestamp spread cannot
/// create unbounded tables.
const PARTITION_MONTHS_BACK: i64 = 12;
const PARTITION_MONTHS_AHEAD: i64 = 1;

/// Writer tasks per replica.
const WRITERS: usize = 2;

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
    #[error("decoding worker failed: {0}")]
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
    /// Months whose partition is known to exist.
    partitions: Partitions,
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
            partitions: Partitions::default(),
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
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            let writers: usize = std::env::var("EXP_WRITERS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(WRITERS);
            for _ in 0..writers {
                tokio::spawn(write_loop(
                    store.clone(),
                    Arc::clone(&rx),
                    Arc::clone(&self.partitions),
                ));
            }
        }
    }
}

/// Stores queued batches: takes one, adds whatever else is already waiting (up to
/// [`GROUP_MAX_EVENTS`]) and commits them together.
async fn write_loop(
    store: Store,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>,
    partitions: Partitions,
) {
    loop {
        let (jobs, events) = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut events = first.rows.len();
            let mut jobs = vec![first];
            while events < GROUP_MAX_EVENTS {
                let Ok(job) = rx.try_recv() else { break };
                events += job.rows.len();
                jobs.push(job);
            }
            (jobs, events)
        };
        let mut jobs = jobs;
        let months: BTreeSet<LogMonth> =
            jobs.iter().flat_map(|j| j.months.iter().copied()).collect();
        ensure_partitions(&store, &partitions, &months).await;
        let batches: Vec<&DecisionLogColumns> = jobs.iter().map(|j| &j.rows).collect();
        let t0 = std::time::Instant::now();
        let r = store.insert_decision_log_batches(&batches).await;
        eprintln!(
            "TIMING group jobs={} events={} took={:?}",
            jobs.len(),
            events,
            t0.elapsed()
        );
        match r {
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
                    let result = store.insert_decision_logs(&job.rows).await;
                    let _ = job.reply.send(result);
                }
            }
        }
    }
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

/// Inflates a gzip body, reading at most `max_inflated + 1` bytes, so a gzip bomb costs only
/// the cap, not its full expansion.
fn decode(body: &[u8], encoding: Encoding, max_inflated: usize) -> Result<Vec<u8>, IngestError> {
    match encoding {
        Encoding::Identity => {
            if body.len() > max_inflated {
                return Err(IngestError::InflatedTooLarge {
                    limit: max_inflated,
                });
            }
            Ok(body.to_vec())
        }
        Encoding::Gzip => {
            let cap = u64::try_from(max_inflated)
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            let mut out = Vec::with_capacity(body.len().saturating_mul(8).min(max_inflated));
            MultiGzDecoder::new(body)
                .take(cap)
                .read_to_end(&mut out)
                .map_err(|e| IngestError::BadGzip(e.to_string()))?;
            if out.len() > max_inflated {
                return Err(IngestError::InflatedTooLarge {
                    limit: max_inflated,
                });
            }
            Ok(out)
        }
    }
}

/// Parses and validates every event; the first invalid one refuses the whole batch.
fn parse_events(
    json: &[u8],
    agent_persona: Option<&str>,
) -> Result<(DecisionLogColumns, BTreeSet<LogMonth>), IngestError> {
    let raw: Vec<&RawValue> = serde_json::from_slice(json).map_err(|e| IngestError::Json {
        message: strip_position(&e),
        line: e.line(),
        column: e.column(),
    })?;
    let mut rows = DecisionLogColumns::with_capacity(raw.len());
    let mut months = BTreeSet::new();
    for (index, raw) in raw.iter().enumerate() {
        let text = raw.get();
        let mut event: DecisionEventV1 =
            serde_json::from_str(text).map_err(|e| diagnose(index, text, &e))?;
        let decision_id =
            Uuid::parse_str(&event.decision_id).map_err(|_| IngestError::InvalidEvent {
                path: format!("events[{index}].decision_id"),
                detail: format!("`{}` is not a UUID", truncate(&event.decision_id, 80)),
            })?;
        if has_nul_escape(text) {
            return Err(IngestError::InvalidEvent {
                path: format!("events[{index}]"),
                detail: "contains `\\u0000`, which cannot be stored; remove NUL characters".into(),
            });
        }
        event.derive_missing_fields();
        if let Some(allowed) = agent_persona {
            match &event.persona {
                Some(persona) if persona != allowed => {
                    return Err(IngestError::WrongPersona {
                        index,
                        persona: persona.clone(),
                        allowed: allowed.to_owned(),
                    });
                }
                Some(_) => {}
                None => event.persona = Some(allowed.to_owned()),
            }
        }
        months.insert(LogMonth::of(event.timestamp));
        push_row(&mut rows, decision_id, event, text);
    }
    Ok((rows, months))
}

fn push_row(rows: &mut DecisionLogColumns, decision_id: Uuid, event: DecisionEventV1, text: &str) {
    // The bundle revision: the deprecated top-level field, else the persona's bundle, else the
    // only bundle.
    let revision = event.revision.clone().or_else(|| {
        let by_persona = event.persona.as_ref().and_then(|p| event.bundles.get(p));
        let only = (event.bundles.len() == 1)
            .then(|| event.bundles.values().next())
            .flatten();
        by_persona.or(only).and_then(|b| b.revision.clone())
    });
    let mut reasons = String::new();
    for reason in &event.reasons {
        for part in [&reason.code, &reason.message] {
            if !reasons.is_empty() {
                reasons.push(' ');
            }
            reasons.push_str(part);
        }
    }
    rows.decision_id.push(decision_id);
    rows.ts.push(event.timestamp);
    rows.persona.push(event.persona);
    rows.agent_id.push(event.agent_id);
    rows.user_id.push(event.user_id);
    rows.tool.push(event.tool);
    rows.allow.push(event.allow);
    rows.revision.push(revision);
    rows.sequence
        .push(event.revision_sequence.and_then(|s| i64::try_from(s).ok()));
    rows.path
        .push(event.path.map(|p| p.trim_start_matches('/').to_owned()));
    rows.reasons.push(reasons);
    rows.event.push(text.to_owned());
}

/// Names the field when a required one is missing or malformed; serde alone cannot say where.
fn diagnose(index: usize, text: &str, error: &serde_json::Error) -> IngestError {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let field_error = |field: &str, detail: String| IngestError::InvalidEvent {
        path: format!("events[{index}].{field}"),
        detail,
    };
    let Some(object) = value.as_object() else {
        return IngestError::InvalidEvent {
            path: format!("events[{index}]"),
            detail: "must be a JSON object".into(),
        };
    };
    match object.get("decision_id") {
        None | Some(serde_json::Value::Null) => {
            return field_error(
                "decision_id",
                "is missing; every event needs a UUID decision_id".into(),
            );
        }
        Some(v) if !v.is_string() => {
            return field_error("decision_id", "must be a UUID string".into());
        }
        _ => {}
    }
    match object.get("timestamp") {
        None | Some(serde_json::Value::Null) => {
            return field_error(
                "timestamp",
                "is missing; every event needs an RFC 3339 timestamp".into(),
            );
        }
        Some(serde_json::Value::String(s)) if chrono::DateTime::parse_from_rfc3339(s).is_err() => {
            return field_error(
                "timestamp",
                format!("`{}` is not an RFC 3339 date-time", truncate(s, 80)),
            );
        }
        Some(v) if !v.is_string() => {
            return field_error("timestamp", "must be an RFC 3339 date-time string".into());
        }
        _ => {}
    }
    IngestError::InvalidEvent {
        path: format!("events[{index}]"),
        detail: strip_position(error),
    }
}

/// serde_json's message without its ` at line L column C` suffix (reported separately).
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Whether JSON text holds an escaped NUL (`\u0000`), which Postgres `jsonb` refuses. An escape
/// is real only when preceded by an even number of further backslashes.
pub(crate) fn has_nul_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(found) = text[from..].find("\\u0000") {
        let at = from + found;
        let backslashes = bytes[..at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return true;
        }
        from = at + 1;
    }
    false
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nul_escapes_are_found_but_escaped_backslashes_are_not() {
        assert!(has_nul_escape(r#"{"a":"x\u0000"}"#));
        assert!(has_nul_escape(r#"{"a":"\\\u0000"}"#));
        assert!(!has_nul_escape(r#"{"a":"\\u0000"}"#));
        assert!(!has_nul_escape(r#"{"a":"u0000"}"#));
    }

    #[test]
    fn a_gzip_bomb_is_cut_at_the_cap() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write as _;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&vec![b' '; 4 << 20]).unwrap();
        let bomb = encoder.finish().unwrap();
        let err = decode(&bomb, Encoding::Gzip, 1 << 20).unwrap_err();
        assert!(matches!(err, IngestError::InflatedTooLarge { limit } if limit == 1 << 20));
        assert_eq!(
            decode(&bomb, Encoding::Gzip, 4 << 20).unwrap().len(),
            4 << 20
        );
    }

    #[test]
    fn invalid_events_name_their_index_and_field() {
        let json = br#"[{"decision_id":"4ca636c1-55e4-417a-b1d8-4aceb67960d1","timestamp":"2026-11-24T10:15:00Z"},
                        {"decision_id":"nope","timestamp":"2026-11-24T10:15:00Z"}]"#;
        let err = parse_events(json, None).unwrap_err();
        assert!(
            err.to_string().starts_with("`events[1].decision_id`"),
            "{err}"
        );
        let json = br#"[{"decision_id":"4ca636c1-55e4-417a-b1d8-4aceb67960d1"}]"#;
        let err = parse_events(json, None).unwrap_err();
        assert!(
            err.to_string().starts_with("`events[0].timestamp`"),
            "{err}"
        );
        let err = parse_events(b"[1]", None).unwrap_err();
        assert!(err.to_string().starts_with("`events[0]`"), "{err}");
    }
}
