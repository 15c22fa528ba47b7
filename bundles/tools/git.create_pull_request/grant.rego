# Grants git.create_pull_request to every persona whose regent.yaml includes this folder: while it is the called tool,
# its module (package regent.tools.git_create_pull_request) speaks for it at data.regent.granted_tool, which
# lib/core.rego reads by static reference. Every tool folder has this file with only the name and key
# changed (lib/core_test.rego checks that they match the module). Why not a lookup by a computed key,
# data.regent.tools[key]: regorus then evaluates every rule of every tool module on every decision.
# Why full references and no import: every tool folder adds rules to this one package, and regorus
# resolves import aliases per package, not per file (the last file's alias would win).
package regent.granted_tool

name := data.regent.tools.git_create_pull_request.name if input.action.tool.name == "git.create_pull_request"

server := data.regent.tools.git_create_pull_request.server if input.action.tool.name == "git.create_pull_request"

kinds := data.regent.tools.git_create_pull_request.kinds if input.action.tool.name == "git.create_pull_request"

rate_limits := data.regent.tools.git_create_pull_request.rate_limits if input.action.tool.name == "git.create_pull_request"

deny contains r if {
	input.action.tool.name == "git.create_pull_request"
	some r in data.regent.tools.git_create_pull_request.deny
}

grants contains r if {
	input.action.tool.name == "git.create_pull_request"
	some r in data.regent.tools.git_create_pull_request.grants
}

obligations contains o if {
	input.action.tool.name == "git.create_pull_request"
	some o in data.regent.tools.git_create_pull_request.obligations
}
