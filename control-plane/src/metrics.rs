//! Prometheus metrics at `/metrics`, in the text exposition format (0.0.4).
//!
//! A small registry of atomics, no metrics crate: counters and histograms are kept in memory
//! by this process (each replica exposes its own), gauges about the fleet are read from the
//! database at scrape time with a few cheap, indexed queries.
//!
//! Label values are always bounded: HTTP routes are the router's templates
//! (`/bundles/{persona}`, never the raw path), methods a fixed list, statuses a class (`2xx`),
//! and the `&'static str` reasons other modules pass in.
//!
//! Other modules record through these calls (all cheap and lock-free on the hot path):
//! - [`Metrics::logs_ingested`]`(n)`: decision events stored (after deduplication);
//! - [`Metrics::logs_duplicate`]`(n)`: events already stored (resends, deduplicated);
//! - [`Metrics::logs_refused`]`(n, reason)`: events refused (`"overloaded"`, `"too_large"`,
//!   `"invalid"`);
//! - [`Metrics::status_received`]`()`: a status report stored;
//! - [`Metrics::bundle_served`]`(status)`: a `/bundles/{persona}` answer (200, 304, …);
//! - [`Metrics::long_poll`]`()`: a guard counting a long poll in flight while it lives;
//! - [`Metrics::push_finished`]`(outcome)`: `"created"`, `"unchanged"` or `"rejected"`;
//! - [`Metrics::publish_attempt`]`(ok)`: one OCI publication attempt.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;

mod render;

/// Request latency buckets, seconds. Long polls sit in the top buckets (up to
/// `limits.max_long_poll_seconds`, 300 by default).
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 60.0, 300.0,
];
/// A scrape never waits longer than this on the database; the gauges are then skipped and
/// `regent_database_up` is 0.
const GAUGE_QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// "Active" agents reported in this window.
pub const ACTIVE_AGENT_WINDOW: Duration = Duration::from_secs(300);

#[derive(Debug)]
pub struct Metrics {
    started: SystemTime,
    /// route template → method → series.
    http: RwLock<HashMap<String, HashMap<&'static str, Arc<HttpSeries>>>>,
    logs_ingested: AtomicU64,
    logs_duplicate: AtomicU64,
    logs_refused: Counters,
    status_received: AtomicU64,
    bundles_served: Counters,
    long_polls: AtomicI64,
    pushes: Counters,
    publish_attempts: Counters,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: SystemTime::now(),
            http: RwLock::default(),
            logs_ingested: AtomicU64::new(0),
            logs_duplicate: AtomicU64::new(0),
            logs_refused: Counters::default(),
            status_received: AtomicU64::new(0),
            bundles_served: Counters::default(),
            long_polls: AtomicI64::new(0),
            pushes: Counters::default(),
            publish_attempts: Counters::default(),
        }
    }
}

