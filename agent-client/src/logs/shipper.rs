//! The shipper: memory queue → batches → `POST {server}/logs` (gzip JSON array), spool on failure, deliver
//! the spool oldest-first once the server answers again.
//!
//! Order: while anything is spooled, new batches are appended to the spool behind it, so delivery stays
//! FIFO across an outage. Responses:
//! - 2xx: delivered.
//! - network error, 408, 429, 5xx, and 401/404 (credentials or URL: not the batch's fault): retried with OPA's
//!   jittered backoff, never sooner than a `Retry-After`.
//! - 413: the batch is split in halves; a single event that is still too large is quarantined.
//! - any other 4xx: the batch is poison; it is moved to `<spool>/poison/` and counted, never retried.

use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use regent_protocol::DecisionEventV1;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::spool::CheckedOut;
use super::{LogCounters, Spool, UploadError};
use crate::backoff;
use crate::config::{DecisionLogConfig, seconds};
use crate::shutdown::Shutdown;

/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// Batches delivered from the spool before the memory queue is looked at again.
const DRAIN_BUDGET: usize = 16;

/// One persona's shipper.
#[derive(Debug)]
pub struct Shipper {
    pub client: reqwest::Client,
    /// `{server}{resource}`.
    pub url: String,
    pub token: Option<String>,
    pub config: DecisionLogConfig,
    pub spool: Arc<Spool>,
    pub counters: Arc<LogCounters>,
    /// Poked after every upload attempt (status reports follow log uploads, as OPA's do).
    pub on_change: Arc<Notify>,
}

#[derive(Debug)]
struct Retry {
    after: Option<Duration>,
    error: UploadError,
}

enum Posted {
    Ok,
    TooLarge(Vec<u8>),
    Poison(Vec<u8>, u16),
    Retry(Retry),
}

/// Delivery state that survives across loop iterations.
#[derive(Debug, Default)]
struct State {
    retries: u32,
    /// Set while the server is failing: no direct posts, spool drains wait until then.
    retry_at: Option<Instant>,
    /// The spool segment being delivered and how many of its records are done.
    cursor: Option<(CheckedOut, usize)>,
}

impl Shipper {
    pub async fn run(self, mut rx: mpsc::Receiver<Box<DecisionEventV1>>, mut shutdown: Shutdown) {
        let flush = seconds(self.config.flush_interval_seconds).max(Duration::from_millis(1));
        let mut state = State::default();
        loop {
            // Only the wait for a first event races shutdown: once an event is taken from the queue, the
            // batch is gathered to the end, so cancellation can never lose it.
            let first = tokio::select! {
                () = shutdown.wait() => break,
                first = tokio::time::timeout(flush, rx.recv()) => first,
            };
            let events = match first {
                Ok(Some(first)) => {
                    Some(collect_more(&mut rx, first, self.config.max_batch_events, flush).await)
                }
                Ok(None) => None,
                Err(_) => Some(Vec::new()),
            };
            let closed = events.is_none();
            let records = self.encode(events.unwrap_or_default());
            if !records.is_empty() {
                let direct =
                    state.retry_at.is_none() && state.cursor.is_none() && self.spool.is_empty();
                if direct {
                    // A hung server must not hold up shutdown: on the signal the batch is spooled (a batch
                    // cut off mid-upload may arrive twice; the server de-duplicates on decision_id).
                    let delivered = tokio::select! {
                        result = self.deliver(records.clone()) => Some(result),
                        () = shutdown.wait() => None,
                    };
                    match delivered {
                        Some(Ok(())) => {}
                        Some(Err((retry, rest))) => {
                            self.spool_records(&rest);
                            self.failed(&mut state, retry);
                        }
                        None => {
                            self.spool_records(&records);
                            break;
                        }
                    }
                } else {
                    self.spool_records(&records);
                }
            }
            if let Err(e) = self.spool.sync() {
                tracing::error!(error = %e, "cannot sync the decision-log spool");
            }
            if state.retry_at.is_none_or(|at| Instant::now() >= at) {
                // Cancel-safe: the spool cursor only moves after an upload returns.
                tokio::select! {
                    () = self.drain(&mut state) => {}
                    () = shutdown.wait() => break,
                }
            }
            if closed {
                break;
            }
        }
        self.shutdown_flush(rx, state).await;
    }

    /// Spools records synchronously; a failure here is the one way events are lost, so it is counted.
    fn spool_records(&self, records: &[Vec<u8>]) {
        if let Err(e) = self.spool.append(records, true) {
            self.counters
                .dropped_buffer
                .fetch_add(records.len() as u64, Ordering::Relaxed);
            tracing::error!(error = %e, events = records.len(), "cannot spool decision events; dropped");
        }
    }

