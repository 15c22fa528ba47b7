package regent.tools_test.hr_search_policies

import data.regent.tools.hr_search_policies as tool

call(tool_args) := {"action": {"kind": "tool_call", "tool": {"name": "hr.search_policies", "server": "hr-kb-mcp", "args": tool_args}}}

codes(s) := {r.code | some r in s}

test_declares_contract if {
	tool.name == "hr.search_policies"
	tool.server == "hr-kb-mcp"
}

test_plain_search_is_granted_with_default_limit if {
	codes(tool.grants) == {"policy_search"} with input as call({"query": "parental leave"})
	count(tool.deny) == 0 with input as call({"query": "parental leave"})
	tool.obligations == {{"kind": "limit_results", "max": 10}} with input as call({"query": "parental leave"})
}

test_explicit_limit if {
	tool.obligations == {{"kind": "limit_results", "max": 5}} with input as call({"query": "travel", "max_results": 5, "collection": "travel"})
	count(tool.deny) == 0 with input as call({"query": "travel", "max_results": 5, "collection": "travel"})
}

test_bad_arguments if {
	codes(tool.deny) == {"query_invalid"} with input as call({"query": "x"})
	codes(tool.deny) == {"query_invalid"} with input as call({})
	codes(tool.deny) == {"max_results_invalid"} with input as call({"query": "pension", "max_results": 500})
	codes(tool.deny) == {"max_results_invalid"} with input as call({"query": "pension", "max_results": "5"})
	codes(tool.deny) == {"collection_not_allowed"} with input as call({"query": "pension", "collection": "payroll"})
}

test_employee_ids_are_refused if {
	codes(tool.deny) == {"query_targets_employee"} with input as call({"query": "salary of E-42"})
	codes(tool.deny) == {"query_targets_employee"} with input as call({"query": "reviews for u-1001"})
	count(tool.deny) == 0 with input as call({"query": "e-learning budget"})
}
