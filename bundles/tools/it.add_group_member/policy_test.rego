package regent.tools_test.it_add_group_member

import data.regent.tools.it_add_group_member as tool

add(user, tool_args, approvals) := {
	"agent": {"id": "it-bot-1"},
	"user": user,
	"action": {"kind": "state_change", "tool": {"name": "it.add_group_member", "server": "idp-mcp", "args": tool_args}},
	"context": {"time": "2026-11-24T10:15:00Z", "approvals": approvals},
}

employee := {"id": "u-5", "roles": ["employee"]}

admin := {"id": "u-1", "roles": ["employee", "it_admin"]}

approval := {"id": "apr-5", "approver": "u-77", "action": "it.add_group_member", "granted_at": "2026-11-24T09:00:00Z", "expires_at": "2026-11-24T18:00:00Z"}

codes(s) := {r.code | some r in s}

test_self_service_group if {
	inp := add(employee, {"group": "team-payments", "member": "u-5"}, [])
	count(tool.deny) == 0 with input as inp
	codes(tool.grants) == {"self_service_group"} with input as inp
}

test_standard_group_for_someone_else_needs_helpdesk if {
	codes(tool.deny) == {"role_missing"} with input as add(employee, {"group": "vpn-users", "member": "u-6"}, [])
	count(tool.deny) == 0 with input as add({"id": "u-3", "roles": ["helpdesk"]}, {"group": "vpn-users", "member": "u-6"}, [])
}

test_privileged_with_approval if {
	inp := add(admin, {"group": "prod-db-admins", "member": "u-6", "duration_hours": 8}, [approval])
	count(tool.deny) == 0 with input as inp
	codes(tool.grants) == {"privileged_membership_approved"} with input as inp
	tool.obligations == {{"kind": "time_box", "hours": 8}, {"kind": "notify", "channel": "it-security"}} with input as inp
}

test_privileged_guards if {
	codes(tool.deny) == {"approval_missing"} with input as add(admin, {"group": "admins", "member": "u-6", "duration_hours": 8}, [])
	codes(tool.deny) == {"self_elevation"} with input as add(admin, {"group": "admins", "member": "u-1", "duration_hours": 8}, [approval])
	codes(tool.deny) == {"duration_required"} with input as add(admin, {"group": "admins", "member": "u-6", "duration_hours": 100}, [approval])
	codes(tool.deny) == {"role_missing"} with input as add({"id": "u-3", "roles": ["helpdesk"]}, {"group": "admins", "member": "u-6", "duration_hours": 8}, [approval])
}
