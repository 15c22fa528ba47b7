# Grants db.query to every persona whose regent.yaml includes this folder: while it is the called tool,
# its module (package regent.tools.db_query) speaks for it at data.regent.granted_tool, which
# lib/core.rego reads by static reference. Every tool folder has this file with only the name and key
# changed (lib/core_test.rego checks that they match the module). Why not a lookup by a computed key,
# data.regent.tools[key]: regorus then evaluates every rule of every tool module on every decision.
# Why full references and no import: every tool folder adds rules to this one package, and regorus
# resolves import aliases per package, not per file (the last file's alias would win).
package regent.granted_tool

name := data.regent.tools.db_query.name if input.action.tool.name == "db.query"

server := data.regent.tools.db_query.server if input.action.tool.name == "db.query"

kinds := data.regent.tools.db_query.kinds if input.action.tool.name == "db.query"

rate_limits := data.regent.tools.db_query.rate_limits if input.action.tool.name == "db.query"

deny contains r if {
	input.action.tool.name == "db.query"
	some r in data.regent.tools.db_query.deny
}

grants contains r if {
	input.action.tool.name == "db.query"
	some r in data.regent.tools.db_query.grants
}

obligations contains o if {
	input.action.tool.name == "db.query"
	some o in data.regent.tools.db_query.obligations
}