    fn failed(&self, state: &mut State, retry: Retry) {
        state.retries = state.retries.saturating_add(1);
        let max = seconds(self.config.max_delay_seconds);
        let mut delay = backoff::delay(max, state.retries);
        if let Some(after) = retry.after {
            delay = delay.max(after.min(MAX_RETRY_AFTER));
        }
        tracing::warn!(error = %retry.error.message, retry_in_ms = delay.as_millis() as u64,
            "decision-log upload failed; events are spooled");
        self.counters.set_last_error(Some(retry.error));
        state.retry_at = Some(Instant::now() + delay);
    }

    fn succeeded(&self, state: &mut State) {
        state.retries = 0;
        state.retry_at = None;
    }

    /// Delivers spooled batches, oldest first, up to a budget.
    async fn drain(&self, state: &mut State) {
        for _ in 0..DRAIN_BUDGET {
            if state.cursor.is_none() {
                match self.spool.checkout_oldest() {
                    Ok(Some(segment)) => state.cursor = Some((segment, 0)),
                    Ok(None) => {
                        // Nothing left to retry: direct posting resumes.
                        state.retry_at = None;
                        return;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the decision-log spool");
                        return;
                    }
                }
            }
            let Some((segment, done)) = state.cursor.as_mut() else {
                return;
            };
            let chunk = take_chunk(&segment.records[*done..], &self.config);
            let len = chunk.len();
            if len == 0 {
                let id = segment.id;
                state.cursor = None;
                if let Err(e) = self.spool.complete(id) {
                    tracing::error!(error = %e, "cannot delete a delivered spool segment");
                    return;
                }
                continue;
            }
            match self.deliver(chunk).await {
                Ok(()) => {
                    *done += len;
                    self.succeeded(state);
                }
                Err((retry, rest)) => {
                    *done += len - rest.len();
                    self.failed(state, retry);
                    return;
                }
            }
        }
    }

    /// Posts `records` in limit-sized chunks. On a retryable failure returns the undelivered suffix.
    async fn deliver(&self, records: Vec<Vec<u8>>) -> Result<(), (Retry, Vec<Vec<u8>>)> {
        let mut pending: VecDeque<Vec<Vec<u8>>> = chunks(records, &self.config).into();
        while let Some(chunk) = pending.pop_front() {
            let posted = self.post(&chunk).await;
            self.on_change.notify_one();
            match posted {
                Posted::Ok => {
                    self.counters
                        .delivered
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    self.counters.uploads_ok.fetch_add(1, Ordering::Relaxed);
                    self.counters.set_last_error(None);
                }
                Posted::TooLarge(_) if chunk.len() > 1 => {
                    let mut first = chunk;
                    let second = first.split_off(first.len() / 2);
                    pending.push_front(second);
                    pending.push_front(first);
                }
                Posted::TooLarge(body) => self.quarantine(&body, 413, 1),
                Posted::Poison(body, status) => self.quarantine(&body, status, chunk.len()),
                Posted::Retry(retry) => {
                    self.counters.uploads_failed.fetch_add(1, Ordering::Relaxed);
                    let rest: Vec<Vec<u8>> = chunk
                        .into_iter()
                        .chain(pending.into_iter().flatten())
                        .collect();
                    return Err((retry, rest));
                }
            }
        }
        Ok(())
    }

    fn quarantine(&self, body: &[u8], status: u16, events: usize) {
        self.counters
            .poisoned
            .fetch_add(events as u64, Ordering::Relaxed);
        let message = format!(
            "the server refused a batch of {events} events with {status}; it was moved aside and will not be retried"
        );
        match self.spool.quarantine(body, status) {
            Ok(path) => tracing::error!(path = %path.display(), "{message}"),
            Err(e) => tracing::error!(error = %e, "{message}, and it could not be saved"),
        }
        self.counters.set_last_error(Some(UploadError {
            message,
            http_code: Some(status),
        }));
    }

