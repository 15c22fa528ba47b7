# Grants ticket.create to every persona whose regent.yaml includes this folder: while it is the called tool,
# its module (package regent.tools.ticket_create) speaks for it at data.regent.granted_tool, which
# lib/core.rego reads by static reference. Every tool folder has this file with only the name and key
# changed (lib/core_test.rego checks that they match the module). Why not a lookup by a computed key,
# data.regent.tools[key]: regorus then evaluates every rule of every tool module on every decision.
# Why full references and no import: every tool folder adds rules to this one package, and regorus
# resolves import aliases per package, not per file (the last file's alias would win).
package regent.granted_tool

name := data.regent.tools.ticket_create.name if input.action.tool.name == "ticket.create"

server := data.regent.tools.ticket_create.server if input.action.tool.name == "ticket.create"

kinds := data.regent.tools.ticket_create.kinds if input.action.tool.name == "ticket.create"

rate_limits := data.regent.tools.ticket_create.rate_limits if input.action.tool.name == "ticket.create"

deny contains r if {
	input.action.tool.name == "ticket.create"
	some r in data.regent.tools.ticket_create.deny
}

grants contains r if {
	input.action.tool.name == "ticket.create"
	some r in data.regent.tools.ticket_create.grants
}

obligations contains o if {
	input.action.tool.name == "ticket.create"
	some o in data.regent.tools.ticket_create.obligations
}
