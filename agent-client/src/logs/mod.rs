//! Decision logs: every decision becomes a `DecisionEventV1` in a bounded memory queue; a shipper batches,
//! gzips and posts them to `{server}/logs`; what cannot be delivered goes to a disk spool and is delivered
//! later, oldest first. Nothing is dropped except when the spool reaches its cap, and every drop is counted.

pub mod shipper;
pub mod spool;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use regent_protocol::{DecisionEventV1, DecisionLogDeliveryV1, DropCountersV1};
use tokio::sync::mpsc;

pub use spool::Spool;

/// Counters of one persona's pipeline; totals since start, except the gauges.
#[derive(Debug, Default)]
pub struct LogCounters {
    pub delivered: AtomicU64,
    /// Events spilled straight to disk because the memory queue was full.
    pub spilled: AtomicU64,
    /// Events moved aside because the server refused their batch for good (a 4xx).
    pub poisoned: AtomicU64,
    pub dropped_buffer: AtomicU64,
    pub dropped_spool: AtomicU64,
    pub encoding_failures: AtomicU64,
    pub uploads_ok: AtomicU64,
    pub uploads_failed: AtomicU64,
    /// Gauges, maintained by the spool.
    pub spool_bytes: AtomicU64,
    pub spool_events: AtomicU64,
    /// The last upload's failure (`None` after a success), for status.
    pub last_error: Mutex<Option<UploadError>>,
}

/// The last upload failure.
#[derive(Debug, Clone)]
pub struct UploadError {
    pub message: String,
    pub http_code: Option<u16>,
}

impl LogCounters {
    pub fn drops(&self) -> DropCountersV1 {
        DropCountersV1 {
            decision_logs_dropped_buffer_size_limit_exceeded: self
                .dropped_buffer
                .load(Ordering::Relaxed),
            decision_logs_encoding_failure: self.encoding_failures.load(Ordering::Relaxed),
            decision_logs_dropped_spool_size_limit_exceeded: self
                .dropped_spool
                .load(Ordering::Relaxed),
            ..DropCountersV1::default()
        }
    }

    pub fn last_error(&self) -> Option<UploadError> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_last_error(&self, error: Option<UploadError>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
}

/// The decide-side end of a persona's pipeline. `push` never blocks on the network and never waits for a
/// lock held across I/O, except when the memory queue is full: then the event is appended to the spool file
/// (a buffered write, no fsync) rather than dropped.
#[derive(Debug)]
pub struct LogQueue {
    sender: mpsc::Sender<Box<DecisionEventV1>>,
    capacity: usize,
    spool: Arc<Spool>,
    pub counters: Arc<LogCounters>,
}

impl LogQueue {
    /// A queue of `capacity` events and the receiver the shipper drains.
    pub fn new(
        capacity: usize,
        spool: Arc<Spool>,
        counters: Arc<LogCounters>,
    ) -> (LogQueue, mpsc::Receiver<Box<DecisionEventV1>>) {
        let (sender, receiver) = mpsc::channel(capacity);
        (
            LogQueue {
                sender,
                capacity,
                spool,
                counters,
            },
            receiver,
        )
    }

    pub fn push(&self, event: Box<DecisionEventV1>) {
        let event = match self.sender.try_send(event) {
            Ok(()) => return,
            Err(
                mpsc::error::TrySendError::Full(event) | mpsc::error::TrySendError::Closed(event),
            ) => event,
        };
        match serde_json::to_vec(&event) {
            Ok(json) => match self.spool.append(&[json], false) {
                Ok(()) => {
                    self.counters.spilled.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    self.counters.dropped_buffer.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, decision_id = %event.decision_id,
                        "decision-log queue full and the spool cannot be written; event dropped");
                }
            },
            Err(e) => {
                self.counters
                    .encoding_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "decision event cannot be encoded; dropped");
            }
        }
    }

    pub fn len(&self) -> usize {
        self.capacity.saturating_sub(self.sender.capacity())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn spool(&self) -> &Arc<Spool> {
        &self.spool
    }

    /// The `regent.decision_logs` status block.
    pub fn delivery(&self, spool_limit: u64) -> DecisionLogDeliveryV1 {
        let c = &self.counters;
        DecisionLogDeliveryV1 {
            queue_length: self.len() as u64,
            queue_capacity: self.capacity as u64,
            spool_events: c.spool_events.load(Ordering::Relaxed),
            spool_bytes: c.spool_bytes.load(Ordering::Relaxed),
            spool_bytes_limit: Some(spool_limit),
            delivered_events: c.delivered.load(Ordering::Relaxed),
            dropped: c.drops(),
        }
    }
}
