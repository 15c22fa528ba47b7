package regent.persona_test

import data.regent.persona

agent := {"id": "hr-bot-7f9c", "persona": "hr-bot", "labels": {"env": "prod"}}

hr_admin := {"id": "u-1001", "roles": ["employee", "hr_admin"], "attributes": {"org": "emea", "manager_id": "u-9"}}

employee := {"id": "u-2002", "roles": ["employee"], "attributes": {"org": "emea", "manager_id": "u-9"}}

ctx := {"time": "2026-11-24T10:15:00Z", "environment": "prod", "usage": {"tool_calls_last_minute": 0, "tool_calls_last_hour": 0}}

read_record(user, fields, org) := {
	"agent": agent,
	"user": user,
	"action": {
		"kind": "tool_call",
		"tool": {"name": "hr.get_employee_record", "server": "hris-mcp", "args": {"employee_id": "e-42", "fields": fields}},
		"resource": {"type": "employee_record", "id": "e-42", "owner": "u-42", "org": org, "fields": fields},
	},
	"context": ctx,
}

codes(d) := {r.code | some r in d.reasons}

test_empty_input_is_denied_with_reasons if {
	d := persona.decision with input as {}
	d.allow == false
	"persona_mismatch" in codes(d)
	"user_missing" in codes(d)
	"action_kind_invalid" in codes(d)
}

test_salary_for_hr_admin_of_same_org if {
	d := persona.decision with input as read_record(hr_admin, ["name", "salary"], "emea")
	d == {
		"allow": true,
		"reasons": [{"code": "salary_access_hr_admin_same_org", "message": "hr_admin of org emea may see compensation of employees in that org"}],
		"obligations": [],
	}
}

test_salary_redacted_for_other_org if {
	d := persona.decision with input as read_record(hr_admin, ["name", "salary", "equity"], "apac")
	d.allow == true
	codes(d) == {"redacted_other_org"}
	d.obligations == [{"kind": "redact", "fields": ["equity", "salary"]}]
}

test_salary_redacted_for_employee if {
	d := persona.decision with input as read_record(employee, ["salary"], "emea")
	d.allow == true
	codes(d) == {"redacted_not_hr_admin"}
	d.obligations == [{"kind": "redact", "fields": ["salary"]}]
}

test_every_reason_has_a_message if {
	d := persona.decision with input as {}
	every r in d.reasons {
		count(r.message) > 0
	}
}

test_reasons_are_sorted if {
	d := persona.decision with input as {"agent": {"persona": "it-bot"}, "action": {"kind": "tool_call"}}
	[r.code | some r in d.reasons] == sort([r.code | some r in d.reasons])
}

test_persona_mismatch if {
	inp := object.union(read_record(hr_admin, ["name"], "emea"), {"agent": {"persona": "dev-bot"}})
	d := persona.decision with input as inp
	d.allow == false
	codes(d) == {"persona_mismatch"}
}

test_tool_not_granted if {
	inp := object.union(read_record(hr_admin, ["name"], "emea"), {"action": {"kind": "state_change", "tool": {"name": "it.reset_password", "server": "idp-mcp"}}})
	d := persona.decision with input as inp
	"tool_not_granted" in codes(d)
	d.allow == false
}

test_malformed_inputs_never_error if {
	# wrong types everywhere: the decision must still be a clean deny (strict built-in errors are on)
	inp := {
		"agent": {"id": 7, "persona": ["hr-bot"], "labels": "prod"},
		"user": {"id": "u-1", "roles": "hr_admin", "attributes": "emea"},
		"action": {"kind": "tool_call", "tool": {"name": "hr.get_employee_record", "server": "hris-mcp", "args": "e-42"}, "resource": {"type": "employee_record", "fields": "salary"}},
		"context": {"time": 5, "approvals": "none", "usage": "lots"},
	}
	d := persona.decision with input as inp
	d.allow == false
	"tool_args_invalid" in codes(d)
	"usage_missing" in codes(d)
}
