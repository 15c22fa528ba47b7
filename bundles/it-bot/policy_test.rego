package regent.persona_test

import data.regent.persona

agent := {"id": "it-bot-21aa", "persona": "it-bot", "labels": {"env": "prod"}}

it_admin := {"id": "u-3200", "roles": ["employee", "it_admin"], "attributes": {"org": "emea"}}

restart(now, approvals) := {
	"agent": agent,
	"user": it_admin,
	"action": {"kind": "state_change", "tool": {"name": "it.run_command", "server": "ops-mcp", "args": {"host": "web-3.corp.example.com", "command": "restart_service", "args": ["nginx"]}}},
	"context": {"time": now, "environment": "prod", "approvals": approvals, "usage": {"tool_calls_last_minute": 0, "tool_calls_last_hour": 0}},
}

approval(from, to) := {"id": "apr-1", "approver": "u-77", "action": "it.run_command", "granted_at": from, "expires_at": to}

codes(d) := {r.code | some r in d.reasons}

test_empty_input_is_denied if {
	d := persona.decision with input as {}
	d.allow == false
	count(d.reasons) > 0
}

test_restart_gate_uses_it_bot_window if {
	# Friday 18:30 UTC: inside it-bot's Mon-Fri 07-19 window (dev-bot's Mon-Thu 09-16 would refuse it)
	d := persona.decision with input as restart("2026-11-27T18:30:00Z", [approval("2026-11-27T18:00:00Z", "2026-11-27T19:00:00Z")])
	d.allow == true
	codes(d) == {"destructive_command_approved"}
}

test_restart_outside_window_and_without_approval if {
	d := persona.decision with input as restart("2026-11-27T19:30:00Z", [])
	d.allow == false
	codes(d) == {"outside_change_window", "approval_missing"}
	d.obligations == [{"kind": "require_approval", "action": "it.run_command"}]
}

test_account_read_redacts_unknown_and_secret_fields if {
	inp := {
		"agent": agent,
		"user": {"id": "u-2002", "roles": ["employee"], "attributes": {"org": "emea"}},
		"action": {"kind": "data_access", "resource": {"type": "user_account", "id": "u-2002", "org": "emea", "fields": ["username", "recovery_codes", "ssh_keys"]}},
		"context": {"time": "2026-11-24T10:15:00Z"},
	}
	d := persona.decision with input as inp
	d.allow == true
	codes(d) == {"account_self", "secret_fields_redacted"}
	d.obligations == [{"kind": "redact", "fields": ["recovery_codes", "ssh_keys"]}]
}

test_db_query_is_read_only_for_it_bot if {
	inp := {
		"agent": agent,
		"user": it_admin,
		"action": {"kind": "state_change", "tool": {"name": "db.query", "server": "db-mcp", "args": {"database": "cmdb", "statement": "DELETE FROM hosts WHERE id = 1"}}},
		"context": {"time": "2026-11-24T10:15:00Z", "environment": "staging", "usage": {"tool_calls_last_minute": 0, "tool_calls_last_hour": 0}},
	}
	d := persona.decision with input as inp
	codes(d) == {"writes_not_allowed"}
}

test_state_change_resource_is_scoped_by_the_tool_not_the_persona if {
	# a reset carries a user_account resource without `fields`: no resource_fields_missing for state changes
	inp := {
		"agent": agent,
		"user": {"id": "u-3100", "roles": ["employee", "helpdesk"], "attributes": {"org": "emea"}},
		"action": {
			"kind": "state_change",
			"tool": {"name": "it.reset_password", "server": "idp-mcp", "args": {"target_user": "u-2002", "method": "email_link"}},
			"resource": {"type": "user_account", "id": "u-2002", "org": "emea", "privileged": false},
		},
		"context": {"time": "2026-11-24T10:15:00Z", "usage": {"tool_calls_last_minute": 0, "tool_calls_last_hour": 0}},
	}
	d := persona.decision with input as inp
	d.allow == true
	codes(d) == {"helpdesk_reset_same_org"}
}