/// Counters keyed by one bounded label value.
#[derive(Debug, Default)]
struct Counters(RwLock<BTreeMap<&'static str, Arc<AtomicU64>>>);

impl Counters {
    fn add(&self, label: &'static str, n: u64) {
        let found = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(label)
            .cloned();
        let counter = match found {
            Some(c) => c,
            None => self
                .0
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(label)
                .or_default()
                .clone(),
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .map(|(k, v)| (*k, v.load(Ordering::Relaxed)))
            .collect()
    }
}

/// Requests of one (route, method): counts per status class and a latency histogram.
#[derive(Debug, Default)]
struct HttpSeries {
    /// 1xx … 5xx.
    by_class: [AtomicU64; 5],
    /// Per bucket (not cumulative; summed at render), plus the overflow bucket.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl HttpSeries {
    fn observe(&self, status: StatusCode, elapsed: Duration) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// Counts one long poll in flight while alive.
#[derive(Debug)]
pub struct LongPollGuard<'a>(&'a AtomicI64);

impl Drop for LongPollGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Decision events stored (new, after deduplication).
    pub fn logs_ingested(&self, n: u64) {
        self.logs_ingested.fetch_add(n, Ordering::Relaxed);
    }

    /// Decision events received again and deduplicated on `decision_id`.
    pub fn logs_duplicate(&self, n: u64) {
        self.logs_duplicate.fetch_add(n, Ordering::Relaxed);
    }

    /// Decision events refused; `reason` is a fixed word such as `"overloaded"` (429),
    /// `"too_large"` (413) or `"invalid"` (400).
    pub fn logs_refused(&self, n: u64, reason: &'static str) {
        self.logs_refused.add(reason, n);
    }

    /// An agent status report stored.
    pub fn status_received(&self) {
        self.status_received.fetch_add(1, Ordering::Relaxed);
    }

    /// An answer of the OPA bundle endpoint.
    pub fn bundle_served(&self, status: StatusCode) {
        // Other codes are counted by class, keeping the label set fixed.
        let label = match status.as_u16() {
            200 => "200",
            304 => "304",
            _ => status_class(status),
        };
        self.bundles_served.add(label, 1);
    }

    /// Counts a long poll in flight until the guard is dropped.
    pub fn long_poll(&self) -> LongPollGuard<'_> {
        self.long_polls.fetch_add(1, Ordering::Relaxed);
        LongPollGuard(&self.long_polls)
    }

    /// A push finished: `"created"`, `"unchanged"` or `"rejected"`.
    pub fn push_finished(&self, outcome: &'static str) {
        self.pushes.add(outcome, 1);
    }

    /// One attempt to publish to an OCI registry.
    pub fn publish_attempt(&self, ok: bool) {
        self.publish_attempts
            .add(if ok { "ok" } else { "error" }, 1);
    }

    /// Records one HTTP request (called by [`track_http`]).
    pub fn http_request(
        &self,
        route: &str,
        method: &Method,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let method = method_label(method);
        let found = self
            .http
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
            .and_then(|m| m.get(method))
            .cloned();
        let series = match found {
            Some(s) => s,
            None => self
                .http
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(route.to_owned())
                .or_default()
                .entry(method)
                .or_default()
                .clone(),
        };
        series.observe(status, elapsed);
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Middleware (`axum::middleware::from_fn_with_state`) recording every request under its
/// route template; requests no route matched share the label `unmatched`.
pub async fn track_http(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state
        .metrics
        .http_request(&route, &method, response.status(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::render::sample;
    use super::*;

    #[test]
    fn histogram_buckets_and_label_escaping() {
        let m = Metrics::default();
        m.http_request(
            "/x/{id}",
            &Method::GET,
            StatusCode::OK,
            Duration::from_millis(3),
        );
        m.http_request(
            "/x/{id}",
            &Method::GET,
            StatusCode::NOT_FOUND,
            Duration::from_secs(400),
        );
        let mut out = String::new();
        m.render_http(&mut out);
        assert!(
            out.contains(
                r#"regent_http_requests_total{route="/x/{id}",method="GET",status="2xx"} 1"#
            ),
            "{out}"
        );
        assert!(
            out.contains(
                r#"regent_http_requests_total{route="/x/{id}",method="GET",status="4xx"} 1"#
            ),
            "{out}"
        );
        assert!(
            out.contains(r#"_bucket{route="/x/{id}",method="GET",le="0.001"} 0"#),
            "{out}"
        );
        assert!(
            out.contains(r#"_bucket{route="/x/{id}",method="GET",le="0.005"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(r#"_bucket{route="/x/{id}",method="GET",le="300"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(r#"_bucket{route="/x/{id}",method="GET",le="+Inf"} 2"#),
            "{out}"
        );
        assert!(
            out.contains(r#"_count{route="/x/{id}",method="GET"} 2"#),
            "{out}"
        );
        let mut out = String::new();
        sample(&mut out, "m", &[("l", "a\"b\\c\nd")], 1);
        assert_eq!(out, "m{l=\"a\\\"b\\\\c\\nd\"} 1\n");
    }
}
