//! The status report (`POST /status`): OPA's `UpdateRequestV1` plus Regent's own block.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::serde_util::{go_time, null_as_default};

/// A status report as OPA's status plugin sends it, plus Regent's block under `regent`.
///
/// Every OPA field is optional and unknown fields are ignored, so any stock OPA 1.x payload parses. Regent's agent
/// fills the OPA fields too (`labels.id`, `bundles.<persona>.active_revision`, …) so OPA-oriented tooling works.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReportV1 {
    /// Identifies the instance: OPA always sends `id` (a per-process UUID) and `version`, plus configured labels.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Deprecated single-bundle status of old OPAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleStatusV1>,
    /// Status per bundle name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub bundles: BTreeMap<String, BundleStatusV1>,
    /// Status of the discovery bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<BundleStatusV1>,
    /// Outcome of the last decision-log upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_logs: Option<DecisionLogsStatusV1>,
    /// State per plugin (`bundle`, `discovery`, `status`, `decision_logs`, …).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub plugins: BTreeMap<String, PluginStatusV1>,
    /// Metrics per provider; OPA's is `prometheus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<StatusMetricsV1>,
    /// Regent's own block; absent from a stock OPA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regent: Option<RegentStatusV1>,
}

/// Status of one bundle (OPA's `bundle.Status`).
///
/// Timestamps that OPA sends as Go's zero time (`0001-01-01T00:00:00Z`, meaning "never") read as `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BundleStatusV1 {
    /// The bundle's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The `.manifest` revision of the active bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_revision: Option<String>,
    /// Last time a bundle was activated.
    #[serde(
        default,
        deserialize_with = "go_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_successful_activation: Option<DateTime<Utc>>,
    /// Last time a bundle was downloaded.
    #[serde(
        default,
        deserialize_with = "go_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_successful_download: Option<DateTime<Utc>>,
    /// Last request that succeeded (including `304 Not Modified`).
    #[serde(
        default,
        deserialize_with = "go_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_successful_request: Option<DateTime<Utc>>,
    /// Last request, successful or not.
    #[serde(
        default,
        deserialize_with = "go_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_request: Option<DateTime<Utc>>,
    /// `snapshot` or `delta`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub bundle_type: Option<BundleTypeV1>,
    /// Bytes of the last download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Timers of the last load, e.g. `timer_rego_module_compile_ns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Map<String, Value>>,
    /// `bundle_error` when the last download or activation failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The HTTP status of a failed download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_code: Option<u16>,
    /// Compile errors (`{code, message, location}`), as OPA sends them.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub errors: Vec<Value>,
}

/// A bundle type; kinds this version does not know are kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum BundleTypeV1 {
    /// A full bundle.
    Snapshot,
    /// A delta bundle (JSON patch).
    Delta,
    /// Any other value.
    Other(String),
}

/// Outcome of the last decision-log upload (OPA's `logs/status.Status`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionLogsStatusV1 {
    /// `decision_log_error` when the last upload failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The HTTP status of a failed upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_code: Option<u16>,
    /// Upload metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Map<String, Value>>,
}

/// State of one plugin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginStatusV1 {
    /// The state; OPA always sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PluginStateV1>,
    /// Why, when not `OK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A plugin state; states this version does not know are kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum PluginStateV1 {
    /// `NOT_READY`.
    NotReady,
    /// `OK`.
    Ok,
    /// `ERROR`.
    Error,
    /// `WARN`.
    Warn,
    /// Any other value.
    Other(String),
}

/// Metrics per provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusMetricsV1 {
    /// OPA's metric families rendered as JSON, plus decision-log counters as `counter_<name>`: number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<Map<String, Value>>,
    /// Other providers.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Regent's own status block (`regent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegentStatusV1 {
    /// The agent instance (the `agent.id` it puts in every input).
    pub agent_id: String,
    /// The persona whose bundle it runs.
    pub persona: String,
    /// Sequence number of the active revision; absent before the first activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_revision_sequence: Option<u64>,
    /// The most recent error (fetch, verify, compile, upload), if the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The decision-log pipeline.
    #[serde(default)]
    pub decision_logs: DecisionLogDeliveryV1,
}

