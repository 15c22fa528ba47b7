package regent.persona_test

import data.regent.persona

agent := {"id": "dev-bot-3c1e", "persona": "dev-bot", "labels": {"env": "prod"}}

deployer := {"id": "u-4002", "roles": ["engineer", "developer", "deployer"], "attributes": {"org": "emea"}}

deploy(now, env, approvals) := {
	"agent": agent,
	"user": deployer,
	"action": {"kind": "state_change", "tool": {"name": "deploy.release", "server": "deploy-mcp", "args": {"service": "search", "version": "3.1.0", "environment": env}}},
	"context": {"time": now, "environment": env, "approvals": approvals, "usage": {"tool_calls_last_minute": 0, "tool_calls_last_hour": 0}},
}

approval := {"id": "apr-1", "approver": "u-77", "action": "deploy.release", "granted_at": "2026-11-24T09:00:00Z", "expires_at": "2026-11-24T12:00:00Z"}

codes(d) := {r.code | some r in d.reasons}

test_empty_input_is_denied if {
	d := persona.decision with input as {}
	d.allow == false
	count(d.reasons) > 0
	d.obligations == []
}

test_prod_deploy_full_decision if {
	d := persona.decision with input as deploy("2026-11-24T10:15:00Z", "prod", [approval])
	d == {
		"allow": true,
		"reasons": [{"code": "deploy_prod_approved", "message": "approved production deploy of search inside the change window"}],
		"obligations": [{"kind": "notify", "channel": "deploys"}],
	}
}

test_window_boundaries if {
	persona.decision.allow with input as deploy("2026-11-24T09:00:00Z", "prod", [approval])
	not persona.decision.allow with input as deploy("2026-11-24T08:59:59Z", "prod", [object.union(approval, {"granted_at": "2026-11-24T08:00:00Z"})])
}

test_deny_collects_every_reason_sorted if {
	d := persona.decision with input as deploy("2026-11-28T10:15:00Z", "prod", [object.union(approval, {"approver": "u-4002"})])
	codes(d) == {"outside_change_window", "approval_self_approved", "approval_expired"}
	[r.code | some r in d.reasons] == sort([r.code | some r in d.reasons])
}

test_staging_deploy_needs_no_gate if {
	d := persona.decision with input as deploy("2026-11-28T03:00:00Z", "staging", [])
	d.allow == true
	codes(d) == {"deploy_staging"}
}

test_destructive_sql_in_prod_even_with_approval if {
	inp := {
		"agent": agent,
		"user": deployer,
		"action": {"kind": "state_change", "tool": {"name": "db.query", "server": "db-mcp", "args": {"database": "app", "statement": "TRUNCATE orders"}}},
		"context": {"time": "2026-11-24T10:15:00Z", "environment": "prod", "usage": {"tool_calls_last_minute": 0, "tool_calls_last_hour": 0}, "approvals": [object.union(approval, {"action": "db.query"})]},
	}
	d := persona.decision with input as inp
	codes(d) == {"destructive_sql_in_prod"}
}
