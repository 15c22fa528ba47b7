package regent.tools_test.deploy_release

import data.regent.tools.deploy_release as tool

approval := {"id": "apr-1", "approver": "u-77", "action": "deploy.release", "granted_at": "2026-11-24T09:00:00Z", "expires_at": "2026-11-24T12:00:00Z"}

deploy(env, roles, now, approvals) := {
	"agent": {"id": "dev-bot-1"},
	"user": {"id": "u-1", "roles": roles},
	"action": {"kind": "state_change", "tool": {"name": "deploy.release", "server": "deploy-mcp", "args": {"service": "payments-api", "version": "2.4.1", "environment": env}}},
	"context": {"time": now, "environment": env, "approvals": approvals},
}

codes(s) := {r.code | some r in s}

test_staging_needs_only_a_role if {
	inp := deploy("staging", ["developer"], "2026-11-28T03:00:00Z", [])
	count(tool.deny) == 0 with input as inp
	codes(tool.grants) == {"deploy_staging"} with input as inp
	count(tool.obligations) == 0 with input as inp
}

test_prod_with_approval_in_window if {
	inp := deploy("prod", ["deployer"], "2026-11-24T10:15:00Z", [approval])
	count(tool.deny) == 0 with input as inp
	codes(tool.grants) == {"deploy_prod_approved"} with input as inp
	tool.obligations == {{"kind": "notify", "channel": "deploys"}} with input as inp
}

test_prod_outside_window if {
	late := object.union(approval, {"expires_at": "2026-11-24T20:00:00Z"})
	codes(tool.deny) == {"outside_change_window"} with input as deploy("prod", ["deployer"], "2026-11-24T16:30:00Z", [late])
	fri := {"id": "apr-2", "approver": "u-77", "action": "deploy.release", "granted_at": "2026-11-27T09:00:00Z", "expires_at": "2026-11-27T12:00:00Z"}
	codes(tool.deny) == {"outside_change_window"} with input as deploy("prod", ["deployer"], "2026-11-27T10:00:00Z", [fri])
}

test_prod_needs_approval if {
	inp := deploy("prod", ["deployer"], "2026-11-24T10:15:00Z", [])
	codes(tool.deny) == {"approval_missing"} with input as inp
	{"kind": "require_approval", "action": "deploy.release"} in tool.obligations with input as inp
}

test_prod_needs_deployer if {
	codes(tool.deny) == {"role_missing"} with input as deploy("prod", ["developer"], "2026-11-24T10:15:00Z", [approval])
}

test_freeze if {
	frozen := {"id": "apr-3", "approver": "u-77", "action": "deploy.release", "granted_at": "2026-12-22T09:00:00Z", "expires_at": "2026-12-22T12:00:00Z"}
	codes(tool.deny) == {"change_freeze"} with input as deploy("prod", ["deployer"], "2026-12-22T10:00:00Z", [frozen])
}

test_environment_must_match_context if {
	inp := object.union(deploy("prod", ["deployer"], "2026-11-24T10:15:00Z", [approval]), {"context": {"environment": "staging"}})
	"environment_mismatch" in codes(tool.deny) with input as inp
}

test_bad_args if {
	inp := {"action": {"tool": {"name": "deploy.release", "args": {"service": "billing", "version": "v2", "environment": "qa"}}}}
	codes(tool.deny) == {"service_unknown", "version_invalid", "environment_invalid"} with input as inp
}
