# hr.update_compensation - change an employee's base salary in the HRIS.
#
# The most sensitive HR write, so every guard applies:
# - only an hr_admin, only for employees of their own org (user.attributes.org == resource.org),
#   never for their own record;
# - raises only, at most max_increase_percent (data.json) at once; decreases go through a manual process;
# - an approval for "hr.update_compensation" from someone other than the requester and the agent;
# - no changes from payroll_cutoff_day (UTC) to the end of the month, while payroll runs.
package regent.tools.hr_update_compensation

import data.regent.lib.approvals
import data.regent.lib.args
import data.regent.lib.ctx
import data.regent.lib.decision.reason
import data.regent.lib.guards
import data.regent.lib.timewin

name := "hr.update_compensation"

server := "hris-mcp"

kinds := {"state_change"}

# Every rule below starts with `called`, so the module only ever speaks for its own tool, also when it is
# evaluated as a whole (tests, lib/core_test.rego). Personas reach it through grant.rego.
called if input.action.tool.name == name

cfg := data.regent.tools.hr_update_compensation.config

deny contains reason("role_missing", "only users with the hr_admin role may change compensation") if {
	called
	not ctx.has_role("hr_admin")
}

deny contains reason("employee_id_invalid", "args.employee_id must look like e-123") if {
	called
	not args.matches(`^e-[0-9]{1,10}$`, ctx.arg("employee_id"))
}

deny contains reason("resource_required", "the call must carry the target employee_record (id, owner, org) in action.resource") if {
	called
	not record
}

deny contains reason("resource_mismatch", "args.employee_id does not match the attached employee_record") if {
	called
	record.id != ctx.args.employee_id
}

deny contains reason("cross_org_change", msg) if {
	called
	record
	not same_org
	msg := "hr_admins may change compensation only for employees of their own org (user.attributes.org must equal resource.org)"
}

deny contains reason("self_compensation_change", "nobody may change their own compensation") if {
	called
	record.owner == ctx.user_id
}

deny contains reason("salary_invalid", "args.current_salary and args.new_salary must be positive integers") if {
	called
	not salaries_ok
}

deny contains reason("salary_decrease_not_allowed", "salary decreases are handled by the manual HR process, not by the agent") if {
	called
	salaries_ok
	ctx.args.new_salary < ctx.args.current_salary
}

# Integer arithmetic only: new - current > current * max% / 100  <=>  (new - current) * 100 > current * max%.
deny contains reason("change_exceeds_limit", msg) if {
	called
	salaries_ok
	increase := ctx.args.new_salary - ctx.args.current_salary
	increase * 100 > ctx.args.current_salary * cfg.max_increase_percent
	msg := sprintf("raises above %s percent need the compensation committee, not the agent", [format_int(cfg.max_increase_percent, 10)])
}

deny contains reason("currency_not_allowed", msg) if {
	called
	not args.one_of(ctx.arg("currency"), cfg.currencies)
	msg := sprintf("args.currency must be one of %s", [concat(", ", cfg.currencies)])
}

deny contains r if {
	called
	some r in guards.time_required
}

deny contains reason("payroll_cutoff", msg) if {
	called
	timewin.day_of_month(timewin.now_ns) >= cfg.payroll_cutoff_day
	msg := sprintf("no compensation changes from day %s of the month until payroll has run", [format_int(cfg.payroll_cutoff_day, 10)])
}

deny contains r if {
	called
	some r in approvals.deny(name, set())
}

obligations contains approvals.obligation(name, set()) if {
	called
	not approvals.satisfied(name, set())
}

grants contains reason("compensation_change_approved", "an hr_admin of the employee's org changes compensation within limits, with an approval from another person") if {
	called
	approvals.satisfied(name, set())
}

# Every executed compensation change is announced to the audit channel.
obligations contains {"kind": "notify", "channel": "hr-compensation-audit"} if called

# --- helpers --------------------------------------------------------------------------------------------

record := ctx.resource if ctx.resource_type == "employee_record"

same_org if record.org == ctx.user_attr("org")

salaries_ok if {
	args.int_between(ctx.args.current_salary, 1, 100000000)
	args.int_between(ctx.args.new_salary, 1, 100000000)
}
