//! The policy input: one agent action (schema `bundles/schema/agent-action.v1.json`).

mod build;
mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::serde_util::present;
use crate::timestamp::Timestamp;

pub use validate::InputError;

/// What one agent wants to do, on whose behalf, in which context: the `input` of every persona's policy.
///
/// ```
/// use regent_protocol::{AgentActionV1, AgentV1, ContextV1, ToolV1, UserV1};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let time: chrono::DateTime<chrono::Utc> = "2026-11-24T10:15:00Z".parse()?;
/// let action = AgentActionV1::tool_call(
///     AgentV1::new("hr-bot-7f9c", "hr-bot").with_label("env", "prod"),
///     UserV1::new("u-1001").with_roles(["employee", "hr_admin"]),
///     ToolV1::new("hr.get_employee_record").with_server("hris-mcp").with_arg("employee_id", "e-42"),
///     ContextV1::new(time).with_session_id("s-1"),
/// );
/// action.validate()?;
/// assert_eq!(serde_json::to_value(&action)?["action"]["kind"], "tool_call");
/// # Ok(())
/// # }
/// ```
///
/// Collections (`labels`, `roles`, `attributes`, `args`, `approvals`) are always serialised, even when empty, so a
/// policy can count them; absent optional values are omitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentActionV1 {
    /// The agent runtime that asks.
    pub agent: AgentV1,
    /// The human (or service) on whose behalf the agent acts.
    pub user: UserV1,
    /// What the agent wants to do.
    pub action: ActionV1,
    /// When, in which session, with which approvals.
    pub context: ContextV1,
}

/// The agent runtime that asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentV1 {
    /// The agent instance, e.g. `hr-bot-7f9c`. Must not be empty.
    pub id: String,
    /// The persona whose policy bundle decides, e.g. `hr-bot`. Must not be empty.
    pub persona: String,
    /// Deployment labels, e.g. `env: prod`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The principal on whose behalf the agent acts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserV1 {
    /// The user, e.g. `u-1001`. Must not be empty.
    pub id: String,
    /// Roles, e.g. `employee`, `hr_admin`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Free-form attributes from the identity provider, e.g. `org`.
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

/// The kind of action; decides which of `tool` and `resource` are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKindV1 {
    /// Call a tool (e.g. an MCP tool); `tool` is required.
    ToolCall,
    /// Read data; `resource` is required.
    DataAccess,
    /// Change state (write, send, delete); `tool` and `resource` are optional.
    StateChange,
}

/// What the agent wants to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionV1 {
    /// The kind of action.
    pub kind: ActionKindV1,
    /// The tool called; required when `kind` is `tool_call`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub tool: Option<ToolV1>,
    /// The data touched; required when `kind` is `data_access`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub resource: Option<ResourceV1>,
}

/// A tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolV1 {
    /// The tool, e.g. `hr.get_employee_record`. Must not be empty.
    pub name: String,
    /// The server offering the tool (e.g. the MCP server `hris-mcp`); absent for local tools.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub server: Option<String>,
    /// The call's arguments, free-form.
    #[serde(default)]
    pub args: Map<String, Value>,
}

/// The data an action touches. The named keys are conventions policies rely on; any other key is kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceV1 {
    /// The `type` key, e.g. `employee_record`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_type: Option<String>,
    /// e.g. `e-42`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// The user who owns the data.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub owner: Option<String>,
    /// The organisation the data belongs to.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub org: Option<String>,
    /// The fields read or written, e.g. `["name", "salary"]`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub fields: Option<Vec<String>>,
    /// e.g. `confidential`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub classification: Option<String>,
    /// Any other key, free-form.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// When and in which session the action happens. Keys beyond the named ones are allowed and kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextV1 {
    /// When the action is requested (RFC 3339). Policies use this, not the evaluation clock, so decisions replay.
    pub time: Timestamp,
    /// The agent session.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub session_id: Option<String>,
    /// e.g. `prod`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub environment: Option<String>,
    /// Human approvals already granted for this session.
    #[serde(default)]
    pub approvals: Vec<ApprovalV1>,
    /// Recent usage counters, for rate-limit policies.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub usage: Option<UsageV1>,
    /// Any other key, free-form.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A human approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalV1 {
    /// The approval.
    pub id: String,
    /// Who approved (a user id).
    pub approver: String,
    /// What was approved, e.g. a tool name.
    pub action: String,
    /// When it was granted (RFC 3339).
    pub granted_at: Timestamp,
    /// When it expires (RFC 3339); absent = does not expire.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<Timestamp>,
}

/// Recent usage by this agent, counted by the agent runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageV1 {
    /// Tool calls in the last 60 seconds.
    pub tool_calls_last_minute: u64,
    /// Tool calls in the last 3600 seconds.
    pub tool_calls_last_hour: u64,
}
