package regent.lib.core_test

import data.regent.lib.core

# Runs in every persona bundle: every composed tool module declares the contract core relies on, under
# the key the bundle builder mounts it at, and evaluates cleanly on an empty input.
test_tool_modules_declare_their_contract if {
	count(data.regent.tools) > 0
	every key, module in data.regent.tools {
		is_string(module.name)
		replace(replace(module.name, ".", "_"), "-", "_") == key
		is_string(module.server)
		is_set(module.kinds)
		count(module.kinds - {"tool_call", "data_access", "state_change"}) == 0
	}
}

test_tool_key if {
	core.tool_key == "hr_get_employee_record" with input as {"action": {"tool": {"name": "hr.get_employee_record"}}}
	core.tool_key == "a_b_c" with input as {"action": {"tool": {"name": "a.b-c"}}}
	not core.tool_key with input as {"action": {"tool": {"name": "Hr.Get"}}}
}

test_reads_resource_only_for_reads if {
	core.reads_resource with input as {"action": {"kind": "data_access", "resource": {"type": "x"}}}
	core.reads_resource with input as {"action": {"kind": "tool_call", "resource": {"type": "x"}}}
	not core.reads_resource with input as {"action": {"kind": "state_change", "resource": {"type": "x"}}}
}
