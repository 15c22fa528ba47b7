# it.reset_password - trigger a password reset in the identity provider.
#
#   own account          self-service, by e-mailed reset link only
#   someone else's       helpdesk or it_admin role; the target account must be attached as
#                        action.resource (type user_account) and be in the user's org; privileged
#                        accounts (or accounts whose privileged flag is missing) go through the PAM
#                        process, never through the agent
# The target is always told that a reset happened (notify obligation), so a malicious reset is noticed.
package regent.tools.it_reset_password

import data.regent.lib.args
import data.regent.lib.ctx
import data.regent.lib.decision.reason

name := "it.reset_password"

server := "idp-mcp"

kinds := {"state_change"}

# Every rule below starts with `called`, so the module only ever speaks for its own tool, also when it is
# evaluated as a whole (tests, lib/core_test.rego). Personas reach it through grant.rego.
called if input.action.tool.name == name

methods := {"email_link", "temporary_password"}

deny contains reason("target_user_invalid", "args.target_user must be a user id like u-123") if {
	called
	not args.matches(`^u-[0-9]{1,10}$`, ctx.arg("target_user"))
}

deny contains reason("method_invalid", "args.method must be email_link or temporary_password") if {
	called
	not ctx.arg("method") in methods
}

deny contains reason("method_not_allowed", "self-service resets use an e-mailed link; temporary passwords are issued by the helpdesk") if {
	called
	self_reset
	ctx.args.method == "temporary_password"
}

deny contains reason("role_missing", "resetting someone else's password needs the helpdesk or it_admin role") if {
	called
	other_reset
	not ctx.has_any_role({"helpdesk", "it_admin"})
}

deny contains reason("resource_required", "resetting someone else's password needs the target user_account in action.resource") if {
	called
	other_reset
	not account
}

deny contains reason("resource_mismatch", "args.target_user does not match the attached user_account") if {
	called
	other_reset
	account.id != ctx.args.target_user
}

deny contains reason("cross_org_reset", "the helpdesk resets passwords only for accounts in its own org") if {
	called
	other_reset
	account
	not same_org
}

deny contains reason("privileged_account", "privileged accounts are reset through the PAM process, not by the agent") if {
	called
	other_reset
	account
	not known_unprivileged
}

grants contains reason("self_service_reset", "users may reset their own password by e-mailed link") if {
	called
	self_reset
}

grants contains reason("helpdesk_reset_same_org", "helpdesk reset of a non-privileged account in the same org") if {
	called
	other_reset
}

obligations contains {"kind": "notify", "recipient": ctx.args.target_user, "template": "password_reset"} if {
	called
	args.matches(`^u-[0-9]{1,10}$`, ctx.arg("target_user"))
}

# --- helpers --------------------------------------------------------------------------------------------

self_reset if {
	ctx.user_id
	ctx.args.target_user == ctx.user_id
}

other_reset if {
	args.matches(`^u-[0-9]{1,10}$`, ctx.arg("target_user"))
	not self_reset
}

account := ctx.resource if ctx.resource_type == "user_account"

same_org if account.org == ctx.user_attr("org")

known_unprivileged if account.privileged == false
