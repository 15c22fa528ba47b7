package regent.tools_test.it_run_command

import data.regent.tools.it_run_command as tool

run(kind, roles, env, now, tool_args, approvals) := {
	"agent": {"id": "it-bot-1"},
	"user": {"id": "u-1", "roles": roles},
	"action": {"kind": kind, "tool": {"name": "it.run_command", "server": "ops-mcp", "args": tool_args}},
	"context": {"time": now, "environment": env, "approvals": approvals},
}

restart := {"host": "web-3.corp.example.com", "command": "restart_service", "args": ["nginx"]}

approval := {"id": "apr-3", "approver": "u-77", "action": "it.run_command", "granted_at": "2026-11-24T09:00:00Z", "expires_at": "2026-11-24T12:00:00Z"}

codes(s) := {r.code | some r in s}

test_diagnostics if {
	inp := run("tool_call", ["helpdesk"], "prod", "2026-11-28T03:00:00Z", {"host": "web-3.corp.example.com", "command": "df", "args": ["-h"]}, [])
	count(tool.deny) == 0 with input as inp
	codes(tool.grants) == {"diagnostic_command"} with input as inp
}

test_injection_refused if {
	inp := run("tool_call", ["helpdesk"], "prod", "2026-11-24T10:00:00Z", {"host": "web-3.corp.example.com", "command": "ping", "args": ["8.8.8.8;", "rm", "-rf", "/"]}, [])
	codes(tool.deny) == {"argument_invalid"} with input as inp
	codes(tool.deny) == {"host_not_allowed", "command_not_allowed"} with input as run("tool_call", ["helpdesk"], "prod", "2026-11-24T10:00:00Z", {"host": "8.8.8.8", "command": "bash"}, [])
}

test_restart_in_prod_with_approval_in_window if {
	inp := run("state_change", ["it_admin"], "prod", "2026-11-24T10:15:00Z", restart, [approval])
	count(tool.deny) == 0 with input as inp
	codes(tool.grants) == {"destructive_command_approved"} with input as inp
}

test_restart_in_prod_guards if {
	codes(tool.deny) == {"approval_missing"} with input as run("state_change", ["it_admin"], "prod", "2026-11-24T10:15:00Z", restart, [])
	codes(tool.deny) == {"outside_change_window", "approval_expired"} with input as run("state_change", ["it_admin"], "prod", "2026-11-24T20:00:00Z", restart, [approval])
	codes(tool.deny) == {"role_missing"} with input as run("state_change", ["helpdesk"], "prod", "2026-11-24T10:15:00Z", restart, [approval])
	codes(tool.deny) == {"action_kind_mismatch"} with input as run("tool_call", ["it_admin"], "prod", "2026-11-24T10:15:00Z", restart, [approval])
}

test_restart_outside_prod_needs_no_gate if {
	inp := run("state_change", ["it_admin"], "staging", "2026-11-28T03:00:00Z", restart, [])
	count(tool.deny) == 0 with input as inp
	codes(tool.grants) == {"destructive_command_non_prod"} with input as inp
}