    async fn post(&self, records: &[Vec<u8>]) -> Posted {
        let body = match gzip_array(records) {
            Ok(body) => body,
            Err(e) => {
                return Posted::Retry(Retry {
                    after: None,
                    error: UploadError {
                        message: format!("cannot compress a batch: {e}"),
                        http_code: None,
                    },
                });
            }
        };
        let mut request = self
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .timeout(Duration::from_secs(15))
            .body(body.clone());
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Posted::Retry(Retry {
                    after: None,
                    error: UploadError {
                        message: format!("POST {} failed: {e}", self.url),
                        http_code: None,
                    },
                });
            }
        };
        let status = response.status();
        let after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let detail = response.text().await.unwrap_or_default();
        let detail: String = detail.chars().take(300).collect();
        if status.is_success() {
            return Posted::Ok;
        }
        let code = status.as_u16();
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => Posted::TooLarge(body),
            StatusCode::REQUEST_TIMEOUT
            | StatusCode::TOO_MANY_REQUESTS
            | StatusCode::UNAUTHORIZED
            | StatusCode::NOT_FOUND => Posted::Retry(Retry {
                after,
                error: UploadError {
                    message: format!("server replied {status}: {detail}"),
                    http_code: Some(code),
                },
            }),
            s if s.is_client_error() => Posted::Poison(body, code),
            _ => Posted::Retry(Retry {
                after,
                error: UploadError {
                    message: format!("server replied {status}: {detail}"),
                    http_code: Some(code),
                },
            }),
        }
    }

    fn encode(&self, events: impl IntoIterator<Item = Box<DecisionEventV1>>) -> Vec<Vec<u8>> {
        events
            .into_iter()
            .filter_map(|event| match serde_json::to_vec(&event) {
                Ok(json) => Some(json),
                Err(e) => {
                    self.counters
                        .encoding_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, "decision event cannot be encoded; dropped");
                    None
                }
            })
            .collect()
    }

    /// Shutdown: take everything still queued, try to deliver it and the spool within the grace time, and
    /// spool (synced) whatever is left.
    async fn shutdown_flush(self, mut rx: mpsc::Receiver<Box<DecisionEventV1>>, mut state: State) {
        rx.close();
        let mut events = Vec::new();
        while let Ok(event) = rx.try_recv() {
            events.push(event);
        }
        let records = self.encode(events);
        let grace = seconds(self.config.shutdown_flush_seconds);
        let deadline = Instant::now() + grace;
        let healthy = state.retry_at.is_none() && state.cursor.is_none() && self.spool.is_empty();
        if !records.is_empty() {
            if healthy {
                match tokio::time::timeout_at(deadline, self.deliver(records.clone())).await {
                    Ok(Ok(())) => {}
                    Ok(Err((_, rest))) => self.spool_records(&rest),
                    // Cut off mid-delivery: spool all of it; the server de-duplicates what did arrive.
                    Err(_) => self.spool_records(&records),
                }
            } else {
                self.spool_records(&records);
            }
        }
        if state.retry_at.is_none() {
            let _ = tokio::time::timeout_at(deadline, async {
                while !self.spool.is_empty() && state.retry_at.is_none() {
                    self.drain(&mut state).await;
                }
            })
            .await;
        }
        if let Err(e) = self.spool.sync() {
            tracing::error!(error = %e, "cannot sync the decision-log spool at shutdown");
        }
        let left = self.counters.spool_events.load(Ordering::Relaxed);
        if left > 0 {
            tracing::warn!(
                events = left,
                "decision logs left in the spool; they are sent at the next start"
            );
        }
    }
}

/// Gathers more events after `first` until `max` or `flush` has passed.
async fn collect_more(
    rx: &mut mpsc::Receiver<Box<DecisionEventV1>>,
    first: Box<DecisionEventV1>,
    max: usize,
    flush: Duration,
) -> Vec<Box<DecisionEventV1>> {
    let mut events = vec![first];
    let deadline = Instant::now() + flush;
    while events.len() < max {
        let want = max - events.len();
        match tokio::time::timeout_at(deadline, rx.recv_many(&mut events, want)).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    events
}

/// The longest prefix of `records` within the batch limits (at least one record).
fn take_chunk(records: &[Vec<u8>], config: &DecisionLogConfig) -> Vec<Vec<u8>> {
    let mut bytes = 0usize;
    let mut out = Vec::new();
    for record in records {
        if !out.is_empty()
            && (out.len() >= config.max_batch_events
                || bytes + record.len() > config.max_batch_bytes)
        {
            break;
        }
        bytes += record.len() + 1;
        out.push(record.clone());
    }
    out
}

fn chunks(records: Vec<Vec<u8>>, config: &DecisionLogConfig) -> Vec<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0usize;
    for record in records {
        if !current.is_empty()
            && (current.len() >= config.max_batch_events
                || bytes + record.len() > config.max_batch_bytes)
        {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += record.len() + 1;
        current.push(record);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `[r1,r2,…]`, gzip'd.
pub fn gzip_array(records: &[Vec<u8>]) -> std::io::Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(b"[")?;
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            gz.write_all(b",")?;
        }
        gz.write_all(record)?;
    }
    gz.write_all(b"]")?;
    gz.finish()
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn chunking_respects_events_and_bytes() {
        let config = DecisionLogConfig {
            max_batch_events: 3,
            max_batch_bytes: 10,
            ..DecisionLogConfig::default()
        };
        let records: Vec<Vec<u8>> = (0..7).map(|i| vec![b'a' + i; 4]).collect();
        let sizes: Vec<usize> = chunks(records.clone(), &config)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [2, 2, 2, 1]);
        assert_eq!(take_chunk(&records, &config).len(), 2);
        let big = vec![vec![b'x'; 100]];
        assert_eq!(take_chunk(&big, &config).len(), 1);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
