package regent.tools_test.hr_get_employee_record

import data.regent.tools.hr_get_employee_record as tool

call(tool_args, resource) := {
	"action": {
		"kind": "tool_call",
		"tool": {"name": "hr.get_employee_record", "server": "hris-mcp", "args": tool_args},
		"resource": resource,
	},
}

record := {"type": "employee_record", "id": "e-42", "owner": "u-42", "org": "emea", "fields": ["name", "salary"]}

codes(s) := {r.code | some r in s}

test_declares_contract if {
	tool.name == "hr.get_employee_record"
	tool.server == "hris-mcp"
	tool.kinds == {"tool_call", "data_access"}
}

test_valid_call_has_no_deny if {
	d := tool.deny with input as call({"employee_id": "e-42", "fields": ["salary", "name"]}, record)
	count(d) == 0
}

test_bad_employee_id if {
	codes(tool.deny) == {"employee_id_invalid"} with input as call({"employee_id": "42; drop", "fields": ["name", "salary"]}, record)
}

test_fields_missing_or_malformed if {
	codes(tool.deny) == {"fields_invalid"} with input as call({"employee_id": "e-42"}, record)
	codes(tool.deny) == {"fields_invalid"} with input as call({"employee_id": "e-42", "fields": "salary"}, record)
	codes(tool.deny) == {"fields_invalid"} with input as call({"employee_id": "e-42", "fields": ["Salary!"]}, record)
}

test_resource_required if {
	codes(tool.deny) == {"resource_required"} with input as {"action": {"tool": {"name": "hr.get_employee_record", "args": {"employee_id": "e-42", "fields": ["name"]}}}}
}

test_resource_must_match_args if {
	codes(tool.deny) == {"resource_mismatch"} with input as call({"employee_id": "e-7", "fields": ["name", "salary"]}, record)
	codes(tool.deny) == {"resource_mismatch"} with input as call({"employee_id": "e-42", "fields": ["name"]}, record)
}

test_silent_when_another_tool_is_called if {
	count(tool.deny) == 0 with input as {"action": {"tool": {"name": "hr.search_policies", "args": {}}}}
}
