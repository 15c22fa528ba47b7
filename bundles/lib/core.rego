# The checks every persona applies, and the composition of tool modules.
#
# A persona's policy.rego defines `name` (its persona id) and folds core.deny / core.grants /
# core.obligations into its own sets (see bundles/README.md). Persona configuration read here:
#   data.regent.persona.rate_limits     {"per_minute": 30, "per_hour": 600}   (required: absent = deny)
#   data.regent.persona.user_roles_any  ["employee"]  the user needs one of these roles (optional)
#
# Tool composition: the tool "hr.get_employee_record" is granted to this persona exactly when its
# folder is in the bundle (regent.yaml `include`): its module, package regent.tools.hr_get_employee_record,
# and its grant.rego, which makes the module (its rules and data) data.regent.granted_tool.module while
# that tool is called. Everything below reads it by static reference: the module's `deny`, `grants` and
# `obligations` are folded in; its `name`, `server` and `kinds` are checked here. Tool
# modules must never import this package (a dependency cycle through data.regent.granted_tool).
package regent.lib.core

import data.regent.granted_tool
import data.regent.lib.ctx
import data.regent.lib.decision.reason
import data.regent.lib.rate

persona := data.regent.persona.name

kinds := {"tool_call", "data_access", "state_change"}

# ---- who is asking ------------------------------------------------------------------------------------

deny contains reason("persona_mismatch", msg) if {
	ctx.persona != persona
	msg := sprintf("this bundle is for persona %s, the agent declares persona %s", [persona, ctx.persona])
}

deny contains reason("persona_mismatch", msg) if {
	not ctx.persona
	msg := sprintf("input.agent.persona is missing; this bundle only decides for persona %s", [persona])
}

deny contains reason("agent_missing", "input.agent.id is missing; every decision must name the agent") if {
	not ctx.agent_id
}

deny contains reason("user_missing", "input.user.id is missing; the agent must say on whose behalf it acts") if {
	not ctx.user_id
}

deny contains reason("user_role_missing", msg) if {
	required := {r | some r in data.regent.persona.user_roles_any}
	not ctx.has_any_role(required)
	msg := sprintf("persona %s acts only for users with one of the roles %s", [persona, concat(", ", sort(required))])
}

# ---- what is asked ------------------------------------------------------------------------------------

deny contains reason("action_kind_invalid", "input.action.kind must be tool_call, data_access or state_change") if {
	not ctx.kind_is(kinds)
}

deny contains reason("tool_missing", msg) if {
	ctx.kind in {"tool_call", "state_change"}
	not ctx.tool_present
	msg := sprintf("a %s action must name the tool it uses (input.action.tool)", [ctx.kind])
}

deny contains reason("resource_missing", "a data_access action must describe the resource it reads (input.action.resource)") if {
	ctx.kind == "data_access"
	not ctx.resource
}

deny contains reason("tool_name_invalid", "input.action.tool.name must be a lower-case tool name like hr.get_employee_record") if {
	ctx.tool_present
	not valid_tool_name
}

deny contains reason("tool_not_granted", msg) if {
	valid_tool_name
	not granted
	msg := sprintf("tool %s is not granted to persona %s", [ctx.tool_name, persona])
}

deny contains reason("tool_server_mismatch", msg) if {
	granted
	ctx.tool_server != tool.server
	msg := sprintf("tool %s is served by %s, not %s", [ctx.tool_name, tool.server, ctx.tool_server])
}

deny contains reason("tool_server_mismatch", msg) if {
	granted
	not ctx.tool_server
	msg := sprintf("input.action.tool.server is missing; tool %s must come from %s", [ctx.tool_name, tool.server])
}

deny contains reason("action_kind_not_allowed", msg) if {
	granted
	ctx.kind_is(kinds)
	not ctx.kind_is(tool.kinds)
	msg := sprintf("tool %s cannot be used in a %s action (allowed: %s)", [ctx.tool_name, ctx.kind, concat(", ", sort(tool.kinds))])
}

deny contains reason("tool_args_invalid", "input.action.tool.args must be an object") if ctx.args_malformed

# ---- rate limits (every action that uses a tool) -------------------------------------------------------

deny contains r if {
	ctx.tool_present
	some r in rate.deny(limits)
}

deny contains reason("rate_limits_unconfigured", "the persona has no rate_limits in its data; tool calls are refused") if {
	ctx.tool_present
	not data.regent.persona.rate_limits
}

# The persona's limits, tightened by the tool's own `rate_limits` data (e.g. a mail tool: 5 per minute).
limits := rate.effective(data.regent.persona.rate_limits, tool_limits)

tool_limits := module.rate_limits if granted

default tool_limits := {}

# ---- tool module composition -----------------------------------------------------------------------------

valid_tool_name if regex.match(`^[a-z][a-z0-9_.-]{0,79}$`, ctx.tool_name)

# The called tool's module (rules and data), through its grant.rego; undefined for a tool that is not
# composed into this bundle.
module := granted_tool.module

# The module's declared name must equal the request.
granted if {
	valid_tool_name
	module.name == ctx.tool_name
}

tool := {
	"server": module.server,
	"kinds": module.kinds,
} if granted

# A module without its required `server` and `kinds` would skip the checks above: refuse it instead.
deny contains reason("tool_module_invalid", msg) if {
	granted
	not tool
	msg := sprintf("the policy module of tool %s does not declare server and kinds", [ctx.tool_name])
}

deny contains r if {
	granted
	some r in module.deny
}

grants contains r if {
	granted
	some r in module.grants
}

obligations contains o if {
	granted
	some o in module.obligations
}

# Resource (visibility) rules of the persona apply to reads: data_access, and tool_call with a resource.
# For state_change the resource is the target of the change, and the tool module scopes it.
reads_resource if {
	ctx.resource
	ctx.kind in {"tool_call", "data_access"}
}
