package regent.tools_test.it_reset_password

import data.regent.tools.it_reset_password as tool

reset(user, target, method, resource) := {
	"user": user,
	"action": {"kind": "state_change", "tool": {"name": "it.reset_password", "server": "idp-mcp", "args": {"target_user": target, "method": method}}, "resource": resource},
}

helpdesk := {"id": "u-1", "roles": ["employee", "helpdesk"], "attributes": {"org": "emea"}}

account(org, privileged) := {"type": "user_account", "id": "u-2", "org": org, "privileged": privileged}

codes(s) := {r.code | some r in s}

test_self_service if {
	inp := reset({"id": "u-2", "roles": ["employee"]}, "u-2", "email_link", null)
	count(tool.deny) == 0 with input as inp
	codes(tool.grants) == {"self_service_reset"} with input as inp
	tool.obligations == {{"kind": "notify", "recipient": "u-2", "template": "password_reset"}} with input as inp
	codes(tool.deny) == {"method_not_allowed"} with input as reset({"id": "u-2"}, "u-2", "temporary_password", null)
}

test_helpdesk_same_org if {
	inp := reset(helpdesk, "u-2", "temporary_password", account("emea", false))
	count(tool.deny) == 0 with input as inp
	codes(tool.grants) == {"helpdesk_reset_same_org"} with input as inp
}

test_helpdesk_limits if {
	codes(tool.deny) == {"cross_org_reset"} with input as reset(helpdesk, "u-2", "email_link", account("apac", false))
	codes(tool.deny) == {"privileged_account"} with input as reset(helpdesk, "u-2", "email_link", account("emea", true))
	codes(tool.deny) == {"privileged_account"} with input as reset(helpdesk, "u-2", "email_link", {"type": "user_account", "id": "u-2", "org": "emea"})
	codes(tool.deny) == {"resource_required"} with input as reset(helpdesk, "u-2", "email_link", null)
	codes(tool.deny) == {"resource_mismatch"} with input as reset(helpdesk, "u-3", "email_link", account("emea", false))
}

test_others_need_helpdesk if {
	codes(tool.deny) == {"role_missing"} with input as reset({"id": "u-1", "roles": ["employee"], "attributes": {"org": "emea"}}, "u-2", "email_link", account("emea", false))
}
