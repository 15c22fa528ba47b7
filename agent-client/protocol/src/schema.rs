//! The JSON Schemas of the Regent-defined documents, embedded so the control plane can serve them and tools can
//! validate against exactly what this crate was built with. Sources live in `bundles/schema/`.

/// `agent-action.v1.json`: the policy input ([`AgentActionV1`](crate::AgentActionV1)).
pub const AGENT_ACTION_V1: &str = include_str!("../../../bundles/schema/agent-action.v1.json");

/// `decision.v1.json`: the policy decision ([`DecisionV1`](crate::DecisionV1)).
pub const DECISION_V1: &str = include_str!("../../../bundles/schema/decision.v1.json");

/// `decision-event.v1.json`: the decision-log event ([`DecisionEventV1`](crate::DecisionEventV1)).
pub const DECISION_EVENT_V1: &str = include_str!("../../../bundles/schema/decision-event.v1.json");
