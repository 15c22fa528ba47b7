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
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;

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

    /// Renders the Prometheus text exposition format.
    pub async fn render(&self, state: &AppState) -> String {
        let mut out = String::with_capacity(4096);
        let started = self.started.duration_since(UNIX_EPOCH).unwrap_or_default();
        family(&mut out, "regent_build_info", "gauge", "Build information.");
        sample(
            &mut out,
            "regent_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );
        family(
            &mut out,
            "regent_process_start_time_seconds",
            "gauge",
            "Start time, Unix seconds.",
        );
        sample(
            &mut out,
            "regent_process_start_time_seconds",
            &[],
            started.as_secs(),
        );
        self.render_http(&mut out);
        self.render_counters(&mut out);
        render_gauges(&mut out, state).await;
        out
    }

    fn render_http(&self, out: &mut String) {
        let map = self.http.read().unwrap_or_else(PoisonError::into_inner);
        let mut series: Vec<(&str, &str, &Arc<HttpSeries>)> = map
            .iter()
            .flat_map(|(route, m)| {
                m.iter()
                    .map(move |(method, s)| (route.as_str(), *method, s))
            })
            .collect();
        series.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let name = "regent_http_requests_total";
        family(
            out,
            name,
            "counter",
            "HTTP requests by route template, method and status class.",
        );
        for (route, method, s) in &series {
            for (i, count) in s.by_class.iter().enumerate() {
                let n = count.load(Ordering::Relaxed);
                if n > 0 {
                    let class = ["1xx", "2xx", "3xx", "4xx", "5xx"][i];
                    sample(
                        out,
                        name,
                        &[("route", route), ("method", method), ("status", class)],
                        n,
                    );
                }
            }
        }
        let name = "regent_http_request_duration_seconds";
        family(
            out,
            name,
            "histogram",
            "HTTP request latency until the response head, seconds.",
        );
        for (route, method, s) in &series {
            let labels = [("route", *route), ("method", *method)];
            let mut cumulative = 0;
            for (i, bucket) in s.buckets.iter().enumerate() {
                cumulative += bucket.load(Ordering::Relaxed);
                let le = LATENCY_BUCKETS
                    .get(i)
                    .map_or("+Inf".to_owned(), |le| le.to_string());
                let mut with_le = labels.to_vec();
                with_le.push(("le", &le));
                sample(out, &format!("{name}_bucket"), &with_le, cumulative);
            }
            let sum = s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            sample_f64(out, &format!("{name}_sum"), &labels, sum);
            sample(out, &format!("{name}_count"), &labels, cumulative);
        }
    }

    fn render_counters(&self, out: &mut String) {
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            family(out, name, "counter", help);
            sample(out, name, &[], value);
        };
        counter(
            out,
            "regent_decision_logs_ingested_total",
            "Decision events stored (after deduplication).",
            self.logs_ingested.load(Ordering::Relaxed),
        );
        counter(
            out,
            "regent_decision_logs_duplicate_total",
            "Decision events received again and deduplicated on decision_id.",
            self.logs_duplicate.load(Ordering::Relaxed),
        );
        labelled(
            out,
            "regent_decision_logs_refused_total",
            "Decision events refused, by reason.",
            "reason",
            &self.logs_refused.snapshot(),
        );
        counter(
            out,
            "regent_status_reports_total",
            "Agent status reports stored.",
            self.status_received.load(Ordering::Relaxed),
        );
        labelled(
            out,
            "regent_bundles_served_total",
            "Answers of the OPA bundle endpoint, by status.",
            "status",
            &self.bundles_served.snapshot(),
        );
        let name = "regent_bundle_long_polls_in_flight";
        family(out, name, "gauge", "Bundle long polls waiting now.");
        let polls = self
            .long_polls
            .load(Ordering::Relaxed)
            .max(0)
            .unsigned_abs();
        sample(out, name, &[], polls);
        labelled(
            out,
            "regent_pushes_total",
            "Pushes by outcome (created, unchanged, rejected).",
            "outcome",
            &self.pushes.snapshot(),
        );
        labelled(
            out,
            "regent_publish_attempts_total",
            "OCI publication attempts by result.",
            "result",
            &self.publish_attempts.snapshot(),
        );
    }
}

/// Database gauges, read at scrape time.
async fn render_gauges(out: &mut String, state: &AppState) {
    let gauges = tokio::time::timeout(
        GAUGE_QUERY_TIMEOUT,
        state.store.metric_gauges(ACTIVE_AGENT_WINDOW),
    )
    .await;
    let gauges = match gauges {
        Ok(Ok(g)) => Some(g),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: database gauges unavailable");
            None
        }
        Err(_) => {
            tracing::warn!("metrics: database gauges timed out");
            None
        }
    };
    family(
        out,
        "regent_database_up",
        "gauge",
        "Whether the database answered this scrape.",
    );
    sample(out, "regent_database_up", &[], u64::from(gauges.is_some()));
    let Some(g) = gauges else {
        return;
    };
    let per_persona = |out: &mut String, name: &str, help: &str, rows: &[(String, i64)]| {
        family(out, name, "gauge", help);
        for (persona, n) in rows {
            sample(out, name, &[("persona", persona)], n.max(&0).unsigned_abs());
        }
    };
    per_persona(
        out,
        "regent_revisions",
        "Stored revisions per persona.",
        &g.revisions,
    );
    per_persona(
        out,
        "regent_agents_active",
        "Agents that reported in the last 5 minutes, per persona.",
        &g.active_agents,
    );
    let name = "regent_publications";
    family(
        out,
        name,
        "gauge",
        "OCI publications not (yet) published, by state.",
    );
    sample(
        out,
        name,
        &[("state", "pending")],
        g.publications_pending.max(0).unsigned_abs(),
    );
    sample(
        out,
        name,
        &[("state", "failed")],
        g.publications_failed.max(0).unsigned_abs(),
    );
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn labelled(out: &mut String, name: &str, help: &str, label: &str, values: &[(&'static str, u64)]) {
    family(out, name, "counter", help);
    for (value, n) in values {
        sample(out, name, &[(label, value)], *n);
    }
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    write_labels(out, name, labels);
    let _ = writeln!(out, " {value}");
}

fn sample_f64(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    write_labels(out, name, labels);
    let _ = writeln!(out, " {value}");
}

fn write_labels(out: &mut String, name: &str, labels: &[(&str, &str)]) {
    out.push_str(name);
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
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
