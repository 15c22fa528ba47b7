package regent.tools_test.ticket_create

import data.regent.tools.ticket_create as tool

req(tool_args, roles) := {
	"user": {"id": "u-1", "roles": roles},
	"action": {"kind": "state_change", "tool": {"name": "ticket.create", "server": "ticketing-mcp", "args": tool_args}},
}

ok := {"project": "OPS", "summary": "Disk almost full on build-7", "priority": "P3", "labels": ["disk", "ci"]}

codes(s) := {r.code | some r in s}

test_ticket_in_configured_project if {
	codes(tool.grants) == {"ticket_create"} with input as req(ok, ["engineer"]) with data.regent.persona.tool_config.ticket_create as {"projects": ["OPS"]}
	count(tool.deny) == 0 with input as req(ok, ["engineer"]) with data.regent.persona.tool_config.ticket_create as {"projects": ["OPS"]}
}

test_no_projects_configured_means_none_allowed if {
	codes(tool.deny) == {"project_not_allowed"} with input as req(ok, ["engineer"]) with data.regent.persona.tool_config.ticket_create as {}
}

test_p1_needs_oncall if {
	p1 := object.union(ok, {"priority": "P1"})
	codes(tool.deny) == {"priority_requires_oncall"} with input as req(p1, ["engineer"]) with data.regent.persona.tool_config.ticket_create as {"projects": ["OPS"]}
	count(tool.deny) == 0 with input as req(p1, ["engineer", "oncall"]) with data.regent.persona.tool_config.ticket_create as {"projects": ["OPS"]}
}

test_bad_fields if {
	bad := {"project": "OPS", "summary": "x", "priority": "urgent", "labels": ["Not Valid"], "description": 5}
	codes(tool.deny) == {"summary_invalid", "priority_invalid", "labels_invalid", "description_too_long"} with input as req(bad, ["engineer"])
		with data.regent.persona.tool_config.ticket_create as {"projects": ["OPS"]}
}