/// The agent's decision-log pipeline: memory queue, disk spool, deliveries and drops. Counters are totals since
/// the agent started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecisionLogDeliveryV1 {
    /// Events in the memory queue.
    pub queue_length: u64,
    /// Capacity of the memory queue, in events.
    pub queue_capacity: u64,
    /// Events in the disk spool.
    pub spool_events: u64,
    /// Bytes in the disk spool.
    pub spool_bytes: u64,
    /// Size limit of the disk spool in bytes; absent when there is no spool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spool_bytes_limit: Option<u64>,
    /// Events the control plane acknowledged.
    pub delivered_events: u64,
    /// Events dropped, by cause.
    pub dropped: DropCountersV1,
}

/// Decision-log drop counters, named as OPA names them (OPA reports them as `metrics.prometheus.counter_<name>`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DropCountersV1 {
    /// Dropped by the rate limit.
    pub decision_logs_dropped_rate_limit_exceeded: u64,
    /// Dropped because the memory queue was full (oldest first).
    pub decision_logs_dropped_buffer_size_limit_exceeded: u64,
    /// Dropped because a byte-bounded buffer was full.
    pub decision_logs_dropped_buffer_size_limit_bytes_exceeded: u64,
    /// Dropped because they could not be encoded (or exceeded the upload size alone).
    pub decision_logs_encoding_failure: u64,
    /// Not a dropped event: an event lost its `nd_builtin_cache` to fit the upload size limit.
    pub decision_logs_nd_builtin_cache_dropped: u64,
    /// Regent only: dropped because the disk spool reached its size limit (oldest first).
    pub decision_logs_dropped_spool_size_limit_exceeded: u64,
}

impl StatusReportV1 {
    /// The instance id (`labels.id`).
    pub fn instance_id(&self) -> Option<&str> {
        self.labels.get("id").map(String::as_str)
    }

    /// Drop counters: Regent's block if present, else OPA's `metrics.prometheus.counter_*` values.
    pub fn decision_log_drops(&self) -> DropCountersV1 {
        if let Some(regent) = &self.regent {
            return regent.decision_logs.dropped;
        }
        let prometheus = self.metrics.as_ref().and_then(|m| m.prometheus.as_ref());
        let counter = |name: &str| {
            prometheus
                .and_then(|p| p.get(&format!("counter_{name}")))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        DropCountersV1 {
            decision_logs_dropped_rate_limit_exceeded: counter(
                "decision_logs_dropped_rate_limit_exceeded",
            ),
            decision_logs_dropped_buffer_size_limit_exceeded: counter(
                "decision_logs_dropped_buffer_size_limit_exceeded",
            ),
            decision_logs_dropped_buffer_size_limit_bytes_exceeded: counter(
                "decision_logs_dropped_buffer_size_limit_bytes_exceeded",
            ),
            decision_logs_encoding_failure: counter("decision_logs_encoding_failure"),
            decision_logs_nd_builtin_cache_dropped: counter(
                "decision_logs_nd_builtin_cache_dropped",
            ),
            decision_logs_dropped_spool_size_limit_exceeded: counter(
                "decision_logs_dropped_spool_size_limit_exceeded",
            ),
        }
    }
}

impl From<String> for BundleTypeV1 {
    fn from(text: String) -> Self {
        match text.as_str() {
            "snapshot" => Self::Snapshot,
            "delta" => Self::Delta,
            _ => Self::Other(text),
        }
    }
}

impl From<BundleTypeV1> for String {
    fn from(value: BundleTypeV1) -> Self {
        match value {
            BundleTypeV1::Snapshot => "snapshot".to_owned(),
            BundleTypeV1::Delta => "delta".to_owned(),
            BundleTypeV1::Other(text) => text,
        }
    }
}

impl From<String> for PluginStateV1 {
    fn from(text: String) -> Self {
        match text.as_str() {
            "NOT_READY" => Self::NotReady,
            "OK" => Self::Ok,
            "ERROR" => Self::Error,
            "WARN" => Self::Warn,
            _ => Self::Other(text),
        }
    }
}

impl From<PluginStateV1> for String {
    fn from(value: PluginStateV1) -> Self {
        match value {
            PluginStateV1::NotReady => "NOT_READY".to_owned(),
            PluginStateV1::Ok => "OK".to_owned(),
            PluginStateV1::Error => "ERROR".to_owned(),
            PluginStateV1::Warn => "WARN".to_owned(),
            PluginStateV1::Other(text) => text,
        }
    }
}
