# Type-safe accessors for the AgentActionV1 input.
#
# Why this exists:
# 1. Our engine (regorus) runs with strict built-in errors, and regorus raises an error where OPA returns
#    undefined (e.g. `some x in "a string"`, `upper(5)`, `object.get("str", ...)`). An error fails the
#    whole evaluation, so policies read optional or free-form input through these rules, which are
#    undefined (or an empty default) when a field is absent or has the wrong type.
# 2. Negation differs between the engines when a call's argument is undefined: for
#    `not f(input.missing)` (also `not input.missing in s`) OPA evaluates the argument outside the
#    `not` - undefined, so the whole rule body fails - while regorus evaluates it inside - `not` succeeds.
#    Portable policies therefore negate only rule names (`not fields_listed`) or calls whose arguments
#    are always defined: arg(name) and resource_field(name) return null for an absent field.
package regent.lib.ctx

# --- agent -------------------------------------------------------------------------------------------

agent_id := input.agent.id if {
	is_string(input.agent.id)
	input.agent.id != ""
}

persona := input.agent.persona if {
	is_string(input.agent.persona)
	input.agent.persona != ""
}

# --- user (on whose behalf the agent acts) -------------------------------------------------------------

user_id := input.user.id if {
	is_string(input.user.id)
	input.user.id != ""
}

# roles as a set of strings; absent or malformed roles = no roles (fail closed).
roles := {r | some r in input.user.roles; is_string(r); r != ""} if is_array(input.user.roles)

default roles := set()

has_role(role) if role in roles

has_any_role(wanted) if count(roles & wanted) > 0

# user_attr(name): a non-empty string attribute of the user, else undefined.
user_attr(name) := v if {
	is_object(input.user.attributes)
	v := input.user.attributes[name]
	is_string(v)
	v != ""
}

# --- action --------------------------------------------------------------------------------------------

kind := input.action.kind if {
	is_string(input.action.kind)
	input.action.kind != ""
}

tool_present if is_object(input.action.tool)

tool_name := input.action.tool.name if {
	tool_present
	is_string(input.action.tool.name)
	input.action.tool.name != ""
}

tool_server := input.action.tool.server if {
	tool_present
	is_string(input.action.tool.server)
	input.action.tool.server != ""
}

# Tool arguments; absent = {} so tools report "missing argument" reasons instead of being undefined.
args := input.action.tool.args if {
	tool_present
	is_object(input.action.tool.args)
}

default args := {}

# arg(name): the tool argument `name`, or null when absent. Always defined (safe under `not`).
arg(name) := object.get(args, name, null)

args_malformed if {
	tool_present
	"args" in object.keys(input.action.tool)
	not is_object(input.action.tool.args)
}

resource := input.action.resource if is_object(input.action.resource)

resource_type := resource.type if {
	is_string(resource.type)
	resource.type != ""
}

# resource_field(name): a field of the resource, or null when absent. Always defined (safe under `not`).
resource_field(name) := object.get(resource, name, null) if resource
else := null

# kind_is(kinds): the action kind is one of `kinds` (a rule, so safe to negate).
kind_is(kinds) if kind in kinds

# resource_type_is(types): the resource's type is one of `types`.
resource_type_is(types) if resource_type in types

# resource_attr(name): a non-empty string attribute of the resource, else undefined.
resource_attr(name) := v if {
	v := resource[name]
	is_string(v)
	v != ""
}

# --- environment -----------------------------------------------------------------------------------------
# The target environment is context.environment; when absent, the agent's `env` label. An unknown or
# unrecognised environment is treated as production (fail closed): production-only guards then apply.

environment := input.context.environment if {
	is_object(input.context)
	is_string(input.context.environment)
	input.context.environment != ""
} else := input.agent.labels.env if {
	is_object(input.agent.labels)
	is_string(input.agent.labels.env)
	input.agent.labels.env != ""
}

default environment := "unknown"

non_production := {"dev", "test", "staging", "sandbox"}

production if not environment in non_production

# --- helpers ---------------------------------------------------------------------------------------------

nonempty(x) if {
	is_string(x)
	x != ""
}
