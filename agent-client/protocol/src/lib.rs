#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Wire types shared by the Regent control plane and the agent client.
//!
//! Every type carries its wire version in its name (`…V1`); a breaking change gets a new type next to the
//! old one, so both ends can speak both during a rollout.
//!
//! | type | travels | schema |
//! |---|---|---|
//! | [`AgentActionV1`] | agent runtime → policy (`input`) | `bundles/schema/agent-action.v1.json` |
//! | [`DecisionV1`] | policy → agent runtime | `bundles/schema/decision.v1.json` |
//! | [`DecisionEventV1`] | agent / OPA → control plane (`POST /logs`) | `bundles/schema/decision-event.v1.json` |
//! | [`StatusReportV1`] | agent / OPA → control plane (`POST /status`) | OPA's `UpdateRequestV1` |
//! | [`BundleAssignmentV1`] | control plane → agent | — |
//!
//! Types that OPA also sends ([`StatusReportV1`], [`DecisionEventV1`]) tolerate unknown fields and treat
//! every OPA field as optional, so a stock OPA's payload always parses. Types that Regent defines
//! ([`AgentActionV1`], [`DecisionV1`]) are strict: unknown top-level keys are rejected, and
//! `from_json`/`from_value` run `validate()` so that Rust and the JSON Schema give the same verdict.

mod assignment;
mod decision;
mod event;
mod input;
pub mod schema;
mod serde_util;
mod status;
mod timestamp;

pub use assignment::{AssignmentError, BundleAssignmentV1, Sha256Digest};
pub use decision::{DecisionError, DecisionV1, ObligationV1, ReasonV1, reason_code};
pub use event::{BundleInfoV1, DecisionEventV1, HttpRequestContextV1, RequestContextV1};
pub use input::{
    ActionKindV1, ActionV1, AgentActionV1, AgentV1, ApprovalV1, ContextV1, InputError, ResourceV1,
    ToolV1, UsageV1, UserV1,
};
pub use status::{
    BundleStatusV1, BundleTypeV1, DecisionLogDeliveryV1, DecisionLogsStatusV1, DropCountersV1,
    PluginStateV1, PluginStatusV1, RegentStatusV1, StatusMetricsV1, StatusReportV1,
};
pub use timestamp::{Timestamp, TimestampError};
