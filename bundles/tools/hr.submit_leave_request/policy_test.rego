package regent.tools_test.hr_submit_leave_request

import data.regent.tools.hr_submit_leave_request as tool

req(tool_args, approvals) := {
	"agent": {"id": "hr-bot-1"},
	"user": {"id": "u-1", "attributes": {"manager_id": "u-9"}},
	"action": {"kind": "state_change", "tool": {"name": "hr.submit_leave_request", "server": "hris-mcp", "args": tool_args}},
	"context": {"time": "2026-11-24T10:00:00Z", "approvals": approvals},
}

short := {"leave_type": "vacation", "start_date": "2026-12-01", "end_date": "2026-12-03", "days": 3}

long := {"leave_type": "vacation", "start_date": "2026-12-01", "end_date": "2026-12-18", "days": 14}

manager_ok := {"id": "apr-1", "approver": "u-9", "action": "hr.submit_leave_request", "granted_at": "2026-11-20T09:00:00Z", "expires_at": "2026-12-01T00:00:00Z"}

codes(s) := {r.code | some r in s}

test_short_vacation_is_self_service if {
	codes(tool.grants) == {"leave_request_self"} with input as req(short, [])
	count(tool.deny) == 0 with input as req(short, [])
}

test_long_vacation_needs_manager if {
	codes(tool.deny) == {"approval_missing"} with input as req(long, [])
	tool.obligations == {{"kind": "require_approval", "action": "hr.submit_leave_request", "approvers": ["u-9"]}} with input as req(long, [])
}

test_long_vacation_with_manager_approval if {
	count(tool.deny) == 0 with input as req(long, [manager_ok])
	codes(tool.grants) == {"leave_request_manager_approved"} with input as req(long, [manager_ok])
	count(tool.obligations) == 0 with input as req(long, [manager_ok])
}

test_approval_from_someone_else_does_not_count if {
	other := object.union(manager_ok, {"approver": "u-5"})
	codes(tool.deny) == {"approval_wrong_approver"} with input as req(long, [other])
}

test_long_sick_leave_needs_no_approval if {
	sick := object.union(long, {"leave_type": "sick"})
	count(tool.deny) == 0 with input as req(sick, [])
}

test_manager_unknown if {
	inp := json.remove(req(long, []), ["user/attributes"])
	codes(tool.deny) == {"manager_unknown"} with input as inp
}

test_bad_dates if {
	codes(tool.deny) == {"dates_invalid"} with input as req(object.union(short, {"end_date": "2026-11-30"}), [])
	codes(tool.deny) == {"dates_invalid"} with input as req(object.union(short, {"start_date": "2026-02-30"}), [])
	codes(tool.deny) == {"days_invalid"} with input as req(object.union(short, {"days": 4}), [])
	codes(tool.deny) == {"days_invalid"} with input as req(object.union(short, {"days": 0}), [])
	codes(tool.deny) == {"start_in_past"} with input as req(object.union(short, {"start_date": "2026-11-23"}), [])
}

test_for_someone_else if {
	codes(tool.deny) == {"on_behalf_not_allowed"} with input as req(object.union(short, {"for_user": "u-2"}), [])
}

test_time_missing if {
	inp := json.remove(req(short, []), ["context/time"])
	codes(tool.deny) == {"time_missing"} with input as inp
}
