# Grants comms.send_message to every persona whose regent.yaml includes this folder: while it is the called tool,
# its module (package regent.tools.comms_send_message, with its data) is data.regent.granted_tool.module, which
# lib/core.rego reads by static reference. Every tool folder has this file with only the name and key
# changed (lib/core_test.rego checks that they match the module).
# Why one rule per tool: the package regent.granted_tool is read as a whole (through core's import), and
# regorus then evaluates every rule in it on every decision - one rule per composed tool, of which only the
# called tool's goes further than comparing the name. Why not a lookup by a computed key,
# data.regent.tools[key]: regorus then evaluates every rule of every tool module on every decision.
# Why full references and no import: every tool folder adds rules to this one package, and regorus
# resolves import aliases per package, not per file (the last file's alias would win).
package regent.granted_tool

module := data.regent.tools.comms_send_message if input.action.tool.name == "comms.send_message"
