//! Counters and a latency histogram per persona (atomics only: the hot path never locks), rendered as
//! Prometheus text by the sidecar's `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25,
];

/// Activation failure kinds, as `ActivationError::kind` names them.
pub const FAILURE_KINDS: [&str; 8] = [
    "digest",
    "read",
    "signature",
    "persona",
    "sequence",
    "compile",
    "source",
    "disk",
];

/// A cumulative histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// One persona's metrics.
#[derive(Debug, Default)]
pub struct PersonaMetrics {
    pub allowed: AtomicU64,
    pub denied: AtomicU64,
    /// Denies the agent made without the policy (no policy, undefined, error, timeout, bad input or output).
    pub fail_closed: AtomicU64,
    pub latency: Histogram,
    pub swaps: AtomicU64,
    pub activation_failures: [AtomicU64; FAILURE_KINDS.len()],
}

impl PersonaMetrics {
    pub fn activation_failed(&self, kind: &str) {
        let index = FAILURE_KINDS
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(FAILURE_KINDS.len() - 1);
        self.activation_failures[index].fetch_add(1, Ordering::Relaxed);
    }

    pub fn verify_failures(&self) -> u64 {
        self.activation_failures
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

/// Everything `/metrics` shows for one persona, gathered by the agent.
#[derive(Debug)]
pub struct PersonaView<'a> {
    pub persona: &'a str,
    pub metrics: &'a PersonaMetrics,
    pub active_sequence: Option<u64>,
    pub delivery: regent_protocol::DecisionLogDeliveryV1,
    pub poisoned: u64,
    pub spilled: u64,
}

/// Reads one number of a persona's view.
type Field = fn(&PersonaView<'_>) -> u64;

/// Prometheus text exposition format.
pub fn render(views: &[PersonaView<'_>]) -> String {
    let mut out = String::new();
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        &mut out,
        "regent_agent_decisions_total",
        "counter",
        "Decisions by persona and verdict.",
    );
    for v in views {
        let p = v.persona;
        let m = v.metrics;
        let _ = writeln!(
            out,
            "regent_agent_decisions_total{{persona=\"{p}\",allow=\"true\"}} {}",
            m.allowed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "regent_agent_decisions_total{{persona=\"{p}\",allow=\"false\"}} {}",
            m.denied.load(Ordering::Relaxed)
        );
    }
    family(
        &mut out,
        "regent_agent_fail_closed_total",
        "counter",
        "Denies made without a valid policy decision (no policy, undefined, error, timeout).",
    );
    for v in views {
        let _ = writeln!(
            out,
            "regent_agent_fail_closed_total{{persona=\"{}\"}} {}",
            v.persona,
            v.metrics.fail_closed.load(Ordering::Relaxed)
        );
    }
    family(
        &mut out,
        "regent_agent_decision_duration_seconds",
        "histogram",
        "Time to decide, input conversion and logging included.",
    );
    for v in views {
        v.metrics.latency.render(
            &mut out,
            "regent_agent_decision_duration_seconds",
            &format!("persona=\"{}\"", v.persona),
        );
    }
    family(
        &mut out,
        "regent_agent_bundle_swaps_total",
        "counter",
        "Snapshots activated.",
    );
    for v in views {
        let _ = writeln!(
            out,
            "regent_agent_bundle_swaps_total{{persona=\"{}\"}} {}",
            v.persona,
            v.metrics.swaps.load(Ordering::Relaxed)
        );
    }
    family(
        &mut out,
        "regent_agent_bundle_activation_failures_total",
        "counter",
        "Bundles refused, by reason (signature, sequence, digest, …).",
    );
    for v in views {
        for (kind, count) in FAILURE_KINDS.iter().zip(&v.metrics.activation_failures) {
            let _ = writeln!(
                out,
                "regent_agent_bundle_activation_failures_total{{persona=\"{}\",reason=\"{kind}\"}} {}",
                v.persona,
                count.load(Ordering::Relaxed)
            );
        }
    }
    family(
        &mut out,
        "regent_agent_active_sequence",
        "gauge",
        "Sequence of the active revision (absent before the first activation).",
    );
    for v in views {
        if let Some(seq) = v.active_sequence {
            let _ = writeln!(
                out,
                "regent_agent_active_sequence{{persona=\"{}\"}} {seq}",
                v.persona
            );
        }
    }
    let gauges: [(&str, &str, Field); 4] = [
        (
            "regent_agent_decision_log_queue_length",
            "Events in the memory queue.",
            |v| v.delivery.queue_length,
        ),
        (
            "regent_agent_decision_log_queue_capacity",
            "Capacity of the memory queue.",
            |v| v.delivery.queue_capacity,
        ),
        (
            "regent_agent_decision_log_spool_events",
            "Events in the disk spool.",
            |v| v.delivery.spool_events,
        ),
        (
            "regent_agent_decision_log_spool_bytes",
            "Bytes in the disk spool.",
            |v| v.delivery.spool_bytes,
        ),
    ];
    for (name, help, get) in gauges {
        family(&mut out, name, "gauge", help);
        for v in views {
            let _ = writeln!(out, "{name}{{persona=\"{}\"}} {}", v.persona, get(v));
        }
    }
    let counters: [(&str, &str, Field); 6] = [
        (
            "regent_agent_decision_logs_delivered_total",
            "Events the control plane acknowledged.",
            |v| v.delivery.delivered_events,
        ),
        (
            "regent_agent_decision_logs_spilled_total",
            "Events written to the spool because the memory queue was full.",
            |v| v.spilled,
        ),
        (
            "regent_agent_decision_logs_poisoned_total",
            "Events in batches the server refused for good (moved aside).",
            |v| v.poisoned,
        ),
        (
            "regent_agent_decision_logs_dropped_buffer_size_limit_exceeded_total",
            "Events dropped: queue full and spool unwritable.",
            |v| {
                v.delivery
                    .dropped
                    .decision_logs_dropped_buffer_size_limit_exceeded
            },
        ),
        (
            "regent_agent_decision_logs_dropped_spool_size_limit_exceeded_total",
            "Events dropped: spool cap reached (oldest first).",
            |v| {
                v.delivery
                    .dropped
                    .decision_logs_dropped_spool_size_limit_exceeded
            },
        ),
        (
            "regent_agent_decision_logs_encoding_failure_total",
            "Events that could not be encoded.",
            |v| v.delivery.dropped.decision_logs_encoding_failure,
        ),
    ];
    for (name, help, get) in counters {
        family(&mut out, name, "counter", help);
        for v in views {
            let _ = writeln!(out, "{name}{{persona=\"{}\"}} {}", v.persona, get(v));
        }
    }
    out
}
