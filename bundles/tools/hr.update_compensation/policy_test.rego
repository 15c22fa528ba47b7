package regent.tools_test.hr_update_compensation

import data.regent.tools.hr_update_compensation as tool

approval := {"id": "apr-7", "approver": "u-77", "action": "hr.update_compensation", "granted_at": "2026-11-24T09:00:00Z", "expires_at": "2026-11-24T18:00:00Z"}

req(user, tool_args, approvals, now) := {
	"agent": {"id": "hr-bot-1"},
	"user": user,
	"action": {
		"kind": "state_change",
		"tool": {"name": "hr.update_compensation", "server": "hris-mcp", "args": tool_args},
		"resource": {"type": "employee_record", "id": "e-42", "owner": "u-42", "org": "emea"},
	},
	"context": {"time": now, "approvals": approvals},
}

admin := {"id": "u-1", "roles": ["employee", "hr_admin"], "attributes": {"org": "emea"}}

raise := {"employee_id": "e-42", "current_salary": 60000, "new_salary": 66000, "currency": "EUR"}

codes(s) := {r.code | some r in s}

test_approved_raise if {
	inp := req(admin, raise, [approval], "2026-11-24T10:00:00Z")
	count(tool.deny) == 0 with input as inp
	codes(tool.grants) == {"compensation_change_approved"} with input as inp
	tool.obligations == {{"kind": "notify", "channel": "hr-compensation-audit"}} with input as inp
}

test_limit_is_inclusive if {
	# exactly 15%: allowed; one more unit: refused
	count(tool.deny) == 0 with input as req(admin, object.union(raise, {"new_salary": 69000}), [approval], "2026-11-24T10:00:00Z")
	codes(tool.deny) == {"change_exceeds_limit"} with input as req(admin, object.union(raise, {"new_salary": 69001}), [approval], "2026-11-24T10:00:00Z")
}

test_decrease_refused if {
	codes(tool.deny) == {"salary_decrease_not_allowed"} with input as req(admin, object.union(raise, {"new_salary": 50000}), [approval], "2026-11-24T10:00:00Z")
}

test_needs_approval if {
	inp := req(admin, raise, [], "2026-11-24T10:00:00Z")
	codes(tool.deny) == {"approval_missing"} with input as inp
	{"kind": "require_approval", "action": "hr.update_compensation"} in tool.obligations with input as inp
}

test_self_approval_refused if {
	inp := req(admin, raise, [object.union(approval, {"approver": "u-1"})], "2026-11-24T10:00:00Z")
	codes(tool.deny) == {"approval_self_approved"} with input as inp
}

test_other_org_and_non_admin if {
	other_org := object.union(admin, {"attributes": {"org": "apac"}})
	codes(tool.deny) == {"cross_org_change"} with input as req(other_org, raise, [approval], "2026-11-24T10:00:00Z")
	codes(tool.deny) == {"role_missing"} with input as req({"id": "u-1", "roles": ["employee"], "attributes": {"org": "emea"}}, raise, [approval], "2026-11-24T10:00:00Z")
}

test_own_record_refused if {
	codes(tool.deny) == {"self_compensation_change"} with input as req(object.union(admin, {"id": "u-42"}), raise, [approval], "2026-11-24T10:00:00Z")
}

test_payroll_cutoff if {
	late := object.union(approval, {"granted_at": "2026-11-26T09:00:00Z", "expires_at": "2026-11-26T18:00:00Z"})
	codes(tool.deny) == {"payroll_cutoff"} with input as req(admin, raise, [late], "2026-11-26T10:00:00Z")
}

test_bad_args if {
	codes(tool.deny) == {"salary_invalid", "currency_not_allowed"} with input as req(admin, {"employee_id": "e-42", "current_salary": "60000", "new_salary": 1.5, "currency": "BTC"}, [approval], "2026-11-24T10:00:00Z")
}
