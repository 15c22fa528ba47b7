# Grants hr.update_compensation to every persona whose regent.yaml includes this folder: while it is the called tool,
# its module (package regent.tools.hr_update_compensation) speaks for it at data.regent.granted_tool, which
# lib/core.rego reads by static reference. Every tool folder has this file with only the name and key
# changed (lib/core_test.rego checks that they match the module). Why not a lookup by a computed key,
# data.regent.tools[key]: regorus then evaluates every rule of every tool module on every decision.
# Why full references and no import: every tool folder adds rules to this one package, and regorus
# resolves import aliases per package, not per file (the last file's alias would win).
package regent.granted_tool

name := data.regent.tools.hr_update_compensation.name if input.action.tool.name == "hr.update_compensation"

server := data.regent.tools.hr_update_compensation.server if input.action.tool.name == "hr.update_compensation"

kinds := data.regent.tools.hr_update_compensation.kinds if input.action.tool.name == "hr.update_compensation"

rate_limits := data.regent.tools.hr_update_compensation.rate_limits if input.action.tool.name == "hr.update_compensation"

deny contains r if {
	input.action.tool.name == "hr.update_compensation"
	some r in data.regent.tools.hr_update_compensation.deny
}

grants contains r if {
	input.action.tool.name == "hr.update_compensation"
	some r in data.regent.tools.hr_update_compensation.grants
}

obligations contains o if {
	input.action.tool.name == "hr.update_compensation"
	some o in data.regent.tools.hr_update_compensation.obligations
}
