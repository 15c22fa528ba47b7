//! The checks `agent-action.v1.json` makes that serde does not.

use serde_json::{Map, Value};

use super::{ActionKindV1, AgentActionV1};
use crate::timestamp::Timestamp;

/// Why an agent-action input was rejected. Each message names the field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Not JSON, a missing or mistyped field, an unknown `action.kind`, or an unknown key where none is allowed.
    #[error("agent-action input does not match agent-action.v1: {0}")]
    Malformed(serde_json::Error),
    /// A required string is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The field, e.g. `agent.id`.
        field: &'static str,
    },
    /// `kind` is `tool_call` but no tool is given.
    #[error("action.tool is required when action.kind is `tool_call`")]
    ToolRequired,
    /// `kind` is `data_access` but no resource is given.
    #[error("action.resource is required when action.kind is `data_access`")]
    ResourceRequired,
    /// A timestamp is not RFC 3339 in the accepted form.
    #[error("{field} `{value}` is not an RFC 3339 date-time; use the form `2026-11-24T10:15:00Z`")]
    InvalidTime {
        /// The field, e.g. `context.time` or `context.approvals[0].granted_at`.
        field: String,
        /// The rejected text.
        value: String,
    },
    /// An `extra` map repeats a named key (only possible when built in Rust), which would serialise it twice.
    #[error("{field} repeats the named key `{key}`; set the named field instead")]
    ReservedKey {
        /// `context` or `action.resource`.
        field: &'static str,
        /// The repeated key.
        key: String,
    },
}

const CONTEXT_KEYS: [&str; 5] = ["time", "session_id", "environment", "approvals", "usage"];
const RESOURCE_KEYS: [&str; 6] = ["type", "id", "owner", "org", "fields", "classification"];

impl AgentActionV1 {
    /// Checks what the schema requires beyond the shape serde enforces: non-empty ids, `tool` for `tool_call`,
    /// `resource` for `data_access`, and RFC 3339 timestamps. Returns the first problem found.
    pub fn validate(&self) -> Result<(), InputError> {
        non_empty("agent.id", &self.agent.id)?;
        non_empty("agent.persona", &self.agent.persona)?;
        non_empty("user.id", &self.user.id)?;

        let action = &self.action;
        match action.kind {
            ActionKindV1::ToolCall if action.tool.is_none() => {
                return Err(InputError::ToolRequired);
            }
            ActionKindV1::DataAccess if action.resource.is_none() => {
                return Err(InputError::ResourceRequired);
            }
            _ => {}
        }
        if let Some(tool) = &action.tool {
            non_empty("action.tool.name", &tool.name)?;
        }
        if let Some(resource) = &action.resource {
            no_reserved_keys("action.resource", &resource.extra, &RESOURCE_KEYS)?;
        }

        let context = &self.context;
        no_reserved_keys("context", &context.extra, &CONTEXT_KEYS)?;
        rfc3339(|| "context.time".to_owned(), &context.time)?;
        for (i, approval) in context.approvals.iter().enumerate() {
            rfc3339(
                || format!("context.approvals[{i}].granted_at"),
                &approval.granted_at,
            )?;
            if let Some(expires_at) = &approval.expires_at {
                rfc3339(|| format!("context.approvals[{i}].expires_at"), expires_at)?;
            }
        }
        Ok(())
    }
}

fn non_empty(field: &'static str, value: &str) -> Result<(), InputError> {
    if value.is_empty() {
        return Err(InputError::Empty { field });
    }
    Ok(())
}

fn rfc3339(field: impl FnOnce() -> String, time: &Timestamp) -> Result<(), InputError> {
    time.to_datetime()
        .map(drop)
        .map_err(|e| InputError::InvalidTime {
            field: field(),
            value: e.value,
        })
}

fn no_reserved_keys(
    field: &'static str,
    extra: &Map<String, Value>,
    named: &[&str],
) -> Result<(), InputError> {
    match named.iter().find(|key| extra.contains_key(**key)) {
        Some(key) => Err(InputError::ReservedKey {
            field,
            key: (*key).to_owned(),
        }),
        None => Ok(()),
    }
}
