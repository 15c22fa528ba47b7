//! The Prometheus text exposition format (0.0.4) of [`Metrics`], and the gauges read from the
//! database at scrape time.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::UNIX_EPOCH;

use super::{ACTIVE_AGENT_WINDOW, GAUGE_QUERY_TIMEOUT, HttpSeries, LATENCY_BUCKETS, Metrics};
use crate::app::AppState;

impl Metrics {
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

    pub(super) fn render_http(&self, out: &mut String) {
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

pub(super) fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
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
