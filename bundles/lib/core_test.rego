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

# Every composed module is reached through its grant.rego: calling the tool by its declared name grants
# it, with the module's own server, kinds and rate limits (a copied grant.rego with a stale name or key
# would grant nothing, or the wrong module).
test_every_tool_module_is_granted_by_its_name if {
	every _, module in data.regent.tools {
		core.granted with input as {"action": {"tool": {"name": module.name}}}
		core.tool == {"server": module.server, "kinds": module.kinds} with input as {"action": {"tool": {"name": module.name}}}
		data.regent.granted_tool.module.name == module.name with input as {"action": {"tool": {"name": module.name}}}
		core.tool_limits == object.get(module, "rate_limits", {}) with input as {"action": {"tool": {"name": module.name}}}
	}
}

test_only_composed_tools_are_granted if {
	not core.granted with input as {"action": {"tool": {"name": "not.composed"}}}
	not core.granted with input as {"action": {"tool": {"name": "Hr.Get"}}}
	not core.granted with input as {"action": {"tool": {}}}
	not data.regent.granted_tool.module.name with input as {"action": {"tool": {"name": "not.composed"}}}
}

test_reads_resource_only_for_reads if {
	core.reads_resource with input as {"action": {"kind": "data_access", "resource": {"type": "x"}}}
	core.reads_resource with input as {"action": {"kind": "tool_call", "resource": {"type": "x"}}}
	not core.reads_resource with input as {"action": {"kind": "state_change", "resource": {"type": "x"}}}
}
