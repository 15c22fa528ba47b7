# hr.submit_leave_request - file a leave request in the HRIS for the requesting user.
#
# Self-service only: the agent may file leave for the user it acts for, never for someone else.
# Vacation or unpaid leave longer than approval_threshold_days (data.json) needs an approval from the
# user's manager (user.attributes.manager_id) - an approval from anyone else does not count, and a user
# without a known manager cannot file long leave through the agent.
package regent.tools.hr_submit_leave_request

import data.regent.lib.approvals
import data.regent.lib.args
import data.regent.lib.ctx
import data.regent.lib.decision.reason
import data.regent.lib.guards
import data.regent.lib.timewin

name := "hr.submit_leave_request"

server := "hris-mcp"

kinds := {"tool_call", "state_change"}

# Every rule below starts with `called`, so the module only ever speaks for its own tool, also when it is
# evaluated as a whole (tests, lib/core_test.rego). Personas reach it through grant.rego.
called if input.action.tool.name == name

cfg := data.regent.tools.hr_submit_leave_request.config

day_ns := 86400000000000

deny contains reason("leave_type_invalid", msg) if {
	called
	not args.one_of(ctx.arg("leave_type"), cfg.leave_types)
	msg := sprintf("args.leave_type must be one of %s", [concat(", ", cfg.leave_types)])
}

deny contains reason("dates_invalid", "args.start_date and args.end_date must be dates (YYYY-MM-DD) with end_date >= start_date") if {
	called
	not dates_ok
}

deny contains reason("days_invalid", msg) if {
	called
	not args.int_between(ctx.arg("days"), 1, cfg.max_days)
	msg := sprintf("args.days must be an integer from 1 to %s", [format_int(cfg.max_days, 10)])
}

# More leave days than calendar days between start and end (inclusive) is a malformed request.
deny contains reason("days_invalid", "args.days exceeds the number of calendar days between start_date and end_date") if {
	called
	dates_ok
	args.int_between(ctx.args.days, 1, cfg.max_days)
	ctx.args.days * day_ns > (end_ns - start_ns) + day_ns
}

deny contains r if {
	called
	some r in guards.time_required
}

deny contains reason("start_in_past", msg) if {
	called
	dates_ok
	timewin.date_int(start_ns) < timewin.date_int(timewin.now_ns)
	msg := sprintf("leave cannot start in the past (%s)", [ctx.args.start_date])
}

deny contains reason("on_behalf_not_allowed", "the agent files leave only for the user it acts for") if {
	called
	"for_user" in object.keys(ctx.args)
	ctx.args.for_user != ctx.user_id
}

deny contains reason("manager_unknown", "long leave needs the manager's approval, but user.attributes.manager_id is missing") if {
	called
	needs_manager_approval
	not ctx.user_attr("manager_id")
}

deny contains r if {
	called
	needs_manager_approval
	count(managers) > 0 # an empty approver set would mean "anyone": never use it here
	some r in approvals.deny(name, managers)
}

obligations contains approvals.obligation(name, managers) if {
	called
	needs_manager_approval
	ctx.user_attr("manager_id")
	not approvals.satisfied(name, managers)
}

grants contains reason("leave_request_self", "short or sick leave for oneself is self-service") if {
	called
	not needs_manager_approval
}

grants contains reason("leave_request_manager_approved", "the user's manager approved this leave") if {
	called
	needs_manager_approval
	approvals.satisfied(name, managers)
}

# --- helpers --------------------------------------------------------------------------------------------

start_ns := timewin.date_ns(ctx.args.start_date)

end_ns := timewin.date_ns(ctx.args.end_date)

dates_ok if end_ns >= start_ns

managers := {m | m := ctx.user_attr("manager_id")}

needs_manager_approval if {
	ctx.args.leave_type in cfg.approval_leave_types
	is_number(ctx.args.days)
	ctx.args.days > cfg.approval_threshold_days
}
