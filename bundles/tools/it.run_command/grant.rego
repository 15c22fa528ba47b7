# Grants it.run_command to every persona whose regent.yaml includes this folder: while it is the called tool,
# its module (package regent.tools.it_run_command) speaks for it at data.regent.granted_tool, which
# lib/core.rego reads by static reference. Every tool folder has this file with only the name and key
# changed (lib/core_test.rego checks that they match the module). Why not a lookup by a computed key,
# data.regent.tools[key]: regorus then evaluates every rule of every tool module on every decision.
# Why full references and no import: every tool folder adds rules to this one package, and regorus
# resolves import aliases per package, not per file (the last file's alias would win).
package regent.granted_tool

name := data.regent.tools.it_run_command.name if input.action.tool.name == "it.run_command"

server := data.regent.tools.it_run_command.server if input.action.tool.name == "it.run_command"

kinds := data.regent.tools.it_run_command.kinds if input.action.tool.name == "it.run_command"

rate_limits := data.regent.tools.it_run_command.rate_limits if input.action.tool.name == "it.run_command"

deny contains r if {
	input.action.tool.name == "it.run_command"
	some r in data.regent.tools.it_run_command.deny
}

grants contains r if {
	input.action.tool.name == "it.run_command"
	some r in data.regent.tools.it_run_command.grants
}

obligations contains o if {
	input.action.tool.name == "it.run_command"
	some o in data.regent.tools.it_run_command.obligations
}
