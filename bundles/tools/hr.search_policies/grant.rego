# Grants hr.search_policies to every persona whose regent.yaml includes this folder: while it is the called tool,
# its module (package regent.tools.hr_search_policies) speaks for it at data.regent.granted_tool, which
# lib/core.rego reads by static reference. Every tool folder has this file with only the name and key
# changed (lib/core_test.rego checks that they match the module). Why not a lookup by a computed key,
# data.regent.tools[key]: regorus then evaluates every rule of every tool module on every decision.
# Why full references and no import: every tool folder adds rules to this one package, and regorus
# resolves import aliases per package, not per file (the last file's alias would win).
package regent.granted_tool

name := data.regent.tools.hr_search_policies.name if input.action.tool.name == "hr.search_policies"

server := data.regent.tools.hr_search_policies.server if input.action.tool.name == "hr.search_policies"

kinds := data.regent.tools.hr_search_policies.kinds if input.action.tool.name == "hr.search_policies"

rate_limits := data.regent.tools.hr_search_policies.rate_limits if input.action.tool.name == "hr.search_policies"

deny contains r if {
	input.action.tool.name == "hr.search_policies"
	some r in data.regent.tools.hr_search_policies.deny
}

grants contains r if {
	input.action.tool.name == "hr.search_policies"
	some r in data.regent.tools.hr_search_policies.grants
}

obligations contains o if {
	input.action.tool.name == "hr.search_policies"
	some o in data.regent.tools.hr_search_policies.obligations
}
