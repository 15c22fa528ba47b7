# it.add_group_member - add a user to a directory group (which is how access is granted).
#
#   self-service groups (team-*, project-*, guild-*)  anyone may add themselves
#   other standard groups                             helpdesk or it_admin
#   privileged groups (admins, prod-*, *-admins ...)  it_admin only; never yourself (no self-elevation);
#                                                     an approval from another person; a duration of at
#                                                     most max_privileged_hours - the runtime must remove
#                                                     the membership when it ends (time_box obligation)
package regent.tools.it_add_group_member

import data.regent.lib.approvals
import data.regent.lib.args
import data.regent.lib.ctx
import data.regent.lib.decision.reason

name := "it.add_group_member"

server := "idp-mcp"

kinds := {"state_change"}

# Every rule below starts with `called`, so the module only ever speaks for its own tool, also when it is
# evaluated as a whole (tests, lib/core_test.rego). Personas reach it through grant.rego.
called if input.action.tool.name == name

cfg := data.regent.tools.it_add_group_member.config

deny contains reason("group_invalid", "args.group must be a lower-case group name") if {
	called
	not args.matches(`^[a-z0-9][a-z0-9-]{1,62}$`, ctx.arg("group"))
}

deny contains reason("member_invalid", "args.member must be a user id like u-123") if {
	called
	not args.matches(`^u-[0-9]{1,10}$`, ctx.arg("member"))
}

# ---- standard groups -----------------------------------------------------------------------------------

deny contains reason("role_missing", "adding other people to groups needs the helpdesk or it_admin role") if {
	called
	standard
	not self_service
	not ctx.has_any_role({"helpdesk", "it_admin"})
}

grants contains reason("self_service_group", sprintf("anyone may join %s themselves", [ctx.args.group])) if {
	called
	self_service
}

grants contains reason("group_membership_helpdesk", sprintf("helpdesk adds a member to standard group %s", [ctx.args.group])) if {
	called
	standard
	not self_service
}

# ---- privileged groups ---------------------------------------------------------------------------------

deny contains reason("role_missing", "privileged groups are managed by it_admin only") if {
	called
	privileged
	not ctx.has_role("it_admin")
}

deny contains reason("self_elevation", "nobody may add themselves to a privileged group") if {
	called
	privileged
	ctx.args.member == ctx.user_id
}

deny contains reason("duration_required", msg) if {
	called
	privileged
	not args.int_between(ctx.arg("duration_hours"), 1, cfg.max_privileged_hours)
	msg := sprintf("privileged membership needs args.duration_hours from 1 to %s", [format_int(cfg.max_privileged_hours, 10)])
}

deny contains r if {
	called
	privileged
	some r in approvals.deny(name, set())
}

obligations contains approvals.obligation(name, set()) if {
	called
	privileged
	not approvals.satisfied(name, set())
}

grants contains reason("privileged_membership_approved", sprintf("approved, time-boxed membership in privileged group %s", [ctx.args.group])) if {
	called
	privileged
	approvals.satisfied(name, set())
}

obligations contains {"kind": "time_box", "hours": ctx.args.duration_hours} if {
	called
	privileged
	args.int_between(ctx.arg("duration_hours"), 1, cfg.max_privileged_hours)
}

obligations contains {"kind": "notify", "channel": "it-security"} if {
	called
	privileged
}

# --- helpers --------------------------------------------------------------------------------------------

group_ok if args.matches(`^[a-z0-9][a-z0-9-]{1,62}$`, ctx.arg("group"))

privileged if {
	group_ok
	args.matches_any(cfg.privileged_groups, ctx.args.group)
}

standard if {
	group_ok
	not privileged
}

self_service if {
	standard
	ctx.user_id
	ctx.args.member == ctx.user_id
	args.matches_any(cfg.self_service_groups, ctx.args.group)
}
