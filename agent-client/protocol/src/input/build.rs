//! Constructors and builders for the agent-action types.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{
    ActionKindV1, ActionV1, AgentActionV1, AgentV1, ApprovalV1, ContextV1, InputError, ResourceV1,
    ToolV1, UsageV1, UserV1,
};
use crate::timestamp::Timestamp;

impl AgentActionV1 {
    /// An action of any kind.
    pub fn new(agent: AgentV1, user: UserV1, action: ActionV1, context: ContextV1) -> Self {
        Self {
            agent,
            user,
            action,
            context,
        }
    }

    /// A `tool_call` action.
    pub fn tool_call(agent: AgentV1, user: UserV1, tool: ToolV1, context: ContextV1) -> Self {
        Self::new(agent, user, ActionV1::tool_call(tool), context)
    }

    /// A `data_access` action.
    pub fn data_access(
        agent: AgentV1,
        user: UserV1,
        resource: ResourceV1,
        context: ContextV1,
    ) -> Self {
        Self::new(agent, user, ActionV1::data_access(resource), context)
    }

    /// A `state_change` action; add a tool or resource with [`ActionV1::with_tool`]/[`ActionV1::with_resource`].
    pub fn state_change(agent: AgentV1, user: UserV1, context: ContextV1) -> Self {
        Self::new(agent, user, ActionV1::state_change(), context)
    }

    /// Parses and [validates](Self::validate) a JSON document.
    pub fn from_json(json: &[u8]) -> Result<Self, InputError> {
        let action: Self = serde_json::from_slice(json).map_err(InputError::Malformed)?;
        action.validate()?;
        Ok(action)
    }

    /// Parses and [validates](Self::validate) a JSON value.
    pub fn from_value(value: Value) -> Result<Self, InputError> {
        let action: Self = serde_json::from_value(value).map_err(InputError::Malformed)?;
        action.validate()?;
        Ok(action)
    }
}

impl AgentV1 {
    /// An agent with no labels.
    pub fn new(id: impl Into<String>, persona: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            persona: persona.into(),
            labels: BTreeMap::new(),
        }
    }

    /// Adds a label.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
}

impl UserV1 {
    /// A user with no roles or attributes.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            roles: Vec::new(),
            attributes: Map::new(),
        }
    }

    /// Adds roles.
    pub fn with_roles<R: Into<String>>(mut self, roles: impl IntoIterator<Item = R>) -> Self {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }

    /// Adds an attribute.
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }
}

impl ActionV1 {
    /// A `tool_call` of `tool`.
    pub fn tool_call(tool: ToolV1) -> Self {
        Self {
            kind: ActionKindV1::ToolCall,
            tool: Some(tool),
            resource: None,
        }
    }

    /// A `data_access` to `resource`.
    pub fn data_access(resource: ResourceV1) -> Self {
        Self {
            kind: ActionKindV1::DataAccess,
            tool: None,
            resource: Some(resource),
        }
    }

    /// A `state_change` with neither tool nor resource.
    pub fn state_change() -> Self {
        Self {
            kind: ActionKindV1::StateChange,
            tool: None,
            resource: None,
        }
    }

    /// Sets the tool.
    pub fn with_tool(mut self, tool: ToolV1) -> Self {
        self.tool = Some(tool);
        self
    }

    /// Sets the resource.
    pub fn with_resource(mut self, resource: ResourceV1) -> Self {
        self.resource = Some(resource);
        self
    }
}

impl ToolV1 {
    /// A tool with no server and no arguments.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            server: None,
            args: Map::new(),
        }
    }

    /// Sets the server.
    pub fn with_server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }

    /// Adds an argument.
    pub fn with_arg(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.args.insert(key.into(), value.into());
        self
    }
}

impl ResourceV1 {
    /// A resource of type `resource_type` with `id`; set the other fields directly.
    pub fn new(resource_type: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            resource_type: Some(resource_type.into()),
            id: Some(id.into()),
            ..Self::default()
        }
    }

    /// Sets the fields read or written.
    pub fn with_fields<F: Into<String>>(mut self, fields: impl IntoIterator<Item = F>) -> Self {
        self.fields = Some(fields.into_iter().map(Into::into).collect());
        self
    }
}

impl ContextV1 {
    /// A context with only a time; e.g. `ContextV1::new(clock.now())`.
    pub fn new(time: impl Into<Timestamp>) -> Self {
        Self {
            time: time.into(),
            session_id: None,
            environment: None,
            approvals: Vec::new(),
            usage: None,
            extra: Map::new(),
        }
    }

    /// Sets the session.
    pub fn with_session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Sets the environment.
    pub fn with_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Adds an approval.
    pub fn with_approval(mut self, approval: ApprovalV1) -> Self {
        self.approvals.push(approval);
        self
    }

    /// Sets the usage counters.
    pub fn with_usage(mut self, tool_calls_last_minute: u64, tool_calls_last_hour: u64) -> Self {
        self.usage = Some(UsageV1 {
            tool_calls_last_minute,
            tool_calls_last_hour,
        });
        self
    }

    /// Adds a key beyond the named ones.
    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }
}

impl ApprovalV1 {
    /// An approval that does not expire.
    pub fn new(
        id: impl Into<String>,
        approver: impl Into<String>,
        action: impl Into<String>,
        granted_at: impl Into<Timestamp>,
    ) -> Self {
        Self {
            id: id.into(),
            approver: approver.into(),
            action: action.into(),
            granted_at: granted_at.into(),
            expires_at: None,
        }
    }

    /// Sets the expiry.
    pub fn with_expires_at(mut self, expires_at: impl Into<Timestamp>) -> Self {
        self.expires_at = Some(expires_at.into());
        self
    }
}
