//! The decision-log event (`POST /logs`, schema `bundles/schema/decision-event.v1.json`): OPA's `EventV1` plus
//! Regent's flat audit fields.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::decision::ReasonV1;
use crate::serde_util::null_as_default;

/// One decision, as OPA's decision-log plugin sends it, plus Regent's flat fields for audit queries.
///
/// OPA always sends `labels`, `decision_id` and `timestamp`; everything else it may omit, so everything else is
/// optional here, and unknown fields are ignored. A stock OPA event has none of the Regent fields: call
/// [`DecisionEventV1::derive_missing_fields`] to fill them from `input` and `result`.
///
/// `D` is how the free-form documents (`input`, `result`, `mapped_result`, `nd_builtin_cache`, `error`) are read:
/// `serde_json::Value` by default. A reader that needs only a few fields of them can use a type that accepts exactly
/// the JSON a `Value` accepts and keeps less (the control plane's ingest does), and validates every other field the
/// same way by construction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionEventV1<D = Value> {
    /// Labels of the instance that decided (OPA: `id`, `version`, configured labels). OPA may send `null`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Unique per decision (a UUID from OPA); the control plane de-duplicates on it, because retries resend.
    pub decision_id: String,
    /// W3C trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// W3C span id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// The `.manifest` revision of the bundle that decided (deprecated in OPA in favour of `bundles`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Revision per bundle name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub bundles: BTreeMap<String, BundleInfoV1>,
    /// The rule path queried, e.g. `regent/hr_bot/decision` (may have a leading `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// An ad-hoc query, instead of `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The input, after masking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<D>,
    /// The result; absent when undefined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<D>,
    /// The result after mapping (OPA's Envoy plugin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapped_result: Option<D>,
    /// Values of non-deterministic built-ins, for replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nd_builtin_cache: Option<D>,
    /// JSON pointers the mask policy removed.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub erased: Vec<String>,
    /// JSON pointers the mask policy replaced.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub masked: Vec<String>,
    /// The evaluation error, as OPA renders it (usually `{code, message, location}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<D>,
    /// The client address that asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// When the decision was made (RFC 3339, up to nanoseconds).
    pub timestamp: DateTime<Utc>,
    /// Timers, e.g. `timer_rego_query_eval_ns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Map<String, Value>>,
    /// The server's request counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req_id: Option<u64>,
    /// Selected request headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_context: Option<RequestContextV1>,

    /// Regent: the persona (`input.agent.persona`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    /// Regent: the agent instance (`input.agent.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Regent: the user (`input.user.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Regent: the tool name (`input.action.tool.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Regent: the verdict the agent enforced (a fail-closed deny included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<bool>,
    /// Regent: the decision's reasons.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub reasons: Vec<ReasonV1>,
    /// Regent: sequence number of the revision that decided (`revision` holds its `.manifest` revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_sequence: Option<u64>,
}

/// A bundle's revision at decision time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleInfoV1 {
    /// The `.manifest` revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// The request around a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestContextV1 {
    /// HTTP details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpRequestContextV1>,
}

/// HTTP details of the request around a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequestContextV1 {
    /// The headers listed in `decision_logs.request_context.http.headers`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub headers: BTreeMap<String, Vec<String>>,
}

impl DecisionEventV1<Value> {
    /// An event with only its id and time; fill the rest by field.
    pub fn new(decision_id: impl Into<String>, timestamp: DateTime<Utc>) -> Self {
        Self {
            labels: BTreeMap::new(),
            decision_id: decision_id.into(),
            trace_id: None,
            span_id: None,
            revision: None,
            bundles: BTreeMap::new(),
            path: None,
            query: None,
            input: None,
            result: None,
            mapped_result: None,
            nd_builtin_cache: None,
            erased: Vec::new(),
            masked: Vec::new(),
            error: None,
            requested_by: None,
            timestamp,
            metrics: None,
            req_id: None,
            request_context: None,
            persona: None,
            agent_id: None,
            user_id: None,
            tool: None,
            allow: None,
            reasons: Vec::new(),
            revision_sequence: None,
        }
    }

    /// Fills the Regent fields that are missing from `input` (an `agent-action.v1` document) and `result`, so a
    /// stock OPA's event can be stored like an agent's. Fields already set are kept.
    ///
    /// - `persona`, `agent_id`, `user_id`, `tool` ← `input.agent.persona`, `input.agent.id`, `input.user.id`,
    ///   `input.action.tool.name` (strings only; an erased or masked value stays missing).
    /// - `allow` ← `result` if it is a boolean, else `result.allow` if that is a boolean; missing when the result
    ///   was undefined or an error — the event records what the policy said, not the fail-closed outcome.
    /// - `reasons` ← the entries of `result.reasons` that are `{code, message}` objects.
    pub fn derive_missing_fields(&mut self) {
        let text = |document: &Option<Value>, pointer: &str| {
            document
                .as_ref()
                .and_then(|d| d.pointer(pointer))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        fill(&mut self.persona, || text(&self.input, "/agent/persona"));
        fill(&mut self.agent_id, || text(&self.input, "/agent/id"));
        fill(&mut self.user_id, || text(&self.input, "/user/id"));
        fill(&mut self.tool, || text(&self.input, "/action/tool/name"));
        fill(&mut self.allow, || match &self.result {
            Some(Value::Bool(allow)) => Some(*allow),
            Some(result) => result.get("allow").and_then(Value::as_bool),
            None => None,
        });
        let reasons = self.result.as_ref().and_then(|r| r.get("reasons"));
        if let (true, Some(Value::Array(reasons))) = (self.reasons.is_empty(), reasons) {
            self.reasons = reasons
                .iter()
                .filter_map(|r| ReasonV1::deserialize(r).ok())
                .collect();
        }
    }

    /// [`derive_missing_fields`](Self::derive_missing_fields), by value.
    pub fn with_derived_fields(mut self) -> Self {
        self.derive_missing_fields();
        self
    }
}

fn fill<T>(field: &mut Option<T>, derive: impl FnOnce() -> Option<T>) {
    if field.is_none() {
        *field = derive();
    }
}
