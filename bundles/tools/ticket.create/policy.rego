# ticket.create - open a ticket in the issue tracker. Shared by it-bot and dev-bot.
#
# Which projects an agent may file into is a persona decision: the tool's default project list is
# empty (fail closed) and each persona sets data.regent.persona.tool_config.ticket_create.projects
# (it-bot: IT, HELP; dev-bot: DEV, OPS). P1 tickets page people, so only on-call users may open them.
package regent.tools.ticket_create

import data.regent.lib.args
import data.regent.lib.ctx
import data.regent.lib.decision.reason

name := "ticket.create"

server := "ticketing-mcp"

kinds := {"tool_call", "state_change"}

# Every rule below starts with `called`, so the module only ever speaks for its own tool, also when it is
# evaluated as a whole (tests, lib/core_test.rego). Personas reach it through grant.rego.
called if input.action.tool.name == name

cfg := object.union(data.regent.tools.ticket_create.config, persona_cfg)

persona_cfg := data.regent.persona.tool_config.ticket_create

default persona_cfg := {}

deny contains reason("project_not_allowed", msg) if {
	called
	not args.one_of(ctx.arg("project"), cfg.projects)
	msg := sprintf("this persona may file tickets only in: %s", [concat(", ", cfg.projects)])
}

deny contains reason("summary_invalid", msg) if {
	called
	not args.string_between(ctx.arg("summary"), 5, cfg.max_summary)
	msg := sprintf("args.summary must be 5 to %s characters", [format_int(cfg.max_summary, 10)])
}

deny contains reason("description_too_long", msg) if {
	called
	ctx.arg("description") != null
	not args.string_between(ctx.arg("description"), 0, cfg.max_description)
	msg := sprintf("args.description must be a string of at most %s characters", [format_int(cfg.max_description, 10)])
}

deny contains reason("priority_invalid", msg) if {
	called
	not args.one_of(ctx.arg("priority"), cfg.priorities)
	msg := sprintf("args.priority must be one of %s", [concat(", ", cfg.priorities)])
}

deny contains reason("priority_requires_oncall", "P1 tickets page the on-call engineer; only users with the oncall role may open them") if {
	called
	args.one_of(ctx.arg("priority"), cfg.oncall_priorities)
	not ctx.has_role("oncall")
}

deny contains reason("labels_invalid", msg) if {
	called
	ctx.arg("labels") != null
	not args.string_array(ctx.arg("labels"), 0, cfg.max_labels, `^[a-z0-9][a-z0-9-]{0,29}$`)
	msg := sprintf("args.labels must be at most %s lower-case labels", [format_int(cfg.max_labels, 10)])
}

grants contains reason("ticket_create", sprintf("filing a ticket in project %s is allowed for this persona", [ctx.args.project])) if {
	called
	args.one_of(ctx.arg("project"), cfg.projects)
}
